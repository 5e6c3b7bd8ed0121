"""Images to predict: files and folders (searched recursively), read chunk by chunk.

:func:`iter_images` reads the images named, and those in the folders named, in chunks of
bounded memory (:func:`chunk_size`), each file once; :func:`load_images` gives them all at
once. Unlike :func:`~glassnet.data.folder.image_folder`, no labels: a folder's subfolders
are not classes, only more files. The listing and decoding are those of an image folder
(:mod:`glassnet.data.listing`, :mod:`glassnet.data.decoding`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ImageError
from ..functional import count_within
from .decoding import COLOR_MODES, decode_images, report_skipped, to_channels
from .images import check_image_size, check_not_a_url, load_image
from .listing import list_files

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
    (an error when ``strict``), as in :func:`~glassnet.data.folder.image_folder`. Each file
    is read once, under the name it was first found by (named twice, or named and inside a
    named folder).
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
        try:
            key = file.resolve()
        except (OSError, RuntimeError):  # a link that loops (RuntimeError before Python 3.13)
            key = file.absolute()  # reading it fails, and says why
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
