"""``ModelCheckpoint``: the model saved after each epoch, or only when a monitored quantity
improves, as Keras' callback of that name.

Not to be confused with the run's ``checkpoint.glassnet`` (the state a run resumes from),
which :class:`glassnet.io.checkpoint.Checkpointer` writes; this callback writes model files,
and the checkpoint keeps its best score (:meth:`ModelCheckpoint.state_dict`)."""

from __future__ import annotations

import os
import string
from typing import Any

from .._checks import check_flag
from ..errors import ConfigError
from .callbacks import (
    FIT_KEYS,
    Monitor,
    MonitoringCallback,
    announce,
    check_callback_verbose,
    validation_hint,
)


class ModelCheckpoint(MonitoringCallback):
    """Save the model (atomically) after each epoch, or only when ``monitor`` improves on
    the best value seen in this and earlier ``fit`` calls.

    ``path`` may hold ``{epoch}`` (1-based) and logged names, e.g.
    ``"ckpt-{epoch:03d}-{val_loss:.3f}.glassnet"``; a crash mid-write never leaves a
    damaged file in place of the previous one. ``verbose=1`` prints a line for each epoch:
    the file saved, or (``save_best_only``) that the quantity did not improve, as Keras does.
    With ``save_best_only``, ``best`` and ``best_epoch`` (0-based) are those of the file
    saved last (Keras' ``best``); a saver of every epoch compares nothing (``best`` stays
    at its start, ``inf`` or ``-inf``). ``saved`` lists the files written.
    """

    state_required = False  # a checkpoint from before it kept state, or a saver added later

    def __init__(self, path: str | os.PathLike, *, monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto", min_delta: float = 0.0,
                 verbose: int = 0) -> None:
        self.path = str(path)
        self.verbose = check_callback_verbose(verbose, "ModelCheckpoint")
        self.save_best_only = check_flag(save_best_only, "ModelCheckpoint save_best_only")
        # the direction matters only to save_best_only (a saver of every epoch monitors nothing)
        self.tracker = Monitor(monitor, mode, min_delta, "ModelCheckpoint", used=self.save_best_only)
        self.saved: list[str] = []

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        if self.save_best_only:
            self.tracker.check_logged(logs.get("logged"))
        fields = {name for _, name, _, _ in string.Formatter().parse(self.path) if name}
        if not fields and os.path.isdir(self.path):
            raise ConfigError(f"ModelCheckpoint path {self.path!r} is a folder; give a file name, "
                              f"e.g. {os.path.join(self.path, 'model-{epoch:03d}.glassnet')!r}")
        logged = logs.get("logged", FIT_KEYS)
        never = sorted(f for f in fields if f in FIT_KEYS and f not in logged)
        if never:  # a template that could only fail after the first epoch has trained
            hint = validation_hint(logged)
            raise ConfigError(f"ModelCheckpoint path {self.path!r} uses {', '.join(never)}, which "
                              f"training does not log (logged: {sorted(logged)})"
                              + (f"; {hint}" if hint else ""))
        # the best score is kept from one fit to the next (as in Keras): a continued fit
        # replaces the best file only with a better model

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps so that a resumed run replaces the best file only with a
        better model (its best score would start afresh otherwise)."""
        return {"values": {**self.tracker.state(), "saved": list(self.saved), **self._identity()},
                "arrays": {}}

    def _identity(self) -> dict[str, Any]:
        """What makes a saved state this saver's: the same file (as an absolute path, however
        it was written), quantity and direction."""
        return {"path": os.path.abspath(self.path), "monitor": self.tracker.monitor,
                "maximize": self.tracker.maximize}

    def accepts_state(self, values: dict[str, Any]) -> bool:
        """Whether ``values`` (a saved state) is this saver's own."""
        return {key: values.get(key) for key in self._identity()} == self._identity()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (called after ``on_train_begin`` when resuming)."""
        values = state["values"]
        self.tracker.load(values)
        if not (isinstance(values["saved"], list) and all(isinstance(p, str) for p in values["saved"])):
            raise ValueError(f"saved = {values['saved']!r} is not a list of paths")
        self.saved = list(values["saved"])

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        before, monitor = self.tracker.best, self.tracker.monitor
        if self.save_best_only and not self.tracker.improved(epoch, logs):
            if self.verbose:
                announce(f"epoch {epoch + 1}: {monitor} did not improve from {before:.6g}")
            return
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"ModelCheckpoint path {self.path!r} cannot be filled in from "
                              f"epoch and {sorted(logs)}: {exc!r}") from None
        self.model.save(path)
        self.saved.append(path)
        if self.verbose:
            change = (f"{monitor} improved from {before:.6g} to {self.tracker.best:.6g}; "
                      if self.save_best_only else "")
            announce(f"epoch {epoch + 1}: {change}ModelCheckpoint saved the model to {path}")
