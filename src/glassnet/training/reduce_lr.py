"""``ReduceLROnPlateau``: a smaller learning rate when a monitored quantity stops improving,
as Keras' callback of that name (and PyTorch's scheduler, with the differences it notes)."""

from __future__ import annotations

from typing import Any

from .._checks import check_non_negative_int, check_number, is_number
from ..errors import ConfigError
from .callbacks import (
    Monitor,
    MonitoringCallback,
    announce,
    check_callback_verbose,
    saved_epoch,
    stalled_text,
)


class ReduceLROnPlateau(MonitoringCallback):
    """Multiply the optimizer's lr by ``factor`` when ``monitor`` has not improved (by more
    than ``min_delta``) for ``patience`` epochs, as Keras' callback of that name does.

    After each epoch: during a cooldown its counter goes down and the epochs without
    improvement are not counted; an improvement resets the count; outside a cooldown,
    an epoch without one adds to it, and at ``patience`` the lr becomes
    ``max(lr * factor, min_lr)`` (if it is above ``min_lr``), the count restarts and
    ``cooldown`` epochs of cooldown begin. (As in Keras, the epoch the cooldown counter
    reaches 0 already counts, and ``patience=0`` acts as 1.) The lr it sets stays for the
    next epochs and a later ``fit``; it cannot share a fit with an ``lr_schedule``, which
    sets the lr back every epoch.

    After training, ``reductions`` lists each change as ``(epoch, old_lr, new_lr)``
    (0-based epoch, at whose end it happened); ``best`` and ``best_epoch`` are the best
    value seen and its epoch. ``verbose=1`` prints a line for each reduction (on stderr,
    above the progress bar).
    """

    def __init__(self, monitor: str = "val_loss", *, factor: float = 0.1, patience: int = 10,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0, verbose: int = 0) -> None:
        # factor 1 would never reduce; Keras refuses it too
        self.factor = check_number(factor, "ReduceLROnPlateau factor", 0, 1)
        self.patience = check_non_negative_int(patience, "ReduceLROnPlateau patience")
        self.cooldown = check_non_negative_int(cooldown, "ReduceLROnPlateau cooldown")
        self.min_lr = check_number(min_lr, "ReduceLROnPlateau min_lr", 0, low_inclusive=True)
        self.verbose = check_callback_verbose(verbose, "ReduceLROnPlateau")
        self.tracker = Monitor(monitor, mode, min_delta, "ReduceLROnPlateau")
        self._start()

    def _start(self) -> None:
        """Nothing seen yet (each fit starts afresh, as in Keras; the lr stays as it is)."""
        self.tracker.reset()
        self.wait = 0
        self.cooldown_counter = 0
        self.reductions: list[tuple[int, float, float]] = []

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.tracker.check_logged(logs.get("logged"))
        if getattr(self.model.optimizer, "schedule_running", False):
            raise ConfigError("ReduceLROnPlateau sets the lr, but this fit runs an lr_schedule, "
                              "which sets it back every epoch: use one or the other")
        self._start()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if getattr(self.model, "stop_training", False):  # a callback before this one ended (early
            return  # stopping) training: no epoch would train at a lower lr
        value_improved = self.tracker.improved(epoch, logs)  # also during a cooldown (Keras)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if value_improved:
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        """Lower the lr at the end of ``epoch``, unless it is down to ``min_lr`` already (then
        the count goes on, as in Keras)."""
        optimizer = self.model.optimizer
        old_lr = optimizer.lr
        if old_lr <= self.min_lr:
            return
        optimizer.lr = max(old_lr * self.factor, self.min_lr)
        self.reductions.append((epoch, old_lr, optimizer.lr))
        self.cooldown_counter, self.wait = self.cooldown, 0
        if self.verbose:
            announce(f"epoch {epoch + 1}: ReduceLROnPlateau reduced the lr from {old_lr:g} to "
                     f"{optimizer.lr:g} ({stalled_text(self.tracker, self.patience)})")

    def on_train_end(self, logs: dict[str, Any]) -> None:
        # after a non-finite loss the optimizer (its lr too) is back to the kept epochs' state:
        # a reduction made after them was undone
        kept = logs.get("kept_epoch")
        if kept is not None:
            self.reductions = [r for r in self.reductions if r[0] < kept]

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed run reduces the lr where this one would
        (the lr itself is the optimizer's, which the checkpoint keeps)."""
        return {"values": {**self.tracker.state(), "wait": self.wait,
                           "cooldown_counter": self.cooldown_counter,
                           "reductions": [list(r) for r in self.reductions]},
                "arrays": {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (called after ``on_train_begin`` when resuming)."""
        values = state["values"]
        self.tracker.load(values)
        counters = {key: saved_epoch(values, key) for key in ("wait", "cooldown_counter")}
        if None in counters.values():  # counts of epochs: the same check, and never None
            raise ValueError(f"{counters} are not numbers of epochs")
        reductions = values["reductions"]
        if not (isinstance(reductions, list) and all(_is_reduction(r) for r in reductions)):
            raise ValueError(f"reductions = {reductions!r} is not a list of [epoch, old_lr, new_lr]")
        self.wait, self.cooldown_counter = counters["wait"], counters["cooldown_counter"]
        self.reductions = [(int(e), float(old), float(new)) for e, old, new in reductions]


def _is_reduction(value: Any) -> bool:
    """Whether ``value`` is a saved ``[epoch, old_lr, new_lr]`` of :class:`ReduceLROnPlateau`."""
    return (isinstance(value, list) and len(value) == 3 and not isinstance(value[0], bool)
            and isinstance(value[0], int) and value[0] >= 0 and all(is_number(v) for v in value[1:]))
