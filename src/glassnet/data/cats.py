"""The cat-vs-non-cat set: 209 training and 50 test images, 64x64 RGB, in two HDF5 files.

Files: ``<data dir>/catvnoncat/{train,test}_catvnoncat.h5`` with ``train_set_x`` uint8
``(209, 64, 64, 3)``, ``train_set_y`` ``(209,)``, ``list_classes`` (and ``test_*``): the
files of the deeplearning.ai course "Neural Networks and Deep Learning" (week 4 assignment).
A missing or damaged file is downloaded from ``$GLASSNET_CATS_URL`` (a base URL holding
both files), by default :data:`DEFAULT_URL`, a third-party mirror on GitHub, and verified
by sha256: a mirror can only fail to deliver, never hand over other files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._files import remove_stale_temporaries
from ..errors import ChecksumError, DataError, DataNotFoundError
from .dataset import Dataset
from .store import (
    check_folder_place,
    check_splits,
    data_root,
    download,
    missing_data_message,
    url_setting,
    verify,
)

FOLDER = "catvnoncat"
URL_VAR = "GLASSNET_CATS_URL"
#: the course's files as a widely used copy of its assignments holds them (not the course's own
#: address: it has none that is public); the sha256 values below are what protect the user
DEFAULT_URL = ("https://raw.githubusercontent.com/Kulbear/deep-learning-coursera/master/"
               "Neural%20Networks%20and%20Deep%20Learning/datasets/")
ORIGIN = ('the deeplearning.ai course "Neural Networks and Deep Learning" (Coursera), '
          "week 4 assignment")
SHA256 = {
    "train_catvnoncat.h5": "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
    "test_catvnoncat.h5": "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
}


def _ensure_file(folder: Path, name: str) -> Path:
    """``folder/name``, checked; downloaded when it is missing, or damaged (the download
    replaces it atomically)."""
    path = folder / name
    damage = None
    if path.exists():
        try:
            verify(path, SHA256[name])
            return path
        except ChecksumError as exc:  # a file there, but not the original: download it again
            damage = exc
    url = url_setting(URL_VAR, DEFAULT_URL).rstrip("/") + "/" + name
    try:
        return download(url, path, SHA256[name])
    except (DataNotFoundError, ChecksumError) as exc:
        raise _download_failed(folder, name, damage, exc) from None
    except DataError as exc:  # e.g. the folder cannot be written: a damaged file still says so
        if damage is None:
            raise
        raise _download_failed(folder, name, damage, exc) from None


def _download_failed(folder: Path, name: str, damage: ChecksumError | None, exc: DataError) -> DataError:
    """The error for a failed download (``exc``: unreachable, or other files at the address)
    of the file that is damaged (``damage``) or missing, with where the files come from."""
    origin = (f"The files come from {ORIGIN}; set {URL_VAR} to a base URL that serves both "
              f"(default: {DEFAULT_URL}).")
    if damage is not None:  # the file is there: calling it missing would send the user looking
        return ChecksumError(f"{folder}: {damage}; downloading it again failed: {exc}\n"
                             f"Put the original file there. {origin}")
    kind = ChecksumError if isinstance(exc, ChecksumError) else DataNotFoundError
    return kind(f"{name} is missing from {folder}; {exc}\n" + missing_data_message(
        "cat-vs-non-cat", folder, list(SHA256), origin, downloaded=False))


def _read_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            x = np.asarray(f[f"{split}_set_x"], dtype=np.uint8)
            y = np.asarray(f[f"{split}_set_y"]).astype(np.int64).reshape(-1)
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["list_classes"][:]]
    except KeyError as exc:
        raise DataError(f"{path}: missing dataset {exc}; expected {split}_set_x, "
                        f"{split}_set_y and list_classes") from None
    except OSError as exc:
        raise DataError(f"{path} is not a readable HDF5 file: {exc}") from None
    if x.ndim != 4 or x.shape[3] != 3:
        raise DataError(f"{path}: {split}_set_x has shape {x.shape}, expected (N, H, W, 3)")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y, names


def load_cats(root: str | Path | None = None,
              splits: tuple[str, ...] = ("train", "test")) -> dict[str, Dataset]:
    """``{"train": Dataset, "test": Dataset}`` with images ``(N, 3, 64, 64)`` uint8.

    ``splits`` names the splits to read; the others' files are not opened.
    """
    check_splits(splits, "the cat set")
    folder = data_root(root) / FOLDER
    check_folder_place(folder, "cat-vs-non-cat")
    remove_stale_temporaries(folder, files=list(SHA256))  # a killed download's, once stale
    datasets = {}
    for split in splits:
        path = _ensure_file(folder, f"{split}_catvnoncat.h5")  # a failed download says so itself
        x, y, names = _read_split(path, split)
        datasets[split] = Dataset(x, y, names, f"cats/{split}")
    return datasets
