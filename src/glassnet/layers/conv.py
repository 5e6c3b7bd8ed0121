"""2-D convolution (cross-correlation, as in every framework) by im2col and GEMM.

Shapes: ``x: (N, C, H, W)``, kernel ``W: (F, C, KH, KW)``, ``b: (F,)``, ``y: (N, F, OH, OW)``.
With ``cols = im2col(x): (C*KH*KW, N*OH*OW)`` and ``W2 = W.reshape(F, C*KH*KW)``:

Forward:  ``z = W2 @ cols + b``          ``(F, N*OH*OW)``: one GEMM per group of images,
          then ``y = act(z)`` moved to ``(N, F, OH, OW)`` (with ReLU, in the same pass)
Backward: ``dz = dy * act'(z)``,  ``db = sum_p dz``, and

- stride 1, a kernel larger than 1x1 and no more filters than input channels (``F <= C``;
  precisely, ``dz``'s unfolding no larger than ``x``'s): ``dx`` is itself a convolution, of
  ``dz`` zero-padded by ``KH-1-top`` rows above and so on, with the kernel flipped in both
  spatial axes and its channel axes swapped (``Wf: (C, F, KH, KW)``). With
  ``dcols = im2col(dz padded): (F*KH*KW, N*H*Wp)`` (whole rows, ``Wp = W + 1`` for a "same"
  3x3 kernel, below), ONE unfolding gives both gradients: ``dx = Wf2 @ dcols`` and
  ``dWf2 = dcols @ x.T`` (``dW`` is ``dWf2`` flipped back);
- otherwise: ``dz`` as ``(F, N*OH*OW)``, ``dW2 = dz @ cols.T`` and
  ``dx = col2im(W2.T @ dz)`` (windows added back where they overlap; ``dx`` only when
  needed: not in a model's first layer).

Why two ways: ``col2im`` adds ``KH*KW`` shifted slabs into ``dx``, nine passes over memory
for a 3x3 kernel, after unfolding ``x`` again for ``dW``. The flipped-kernel GEMM writes
``dx`` once and reuses the one unfolding of ``dz`` for ``dW``: a 10-40% faster backward when
``F <= C`` (benchmarks/RESULTS.md). But it unfolds ``F`` channels instead of ``C``: about
even at ``F = 2C``, twice as slow for a first-layer shape such as 3 -> 32, hence the rule.

Why in groups of images: ``cols`` is ``KH*KW`` times the size of ``x`` (151 MB for 128
images of 32 channels at 32x32). Unfolding a few images at a time keeps ``cols`` and the
GEMM's output (``GROUP_BYTES`` in all) in the CPU's cache, where writing them is several
times faster than to main memory, and the backward pass unfolds again instead of keeping
every layer's ``cols`` alive between forward and backward (memory: only ``x`` is kept, as
in PyTorch). The sums over images
(``dW``, ``db``) simply add up over the groups.

With stride 1 the columns cover whole padded rows (``F.im2col_rows``: ``OH*Wp`` positions
per image instead of ``OH*OW``, for fewer and longer copies; ``Wp = W + 1`` for a "same"
3x3 kernel, one row's right padding doubling as the next row's left, ``F.rows_width``); the
extra outputs at the end of each row are dropped, and in backward their columns meet zeros.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from .._checks import check_positive_int
from ..backend import Array, RandomSource, array_module
from ..errors import ShapeError
from ..scratch import scratch
from .activations import ReLU
from .base import Layer
from .kernel import KernelOptions
from .windows import Pads, padding_config, resolve_padding, to_pair, window_output_shape

# Size of the arrays one group of images works on at once (its unfolded columns and the
# GEMM's output): large enough for efficient GEMMs, small enough to stay in the CPU's
# (L2/L3) cache. 2-8 MiB measured about equally fast; counting the GEMM's output too, not
# only the columns, made cnn-keras and cnn-bn training 1-5% faster (benchmarks/RESULTS.md).
GROUP_BYTES = 4 * 2**20


def _check_padding_fits(pads: Pads, input_hw: tuple[int, int], kernel: tuple[int, int]) -> None:
    """Padding beyond both the kernel and the image adds only rows and columns of zeros (a
    model file asking for a million of them would make predict allocate terabytes)."""
    for pad, size, k, axis in ((max(pads[:2]), input_hw[0], kernel[0], "height"),
                               (max(pads[2:]), input_hw[1], kernel[1], "width")):
        if pad > max(k, size):
            raise ShapeError(f"Conv2D padding {pad} along the {axis} is more than both the kernel "
                             f"({k}) and the input ({size}): it would add only zeros")


#: values one image may take in a convolution's output or its unfolded columns (4 GiB of
#: float32): a small model file could otherwise ask predict for terabytes (a 100000 x 1
#: kernel on a 1 x 1 image with as much padding)
MAX_VALUES_PER_IMAGE = 2**30


def _check_work_per_image(layer: str, output: tuple[int, ...], columns: int) -> None:
    values = max(math.prod(output), columns)
    if values > MAX_VALUES_PER_IMAGE:
        raise ShapeError(f"{layer} would compute {values:,} values per image (output {output}, "
                         f"{columns:,} unfolded), more than glassnet's limit of "
                         f"{MAX_VALUES_PER_IMAGE:,}: use smaller images, kernels or padding")


class Conv2D(KernelOptions, Layer):
    """``y = act(conv2d(x, W) + b)`` for ``x: (N, C, H, W)``; output ``(N, filters, OH, OW)``.

    Args:
        filters: output channels ``F``.
        kernel_size: ``K`` or ``(KH, KW)``.
        strides: ``S`` or ``(SH, SW)``.
        padding: ``"valid"``, ``"same"`` (Keras), an int or ``(ph, pw)`` (PyTorch-style).
        activation: fused activation (``"relu"``, ...), or ``None``.
        use_bias: add ``b``.
        kernel_initializer: as for :class:`~glassnet.layers.Dense`; ``fan_in = C*KH*KW``,
            ``fan_out = F*KH*KW`` as in Keras.
        kernel_regularizer: L2 strength for ``W`` (overrides the model's ``reg``).
    """

    shardable = True

    def __init__(self, filters: int, kernel_size: int | Sequence[int] = 3,
                 strides: int | Sequence[int] = 1, padding: str | int | Sequence[int] = "valid",
                 activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str | float = "glorot_uniform",
                 kernel_regularizer: float | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.filters = check_positive_int(filters, "Conv2D filters")
        self.kernel_size = to_pair(kernel_size, "Conv2D kernel_size")
        self.strides = to_pair(strides, "Conv2D strides")
        resolve_padding(padding, (1, 1), self.kernel_size, self.strides, "Conv2D")  # validates
        self.padding = padding_config(padding)
        self._init_kernel_options(activation, use_bias, kernel_initializer, kernel_regularizer)
        self.pads: Pads = (0, 0, 0, 0)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) == 3:
            self.pads = resolve_padding(self.padding, input_shape[1:], self.kernel_size,
                                        self.strides, "Conv2D")
            _check_padding_fits(self.pads, input_shape[1:], self.kernel_size)
        oh, ow = window_output_shape("Conv2D", input_shape, self.kernel_size, self.strides, self.pads)
        _check_work_per_image("Conv2D", (self.filters, oh, ow),
                              input_shape[0] * math.prod(self.kernel_size) * oh * ow)
        return (self.filters, oh, ow)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        return self._kernel_shapes((self.filters, input_shape[0], *self.kernel_size), self.filters)

    def build(self, input_shape: tuple[int, ...], rng: RandomSource, dtype: Any) -> tuple[int, ...]:
        out = super().build(input_shape, rng, dtype)
        c, (kh, kw) = input_shape[0], self.kernel_size
        shape = self.array_shapes(input_shape)["W"]
        W = self.kernel_initializer(shape, c * kh * kw, self.filters * kh * kw, rng)
        self._create_params(W, self.filters, out, rng, dtype)
        return out

    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        bias = self.params["b"] if self.use_bias else None
        y = self.convolve(x, self.params["W"], bias, relu=self.fused_relu)
        if self.activation is not None and not self.fused_relu:
            y = self.activation.forward(y, training)
        self._remember(training, x=x, y=y if self.fused_relu else None)
        return y

    def convolve(self, x: Array, W: Array, b: Array | None, relu: bool) -> Array:
        """``y = conv2d(x, W) + b``, then ``max(y, 0)`` if ``relu``: the forward pass with a
        kernel ``W: (F, C, KH, KW)`` and bias ``b: (F,)`` (or ``None``) given, in this layer's
        shapes (inference with a BatchNorm folded in passes scaled ones: ``layers/folding.py``).
        ``x: (N, C, H, W)``, already checked; ``y: (N, F, OH, OW)``."""
        xp, (oh, ow) = array_module(x), self.output_shape[1:]
        y = xp.empty((x.shape[0], *self.output_shape), dtype=x.dtype)
        W2 = W.reshape(self.filters, -1)
        width = self._unfolded_width()
        for part in self._forward_groups(x):
            cols = self._unfold(x[part])
            # (F, CKK) @ (CKK, n*OH*width): one GEMM per group of images
            z = xp.matmul(W2, cols, out=scratch(xp, "gemm", (self.filters, cols.shape[1]), x.dtype))
            if b is not None:
                z += b[:, None]
            z = z.reshape(self.filters, -1, oh, width)[..., :ow].transpose(1, 0, 2, 3)  # NCHW view
            if relu:  # ReLU and the copy to NCHW in one pass
                xp.maximum(z, 0, out=y[part])
            else:
                y[part] = z
        return y

    def backward(self, dy: Array) -> Array | None:
        cache = self._recall()
        dy = self.check_output_grad(dy, (len(cache["x"]), *self.output_shape))
        if self.activation is not None and not self.fused_relu:
            dy = self.activation.backward(dy)
        relu_y = cache["y"] if self.fused_relu else None
        if self.use_bias:
            self.grads["b"][...] = 0
        if self.input_grad and self._unfolds_dz():
            return self._backward_stride_1(dy, cache["x"], relu_y)
        return self._backward_by_unfolding_x(dy, cache["x"], relu_y)

    def _unfolds_dz(self) -> bool:
        """Whether backward, when it needs ``dx``, takes it from the unfolded ``dz``: stride 1,
        a kernel larger than 1x1 (a 1x1 one has no overlapping windows for col2im to add up),
        and ``dz``'s unfolding no larger than ``x``'s (``F <= C`` with "same" padding; a large
        "valid" kernel makes ``dz``'s larger). Module docstring."""
        (c, h, _), (kh, kw) = self.input_shape, self.kernel_size
        if self.strides != (1, 1) or kh * kw == 1:
            return False
        dz_unfolded = self.filters * h * self._dz_unfolded_width()
        return dz_unfolded <= c * self.output_shape[1] * self._unfolded_width()

    def _backward_stride_1(self, dy: Array, x: Array, relu_y: Array | None) -> Array:
        """``dx`` as the convolution of the fully padded ``dz`` with the flipped kernel, and
        ``dW`` from the same unfolded ``dz`` (module docstring). ``dy: (N, F, OH, OW)``."""
        xp, (f, c, kh, kw), (h, w) = array_module(dy), self.params["W"].shape, x.shape[2:]
        # Wf2[c, (f, u, v)] = W[f, c, KH-1-u, KW-1-v]
        flipped = self.params["W"][:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        Wf2 = xp.ascontiguousarray(flipped).reshape(c, -1)
        dWf2 = xp.zeros((f * kh * kw, c), dtype=dy.dtype)
        dx = xp.empty_like(x)
        width = self._dz_unfolded_width()  # of each row of dz's unfolding, and of x_rows
        # a group holds dcols, x_rows and the GEMM's output for dx at once
        for part in self._image_groups(x, (f * kh * kw + 2 * c) * h * width):
            dz = dy[part]
            if relu_y is not None:
                dz = xp.multiply(dz, relu_y[part] > 0, out=scratch(xp, "dz", dz.shape, dz.dtype))
            if self.use_bias:
                self.grads["b"] += dz.sum(axis=(0, 2, 3))
            dcols, _ = F.im2col_rows(*self._full_padding(dz), scratch=True)  # (F*KH*KW, n*H*width)
            n = dz.shape[0]
            x_rows = scratch(xp, "rows", (c, n, h, width), x.dtype)  # x in dcols' positions:
            x_rows[..., w:] = 0                                         # zeros where rows wrap
            x_rows[..., :w] = x[part].transpose(1, 0, 2, 3)
            dWf2 += dcols @ x_rows.reshape(c, -1).T
            dx_rows = xp.matmul(Wf2, dcols, out=scratch(xp, "gemm", (c, dcols.shape[1]), x.dtype))
            dx[part] = dx_rows.reshape(c, n, h, width)[..., :w].transpose(1, 0, 2, 3)
        self.grads["W"][...] = dWf2.reshape(f, kh, kw, c)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
        return dx

    def _full_padding(self, dz: Array) -> tuple[Array, tuple[int, int], Pads]:
        """``(dz, kernel, pads)`` for ``im2col_rows`` such that unfolding gives every window
        that touches input pixel ``(i, j)`` at position ``(i, j)``: ``KH-1-top`` rows above
        and so on. Padding wider than ``KH-1`` made output rows that see only zeros; their
        ``dz`` reaches no input pixel, so those rows are cut off instead."""
        oh, ow = dz.shape[2:]
        (top, bottom, left, right), pads = self._full_pads()
        return dz[:, :, top:oh - bottom, left:ow - right], self.kernel_size, pads

    def _full_pads(self) -> tuple[Pads, Pads]:
        """``(cut, pads)`` for :meth:`_full_padding`: the rows and columns cut off ``dz`` on
        each side, and the zeros added, both as ``(top, bottom, left, right)``."""
        (kh, kw), (top, bottom, left, right) = self.kernel_size, self.pads
        top, bottom, left, right = kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right
        cut = (max(-top, 0), max(-bottom, 0), max(-left, 0), max(-right, 0))
        return cut, (max(top, 0), max(bottom, 0), max(left, 0), max(right, 0))

    def _dz_unfolded_width(self) -> int:
        """Positions per row in the unfolding of the fully padded ``dz`` (:meth:`_full_padding`)."""
        (_, _, cut_left, cut_right), (_, _, left, right) = self._full_pads()
        return F.rows_width(self.output_shape[2] - cut_left - cut_right, self.kernel_size[1], left, right)

    def _backward_by_unfolding_x(self, dy: Array, x: Array, relu_y: Array | None) -> Array | None:
        """``dW2 = dz @ cols.T`` and ``dx = col2im(W2.T @ dz)`` (``dx`` only when
        ``input_grad``), with ``x`` unfolded again group by group. ``dy: (N, F, OH, OW)``."""
        xp, (c, kh, kw) = array_module(dy), (self.input_shape[0], *self.kernel_size)
        W2 = self.params["W"].reshape(self.filters, -1)
        dW2 = self.grads["W"].reshape(self.filters, -1)
        dW2[...] = 0
        dx = xp.empty_like(x) if self.input_grad else None
        width = self._unfolded_width()
        # a group holds cols, dz and (when dx is needed) the GEMM's output for dx at once
        unfolded = c * kh * kw * (2 if self.input_grad else 1)
        for part in self._image_groups(x, (unfolded + self.filters) * self.output_shape[1] * width):
            cols = self._unfold(x[part])  # x is unfolded again: cols were not kept
            dz = self._output_grad_columns(dy[part], None if relu_y is None else relu_y[part], width)
            dW2 += F.matmul_bt(dz, cols)  # dz @ cols.T, in the order BLAS is faster at
            if self.use_bias:
                self.grads["b"] += dz.sum(axis=1)
            if dx is not None:
                dcols = xp.matmul(W2.T, dz, out=scratch(xp, "gemm", cols.shape, dz.dtype))
                dx[part] = self._fold(dcols, x[part].shape)
        return dx

    def _output_grad_columns(self, dy: Array, y: Array | None, width: int) -> Array:
        """``dy: (n, F, OH, OW)`` → ``dz: (F, n*OH*width)``, the layout of ``z`` (zeros in
        the ``width - OW`` wrapped columns of :func:`~glassnet.functional.im2col_rows`).
        With a fused ReLU (``y`` its output) its backward ``dy * (y > 0)`` comes first, on
        the contiguous arrays: NumPy took 1.3-2 times as long to multiply the transposed
        views straight into ``dz`` as to multiply and then copy across."""
        xp, (oh, ow) = array_module(dy), self.output_shape[1:]
        if y is not None:
            dy = xp.multiply(dy, y > 0, out=scratch(xp, "masked", dy.shape, dy.dtype))
        dz = scratch(xp, "dz", (self.filters, dy.shape[0], oh, width), dy.dtype)
        dz[..., ow:] = 0
        dz[..., :ow] = dy.transpose(1, 0, 2, 3)
        return dz.reshape(self.filters, -1)

    def _unfold(self, x: Array) -> Array:
        """``x: (n, C, H, W)`` → ``cols: (C*KH*KW, n*OH*width)``, ``width`` as
        :meth:`_unfolded_width` gives it; in this thread's scratch memory (``glassnet.scratch``:
        valid until the next group's)."""
        if self.strides == (1, 1):
            return F.im2col_rows(x, self.kernel_size, self.pads, scratch=True)[0]
        return F.im2col(x, self.kernel_size, self.strides, self.pads, scratch=True)

    def _unfolded_width(self) -> int:
        """Positions per output row in :meth:`_unfold`'s columns: for stride 1 ``im2col_rows``'
        ``Wp`` (:func:`~glassnet.functional.rows_width`), else ``OW``."""
        (_, _, w), (left, right) = self.input_shape, self.pads[2:]
        if self.strides != (1, 1):
            return self.output_shape[2]
        return F.rows_width(w, self.kernel_size[1], left, right)

    def _fold(self, cols: Array, x_shape: tuple[int, ...]) -> Array:
        """The adjoint of :meth:`_unfold`: ``cols`` summed back into ``(n, C, H, W)``."""
        if self.strides == (1, 1):
            return F.col2im_rows(cols, x_shape, self.kernel_size, self.pads, scratch=True)
        return F.col2im(cols, x_shape, self.kernel_size, self.strides, self.pads, scratch=True)

    def _forward_groups(self, x: Array) -> list[slice]:
        """The groups of images of the forward pass, each one GEMM ``W2 @ cols`` of shape
        ``(F, C·KH·KW) @ (C·KH·KW, n·OH·width)``: a group holds its unfolded columns and the
        GEMM's output at once."""
        c, (kh, kw) = self.input_shape[0], self.kernel_size
        rows = c * kh * kw + self.filters  # of cols, and of the GEMM's output
        return self._image_groups(x, rows * self.output_shape[1] * self._unfolded_width())

    def _image_groups(self, x: Array, values_per_image: int) -> list[slice]:
        """Slices of the batch whose working arrays (``values_per_image`` numbers per image:
        unfolded columns and GEMM output) fit in :data:`GROUP_BYTES` (on a GPU: the whole
        batch at once, which keeps its thousands of cores busy)."""
        n = x.shape[0]
        if array_module(x) is not np:
            return [slice(0, n)]
        return F.batch_slices(n, max(1, GROUP_BYTES // (values_per_image * x.itemsize)))

    @property
    def fused_relu(self) -> bool:
        return isinstance(self.activation, ReLU)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            **self._kernel_config(),
        }
