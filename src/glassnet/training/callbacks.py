"""Callbacks: hooks the fit loop calls at the start and end of training, epochs and batches.

A callback sees the model (``self.model``) and the logs dict; it may set
``model.stop_training = True`` to end training after the current epoch. The logs of
``on_train_begin`` are ``{"initial_epoch", "epochs", "steps", "logged"}`` (batches per
epoch, the names the epochs will log); of ``on_batch_end`` the running ``loss`` (and
``accuracy`` when the model tracks it); of ``on_epoch_end`` the epoch's metrics, ``val_*``
ones and ``lr``; of ``on_train_end`` the last epoch's, or, when the loss became
non-finite, the last kept epoch's with ``"error"`` (the message) and ``"kept_epoch"`` (the
epochs whose weights the NaN guard kept); training then raises
:class:`~glassnet.errors.NonFiniteLossError` after the hook.

This module holds the protocol (:class:`Callback`), :class:`CallbackList` and what the
callbacks that watch a logged quantity share (:class:`Monitor`, :class:`MonitoringCallback`,
:data:`FIT_KEYS`). The callbacks themselves live one to a module beside it:
:mod:`~glassnet.training.early_stopping`, :mod:`~glassnet.training.model_checkpoint`,
:mod:`~glassnet.training.reduce_lr`, :mod:`~glassnet.training.csv_logger`,
:mod:`~glassnet.training.lambda_callback`; :mod:`glassnet.training` exports them all.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Sequence
from typing import Any

from .._checks import check_number, is_number
from .._text import count
from ..errors import ConfigError


class Callback:
    """Base class; override any hook."""

    #: the hooks the fit loop calls, in this order within an epoch
    HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")

    model: Any = None
    #: the fit's settings (see :meth:`set_params`); empty until a fit starts
    params: dict[str, Any] = {}  # (replaced by set_params, never changed in place)
    #: when its hooks run among the others': 0 in the order given; 1 after those
    #: (Checkpointer: what it saves, and restores on resume, is the others' state as of the
    #: end of each hook), except at the end of training, where it goes first (it saves the
    #: state before EarlyStopping puts back its best weights); 2 last of all (the progress
    #: display, which shows what the others logged)
    call_order: int = 0
    #: for a callback with ``state_dict``/``load_state_dict``: whether a resumed run must
    #: have its state (EarlyStopping: its patience counter decides when the run ends), or
    #: may start it afresh, or drop it (ModelCheckpoint: a file saver added or removed)
    state_required: bool = True

    def accepts_state(self, values: dict[str, Any]) -> bool:
        """Whether a saved state's ``values`` are this callback's (for one whose state is not
        required: the resumed run's callbacks of its class are matched to the saved states
        this way, not by position)."""
        return True

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Keep the fit's settings, ``{"verbose", "epochs", "steps"}`` (as Keras'
        ``Callback.params``), before ``on_train_begin``."""
        self.params = params

    def on_train_begin(self, logs: dict[str, Any]) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None: ...
    def on_train_end(self, logs: dict[str, Any]) -> None: ...


class CallbackList(Callback):
    """Calls every hook on each callback, in the order of their :attr:`Callback.call_order`."""

    def __init__(self, callbacks: list[Callback], model: Any, params: dict[str, Any] | None = None) -> None:
        self.callbacks = sorted(callbacks, key=lambda cb: cb.call_order)  # stable: as given within one
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params or {})

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def ending_order(self) -> list[Callback]:
        """The callbacks in the order of their ``on_train_end``: the one that keeps the run's
        state first (:attr:`Callback.call_order`)."""
        return sorted(self.callbacks, key=lambda cb: cb.call_order != 1)

    def on_train_end(self, logs: dict[str, Any]) -> None:
        for cb in self.ending_order():
            cb.on_train_end(logs)


#: what ``fit`` itself may log; a monitor or path field among them that this fit does not log
#: is an error before training (other names may still come from another callback)
FIT_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def validation_hint(logged: Sequence[str]) -> str:
    """Why no ``val_`` quantity is logged, when none is: the fit has no validation data."""
    if any(key.startswith("val_") for key in logged):
        return ""
    return "validation needs validation_split or validation_data"


#: words in a logged name (split at ``_``) that say higher is better, or lower
HIGHER_IS_BETTER = frozenset({"acc", "accuracy", "auc", "f1", "fbeta", "precision", "recall",
                              "iou", "dice", "kappa", "r2", "top1", "top5", "sensitivity",
                              "specificity", "mcc", "similarity"})
LOWER_IS_BETTER = frozenset({"loss", "error", "err", "mse", "mae", "rmse", "msle", "mape",
                             "entropy", "crossentropy", "hinge", "kld", "kl", "divergence",
                             "nll", "logcosh", "huber", "poisson", "perplexity", "ece"})


def maximizes(monitor: str, mode: str, owner: str, used: bool = True) -> bool:
    """Whether a better ``monitor`` is higher: ``mode`` ``"max"``/``"min"``, or for
    ``"auto"`` its name (``val_f1``: higher; ``val_loss``: lower). A name that says neither
    is an error when the direction is ``used`` (guessing wrong would keep the worst epoch's
    weights); else lower."""
    if mode != "auto":
        return mode == "max"
    words = set(monitor.lower().split("_"))
    if "loss" in words:  # a loss is lowered, whatever it measures (val_similarity_loss)
        return False
    higher, lower = bool(words & HIGHER_IS_BETTER), bool(words & LOWER_IS_BETTER)
    if higher == lower and not used:
        return False
    if higher == lower:
        # a misspelt logged name ("los") is likelier than a quantity of one's own
        close = difflib.get_close_matches(monitor, FIT_KEYS, n=1)
        typo = f" (or did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{owner} cannot tell from the name {monitor!r} whether higher or lower "
                          f"is better; give mode='max' or mode='min'{typo}")
    return higher


def epochs_waited(patience: int) -> int:
    """The epochs without improvement after which a callback of ``patience`` acts (stops,
    lowers the lr): ``patience``, and 1 for 0, since, as in Keras, its count of such epochs
    starts at 1 and patience 0 acts at the first epoch that did not improve."""
    return max(patience, 1)


class Monitor:
    """Tracks the best value of one logged quantity (``"val_loss"``, ``"val_accuracy"``...).

    ``mode="auto"`` reads the direction from the name (:func:`maximizes`). A value improves
    on the best by more than ``min_delta`` or not at all.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float, owner: str, used: bool = True) -> None:
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"{owner} mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(monitor, str) or not monitor:
            raise ConfigError(f"{owner} monitor must be the name of a logged quantity "
                              f"('val_loss', 'val_accuracy', ...), got {monitor!r}")
        min_delta = check_number(min_delta, f"{owner} min_delta", 0, low_inclusive=True)
        self.monitor, self.owner, self.min_delta = monitor, owner, min_delta
        self.maximize = maximizes(monitor, mode, owner, used)
        self.reset()

    def reset(self) -> None:
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch: int | None = None

    def check_logged(self, logged: Sequence[str] | None) -> None:
        """Before training: a name of :data:`FIT_KEYS` that this fit will not log (no
        validation, or no accuracy metric) is an error now, not after the first epoch;
        other names may still come from another callback."""
        if logged is not None and self.monitor in FIT_KEYS and self.monitor not in logged:
            self.missing(logged)

    def missing(self, logged: Sequence[str]) -> None:
        """The error for a monitor that training does not log, with the likely fix."""
        missing_validation = validation_hint(logged) if self.monitor.startswith("val_") else ""
        if missing_validation:
            hint = f" ({missing_validation})"
        else:
            close = difflib.get_close_matches(self.monitor, logged, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{self.owner} monitors {self.monitor!r}, which training does not "
                          f"log{hint}; logged: {sorted(logged)}")

    def value(self, logs: dict[str, Any]) -> float:
        if self.monitor not in logs:
            self.missing(list(logs))
        return float(logs[self.monitor])

    def beats(self, value: float, reference: float) -> bool:
        """Whether ``value`` is better than ``reference`` by more than ``min_delta``."""
        return value > reference + self.min_delta if self.maximize else value < reference - self.min_delta

    def improved(self, epoch: int, logs: dict[str, Any]) -> bool:
        """Whether this epoch's value beats the best so far (and remember it if so)."""
        value = self.value(logs)
        better = self.beats(value, self.best)
        if better:
            self.best, self.best_epoch = value, epoch
        return better

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load(self, values: dict[str, Any]) -> None:
        """The :meth:`state` a checkpoint kept; a ValueError if it cannot be one."""
        if not is_number(values["best"]):
            raise ValueError(f"best = {values['best']!r} is not a number")
        self.best, self.best_epoch = float(values["best"]), saved_epoch(values, "best_epoch")


def stalled_text(tracker: Monitor, patience: int) -> str:
    """Why a callback of ``patience`` acts, as its verbose line says it: "val_loss had not
    improved for 10 epochs"."""
    return f"{tracker.monitor} had not improved for {count(epochs_waited(patience), 'epoch')}"


def check_callback_verbose(verbose: Any, owner: str) -> int:
    """A callback's ``verbose``: 0 (silent) or 1 (a line when it acts), as in Keras."""
    if verbose not in (0, 1):  # (True and False are 1 and 0)
        raise ConfigError(f"{owner} verbose must be 0 or 1, got {verbose!r}")
    return int(verbose)


def announce(message: str) -> None:
    """A verbose callback's line, on stderr above the progress bar (tqdm's ``write`` keeps a
    bar on screen intact)."""
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def saved_epoch(values: dict[str, Any], key: str) -> int | None:
    """``values[key]``: an epoch (a whole number >= 0) or ``None``, else a ValueError."""
    value = values[key]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{key} = {value!r} is not an epoch")
    return value


class MonitoringCallback(Callback):
    """A callback that watches one logged quantity through its ``tracker`` (:class:`Monitor`):
    ``best`` and ``best_epoch`` (0-based) so far."""

    tracker: Monitor

    @property
    def best(self) -> float:
        return self.tracker.best

    @property
    def best_epoch(self) -> int | None:
        return self.tracker.best_epoch


# Keras' callbacks each have a file of their own since 2026-12-07; until then they lived
# here, and the tutorial imported them from here. Importing them back at the top would be
# an import cycle (each of their files imports this one), so they are looked up on first use.
_MOVED = {"EarlyStopping": "early_stopping", "ModelCheckpoint": "model_checkpoint",
          "LambdaCallback": "lambda_callback"}


def __getattr__(name: str) -> type:
    """``glassnet.training.callbacks.EarlyStopping`` (and the other moved callbacks), as before."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
