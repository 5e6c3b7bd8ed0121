"""The fit loop: batches, validation, callbacks, learning-rate schedules, the NaN guard."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backend, inputs
from .. import schedules as schedules_mod
from .._checks import check_flag, check_non_negative_int, check_positive_int, require_labels
from ..backend import array_module, to_numpy
from ..errors import CollapsedModelWarning, ConfigError, GlassnetWarning, NonFiniteLossError, user_stacklevel
from ..split import stratified_split
from .callbacks import Callback, CallbackList, EarlyStopping
from .history import History
from .progress import ProgressBar, check_verbose
from .shards import ShardedStep, sharded

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def batch_indices(n: int, batch_size: int | None, rng: np.random.Generator | None,
                  min_batch: int = 1) -> list[np.ndarray]:
    """Index arrays for one epoch: shuffled by ``rng`` (if given), full batch for ``None``.
    A last batch smaller than ``min_batch`` joins the one before it (BatchNorm cannot
    train on a single sample: 209 images in batches of 16 end with a batch of 16 + 1)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    size = n if batch_size is None else batch_size
    batches = [order[i:i + size] for i in range(0, n, size)]
    if len(batches) > 1 and len(batches[-1]) < min_batch:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def check_batch_size(batch_size: Any) -> int | None:
    """``batch_size`` as the fit loop takes it: a positive integer, or None for full batch."""
    if batch_size is None or batch_size == "full":
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer or None (full batch), got {batch_size!r}")
    return int(batch_size)


def quiet_float_errors() -> np.errstate:
    """NumPy's overflow, invalid-value and divide warnings silenced, for code whose non-finite
    results are already reported (by the NaN guard, or as a printed ``nan``)."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def weights_after(epochs: int) -> str:
    """How the weights after ``epochs`` completed epochs are named in messages."""
    return "the initial weights" if epochs == 0 else f"the weights from the end of epoch {epochs}"


def _check_callbacks(callbacks: Sequence[Callback] | None) -> list[Callback]:
    """``callbacks`` as a list (``None``: none); each must be a :class:`Callback` (a plain
    function has none of its hooks)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        raise ConfigError("callbacks must be a list of callbacks; write "
                          f"callbacks=[{type(callbacks).__name__}(...)]")
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ConfigError(f"callbacks must be glassnet.training.Callback objects, got "
                              f"{cb!r}; subclass Callback and override its on_* methods")
        unknown = sorted(name for name in dir(type(cb))
                         if name.startswith("on_") and name not in Callback.HOOKS)
        if unknown:  # Keras' on_train_batch_end, on_test_begin, ...: silently never called
            warnings.warn(f"{type(cb).__name__} defines {', '.join(unknown)}, which glassnet never "
                          f"calls; its hooks are {', '.join(Callback.HOOKS)}", GlassnetWarning,
                          stacklevel=user_stacklevel())
    return list(callbacks)


def check_finite(x: Any, what: str, dtype: Any) -> None:
    """Floating-point inputs must be finite, and stay finite as the model's ``dtype``: in
    training a NaN pixel would make the NaN guard blame the weights; in evaluate it would
    count as a wrong (or right) answer, silently."""
    if not np.issubdtype(x.dtype, np.floating):
        return
    xp = array_module(x)
    if not xp.isfinite(x).all():
        raise ConfigError(f"{what} holds NaN or infinite values; clean the data first (a NaN input "
                          "gives NaN outputs and losses whatever the weights)")
    largest = float(np.finfo(dtype).max)
    # float(): compared as NumPy scalars, float64's max would be cast to float32 (a warning)
    wider = float(np.finfo(x.dtype).max) > largest
    # max and min, not abs: no temporary the size of x (finite values: no NaN to skip)
    if wider and x.size and (float(x.max()) > largest or float(x.min()) < -largest):
        raise ConfigError(f"{what} holds values beyond {np.dtype(dtype).name}'s range (±{largest:.3g}), "
                          f"the model's: they would become infinite; scale the data first")


def _schedule_base(optimizer) -> float:
    """The lr a schedule scales in this fit: the earlier base while ``optimizer.lr`` is still
    the last lr a schedule set (a continued or repeated run), else the lr as it is now
    (the user chose a new one, or no schedule ran yet)."""
    if optimizer.base_lr is not None and optimizer.lr == optimizer.scheduled_lr:
        return optimizer.base_lr
    return optimizer.lr


# the schedules that span a run of their own epochs (made by name, they span fit's)
SPANNING_SCHEDULES = (schedules_mod.CosineDecay, schedules_mod.OneCycle)


def _check_schedule(schedule: schedules_mod.Schedule | None, base_lr: float, initial_epoch: int,
                    epochs: int) -> None:
    """A schedule's ``min_lr`` must lie below the lr it decays from (else it raises the lr),
    and a schedule that spans a run of its own ``epochs`` had better span this one: a
    shorter one trains the last epochs at its final lr (0 for cosine), a longer one never
    reaches it. Only a warning: a run continued in several fits may mean it (and a fit that
    trains no epoch, to end a finished run's callbacks, is not warned about)."""
    if not isinstance(schedule, SPANNING_SCHEDULES):  # a schedule of the user's own: theirs to mean
        return
    if base_lr == 0:
        raise ConfigError(f"the {schedule.name} schedule scales the lr, which is 0: give the "
                          "optimizer an lr > 0")
    min_lr = getattr(schedule, "min_lr", None)
    if min_lr is not None and min_lr >= base_lr:
        raise ConfigError(f"the schedule's min_lr={min_lr:g} is not below the lr it decays from "
                          f"({base_lr:g}): it would not decay; give a smaller min_lr or a larger lr")
    span = schedule.epochs
    if span != epochs and initial_epoch < epochs:
        warnings.warn(f"the {schedule.name} schedule spans {span} epochs but fit runs to epoch "
                      f"{epochs}: " + ("the last epochs train at its final lr" if span < epochs else
                                       "the lr never reaches its final value")
                      + f"; give lr_schedule={schedule.name!r} to span fit's epochs",
                      GlassnetWarning, stacklevel=user_stacklevel())


def _snapshot(model) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of the weights and of the optimizer's state (its moments, momentum and step
    count would be NaN after a diverged step, and poison every later ``fit``)."""
    return model.get_weights(), model.optimizer.state_dict()


def _restore(model, snapshot: tuple[dict[str, Any], dict[str, Any]]) -> None:
    weights, optimizer_state = snapshot
    model.set_weights(weights)
    optimizer = model.optimizer
    scheduled = optimizer.lr == optimizer.scheduled_lr
    optimizer.load_state_dict(optimizer_state)  # also puts back the lr of that moment
    if scheduled:  # still a schedule's lr, not one the user set: a later fit starts from base_lr
        optimizer.scheduled_lr = optimizer.lr


def _trained_outputs(model, xb: Any, yb: Any, start: int) -> Any | None:
    """The outputs of the weights after the last update on the last batch (``xb``
    preprocessed, and already through layers ``:start``), or ``None`` when they give a
    non-finite loss (the last update diverged)."""
    with quiet_float_errors():
        out = model.forward(xb, start=start)
        loss = float(model.loss.forward(out, yb)) + model.regularization_loss()
    return out if math.isfinite(loss) and bool(array_module(out).isfinite(out).all()) else None


def _restore_after_non_finite(model, loss: float, epoch: int, batch: int, initial_epoch: int,
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


def _record_summary(model, history: History, started: float) -> None:
    """``model.training_summary`` (saved in model files, a ModelCheckpoint's too) as of the
    last epoch recorded. What the caller put there before ``fit`` stays (a run's data set);
    a summary of an earlier training does not (see :func:`fit`)."""
    model.training_summary = {**model.training_summary, "epochs": len(history),
                              "seconds": time.perf_counter() - started,
                              "final": history.last() if len(history) else {}}


def _last_update_diverged(model, epoch: int, batches: int,
                           snapshots: list[tuple[dict[str, Any], dict[str, Any]]]) -> NonFiniteLossError:
    """The last update of ``epoch`` (0-based) made the loss non-finite: put back the weights
    from the start of that epoch; the error that says so."""
    _restore(model, snapshots[1])
    return NonFiniteLossError(
        f"the last update of epoch {epoch + 1} made the loss non-finite; training stopped and "
        f"the model keeps {weights_after(epoch)}, the last known to give a finite loss (try "
        "a smaller learning rate)", epoch=epoch + 1, batch=batches, kept_epoch=epoch)


def _end_after_non_finite(model, history: History, cbs: CallbackList, error: NonFiniteLossError,
                          started: float) -> None:
    """End a training the NaN guard stopped (``error``; the model holds the weights it
    kept): the history is cut to those weights' epochs, and the callbacks' ``on_train_end``
    runs with the last kept epoch's logs and ``error``, ``kept_epoch`` (a Checkpointer saves
    that state; EarlyStopping may put back an earlier best epoch's weights, which the error
    then names; a callback that fails there is named in the error, which is still raised)."""
    history.cut(error.kept_epoch)
    _record_summary(model, history, started)
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


def _validation(model, x: Any, y: Any, validation_split: float | None,
                validation_data: tuple[Any, Any] | None) -> tuple[Any, Any, Any, Any]:
    """``(x, y, x_val, y_val)``: ``validation_data`` checked as ``x, y`` are, or a stratified
    ``validation_split`` of ``(x, y)`` seeded by the model (the same samples in every call),
    or no validation data (``None, None``)."""
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a pair (x_val, y_val), got "
                              f"{type(validation_data).__name__}"
                              + (f" of {len(validation_data)}" if isinstance(validation_data, (tuple, list))
                                 else ""))
        x_val, y_val = validation_data
        x_val, _ = model.check_input(x_val)
        y_val = model.check_labels(x_val, y_val)
        check_finite(x_val, "validation_data's x", model.dtype)
        return x, y, x_val, y_val
    if validation_split is not None:
        train_idx, val_idx = stratified_split(y, validation_split, np.random.default_rng(model.split_seed))
        return x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    return x, y, None, None


def _training_batch(model, xb: Any, augment: Augment | None) -> Any:
    """Raw samples ``xb`` (uint8 images) as the model trains on them: augmented, then
    preprocessed (``(x * scale - mean) / std``, on the model's device)."""
    if augment is not None:
        # augmentations are NumPy functions: a batch given on the GPU is augmented on the host
        xb = augment(to_numpy(xb), model.train_rng)
    return model.preprocess(xb)


class _RunningMeans:
    """The epoch's running mean loss (and accuracy) over the batches seen so far, as the
    progress bar shows them and as the epoch logs them (Keras' training metrics)."""

    def __init__(self, classes_of: Callable[[Any], Any], track_accuracy: bool) -> None:
        self.classes_of, self.track_accuracy = classes_of, track_accuracy  # Sequential.classes_of
        self.total_loss, self.correct, self.seen = 0.0, 0, 0

    def add(self, loss: float, out: Any, yb: Any) -> None:
        """One batch: its mean ``loss``, its outputs ``out: (n, C)`` and labels ``yb: (n,)``."""
        n = len(yb)
        self.total_loss += loss * n
        self.correct += int((self.classes_of(out) == yb.reshape(-1)).sum())
        self.seen += n

    def means(self, reset: bool = False) -> dict[str, float]:
        """``{"loss", "accuracy"}`` so far; ``reset`` starts the next epoch afresh."""
        logs = {"loss": self.total_loss / self.seen,
                **({"accuracy": self.correct / self.seen} if self.track_accuracy else {})}
        if reset:
            self.total_loss, self.correct, self.seen = 0.0, 0, 0
        return logs


#: a last batch of at least this many samples, this share of them in other classes than
#: the one the model answers for all, and outputs that vary this little (logits) across
#: them: the model has collapsed to one class. An undertrained model (one epoch) answers
#: one class too at times, but its outputs still vary with the input by far more.
COLLAPSE_BATCH, COLLAPSE_OTHERS, COLLAPSE_SPREAD = 16, 0.25, 0.01


def _warn_if_one_class_for_all(model, out: Any, yb: Any) -> None:
    """A warning when, after training, the model answers one class for every sample of its
    last batch (outputs ``out`` of the last epoch's weights, labels ``yb``), with outputs
    that hardly vary, although a quarter or more of them are of other classes: its hidden
    units pass on almost nothing (dead ReLUs), so it answers that class whatever the input.
    Without it, such a run ends at the accuracy of the commoner class with no word of why
    (a learning rate 100 times too big, raw pixels). A training step's own outputs would not
    do: they come from before its update."""
    if len(yb) < COLLAPSE_BATCH:
        return
    out = backend.to_numpy(out)
    answers = backend.to_numpy(model.classes_of(out))
    others = float((backend.to_numpy(yb).reshape(-1) != answers[0]).mean())
    spread = float((out.max(axis=0) - out.min(axis=0)).max())
    if (answers == answers[0]).all() and others >= COLLAPSE_OTHERS and spread < COLLAPSE_SPREAD:
        k = int(answers[0])
        name = repr(model.class_names[k]) if model.class_names else str(k)
        warnings.warn(f"after training, the model answers class {name} for every sample of its "
                      f"last batch, though {others:.0%} of them are of other classes: it "
                      "has collapsed to one class (its hidden units pass on almost nothing). Usual "
                      "causes: a learning rate too large, unscaled inputs, initial weights too small "
                      "(normal:0.01 in a deep net) or few hidden units (two ReLUs can both die)",
                      CollapsedModelWarning, stacklevel=user_stacklevel())


#: training inputs whose scale fit looks at (enough to see raw or twice-scaled pixels)
SCALE_SAMPLE = 256


def _warn_about_input_scale(model, x: Any) -> None:
    """A warning when the first inputs, preprocessed, look like raw pixels or pixels
    scaled twice (:func:`glassnet.inputs.input_scale_problem`). Only their extremes per
    channel are computed: a float copy of 256 big photos would take gigabytes."""
    sample = x[:SCALE_SAMPLE]
    axes = (0, *range(2, sample.ndim))  # all but the channels (features)
    lows, highs = (backend.to_numpy(sample.min(axis=axes)), backend.to_numpy(sample.max(axis=axes)))
    problem = inputs.input_scale_problem(lows.astype(np.float64), highs.astype(np.float64),
                                         model.preprocessing, integers=sample.dtype.kind in "biu")
    if problem is not None:
        warnings.warn(problem, GlassnetWarning, stacklevel=user_stacklevel())


@dataclass
class _Fit:
    """One fit: its checked arguments (:func:`_checked_arguments`) and the state its epochs
    share (set by :func:`_begin_training`, then by each epoch)."""

    model: Any  # a compiled Sequential
    x: Any  # training inputs (N, *input_shape), without the validation split's samples
    y: Any  # their labels (N,)
    x_val: Any | None  # validation inputs, or None without validation
    y_val: Any | None
    epochs: int  # index of the last epoch to run
    initial_epoch: int
    batch_size: int | None  # None: full batch
    shuffle: bool
    augment: Augment | None
    threads: int
    schedule: schedules_mod.Schedule | None
    base_lr: float  # the lr the schedule scales (see _schedule_base)
    callbacks: list[Callback]  # the user's, checked
    verbose: int
    log_every: int | None
    history: History = field(init=False)
    cbs: CallbackList = field(init=False)  # the callbacks with the progress bar
    min_batch: int = field(init=False)
    # Weights at the start of the previous and of the current epoch (see _begin_training).
    snapshots: list[tuple[dict[str, Any], dict[str, Any]]] = field(init=False)
    full_batch: Any | None = field(init=False, default=None)  # preprocessed once (see _begin_training)
    start: int = field(init=False, default=0)  # the layers full_batch has been through (else 0)
    started: float = field(init=False)  # time.perf_counter() at the start of training
    running: _RunningMeans = field(init=False)
    xb: Any | None = field(init=False, default=None)  # the last batch (preprocessed)
    yb: Any | None = field(init=False, default=None)  # its labels
    trained_out: Any | None = field(init=False, default=None)  # the trained weights' outputs on xb

    def stopped(self, error: NonFiniteLossError) -> NonFiniteLossError:
        """The NaN guard's ``error``, once the training it stopped has ended (the model holds
        the weights it kept)."""
        _end_after_non_finite(self.model, self.history, self.cbs, error, self.started)
        return error


def fit(model, x: Any, y: Any, epochs: int = 1, batch_size: int | None = 32,
        validation_split: float | None = None,
        validation_data: tuple[Any, Any] | None = None, shuffle: bool = True,
        callbacks: Sequence[Callback] | None = (), verbose: int = 1,
        lr_schedule: schedules_mod.Schedule | str | None = None, augment: Augment | None = None,
        initial_epoch: int = 0, log_every: int | None = None, threads: int | None = None) -> History:
    """Train ``model`` on ``(x, y)``.

    Args:
        x: inputs ``(N, *input_shape)``; each batch goes through the model's
            ``preprocessing`` (default scale 1: give uint8 pixels ``scale=1/255``; a warning
            says when the inputs look unscaled or scaled twice).
        y: labels ``(N,)`` (class indices) or ``(N, C)`` one-hot.
        epochs: index of the last epoch to run (with ``initial_epoch``, as in Keras).
        batch_size: samples per update; ``None`` or ``"full"`` = full batch (no shuffling).
        validation_split: fraction of ``(x, y)`` held out, stratified and seeded by the
            model's seed: the same samples in every ``fit`` call on the same ``(x, y)`` (a
            resumed run too); ignored when ``validation_data`` is given.
        validation_data: ``(x_val, y_val)`` evaluated after each epoch.
        callbacks: :class:`Callback` objects (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, ...).
        verbose: 0 silent, 1 progress bar (lines when not a terminal), 2 lines only (every
            ``log_every``-th epoch, the first and the last); ``"auto"`` (Keras' default) is 1.
        lr_schedule: a :mod:`glassnet.schedules` object or name (``"cosine"`` and ``"onecycle"``
            span the ``epochs`` of this call); the lr is logged as ``lr``.
        augment: ``augment(batch, rng) -> batch`` applied to raw training batches only.
        log_every: in line mode, print every n-th epoch (default: about 100 lines in all).
        threads: CPU threads each batch is split over (data-parallel, see
            :mod:`glassnet.training.shards`; the result equals an unsplit step's to float
            rounding); default :func:`glassnet.backend.get_threads`, 1 unless set.

    Returns the model's :class:`History` (also ``model.history``). If the loss becomes NaN
    or infinite, the last weights known to give a finite loss are restored and a
    :class:`NonFiniteLossError` says at which epoch and batch, and which weights it kept
    (``kept_epoch``).
    """
    run = _checked_arguments(model, x, y, epochs, batch_size, validation_split, validation_data,
                             shuffle, callbacks, verbose, lr_schedule, augment, initial_epoch,
                             log_every, threads)
    _begin_training(run)
    for epoch in range(run.initial_epoch, run.epochs):
        run.cbs.on_epoch_begin(epoch, {})
        steps = _train_one_epoch(run, epoch)
        logs = _end_of_epoch_logs(run, epoch, steps)  # after the NaN guard's check
        run.history.append(epoch, logs)
        _record_summary(model, run.history, run.started)  # current for a ModelCheckpoint's file
        run.cbs.on_epoch_end(epoch, logs)
        run.history.add_late(logs)  # what a callback added (val_f1, ...), as Keras' History has it
        if model.stop_training:
            _check_before_a_callbacks_stop(run, epoch, steps)
            break
        run.snapshots = [run.snapshots[1], _snapshot(model)]
    _end_training(run)
    return run.history


def _checked_arguments(model, x: Any, y: Any, epochs: int, batch_size: int | None,
                       validation_split: float | None, validation_data: tuple[Any, Any] | None,
                       shuffle: bool, callbacks: Sequence[Callback] | None, verbose: int,
                       lr_schedule: schedules_mod.Schedule | str | None, augment: Augment | None,
                       initial_epoch: int, log_every: int | None, threads: int | None) -> _Fit:
    """:func:`fit`'s arguments, checked (a :class:`ConfigError` for a bad one), with the
    validation data split off and the schedule made; nothing of the model's changed yet."""
    model._require_compiled()
    epochs = check_positive_int(epochs, "epochs")
    initial_epoch = check_non_negative_int(initial_epoch, "initial_epoch")
    check_flag(shuffle, "shuffle")  # "no" would shuffle: any non-empty string is true
    verbose = check_verbose(verbose)
    log_every = None if log_every is None else check_positive_int(log_every, "log_every")
    batch_size = check_batch_size(batch_size)
    x, _ = model.check_input(x)
    require_labels(y, "fit")
    y = model.check_labels(x, y)
    check_finite(x, "x", model.dtype)
    _warn_about_input_scale(model, x)
    callbacks = _check_callbacks(callbacks)
    threads = backend.get_threads() if threads is None else check_positive_int(threads, "threads")
    x, y, x_val, y_val = _validation(model, x, y, validation_split, validation_data)
    schedule = schedules_mod.for_run(lr_schedule, epochs)
    base_lr = _schedule_base(model.optimizer)  # recorded on the optimizer once the fit is checked
    _check_schedule(schedule, base_lr, initial_epoch, epochs)
    return _Fit(model=model, x=x, y=y, x_val=x_val, y_val=y_val, epochs=epochs,
                initial_epoch=initial_epoch, batch_size=batch_size, shuffle=shuffle, augment=augment,
                threads=threads, schedule=schedule, base_lr=base_lr, callbacks=callbacks,
                verbose=verbose, log_every=log_every)


def _begin_training(run: _Fit) -> None:
    """Set up ``run``'s training (its history, callbacks, lr, first snapshots, the full
    batch) and call the callbacks' ``on_train_begin``."""
    model = run.model
    if model.history is None or not model.history.continues_at(run.initial_epoch):
        model.history = History()  # a resumed run (initial_epoch right after it) continues it
    run.history = model.history
    run.min_batch = model.min_batch()
    steps = len(batch_indices(len(run.x), run.batch_size, None, run.min_batch))
    all_callbacks: list[Callback] = list(run.callbacks)
    if run.verbose:
        # last, so that it shows what other callbacks logged and prints the epoch at which
        # one of them (early stopping) stopped training
        all_callbacks.append(ProgressBar(run.epochs, steps, run.verbose, log_every=run.log_every))
    run.cbs = CallbackList(all_callbacks, model)
    model.optimizer.base_lr = run.base_lr
    model.optimizer.schedule_running = run.schedule is not None  # a checkpoint records it
    if run.schedule is None:  # no schedule means a constant lr: the base, not an earlier fit's last
        model.optimizer.lr = run.base_lr
        # nor is that lr a schedule's any more: what a callback sets (ReduceLROnPlateau) stays
        # for the next fit, even when it equals an earlier schedule's last lr (0.1 * 0.1)
        model.optimizer.scheduled_lr = None
    model.stop_training = False
    # Weights at the start of the previous and of the current epoch: when the loss turns
    # non-finite on an epoch's first batch, the current epoch's starting weights are
    # already bad, and the previous epoch's are the last ones known to give a finite loss.
    run.snapshots = [_snapshot(model)] * 2
    # A full batch without augmentation is the same array every epoch: preprocess it, and
    # run the leading parameter-free layers (e.g. Flatten) on it, once. It costs no more
    # memory than the one batch each epoch would hold anyway.
    if run.batch_size is None and run.augment is None:
        run.start = model.fixed_prefix()
        run.full_batch = model.forward(model.preprocess(run.x), stop=run.start)
    run.started = time.perf_counter()
    if "epochs" in model.training_summary:  # an earlier training's summary: not this one's
        model.training_summary = {}
    track_accuracy = "accuracy" in model.metrics
    run.running = _RunningMeans(model.classes_of, track_accuracy)
    metric_names = ["loss", *(["accuracy"] if track_accuracy else [])]
    logged = [*metric_names, *([f"val_{m}" for m in metric_names] if run.x_val is not None else []), "lr"]
    run.cbs.on_train_begin({"initial_epoch": run.initial_epoch, "epochs": run.epochs, "steps": steps,
                            "logged": logged})


def _train_one_epoch(run: _Fit, epoch: int) -> int:
    """The updates of ``epoch`` (0-based), batch by batch, each lr as the schedule sets it;
    the number of batches. ``run.xb, run.yb`` are left holding the last batch."""
    model = run.model
    # Each batch split over the threads when there are several (training/shards.py);
    # asked each epoch, so that a callback's change to a layer reaches the replicas.
    train_step = sharded(model, ShardedStep, run.threads) or model.train_step
    batches = batch_indices(len(run.x), run.batch_size,
                            model.train_rng if run.shuffle and run.batch_size else None, run.min_batch)
    for b, idx in enumerate(batches):
        if run.schedule is not None and (run.schedule.per_batch or b == 0):
            t = epoch + b / len(batches) if run.schedule.per_batch else epoch
            model.optimizer.lr = model.optimizer.scheduled_lr = run.schedule(t, run.base_lr)
        run.xb = (run.full_batch if run.full_batch is not None
                  else _training_batch(model, run.x[idx], run.augment))
        run.yb = model.on_device(run.y[idx])
        # The NaN guard below handles any overflow or NaN; NumPy's warnings would be noise.
        with quiet_float_errors():
            loss, out = train_step(run.xb, run.yb, start=run.start)
        if not math.isfinite(loss):
            raise run.stopped(_restore_after_non_finite(model, loss, epoch, b, run.initial_epoch,
                                                        run.snapshots))
        run.running.add(loss, out, run.yb)
        run.cbs.on_batch_end(b, run.running.means())
    return len(batches)


def _checks_by_a_forward_pass(run: _Fit, epoch: int, steps: int) -> bool:
    """Whether the end of ``epoch`` (``steps`` batches) checks its last update by one forward
    pass over the last batch (see :func:`_end_of_epoch_logs`)."""
    return run.x_val is None and (steps > 1 or epoch == run.epochs - 1)


def _end_of_epoch_logs(run: _Fit, epoch: int, steps: int) -> dict[str, float]:
    """The logs of ``epoch`` (``steps`` batches): the running means, the validation loss and
    metrics, the lr; once the NaN guard has checked the epoch's last update."""
    model = run.model
    # Each batch's loss is computed before its update, so the next epoch would catch a
    # last update that diverged, but the callbacks come first (a checkpoint saved, a stop):
    # every epoch checks it before them, by the validation loss (finite inputs: finite
    # unless the weights diverged) or one forward pass over the last batch. Full-batch
    # training without validation checks only after its last epoch: that pass would cost
    # a third of each epoch (a callback that stops such a run is checked after it).
    forward_check = _checks_by_a_forward_pass(run, epoch, steps)
    run.trained_out = _trained_outputs(model, run.xb, run.yb, run.start) if forward_check else None
    if forward_check and run.trained_out is None:
        raise run.stopped(_last_update_diverged(model, epoch, steps, run.snapshots))
    logs = run.running.means(reset=True)
    if run.x_val is not None:
        with backend.using_threads(run.threads), quiet_float_errors():  # fit's threads
            logs.update({f"val_{k}": v for k, v in model.evaluate(run.x_val, run.y_val).items()})
        if not math.isfinite(logs["val_loss"]):
            raise run.stopped(_last_update_diverged(model, epoch, steps, run.snapshots))
    logs["lr"] = model.optimizer.lr
    return logs


def _check_before_a_callbacks_stop(run: _Fit, epoch: int, steps: int) -> None:
    """A callback stopped training after ``epoch`` (``steps`` batches): a full-batch run
    without validation ends here, unchecked (see :func:`_end_of_epoch_logs`): check now."""
    if not _checks_by_a_forward_pass(run, epoch, steps) and run.x_val is None:
        run.trained_out = _trained_outputs(run.model, run.xb, run.yb, run.start)
        if run.trained_out is None:
            raise run.stopped(_last_update_diverged(run.model, epoch, steps, run.snapshots))


def _end_training(run: _Fit) -> None:
    """Record the summary, call the callbacks' ``on_train_end``, and warn if the trained
    model answers one class for all."""
    _record_summary(run.model, run.history, run.started)
    run.cbs.on_train_end(run.history.last() if len(run.history) else {})
    if run.xb is not None:  # (no epoch ran: nothing to judge)
        if run.trained_out is None:  # with validation the last batch was not passed again
            run.trained_out = run.model.forward(run.xb, start=run.start)
        _warn_if_one_class_for_all(run.model, run.trained_out, run.yb)
