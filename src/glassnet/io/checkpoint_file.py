"""The checkpoint file: everything needed to continue training exactly where it stopped.

A checkpoint is a ``.glassnet`` file (so ``load_model`` and ``glassnet info`` read it)
with ``"kind": "checkpoint"`` and, besides the model's weights and layer state:

- ``config.json["checkpoint"]``: completed epochs, the :class:`History`, the optimizer's
  configuration, step count and base learning rate, the state of every random generator
  (``model.train_rng`` and any generator a layer keeps, e.g. dropout's), the run's
  configuration, the fingerprint of the image folder it trains on (``"data"``, see
  :func:`glassnet.io.resume.check_same_data`; ``None`` for the named sets, which are
  checksummed downloads), and the run's training sessions (``"sessions"``, see
  :func:`sessions_of`);
- ``arrays/optimizer/<param>/<slot>.npy``: the optimizer's per-parameter state.

Callbacks with ``state_dict``/``load_state_dict`` (EarlyStopping's counters and best
weights) are saved too, under ``config.json["checkpoint"]["callbacks"]`` and
``arrays/callbacks/<class>.<n>/``.

This module takes that state (:func:`snapshot`), writes it (:func:`save_checkpoint`) and
reads it back with its structure checked (:func:`read_checkpoint`). Putting it back into a
model is :mod:`glassnet.io.resume`'s; :class:`glassnet.io.checkpoint.Checkpointer` writes
checkpoints during ``fit``.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import backend
from ..errors import ConfigError, ModelFormatError
from ..json_checks import is_number, is_number_or_none
from ..layers.base import Layer
from ..model import Sequential  # at run time: typing.get_type_hints resolves the hints
from ..training.callbacks import Callback
from ..training.history import History
from .archive import read_archive, write_archive
from .format import model_config

CHECKPOINT_NAME = "checkpoint.glassnet"
OPTIMIZER_PREFIX = "optimizer/"
CALLBACK_PREFIX = "callbacks/"


def layer_generators(model: Sequential) -> dict[str, np.random.Generator]:
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
    :func:`glassnet.io.resume.restore_callbacks` for those whose state a resume must have)."""
    found: dict[str, Callback] = {}
    for cb in callbacks:
        if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"):
            name = type(cb).__name__
            found[f"{name}.{sum(k.startswith(name + '.') for k in found)}"] = cb
    return found


def running_on(model: Sequential | None = None) -> dict[str, Any]:
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


def _is_an_lr(value: Any) -> bool:
    """A learning rate an optimizer takes: a finite number >= 0 (NaN or -1 in an edited
    checkpoint reached the optimizer, whose error named neither the file nor the damage)."""
    return is_number(value) and math.isfinite(value) and value >= 0


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


def snapshot(model: Sequential, run_config: dict[str, Any] | None = None, callbacks: Sequence[Callback] = (),
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


def save_checkpoint(model: Sequential, path: str | os.PathLike[str], run_config: dict[str, Any] | None = None,
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


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and sanity-check a checkpoint file (``ModelFormatError`` if it is not one)."""
    path = Path(path)
    config, arrays = read_archive(path, "checkpoint")
    state = config.get("checkpoint")
    if config.get("kind") != "checkpoint" or not isinstance(state, dict):
        raise ModelFormatError(f"{path} is a model file, not a training checkpoint")
    check_state(path, state)
    return Checkpoint(path, config, arrays, state)


def check_state(path: Path, state: dict[str, Any]) -> None:
    """The JSON part of a checkpoint has the structure :func:`snapshot` writes."""
    expected = {"epochs_done": (int, "an integer"), "history": (dict, "an object"),
                "optimizer": (dict, "an object"), "rng": (dict, "an object")}
    for key, (kind, what) in expected.items():
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ModelFormatError(f"{path}: the checkpoint's {key!r} is missing or not {what}; "
                                   f"the file is damaged")
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
            or isinstance(steps, bool) or steps < 0
            or not (optimizer.get("base_lr") is None or _is_an_lr(optimizer["base_lr"]))
            or not _is_an_lr(optimizer["config"].get("lr"))
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
