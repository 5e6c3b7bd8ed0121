"""The decoded-image cache: a folder's uint8 array, reused while the folder is unchanged.

Each (folder, settings) pair has one entry in ``<data dir>/cache/image-folders/``:
``<name>-<key>.json`` (the signature of the folder's files, the labels, the file list and
the skip report) and the array itself, ``<name>-<key>-<signature>.npy``. The signature is
a digest of every file's relative path, size and modification time, so adding, removing
or changing any file means a new array. Both files are written atomically, the array
first, so a reader sees either the old entry or the new one; an unreadable entry is
simply rebuilt. Arrays are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write, write_json
from ..errors import GlassnetWarning
from .store import data_dir

CACHE_VERSION = 2
CACHE_FOLDER = "image-folders"

FileStat = tuple[str, int, int]  # (relative posix path, size in bytes, mtime in ns)


def signature(files: Iterable[FileStat]) -> str:
    """A digest of every file's relative path, size and modification time."""
    digest = hashlib.sha256()
    for rel, size, mtime_ns in files:
        digest.update(f"{rel}\t{size}\t{mtime_ns}\n".encode())
    return digest.hexdigest()


def entry_path(root: Path, settings: dict[str, Any]) -> Path:
    """The ``.json`` of ``root``'s cache entry for these settings (image size, resize, ...)."""
    root = root.resolve()
    key = json.dumps({"root": str(root), "version": CACHE_VERSION, **settings}, sort_keys=True)
    name = f"{root.name or 'root'}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    return data_dir() / "cache" / CACHE_FOLDER / name


def read(entry: Path, sig: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """``(x, y, meta)`` if the entry exists and was made from files with signature ``sig``, else ``None``."""
    try:
        meta = json.loads(entry.read_text())
        if meta.get("version") != CACHE_VERSION or meta.get("signature") != sig:
            return None
        x = np.load(entry.parent / meta["array"], allow_pickle=False)
        y = np.asarray(meta["labels"], dtype=np.int64)
    except (OSError, ValueError, KeyError, TypeError):  # absent or damaged: rebuild
        return None
    if x.dtype != np.uint8 or len(x) != len(y) or len(y) != len(meta.get("files", ())):
        return None
    return x, y, meta


def write(entry: Path, x: np.ndarray, y: np.ndarray, meta: dict[str, Any]) -> None:
    """Store the entry (array first, then the ``.json`` that names it) and drop older arrays.

    A cache we cannot write (read-only data directory, full disk) costs only speed: a warning.
    """
    array = entry.with_name(f"{entry.stem}-{meta['signature'][:16]}.npy")
    try:
        with atomic_write(array) as handle:
            np.save(handle, np.ascontiguousarray(x), allow_pickle=False)
        write_json(entry, {**meta, "version": CACHE_VERSION, "array": array.name,
                           "labels": [int(v) for v in y]})
    except OSError as exc:
        warnings.warn(f"could not write the image cache {entry}: {exc}", GlassnetWarning, stacklevel=3)
        return
    for stale in entry.parent.glob(f"{entry.stem}-*.npy"):
        if stale != array:
            with contextlib.suppress(OSError):
                stale.unlink()
