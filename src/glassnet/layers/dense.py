"""Fully connected (affine) layer, optionally followed by an activation.

Forward:  ``z = x @ W + b``, ``y = act(z)``       with ``x: (N, D)``, ``W: (D, U)``, ``b: (U,)``
Backward: ``dz = dy * act'(z)`` (the activation's backward), ``dW = x.T @ dz``,
          ``db = sum_n dz``, ``dx = dz @ W.T``
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_positive_int
from ..backend import Array, RandomSource, array_module
from ..errors import ShapeError
from .base import Layer
from .kernel import KernelOptions


class Dense(KernelOptions, Layer):
    """``y = act(x @ W + b)`` for ``x: (N, D)``; output ``(N, units)``.

    Args:
        units: output features ``U``.
        activation: ``None`` (linear), ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``…
        use_bias: add ``b``.
        kernel_initializer: a name from :mod:`glassnet.initializers` or ``"normal:STD"``.
        kernel_regularizer: L2 strength for this layer's ``W`` (overrides the model's ``reg``).
    """

    shardable = True

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: str | float = "glorot_uniform",
        kernel_regularizer: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.units = check_positive_int(units, "Dense units")
        self._init_kernel_options(activation, use_bias, kernel_initializer, kernel_regularizer)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 1:
            raise ShapeError(
                f"Dense expects inputs of shape (N, features), got (N, {', '.join(map(str, input_shape))}); "
                "put a Flatten layer before it"
            )
        return (self.units,)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return self._kernel_shapes((input_shape[0], self.units), self.units)

    def build(self, input_shape: tuple[int, ...], rng: RandomSource, dtype: Any) -> tuple[int, ...]:
        out = super().build(input_shape, rng, dtype)
        fan_in = input_shape[0]
        if isinstance(rng, np.random.RandomState):
            # The course's legacy stream draws W as (out, in), layer by layer; drawing the
            # same shape and transposing gives exactly the course's weights for its seed.
            W = self.kernel_initializer((self.units, fan_in), fan_in, self.units, rng).T
        else:
            W = self.kernel_initializer((fan_in, self.units), fan_in, self.units, rng)
        self._create_params(W, self.units, out, rng, dtype)
        return out

    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        z = x @ self.params["W"]
        if self.use_bias:
            z += self.params["b"]
        self._remember(training, x=x)
        if self.activation is not None:
            z = self.activation.forward(z, training)
        return z

    def backward(self, dy: Array) -> Array | None:
        x = self._recall()["x"]
        dy = self.check_output_grad(dy, (len(x), *self.output_shape))
        dz = self.activation.backward(dy) if self.activation is not None else dy
        array_module(x).matmul(x.T, dz, out=self.grads["W"])  # dW = x^T dz, written in place
        if self.use_bias:
            dz.sum(axis=0, out=self.grads["b"])
        if not self.input_grad:
            return None  # first layer: dx would be thrown away (it is as large as the input)
        return dz @ self.params["W"].T

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            **self._kernel_config(),
        }
