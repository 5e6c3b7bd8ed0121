"""What :func:`glassnet.training.loop.fit` was given, checked: the arguments (a
:class:`ConfigError` for a bad one), the validation data or split, the lr schedule; and
the warnings about the data it trains on (inputs that look unscaled or scaled twice) and
about what it trained (a model that answers one class for all).

The loop (:mod:`glassnet.training.loop`) calls these before its first epoch and after its
last; ``check_batch_size`` and ``check_finite`` serve evaluate and predict too.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend, inputs
from .. import schedules as schedules_mod
from .._checks import check_number
from ..backend import array_module
from ..errors import CollapsedModelWarning, ConfigError, GlassnetWarning, ShapeError, user_stacklevel
from ..split import stratified_split
from .callbacks import Callback

if TYPE_CHECKING:
    from ..model import Sequential
    from ..optimizers import Optimizer


def check_batch_size(batch_size: Any) -> int | None:
    """``batch_size`` as the fit loop takes it: a positive integer, or None for full batch."""
    if batch_size is None or batch_size == "full":
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer or None (full batch), got {batch_size!r}")
    return int(batch_size)


def check_callbacks(callbacks: Sequence[Callback] | None) -> list[Callback]:
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


def check_finite(x: Any, what: str, dtype: Any, preprocessing: dict[str, Any] | None = None) -> None:
    """Floating-point inputs must be finite, and stay finite as the model's ``dtype``, and
    after the model's ``preprocessing`` too when it is given: in training a NaN pixel would
    make the NaN guard blame the weights; in evaluate it would count as a wrong (or right)
    answer, silently."""
    if np.issubdtype(x.dtype, np.floating):
        xp = array_module(x)
        if not xp.isfinite(x).all():
            raise ConfigError(f"{what} holds NaN or infinite values; clean the data first (a NaN "
                              "input gives NaN outputs and losses whatever the weights)")
        largest = float(np.finfo(dtype).max)
        # float(): compared as NumPy scalars, float64's max would be cast to float32 (a warning)
        wider = float(np.finfo(x.dtype).max) > largest
        # max and min, not abs: no temporary the size of x (finite values: no NaN to skip)
        if wider and x.size and (float(x.max()) > largest or float(x.min()) < -largest):
            raise ConfigError(f"{what} holds values beyond {np.dtype(dtype).name}'s range "
                              f"(±{largest:.3g}), the model's: they would become infinite; scale the "
                              "data first")
    if preprocessing is not None:  # (after: an infinite pixel is the data's fault, not theirs)
        check_preprocessed_range(x, what, dtype, preprocessing)


def check_preprocessed_range(x: Any, what: str, dtype: Any, preprocessing: dict[str, Any]) -> None:
    """``x: (N, C, ...)`` after ``(x * scale - mean) / std`` must stay within ``dtype``'s
    range (a scale of 1e38 on pixels makes them infinite, and the NaN guard would blame the
    initial weights). The formula is monotonic per channel, so the channels' extremes tell:
    two reductions, no copy of ``x``, whose values are finite (:func:`check_finite`)."""
    identity = preprocessing["scale"] == 1 and preprocessing["mean"] is None and preprocessing["std"] is None
    if identity or not x.size or x.ndim < 2:
        return
    axes = (0, *range(2, x.ndim))  # all but the channels (features)
    lows, highs = (backend.to_numpy(x.min(axis=axes)), backend.to_numpy(x.max(axis=axes)))
    largest = inputs.largest_preprocessed(lows.astype(np.float64), highs.astype(np.float64), preprocessing)
    limit = float(np.finfo(dtype).max)
    if largest > limit:
        raise ConfigError(f"{what} reaches {largest:.3g} after the model's preprocessing (x * scale - "
                          f"mean) / std, beyond {np.dtype(dtype).name}'s range (±{limit:.3g}), the "
                          f"model's: it would become infinite; check the preprocessing values")


def schedule_base(optimizer: Optimizer) -> float:
    """The lr a schedule scales in this fit: the earlier base while ``optimizer.lr`` is still
    the last lr a schedule set (a continued or repeated run), else the lr as it is now
    (the user chose a new one, or no schedule ran yet)."""
    if optimizer.base_lr is not None and optimizer.lr == optimizer.scheduled_lr:
        return optimizer.base_lr
    return optimizer.lr


# the schedules that span a run of their own epochs (made by name, they span fit's)
SPANNING_SCHEDULES = (schedules_mod.CosineDecay, schedules_mod.OneCycle)


def check_schedule(schedule: schedules_mod.Schedule | None, base_lr: float, initial_epoch: int,
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


def validation(model: Sequential, x: Any, y: Any, validation_split: float | None,
                validation_data: tuple[Any, Any] | None) -> tuple[Any, Any, Any, Any]:
    """``(x, y, x_val, y_val)``: ``validation_data`` checked as ``x, y`` are, or a stratified
    ``validation_split`` of ``(x, y)`` seeded by the model (the same samples in every call),
    or no validation data (``None, None``)."""
    if validation_data is not None:
        if inputs.is_dataset(validation_data) or (isinstance(validation_data, (tuple, list))
                                                  and any(map(inputs.is_dataset, validation_data))):
            raise ConfigError("validation_data takes the arrays of a Dataset: write "
                              "validation_data=(val.x, val.y)")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a pair (x_val, y_val), got "
                              f"{type(validation_data).__name__}"
                              + (f" of {len(validation_data)}" if isinstance(validation_data, (tuple, list))
                                 else ""))
        x_val, y_val = validation_data
        try:
            x_val, _ = model.check_input(x_val)
            y_val = model.check_labels(x_val, y_val)
        except (ConfigError, ShapeError) as exc:  # they speak of x and y: say which pair
            raise type(exc)(f"validation_data (x_val, y_val): {exc}") from None
        check_finite(x_val, "validation_data's x", model.dtype, model.preprocessing)
        return x, y, x_val, y_val
    if validation_split is not None:
        # 0, Keras' default, holds nothing out
        validation_split = check_number(validation_split, "validation_split", 0, 1, low_inclusive=True)
    if validation_split:
        train_idx, val_idx = stratified_split(y, validation_split, np.random.default_rng(model.split_seed))
        return x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    return x, y, None, None


#: a last batch of at least this many samples, this share of them in other classes than
#: the one the model answers for all, and outputs that vary this little (logits) across
#: them: the model has collapsed to one class. An undertrained model (one epoch) answers
#: one class too at times, but its outputs still vary with the input by far more.
COLLAPSE_BATCH, COLLAPSE_OTHERS, COLLAPSE_SPREAD = 16, 0.25, 0.01


def warn_if_one_class_for_all(model: Sequential, out: Any, yb: Any) -> None:
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


def warn_about_input_scale(model: Sequential, x: Any) -> None:
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
