"""Stratified, seeded splits of labelled samples: a pure helper of the core (``fit``'s
validation split) that the data sets use too (their test split, the search's folds)."""

from __future__ import annotations

import numpy as np

from ._checks import check_number
from .backend import to_numpy
from .errors import ConfigError


def class_label(cls: np.integer, class_names: list[str] | None) -> str:
    """How errors name class ``cls``: ``'cat'`` with ``class_names``, else its index."""
    return repr(class_names[cls]) if class_names is not None else repr(cls.item())


def stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator,
                     what: str = "validation_split",
                     class_names: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` with about ``fraction`` of every class held out.

    Each class contributes ``round(fraction * count)`` samples (at least one), so a class
    can never end up entirely on one side by accident of the array's order; a class too
    small to appear on both sides is an error that names it (by ``class_names`` when given).
    """
    fraction = check_number(fraction, what, 0, 1)
    y = to_numpy(y).reshape(-1)
    keep, held = [], []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        n_held = max(1, int(round(fraction * len(idx))))
        if n_held >= len(idx):
            # Every class gives at least one sample: a smaller fraction cannot help a class of one.
            advice = ("every class needs at least 2 samples to be split (one to train on, one "
                      "to hold out): add samples to it" if len(idx) == 1
                      else "use a smaller fraction or more data")
            raise ConfigError(
                f"{what}={fraction} leaves class {class_label(cls, class_names)} ({len(idx)} "
                f"sample(s)) with no training sample; {advice}"
            )
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def stratified_folds(y: np.ndarray, folds: int, rng: np.random.Generator, what: str = "folds",
                     class_names: list[str] | None = None) -> list[np.ndarray]:
    """``folds`` disjoint, sorted index arrays that together cover ``y: (N,)`` (class
    indices): stratified k-fold.

    Every class is shuffled by ``rng`` and dealt out to the folds in turn, each class
    starting where the previous one stopped, so that fold sizes differ by at most one and so
    do a class's counts in any two folds. A class with fewer than ``folds`` samples would be
    missing from a fold: an error that names it (by ``class_names`` when given).
    """
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ConfigError(f"{what} must be an integer of at least 2 (each fold is validated by a "
                          f"model trained on the others), got {folds!r}")
    y = to_numpy(y).reshape(-1)
    classes, counts = np.unique(y, return_counts=True)
    if len(counts) and counts.min() < folds:  # name the rarest class: it sets the limit
        rarest = int(counts.min())
        advice = (f"use at most {rarest} folds" if rarest >= 2
                  else "add samples to it (2 folds are the fewest)")
        raise ConfigError(f"{what} {folds} needs at least {folds} samples of every class, but class "
                          f"{class_label(classes[counts.argmin()], class_names)} has {rarest}; {advice}")
    fold_of = np.empty(len(y), dtype=np.int64)
    dealt = 0
    for cls in classes:
        idx = np.flatnonzero(y == cls)
        fold_of[idx[rng.permutation(len(idx))]] = (dealt + np.arange(len(idx))) % folds
        dealt += len(idx)
    return [np.flatnonzero(fold_of == k) for k in range(folds)]
