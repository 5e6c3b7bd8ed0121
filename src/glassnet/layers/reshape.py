"""Reshaping layers: no parameters, the backward pass only restores the shape."""

from __future__ import annotations

import math

from ..backend import Array, as_array
from .base import Layer


class Flatten(Layer):
    """``x: (N, d1, d2, ...)`` → ``(N, d1*d2*...)``.

    Images ``(N, C, H, W)`` flatten in C, H, W order; with ``channels_last=True`` in
    H, W, C order instead, as the course's ``(N, 64, 64, 3).reshape(N, -1)`` does, so
    that its weights (and its exact results) carry over.
    """

    shardable = True

    def __init__(self, channels_last: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.channels_last = bool(channels_last)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        self._remember(training, shape=x.shape)
        if self.channels_last and x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        shape = self._recall()["shape"]
        dy = self.check_output_grad(dy, (shape[0], math.prod(shape[1:])))
        if self.channels_last and len(shape) == 4:
            n, c, h, w = shape
            return dy.reshape(n, h, w, c).transpose(0, 3, 1, 2)
        return dy.reshape(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "channels_last": self.channels_last}
