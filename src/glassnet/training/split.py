"""Stratified, seeded splits of labelled samples (used by ``fit`` and by data sets)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError


def stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator,
                     what: str = "validation_split") -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held_out)`` with about ``fraction`` of every class held out.

    Each class contributes ``round(fraction * count)`` samples (at least one), so a class
    can never end up entirely on one side by accident of the array's order; a class too
    small to appear on both sides is an error that names it.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"{what} must be a number in (0, 1), got {fraction!r}")
    y = np.asarray(y).reshape(-1)
    keep, held = [], []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        n_held = max(1, int(round(fraction * len(idx))))
        if n_held >= len(idx):
            raise ConfigError(
                f"{what}={fraction} leaves class {cls.item()!r} ({len(idx)} sample(s)) with no "
                "training sample; use a smaller fraction or more data"
            )
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))
