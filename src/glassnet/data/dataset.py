"""``Dataset``: images as uint8 ``(N, C, H, W)``, integer labels and class names.

Loaders keep images as uint8 and the model converts each batch to float, so a data set
costs a quarter of its float32 size in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ShapeError
from ..inputs import class_name_list
from ..split import stratified_folds, stratified_split


@dataclass
class Dataset:
    """One split of a data set.

    Attributes:
        x: images ``(N, C, H, W)`` uint8 (or any array with N first).
        y: labels ``(N,)`` int64 in ``[0, len(class_names))``.
        class_names: one name per class, index = label.
        name: where it came from, e.g. ``"cats/train"``.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    name: str = "dataset"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.class_names is None:
            raise ConfigError(f"{self.name}: class_names is required, one name per class")
        self.class_names = class_name_list(self.class_names)  # "ab" is not two classes
        y = np.asarray(self.y)
        whole = y.dtype.kind in "biu" or (y.dtype.kind == "f" and bool(np.all(y == np.round(y))))
        if y.size and not whole:  # astype would quietly make 0.7 a 0 and 1.9 a 1
            raise ShapeError(f"{self.name}: labels must be whole class indices, got {y.dtype} "
                             f"values such as {y.reshape(-1)[:3].tolist()}")
        self.y = y.astype(np.int64).reshape(-1)
        if len(self.x) != len(self.y):
            raise ShapeError(f"{self.name}: {len(self.x)} images but {len(self.y)} labels")
        if self.y.size and (self.y.min() < 0 or self.y.max() >= len(self.class_names)):
            raise ShapeError(f"{self.name}: labels outside [0, {len(self.class_names) - 1}]")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def subset(self, indices: np.ndarray, name: str | None = None) -> Dataset:
        """The samples at ``indices: (M,)`` (integers), in their order; a per-sample
        ``info["files"]`` (an image folder's file names) is taken at the same indices, so
        that ``info["files"][i]`` stays image ``i``'s."""
        info = dict(self.info)
        files = info.get("files")
        if isinstance(files, list) and len(files) == len(self):
            info["files"] = [files[i] for i in np.arange(len(self))[indices]]
        return Dataset(self.x[indices], self.y[indices], self.class_names, name or self.name, info)

    def split(self, fraction: float, seed: int | np.random.Generator = 0,
              what: str = "validation_split") -> tuple[Dataset, Dataset]:
        """``(rest, held_out)``: about ``fraction`` of each class held out, seeded."""
        rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
        keep, held = stratified_split(self.y, fraction, rng, what, self.class_names)
        return self.subset(keep, f"{self.name}"), self.subset(held, f"{self.name}/held-out")

    def folds(self, k: int, seed: int | np.random.Generator = 0,
              what: str = "folds") -> list[tuple[Dataset, Dataset]]:
        """``k`` pairs ``(rest, fold)`` for stratified k-fold cross-validation, seeded: the folds
        are disjoint, cover the data set and hold about ``1/k`` of every class each."""
        rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
        held = stratified_folds(self.y, k, rng, what, self.class_names)
        return [(self.subset(np.setdiff1d(np.arange(len(self)), fold), self.name),
                 self.subset(fold, f"{self.name}/fold-{i + 1}-of-{k}")) for i, fold in enumerate(held)]

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.y, minlength=self.num_classes)
        return {name: int(c) for name, c in zip(self.class_names, counts, strict=True)}
