"""Atomic file writing: a crash never leaves a half-written file in place of a good one."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import SaveError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` keeps its old content.
    The temporary file lives in the same directory so that the rename is atomic. A file
    replaced keeps its permissions (a private model stays private), and a symbolic link is
    written through: its target gets the new content, as with a plain ``open()``. What fails
    in this function's own steps is a :class:`SaveError` naming ``path``; an error raised
    by the caller's writes passes through as it is (a body that only writes can turn it
    into one with :func:`save_errors`).
    """
    path = Path(os.path.realpath(path))
    _check_replaceable(path)
    make_folder(path.parent)
    with save_errors(path):  # no permission, a read-only disk, a link loop: nothing written yet
        file_mode = _mode_for(path)
        remove_stale_temporaries(path.parent, files=[path.name])
        fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".tmp",
                                        dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            with save_errors(path):
                # mkstemp creates the file private (0600): give it the mode it is to have
                os.fchmod(handle.fileno(), file_mode)
            yield handle
            with save_errors(path):
                handle.flush()
                os.fsync(handle.fileno())
        with save_errors(path):
            os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


@contextlib.contextmanager
def save_errors(path: str | os.PathLike) -> Iterator[None]:
    """Any ``OSError`` inside (a full disk, a file-size limit) as the :class:`SaveError` of
    :func:`write_error`: the one line that names ``path`` and says the previous file is
    unchanged, for code that writes ``path`` through :func:`atomic_write`."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from exc


def _mode_for(path: Path) -> int:
    """The permissions the file at ``path`` has, or those a plain ``open()`` would give a
    new file."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


#: the bytes :func:`atomic_write` adds to a name for its temporary file: ``.NAME.`` + 8
#: random characters + ``.tmp``
_TEMPORARY_EXTRA = 1 + 1 + 8 + 4


def _temporary_prefix(name: str) -> str:
    """``.NAME.``, ``NAME`` cut so that the temporary file's name fits in 255 bytes (a legal
    name of 242-255 bytes must stay writable)."""
    return f".{cut_to_bytes(name, 255 - _TEMPORARY_EXTRA)}."


def _check_replaceable(path: Path) -> None:
    """Only a regular file (or nothing) may be replaced: renaming over a device or a pipe
    would replace it with a plain file (as root, ``/dev/null`` itself)."""
    try:
        mode = path.stat().st_mode
    except OSError:  # absent (or unreachable: the write itself will say why)
        return
    if stat.S_ISDIR(mode):
        raise SaveError(f"could not write {path}: it is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise SaveError(f"could not write {path}: it is not a regular file (a device, pipe or "
                        "socket), and glassnet only replaces files; give another file name")


def write_error(path: str | os.PathLike, exc: OSError) -> SaveError:
    """The one-line error for a file that could not be written (``exc``'s reason, no
    temporary file name); a :class:`SaveError` passes through unchanged."""
    if isinstance(exc, SaveError):
        return exc
    return _with_reason(SaveError(f"could not write {path}: {exc.strerror or exc}; the previous "
                                  "file (if any) is unchanged"), exc)


def cut_to_bytes(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` bytes (as the file system stores it) on a character
    boundary: file names hold 255 bytes, 85 Chinese characters, and a name made from another
    (with a suffix, and :func:`atomic_write`'s temporary prefix) must stay under that."""
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


def make_folder(folder: str | os.PathLike) -> Path:
    """``mkdir -p folder``, or a :class:`SaveError` that names the folder and the reason."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _with_reason(SaveError(f"could not create the folder {folder}: {exc.strerror or exc}"),
                           exc) from exc
    return folder


def _with_reason(error: SaveError, cause: OSError) -> SaveError:
    """``error`` with the system's reason as its ``strerror`` (``Permission denied``), so that
    code that words its own message (a data directory's) does not repeat ours."""
    error.strerror = cause.strerror or str(cause)
    return error


#: a temporary file or folder untouched for this long was left by a process that died
#: (SIGKILL, a power cut); one being written is touched with every chunk
STALE_SECONDS = 3600


def remove_stale(folder: Path, pattern: str, older_than: float = STALE_SECONDS) -> None:
    """Remove what matches ``pattern`` in ``folder`` (the temporary files or folders of
    :func:`atomic_write` and :func:`make_temp_dir`) and was last modified over
    ``older_than`` seconds ago: a crashed download must not leave 170 MB behind for ever."""
    cutoff = time.time() - older_than
    for leftover in folder.glob(pattern):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if leftover.lstat().st_mtime < cutoff:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()


def remove_stale_temporaries(folder: Path, files: Iterable[str] = (),
                             dir_prefixes: Iterable[str] = (), older_than: float = STALE_SECONDS) -> None:
    """Remove what a killed :func:`atomic_write` of ``folder/NAME`` (each of ``files``) and a
    killed :func:`make_temp_dir` (each of ``dir_prefixes``) left in ``folder``, once stale
    (``older_than`` seconds: 0 where the caller holds a lock that no other writer can).

    One listing of ``folder`` per name: cheap enough to call on every load of a data set, so
    that leftovers go even when the data is already there and nothing is written again."""
    for name in files:
        remove_stale(folder, f"{glob.escape(_temporary_prefix(name))}*.tmp", older_than)
    for prefix in dir_prefixes:
        remove_stale(folder, f"{glob.escape(prefix)}*", older_than)


def make_temp_dir(prefix: str, parent: Path) -> Path:
    """A new folder in ``parent`` with the permissions a plain ``mkdir`` gives (``mkdtemp``
    makes it private, 0700, and it is renamed into place as a shared data folder)."""
    remove_stale_temporaries(parent, dir_prefixes=[prefix])
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(path, 0o777 & ~_current_umask())
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically; a failure (a full disk) is a :class:`SaveError`
    that names ``path``, whose previous content stays."""
    with save_errors(path), atomic_write(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, strict JSON, atomically. A non-finite number (a diverged
    loss) is written as ``null``: Python would write ``NaN``, which other JSON readers refuse."""
    text = json.dumps(finite_or_null(data), indent=2, sort_keys=False, allow_nan=False)
    write_bytes(path, (text + "\n").encode("ascii"))  # ensure_ascii: escapes, never a failed write


def finite_or_null(data: Any) -> Any:
    """``data`` with every NaN or infinite float (in any nesting of dicts, lists and tuples)
    replaced by ``None``."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_or_null(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite_or_null(value) for value in data]
    return data


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8), atomically. A character UTF-8 cannot hold (a lone surrogate:
    a file name's undecodable byte) is written as an escape, never a failed write."""
    write_bytes(path, text.encode("utf-8", "backslashreplace"))


def nan_for_null(values: Any) -> Any:
    """Where :func:`write_json` stored a non-finite number as ``null``: a list of numbers
    (a history column) or a dict of them (a split's metrics) with ``None`` read back as NaN;
    anything else unchanged."""
    if isinstance(values, list):
        return [math.nan if v is None else v for v in values]
    if isinstance(values, dict):
        return {k: math.nan if v is None else v for k, v in values.items()}
    return values
