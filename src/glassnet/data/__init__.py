"""Data sets: where images come from. Nothing here knows about layers or models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from .cats import load_cats
from .cifar10 import load_cifar10
from .dataset import Dataset
from .store import data_dir

LOADERS = {"cats": load_cats, "cifar10": load_cifar10}


def load(name: str, root: Path | None = None,
         splits: Sequence[str] | None = None) -> dict[str, Dataset]:
    """Load a named data set as ``{"train": Dataset, "test": Dataset, ...}``.

    ``splits`` (e.g. ``("train",)``) reads only those splits: the hyperparameter search
    uses it so that the test files are never opened while tuning.
    """
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {sorted(LOADERS)} "
                          "or give the path of an image folder")
    if splits is None:
        return LOADERS[name](root)
    return LOADERS[name](root, splits=tuple(splits))


__all__ = ["Dataset", "data_dir", "load", "load_cats", "load_cifar10"]
