"""An image folder's fingerprint, and whether a folder is still the one recorded.

:func:`~glassnet.data.folder.image_folder` puts the fingerprint in ``dataset.info``: the
folder and the signature (names, sizes, modification times) of the images it read. A
checkpoint, a model's training summary and a search's study record it, so that resuming,
evaluating or joining can tell, wherever the folder is now, whether it still holds the very
same images (:func:`folder_change`, :func:`same_training_files`). Fingerprints recorded
before 2026-12-06 were of every file listed, and still compare (:func:`comparable`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import cache as cache_mod
from .cache import FileStat


def folder_fingerprint(root: Path, files: list[FileStat], used: list[str]) -> dict[str, Any]:
    """What checkpoints and models record of the folder, to notice when it changed: the
    signature of the images that were read (names, sizes, modification times). Of those
    read, not of those listed: the splits are drawn from the images read, so a file
    unreadable then (no permission) and readable now shifts them, and must show.
    ``"listed"`` is the signature of every file listed, as fingerprints recorded before
    2026-12-06 were (see :func:`comparable`)."""
    read = set(used)
    images = [stat for stat in files if stat[0] in read]
    return {"root": str(root), "signature": cache_mod.signature(images), "files": len(images),
            "of": "images", "listed": {"signature": cache_mod.signature(files), "files": len(files)}}


def comparable(recorded_of: str | None, now: dict[str, Any]) -> dict[str, Any]:
    """The part of the fingerprint ``now`` to count against one recorded earlier, whose
    ``"of"`` is ``recorded_of``: its images read, or, for an unmarked one (most were
    recorded of every file listed), every file listed."""
    return now if recorded_of == "images" else now.get("listed", now)


def same_folder(recorded_signature: str, recorded_of: str | None, now: dict[str, Any]) -> bool:
    """Whether the fingerprint ``now`` is that of the folder recorded as ``recorded_signature``
    (of the images read when ``recorded_of`` says so). An unmarked signature was of every
    file listed, or, for a few hours of 2026-12-06, already of the images read: either
    matching means the same folder (a run with a stray notes.txt must still resume)."""
    if recorded_of == "images":
        return recorded_signature == now["signature"]
    return recorded_signature in (comparable(None, now)["signature"], now["signature"])


def folder_change(recorded: dict[str, Any], now: dict[str, Any]) -> str | None:
    """``None`` when the fingerprint ``now`` is of the folder ``recorded`` (an earlier
    fingerprint: ``signature``, ``files``, ``of``) held, wherever it is now (:func:`same_folder`);
    else what changed, for an error: ``"12 images then, 13 now; a file was added, ..."``."""
    if same_folder(recorded["signature"], recorded.get("of"), now):
        return None
    noun = "images" if recorded.get("of") == "images" else "files"
    return (f"{recorded['files']} {noun} then, {comparable(recorded.get('of'), now)['files']} now; "
            "a file was added, removed, changed its size or modification time, or became "
            "readable or unreadable")


def splits_fingerprint(splits: dict[str, Any]) -> dict[str, Any] | None:
    """The fingerprint of the image folder ``splits`` (``{"train": Dataset, ...}``) were read
    from; ``None`` for a named data set."""
    return next((ds.info["fingerprint"] for ds in splits.values()
                 if ds is not None and "fingerprint" in ds.info), None)


def same_training_files(summary: dict[str, Any], splits: dict[str, Any]) -> bool | None:
    """Whether ``splits`` were read from the very files a model was trained on, as its
    ``training_summary`` records them (names, sizes, modification times, wherever the folder
    is now); ``None`` when either side has no fingerprint (a named set, an old model file)."""
    recorded, now = summary.get("folder_signature"), splits_fingerprint(splits)
    if recorded is None or now is None:
        return None
    return same_folder(recorded, summary.get("folder_signature_of"), now)
