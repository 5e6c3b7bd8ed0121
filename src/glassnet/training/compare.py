"""Optimizer comparison: the same network, initial weights and mini-batches, one optimizer each.

This is the "deep learning from scratch" experiment (SGD, Momentum, AdaGrad, Adam on one
network): it records the training loss at every iteration, which is what the comparison
plot draws. Iterations draw a random mini-batch each, as in that tutorial, from one seeded
stream that every optimizer replays identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import optimizers as optimizers_mod
from .._checks import check_positive_int
from ..errors import ConfigError
from .fit_checks import check_finite
from .history import History

#: the tutorial's four optimizers and learning rates
TUTORIAL_OPTIMIZERS: dict[str, dict[str, Any]] = {
    "SGD": {"name": "sgd", "lr": 0.01},
    "Momentum": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "AdaGrad": {"name": "adagrad", "lr": 0.01},
    "Adam": {"name": "adam", "lr": 0.001},
}


def _make_optimizer(spec: Any) -> optimizers_mod.Optimizer:
    """An optimizer from a spec: a dict ``{"name": ..., **kwargs}``, a name, or a factory."""
    if isinstance(spec, Mapping):
        spec = dict(spec)
        return optimizers_mod.get(spec.pop("name"), **spec)
    if callable(spec) and not isinstance(spec, optimizers_mod.Optimizer):
        return spec()
    if isinstance(spec, optimizers_mod.Optimizer):
        raise ConfigError("give each optimizer as a name, a dict or a factory: an optimizer "
                          "instance keeps state and cannot be shared between runs")
    return optimizers_mod.get(spec)


def compare_optimizers(build: Callable[[], Any], x: Any, y: Any,
                       optimizers: Mapping[str, Any] | None = None, iterations: int = 300,
                       batch_size: int = 64, loss: str = "categorical_crossentropy", reg: float = 0.0,
                       seed: int = 0) -> dict[str, History]:
    """Train ``build()`` once per optimizer and record the loss at every iteration.

    Args:
        build: returns a new, uncompiled model; it must give the same initial weights each
            time (a fixed ``seed`` in the model), so only the optimizer differs.
        x: training inputs ``(N, *input_shape)``.
        y: their labels ``(N,)``.
        optimizers: ``{label: spec}`` with spec a dict ``{"name": "adam", "lr": 1e-3}``, an
            optimizer name or a zero-argument factory; default: :data:`TUTORIAL_OPTIMIZERS`.
        iterations: updates per optimizer, each on a random mini-batch of ``batch_size``.
        loss: the loss name (``"binary_crossentropy"`` for one sigmoid output).

    Returns ``{label: History}`` where each history's ``epoch`` list holds the iteration
    numbers ``0..iterations-1`` and ``history["loss"]`` the training loss (with the L2 term).
    """
    iterations = check_positive_int(iterations, "iterations")
    batch_size = check_positive_int(batch_size, "batch_size")
    specs = dict(optimizers if optimizers is not None else TUTORIAL_OPTIMIZERS)
    if not specs:
        raise ConfigError("compare_optimizers needs at least one optimizer")
    x, y = np.asarray(x), np.asarray(y)
    n = len(x)
    results: dict[str, History] = {}
    for label, spec in specs.items():
        model = build()
        model.compile(loss=loss, optimizer=_make_optimizer(spec), reg=reg)
        model.check_input(x[:1])  # (builds the model)
        if not results:  # fit's checks, once (every model is built alike): train_step has none
            model.check_input(x)
            model.check_labels(x, y)
            check_finite(x, "x", model.dtype, model.preprocessing)
        rng = np.random.default_rng(seed)  # the same mini-batches for every optimizer
        history = History()
        for it in range(iterations):
            idx = rng.choice(n, size=min(batch_size, n), replace=False)
            value, _ = model.train_step(model.preprocess(x[idx]), model.on_device(y[idx]))
            history.append(it, {"loss": value})
        results[label] = history
    return results


def smoothed(values: list[float], window: int = 10) -> np.ndarray:
    """Trailing moving average (what the tutorial's plot smooths its noisy curves with)."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    cumsum = np.cumsum(np.insert(values, 0, 0.0))
    head = cumsum[1:window] / np.arange(1, window)
    return np.concatenate([head, (cumsum[window:] - cumsum[:-window]) / window])
