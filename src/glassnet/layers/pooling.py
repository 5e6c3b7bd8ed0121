"""Pooling over ``KH x KW`` windows of ``x: (N, C, H, W)``; output ``(N, C, OH, OW)``.

Max and sum over a rectangle are separable: pool each row over its ``KW``-wide windows
(along W), then pool those results over ``KH``-high windows (along H). That is ``KW + KH``
passes instead of ``KH * KW``, and the second pass reads whole contiguous rows. No loop
over pixels or images: every pass covers the whole batch.

MaxPool2D keeps, when training, per axis, the offset of the maximum (uint8 for windows up
to 256); the gradient goes to that one element. Taking the first maximum along W, then
the first row whose maximum is strictly larger, picks the first maximum of the window in
row-major order: ties are broken as PyTorch does. Only non-finite inputs differ, in the
gradient: a padded window whose real values are all -inf gives it to the -inf padding
before them (lost), PyTorch to the first real value; a window with a NaN that is not its
first value gives it to the first maximum of the rows above the NaN's row (of the values
left of the NaN when in the first row), PyTorch to the NaN.
AvgPool2D divides by ``KH*KW`` (padding counts, PyTorch's ``count_include_pad=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..backend import Array, array_module
from ..errors import ConfigError
from .base import Layer
from .windows import Pads, padding_config, resolve_padding, to_pair, window_output_shape

H_AXIS, W_AXIS = 2, 3


def _along(a: Array, axis: int, window: slice) -> Array:
    """``a[:, :, window]`` (axis 2) or ``a[:, :, :, window]`` (axis 3): a view."""
    return a[:, :, window] if axis == H_AXIS else a[:, :, :, window]


class _WindowPool:
    """Shared arguments, shapes and separable passes of the window pools (a mixin, not a
    registered layer)."""

    pad_value = 0.0

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str | int | tuple[int, int] = "valid", name: str | None = None) -> None:
        super().__init__(name)
        label = type(self).__name__
        self.pool_size = to_pair(pool_size, f"{label} pool_size")
        self.strides = self.pool_size if strides is None else to_pair(strides, f"{label} strides")
        self.pads: Pads = resolve_padding(padding, (1, 1), self.pool_size, self.strides, label,
                                          allow_same=False)
        if self.pads[0] > self.pool_size[0] // 2 or self.pads[2] > self.pool_size[1] // 2:
            raise ConfigError(f"{label} padding {padding!r} is more than half the pool size "
                              f"{self.pool_size}")
        self.padding = padding_config(padding)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        oh, ow = window_output_shape(type(self).__name__, input_shape, self.pool_size,
                                     self.strides, self.pads)
        return (input_shape[0], oh, ow)

    def _windows(self, axis: int) -> list[slice]:
        """For each offset ``k`` along ``axis``: the slice it reads at every output position."""
        i = axis - H_AXIS
        return F.window_slices(self.pool_size[i], self.strides[i], self.output_shape[1 + i])

    def _padded_shape(self, x_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        n, c, h, w = x_shape
        top, bottom, left, right = self.pads
        return (n, c, h + top + bottom, w + left + right)

    def _spread(self, d: Array, axis: int, shape: tuple[int, ...], argmax: Array | None = None) -> Array:
        """Adjoint of one pass along ``axis``: send ``d`` back to every offset's positions
        (only to the offset in ``argmax`` where given); ``shape`` is the pass's input shape."""
        xp = array_module(d)
        k, s = self.pool_size[axis - H_AXIS], self.strides[axis - H_AXIS]
        tiles = s == k and self.output_shape[axis - 1] * k == shape[axis]  # each input used once
        out = (xp.empty if tiles else xp.zeros)(shape, dtype=d.dtype)
        for offset, window in enumerate(self._windows(axis)):
            target = _along(out, axis, window)
            if s < k:  # overlapping windows add up
                target += d if argmax is None else d * (argmax == offset)
            elif argmax is None:
                target[...] = d
            else:
                xp.multiply(d, argmax == offset, out=target)
        return out

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

    shardable = True
    pad_value = -np.inf

    def _max_along(self, a: Array, axis: int, training: bool) -> tuple[Array, Array | None]:
        """Running maximum over the offsets along ``axis`` and, when ``training`` (backward
        needs it), the (first) offset that won: the smallest unsigned integer type that
        holds the offsets (uint8 up to windows of 256)."""
        xp = array_module(a)
        views = [_along(a, axis, window) for window in self._windows(axis)]
        if len(views) == 1:
            return views[0], None
        out = xp.maximum(views[0], views[1])
        if not training:
            for view in views[2:]:
                xp.maximum(out, view, out=out)
            return out, None
        # strict: ties keep the earlier offset
        argmax = (views[1] > views[0]).astype(np.min_scalar_type(len(views) - 1))
        for k, view in enumerate(views[2:], start=2):
            xp.copyto(argmax, argmax.dtype.type(k), where=view > out)
            xp.maximum(out, view, out=out)
        return out, argmax

    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        padded = F.pad_images(x, self.pads, self.pad_value)
        rows, col_argmax = self._max_along(padded, W_AXIS, training)
        out, row_argmax = self._max_along(rows, H_AXIS, training)
        self._remember(training, col_argmax=col_argmax, row_argmax=row_argmax, x_shape=x.shape)
        return out if out.base is None else out.copy()

    def backward(self, dy: Array) -> Array:
        cache = self._recall()
        dy = self.check_output_grad(dy, (cache["x_shape"][0], *self.output_shape))
        padded = self._padded_shape(cache["x_shape"])
        rows_shape = (*padded[:3], self.output_shape[2])
        d_rows = self._spread(dy, H_AXIS, rows_shape, cache["row_argmax"])
        return F.unpad_images(self._spread(d_rows, W_AXIS, padded, cache["col_argmax"]), self.pads)


class AvgPool2D(_WindowPool, Layer):
    """``y[n, c, p] = mean`` of window ``p`` (padding counts); ``dx`` spreads ``dy / (KH*KW)``.

    Args as :class:`MaxPool2D` (padding with zeros).
    """

    shardable = True

    @staticmethod
    def _sum(views: list[Array]) -> Array:
        out = views[0] + views[1] if len(views) > 1 else views[0].copy()
        for view in views[2:]:
            out += view
        return out

    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        padded = F.pad_images(x, self.pads)
        rows = self._sum([_along(padded, W_AXIS, w) for w in self._windows(W_AXIS)])
        out = self._sum([_along(rows, H_AXIS, w) for w in self._windows(H_AXIS)])
        out *= x.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        self._remember(training, x_shape=x.shape)
        return out

    def backward(self, dy: Array) -> Array:
        x_shape = self._recall()["x_shape"]
        dy = self.check_output_grad(dy, (x_shape[0], *self.output_shape))
        padded = self._padded_shape(x_shape)
        share = dy * dy.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        d_rows = self._spread(share, H_AXIS, (*padded[:3], self.output_shape[2]))
        return F.unpad_images(self._spread(d_rows, W_AXIS, padded), self.pads)


class GlobalAveragePooling2D(Layer):
    """``(N, C, H, W)`` → ``(N, C)``: the mean of each channel; ``dx = dy / (H*W)`` everywhere."""

    shardable = True

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        window_output_shape("GlobalAveragePooling2D", input_shape, (1, 1), (1, 1), (0, 0, 0, 0))
        return (input_shape[0],)

    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        self._remember(training, x_shape=x.shape)
        return x.mean(axis=(2, 3), dtype=x.dtype)

    def backward(self, dy: Array) -> Array:
        n, c, h, w = self._recall()["x_shape"]
        dy = self.check_output_grad(dy, (n, c))
        dx = array_module(dy).empty((n, c, h, w), dtype=dy.dtype)
        dx[...] = (dy * dy.dtype.type(1.0 / (h * w)))[:, :, None, None]
        return dx
