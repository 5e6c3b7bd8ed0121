"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint is a ``.glassnet`` file (so ``load_model`` and ``glassnet info`` read it)
with ``"kind": "checkpoint"`` and, besides the model's weights and layer state:

- ``config.json["checkpoint"]``: completed epochs, the :class:`History`, the optimizer's
  configuration, step count and base learning rate, the state of every random generator
  (``model.train_rng`` and any generator a layer keeps, e.g. dropout's), and the run's
  configuration;
- ``arrays/optimizer/<param>/<slot>.npy``: the optimizer's per-parameter state.

Restoring all of it makes "train 10 epochs" and "train 4, stop, resume for 6" give the
same weights to the last bit. :class:`Checkpointer` is the fit-loop callback that keeps a
snapshot of the last completed epoch, writes it, and stops cleanly on a :class:`StopRequest`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFormatError, TrainingInterruptedError, WeightMismatchError
from ..layers.base import Layer
from ..training.callbacks import Callback
from ..training.history import History
from .format import check_arrays, model_config, read_archive, weight_shapes, write_archive

CHECKPOINT_NAME = "checkpoint.glassnet"
OPTIMIZER_PREFIX = "optimizer/"


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


def snapshot(model, run_config: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(config, arrays)`` of a checkpoint of ``model`` as it is now (arrays are copies)."""
    history = _copy_history(model.history)
    opt = model.optimizer
    state = opt.state_dict()
    arrays = model.get_weights()
    arrays.update({OPTIMIZER_PREFIX + k: np.array(v, copy=True) for k, v in state["arrays"].items()})
    checkpoint = {
        "epochs_done": len(history["epoch"]),
        "history": history,
        "optimizer": {"config": state["config"], "steps": state["steps"],
                      "base_lr": getattr(opt, "base_lr", None)},
        "rng": {"train_rng": model.train_rng.bit_generator.state,
                "layers": {k: g.bit_generator.state for k, g in layer_generators(model).items()}},
        "run": run_config,
    }
    return model_config(model, {"kind": "checkpoint", "checkpoint": checkpoint}), arrays


def save_checkpoint(model, path: str | Path, run_config: dict[str, Any] | None = None) -> None:
    """Write a checkpoint of ``model`` (compiled, with its optimizer) atomically."""
    write_archive(path, *snapshot(model, run_config))


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
    for key in ("epochs_done", "history", "optimizer", "rng"):
        if key not in state:
            raise ModelFormatError(f"{path}: the checkpoint has no {key!r}; it is damaged")
    return Checkpoint(path, config, arrays, state)


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
    return slots


def _set_generator(path: Path, generator: np.random.Generator, state: Any, what: str) -> None:
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFormatError(f"{path}: the saved state of {what} is invalid ({exc})") from None


def restore_training_state(model, ckpt: Checkpoint) -> int:
    """Load weights, optimizer, history and every generator into a compiled ``model`` built
    like the checkpointed one; returns the number of completed epochs."""
    model_arrays = {k: v for k, v in ckpt.arrays.items() if not k.startswith(OPTIMIZER_PREFIX)}
    check_arrays(ckpt.path, weight_shapes(model), model_arrays, "the run's model")
    slots = _optimizer_arrays(ckpt, model)
    opt_state = ckpt.state["optimizer"]
    saved_name = opt_state.get("config", {}).get("name")
    if saved_name != model.optimizer.name:
        raise ModelFormatError(f"{ckpt.path}: the checkpoint's optimizer is {saved_name!r} but the run "
                               f"uses {model.optimizer.name!r}")
    rng = ckpt.state["rng"]
    generators = layer_generators(model)
    if set(rng.get("layers", {})) != set(generators):
        raise ModelFormatError(f"{ckpt.path}: the checkpoint has generators {sorted(rng.get('layers', {}))} "
                               f"but the model has {sorted(generators)}")
    model.set_weights(model_arrays)
    model.optimizer.load_state_dict({"config": opt_state["config"], "steps": opt_state["steps"],
                                     "arrays": slots})
    if opt_state.get("base_lr") is not None:
        model.optimizer.base_lr = float(opt_state["base_lr"])
    model.history = History.from_dict(ckpt.state["history"])
    _set_generator(ckpt.path, model.train_rng, rng["train_rng"], "model.train_rng")
    for key, generator in generators.items():
        _set_generator(ckpt.path, generator, rng["layers"][key], f"generator {key}")
    return ckpt.epochs_done


class StopRequest:
    """A flag a signal handler sets (``request()``) and :class:`Checkpointer` obeys between batches."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True


class Checkpointer(Callback):
    """Keep a snapshot of the last completed epoch and write it to ``path``.

    The snapshot is written when at least ``overhead`` times the time the previous write
    took has passed (checkpoints cost at most about 10% of training time by default;
    with ``overhead=0`` every epoch), at the end of training, and when ``stop`` is
    requested: then training stops after the current batch, the last completed epoch is
    written and :class:`TrainingInterruptedError` is raised. The partial epoch is discarded,
    so resuming repeats it exactly.
    """

    def __init__(self, path: str | Path, run_config: dict[str, Any] | None = None,
                 stop: StopRequest | None = None, overhead: float = 10.0) -> None:
        self.path = Path(path)
        self.run_config = run_config
        self.stop = stop
        self.overhead = overhead
        self._snapshot: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
        self._written = True
        self._last_write_end = 0.0
        self._write_seconds = 0.0
        self._epoch = 0

    def _take(self) -> None:
        self._snapshot = snapshot(self.model, self.run_config)
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
        self._write()
        done = self._snapshot[0]["checkpoint"]["epochs_done"]
        where = (f"during epoch {self._epoch + 1} after batch {batch} (that partial epoch is discarded)"
                 if batch is not None else f"after epoch {self._epoch + 1}")
        raise TrainingInterruptedError(f"training stopped {where}; {self.path} holds the state after "
                                  f"{done} completed epoch(s)", epoch=self._epoch + 1, batch=batch or 0,
                                  checkpoint=self.path, epochs_done=done)

    def on_train_begin(self, logs):
        self._take()

    def on_epoch_begin(self, epoch, logs):
        self._epoch = epoch

    def on_batch_end(self, batch, logs):
        if self.stop is not None and self.stop.requested:
            self._interrupt(batch + 1)

    def on_epoch_end(self, epoch, logs):
        self._take()
        due = time.perf_counter() - self._last_write_end >= self.overhead * self._write_seconds
        if due or (self.stop is not None and self.stop.requested):
            self._write()
        if self.stop is not None and self.stop.requested:
            self._interrupt(None)

    def on_train_end(self, logs):
        self._write()
