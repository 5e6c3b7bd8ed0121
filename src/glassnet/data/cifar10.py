"""CIFAR-10 in the official "python version" layout, read without trusting the pickles.

Folder ``<data dir>/cifar-10-batches-py/``: ``data_batch_1`` … ``data_batch_5``,
``test_batch`` and ``batches.meta``. Each batch is a pickle of a dict with ``b"data"``
(uint8 ``(n, 3072)``: 1024 red, 1024 green, 1024 blue values of a 32x32 image, row-major)
and ``b"labels"`` (n ints in 0..9); any ``n`` works (the shared subset has 1,000 per
batch). ``batches.meta`` gives the class names.

Pickles can run arbitrary code when loaded, so the files are read with a restricted
unpickler that can only build what the format needs (dicts, lists, ints, bytes, uint8/int
NumPy arrays) and refuses anything else before it is constructed.

If the folder is absent, the official tarball is downloaded into the data directory,
checked against its md5, and extracted into a temporary folder that is renamed into
place only when complete; what a killed download or extraction left is removed on a later
load once it is an hour old, even when the folder is there by then. The extraction also
writes the sha256 of every file into ``.glassnet-sha256.json`` in the folder, and each
later load checks the files it reads against it, so a file damaged after the download is
reported, not trained on. A folder
placed by hand (a subset, like the shared 5,000 + 1,000 images) has no such list: its
structure is checked (shapes, types, labels, safe pickles), its pixels are trusted.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import pickle
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

from .._files import make_temp_dir, remove_stale_temporaries
from ..errors import ChecksumError, DataError, DataNotFoundError
from .dataset import Dataset
from .store import (
    check_folder_place,
    check_splits,
    data_root,
    download,
    file_digest,
    missing_data_message,
    not_writable,
    refuse_if_marked_read_only,
    url_setting,
    verify,
)

FOLDER = "cifar-10-batches-py"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TARBALL = Path(URL).name
MD5 = "c58f30108f718f92721af3b95e74349a"
URL_VAR = "GLASSNET_CIFAR10_URL"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
FILES = [*TRAIN_BATCHES, "test_batch", "batches.meta"]
IMAGE_SHAPE = (3, 32, 32)
MANIFEST = ".glassnet-sha256.json"


# -- the restricted unpickler -------------------------------------------------------------
def _safe_dtype(spec: Any, *args: Any) -> np.dtype:
    """``numpy.dtype`` for plain numbers only: object arrays could hold anything."""
    dtype = np.dtype(spec)
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"refusing to build a NumPy array of dtype {dtype}")
    return np.dtype(spec, *args)


def _safe_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``, which protocol-2 pickles use to store bytes; text codecs only."""
    if not isinstance(text, str) or codecs.lookup(encoding).name not in ("iso8859-1", "utf-8"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, encoding)


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``, which protocol 0-2 pickles call for ``b""`` (other bytes go through
    ``_codecs.encode``); only with no arguments (``bytes(10**12)`` would fill the memory)."""
    if args:
        raise pickle.UnpicklingError("refusing bytes() with arguments")
    return b""


def _safe_frombuffer(buffer: Any, dtype: Any, shape: Any, order: str = "C") -> np.ndarray:
    """NumPy's ``_frombuffer``, which protocol-5 pickles use for arrays; numbers only."""
    if not isinstance(buffer, (bytes, bytearray, pickle.PickleBuffer)):
        raise pickle.UnpicklingError(f"refusing _frombuffer of a {type(buffer).__name__}")
    return np.frombuffer(buffer, dtype=_safe_dtype(dtype)).reshape(shape, order=order).copy()


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's own _reconstruct
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in :data:`ALLOWED`; everything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch only holds arrays, "
                "lists, numbers and bytes") from None


def load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (Python 2 strings stay bytes)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: unsafe or damaged pickle: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError) as exc:  # e.g. an array of petabytes, endless nesting
        raise DataError(f"{path}: damaged pickle ({type(exc).__name__}: {exc})") from None


# -- reading the batches ------------------------------------------------------------------
def _get(batch: Any, key: str, path: Path) -> Any:
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict, found {type(batch).__name__}")
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{path}: missing key {key!r}")


def _array(batch: Any, key: str, path: Path) -> np.ndarray:
    """``batch[key]`` as an array; ragged or absurdly nested lists are a :class:`DataError`."""
    try:
        return np.asarray(_get(batch, key, path))
    except (ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise DataError(f"{path}: {key!r} is not an array ({type(exc).__name__}: {exc})") from None


def _require_file(path: Path, what: str) -> None:
    """A clear error when one file of the batch folder is gone (the folder itself is there,
    so it is not downloaded again by itself)."""
    if not path.is_file():
        raise DataNotFoundError(f"CIFAR-10 {what} {path.name} is missing from {path.parent}; "
                                "restore it, or delete the folder to download the data again")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` uint8 and labels ``(n,)`` int64 from one batch file."""
    _require_file(path, "batch")
    batch = load_pickle(path)
    data, labels = _array(batch, "data", path), _array(batch, "labels", path)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != int(np.prod(IMAGE_SHAPE)):
        raise DataError(f"{path}: data is {data.dtype} {data.shape}, expected uint8 (n, 3072)")
    if labels.shape != (len(data),):
        raise DataError(f"{path}: {labels.shape} labels for {len(data)} images")
    if labels.dtype.kind not in "iu" and labels.size:  # (NumPy reads an empty list as float64)
        raise DataError(f"{path}: labels are {labels.dtype}, expected integers 0..9")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{path}: labels outside 0..9")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.int64)


def read_class_names(path: Path) -> list[str]:
    """The ten class names from ``batches.meta``."""
    _require_file(path, "file")
    names = _get(load_pickle(path), "label_names", path)
    if not isinstance(names, list) or len(names) != 10:
        raise DataError(f"{path}: label_names should be a list of 10 names")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    if len(set(names)) != len(names):  # (Dataset would refuse them without naming the file)
        raise DataError(f"{path}: label_names should be 10 distinct names, got {names}")
    return names


# -- download and extraction --------------------------------------------------------------
def _extract_members(archive: tarfile.TarFile, dest: Path) -> None:
    """Extract only the data files of the tarball's folder, refusing links and odd paths."""
    for member in archive.getmembers():
        parts = Path(member.name).parts
        if len(parts) != 2 or parts[0] != FOLDER or parts[1] not in FILES:
            continue
        if not member.isfile():
            raise DataError(f"CIFAR-10 tarball: {member.name} is not a regular file")
        source = archive.extractfile(member)
        with source, open(dest / parts[1], "wb") as out:
            shutil.copyfileobj(source, out, length=1 << 20)


def download_and_extract(root: Path, url: str = URL, md5: str = MD5) -> Path:
    """Fetch the tarball into ``root`` (md5-verified), extract it atomically; the folder path.

    The tarball keeps the official name whatever ``url`` calls it (a mirror, a local copy):
    one placed in ``root`` by hand, as the error for a missing download says, is used."""
    refuse_if_marked_read_only(root)
    root.mkdir(parents=True, exist_ok=True)
    tarball = root / TARBALL
    placed = tarball.is_file()
    if not (placed and file_digest(tarball, "md5") == md5):
        try:
            download(url, tarball, md5, algorithm="md5")
        except DataNotFoundError as exc:
            if not placed:
                raise
            raise DataNotFoundError(f"{exc}; the {tarball.name} already in {root} is not the "
                                    "official tarball (its md5 differs: damaged or cut short): "
                                    "replace it") from None
    tmp = make_temp_dir(f".{FOLDER}.", root)
    try:
        try:
            with tarfile.open(tarball, "r:gz") as archive:
                _extract_members(archive, tmp)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{tarball}: not a readable CIFAR-10 tarball: {exc}") from None
        missing = [name for name in FILES if not (tmp / name).is_file()]
        if missing:
            raise DataError(f"{tarball}: the tarball lacks {', '.join(missing)}")
        digests = {name: file_digest(tmp / name) for name in FILES}
        (tmp / MANIFEST).write_text(json.dumps(digests, indent=1), encoding="utf-8")
        try:
            os.replace(tmp, root / FOLDER)
        except OSError:
            if not (root / FOLDER).is_dir():
                raise
            # Another process (a second `glassnet train` started at the same time) extracted
            # the same tarball first: use its folder.
    finally:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
    return root / FOLDER


def ensure_folder(root: Path) -> Path:
    """The batch folder, downloaded first if it is not there at all."""
    folder = root / FOLDER
    check_folder_place(folder, "CIFAR-10")
    # a killed download's or extraction's leftovers (170 MB), also once the folder is there
    remove_stale_temporaries(root, files=[TARBALL], dir_prefixes=[f".{FOLDER}."])
    if folder.is_dir():
        return folder
    url = url_setting(URL_VAR, URL)
    try:
        return download_and_extract(root, url)
    except (DataNotFoundError, ChecksumError) as exc:  # unreachable, or another file there
        raise type(exc)(f"{exc}\n" + missing_data_message(
            "CIFAR-10", folder, FILES, f"or put the official {TARBALL} in {root} (it is "
            f"checked and extracted), or set {URL_VAR} to another address of it.")) from None
    except DataError:
        raise
    except OSError as exc:  # creating or filling the folder: a read-only or full data directory
        raise not_writable(f"the CIFAR-10 folder in {root}", exc) from None


def check_files(folder: Path, names: list[str]) -> bool:
    """Check ``names`` against the folder's sha256 list; False when there is none (a folder
    placed by hand). A mismatch raises :class:`ChecksumError` naming the file."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return False
    try:
        digests = json.loads(manifest.read_text(encoding="utf-8"))
        expected = {name: digests[name] for name in names}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{manifest} is damaged ({exc}); delete {folder} to download the "
                        "data again") from None
    for name in names:
        if (folder / name).is_file():  # a missing file is reported when it is read
            try:
                verify(folder / name, expected[name])
            except ChecksumError as exc:
                raise ChecksumError(f"{folder}: {exc}; delete the folder to download the data "
                                    "again") from None
    return True


def load_cifar10(root: str | Path | None = None,
                 splits: tuple[str, ...] = ("train", "test")) -> dict[str, Dataset]:
    """``{"train": Dataset, "test": Dataset}`` with images ``(N, 3, 32, 32)`` uint8.

    ``splits`` names the splits to read; the other split's batch files are not opened.
    """
    check_splits(splits, "CIFAR-10")
    folder = ensure_folder(data_root(root))
    reading = ["batches.meta"] + TRAIN_BATCHES * ("train" in splits) + ["test_batch"] * ("test" in splits)
    checked = check_files(folder, reading)
    names = read_class_names(folder / "batches.meta")
    info = {"source": str(folder),
            "checked": "sha256 of the downloaded files" if checked
            else "structure only (a folder placed by hand is trusted)"}
    data = {}
    if "train" in splits:
        parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
        data["train"] = Dataset(np.concatenate([x for x, _ in parts]),
                                np.concatenate([y for _, y in parts]), names, "cifar10/train",
                                dict(info))
    if "test" in splits:
        x_test, y_test = read_batch(folder / "test_batch")
        data["test"] = Dataset(x_test, y_test, names, "cifar10/test", dict(info))
    return data
