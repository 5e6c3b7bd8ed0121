"""Learning-rate schedules: ``schedule(t, base_lr) -> lr`` where ``t`` is time in epochs.

Per-epoch schedules are evaluated at the start of each epoch (``t = epoch``); those with
``per_batch = True`` at every batch (``t = epoch + batch / batches_per_epoch``). The
learning rate actually used is recorded in ``History`` under ``lr``.
"""

from __future__ import annotations

import math
from typing import Any

from ._checks import check_number, check_positive_int
from .errors import ConfigError


class Schedule:
    name = "constant"
    per_batch = False

    def __call__(self, t: float, base_lr: float) -> float:
        return base_lr

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}


class StepDecay(Schedule):
    """``lr = base_lr * factor ** floor(t / every)``; ``every=1, factor=0.95`` is CS231n's decay."""

    name = "step"

    def __init__(self, every: int = 1, factor: float = 0.95) -> None:
        self.every = check_positive_int(every, "step decay 'every'")
        self.factor = check_number(factor, "decay factor", 0, 1, high_inclusive=True)

    def __call__(self, t: float, base_lr: float) -> float:
        return base_lr * self.factor ** math.floor(t / self.every)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "every": self.every, "factor": self.factor}


class ExponentialDecay(Schedule):
    """``lr = base_lr * exp(-rate * floor(t))``: a smaller rate each epoch (PyTorch's
    ``ExponentialLR`` with ``gamma = exp(-rate)``)."""

    name = "exponential"

    def __init__(self, rate: float = 0.05) -> None:
        self.rate = check_number(rate, "exponential decay rate", 0, low_inclusive=True)

    def __call__(self, t: float, base_lr: float) -> float:
        return base_lr * math.exp(-self.rate * math.floor(t))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "rate": self.rate}


class InverseTimeDecay(Schedule):
    """``lr = base_lr / (1 + rate * floor(t / every))``: the course's decay (its
    ``update_lr`` is ``every=1``, its ``schedule_lr_decay`` ``every=time_interval``), and
    Keras' ``InverseTimeDecay`` with ``staircase=True`` counted in epochs."""

    name = "inverse-time"

    def __init__(self, rate: float = 1.0, every: int = 1) -> None:
        self.rate = check_number(rate, "inverse-time decay rate", 0, low_inclusive=True)
        self.every = check_positive_int(every, "inverse-time decay 'every'")

    def __call__(self, t: float, base_lr: float) -> float:
        return base_lr / (1 + self.rate * math.floor(t / self.every))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "rate": self.rate, "every": self.every}


class CosineDecay(Schedule):
    """``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t / epochs)) / 2``, per batch."""

    name = "cosine"
    per_batch = True

    def __init__(self, epochs: int, min_lr: float = 0.0) -> None:
        self.epochs = check_positive_int(epochs, "cosine schedule epochs")
        # (the lr a schedule decays to; it must not go below 0, where training climbs)
        self.min_lr = check_number(min_lr, "cosine schedule min_lr", 0, low_inclusive=True)

    def __call__(self, t: float, base_lr: float) -> float:
        progress = min(t / self.epochs, 1.0)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "epochs": self.epochs, "min_lr": self.min_lr}


class OneCycle(Schedule):
    """One-cycle policy (Smith 2018), the shape of ``torch.optim.lr_scheduler.OneCycleLR``'s
    cosine form.

    Warms up from ``base_lr / div_factor`` to ``base_lr`` over ``pct_start`` of training,
    then anneals with a cosine to ``base_lr / (div_factor * final_div_factor)``. Per batch,
    on the continuous time ``t`` (epochs): the final rate is reached at ``t = epochs``, one
    step after the last step, where PyTorch's discrete version reaches it on its last step.
    Only the learning rate cycles (PyTorch's ``cycle_momentum=False``; its default also
    cycles momentum).
    """

    name = "onecycle"
    per_batch = True

    def __init__(self, epochs: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4) -> None:
        self.epochs = check_positive_int(epochs, "one-cycle schedule epochs")
        self.pct_start = check_number(pct_start, "one-cycle pct_start", 0, 1)
        # the start and end rates are base_lr divided by these (0 would divide by zero)
        self.div_factor = check_number(div_factor, "one-cycle div_factor", 0)
        self.final_div_factor = check_number(final_div_factor, "one-cycle final_div_factor", 0)

    def __call__(self, t: float, base_lr: float) -> float:
        start = base_lr / self.div_factor
        end = start / self.final_div_factor
        progress = min(t / self.epochs, 1.0)
        if progress < self.pct_start:
            a, b, frac = start, base_lr, progress / self.pct_start
        else:
            a, b, frac = base_lr, end, (progress - self.pct_start) / (1 - self.pct_start)
        return b + (a - b) * (1 + math.cos(math.pi * frac)) / 2

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "epochs": self.epochs, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor}


SCHEDULES = {cls.name: cls for cls in (Schedule, StepDecay, ExponentialDecay, InverseTimeDecay,
                                        CosineDecay, OneCycle)}


def get(spec: str | Schedule | None, **kwargs: Any) -> Schedule | None:
    """A schedule for a name (``"step"``, ``"exponential"``, ``"inverse-time"``, ``"cosine"``,
    ``"onecycle"``)."""
    if spec is None or isinstance(spec, Schedule):
        return spec
    if callable(spec):  # Keras' LearningRateScheduler takes a function
        raise ConfigError(f"lr_schedule takes a schedule name or a glassnet.schedules.Schedule, not "
                          f"the function {getattr(spec, '__name__', spec)!r}: subclass Schedule and "
                          "define __call__(self, t, base_lr) -> lr (t: the epoch, from 0)")
    if spec not in SCHEDULES:
        raise ConfigError(f"unknown learning-rate schedule {spec!r}; choose one of {sorted(SCHEDULES)}")
    try:
        return SCHEDULES[spec](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad option for schedule {spec!r}: {exc}") from exc


#: Schedules whose shape spans the whole run: they need its number of epochs.
SPAN_THE_RUN = ("cosine", "onecycle")


def for_run(spec: str | Schedule | None, epochs: int) -> Schedule | None:
    """:func:`get`, giving a schedule named in :data:`SPAN_THE_RUN` the run's ``epochs``;
    ``"constant"`` (the CLI's default) is no schedule: the lr stays as it is, so that a
    callback that lowers it (ReduceLROnPlateau) is not undone at the next epoch."""
    if spec == Schedule.name:
        return None
    if isinstance(spec, str) and spec in SPAN_THE_RUN:
        return get(spec, epochs=max(epochs, 1))  # fit(epochs=0) trains nothing: any span will do
    return get(spec)


def from_config(config: dict[str, Any] | None) -> Schedule | None:
    """The schedule that ``config`` (:meth:`Schedule.get_config`: ``name`` and its settings)
    describes; ``None`` for ``None`` (no schedule)."""
    if config is None:
        return None
    config = dict(config)
    return get(config.pop("name"), **config)
