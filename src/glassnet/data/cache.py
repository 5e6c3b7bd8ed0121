"""The decoded-image cache: a folder's uint8 array, reused while the folder is unchanged.

Each (folder, settings) pair has one entry in ``<data dir>/cache/image-folders/``:
``<name>-<key>.json`` (the folder, the settings, the signature of the folder's files, the
labels, the file list and the skip report) and the array itself,
``<name>-<key>-<signature>.npy``. The signature is a digest of every file's relative path,
size, modification time and status-change time, so adding, removing or changing any file
means a new array (the status-change time catches a file replaced by one of the same size
whose modification time was restored, as ``cp -p`` does: no program can set it back).
Both files are written atomically, the array first, so a reader sees either the old entry
or the new one; an unreadable entry is simply rebuilt. Arrays are read with
``allow_pickle=False``.

What is bounded is each folder's share: after writing an entry, the folder's entries for
its old content (same classes, another signature) are removed, and of the rest only the
:data:`MAX_ENTRIES_PER_FOLDER` most recently used are kept (a hit refreshes the ``.json``'s
modification time). The same pruning removes every entry whose folder no longer exists
(deleted, moved, renamed, a temporary folder, or on a drive that is not mounted now): a
folder that exists but is no longer used keeps its entries until the cache is deleted.
Writers hold ``image-folders.lock`` shared while they write; pruning takes it exclusively
without waiting and is skipped while anyone writes, so an entry being written is never
deleted. Readers take no lock: a file removed while it is open stays
readable (POSIX), and one removed before it is opened is a miss that rebuilds the entry.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from .._files import atomic_write, cut_to_bytes, write_json
from ..errors import ConfigError, GlassnetWarning, user_stacklevel
from .store import dangling_link_text, data_dir, refuse_if_marked_read_only

try:
    import fcntl
except ImportError:  # Windows: no flock, so nothing is ever pruned there
    fcntl = None  # type: ignore[assignment]

# 7: resize "pad" keeps at least one pixel of a very thin image (it was all black);
# 6: big JPEGs decoded at no less than 4x the image size; 5: big JPEGs decoded at reduced
# scale, tRNS transparency, .jfif/.jpe; 4: files without an
# extension are decoded; 3: entries name their folder and settings
CACHE_VERSION = 7
CACHE_FOLDER = "image-folders"
MAX_ENTRIES_PER_FOLDER = 4
HEX16 = "[0-9a-f]" * 16  # the key in an entry's name and the signature in its array's name

#: (relative posix path, size in bytes, mtime in ns, ctime in ns)
FileStat = tuple[str, int, int, int]

#: the environment variable that switches the cache off (``off``), for this process and the
#: processes it starts (search workers); the CLI's ``--no-cache`` sets it
ENV = "GLASSNET_IMAGE_CACHE"
_SWITCH = {"on": True, "1": True, "yes": True, "true": True,
           "off": False, "0": False, "no": False, "false": False}


def enabled() -> bool:
    """Whether image folders use the cache: yes unless ``$GLASSNET_IMAGE_CACHE`` is ``off``
    (or ``0``, ``no``, ``false``); any other value than these and ``on`` is an error."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return True
    if value.lower() not in _SWITCH:
        raise ConfigError(f"${ENV}={value!r}: expected on or off")
    return _SWITCH[value.lower()]


def signature(files: Iterable[FileStat], status_change: bool = False) -> str:
    """A digest of every file's relative path, size and modification time, and with
    ``status_change`` its status-change time too.

    Without it, this is the folder's fingerprint in checkpoints (a ``chmod`` or a copy of
    the folder back from a backup must not make ``--resume`` refuse the same images); with
    it, the cache's key, which must never hand out the pixels of a file that was replaced."""
    digest = hashlib.sha256()
    for rel, size, mtime_ns, ctime_ns in files:
        times = f"{mtime_ns}\t{ctime_ns}" if status_change else f"{mtime_ns}"
        # fsencode: a name that is not valid UTF-8 (a Latin-1 "café.png" from an old zip)
        # comes back as the bytes it has on disk
        digest.update(os.fsencode(f"{rel}\t{size}\t{times}\n"))
    return digest.hexdigest()


#: bytes of the folder's name kept in its entries' file names (file names may hold 255 bytes:
#: the entry adds a key, the array a signature and the atomic write a temporary suffix)
NAME_BYTES = 64


def entry_path(root: Path, settings: dict[str, Any]) -> Path:
    """The ``.json`` of ``root``'s cache entry for these settings (image size, resize, ...)."""
    root = root.resolve()
    key = json.dumps({"root": str(root), "version": CACHE_VERSION, **settings}, sort_keys=True)
    readable = cut_to_bytes(root.name or "root", NAME_BYTES)  # only for people: the key identifies it
    name = f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    # The cache is optional: an unusable data directory costs a warning when writing, not the load.
    return data_dir(require_folder=False) / "cache" / CACHE_FOLDER / name


def read(entry: Path, sig: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """``(x, y, meta)`` if the entry exists and was made from files with signature ``sig``, else ``None``."""
    try:
        meta = json.loads(entry.read_text())
        if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION or meta.get("signature") != sig:
            return None
        x = np.load(entry.parent / meta["array"], allow_pickle=False)
        y = np.asarray(meta["labels"], dtype=np.int64)
        if x.dtype != np.uint8 or len(x) != len(y) or len(y) != len(meta.get("files", ())):
            return None
    # absent or damaged (an empty .npy is EOFError; "files" not a list, TypeError): rebuild
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    with contextlib.suppress(OSError):  # a read-only cache still works, it just forgets the use
        os.utime(entry)  # the modification time records the last use, for pruning
    return x, y, meta


def write(entry: Path, x: np.ndarray, y: np.ndarray, meta: dict[str, Any]) -> None:
    """Store the entry (array first, then the ``.json`` that names it), then prune the folder's
    entries. ``meta`` holds the folder's ``root``, ``settings`` and ``signature`` and its file lists.

    A cache we cannot write (read-only data directory, full disk) costs only speed: a warning.
    """
    array = entry.with_name(f"{entry.stem}-{meta['signature'][:16]}.npy")
    try:
        refuse_if_marked_read_only(entry.parent)
        entry.parent.mkdir(parents=True, exist_ok=True)
        with _locked(entry.parent, exclusive=False):
            with atomic_write(array) as handle:
                np.save(handle, np.ascontiguousarray(x), allow_pickle=False)
            write_json(entry, {**meta, "version": CACHE_VERSION, "array": array.name,
                               "labels": [int(v) for v in y]})
    except OSError as exc:
        reason = _obstacle(entry.parent) or exc.strerror or exc
        warnings.warn(f"could not write the image cache {entry}: {reason} (--no-cache "
                      f"or ${ENV}=off skips it)", GlassnetWarning, stacklevel=user_stacklevel())
        return
    prune(entry, meta)


def _obstacle(folder: Path) -> str | None:
    """What on the way to ``folder`` stops it being made, said plainly (the system's "File
    exists" for a link that points nowhere, "Not a directory" for a file): the first part of
    its path that is a file or a link to nothing; ``None`` if there is none. (``os.path``'s
    tests answer False where a folder on the way may not be entered: they never raise.)"""
    for path in (*reversed(folder.parents), folder):
        if os.path.islink(path) and not os.path.exists(path):
            return dangling_link_text(path)
        if os.path.exists(path) and not os.path.isdir(path):
            return f"{path} is a file, not a folder"
    return None


def prune(entry: Path, meta: dict[str, Any]) -> None:
    """Remove the entries of ``meta["root"]`` for its old content and all but the most recently
    used :data:`MAX_ENTRIES_PER_FOLDER`; also entries of older cache versions found on the way,
    and those of every folder that no longer exists. Skipped (until the next write) while
    another process is writing an entry."""
    with _locked(entry.parent, exclusive=True) as locked:
        if not locked:
            return
        current = _folder_entries(entry, meta["root"])
        kept = _entries_to_keep(entry, meta, current)
        for path, other in current.items():
            if path in kept:
                _remove_arrays(path, keep=other.get("array"))  # left over from older content
            else:
                _remove(path)
        _remove_gone_folders(entry.parent)


def _remove_gone_folders(cache: Path) -> None:
    """Remove the entries (of any name and version) whose folder no longer exists: no reader
    asks for them again, and each is a full decoded copy of its images. Read at each write,
    which only follows a miss that decoded a whole folder, so the listing costs little."""
    for path, other in _entries(cache, "*"):
        root = other.get("root") if other is not None else None
        if isinstance(root, str) and _gone(root):
            _remove(path)


def _gone(root: str) -> bool:
    """Whether the folder ``root`` does not exist (a folder we may not look into is not gone)."""
    try:
        return not stat.S_ISDIR(os.stat(root).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False


def _folder_entries(entry: Path, root: str) -> dict[Path, dict[str, Any]]:
    """The current-version entries of the folder ``root``; damaged entries and those of older
    cache versions that share the folder's name are removed on the way (no reader uses them)."""
    found = {}
    for path, other in _entries(entry.parent, glob.escape(entry.stem.rsplit("-", 1)[0])):
        if other is None or _is_older_version(other):
            _remove(path)
        elif other.get("version") == CACHE_VERSION and other.get("root") == root:
            found[path] = other
    return found


def _entries_to_keep(entry: Path, meta: dict[str, Any], current: dict[Path, dict[str, Any]]) -> list[Path]:
    """Not those for old content (the same classes, another signature); of the others the most
    recently used, ``entry`` (just written) first."""
    classes = meta["settings"]["classes"]
    fresh = [path for path, other in current.items()
             if path == entry or other.get("settings", {}).get("classes") != classes
             or other.get("signature") == meta["signature"]]
    newest_first = sorted(fresh, key=lambda path: (path == entry, _last_used(path)), reverse=True)
    return newest_first[:MAX_ENTRIES_PER_FOLDER]


def _entries(cache: Path, prefix: str) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """Every entry in ``cache`` whose name starts with the glob ``prefix`` (a folder's name,
    escaped; ``*``: all), with its metadata (``None`` if damaged). Folders elsewhere with the
    same name are among them: the caller checks ``root``."""
    for path in cache.glob(f"{prefix}-{HEX16}.json"):
        try:
            other = json.loads(path.read_text())
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        except (OSError, ValueError):
            other = None
        yield path, other if isinstance(other, dict) else None


def _is_older_version(meta: dict[str, Any]) -> bool:
    """An entry no current reader uses (a newer glassnet's entries are left alone)."""
    version = meta.get("version")
    return not isinstance(version, int) or version < CACHE_VERSION


def _last_used(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _remove(entry: Path) -> None:
    """The ``.json`` first, so no new reader finds it, then its arrays."""
    with contextlib.suppress(OSError):
        entry.unlink()
    _remove_arrays(entry)


def _remove_arrays(entry: Path, keep: str | None = None) -> None:
    for array in entry.parent.glob(f"{glob.escape(entry.stem)}-{HEX16}.npy"):
        if array.name != keep:
            with contextlib.suppress(OSError):
                array.unlink()


@contextlib.contextmanager
def _locked(folder: Path, exclusive: bool) -> Iterator[bool]:
    """Hold ``<folder>.lock``: shared (waiting for it), or exclusive (only if free at once).
    Yields whether the lock is held; without one (no ``fcntl``, unwritable) writing goes on
    unprotected, but pruning does not."""
    handle = _open_lock(folder)
    if handle is None:
        yield False
        return
    with handle:  # closing the file releases the lock
        yield _flock(handle, exclusive)


def _open_lock(folder: Path) -> IO[str] | None:
    if fcntl is None:
        return None
    try:
        return open(folder.with_name(f"{folder.name}.lock"), "a")  # _locked closes it
    except OSError:
        return None


def _flock(handle: IO[str], exclusive: bool) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
    except OSError:  # BlockingIOError: another process is writing an entry
        return False
    return True
