"""Checkpointing a fit: the :class:`Checkpointer` callback, which keeps the state of the
last completed epoch and writes it as a checkpoint file (:mod:`glassnet.io.checkpoint_file`),
and the :class:`StopRequest` a Ctrl-C sets to stop training cleanly between batches.

This is also where the checkpoint functions are documented: ``save_checkpoint``,
``read_checkpoint`` (both defined in :mod:`glassnet.io.checkpoint_file`) and
``restore_training_state`` (:mod:`glassnet.io.resume`) are importable from here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._text import count
from ..errors import ConfigError, TrainingInterruptedError
from ..training.callbacks import Callback
from .archive import write_archive
from .checkpoint_file import Checkpoint, read_checkpoint, running_on, save_checkpoint, sessions_of, snapshot
from .resume import restore_callbacks, restore_training_state

# the checkpoint functions README documents as glassnet.io.checkpoint's
__all__ = ["Checkpointer", "StopRequest", "read_checkpoint", "restore_training_state", "save_checkpoint"]


class StopRequest:
    """A flag a signal handler sets (``request()``) and :class:`Checkpointer` obeys between
    batches. ``phase`` says what a stop would interrupt: ``"starting"`` (data loading:
    nothing to save yet), ``"training"``, ``"last epoch"`` (the one batch of the last
    epoch: it finishes, and so does the run), or ``"finishing"`` (the epochs are done and
    the run's files are being written). It starts as ``"starting"``; the Checkpointer
    sets ``"training"`` and ``"last epoch"``, :func:`glassnet.runs.train_run` ``"finishing"``."""

    def __init__(self) -> None:
        self.requested = False
        self.phase = "starting"

    def request(self) -> None:
        self.requested = True


class Checkpointer(Callback):
    """Keep the state of the last completed epoch and write it to ``path``.

    It runs after the other callbacks (:attr:`Callback.call_order`), so that it keeps their
    state as of each epoch's end and restores it after their ``on_train_begin`` has reset it.

    The checkpoint is written when at least ``overhead`` times the time the previous
    write took has passed (so checkpoints cost at most about 5% of training time by
    default; ``overhead=0`` writes every epoch), after the last epoch, and when ``stop``
    is requested: then training stops after the current batch, the last completed epoch
    is written and :class:`TrainingInterruptedError` is raised. The partial epoch is
    discarded, so resuming repeats it exactly. With one batch per epoch (full batch) the
    request is honoured when that epoch is done (a request during the last epoch lets the
    run finish), and only the epochs that get written are copied (a copy per epoch would
    cost more than the epoch itself).

    Each checkpoint records the run's training sessions
    (:func:`~glassnet.io.checkpoint_file.sessions_of`): those of ``resume`` (the checkpoint
    this fit continues), then this one, from the epochs done when it begins, on the device
    and threads it trains with: the run's report says where a resumed run rounds
    differently from an unbroken one.

    The last epoch (``fit``'s ``epochs``) is always captured, before EarlyStopping's
    ``on_train_end`` puts back its best weights.

    Args:
        data: the fingerprint of the image folder trained on, for
            :func:`~glassnet.io.resume.check_same_data`.
    """

    call_order = 1  # after the other callbacks; first at the end of training (Callback.call_order)

    def __init__(self, path: str | Path, run_config: dict[str, Any] | None = None,
                 stop: StopRequest | None = None, overhead: float = 20.0,
                 callbacks: Sequence[Callback] = (), resume: Checkpoint | None = None,
                 data: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.run_config = run_config
        self.data = data
        self.stop = stop or StopRequest()
        self.callbacks = list(callbacks)
        self.resume = resume
        self.overhead = overhead
        self.epochs: int | None = None  # fit's epochs, from on_train_begin
        self._snapshot: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
        self._written = True
        self._last_write_end = 0.0
        self._write_seconds = 0.0
        self._epoch = 0
        self._batches = 0
        self._trained = False  # whether this fit completed an epoch
        self._steps: int | None = None  # batches per epoch, known after the first epoch
        self._started = time.perf_counter()
        self.prior_seconds = float((resume.state.get("seconds") or 0.0) if resume else 0.0)
        self._earlier_sessions = sessions_of(resume.state) if resume is not None else []
        #: the run's training sessions so far, this fit's last once it has begun
        self.sessions = list(self._earlier_sessions)

    def _take(self, non_finite: str | None = None, stopped_early: bool | None = None) -> None:
        seconds = self.prior_seconds + time.perf_counter() - self._started
        self._snapshot = snapshot(self.model, self.run_config, self.callbacks, round(seconds, 3), self.data,
                                  in_fit=True, sessions=self.sessions, non_finite=non_finite,
                                  stopped_early=stopped_early)
        self._written = False

    def _write(self) -> None:
        if self._snapshot is None or self._written:
            return
        started = time.perf_counter()
        write_archive(self.path, *self._snapshot)
        self._last_write_end = time.perf_counter()
        self._write_seconds = self._last_write_end - started
        self._written = True

    def _interrupt(self, batch: int | None) -> None:
        """Stop during epoch ``self._epoch + 1`` after ``batch``, or (``None``) before it begins."""
        self._write()
        done = self._snapshot[0]["checkpoint"]["epochs_done"]
        where = (f"during epoch {self._epoch + 1} after batch {batch} (that partial epoch is discarded)"
                 if batch is not None else f"after epoch {self._epoch}" if self._epoch
                 else "before epoch 1")
        raise TrainingInterruptedError(
            f"training stopped {where}; {self.path} holds the state after {done} completed epoch(s)",
            epoch=self._epoch + (batch is not None), batch=batch or 0, checkpoint=self.path,
            epochs_done=done)

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        start = logs.get("initial_epoch", 0)
        if len(self.model.history) != start:
            raise ConfigError(f"a Checkpointer needs the run's history from its first epoch, but "
                              f"this fit starts at epoch {start + 1} (initial_epoch={start}) with "
                              f"{count(len(self.model.history), 'epoch')} of history; resume from a "
                              "checkpoint (restore_training_state) or start at initial_epoch=0")
        self.stop.phase = "training"
        self._steps = logs.get("steps", self._steps)
        self.epochs = logs.get("epochs")
        self._started = time.perf_counter()
        if self.resume is not None:  # after the other callbacks' on_train_begin reset them
            restore_callbacks(self.model, self.resume, self.callbacks)
        # a fit from Python may start before the checkpoint's end: the sessions after its
        # start trained epochs that this one trains again
        self.sessions = [*(s for s in self._earlier_sessions if s["from_epoch"] <= start),
                         {"from_epoch": start, **running_on(self.model)}]
        self._take()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self._epoch, self._batches = epoch, 0
        if self._steps == 1 and self.epochs is not None and epoch + 1 == self.epochs:
            self.stop.phase = "last epoch"  # its one batch cannot be cut short: the run ends
        # A stop asked for at (or after) the previous epoch's end is obeyed here, not in
        # on_epoch_end: the callbacks after this one (the progress line) see that epoch end.
        if self.stop.requested:
            if self._snapshot[0]["checkpoint"]["epochs_done"] != epoch:
                self._take()  # the state is still that of the end of the previous epoch
            self._interrupt(None)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        self._batches += 1
        # after an epoch's last batch the epoch is complete: it ends (and is kept), and the
        # stop is obeyed at the next epoch's beginning
        if self.stop.requested and batch + 1 < self._steps:
            self._interrupt(batch + 1)
        if batch + 2 == self._steps and self.epochs is not None and self._epoch + 1 == self.epochs:
            self.stop.phase = "last epoch"  # the run's last batch is next: a stop ends the run

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        # what the callbacks before this one added to the logs (val_f1): fit records it in
        # the history only after every callback, and the snapshot must hold it
        self.model.history.add_late(logs)
        self._trained = True
        self._steps = self._batches
        due = time.perf_counter() - self._last_write_end >= self.overhead * self._write_seconds
        last = self.model.stop_training or (self.epochs is not None and epoch + 1 >= self.epochs)
        if due or last or self.stop.requested or self._steps != 1:
            self._take()
        if due or last or self.stop.requested:
            self._write()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        # After a non-finite loss the NaN guard has put back earlier weights (and cut the
        # history to them): those are the state to keep, not the last epoch's, which diverged.
        if "error" in logs:
            self._take(non_finite=logs["error"])
        elif not self._trained and self.resume is not None:
            # A fit that trained nothing (a run whose training was over, finishing its files)
            # keeps the resumed checkpoint's account of how the training ended, and its sessions.
            self.sessions = list(self._earlier_sessions)
            self._take(non_finite=self.resume.state.get("non_finite"),
                       stopped_early=bool(self.resume.state.get("stopped_early")))
        self._write()
