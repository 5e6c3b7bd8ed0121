"""The cat-vs-non-cat set: 209 training and 50 test images, 64x64 RGB, in two HDF5 files.

Files: ``<data dir>/catvnoncat/{train,test}_catvnoncat.h5`` with ``train_set_x`` uint8
``(209, 64, 64, 3)``, ``train_set_y`` ``(209,)``, ``list_classes`` (and ``test_*``).
Missing files are downloaded from ``$GLASSNET_CATS_URL`` (a base URL holding both
files), verified by sha256.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, DataError, DataNotFoundError
from .dataset import Dataset
from .store import check_folder_place, check_splits, data_dir, download, missing_data_message, verify

FOLDER = "catvnoncat"
URL_VAR = "GLASSNET_CATS_URL"
SHA256 = {
    "train_catvnoncat.h5": "fbe56ab67c3ae28d564e3a644189117976d6b31af0a3ce9bb17dbf22908af242",
    "test_catvnoncat.h5": "6a9d39ce52fa85953c5834695b8534a30ed8cfd54971fb2f080b5a24d002b951",
}


def _ensure_file(folder: Path, name: str) -> Path:
    """``folder/name``, checked; downloaded from ``$GLASSNET_CATS_URL`` when it is missing,
    or damaged (the download replaces it atomically)."""
    path = folder / name
    check_folder_place(folder, "cat-vs-non-cat")
    base = os.environ.get(URL_VAR)
    if path.exists():
        try:
            verify(path, SHA256[name])
            return path
        except ChecksumError as exc:  # a file there, but not the original
            if not base:
                raise ChecksumError(f"{folder}: {exc}; delete it and put the original file there, "
                                    f"or set {URL_VAR} to download it again") from None
    if not base:
        raise DataNotFoundError(f"{name} is missing from {folder}.\n" + missing_data_message(
            "cat-vs-non-cat", folder, list(SHA256),
            f"or set {URL_VAR} to a base URL that serves both files to download them.",
            downloaded=False))
    try:
        return download(base.rstrip("/") + "/" + name, path, SHA256[name])
    except DataNotFoundError as exc:
        raise DataNotFoundError(f"{exc}\n" + missing_data_message(
            "cat-vs-non-cat", folder, list(SHA256))) from None


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
    folder = (Path(root) if root is not None else data_dir()) / FOLDER
    datasets = {}
    for split in splits:
        path = _ensure_file(folder, f"{split}_catvnoncat.h5")  # a failed download says so itself
        x, y, names = _read_split(path, split)
        datasets[split] = Dataset(x, y, names, f"cats/{split}")
    return datasets
