"""Named models: the tutorials' networks and stronger ones, built for a data set's shape.

``build(name, input_shape, num_classes, **options)`` returns an uncompiled
:class:`~glassnet.model.Sequential`. Binary problems get one sigmoid output (trained
with binary cross-entropy from logits), others ``num_classes`` softmax outputs.
:func:`loss_for` names the matching loss.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from . import layers as L
from .errors import ConfigError
from .model import Sequential

#: A zoo entry: ``(input_shape, num_classes, **options) -> list of layers``.
Builder = Callable[..., list[L.Layer]]
MODELS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: a function ``(input_shape, num_classes, **options) -> list of layers``."""

    def wrap(fn: Builder) -> Builder:
        MODELS[name] = fn
        return fn

    return wrap


def output_units(num_classes: int) -> int:
    """Units of the output layer: 1 (a sigmoid) for two classes, else one per class (a
    softmax); a :class:`ConfigError` for fewer than two classes."""
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}")
    return 1 if num_classes == 2 else num_classes


def loss_for(num_classes: int) -> str:
    """The loss that matches :func:`output_units`: binary cross-entropy for two classes, else
    categorical."""
    return "binary_crossentropy" if num_classes == 2 else "categorical_crossentropy"


@register("mlp")
def mlp(input_shape: Sequence[int], num_classes: int, hidden: Sequence[int] = (20, 7, 5),
        activation: str = "relu", init: str = "lecun_normal", batchnorm: bool = False,
        dropout: float = 0.0) -> list[L.Layer]:
    """Fully connected net: Flatten → [Dense(h) → act] per hidden size → Dense(out).

    The defaults are the course's L-layer network (12288-20-7-5-1 on the cat set, weights
    ``randn / sqrt(fan_in)``); ``hidden=(7,)`` is its two-layer network. Images are
    flattened in H, W, C order, as the course does, so that with ``init_stream="legacy"``
    the course's seed gives the course's exact weights and results.

    ``batchnorm=True`` makes each hidden block Dense (no bias) → BatchNorm → act;
    ``dropout=RATE`` adds Dropout(RATE) after each hidden block's activation.
    Any number of classes: one sigmoid output for two, else one softmax output per class.
    """
    if not hidden:
        raise ConfigError("mlp needs at least one hidden layer size, e.g. hidden=(20, 7, 5)")
    layers: list[L.Layer] = [L.Flatten(channels_last=True)] if len(input_shape) > 1 else []
    for units in hidden:
        if batchnorm:
            layers += [L.Dense(units, use_bias=False, kernel_initializer=init), L.BatchNorm()]
            act = L.get_activation(activation)
            layers += [act] if act is not None else []
        else:
            layers.append(L.Dense(units, activation=activation, kernel_initializer=init))
        if dropout:
            layers.append(L.Dropout(dropout))
    layers.append(L.Dense(output_units(num_classes), kernel_initializer=init))
    return layers


@register("cnn-keras")
def cnn_keras(input_shape: Sequence[int], num_classes: int) -> list[L.Layer]:
    """A Keras-style CIFAR-10 CNN (the shared data's reference, not Keras' four-conv
    ``cifar10_cnn.py`` example): Conv2D(32, 3x3, same, ReLU) → MaxPool 2x2
    → Dropout 0.25 → Conv2D(64, 3x3, same, ReLU) → MaxPool 2x2 → Dropout 0.25 → Flatten
    → Dense 512 ReLU → Dropout 0.5 → Dense(out) (softmax/sigmoid in the loss)."""
    return [
        L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Dropout(0.25),
        L.Conv2D(64, 3, padding="same", activation="relu"), L.MaxPool2D(2), L.Dropout(0.25),
        L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5),
        L.Dense(output_units(num_classes)),
    ]


@register("cnn-bn")
def cnn_bn(input_shape: Sequence[int], num_classes: int, widths: Sequence[int] = (32, 64, 128),
           dropout: float = 0.3) -> list[L.Layer]:
    """A stronger small CNN: per width ``w``, two [Conv2D(w, 3x3, same) → BatchNorm → ReLU]
    blocks, with a 2x2 max-pool between widths; then global average pooling, dropout and
    Dense(out). The default is six conv layers, 32/32/64/64/128/128 filters (about 0.29 M
    parameters); it works for any image size from 4x4 up (the pooling is global; the two
    max-pools need 4 pixels)."""
    if not widths:
        raise ConfigError("cnn-bn needs at least one width, e.g. widths=(32, 64, 128)")
    layers: list[L.Layer] = []
    for i, width in enumerate(widths):
        if i:
            layers.append(L.MaxPool2D(2))
        for _ in range(2):
            layers += [L.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal"),
                       L.BatchNorm(), L.ReLU()]
    return layers + [L.GlobalAveragePooling2D(), L.Dropout(dropout), L.Dense(output_units(num_classes))]


@register("cnn-small")
def cnn_small(input_shape: Sequence[int], num_classes: int, widths: Sequence[int] = (16, 32, 64),
              dropout: float = 0.2) -> list[L.Layer]:
    """A small, fast CNN for photo folders (64x64 and up): a 5x5 stride-2 stem, then per width
    [Conv2D(w, 3x3) → BatchNorm → ReLU] with a 2x2 max-pool between widths, global average
    pooling, dropout and Dense(out). Default 16/32/64 filters (about 25 k parameters, 7 MFLOP
    per 64x64 image); any image size from 7x7 up works (the pooling is global)."""
    if not widths:
        raise ConfigError("cnn-small needs at least one width, e.g. widths=(16, 32, 64)")
    layers: list[L.Layer] = []
    for i, width in enumerate(widths):
        conv = (L.Conv2D(width, 5, strides=2, padding=2, use_bias=False, kernel_initializer="he_normal")
                if i == 0 else
                L.Conv2D(width, 3, padding=1, use_bias=False, kernel_initializer="he_normal"))
        layers += [conv, L.BatchNorm(), L.ReLU()]
        if i < len(widths) - 1:
            layers.append(L.MaxPool2D(2))
    return layers + [L.GlobalAveragePooling2D(), L.Dropout(dropout), L.Dense(output_units(num_classes))]


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(MODELS)


def check_name(name: str) -> None:
    """A :class:`ConfigError` listing the choices unless ``name`` is a registered model."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {names()}")


def option_names(name: str) -> set[str]:
    """The keyword options model ``name`` accepts, e.g. ``{"hidden", "activation", "init"}``."""
    check_name(name)
    return set(inspect.signature(MODELS[name]).parameters) - {"input_shape", "num_classes"}


def option_default(name: str, option: str) -> Any:
    """What model ``name`` uses for ``option`` when it is not given (mlp's ``hidden``:
    ``(20, 7, 5)``); ``None`` for an unknown model or an option it does not take."""
    parameter = inspect.signature(MODELS[name]).parameters.get(option) if name in MODELS else None
    return None if parameter is None or parameter.default is parameter.empty else parameter.default


# The course's networks are reproduced weight for weight from the course's seed.
INIT_STREAMS = {"mlp": "legacy"}


def build(name: str, input_shape: Sequence[int], num_classes: int, seed: int = 0,
          dtype: str = "float32", init_stream: str | None = None, **options: Any) -> Sequential:
    """Build zoo model ``name`` for samples of ``input_shape`` and ``num_classes`` classes."""
    accepted = option_names(name)
    fn = MODELS[name]
    unknown = {k for k, v in options.items() if v is not None} - accepted
    if unknown:
        raise ConfigError(f"model {name!r} does not take option(s) {sorted(unknown)}; "
                          f"it takes {sorted(accepted)}")
    options = {k: v for k, v in options.items() if v is not None}
    layers = fn(tuple(input_shape), num_classes, **options)
    stream = init_stream or INIT_STREAMS.get(name, "generator")
    return Sequential(layers, input_shape=input_shape, seed=seed, dtype=dtype, name=name,
                      init_stream=stream)
