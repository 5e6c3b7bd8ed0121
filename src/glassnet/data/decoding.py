"""Decoding many image files at once: in a thread pool, straight into one uint8 array.

Pillow releases the GIL while decoding and resizing, so threads decode in parallel; each
image is resized (:func:`~glassnet.data.images.load_image`), converted to the colour mode
(:data:`COLOR_MODES`) and copied into the output as it arrives. Files that are not readable
images are skipped (:class:`Skipped`, with the reason) and reported with one
:class:`~glassnet.errors.SkippedFileWarning` each and a count (:func:`report_skipped`), or
as an error when strict. Used for an image folder (:mod:`glassnet.data.folder`) and for
the images to predict (:mod:`glassnet.data.unlabelled`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError, ImageError, SkippedFileWarning, UnreadableFileError, user_stacklevel
from .images import decoding_warnings, load_image
from .listing import IMAGE_EXTENSIONS, is_image_name

COLOR_MODES = {"rgb": 3, "grayscale": 1}
# ITU-R 601-2 luma, the weights Pillow's convert("L") uses.
LUMA = np.array([299, 587, 114], dtype=np.uint32)


class Skipped(NamedTuple):
    """A file that was not used: its path, why, and whether the reason may pass (the system
    would not let us read it) rather than being in the file itself."""

    path: Path
    reason: str
    passing: bool = False


def _image_array(shape: tuple[int, int, int, int]) -> np.ndarray:
    """An empty uint8 array for ``shape`` images, or a DataError that says how much memory it
    needs and what makes it smaller (NumPy's own error is a traceback for a size it cannot
    even address, ``array is too big``, and the batch size, which out-of-memory advice
    elsewhere names, does not change it)."""
    try:
        return np.empty(shape, dtype=np.uint8)
    except (MemoryError, ValueError) as exc:
        n, c, h, w = shape
        gib = n * c * h * w / 2**30
        raise DataError(f"{n} images of {c}x{h}x{w} pixels need {gib:.3g} GiB decoded, more than "
                        f"this machine can hold ({exc}); choose a smaller image size (--image-size)"
                        ) from None


def decode_images(paths: Sequence[Path], image_size: tuple[int, int], resize: str = "squash",
                  channels: int = 3, workers: int | None = None
                  ) -> tuple[np.ndarray, list[int], list[Skipped]]:
    """Decode ``paths`` in a thread pool into one uint8 array ``(K, channels, H, W)``.

    Returns ``(x, kept, skipped)``: ``kept`` the indices of the K readable files (in
    order), ``skipped`` a :class:`Skipped` for each of the others. Each decoded image is
    already resized, and is copied into ``x`` as it arrives: memory stays near the uint8 output.
    """
    height, width = image_size
    x = _image_array((len(paths), channels, height, width))
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
