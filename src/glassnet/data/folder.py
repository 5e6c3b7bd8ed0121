"""Your own photos as a data set: one subfolder per class, like Keras's ``image_dataset_from_directory``.

``image_folder("photos", image_size=128)`` reads ``photos/<class>/**/<image>`` (class names
sorted, or chosen with ``class_names=``; :mod:`glassnet.data.listing`), decodes every image
in a thread pool (Pillow releases the GIL while decoding and resizing;
:mod:`glassnet.data.decoding`) straight into one uint8 ``(N, C, H, W)`` array, and caches
that array in the data directory (``<data dir>/cache/image-folders/``, see
:mod:`glassnet.data.cache`), keyed by the folder's file list, sizes and modification times:
the second load reads one array. The cache keeps a few entries per folder (its current
content, the most recently used settings).

Hidden entries (``.DS_Store``, ``.ipynb_checkpoints``, anything starting with a dot) and OS
clutter (``__MACOSX``, ``Thumbs.db``) are neither classes nor images. Files that are not
readable images are skipped with one :class:`~glassnet.errors.SkippedFileWarning` each and
a count at the end (``strict=True`` makes them an error); the list, with the images beside
the class folders, linked folders and pipes that the listing passed over, is also in
``dataset.info["skipped"]``. ``dataset.info["fingerprint"]`` (the folder, the signature of
its files and their number; :mod:`glassnet.data.fingerprint`) is what a checkpoint records
so that resuming can refuse a folder that changed.

The images to predict (files and folders, no classes) are read by
:func:`~glassnet.data.unlabelled.load_images` and
:func:`~glassnet.data.unlabelled.iter_images`, which this module also offers under their
documented names ``glassnet.data.folder.load_images`` and ``glassnet.data.folder.iter_images``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, ImageError, SkippedFileWarning
from . import cache as cache_mod
from .cache import FileStat
from .dataset import Dataset
from .decoding import COLOR_MODES, decode_images, report_skipped
from .fingerprint import folder_fingerprint
from .images import RESIZE_MODES, check_image_size
from .listing import check_folder, find_classes, scan_classes

# documented as glassnet.data.folder.load_images and .iter_images: they stay importable from here
from .unlabelled import iter_images, load_images  # noqa: F401

SUBSETS = ("training", "validation", "both")


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


def check_classes_have_images(root: Path, classes: list[str], y: np.ndarray) -> None:
    """A :class:`DataError` naming the class folders under ``root`` that none of the labels
    ``y: (N,)`` (indices into ``classes``) falls in: none of their images could be read."""
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
            "fingerprint": folder_fingerprint(resolved, files, meta["files"])}
    dataset = Dataset(x, y, classes, resolved.name, info)
    if validation_split is None:
        return dataset
    training, validation = dataset.split(validation_split, seed=seed)
    return {"training": training, "validation": validation,
            "both": (training, validation)}[subset or "both"]
