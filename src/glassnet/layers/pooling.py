"""Pooling over ``KH x KW`` windows of ``x: (N, C, H, W)``; output ``(N, C, OH, OW)``.

Both pools loop over the ``KH*KW`` kernel offsets (4 passes for 2x2), never over pixels;
each pass reads one strided view of the (padded) input for every image and channel.

MaxPool2D keeps, per output, the offset ``k`` of its maximum (uint8); the gradient goes to
that one element. Ties go to the first maximum in row-major window order, as in PyTorch.
AvgPool2D divides by ``KH*KW`` (padding counts, PyTorch's ``count_include_pad=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..backend import Array, array_module
from ..errors import ConfigError
from .base import Layer
from .conv import Pads, check_image_batch, resolve_padding, to_pair, window_output_shape


class _WindowPool:
    """Shared arguments and shape logic of the window pools (a mixin: not a registered layer)."""

    pad_value = 0.0

    def __init__(self, pool_size: int | tuple[int, int] = 2, strides: int | tuple[int, int] | None = None,
                 padding: str | int | tuple[int, int] = "valid", name: str | None = None) -> None:
        super().__init__(name)
        label = type(self).__name__
        self.pool_size = to_pair(pool_size, f"{label} pool_size")
        self.strides = self.pool_size if strides is None else to_pair(strides, f"{label} strides")
        if padding == "same":
            raise ConfigError(f"{label} padding must be 'valid', an integer or a pair, got 'same'")
        self.pads: Pads = resolve_padding(padding, (1, 1), self.pool_size, self.strides, label)
        if self.pads[0] > self.pool_size[0] // 2 or self.pads[2] > self.pool_size[1] // 2:
            raise ConfigError(f"{label} padding {padding!r} is more than half the pool size "
                              f"{self.pool_size}")
        self.padding = list(padding) if isinstance(padding, tuple) else padding

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        oh, ow = window_output_shape(type(self).__name__, input_shape, self.pool_size,
                                     self.strides, self.pads)
        return (input_shape[0], oh, ow)

    def _windows(self, x: Array):
        """Yield ``(k, view)``: the input each kernel offset ``k`` reads, ``(N, C, OH, OW)``."""
        padded = F.pad_images(x, self.pads, self.pad_value)
        for k, rows, cols in F.kernel_offsets(self.pool_size, self.strides, self.output_shape[1:]):
            yield k, padded[:, :, rows, cols]

    def _scatter(self, x_shape: tuple[int, ...], dtype, parts) -> Array:
        """Add ``(k, grad)`` pairs back at each offset's positions → ``dx: (N, C, H, W)``."""
        n, c, h, w = x_shape
        top, bottom, left, right = self.pads
        dx = None
        for k, rows, cols in F.kernel_offsets(self.pool_size, self.strides, self.output_shape[1:]):
            grad = parts(k)
            if dx is None:
                dx = array_module(grad).zeros((n, c, h + top + bottom, w + left + right), dtype=dtype)
            dx[:, :, rows, cols] += grad
        return F.unpad_images(dx, self.pads)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding}


class MaxPool2D(_WindowPool, Layer):
    """``y[n, c, p] = max`` of window ``p``; ``dx`` gets ``dy`` at the (first) maximum only.

    Args:
        pool_size: ``K`` or ``(KH, KW)`` (default 2).
        strides: default ``pool_size`` (non-overlapping windows).
        padding: ``"valid"``, or an int / pair of at most half the window (padded with -inf).
    """

    pad_value = -np.inf

    def forward(self, x: Array, training: bool = False) -> Array:
        check_image_batch(self, x)
        xp = array_module(x)
        out = argmax = None
        for k, view in self._windows(x):
            if out is None:
                out = view.copy()
                argmax = xp.zeros(out.shape, dtype=np.uint8)
                continue
            greater = view > out  # strict: ties keep the earlier offset, as PyTorch does
            xp.copyto(argmax, k, where=greater)
            xp.maximum(out, view, out=out)
        if training:
            self._remember(argmax=argmax, x_shape=x.shape)
        return out

    def backward(self, dy: Array) -> Array:
        cache = self._recall()
        argmax = cache["argmax"]
        return self._scatter(cache["x_shape"], dy.dtype, lambda k: dy * (argmax == k))


class AvgPool2D(_WindowPool, Layer):
    """``y[n, c, p] = mean`` of window ``p`` (padding counts); ``dx`` spreads ``dy / (KH*KW)``.

    Args as :class:`MaxPool2D` (padding with zeros).
    """

    def forward(self, x: Array, training: bool = False) -> Array:
        check_image_batch(self, x)
        out = None
        for _, view in self._windows(x):
            if out is None:
                out = view.copy()
            else:
                out += view
        out *= x.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        if training:
            self._remember(x_shape=x.shape)
        return out

    def backward(self, dy: Array) -> Array:
        x_shape = self._recall()["x_shape"]
        share = dy * dy.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        return self._scatter(x_shape, dy.dtype, lambda k: share)


class GlobalAveragePooling2D(Layer):
    """``(N, C, H, W)`` → ``(N, C)``: the mean of each channel; ``dx = dy / (H*W)`` everywhere."""

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        window_output_shape("GlobalAveragePooling2D", input_shape, (1, 1), (1, 1), (0, 0, 0, 0))
        return (input_shape[0],)

    def forward(self, x: Array, training: bool = False) -> Array:
        check_image_batch(self, x)
        if training:
            self._remember(x_shape=x.shape)
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def backward(self, dy: Array) -> Array:
        n, c, h, w = self._recall()["x_shape"]
        dx = array_module(dy).empty((n, c, h, w), dtype=dy.dtype)
        dx[...] = (dy * dy.dtype.type(1.0 / (h * w)))[:, :, None, None]
        return dx
