"""What ``Sequential.compile`` checks: its arguments, and whether the loss fits the model.

:meth:`~glassnet.model.Sequential.compile` keeps what it chooses (loss, optimizer,
metrics, L2 strength) on the model; this file holds the checks it runs first, so that a
refused compile leaves the model as it was, and the check that the loss fits the built
model's output layer (one output for binary cross-entropy, one per class for categorical,
and the sigmoid or softmax applied once), which ``build`` runs too when the model is
compiled before it is built. :mod:`glassnet.inputs` is its counterpart for what the model
takes in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import losses as losses_mod
from . import optimizers as optimizers_mod
from ._checks import check_number
from .errors import ConfigError
from .layers.activations import Sigmoid, Softmax
from .layers.base import Layer
from .layers.dropout import Dropout
from .layers.reshape import Flatten

if TYPE_CHECKING:
    from .model import Sequential


def compile_arguments(model: Sequential, loss: str | losses_mod.Loss,
                      optimizer: str | optimizers_mod.Optimizer, metrics: Sequence[str] | None,
                      reg: float, from_logits: bool | None
                      ) -> tuple[losses_mod.Loss, optimizers_mod.Optimizer, list[str], float]:
    """``compile``'s arguments checked for ``model``, as ``(loss, optimizer, metrics, reg)``:
    the loss and optimizer objects (made from their names), the metrics' names, and the L2
    strength. Changes nothing: the caller takes the optimizer over."""
    if optimizers_mod.is_optimizer(loss):  # Keras' compile takes the optimizer first
        raise ConfigError(f"compile's first argument is the loss, got the optimizer {loss!r}; "
                          "write compile(loss=..., optimizer=...) (Keras puts the optimizer first)")
    if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
        raise ConfigError(f"from_logits must be True or False, got {from_logits!r}")
    if isinstance(loss, losses_mod.Loss) and from_logits is not None and from_logits != loss.from_logits:
        raise ConfigError(f"the loss object was made with from_logits={loss.from_logits}, and "
                          f"compile's from_logits={from_logits} cannot change it: make it with "
                          f"{type(loss).__name__}(from_logits={from_logits}), or give the loss by name")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics or [])  # "accuracy": one
    # "acc" is Keras' short name for it (its logs then say "acc"; glassnet's "accuracy")
    metrics = ["accuracy" if m == "acc" else m for m in metrics]
    unknown = [m for m in metrics if m != "accuracy"]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}; available: ['accuracy'] (or 'acc')")
    reg = check_reg(reg, "reg")
    loss = losses_mod.get(loss, from_logits=True if from_logits is None else from_logits)
    optimizer = optimizers_mod.get(optimizer)
    owner = optimizer_owner(optimizer)
    if owner is not None and owner is not model and owner.optimizer is optimizer:
        # Its slots are keyed by parameter names ("0.W") that every model has.
        raise ConfigError("this optimizer already trains another model; give each model its "
                          "own optimizer (a new instance, or its name)")
    return loss, optimizer, metrics, reg


def optimizer_owner(optimizer: optimizers_mod.Optimizer) -> Sequential | None:
    """The model ``optimizer`` was last compiled with, while that model is alive."""
    return optimizer.owner() if optimizer.owner is not None else None


def check_reg(reg: Any, what: str) -> float:
    """An L2 strength: a finite number >= 0 (NaN or infinity would poison every loss)."""
    return check_number(reg, what, 0, low_inclusive=True)


def output_layer(layers: Sequence[Layer]) -> Layer | None:
    """The last of ``layers`` that computes the outputs' values: trailing ``Flatten`` and
    ``Dropout`` layers pass them on (at inference), so a softmax before them is the model's."""
    computing = [layer for layer in layers if not isinstance(layer, (Flatten, Dropout))]
    return computing[-1] if computing else None


def final_activation(layers: Sequence[Layer]) -> str | None:
    """``"sigmoid"`` or ``"softmax"`` when the output layer of ``layers`` applies it (a
    ``Sigmoid`` or ``Softmax`` layer, or a Dense/Conv2D layer's activation), else ``None``."""
    last = output_layer(layers)
    activation = last if isinstance(last, (Sigmoid, Softmax)) else getattr(last, "activation", None)
    return {Sigmoid: "sigmoid", Softmax: "softmax"}.get(type(activation))


def check_loss_fits(model: Sequential, loss: losses_mod.Loss, training: bool = True) -> None:
    """``loss`` must fit the built model: one output for binary cross-entropy, one per
    class for categorical, and an activation applied once (by the loss from logits, or by
    the last layer when ``from_logits=False``), never twice or not at all. ``training``
    adds the rule that only matters in training: no Dropout after that activation."""
    outputs, name = int(np.prod(model.output_shape)), loss.name
    wanted = {"binary_crossentropy": "sigmoid", "categorical_crossentropy": "softmax"}.get(name)
    if wanted == "sigmoid" and outputs != 1:
        raise ConfigError(f"{name} takes one output (the probability of class 1) but the model "
                          f"has {outputs}; use categorical_crossentropy for {outputs} classes")
    if wanted == "softmax" and outputs < 2:
        raise ConfigError(f"{name} takes one output per class but the model has 1; use "
                          "binary_crossentropy for two classes with one output")
    last = final_activation(model.layers)
    # the Flatten and Dropout layers after the one that applies it
    after = (model.layers[model.layers.index(output_layer(model.layers)) + 1:]
             if last is not None else [])
    if loss.from_logits and last is not None:
        where = "the last layer" + (f" before the {type(after[0]).__name__}" if after else "")
        raise ConfigError(f"{where} applies {last}, and {name} applies {wanted} again to "
                          "what it takes as logits: remove the last layer's activation (predict "
                          "still returns probabilities) or compile with from_logits=False")
    if not loss.from_logits and wanted is not None and last != wanted:
        raise ConfigError(f"{name} with from_logits=False takes probabilities: the last layer "
                          f"must apply {wanted} (it applies {last or 'nothing'})")
    if training and any(isinstance(layer, Dropout) for layer in after):
        raise ConfigError(f"a Dropout after the layer that applies {last} zeroes and rescales its "
                          f"probabilities in training, so {name} would not get probabilities: "
                          "put the Dropout before that layer")
