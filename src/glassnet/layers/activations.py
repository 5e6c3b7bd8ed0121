"""Element-wise activations and softmax.

Each layer keeps the one array its derivative needs: ReLU the sign mask, sigmoid and
tanh their output (``s' = s(1-s)``, ``tanh' = 1 - t^2``), softmax its output.
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._checks import check_number
from ..backend import Array, array_module, as_array
from ..errors import ConfigError, ShapeError
from .base import Layer


class ReLU(Layer):
    """``y = max(0, x)``; ``dx = dy * [x > 0]``. Any shape."""

    shardable = True

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        mask = x > 0
        self._remember(training, mask=mask)
        # not x * mask: -inf * 0 is NaN, and ReLU(-inf) is 0 (as in PyTorch)
        return array_module(x).maximum(x, 0)

    def backward(self, dy: Array) -> Array:
        mask = self._recall()["mask"]
        return self.check_output_grad(dy, mask.shape) * mask


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0`` else ``alpha * x``; ``dx = dy`` or ``alpha * dy``. Any shape."""

    shardable = True

    def __init__(self, alpha: float = 0.01, name: str | None = None) -> None:
        super().__init__(name)
        self.alpha = check_number(alpha, "LeakyReLU alpha", 0, low_inclusive=True)

    def forward(self, x: Array, training: bool = False) -> Array:
        # a list, used alone, as predict takes it; ints as floats (alpha * x is a fraction)
        x = F.as_float(as_array(x))
        xp = array_module(x)
        mask = x > 0
        self._remember(training, mask=mask)
        return xp.where(mask, x, x * x.dtype.type(self.alpha))

    def backward(self, dy: Array) -> Array:
        mask = self._recall()["mask"]
        dy = self.check_output_grad(dy, mask.shape)
        return array_module(dy).where(mask, dy, dy * dy.dtype.type(self.alpha))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-x))`` (stable); ``dx = dy * y * (1 - y)``. Any shape."""

    shardable = True

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        y = F.sigmoid(x)
        self._remember(training, y=y)
        return y

    def backward(self, dy: Array) -> Array:
        y = self._recall()["y"]
        return self.check_output_grad(dy, y.shape) * y * (1 - y)


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dy * (1 - y^2)``. Any shape."""

    shardable = True

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        y = array_module(x).tanh(x)
        self._remember(training, y=y)
        return y

    def backward(self, dy: Array) -> Array:
        y = self._recall()["y"]
        return self.check_output_grad(dy, y.shape) * (1 - y * y)


class Softmax(Layer):
    """Softmax over the last axis of ``x: (N, C)``; ``dx = y * (dy - sum(dy * y))``.

    Prefer leaving the last layer linear and using a cross-entropy loss "from logits":
    the fused gradient ``(p - y) / N`` is cheaper and more accurate.
    Only class scores ``(N, C)`` are accepted: on images ``(N, C, H, W)`` the last axis
    would be the width, not the channels (Keras and PyTorch normalise channels).
    """

    shardable = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 1:
            shape = ", ".join(map(str, input_shape))
            raise ShapeError(
                f"Softmax normalises class scores (N, C), got inputs (N, {shape}); "
                "put Flatten or GlobalAveragePooling2D before it (a Conv2D cannot use "
                "activation='softmax')")
        return tuple(input_shape)

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        y = F.softmax(x, axis=-1)
        self._remember(training, y=y)
        return y

    def backward(self, dy: Array) -> Array:
        y = self._recall()["y"]
        dy = self.check_output_grad(dy, y.shape)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Layer]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softmax": Softmax,
}


def get_activation(name: str | None) -> Layer | None:
    """An activation layer for a name such as ``"relu"``; ``None``/``"linear"`` gives ``None``."""
    if name is None or name == "linear":
        return None
    if name not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)} or 'linear'"
        )
    return ACTIVATIONS[name]()
