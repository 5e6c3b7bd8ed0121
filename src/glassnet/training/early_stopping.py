"""``EarlyStopping``: the end of training when a monitored quantity stops improving, as
Keras' callback of that name, optionally with the best epoch's weights put back.

It watches its quantity through :class:`~glassnet.training.callbacks.Monitor`, as
:class:`~glassnet.training.reduce_lr.ReduceLROnPlateau` does, and keeps its counters in
the checkpoint so that a resumed run stops where this one would."""

from __future__ import annotations

import math
from typing import Any

from .._checks import check_flag, check_non_negative_int, check_number
from ..model_state import set_weights
from .callbacks import (
    Monitor,
    MonitoringCallback,
    announce,
    check_callback_verbose,
    saved_epoch,
    stalled_text,
)


class EarlyStopping(MonitoringCallback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends with the weights (and batch-norm
    statistics) of its best epoch, whether training stopped early or simply reached its
    last epoch. After training, ``best``, ``best_epoch`` (0-based), ``stopped_epoch``
    (``None`` when it ran to the end) and ``restored_epoch`` (the epoch whose weights were
    put back, ``None`` when the model kept its last epoch's) say what happened;
    ``verbose=1`` also prints a line when it stops training and when it restores weights
    (on stderr, above the progress bar).

    As in Keras: ``start_from_epoch`` epochs (counted from 0, as ``epoch`` is) are a warm-up
    that is not watched; with a ``baseline`` the patience count starts again only at an
    epoch that improves on the best *and* beats the baseline (by more than ``min_delta``), so
    a run that never beats it stops at its first epoch without improvement once ``patience``
    epochs have passed.
    """

    def __init__(self, monitor: str = "val_loss", *, min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0, verbose: int = 0) -> None:
        self.patience = check_non_negative_int(patience, "EarlyStopping patience")
        self.baseline = None if baseline is None else check_number(baseline, "EarlyStopping baseline",
                                                                   -math.inf)
        self.start_from_epoch = check_non_negative_int(start_from_epoch, "EarlyStopping start_from_epoch")
        self.verbose = check_callback_verbose(verbose, "EarlyStopping")
        self.tracker = Monitor(monitor, mode, min_delta, "EarlyStopping")
        self.epochs: int | None = None
        self.restore_best_weights = check_flag(restore_best_weights, "EarlyStopping restore_best_weights")
        self._start()

    def _start(self) -> None:
        """Nothing seen yet (as after ``__init__``, so that a callback no fit ran reads as such)."""
        self.tracker.reset()
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.best_weights: dict[str, Any] | None = None
        self.last_epoch: int | None = None

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self.tracker.check_logged(logs.get("logged"))
        self.epochs = logs.get("epochs")
        self._start()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.last_epoch = epoch
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.tracker.improved(epoch, logs):
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self._beats_baseline():
                self.wait = 0
            return  # (as in Keras, an improving epoch never stops training, baseline or not)
        last = self.epochs is not None and epoch + 1 >= self.epochs
        if self.wait >= self.patience and not last:  # on the last epoch it simply ends
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                why = (stalled_text(self.tracker, self.patience) if self._beats_baseline() else
                       f"{self.tracker.monitor} had not beaten the baseline {self.baseline:.6g}")
                announce(f"epoch {epoch + 1}: EarlyStopping stopped training "
                         f"({why}; best {self.tracker.best:.6g} at epoch {self._best_epoch_number()})")

    def _beats_baseline(self) -> bool:
        """Whether the best value so far beats ``baseline`` (always, without one)."""
        return self.baseline is None or self.tracker.beats(self.tracker.best, self.baseline)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        # the epochs the model's weights are from: the last epoch's, or after a non-finite
        # loss those the NaN guard kept (a best epoch at or after them diverged: not restored)
        current = logs.get("kept_epoch", None if self.last_epoch is None else self.last_epoch + 1)
        best = self.tracker.best_epoch
        if (self.restore_best_weights and self.best_weights is not None and best is not None
                and current is not None and best + 1 < current):
            set_weights(self.model, self.best_weights, where=None)  # its own copy: no check for NaN
            self.restored_epoch = best
            if self.verbose:
                announce(f"EarlyStopping restored the weights of epoch {best + 1}, the best "
                         f"({self.tracker.monitor} {self.tracker.best:.6g})")

    def _best_epoch_number(self) -> str:
        """The best epoch, 1-based as the progress lines count, or "none" yet."""
        best = self.tracker.best_epoch
        return "none" if best is None else str(best + 1)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed run stops where this one would:
        ``{"values": JSON-able counters, "arrays": the best epoch's weights (if kept)}``."""
        return {"values": {**self.tracker.state(), "wait": self.wait, "stopped_epoch": self.stopped_epoch,
                           "last_epoch": self.last_epoch},
                "arrays": dict(self.best_weights or {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (called after ``on_train_begin`` when resuming)."""
        values = state["values"]
        self.tracker.load(values)
        self.wait = saved_epoch(values, "wait")  # a count of epochs: the same check
        if self.wait is None:
            raise ValueError("wait = None is not a number of epochs")
        self.stopped_epoch = saved_epoch(values, "stopped_epoch")
        self.last_epoch = saved_epoch(values, "last_epoch")
        self.best_weights = dict(state["arrays"]) or None
