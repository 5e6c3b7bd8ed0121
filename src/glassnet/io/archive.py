"""The zip archive that holds every glassnet file: ``config.json`` and ``arrays/<name>.npy``.

Model files (:mod:`glassnet.io.format`) and checkpoints (:mod:`glassnet.io.checkpoint_file`)
are both such an archive; this module writes and reads the container and knows nothing of
models. Reading trusts nothing in the file:

- arrays are read with NumPy's ``.npy`` reader and ``allow_pickle=False``, so opening a
  file can never run code (a planted pickle is an :class:`UnsafeFileError`), and an array
  whose header declares more bytes than it holds is refused before anything is allocated;
- only ``config.json`` and ``arrays/*.npy`` entries, each once, may be in the archive, and
  none may inflate far beyond its stored bytes (a zip bomb);
- a truncated or corrupted zip is a :class:`DamagedFileError`; a file that is no zip at
  all a :class:`ModelFormatError`; a newer ``format_version`` a :class:`NewerFormatError`
  (checked before any array is read).

Writing is atomic (temporary file in the same directory, fsync, rename): a crash or a full
disk leaves the previous file as it was (:class:`~glassnet.errors.SaveError` says what happened).
"""

from __future__ import annotations

import io
import json
import math
import re
import stat
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write, save_errors
from ..errors import (
    ConfigError,
    DamagedFileError,
    ModelFormatError,
    NewerFormatError,
    UnsafeFileError,
)
from ..json_checks import short_list

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
ARRAY_DIR = "arrays/"
MAX_CONFIG_BYTES = 16 * 2**20
MAX_INFLATION = 20  # deflated float weights shrink by ~10%; a zip bomb by a factor of 1000
_ARRAY_NAME = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def glassnet_version() -> str:
    """This glassnet's version, as files record it (imported here: the package imports this module)."""
    from .. import __version__

    return __version__


def _version_tuple(version: Any) -> tuple[int, ...]:
    """``"0.10.2"`` -> ``(0, 10, 2)``; the leading numbers only (``"1.2rc1"`` -> ``(1, 2)``)."""
    match = re.match(r"\d+(\.\d+)*", str(version))
    return tuple(int(part) for part in match.group().split(".")) if match else ()


def newer_writer_hint(config: dict[str, Any]) -> str:
    """A hint for errors in a file that a newer glassnet wrote (same format, new options?)."""
    written = config.get("glassnet_version")
    if _version_tuple(written) > _version_tuple(glassnet_version()):
        return (f" (the file was written by glassnet {written}, newer than this "
                f"{glassnet_version()}: upgrading glassnet may fix this)")
    return ""


# -- the archive ---------------------------------------------------------------------------
def write_archive(path: str | Path, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Atomically write a zip holding ``config.json`` and ``arrays/<name>.npy`` entries.

    Raises :class:`~glassnet.errors.SaveError` (the previous file at ``path`` untouched) if writing fails.
    """
    for name in arrays:
        if not _ARRAY_NAME.match(name) or ".." in name.split("/"):
            raise ConfigError(f"array name {name!r} cannot be stored in a model file")
    # Stored, not deflated: float weights hardly compress, and checkpoints must be quick.
    # save_errors: a full disk while writing the arrays is a SaveError that names the file.
    with save_errors(path), atomic_write(path, "wb") as handle, \
            zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_entry(CONFIG_NAME), json.dumps(config, indent=2))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(_entry(f"{ARRAY_DIR}{name}.npy"), buffer.getvalue())


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date: the same model saved twice gives the same bytes (the
    time of writing is the file's own modification time)."""
    return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))


def _check_entries(path: Path, zf: zipfile.ZipFile, archive_bytes: int) -> list[zipfile.ZipInfo]:
    """The array entries; anything that is neither ``config.json`` nor an array is refused."""
    entries = []
    counts = Counter(info.filename for info in zf.infolist())
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:  # zipfile would silently read the last of them
        raise DamagedFileError(f"{path}: the archive holds {short_list(twice)} more than once; "
                               "the file was not loaded")
    for info in zf.infolist():
        name = info.filename
        if name == CONFIG_NAME:
            continue
        array_name = name[len(ARRAY_DIR):-len(".npy")]
        if (not name.startswith(ARRAY_DIR) or not name.endswith(".npy")
                or not _ARRAY_NAME.match(array_name) or ".." in array_name.split("/")):
            raise UnsafeFileError(f"{path}: unexpected entry {name!r} in the archive; a glassnet "
                                  "file holds only config.json and arrays/*.npy, so it was not loaded")
        entries.append(info)
    inflated = sum(info.file_size for info in entries)
    if inflated > MAX_INFLATION * archive_bytes + 2**20:  # a zip bomb spread over many entries
        raise DamagedFileError(f"{path}: its arrays would inflate from {archive_bytes:,} to "
                               f"{inflated:,} bytes, far more than weights ever compress; the file "
                               "was not loaded")
    return entries


def _read_config(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(CONFIG_NAME)
    except KeyError:
        raise ModelFormatError(f"{path} has no {CONFIG_NAME}: not a glassnet file") from None
    if info.file_size > MAX_CONFIG_BYTES:
        raise DamagedFileError(f"{path}: {CONFIG_NAME} is {info.file_size} bytes, far more than "
                               "any model needs; the file was not loaded")
    try:
        config = json.loads(zf.read(info))
    # ValueError: also an integer of more than 4,300 digits
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DamagedFileError(f"{path}: {CONFIG_NAME} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise DamagedFileError(f"{path}: {CONFIG_NAME} must hold a JSON object")
    return config


def check_version(path: str | Path, config: dict[str, Any]) -> None:
    """Refuse a missing, malformed or newer ``format_version``, and a ``kind`` or
    ``glassnet_version`` that glassnet never writes (``info`` showed "glassnet banana")."""
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFormatError(f"{path}: {CONFIG_NAME} has no valid format_version (got {version!r})")
    if version > FORMAT_VERSION:
        raise NewerFormatError(
            f"{path} uses format version {version}, newer than this glassnet "
            f"({glassnet_version()}) can read (up to {FORMAT_VERSION}); upgrade glassnet")
    # (after the version: a newer format may know other kinds)
    if config.get("kind", "model") not in ("model", "checkpoint"):
        raise ModelFormatError(f"{path}: {CONFIG_NAME} has kind {config['kind']!r}, neither 'model' "
                               "nor 'checkpoint'; the file is damaged")
    if not isinstance(config.get("glassnet_version", ""), str):
        raise ModelFormatError(f"{path}: {CONFIG_NAME} has glassnet_version "
                               f"{config['glassnet_version']!r}, which is not a version; the file is damaged")


def _read_array(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` entry, read without ever allocating much more than the file's size:
    glassnet stores arrays uncompressed (early versions deflated them, and float weights
    hardly compress), so an entry that would inflate far beyond its stored bytes is a zip
    bomb, and the shape a header declares must account for exactly the bytes it holds."""
    name = info.filename[len(ARRAY_DIR):-len(".npy")]
    if (info.compress_type != zipfile.ZIP_STORED
            and info.file_size > MAX_INFLATION * info.compress_size + 2**20):
        raise DamagedFileError(f"{path}: array {name!r} would inflate from {info.compress_size:,} to "
                               f"{info.file_size:,} bytes, far more than weights ever compress; "
                               "the file was not loaded")
    data = zf.read(info)
    unsafe = UnsafeFileError(f"{path}: array {name!r} holds pickled Python objects; glassnet never "
                             "unpickles (that could run code), so the file was not loaded")
    stream = io.BytesIO(data)
    try:
        shape, dtype = _npy_header(stream)
    # NumPy's header parser raises ValueError, SyntaxError, tokenize.TokenError, ...
    except Exception as exc:  # noqa: BLE001
        if data[:1] == b"\x80":
            raise unsafe from None
        raise DamagedFileError(f"{path}: array {name!r} is not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise unsafe
    held, declared = len(data) - stream.tell(), math.prod(shape) * dtype.itemsize
    if held != declared:
        raise DamagedFileError(f"{path}: array {name!r} declares shape {shape} ({declared:,} bytes) "
                               f"but holds {held:,} bytes; the file is damaged")
    try:
        return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise DamagedFileError(f"{path}: array {name!r} is not a valid .npy array ({exc})") from None


def _npy_header(stream: io.BytesIO) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` from a ``.npy`` header (versions 1 and 2, which NumPy writes)."""
    version = np.lib.format.read_magic(stream)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f".npy version {version[0]}.{version[1]} is not one glassnet writes")
    shape, _, dtype = readers[version](stream)
    return tuple(shape), dtype


def read_archive(path: str | Path, what: str = "model file"
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read ``(config, arrays)`` from a file written by :func:`write_archive`, never unpickling.

    Checks the format version before reading any array. ``what`` names the file in the
    errors: ``"model file"``, ``"checkpoint"``, ``"model or checkpoint file"``.
    """
    path = Path(path)
    try:
        kind = path.stat()
    except FileNotFoundError:
        raise ModelFormatError(f"{what} not found: {path}") from None
    except OSError as exc:  # a folder on the way we may not enter, a name too long
        raise ModelFormatError(f"could not read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(kind.st_mode):
        raise ModelFormatError(f"{path} is a directory, not a {what}")
    if not stat.S_ISREG(kind.st_mode):  # /dev/zero would fill the memory, a pipe hang
        raise ModelFormatError(f"{path} is not a regular file (a device, pipe or socket), not a "
                               f"{what}")
    try:
        with zipfile.ZipFile(path) as zf:
            config = _read_config(path, zf)
            check_version(path, config)  # a newer format may hold entries this one does not know
            entries = _check_entries(path, zf, kind.st_size)
            arrays = {info.filename[len(ARRAY_DIR):-len(".npy")]: _read_array(path, zf, info)
                      for info in entries}
    except zipfile.BadZipFile as exc:
        if not _starts_like_a_zip(path):
            raise ModelFormatError(f"{path} is not a glassnet {what} (a .glassnet file is a "
                                   "zip archive; this file is not one)") from None
        raise DamagedFileError(
            f"{path} is truncated or damaged ({exc}); it is not a complete glassnet file") from None
    except PermissionError as exc:  # the system refused, the content may be fine
        raise ModelFormatError(f"could not read {path}: {exc.strerror}") from None
    except OSError as exc:
        raise DamagedFileError(f"{path} is damaged: {exc}") from None
    except (EOFError, zlib.error, zipfile.LargeZipFile,
            NotImplementedError, RuntimeError) as exc:  # unknown compression, "encrypted", ...
        raise DamagedFileError(f"{path} is damaged: {exc}") from None
    return config, arrays


def _starts_like_a_zip(path: Path) -> bool:
    """Whether ``path`` begins as a zip archive does (a local file header, or an empty
    archive's end record): if so a failed read means damage, otherwise a different kind of file."""
    with open(path, "rb") as handle:
        return handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
