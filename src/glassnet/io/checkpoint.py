"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint is a ``.glassnet`` file (so ``load_model`` and ``glassnet info`` read it)
with ``"kind": "checkpoint"`` and, besides the model's weights and layer state:

- ``config.json["checkpoint"]``: completed epochs, the :class:`History`, the optimizer's
  configuration, step count and base learning rate, the state of every random generator
  (``model.train_rng`` and any generator a layer keeps, e.g. dropout's), the run's
  configuration, the fingerprint of the image folder it trains on (``"data"``, see
  :func:`check_same_data`; ``None`` for the named sets, which are checksummed downloads),
  and the run's training sessions (``"sessions"``, see :func:`sessions_of`);
- ``arrays/optimizer/<param>/<slot>.npy``: the optimizer's per-parameter state.

Restoring all of it makes "train 10 epochs" and "train 4, stop, resume for 6" give the
same weights to the last bit. :class:`Checkpointer` is the fit-loop callback that keeps a
snapshot of the last completed epoch, writes it, and stops cleanly on a :class:`StopRequest`.
Callbacks with ``state_dict``/``load_state_dict`` (EarlyStopping's counters and best
weights) are saved too, under ``config.json["checkpoint"]["callbacks"]`` and
``arrays/callbacks/<class>.<n>/``.
"""

from __future__ import annotations

import json
import reprlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from .._text import count
from ..data.fingerprint import folder_change
from ..errors import (
    ConfigError,
    DataError,
    GlassnetWarning,
    ModelFormatError,
    TrainingInterruptedError,
    WeightMismatchError,
    user_stacklevel,
)
from ..json_checks import is_number, is_number_or_none, short_list
from ..layers.base import Layer
from ..training.callbacks import Callback
from ..training.history import History
from .format import check_arrays, model_config, read_archive, weight_shapes, write_archive

CHECKPOINT_NAME = "checkpoint.glassnet"
OPTIMIZER_PREFIX = "optimizer/"
CALLBACK_PREFIX = "callbacks/"


def layer_generators(model) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` the layers keep, keyed ``"<layer index>.<attribute>"``
    (nested layers such as a Dense layer's activation add their attribute name)."""
    found: dict[str, np.random.Generator] = {}

    def collect(obj: Layer, prefix: str) -> None:
        for attr, value in vars(obj).items():
            if isinstance(value, np.random.Generator):
                found[f"{prefix}.{attr}"] = value
            elif isinstance(value, Layer):
                collect(value, f"{prefix}.{attr}")

    for i, layer in enumerate(model.layers):
        collect(layer, str(i))
    return found


def _copy_history(history: History | None) -> dict[str, Any]:
    data = history.to_dict() if history is not None else {"epoch": []}
    return {k: list(v) for k, v in data.items()}


def stateful_callbacks(callbacks: Sequence[Callback]) -> dict[str, Callback]:
    """Callbacks with ``state_dict``/``load_state_dict`` (EarlyStopping), keyed ``"<class>.<n>"``
    (``n`` counts callbacks of that class, so other callbacks may come and go on resume; see
    :func:`restore_callbacks` for those whose state a resume must have)."""
    found: dict[str, Callback] = {}
    for cb in callbacks:
        if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"):
            name = type(cb).__name__
            found[f"{name}.{sum(k.startswith(name + '.') for k in found)}"] = cb
    return found


def running_on(model=None) -> dict[str, Any]:
    """``{"threads", "device"}`` that training runs with now: the device of ``model``'s
    parameters (without a model, the current device) and, on the CPU, the threads a batch is
    split over. A batch split over other threads, or run on another device, rounds
    differently; on a GPU nothing is split, so its threads are ``None`` (they do not matter)."""
    params = model.parameters() if model is not None else ()
    device = next((backend.device_of(p) for _, p, _ in params), backend.get_device())
    return {"threads": backend.get_threads() if device == "cpu" else None, "device": device}


def sessions_of(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The training sessions of a checkpoint's run, oldest first: one per ``fit`` that wrote
    it (the first run, then each resume), each ``{"from_epoch", "threads", "device"}``:
    the completed epochs it started after and what it ran on (:func:`running_on`). A
    checkpoint from before they were recorded gives one session whose threads and device
    are not recorded (``None``): its ``threads`` and ``device`` are those of whichever
    session wrote it last, maybe a resume on others than the run began with."""
    sessions = state.get("sessions")
    if sessions is None:
        return [{"from_epoch": 0, "threads": None, "device": None}]
    return [dict(session) for session in sessions]


def _valid_setting(threads: Any, device: Any) -> bool:
    """Threads (at least 1, or ``None``: on a GPU, or not recorded) and device (a name, or
    ``None``: not recorded) as :func:`running_on` gives them."""
    return ((threads is None or isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1)
            and (device is None or isinstance(device, str)))


def sessions_problem(sessions: Any, epochs_done: int | None = None) -> str | None:
    """What is wrong with a run's recorded training sessions (see :func:`sessions_of`), or
    ``None``: a non-empty list of sessions, each starting after a whole number of epochs,
    never before the one it follows nor after ``epochs_done``, with valid threads and device."""
    if not isinstance(sessions, list) or not sessions:
        return f"{reprlib.repr(sessions)} is not a list of sessions"
    starts = []
    for i, session in enumerate(sessions, 1):
        start = session.get("from_epoch") if isinstance(session, dict) else None
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            return f"session {i} starts after no whole number of epochs ({reprlib.repr(session)})"
        if not _valid_setting(session.get("threads"), session.get("device")):
            return (f"session {i} has threads {reprlib.repr(session.get('threads'))} and device "
                    f"{reprlib.repr(session.get('device'))}")
        starts.append(start)
    if starts != sorted(starts) or epochs_done is not None and starts[-1] > epochs_done:
        return (f"they start after epochs {reprlib.repr(starts)}, which "
                + ("go back" if starts != sorted(starts) else f"is beyond its {epochs_done} epochs"))
    return None


def snapshot(model, run_config: dict[str, Any] | None = None, callbacks: Sequence[Callback] = (),
             seconds: float | None = None, data: dict[str, Any] | None = None, in_fit: bool = False,
             sessions: list[dict[str, Any]] | None = None, non_finite: str | None = None,
             stopped_early: bool | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(config, arrays)`` of a checkpoint of ``model`` (and the state of ``callbacks`` that
    have one) as it is now, after ``seconds`` of training on ``data`` (an image folder's
    ``dataset.info["fingerprint"]``) in ``sessions`` (:func:`sessions_of`; by default one,
    from the start, on what the model is on now); arrays are copies. ``non_finite``: the
    error that ended the training (its loss became non-finite), which a resume refuses to
    repeat; ``stopped_early``: whether a callback ended it (default: whether one asked the
    model to stop)."""
    history = _copy_history(model.history)
    setting = running_on(model)
    opt = model.optimizer
    state = opt.state_dict()
    arrays = model.get_weights()
    arrays.update({OPTIMIZER_PREFIX + k: np.array(v, copy=True) for k, v in state["arrays"].items()})
    callback_values = {}
    for key, cb in stateful_callbacks(callbacks).items():
        cb_state = cb.state_dict()
        callback_values[key] = cb_state["values"]
        arrays.update({f"{CALLBACK_PREFIX}{key}/{k}": np.array(v, copy=True)
                       for k, v in cb_state["arrays"].items()})
    checkpoint = {
        "epochs_done": len(history["epoch"]),
        # a callback (EarlyStopping) ended the run
        "stopped_early": bool(model.stop_training if stopped_early is None else stopped_early),
        "non_finite": non_finite,
        "seconds": seconds,
        "history": history,
        "optimizer": {"config": state["config"], "steps": state["steps"],
                      "base_lr": getattr(opt, "base_lr", None),
                      # whether a resumed fit scales base_lr by a schedule (else the lr goes on
                      # as it is, whatever a callback of the user's set): inside a fit, whether
                      # it runs one; between fits, whether the lr is still the one it set
                      "schedule_running": bool(opt.schedule_running if in_fit
                                               else opt.lr == opt.scheduled_lr)},
        "rng": {"train_rng": model.train_rng.bit_generator.state,
                "layers": {k: g.bit_generator.state for k, g in layer_generators(model).items()}},
        "callbacks": callback_values,
        "run": run_config,
        "data": data,
        # what the session that wrote it ran on (a resume warns when it goes on with other)
        **setting,
        # so that the run's report can say where a resumed run rounds differently
        "sessions": sessions if sessions is not None else [{"from_epoch": 0, **setting}],
    }
    return model_config(model, {"kind": "checkpoint", "checkpoint": checkpoint}), arrays


def save_checkpoint(model, path: str | Path, run_config: dict[str, Any] | None = None,
                    data: dict[str, Any] | None = None) -> None:
    """Write a checkpoint of ``model`` (compiled, with its optimizer) atomically."""
    model._require_compiled()
    if not model.built:
        raise ConfigError("build or train the model before saving a checkpoint of it")
    write_archive(path, *snapshot(model, run_config, data=data))


@dataclass
class Checkpoint:
    """A checkpoint as read from disk (validated structure, arrays not yet checked against a model)."""

    path: Path
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs_done(self) -> int:
        return int(self.state["epochs_done"])

    @property
    def run_config(self) -> dict[str, Any] | None:
        return self.state.get("run")


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and sanity-check a checkpoint file (``ModelFormatError`` if it is not one)."""
    path = Path(path)
    config, arrays = read_archive(path)
    state = config.get("checkpoint")
    if config.get("kind") != "checkpoint" or not isinstance(state, dict):
        raise ModelFormatError(f"{path} is a model file, not a training checkpoint")
    check_state(path, state)
    return Checkpoint(path, config, arrays, state)


def check_state(path: Path, state: dict[str, Any]) -> None:
    """The JSON part of a checkpoint has the structure :func:`snapshot` writes."""
    expected = {"epochs_done": int, "history": dict, "optimizer": dict, "rng": dict}
    for key, kind in expected.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ModelFormatError(f"{path}: the checkpoint's {key!r} is missing or not a "
                                   f"{kind.__name__}; the file is damaged")
    history, done = state["history"], state["epochs_done"]
    if (not all(isinstance(v, list) and len(v) == done for v in history.values())
            or len(history.get("epoch", [])) != done):
        raise ModelFormatError(f"{path}: the checkpoint's history does not cover its {done} epochs")
    if not all(is_number_or_none(x) for key, values in history.items() if key != "epoch" for x in values):
        raise ModelFormatError(f"{path}: the checkpoint's history holds values that are not numbers")
    if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 0 for e in history["epoch"]):
        raise ModelFormatError(f"{path}: the checkpoint's history holds epochs that are not whole numbers")
    if not isinstance(state.get("non_finite"), (str, type(None))):
        raise ModelFormatError(f"{path}: the checkpoint's record of a non-finite loss is not text")
    if not is_number_or_none(state.get("seconds")):
        raise ModelFormatError(f"{path}: the checkpoint's training time is not a number")
    optimizer, rng = state["optimizer"], state["rng"]
    steps = optimizer.get("steps")
    if (not isinstance(optimizer.get("config"), dict) or not isinstance(steps, int)
            or isinstance(steps, bool) or steps < 0 or not is_number_or_none(optimizer.get("base_lr"))
            or not is_number(optimizer["config"].get("lr"))
            or not isinstance(optimizer.get("schedule_running", True), bool)):
        raise ModelFormatError(f"{path}: the checkpoint's optimizer state is damaged")
    callbacks = state.get("callbacks", {})
    if not isinstance(callbacks, dict) or not all(isinstance(v, dict) for v in callbacks.values()):
        raise ModelFormatError(f"{path}: the checkpoint's callback state is damaged")
    if not isinstance(rng.get("train_rng"), dict) or not isinstance(rng.get("layers", {}), dict):
        raise ModelFormatError(f"{path}: the checkpoint's generator states are damaged")
    if not _valid_setting(state.get("threads"), state.get("device")):
        raise ModelFormatError(f"{path}: the checkpoint's threads or device is damaged")
    problem = sessions_problem(state["sessions"], done) if "sessions" in state else None
    if problem:
        raise ModelFormatError(f"{path}: the checkpoint's training sessions are damaged ({problem})")
    data = state.get("data")
    if data is not None and not (isinstance(data, dict) and isinstance(data.get("signature"), str)
                                 and isinstance(data.get("files"), int)):
        raise ModelFormatError(f"{path}: the checkpoint's data set fingerprint is damaged")


def _optimizer_arrays(ckpt: Checkpoint, model) -> dict[str, np.ndarray]:
    """The optimizer's slot arrays, each checked against the parameter it belongs to."""
    shapes = {name: tuple(p.shape) for name, p, _ in model.parameters()}
    slots = {}
    for key, value in ckpt.arrays.items():
        if not key.startswith(OPTIMIZER_PREFIX):
            continue
        param, _, slot = key[len(OPTIMIZER_PREFIX):].rpartition("/")
        if param not in shapes or not slot:
            raise WeightMismatchError(f"{ckpt.path}: optimizer array {key!r} belongs to no parameter")
        check_arrays(ckpt.path, {key: shapes[param]}, {key: value}, "its parameter")
        slots[f"{param}/{slot}"] = value
    if ckpt.state["optimizer"]["steps"] > 0:  # after a step every parameter has every slot
        expected = {f"{param}/{slot}" for param in shapes for slot in model.optimizer.slot_names()}
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


def check_same_model(model, ckpt: Checkpoint) -> None:
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


def check_same_loss(model, ckpt: Checkpoint) -> None:
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


def check_same_optimizer(path: Path, saved: dict[str, Any], optimizer) -> None:
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


def restore_training_state(model, ckpt: Checkpoint, data: dict[str, Any] | None = None) -> int:
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
    model.set_weights(model_arrays)
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


def restore_callbacks(model, ckpt: Checkpoint, callbacks: Sequence[Callback]) -> None:
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

    Each checkpoint records the run's training sessions (:func:`sessions_of`): those of
    ``resume`` (the checkpoint this fit continues), then this one, from the epochs done when
    it begins, on the device and threads it trains with: the run's report says where a
    resumed run rounds differently from an unbroken one.

    The last epoch (``fit``'s ``epochs``) is always captured, before EarlyStopping's
    ``on_train_end`` puts back its best weights.

    Args:
        data: the fingerprint of the image folder trained on, for :func:`check_same_data`.
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

    def on_train_begin(self, logs):
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

    def on_epoch_begin(self, epoch, logs):
        self._epoch, self._batches = epoch, 0
        if self._steps == 1 and self.epochs is not None and epoch + 1 == self.epochs:
            self.stop.phase = "last epoch"  # its one batch cannot be cut short: the run ends
        # A stop asked for at (or after) the previous epoch's end is obeyed here, not in
        # on_epoch_end: the callbacks after this one (the progress line) see that epoch end.
        if self.stop.requested:
            if self._snapshot[0]["checkpoint"]["epochs_done"] != epoch:
                self._take()  # the state is still that of the end of the previous epoch
            self._interrupt(None)

    def on_batch_end(self, batch, logs):
        self._batches += 1
        # after an epoch's last batch the epoch is complete: it ends (and is kept), and the
        # stop is obeyed at the next epoch's beginning
        if self.stop.requested and batch + 1 < self._steps:
            self._interrupt(batch + 1)
        if batch + 2 == self._steps and self.epochs is not None and self._epoch + 1 == self.epochs:
            self.stop.phase = "last epoch"  # the run's last batch is next: a stop ends the run

    def on_epoch_end(self, epoch, logs):
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

    def on_train_end(self, logs):
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
