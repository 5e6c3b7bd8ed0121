"""The fit loop: :func:`fit` and the epochs and batches it runs, top to bottom.

Its arguments are checked first (:mod:`glassnet.training.fit_checks`, which also holds the
warnings about the data and about a model that collapsed to one class); each epoch then
shuffles and batches the data, sets the lr a schedule gives, takes the training steps
(split over threads by :mod:`glassnet.training.shards`), validates, and calls the
callbacks. The NaN guard (:mod:`glassnet.training.nan_guard`) keeps the last weights
known to give a finite loss and ends the training with them when the loss turns
non-finite.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend
from .. import schedules as schedules_mod
from .._checks import check_flag, check_non_negative_int, check_positive_int, require_labels
from ..backend import to_numpy
from ..errors import NonFiniteLossError
from . import nan_guard
from .callbacks import Callback, CallbackList
from .class_weights import class_weight_vector, sample_weights
from .fit_checks import (
    check_batch_size,
    check_callbacks,
    check_finite,
    check_schedule,
    schedule_base,
    validation,
    warn_about_input_scale,
    warn_if_one_class_for_all,
)
from .history import History
from .progress import ProgressBar, check_verbose
from .shards import ShardedStep, sharded

if TYPE_CHECKING:
    from ..model import Sequential

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


def _record_summary(model, history: History, started: float) -> None:
    """``model.training_summary`` (saved in model files, a ModelCheckpoint's too) as of the
    last epoch recorded. What the caller put there before ``fit`` stays (a run's data set);
    a summary of an earlier training does not (see :func:`fit`)."""
    model.training_summary = {**model.training_summary, "epochs": len(history),
                              "seconds": time.perf_counter() - started,
                              "final": history.last() if len(history) else {}}



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
        if self.track_accuracy:  # (on a GPU the read waits for the whole step: not for nothing)
            self.correct += int((self.classes_of(out) == yb.reshape(-1)).sum())
        self.seen += n

    def means(self, reset: bool = False) -> dict[str, float]:
        """``{"loss", "accuracy"}`` so far; ``reset`` starts the next epoch afresh."""
        logs = {"loss": self.total_loss / self.seen,
                **({"accuracy": self.correct / self.seen} if self.track_accuracy else {})}
        if reset:
            self.total_loss, self.correct, self.seen = 0.0, 0, 0
        return logs


@dataclass
class _Fit:
    """One fit: its checked arguments (:func:`_checked_arguments`) and the state its epochs
    share (set by :func:`_begin_training`, then by each epoch)."""

    model: Any  # a compiled Sequential
    x: Any  # training inputs (N, *input_shape), without the validation split's samples
    y: Any  # their labels (N,)
    weights: np.ndarray | None  # their weights (N,) (class_weight), as the model's dtype, or None
    x_val: Any | None  # validation inputs, or None without validation
    y_val: Any | None
    epochs: int  # index of the last epoch to run
    initial_epoch: int
    batch_size: int | None  # None: full batch
    shuffle: bool
    augment: Augment | None
    threads: int
    schedule: schedules_mod.Schedule | None
    base_lr: float  # the lr the schedule scales (see fit_checks.schedule_base)
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
    wb: Any | None = field(init=False, default=None)  # its sample weights (None: unweighted)
    trained_out: Any | None = field(init=False, default=None)  # the trained weights' outputs on xb

    @property
    def trains_nothing(self) -> bool:
        """``initial_epoch`` not below ``epochs`` (Keras' ``epochs=0``): the callbacks run and
        the history starts afresh, as in Keras, but the model's lr and training summary stay
        as they are (a model saved next must not read as untrained)."""
        return self.initial_epoch >= self.epochs

    def stopped(self, error: NonFiniteLossError) -> NonFiniteLossError:
        """The NaN guard's ``error``, once the training it stopped has ended (the model holds
        the weights it kept): the history cut to those weights' epochs, the summary recorded,
        the callbacks ended (:func:`nan_guard.end_after_non_finite`)."""
        self.history.cut(error.kept_epoch)
        _record_summary(self.model, self.history, self.started)
        nan_guard.end_after_non_finite(self.history, self.cbs, error)
        return error


def fit(model: Sequential, x: Any, y: Any, epochs: int = 1, batch_size: int | None = 32,
        validation_split: float | None = None,
        validation_data: tuple[Any, Any] | None = None, shuffle: bool = True,
        callbacks: Sequence[Callback] | None = (), verbose: int = 1,
        lr_schedule: schedules_mod.Schedule | str | None = None, augment: Augment | None = None,
        initial_epoch: int = 0, log_every: int | None = None, threads: int | None = None,
        class_weight: dict[int, float] | str | None = None) -> History:
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
        class_weight: weights of the classes in the training loss, as in Keras:
            ``{class_index: weight}`` (classes not named weigh 1) or ``"balanced"``
            (``n_samples / (n_classes * count_c)``, counted on the training samples left after
            ``validation_split``). Each sample's loss is multiplied by its class's weight and
            the batch's loss is ``sum_i w_i l_i / N`` (:mod:`glassnet.losses`). Only the
            training loss (``loss`` in the history, and the gradients) is weighted: ``val_loss``,
            ``evaluate`` and every metric stay unweighted, as in Keras.

    Returns the model's :class:`History` (also ``model.history``). If the loss becomes NaN
    or infinite, the last weights known to give a finite loss are restored and a
    :class:`NonFiniteLossError` says at which epoch and batch, and which weights it kept
    (``kept_epoch``).
    """
    run = _checked_arguments(model, x, y, epochs, batch_size, validation_split, validation_data,
                             shuffle, callbacks, verbose, lr_schedule, augment, initial_epoch,
                             log_every, threads, class_weight)
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
        run.snapshots = [run.snapshots[1], nan_guard.snapshot(model)]
    _end_training(run)
    return run.history


def _checked_arguments(model, x: Any, y: Any, epochs: int, batch_size: int | None,
                       validation_split: float | None, validation_data: tuple[Any, Any] | None,
                       shuffle: bool, callbacks: Sequence[Callback] | None, verbose: int,
                       lr_schedule: schedules_mod.Schedule | str | None, augment: Augment | None,
                       initial_epoch: int, log_every: int | None, threads: int | None,
                       class_weight: dict[int, float] | str | None = None) -> _Fit:
    """:func:`fit`'s arguments, checked (a :class:`~glassnet.errors.ConfigError` for a bad one), with the
    validation data split off and the schedule made; nothing of the model's changed yet."""
    model._require_compiled()
    epochs = check_non_negative_int(epochs, "epochs")  # 0, as in Keras: nothing to train
    initial_epoch = check_non_negative_int(initial_epoch, "initial_epoch")
    check_flag(shuffle, "shuffle")  # "no" would shuffle: any non-empty string is true
    verbose = check_verbose(verbose)
    log_every = None if log_every is None else check_positive_int(log_every, "log_every")
    batch_size = check_batch_size(batch_size)
    x, _ = model.check_input(x)
    require_labels(y, "fit")
    y = model.check_labels(x, y)
    check_finite(x, "x", model.dtype, model.preprocessing)
    warn_about_input_scale(model, x)
    callbacks = check_callbacks(callbacks)
    threads = backend.get_threads() if threads is None else check_positive_int(threads, "threads")
    x, y, x_val, y_val = validation(model, x, y, validation_split, validation_data)
    # "balanced" counts the classes of the samples trained on: never the validation ones
    weights = class_weight_vector(class_weight, y, model.num_classes, model.class_names, model.dtype)
    schedule = schedules_mod.for_run(lr_schedule, epochs)
    base_lr = schedule_base(model.optimizer)  # recorded on the optimizer once the fit is checked
    check_schedule(schedule, base_lr, initial_epoch, epochs)
    return _Fit(model=model, x=x, y=y, weights=sample_weights(weights, y, model.dtype),
                x_val=x_val, y_val=y_val, epochs=epochs,
                initial_epoch=initial_epoch, batch_size=batch_size, shuffle=shuffle, augment=augment,
                threads=threads, schedule=schedule, base_lr=base_lr, callbacks=callbacks,
                verbose=verbose, log_every=log_every)


def _start_the_lr(run: _Fit) -> None:
    """The optimizer's lr for this fit: its schedule's base, recorded; without a schedule
    the lr is that base (see :func:`~glassnet.training.fit_checks.schedule_base`)."""
    optimizer = run.model.optimizer
    optimizer.base_lr = run.base_lr
    optimizer.schedule_running = run.schedule is not None  # a checkpoint records it
    if run.schedule is None:  # no schedule means a constant lr: the base, not an earlier fit's last
        # (setting lr also marks it no schedule's: what a callback sets, ReduceLROnPlateau,
        # stays for the next fit, even when it equals an earlier schedule's last lr, 0.1 * 0.1)
        optimizer.lr = run.base_lr


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
    # Keras' History and callbacks carry the fit's settings and the model as these
    run.history.params = {"verbose": run.verbose, "epochs": run.epochs, "steps": steps}
    run.history.model = model
    run.cbs = CallbackList(all_callbacks, model, run.history.params)
    if not run.trains_nothing:
        _start_the_lr(run)
    model.stop_training = False
    # Weights at the start of the previous and of the current epoch: when the loss turns
    # non-finite on an epoch's first batch, the current epoch's starting weights are
    # already bad, and the previous epoch's are the last ones known to give a finite loss.
    run.snapshots = [nan_guard.snapshot(model)] * 2
    # A full batch without augmentation is the same array every epoch: preprocess it, and
    # run the leading parameter-free layers (e.g. Flatten) on it, once. It costs no more
    # memory than the one batch each epoch would hold anyway.
    if run.batch_size is None and run.augment is None:
        run.start = model.fixed_prefix()
        run.full_batch = model.forward(model.preprocess(run.x), stop=run.start)
        run.wb = None if run.weights is None else model.on_device(run.weights)
    run.started = time.perf_counter()
    if "epochs" in model.training_summary and not run.trains_nothing:
        model.training_summary = {}  # an earlier training's summary: not this one's
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
            # (in this order: setting lr marks it the user's, scheduled_lr marks it the schedule's)
            model.optimizer.lr = model.optimizer.scheduled_lr = run.schedule(t, run.base_lr)
        run.xb = (run.full_batch if run.full_batch is not None
                  else _training_batch(model, run.x[idx], run.augment))
        run.yb = model.on_device(run.y[idx])
        if run.weights is not None and run.full_batch is None:
            run.wb = model.on_device(run.weights[idx])
        # The NaN guard below handles any overflow or NaN; NumPy's warnings would be noise.
        with nan_guard.quiet_float_errors():
            # (sample weights passed only when given: a subclass's own train_step may not take them)
            loss, out = train_step(run.xb, run.yb, start=run.start,
                                   **({} if run.wb is None else {"sample_weight": run.wb}))
        if not math.isfinite(loss):
            raise run.stopped(nan_guard.restore_after_non_finite(model, loss, epoch, b, run.initial_epoch,
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
    run.trained_out = (nan_guard.trained_outputs(model, run.xb, run.yb, run.start, run.wb)
                       if forward_check else None)
    if forward_check and run.trained_out is None:
        raise run.stopped(nan_guard.last_update_diverged(model, epoch, steps, run.snapshots))
    logs = run.running.means(reset=True)
    if run.x_val is not None:
        with backend.using_threads(run.threads), nan_guard.quiet_float_errors():  # fit's threads
            logs.update({f"val_{k}": v for k, v in model.evaluate(run.x_val, run.y_val).items()})
        if not math.isfinite(logs["val_loss"]):
            raise run.stopped(nan_guard.last_update_diverged(model, epoch, steps, run.snapshots))
    logs["lr"] = model.optimizer.lr
    return logs


def _check_before_a_callbacks_stop(run: _Fit, epoch: int, steps: int) -> None:
    """A callback stopped training after ``epoch`` (``steps`` batches): a full-batch run
    without validation ends here, unchecked (see :func:`_end_of_epoch_logs`): check now."""
    if not _checks_by_a_forward_pass(run, epoch, steps) and run.x_val is None:
        run.trained_out = nan_guard.trained_outputs(run.model, run.xb, run.yb, run.start, run.wb)
        if run.trained_out is None:
            raise run.stopped(nan_guard.last_update_diverged(run.model, epoch, steps, run.snapshots))


def _end_training(run: _Fit) -> None:
    """Record the summary, call the callbacks' ``on_train_end``, and warn if the trained
    model answers one class for all."""
    if not run.trains_nothing:
        _record_summary(run.model, run.history, run.started)
    run.cbs.on_train_end(run.history.last() if len(run.history) else {})
    if run.xb is not None:  # (no epoch ran: nothing to judge)
        if run.trained_out is None:  # with validation the last batch was not passed again
            run.trained_out = run.model.forward(run.xb, start=run.start)
        warn_if_one_class_for_all(run.model, run.trained_out, run.yb)
