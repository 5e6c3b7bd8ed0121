"""Your own photos as a data set: one subfolder per class, like Keras's ``image_dataset_from_directory``.

``image_folder("photos", image_size=128)`` reads ``photos/<class>/**/<image>`` (class names
sorted, or chosen with ``class_names=``), decodes every image in a thread pool (Pillow
releases the GIL while decoding and resizing) straight into one uint8 ``(N, C, H, W)`` array,
and caches that array in the data directory (``<data dir>/cache/image-folders/``, see
:mod:`glassnet.data.cache`), keyed by the folder's file list, sizes and modification times:
the second load reads one array. The cache keeps a few entries per folder (its current
content, the most recently used settings).

Hidden entries (``.DS_Store``, ``.ipynb_checkpoints``, anything starting with a dot) and OS
clutter (``__MACOSX``, ``Thumbs.db``) are neither classes nor images. Files that are not
readable images are skipped with one :class:`~glassnet.errors.SkippedFileWarning` each and
a count at the end (``strict=True`` makes them an error); the list, with the images beside
the class folders, linked folders and pipes that the listing passed over, is also in
``dataset.info["skipped"]``. ``dataset.info["fingerprint"]`` (the folder, the signature of
its files and their number) is what a checkpoint records so that resuming can refuse a
folder that changed.
"""

from __future__ import annotations

import os
import unicodedata
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    GlassnetWarning,
    ImageError,
    SkippedFileWarning,
    UnreadableFileError,
    user_stacklevel,
)
from ..functional import count_within
from . import cache as cache_mod
from .cache import FileStat
from .dataset import Dataset
from .images import RESIZE_MODES, check_image_size, check_not_a_url, decoding_warnings, load_image

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jfif", ".jpe", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
COLOR_MODES = {"rgb": 3, "grayscale": 1}
#: names that mean a split, not a class: a folder of only these was probably given one level too high
SPLIT_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation"})
SUBSETS = ("training", "validation", "both")
# ITU-R 601-2 luma, the weights Pillow's convert("L") uses.
LUMA = np.array([299, 587, 114], dtype=np.uint32)


def is_hidden(name: str) -> bool:
    """Whether a file or folder name is a hidden entry or OS clutter, never a class or image."""
    return name.startswith(".") or name in IGNORED_NAMES


def listed_within(path: str | Path, root: str | Path) -> bool:
    """Whether files written into ``path`` would be read as part of the image folder
    ``root``: it is ``root`` or lies inside it, through no hidden folder (listings skip
    those: ``.runs/`` is fine)."""
    root, path = Path(root).expanduser().resolve(), Path(path).expanduser().resolve()
    if path != root and root not in path.parents:
        return False
    return not any(is_hidden(part) for part in path.relative_to(root).parts)


def is_image_name(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def scan(folder: Path, prefix: str = "", passed_over: list[tuple[str, str]] | None = None) -> list[FileStat]:
    """``(relative path, size, mtime_ns, ctime_ns)`` of every non-hidden file under ``folder``, recursively,
    sorted by name (symlinked files are followed, symlinked folders are not; a dangling link is
    listed with size 0 so that it is reported, not silently dropped). What it passes over with
    a warning is also added to ``passed_over`` as ``(relative path, reason)``."""
    found: list[FileStat] = []
    for entry in sorted(folder_entries(folder), key=lambda e: e.name):
        if is_hidden(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            found += scan(Path(entry.path), f"{prefix}{entry.name}/", passed_over)
        elif entry.is_dir():
            _pass_over(passed_over, f"{prefix}{entry.name}", "a link to a folder, not followed")
            warnings.warn(f"skipped {entry.path}: a link to a folder (linked folders are not "
                          "followed: they may lead anywhere)", SkippedFileWarning,
                          stacklevel=user_stacklevel())
        elif entry.is_file():
            st = entry.stat()
            found.append((f"{prefix}{entry.name}", st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        elif entry.is_symlink():
            # A dangling link: kept, so that decoding reports it as a skipped file.
            found.append((f"{prefix}{entry.name}", 0, 0, 0))
        else:  # a pipe, a socket, a device: reading it could block, or never end
            _pass_over(passed_over, f"{prefix}{entry.name}", "not a regular file")
            warnings.warn(f"skipped {entry.path}: not a regular file (a pipe, socket or device)",
                          SkippedFileWarning, stacklevel=user_stacklevel())
    return found


def _pass_over(passed_over: list[tuple[str, str]] | None, path: str, reason: str) -> None:
    if passed_over is not None:
        passed_over.append((path, reason))


def folder_entries(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``; one clear error if the system will not list it."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        raise DataError(f"cannot read the folder {folder}: {exc.strerror}") from None


def list_files(folder: Path) -> list[Path]:
    """Every non-hidden file under ``folder``, recursively, in sorted order."""
    return [folder / rel for rel, *_ in scan(folder)]


def check_folder(path: str | Path) -> Path:
    """``path`` as a :class:`Path` if it is an existing folder, else a clear error."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such folder")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; give a folder with one subfolder "
                        "of images per class")
    return path


def find_classes(root: Path, class_names: Sequence[str] | None = None, min_classes: int = 2,
                 passed_over: list[tuple[str, str]] | None = None) -> list[str]:
    """The class folders of ``root``: sorted, or ``class_names`` in the given order (each must
    exist); at least ``min_classes`` of them (a classifier trains on two or more; a folder
    evaluated against a trained model may hold one of its classes). Linked folders and
    images beside the class folders are passed over with a warning, and added to
    ``passed_over`` as ``(name, reason)``."""
    children = [root / e.name for e in folder_entries(root) if not is_hidden(e.name)]
    entries = [p for p in children if p.is_dir()]
    for link in sorted(p.name for p in entries if p.is_symlink()):
        _pass_over(passed_over, link, "a link to a folder, not a class folder")
        # As inside a class folder: a linked folder is not followed (it may lead anywhere).
        warnings.warn(f"skipped {root / link}: a link to a folder, not a class folder (linked "
                      "folders are not followed)", SkippedFileWarning, stacklevel=user_stacklevel())
    found = sorted(p.name for p in entries if not p.is_symlink())
    if class_names is not None:
        names = list(class_names)
        missing = [n for n in names if n not in found]
        if missing or len(set(names)) != len(names):
            raise ConfigError(f"class_names {names!r} must be distinct subfolders of {root}; "
                              f"it has {found}")
        found = names
    loose = sorted(p.name for p in children if p.is_file() and is_image_name(p))
    for name in loose:
        _pass_over(passed_over, name, "an image beside the class folders, in none of them")
    if not found:
        hint = f" (it holds {len(loose)} image file(s) directly)" if loose else ""
        raise DataError(f"{root} has no class subfolders{hint}; put the images of each class "
                        "in their own subfolder, e.g. cats/ and dogs/")
    if loose:  # beside the class folders, an image has no class: it cannot be used
        more = f" and {len(loose) - 5} more" if len(loose) > 5 else ""
        warnings.warn(f"skipped {len(loose)} image file(s) directly in {root} ({', '.join(loose[:5])}"
                      f"{more}): an image belongs in the subfolder of its class", SkippedFileWarning,
                      stacklevel=user_stacklevel())
    if len(found) < min_classes:
        raise DataError(f"{root} has only one class folder ({found[0]!r}); a classifier needs "
                        "at least two")
    _check_names_look_different(root, found)
    if all(name.lower() in SPLIT_NAMES for name in found):  # Kaggle's train/ and test/ layout
        training = next((n for n in found if n.lower() in ("train", "training")), found[0])
        warnings.warn(f"the class folders of {root} are named {', '.join(found)}: if they are the "
                      "splits of a data set, give the folder whose subfolders are the classes "
                      f"(e.g. {root / training})", GlassnetWarning, stacklevel=user_stacklevel())
    return found


def _check_names_look_different(root: Path, classes: list[str]) -> None:
    """Two class folders whose names differ only in their Unicode form (``grün`` typed on
    a Mac, decomposed, beside ``grün`` composed) would print alike everywhere, and a name
    given to ``evaluate`` or ``predict`` could not tell them apart."""
    by_form: dict[str, list[str]] = {}
    for name in classes:
        by_form.setdefault(unicodedata.normalize("NFC", name), []).append(name)
    alike = [names for names in by_form.values() if len(names) > 1]
    if alike:
        pairs = "; ".join(" and ".join(ascii(n) for n in names) for names in alike)
        raise DataError(f"{root} has class folders whose names differ only in their Unicode "
                        f"form, so they look the same: {pairs}; rename or merge them")


class Skipped(NamedTuple):
    """A file that was not used: its path, why, and whether the reason may pass (the system
    would not let us read it) rather than being in the file itself."""

    path: Path
    reason: str
    passing: bool = False


def decode_images(paths: Sequence[Path], image_size: tuple[int, int], resize: str = "squash",
                  channels: int = 3, workers: int | None = None
                  ) -> tuple[np.ndarray, list[int], list[Skipped]]:
    """Decode ``paths`` in a thread pool into one uint8 array ``(K, channels, H, W)``.

    Returns ``(x, kept, skipped)``: ``kept`` the indices of the K readable files (in
    order), ``skipped`` a :class:`Skipped` for each of the others. Each decoded image is
    already resized, and is copied into ``x`` as it arrives: memory stays near the uint8 output.
    """
    height, width = image_size
    x = np.empty((len(paths), channels, height, width), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[Skipped] = []

    def decode(path: Path) -> np.ndarray | Skipped:
        # A file without an extension may still be an image (downloads often have none):
        # Pillow reads its content. Other extensions (.txt, .json) are not opened.
        if path.suffix and not is_image_name(path):
            return Skipped(path, f"not an image file (extension {path.suffix!r}; images are "
                                 f"{', '.join(IMAGE_EXTENSIONS)}, or files without an extension)")
        try:
            return load_image(path, image_size, resize)
        except ImageError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            if not path.suffix:
                reason = f"no extension, and not a readable image: {reason}"
            return Skipped(path, reason, passing=isinstance(exc, UnreadableFileError))

    workers = workers or min(8, os.cpu_count() or 1)
    with decoding_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(decode, paths)):
            if isinstance(result, Skipped):
                skipped.append(result)
                continue
            x[len(kept)] = to_channels(result, channels)
            kept.append(i)
    return x[:len(kept)], kept, skipped


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An RGB ``(3, H, W)`` uint8 image as ``channels`` = 3 (unchanged) or 1 (luma, as Pillow's "L")."""
    if channels == 3:
        return image
    luma = np.tensordot(LUMA, image.astype(np.uint32), axes=(0, 0))
    return ((luma + 500) // 1000).astype(np.uint8)[None]


def scan_classes(root: Path, classes: list[str], passed_over: list[tuple[str, str]] | None = None
                 ) -> tuple[list[FileStat], list[int]]:
    """Every file of every class folder (paths relative to ``root``) and its label."""
    files: list[FileStat] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = scan(root / name, f"{name}/", passed_over)
        files += found
        labels += [label] * len(found)
    return files, labels


def decode_folder(root: Path, files: list[FileStat], labels: list[int], image_size: tuple[int, int],
                  resize: str, channels: int, workers: int | None
                  ) -> tuple[np.ndarray, np.ndarray, dict, bool]:
    """Decode ``files``: ``(x, y, meta, cacheable)``, ``meta`` with the relative paths kept and
    skipped (with reasons); not ``cacheable`` when a file was skipped for a reason that may
    pass (permissions do not change a file's size or time, so the cache would keep the skip)."""
    rels = [rel for rel, *_ in files]
    x, kept, skipped = decode_images([root / rel for rel in rels], image_size, resize, channels, workers)
    meta = {"files": [rels[i] for i in kept],
            "skipped": [[s.path.relative_to(root).as_posix(), s.reason] for s in skipped]}
    return x, np.asarray(labels, dtype=np.int64)[kept], meta, not any(s.passing for s in skipped)


def report_skipped(root: Path, skipped: Sequence[Sequence[str]], total: int, strict: bool) -> None:
    """One warning per unreadable file and a count, or an :class:`ImageError` when ``strict``.

    ``skipped``: ``(path relative to root, reason)`` pairs; ``total``: files looked at.
    """
    if not skipped:
        return
    lines = [f"{root / rel}: {reason}" for rel, reason in skipped]
    if strict:
        raise ImageError(f"{len(skipped)} of {total} files in {root} are not readable images "
                         f"(strict mode): " + "; ".join(lines))
    for line in lines:
        warnings.warn(f"skipped {line}", SkippedFileWarning, stacklevel=user_stacklevel())
    warnings.warn(f"skipped {len(skipped)} of {total} files in {root} that are not readable images",
                  SkippedFileWarning, stacklevel=user_stacklevel())


def check_classes_have_images(root: Path, classes: list[str], y: np.ndarray) -> None:
    counts = np.bincount(y, minlength=len(classes))
    empty = [name for name, count in zip(classes, counts, strict=True) if count == 0]
    if empty:
        raise DataError(f"class folder(s) {empty} in {root} hold no readable image")


def _listing(root: Path, class_names: Sequence[str] | None, min_classes: int, strict: bool
             ) -> tuple[list[str], list[FileStat], list[int], list[tuple[str, str]]]:
    """The class folders, the files in them and their labels, and what the listing passed
    over with a warning (images beside the class folders, linked folders, pipes) as
    ``(path relative to root, reason)``; with ``strict``, such an entry is an error, as
    unreadable images are."""
    passed_over: list[tuple[str, str]] = []
    with warnings.catch_warnings():
        if strict:
            warnings.simplefilter("error", SkippedFileWarning)
        try:
            classes = find_classes(root, class_names, min_classes, passed_over)
            files, labels = scan_classes(root, classes, passed_over)
        except SkippedFileWarning as exc:
            raise ImageError(f"{exc} (--strict makes every skipped file an error)") from None
    return classes, files, labels, passed_over


def image_folder(path: str | Path, image_size: int | tuple[int, int] = (128, 128),
                 validation_split: float | None = None, subset: str | None = None, seed: int = 0,
                 color_mode: str = "rgb", class_names: Sequence[str] | None = None,
                 resize: str = "squash", strict: bool = False, cache: bool | None = None,
                 workers: int | None = None, min_classes: int = 2) -> Dataset | tuple[Dataset, Dataset]:
    """Load ``path/<class>/**/<image>`` as a :class:`Dataset` of uint8 images ``(N, C, H, W)``.

    Args:
        path: a folder with one subfolder per class (searched recursively).
        image_size: ``(H, W)`` or one int; every image is resized to it with Pillow.
        validation_split: as in Keras, a fraction held out for ``subset``.
        subset: with ``validation_split``, ``"training"`` or ``"validation"`` returns that
            part, ``"both"`` returns ``(training, validation)``; the split is stratified and
            seeded by ``seed``.
        color_mode: ``"rgb"`` (C = 3) or ``"grayscale"`` (C = 1).
        class_names: the classes (subfolder names) to load, in label order; default all, sorted.
        resize: ``"squash"`` (stretch, the default), ``"crop"`` (centre crop to the aspect
            ratio first) or ``"pad"`` (letterbox with black).
        strict: raise :class:`ImageError` instead of skipping unreadable files.
        cache: read and write the decoded array in ``<data dir>/cache/image-folders/``
            (default: yes, unless ``$GLASSNET_IMAGE_CACHE`` is ``off``).
        workers: decoding threads (default: the number of cores, at most 8).
        min_classes: fewer class subfolders is an error (1 to evaluate a trained model on
            a folder of one of its classes).
    """
    root = check_folder(path)
    resolved = root.resolve()  # the folder's identity in the cache and in checkpoints
    size = check_image_size(image_size)
    if resize not in RESIZE_MODES:
        raise ConfigError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if color_mode not in COLOR_MODES:
        raise ConfigError(f"color_mode must be one of {sorted(COLOR_MODES)}, got {color_mode!r}")
    if subset is not None and (subset not in SUBSETS or validation_split is None):
        raise ConfigError(f"subset must be one of {SUBSETS} and needs validation_split, got {subset!r}")
    cache = cache_mod.enabled() if cache is None else cache
    classes, files, labels, passed_over = _listing(root, class_names, min_classes, strict)
    cache_sig = cache_mod.signature(files, status_change=True)
    settings = {"image_size": list(size), "resize": resize, "color_mode": color_mode, "classes": classes}
    entry = cache_mod.entry_path(root, settings) if cache else None
    cached = cache_mod.read(entry, cache_sig) if entry else None
    if cached is not None:
        x, y, meta = cached
    else:
        x, y, meta, cacheable = decode_folder(root, files, labels, size, resize, COLOR_MODES[color_mode],
                                              workers)
        meta.update(signature=cache_sig, root=str(resolved), settings=settings)
        if entry and cacheable:
            cache_mod.write(entry, x, y, meta)
    report_skipped(root, meta["skipped"], len(meta["skipped"]) + len(meta["files"]), strict)
    check_classes_have_images(root, classes, y)
    # what was not used: unreadable files, and what the listing passed over
    skipped = sorted([*map(list, passed_over), *meta["skipped"]])
    info = {"files": meta["files"], "skipped": skipped, "root": str(root),
            "cache": "off" if not cache else ("hit" if cached is not None else "miss"),
            "fingerprint": _fingerprint(resolved, files, meta["files"])}
    dataset = Dataset(x, y, classes, resolved.name, info)
    if validation_split is None:
        return dataset
    training, validation = dataset.split(validation_split, seed=seed)
    return {"training": training, "validation": validation,
            "both": (training, validation)}[subset or "both"]


def _fingerprint(root: Path, files: list[FileStat], used: list[str]) -> dict[str, Any]:
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


#: images per chunk of :func:`iter_images` when they are small (49 MB of uint8 at 128x128 RGB)
CHUNK_IMAGES = 1024
#: bytes of uint8 images a chunk may hold: 1,024 images up to 147x147 RGB, fewer above (151 at
#: 384x384, 21 at 1024x1024, where 1,024 took 3.2 GB), so that ``predict`` stays in bounded
#: memory whatever the model's input size
CHUNK_BYTES = 64 * 2**20


def chunk_size(image_size: tuple[int, int], channels: int) -> int:
    """Images per chunk of :func:`iter_images` for uint8 ``(channels, *image_size)`` images:
    :data:`CHUNK_IMAGES`, or fewer (at least one) to stay within :data:`CHUNK_BYTES`."""
    return count_within(CHUNK_BYTES, channels * image_size[0] * image_size[1], CHUNK_IMAGES)


def load_images(items: Sequence[str | Path], image_size: int | tuple[int, int],
                resize: str = "squash", color_mode: str = "rgb", strict: bool = False,
                workers: int | None = None) -> tuple[list[str], np.ndarray]:
    """Images from files and folders (searched recursively): ``(names, x)`` with ``x`` uint8 ``(N, C, H, W)``.

    A file named directly must be a readable image (JPEG, PNG, BMP, GIF, WebP or TIFF), else
    :class:`ImageError`; unreadable files inside a folder are skipped with a warning
    (an error when ``strict``), as in :func:`image_folder`. Each file is read once, under
    the name it was first found by (named twice, or named and inside a named folder).
    All of them at once: :func:`iter_images` reads them chunk by chunk.
    """
    names: list[str] = []
    arrays: list[np.ndarray] = []
    for chunk_names, x in iter_images(items, image_size, resize, color_mode, strict, workers):
        names += chunk_names
        arrays.append(x)
    return names, np.concatenate(arrays)


def iter_images(items: Sequence[str | Path], image_size: int | tuple[int, int],
                resize: str = "squash", color_mode: str = "rgb", strict: bool = False,
                workers: int | None = None, chunk_images: int | None = None
                ) -> Iterator[tuple[list[str], np.ndarray]]:
    """:func:`load_images` in chunks of at most ``chunk_images`` images (default
    :func:`chunk_size`: 1,024 small images, fewer big ones): ``(names, x)`` pairs in the same
    order, so that a folder of 100,000 photos is predicted in bounded memory, its first
    results out at once.

    A folder's skipped files are reported when the folder is done (with ``strict``: at the
    first chunk that has one). An item that stops the reading (a named file that is not a
    readable image, a folder with none) raises its :class:`ImageError` after every image
    before it has been handed out.
    """
    size = check_image_size(image_size)
    if color_mode not in COLOR_MODES:
        raise ConfigError(f"color_mode must be one of {sorted(COLOR_MODES)}, got {color_mode!r}")
    if isinstance(items, (str, Path)) or not len(items):  # "photo.jpg" would be read letter by letter
        raise ConfigError(f"give a list of image files and folders, got {items!r}")
    channels = COLOR_MODES[color_mode]
    chunk_images = chunk_images or chunk_size(size, channels)
    pending = _Pending(chunk_images)
    seen: set[Path] = set()
    for item in items:
        try:
            for names, x in _item_images(item, size, resize, channels, strict, workers, chunk_images, seen):
                pending.add(names, x)
                yield from pending.chunks()
        except ImageError:
            yield from pending.chunks(final=True)  # the images before it are answered first
            raise
    yield from pending.chunks(final=True)


class _Pending:
    """Decoded images waiting to be handed out in chunks of ``size``."""

    def __init__(self, size: int) -> None:
        self.size, self.names, self.arrays = size, [], []

    def add(self, names: list[str], x: np.ndarray) -> None:
        """``x: (len(names), C, H, W)`` uint8."""
        self.names += names
        self.arrays.append(x)

    def chunks(self, final: bool = False) -> Iterator[tuple[list[str], np.ndarray]]:
        """The full chunks, and the remainder too when ``final``."""
        while self.names and (final or len(self.names) >= self.size):
            x = np.concatenate(self.arrays) if len(self.arrays) > 1 else self.arrays[0]
            names, self.names, self.arrays = self.names[:self.size], self.names[self.size:], [x[self.size:]]
            yield names, x[:self.size]


def _item_images(item: str | Path, size: tuple[int, int], resize: str, channels: int, strict: bool,
                 workers: int | None, chunk_images: int, seen: set[Path]
                 ) -> Iterator[tuple[list[str], np.ndarray]]:
    """The images of one item of :func:`iter_images` not in ``seen`` (resolved paths, updated),
    as ``(names, x)`` parts of at most ``chunk_images``: a named file (which must be a readable
    image), or a folder's files (its unreadable ones skipped, unless ``strict``)."""

    def first_time(file: Path) -> bool:
        key = file.resolve()
        if key in seen:
            return False
        seen.add(key)
        return True

    check_not_a_url(item)
    path = Path(item).expanduser()
    if not path.is_dir():
        if first_time(path):
            yield [str(item)], to_channels(_named_image(path, size, resize, strict), channels)[None]
        return
    every_file = list_files(path)
    files = [f for f in every_file if first_time(f)]
    if every_file and not files:
        return  # all of them were named before
    skipped_in_folder: list[tuple[str, str]] = []
    kept_in_folder = 0
    for start in range(0, len(files), chunk_images):
        part = files[start:start + chunk_images]
        x, kept, skipped = decode_images(part, size, resize, channels, workers)
        skipped_in_folder += [(s.path.relative_to(path).as_posix(), s.reason) for s in skipped]
        if strict:  # stop at the first unreadable file, not after the whole folder
            report_skipped(path, skipped_in_folder, start + len(part), strict)
        kept_in_folder += len(kept)
        yield [str(part[i]) for i in kept], x
    report_skipped(path, skipped_in_folder, len(files), strict)
    if not kept_in_folder:
        raise _no_image_in(path, [rel for rel, _ in skipped_in_folder])


def _named_image(path: Path, size: tuple[int, int], resize: str, strict: bool) -> np.ndarray:
    """:func:`load_image` of a file named as an item: one that cannot be read stops the
    reading, with what to do instead (a folder's unreadable files are only skipped)."""
    try:
        return load_image(path, size, resize)
    except ImageError as exc:
        if strict:  # a folder's unreadable files are errors too
            raise
        raise type(exc)(f"{exc}; name only readable images, or their folder (whose unreadable "
                        "files are skipped with a warning)") from None


def _no_image_in(folder: Path, skipped: list[str]) -> ImageError:
    """The error for a folder, named as an item, that gave no image: what it held instead
    (``skipped``: its files, relative to it, each already reported with its reason)."""
    if not skipped:
        return ImageError(f"{folder}: no readable image in this folder: it holds no files (hidden "
                          "ones aside); name a folder of images")
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return ImageError(f"{folder}: no readable image in this folder: none of its {len(skipped)} "
                      f"file(s) is a readable image ({shown}; each was skipped with a warning that says why)")
