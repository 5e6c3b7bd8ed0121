"""Resuming from a checkpoint read by :mod:`glassnet.io.checkpoint_file`: the checks that
the run about to continue is the checkpointed one (same model, loss, optimizer, data,
generators), then its state put back into the model (:func:`restore_training_state`,
which checks everything before it changes anything) and into the run's callbacks
(:func:`restore_callbacks`, called by :class:`glassnet.io.checkpoint.Checkpointer` when
the resumed fit begins).

Restoring all of it makes "train 10 epochs" and "train 4, stop, resume for 6" give the
same weights to the last bit.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.fingerprint import folder_change
from ..errors import DataError, GlassnetWarning, ModelFormatError, WeightMismatchError, user_stacklevel
from ..json_checks import short_list
from ..model import Sequential  # at run time: typing.get_type_hints resolves the hints
from ..model_state import set_weights
from ..training.callbacks import Callback
from ..training.history import History
from .checkpoint_file import (
    CALLBACK_PREFIX,
    OPTIMIZER_PREFIX,
    Checkpoint,
    layer_generators,
    stateful_callbacks,
)
from .format import check_arrays, weight_shapes

if TYPE_CHECKING:
    from ..optimizers import Optimizer


def _optimizer_arrays(ckpt: Checkpoint, model) -> dict[str, np.ndarray]:
    """The optimizer's slot arrays, each checked against the parameter it belongs to, as
    one of this optimizer's slots, and as values a step can leave (no NaN, no negative sum
    of squares)."""
    from ..optimizers import NON_NEGATIVE_SLOTS

    shapes = {name: tuple(p.shape) for name, p, _ in model.parameters()}
    names = model.optimizer.slot_names()
    slots = {}
    for key, value in ckpt.arrays.items():
        if not key.startswith(OPTIMIZER_PREFIX):
            continue
        param, _, slot = key[len(OPTIMIZER_PREFIX):].rpartition("/")
        if param not in shapes or not slot:
            raise WeightMismatchError(f"{ckpt.path}: optimizer array {key!r} belongs to no parameter")
        if slot not in names:  # model files refuse arrays they do not use: so do checkpoints
            raise WeightMismatchError(f"{ckpt.path}: optimizer array {key!r} is none of the "
                                      f"{model.optimizer.name} optimizer's: {short_list(sorted(names))}")
        check_arrays(ckpt.path, {key: shapes[param]}, {key: value}, "its parameter")
        impossible = ("NaN" if np.isnan(value).any() else "negative sums of squares"
                      if slot in NON_NEGATIVE_SLOTS and (value < 0).any() else None)
        if impossible:  # the run would go on to a NaN loss some epochs later
            raise ModelFormatError(f"{ckpt.path}: optimizer array {key!r} holds {impossible}, which "
                                   "no step leaves there; the file is damaged")
        slots[f"{param}/{slot}"] = value
    if ckpt.state["optimizer"]["steps"] > 0:  # after a step every parameter has every slot
        expected = {f"{param}/{slot}" for param in shapes for slot in names}
        missing = sorted(OPTIMIZER_PREFIX + key for key in expected - set(slots))
        if missing:
            raise WeightMismatchError(f"{ckpt.path}: optimizer arrays {short_list(missing)} are missing; "
                                      "without them the run would not continue as it was")
    return slots


def _check_generator_state(path: Path, generator: np.random.Generator, state: Any, what: str) -> None:
    """Try ``state`` on a fresh bit generator of the same kind, so nothing changes on failure."""
    try:
        type(generator.bit_generator)().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise ModelFormatError(f"{path}: the saved state of {what} is invalid ({exc})") from None


def check_same_model(model: Sequential, ckpt: Checkpoint) -> None:
    """The model must be built as the checkpointed one: same architecture, preprocessing,
    classes, dtype (a data set that changed between sessions would change some of them)."""
    saved = ckpt.config.get("model") or {}
    current = json.loads(json.dumps(model.get_config()))
    differ = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if differ:
        details = "; ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {current.get(k)!r} now"
                            for k in differ if k != "layers")
        raise ModelFormatError(f"{ckpt.path}: the model differs from the checkpointed one in "
                               f"{differ} ({details or 'the layers'}); did the data or the code change?")


def check_same_loss(model: Sequential, ckpt: Checkpoint) -> None:
    """The run's loss and L2 strength must be the checkpointed ones: the rest of the run
    would otherwise minimize another function than the first part did."""
    saved = {"loss": ckpt.config.get("loss"), "reg": ckpt.config.get("reg")}
    current = json.loads(json.dumps({"loss": model.loss.get_config(), "reg": model.reg}))
    differ = [key for key in saved if saved[key] is not None and saved[key] != current[key]]
    if differ:
        raise ModelFormatError(f"{ckpt.path}: the model is compiled with "
                               + ", ".join(f"{key} {current[key]!r}" for key in differ)
                               + " but the checkpoint was trained with "
                               + ", ".join(f"{key} {saved[key]!r}" for key in differ))


def check_same_optimizer(path: Path, saved: dict[str, Any], optimizer: Optimizer) -> None:
    """The run's optimizer must be the checkpointed one: same kind and settings (the
    learning rate aside, which the checkpoint restores), or its state would not fit."""
    if saved.get("name") != optimizer.name:
        raise ModelFormatError(f"{path}: the checkpoint's optimizer is {saved.get('name')!r} but the "
                               f"run uses {optimizer.name!r}")
    current = json.loads(json.dumps(optimizer.get_config()))
    differ = sorted(k for k in set(saved) & set(current) - {"lr"} if saved[k] != current[k])
    if differ:
        raise ModelFormatError(f"{path}: the checkpoint's {optimizer.name} optimizer has "
                               + ", ".join(f"{k} {saved[k]!r}" for k in differ) + " but the run's has "
                               + ", ".join(f"{k} {current[k]!r}" for k in differ))


def check_same_data(ckpt: Checkpoint, data: dict[str, Any] | None) -> None:
    """The image folder must hold the files it held when the checkpoint was written (same
    names, sizes and modification times). Named sets (``data`` is ``None``) are checksummed
    downloads, and older checkpoints recorded no fingerprint: nothing to compare then."""
    saved = ckpt.state.get("data")
    if saved is None or data is None:
        return
    change = folder_change(saved, data)
    if change is not None:
        raise DataError(f"{ckpt.path}: the data set {data['root']} changed since the checkpoint was "
                        f"written ({change}): resuming would continue on different data; restore "
                        "the folder or start a new run")


def restore_training_state(model: Sequential, ckpt: Checkpoint, data: dict[str, Any] | None = None) -> int:
    """Load weights, optimizer, history and every generator into a compiled ``model`` built
    like the checkpointed one, trained on ``data`` (an image folder's
    ``dataset.info["fingerprint"]``, see :func:`check_same_data`); returns the number of
    completed epochs.

    Everything is checked before anything changes: on an error the model is untouched.
    """
    model._require_compiled()  # its optimizer receives the saved state
    check_same_data(ckpt, data)
    check_same_model(model, ckpt)
    check_same_loss(model, ckpt)
    model_arrays = {k: v for k, v in ckpt.arrays.items() if "/" not in k}
    check_arrays(ckpt.path, weight_shapes(model), model_arrays, "the run's model")
    opt_state = ckpt.state["optimizer"]
    check_same_optimizer(ckpt.path, opt_state["config"], model.optimizer)
    slots = _optimizer_arrays(ckpt, model)
    rng = ckpt.state["rng"]
    generators = {"model.train_rng": model.train_rng,
                  **{f"generator {k}": g for k, g in layer_generators(model).items()}}
    saved = {"model.train_rng": rng["train_rng"],
             **{f"generator {k}": v for k, v in rng.get("layers", {}).items()}}
    if set(saved) != set(generators):
        raise ModelFormatError(f"{ckpt.path}: the checkpoint has generators {sorted(rng.get('layers', {}))} "
                               f"but the model has {sorted(layer_generators(model))}")
    for what, generator in generators.items():
        _check_generator_state(ckpt.path, generator, saved[what], what)
    set_weights(model, model_arrays, where=ckpt.path)  # a warning names the file's NaN arrays
    model.optimizer.load_state_dict({"config": opt_state["config"], "steps": opt_state["steps"],
                                     "arrays": slots})
    if opt_state.get("base_lr") is not None:
        model.optimizer.base_lr = float(opt_state["base_lr"])
    # so that fit continues the schedule from its base, even where a callback of the user's
    # changed the lr since the schedule set it; without a schedule the lr goes on as it is
    if opt_state.get("base_lr") is not None and _ran_a_schedule(ckpt):
        model.optimizer.scheduled_lr = model.optimizer.lr
    model.history = History.from_dict(ckpt.state["history"])
    for what, generator in generators.items():
        generator.bit_generator.state = saved[what]
    return ckpt.epochs_done


def _match_optional_states(ckpt: Checkpoint, saved: dict[str, Any], callbacks: Sequence[Callback],
                           optional: set[str]) -> dict[str, Callback]:
    """The saved state of each callback whose state is optional (ModelCheckpoint), found by
    what it accepts (its own file, quantity and direction), not by position; the others
    start afresh, and a saved state no callback takes is named in a warning."""
    matched: dict[str, Callback] = {}
    for cb in (cb for cb in callbacks if not cb.state_required and hasattr(cb, "load_state_dict")):
        key = next((key for key, values in saved.items() if key.split(".")[0] == type(cb).__name__
                    and key not in matched and cb.accepts_state(values)), None)
        if key is not None:
            matched[key] = cb
    left = [values for key, values in saved.items() if key.split(".")[0] in optional and key not in matched]
    if left:
        what = "; ".join(f"the saver of {values.get('path', '?')} on {values.get('monitor', '?')}"
                         for values in left)
        warnings.warn(f"{ckpt.path}: no saver of this run took the saved state of {what} "
                      "(a ModelCheckpoint of the interrupted run): it starts afresh if given again",
                      GlassnetWarning, stacklevel=user_stacklevel())
    return matched


def _optional_state_classes() -> set[str]:
    """Names of the callback classes whose saved state a resumed run may lack or drop."""
    found, pending = set(), [Callback]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if not cls.state_required:
            found.add(cls.__name__)
    return found


def _ran_a_schedule(ckpt: Checkpoint) -> bool:
    """Whether the checkpointed fit ran an lr schedule: recorded since 2026-12-06; before,
    a run's configuration says (``lr_schedule`` or ``lr_decay``), else assume it did."""
    scheduled = ckpt.state["optimizer"].get("schedule_running")
    if scheduled is not None:
        return scheduled
    run = ckpt.run_config
    if not isinstance(run, dict):
        return True
    return run.get("lr_schedule") is not None or run.get("lr_decay") is not None


def restore_callbacks(model: Sequential, ckpt: Checkpoint, callbacks: Sequence[Callback]) -> None:
    """Give each stateful callback its saved state (its arrays are model weights, checked as such)."""
    saved = ckpt.state.get("callbacks", {})
    current = stateful_callbacks(callbacks)
    optional = _optional_state_classes()
    required_saved = {key for key in saved if key.split(".")[0] not in optional}
    required_now = {key for key, cb in current.items() if cb.state_required}
    if required_saved != required_now:
        raise ModelFormatError(f"{ckpt.path}: the checkpoint has callback state for {sorted(required_saved)} "
                               f"but the run has {sorted(required_now)}")
    current = {key: cb for key, cb in current.items() if cb.state_required}
    current.update(_match_optional_states(ckpt, saved, callbacks, optional))
    shapes = weight_shapes(model)
    for key, cb in current.items():
        prefix = f"{CALLBACK_PREFIX}{key}/"
        arrays = {k[len(prefix):]: v for k, v in ckpt.arrays.items() if k.startswith(prefix)}
        if arrays:
            check_arrays(ckpt.path, shapes, arrays, f"the run's model (saved by {key})")
        try:
            cb.load_state_dict({"values": saved[key], "arrays": arrays})
        except (KeyError, TypeError, ValueError) as exc:  # an edited or damaged file
            raise ModelFormatError(f"{ckpt.path}: the saved state of {key} is damaged "
                                   f"({type(exc).__name__}: {exc})") from None
