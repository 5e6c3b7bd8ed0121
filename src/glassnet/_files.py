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
    written through: its target gets the new content, as with a plain ``open()``.
    """
    path = Path(os.path.realpath(path))
    _check_replaceable(path)
    make_folder(path.parent)
    try:
        remove_stale_temporaries(path.parent, files=[path.name])
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # no permission, a read-only disk: before anything was written
        raise write_error(path, exc) from exc
    # mkstemp creates the file private (0600); give it the mode the file had, or the one a
    # plain open() would give a new file.
    try:
        file_mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        file_mode = 0o666 & ~_current_umask()
    os.chmod(tmp_name, file_mode)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            try:
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                raise write_error(path, exc) from exc
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


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


def remove_stale(folder: Path, pattern: str) -> None:
    """Remove what matches ``pattern`` in ``folder`` (the temporary files or folders of
    :func:`atomic_write` and :func:`make_temp_dir`) and was last modified over
    :data:`STALE_SECONDS` ago: a crashed download must not leave 170 MB behind for ever."""
    cutoff = time.time() - STALE_SECONDS
    for leftover in folder.glob(pattern):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if leftover.lstat().st_mtime < cutoff:
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()


def remove_stale_temporaries(folder: Path, files: Iterable[str] = (),
                             dir_prefixes: Iterable[str] = ()) -> None:
    """Remove what a killed :func:`atomic_write` of ``folder/NAME`` (each of ``files``) and a
    killed :func:`make_temp_dir` (each of ``dir_prefixes``) left in ``folder``, once stale.

    One listing of ``folder`` per name: cheap enough to call on every load of a data set, so
    that leftovers go even when the data is already there and nothing is written again."""
    for name in files:
        remove_stale(folder, f".{glob.escape(name)}.*.tmp")
    for prefix in dir_prefixes:
        remove_stale(folder, f"{glob.escape(prefix)}*")


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


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, strict JSON, atomically. A non-finite number (a diverged
    loss) is written as ``null``: Python would write ``NaN``, which other JSON readers refuse."""
    with atomic_write(path, "w") as handle:
        json.dump(finite_or_null(data), handle, indent=2, sort_keys=False, allow_nan=False)
        handle.write("\n")


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
    with atomic_write(path, "wb") as handle:
        handle.write(text.encode("utf-8", "backslashreplace"))


def nan_for_null(values: Any) -> Any:
    """Where :func:`write_json` stored a non-finite number as ``null``: a list of numbers
    (a history column) or a dict of them (a split's metrics) with ``None`` read back as NaN;
    anything else unchanged."""
    if isinstance(values, list):
        return [math.nan if v is None else v for v in values]
    if isinstance(values, dict):
        return {k: math.nan if v is None else v for k, v in values.items()}
    return values
