"""Reading one image file into a uint8 ``(3, H, W)`` array with Pillow.

JPEG, PNG, BMP, GIF, WebP or TIFF (other formats are refused: some of Pillow's decoders run
external programs); EXIF orientation applied (left out when the EXIF is damaged);
grayscale, palette, RGBA and CMYK converted to RGB; resized to ``size = (H, W)`` by
squashing (the course's behaviour), centre-cropping to the aspect ratio first, or padding
with black. A JPEG at least 8 times larger than ``size`` is decoded at 1/2, 1/4 or 1/8
scale first (libjpeg's DCT scaling, never below :data:`DRAFT_MARGIN` = 4 times ``size``),
then resized: several times faster for camera photos, within 0.12 grey levels of decoding
it whole on average.

Images deeper than 8 bits are scaled, not clipped (Pillow's own conversion clips every value
above 255 to white): 16-bit grayscale (modes ``I;16``, ``I;16B``, ...) maps 0-65535 to
0-255; 32-bit integer images (``I``) are read as 16-bit data too, since that is how Pillow
has stored 16-bit PNG and TIFF samples; float images (``F``) map 0.0-1.0 to 0-255. An
``I`` or ``F`` image with values outside that range has no known scale, so it is stretched
from its own minimum (black) to its maximum (white); if it is constant, it is white above
the range and black below it. NaN becomes black. Colour images of 16 bits a channel (48-bit
RGB and 64-bit RGBA PNGs) are the exception: Pillow has no such mode and reads them as 8-bit,
keeping each value's high byte, so they are not scaled here.

Pillow warns about images above ``Image.MAX_IMAGE_PIXELS`` (89 megapixels) and refuses
those above twice that as possible "decompression bombs". glassnet loads the former
without the warning (a big photo is just a big photo) and reports the latter as an
:class:`~glassnet.errors.ImageError`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, GlassnetWarning, ImageError, UnreadableFileError, user_stacklevel

RESIZE_MODES = ("squash", "crop", "pad")
#: The decoders Pillow may use (its JPEG decoder also reads MPO, a camera's multi-picture JPEG).
PILLOW_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
FLOAT_FULL_SCALE = 1.0
INTEGER_FULL_SCALE = 65535  # "I;16*" and "I" (Pillow's container for 16-bit samples)


def check_image_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``128`` or ``(128, 128)`` → ``(H, W)`` of positive ints, else a clear error."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                       for s in size)):
        raise ConfigError(f"image size must be a positive integer or (height, width), got {size!r}")
    return int(size[0]), int(size[1])


#: how many times the model's image size a JPEG is still decoded at, at least
DRAFT_MARGIN = 4


def check_not_a_url(item: str | Path) -> None:
    """An :class:`ImageError` for ``https://...`` (a path would lose one of its slashes and
    be "no such file"): images are read from files only."""
    text = str(item)
    if "://" in text and text.split("://", 1)[0].isalpha() and not os.path.exists(text):
        raise ImageError(f"{text}: a URL; images are read from files only: download it first")


def load_image(path: str | Path, size: tuple[int, int] | int | None = None,
               resize: str = "squash") -> np.ndarray:
    """Decode ``path`` to uint8 ``(3, H, W)``; raises :class:`ImageError` if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    if resize not in RESIZE_MODES:
        raise ConfigError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    size = check_image_size(size) if size is not None else None
    check_not_a_url(path)
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{path} is a directory, not an image")
    if not stat.S_ISREG(info.st_mode):  # a pipe would block the read, a device has size 0
        raise ImageError(f"{path} is not a regular file (a pipe, socket or device), not an image")
    if info.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes), not an image")
    # Decoding threads (image folders) run inside their pool's decoding_warnings().
    in_main_thread = threading.current_thread() is threading.main_thread()
    quiet = decoding_warnings() if in_main_thread else contextlib.nullcontext()
    _decoding.path, _decoding.pending = path, []
    try:
        # Only the formats glassnet documents: Pillow would otherwise pick a decoder by the
        # content alone, and some (EPS) run external programs on untrusted files.
        with quiet, Image.open(path, formats=PILLOW_FORMATS) as img:
            img.seek(0)  # first frame of a GIF or multi-page TIFF
            if size is not None and img.format in ("JPEG", "MPO"):
                # libjpeg can decode at 1/2, 1/4 or 1/8 scale at once (DCT scaling); draft picks
                # the smallest that stays at least DRAFT_MARGIN times size x size (either way
                # up, before the EXIF rotation): a 12 MP photo for a 128-pixel model decodes
                # several times faster, and the resize still averages over enough pixels to
                # match a full decode (a draft right at the size differed by 1.5 grey levels
                # on average, enough to flip a few predictions).
                side = DRAFT_MARGIN * max(size)
                img.draft(None, (side, side))
            img = _upright(img)
            img.load()
            img = _to_rgb(img)
            _keep_pending_warnings()  # the image was read: Pillow's warnings about it stand
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file in a readable format (JPEG, PNG, BMP, GIF, "
                         "WebP or TIFF)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: image too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:  # the OS refused, not the decoder
            raise _unreadable(path, exc) from None
        raise ImageError(f"{path}: damaged or truncated image ({exc})") from None
    finally:
        _decoding.path, _decoding.pending = None, []
    if size is not None:
        img = _resize(img, size, resize)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


def _upright(img):
    """``img`` turned as its EXIF orientation says; as it is stored when that EXIF is damaged
    (a text value under a number's tag makes Pillow raise TypeError or struct.error while
    the pixels are fine: one such photo stopped a whole folder)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except (TypeError, ValueError, struct.error, KeyError, SyntaxError):
        return img


def _unreadable(path: Path, exc: OSError) -> UnreadableFileError:
    """The system would not let us read ``path`` (permissions, an I/O error): not damage."""
    return UnreadableFileError(f"{path}: cannot read the file ({exc.strerror})")


#: the file each thread is decoding (``path``) and Pillow's warnings about it so far
#: (``pending``): they are kept only if the image is read (its error says the rest)
_decoding = threading.local()
#: where the innermost :class:`decoding_warnings` keeps the warnings of the images read
_kept_warnings: dict[tuple[str, str], None] | None = None


def _keep_pending_warnings() -> None:
    """The image this thread was decoding has been read: keep Pillow's warnings about it."""
    kept = _kept_warnings
    if kept is not None:
        for item in getattr(_decoding, "pending", ()):
            kept[item] = None


#: files whose Pillow warnings are repeated one by one; more are counted in one line
NAMED_WARNINGS = 5


class decoding_warnings:  # noqa: N801 - used like a function: `with decoding_warnings():`
    """While images are decoded: Pillow's warning about images between one and two
    ``MAX_IMAGE_PIXELS`` silenced (a big photo is just a big photo), and its other warnings
    (damaged EXIF data, ...) repeated afterwards with the name of the file each was about
    (Pillow's own name none, and Python shows each only once per line of Pillow's code).
    Filters of your own still apply to Pillow's warning first (``ignore`` silences it).

    ``warnings.catch_warnings`` changes the process's filters and is not thread-safe, so
    code that decodes in a thread pool enters this once, in the thread that runs the pool;
    :func:`load_image` enters it itself only when called from the main thread. (A class,
    not a generator: its warnings then point at the caller's line, not at contextlib's.)"""

    def __enter__(self) -> None:
        global _kept_warnings
        from PIL import Image

        self._caught: dict[tuple[str, str], None] = {}  # (file, message), without repeats
        self._outer, _kept_warnings = _kept_warnings, self._caught
        self._active = True
        self._filters = warnings.catch_warnings()
        self._filters.__enter__()
        shown = warnings.showwarning

        def collect(message, category, filename, lineno, file=None, line=None):
            path, pending = getattr(_decoding, "path", None), getattr(_decoding, "pending", None)
            # not Pillow's (or, left installed by another thread's context, after this one)
            if not self._active or path is None or pending is None or issubclass(category, GlassnetWarning):
                shown(message, category, filename, lineno, file, line)
            else:
                pending.append((str(path), " ".join(str(message).split())))

        # every file's warning, not only the first (after the filters already there)
        warnings.filterwarnings("always", category=UserWarning, append=True)
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.showwarning = collect

    def __exit__(self, *exc: object) -> None:
        global _kept_warnings
        self._active, _kept_warnings = False, self._outer
        self._filters.__exit__(*exc)
        if exc[0] is not None:  # the image was not read: its error says what went wrong
            return
        items = sorted(self._caught)  # by file: the threads finish in any order
        for path, message in items[:NAMED_WARNINGS]:
            warnings.warn(f"{path}: {message} (Pillow's warning; the image was read)", GlassnetWarning,
                          stacklevel=user_stacklevel())
        if len(items) > NAMED_WARNINGS:
            files = len({path for path, _ in items[NAMED_WARNINGS:]})
            warnings.warn(f"Pillow warned about {files} more image file(s), e.g. "
                          f"{items[NAMED_WARNINGS][0]}: {items[NAMED_WARNINGS][1]} (the images were read)",
                          GlassnetWarning, stacklevel=user_stacklevel())


def _to_rgb(img):
    from PIL import Image

    img = _to_8_bit(img)
    # A tRNS chunk ("transparency") makes a palette, grayscale or RGB PNG transparent too.
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)  # transparent pixels become white
    return img.convert("RGB")


def _to_8_bit(img):
    """A 16-bit, 32-bit integer or float image as 8-bit grayscale ("L", or "LA" when a PNG's
    tRNS key makes one value transparent); other modes unchanged."""
    from PIL import Image

    if img.mode == "F":
        full_scale: float = FLOAT_FULL_SCALE
    elif img.mode == "I" or img.mode.startswith("I;16"):
        full_scale = INTEGER_FULL_SCALE
    else:
        return img
    values = np.asarray(img)
    gray = scale_to_uint8(values, full_scale)
    key = img.info.get("transparency")
    if not isinstance(key, int):
        return Image.fromarray(gray, mode="L")
    alpha = np.where(values == key, 0, 255).astype(np.uint8)  # the key, before scaling
    return Image.fromarray(np.stack([gray, alpha], axis=-1), mode="LA")


def scale_to_uint8(values: np.ndarray, full_scale: float) -> np.ndarray:
    """Map ``[0, full_scale]`` linearly onto 0..255 (rounded); values outside that range mean
    the scale is unknown, so the image's own finite minimum..maximum is stretched instead."""
    values = values.astype(np.float64)
    finite = values[np.isfinite(values)]
    low, high = 0.0, float(full_scale)
    if finite.size and (finite.min() < low or finite.max() > high):
        low, high = float(finite.min()), float(finite.max())
    if high <= low:  # constant and outside [0, full_scale]: saturated white, or black below 0
        flat = np.full(values.shape, 255 if high > full_scale else 0, dtype=np.uint8)
        flat[np.isnan(values)] = 0
        return flat
    values = np.nan_to_num(values, nan=low, posinf=high, neginf=low)
    return np.rint((values - low) * (255 / (high - low))).astype(np.uint8)


def _resize(img, size: tuple[int, int], mode: str):
    from PIL import Image, ImageOps

    height, width = size
    if mode == "squash":
        return img.resize((width, height), Image.BILINEAR)
    if mode == "crop":
        return ImageOps.fit(img, (width, height), Image.BILINEAR)
    return _pad(img, (width, height))


def _pad(img, size: tuple[int, int]):
    """``ImageOps.pad(img, size, BILINEAR, color=black)`` (``size = (W, H)``): ``img`` fitted
    inside, centred, black around; except that it keeps at least one pixel each way (Pillow's
    rounds a 1x64 line in a 32x32 input to no pixels at all: an all-black input)."""
    from PIL import Image

    width, height = size
    ratio, target = img.width / img.height, width / height
    content = size  # the same sizes, rounded the same way, as Pillow's ImageOps.contain
    if ratio > target:
        content = (width, max(1, round(img.height / img.width * width)))
    elif ratio < target:
        content = (max(1, round(img.width / img.height * height)), height)
    resized = img.resize(content, Image.BILINEAR)
    if content == size:
        return resized
    out = Image.new(img.mode, size, (0, 0, 0))
    out.paste(resized, (round((width - content[0]) * 0.5), round((height - content[1]) * 0.5)))
    return out
