"""Data sets: where images come from. Nothing here knows about layers or models."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._checks import check_non_negative_int
from ..errors import ConfigError
from .cats import load_cats
from .cifar10 import load_cifar10
from .dataset import Dataset
from .folder import image_folder
from .store import data_dir

LOADERS = {"cats": load_cats, "cifar10": load_cifar10}
DEFAULT_IMAGE_SIZE = 128
TEST_SPLIT_STREAM = 7  # the test split draws from its own stream of the seed


def is_folder(name: str) -> bool:
    """Whether ``name`` is an image folder (an existing or path-like name) rather than a named set."""
    if name in LOADERS:
        return False
    return Path(name).expanduser().exists() or os.sep in name or "/" in name or name.startswith(("~", "."))


def locator(name: str) -> str:
    """What to store in a run's files to find the data set again from any directory: an
    image folder's absolute path, or a named set's name."""
    return str(Path(name).expanduser().resolve()) if is_folder(name) else name


def load(name: str, root: Path | None = None, splits: Sequence[str] | None = None, *,
         image_size: int | tuple[int, int] | None = None, resize: str = "squash",
         color_mode: str = "rgb", strict: bool = False, test_split: float | None = None,
         seed: int = 0, min_classes: int = 2) -> dict[str, Dataset]:
    """Load a named data set or an image folder as ``{"train": Dataset, "test": Dataset, ...}``.

    ``splits`` (e.g. ``("train",)``) returns only those splits: the hyperparameter search
    uses it so that the test images are never used while tuning (a named set does not even
    open its test files). An image folder gives ``{"train": ...}``, resized to
    ``image_size`` (default 128) with ``resize``, in ``color_mode`` (``"rgb"`` or
    ``"grayscale"``); ``test_split`` then carves a stratified,
    seeded test set out of it before anything else. Named sets have fixed image sizes and
    their own test split. ``min_classes``: see :func:`image_folder`.
    """
    if not str(name).strip():  # "" would be the current folder, which no one means that way
        raise ConfigError(f"the data set name is empty; choose one of {sorted(LOADERS)} or give "
                          "the path of an image folder")
    if is_folder(name):
        size = DEFAULT_IMAGE_SIZE if image_size is None else image_size  # 0 is refused, not 128
        data = {"train": image_folder(name, size, resize=resize,
                                      color_mode=color_mode, strict=strict, min_classes=min_classes)}
    elif name in LOADERS:
        given = [flag for flag, value in (("--image-size", image_size), ("--test-split", test_split))
                 if value is not None]
        if given:
            raise ConfigError(f"{' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to image "
                              f"folders; the {name!r} set has fixed-size images and its own test split")
        return LOADERS[name](root) if splits is None else LOADERS[name](root, splits=tuple(splits))
    else:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)} "
                          "or give the path of an image folder")
    if test_split is not None:
        data = carve_test_split(data, test_split, seed)
    return data if splits is None else {k: v for k, v in data.items() if k in splits}


def carve_test_split(splits: dict[str, Dataset], fraction: float, seed: int) -> dict[str, Dataset]:
    """``{"train", "test"}`` with ``fraction`` of every class held out as the test set."""
    seed = check_non_negative_int(seed, "seed")  # a test split is always drawn the same way
    full = splits["train"]
    train, test = full.split(fraction, seed=np.random.default_rng((seed, TEST_SPLIT_STREAM)),
                             what="test_split")
    train.name, test.name = f"{full.name}/train", f"{full.name}/test"
    return {**splits, "train": train, "test": test}


__all__ = ["Dataset", "data_dir", "image_folder", "is_folder", "load", "locator", "load_cats", "load_cifar10"]
