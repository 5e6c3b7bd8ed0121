"""The NaN guard of the fit loop (:mod:`glassnet.training.loop`): what it keeps, and how
it ends a training whose loss became NaN or infinite.

The loop keeps a snapshot of the weights and optimizer state at the start of the previous
and of the current epoch (:func:`snapshot`). When a batch's loss, or the check of an
epoch's last update (:func:`trained_outputs`), turns non-finite, the last state known to
give a finite loss is put back and a :class:`NonFiniteLossError` says which
(:func:`restore_after_non_finite`, :func:`last_update_diverged`); the callbacks then end
with that error (:func:`end_after_non_finite`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..backend import array_module
from ..errors import NonFiniteLossError
from ..model_state import set_weights
from .callbacks import Callback, CallbackList
from .early_stopping import EarlyStopping
from .history import History

if TYPE_CHECKING:
    from ..model import Sequential


def quiet_float_errors() -> np.errstate:
    """NumPy's overflow, invalid-value and divide warnings silenced, for code whose non-finite
    results are already reported (by the NaN guard, or as a printed ``nan``)."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def weights_after(epochs: int) -> str:
    """How the weights after ``epochs`` completed epochs are named in messages."""
    return "the initial weights" if epochs == 0 else f"the weights from the end of epoch {epochs}"


def snapshot(model: Sequential) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of the weights and of the optimizer's state (its moments, momentum and step
    count would be NaN after a diverged step, and poison every later ``fit``)."""
    return model.get_weights(), model.optimizer.state_dict()


def _restore(model, snapshot: tuple[dict[str, Any], dict[str, Any]]) -> None:
    weights, optimizer_state = snapshot
    # weights the guard kept itself (the initial ones may hold the NaN it reports): no warning
    set_weights(model, weights, where=None)
    optimizer = model.optimizer
    scheduled = optimizer.lr == optimizer.scheduled_lr
    optimizer.load_state_dict(optimizer_state)  # also puts back the lr of that moment
    if scheduled:  # still a schedule's lr, not one the user set: a later fit starts from base_lr
        optimizer.scheduled_lr = optimizer.lr


def trained_outputs(model: Sequential, xb: Any, yb: Any, start: int, wb: Any = None) -> Any | None:
    """The outputs of the weights after the last update on the last batch (``xb``
    preprocessed, and already through layers ``:start``), or ``None`` when they give a
    non-finite loss (the last update diverged): the training loss, with the batch's sample
    weights ``wb: (N,)`` (``fit``'s ``class_weight``) where it has them."""
    with quiet_float_errors():
        out = model.forward(xb, start=start)
        loss = float(model.loss.forward(out, yb, wb)) + model.regularization_loss()
    return out if math.isfinite(loss) and bool(array_module(out).isfinite(out).all()) else None


def restore_after_non_finite(model: Sequential, loss: float, epoch: int, batch: int, initial_epoch: int,
                             snapshots: list[tuple[dict[str, Any], dict[str, Any]]]) -> NonFiniteLossError:
    """Put back the last weights (and optimizer state) known to give a finite loss; the
    error that says which.

    ``snapshots`` holds the state at the start of the previous and of the current epoch
    (0-based ``epoch``). A failure on the run's very first batch means the starting weights
    themselves give a non-finite loss: they are all there is to keep.
    """
    first_step = epoch == initial_epoch and batch == 0
    kept = epoch if batch > 0 or first_step else epoch - 1
    _restore(model, snapshots[1] if batch > 0 else snapshots[0])
    if not first_step:
        why = "the last known to give a finite loss (try a smaller learning rate)"
    elif initial_epoch == 0:
        why = "which already give a non-finite loss (try smaller initial weights)"
    else:  # a resumed run: the weights it started from are the checkpoint's
        why = "the resumed ones, which already give a non-finite loss (try a smaller learning rate)"
    return NonFiniteLossError(
        f"the loss became {loss} at epoch {epoch + 1}, batch {batch + 1}; training stopped and "
        f"the model keeps {weights_after(kept)}, {why}",
        epoch=epoch + 1, batch=batch + 1, kept_epoch=kept)


def last_update_diverged(model: Sequential, epoch: int, batches: int,
                          snapshots: list[tuple[dict[str, Any], dict[str, Any]]]) -> NonFiniteLossError:
    """The last update of ``epoch`` (0-based) made the loss, or the outputs (an infinite logit
    can leave a softmax's loss finite), non-finite: put back the weights from the start of
    that epoch; the error that says so."""
    _restore(model, snapshots[1])
    return NonFiniteLossError(
        f"the last update of epoch {epoch + 1} made the loss or the outputs non-finite; training "
        f"stopped and the model keeps {weights_after(epoch)}, the last known to give a finite "
        "loss (try a smaller learning rate)", epoch=epoch + 1, batch=batches, kept_epoch=epoch)


def end_after_non_finite(history: History, cbs: CallbackList, error: NonFiniteLossError) -> None:
    """End a training the NaN guard stopped (``error``; the model holds the weights it
    kept, ``history`` is cut to those weights' epochs): the callbacks' ``on_train_end``
    runs with the last kept epoch's logs and ``error``, ``kept_epoch`` (a Checkpointer saves
    that state; EarlyStopping may put back an earlier best epoch's weights, which the error
    then names; a callback that fails there is named in the error, which is still raised)."""
    logs = {**history.last(), "error": str(error), "kept_epoch": error.kept_epoch}
    failed = []
    for cb in cbs.ending_order():  # each one, whatever another does: none may hide the error
        try:
            cb.on_train_end(logs)
        except Exception as exc:  # noqa: BLE001 - any failure of a callback's is named below
            failed.append(f"{type(cb).__name__}'s on_train_end failed: {exc!r}")
    note_restored_weights(error, cbs.callbacks)
    if failed:
        error.args = (f"{error}; then {'; '.join(failed)}",)


def note_restored_weights(error: NonFiniteLossError, callbacks: Sequence[Callback]) -> None:
    """After a non-finite loss, an EarlyStopping among ``callbacks`` that put back its best
    epoch's weights: ``error`` says so, and keeps that epoch (``kept_epoch``)."""
    restored = [cb.restored_epoch for cb in callbacks
                if isinstance(cb, EarlyStopping) and cb.restored_epoch is not None]
    if restored and restored[-1] + 1 != error.kept_epoch:
        error.kept_epoch = restored[-1] + 1
        error.args = (f"{error}; then EarlyStopping put back its best epoch's weights, "
                      f"{weights_after(error.kept_epoch)}",)
