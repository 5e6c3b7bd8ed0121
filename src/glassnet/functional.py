"""Pure, shared math used by layers, losses and metrics.

Each function works on NumPy and CuPy arrays alike and never takes ``log(0)`` or
overflows ``exp``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from .backend import Array, array_module
from .scratch import scratch as scratch_array

if TYPE_CHECKING:
    from numpy.typing import DTypeLike


def as_float(z: Array) -> Array:
    """``z`` itself when it holds floats, else (integers, bools) as float64: the functions
    below return fractions, and in an integer dtype ``-abs(z)`` and ``z - max(z)`` wrap
    around (uint8 ``0 - 2`` is 254, so ``exp`` of it overflows)."""
    return z if z.dtype.kind in "fc" else z.astype(np.float64)


def sigmoid(z: Array) -> Array:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``, any shape.

    ``exp`` is only ever taken of a non-positive number: for ``z >= 0`` we use
    ``1 / (1 + exp(-z))`` and for ``z < 0`` the equal ``exp(z) / (1 + exp(z))``.
    """
    xp = array_module(z)
    z = as_float(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def softplus(z: Array) -> Array:
    """``log(1 + exp(z))``, any shape, written ``max(z, 0) + log1p(exp(-|z|))`` so that
    ``exp`` never overflows (binary cross-entropy from logits is ``softplus(z) - z * y``)."""
    xp = array_module(z)
    z = as_float(z)
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


def log_sigmoid(z: Array) -> Array:
    """``log(sigmoid(z)) = -softplus(-z)``, any shape, stable for large ``|z|``."""
    return -softplus(-as_float(z))  # (an unsigned -z wraps around)


def log_softmax(z: Array, axis: int = -1) -> Array:
    """``z - logsumexp(z)`` along ``axis``; the max is subtracted first so ``exp`` cannot overflow."""
    xp = array_module(z)
    shifted = _shifted(z, axis)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: Array, axis: int = -1) -> Array:
    """Probabilities ``exp(z) / sum(exp(z))`` along ``axis``, computed from shifted logits."""
    xp = array_module(z)
    e = xp.exp(_shifted(z, axis))
    return e / e.sum(axis=axis, keepdims=True)


def _shifted(z: Array, axis: int) -> Array:
    """``z - max(z)`` along ``axis``: at most 0, so ``exp`` of it cannot overflow. Logits
    spread wider than the dtype's range give ``-inf`` here, which is exact (a probability
    that rounds to 0): no overflow warning for it."""
    z = as_float(z)
    with np.errstate(over="ignore"):
        return z - z.max(axis=axis, keepdims=True)


def one_hot(labels: Array, num_classes: int, dtype: DTypeLike = np.float32) -> Array:
    """Integer labels ``(N,)`` → one-hot matrix ``(N, num_classes)``."""
    xp = array_module(labels)
    out = xp.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels.astype(np.int64)] = 1
    return out


# -- image windows: shared by convolution and pooling ---------------------------------
# Images are (N, C, H, W). ``pads`` is (top, bottom, left, right); kernels and strides are
# (height, width) pairs. Nothing here loops over images or pixels: im2col is one strided
# view plus one contiguous copy, col2im and pooling loop over the KH*KW kernel offsets.
# im2col_rows/col2im_rows are the same pair for stride 1, arranged for fewer, longer copies.


def output_size(size: int, kernel: int, stride: int, pad_before: int = 0, pad_after: int = 0) -> int:
    """Number of window positions along one axis: ``(size + pads - kernel) // stride + 1``."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow/Keras "same" padding along one axis: output ``ceil(size / stride)``;
    any odd total goes after (bottom/right), so stride 1 and odd kernels pad symmetrically."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _empty(xp, slot: str, shape: tuple[int, ...], dtype, scratch: bool) -> Array:
    """A new array, or with ``scratch`` this thread's scratch array for ``slot``
    (:mod:`glassnet.scratch`: valid until the next request for that slot)."""
    return scratch_array(xp, slot, shape, dtype) if scratch else xp.empty(shape, dtype=dtype)


def pad_images(x: Array, pads: tuple[int, int, int, int], value: float = 0.0,
               scratch: bool = False) -> Array:
    """``x: (N, C, H, W)`` → ``(N, C, H + top + bottom, W + left + right)``, the borders filled
    with ``value`` (each element written once: the borders, then ``x`` inside them); in this
    thread's scratch memory (:mod:`glassnet.scratch`) if ``scratch``."""
    top, bottom, left, right = pads
    if not any(pads):
        return x
    xp = array_module(x)
    n, c, h, w = x.shape
    out = _empty(xp, "padded", (n, c, h + top + bottom, w + left + right), x.dtype, scratch)
    out[:, :, :top] = value
    out[:, :, top + h:] = value
    out[:, :, top:top + h, :left] = value
    out[:, :, top:top + h, left + w:] = value
    out[:, :, top:top + h, left:left + w] = x
    return out


def unpad_images(x: Array, pads: tuple[int, int, int, int]) -> Array:
    """The inverse of :func:`pad_images`: a view of the interior of ``x: (N, C, H, W)``,
    ``(N, C, H - top - bottom, W - left - right)`` with ``pads = (top, bottom, left, right)``."""
    top, bottom, left, right = pads
    h, w = x.shape[2], x.shape[3]
    return x[:, :, top:h - bottom, left:w - right]


def batch_slices(n: int, size: int) -> list[slice]:
    """``[0:size], [size:2*size], ...`` covering ``n`` items (the last one may be shorter)."""
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def count_within(budget_bytes: int, item_bytes: int, most: int) -> int:
    """How many items of ``item_bytes`` each fit in ``budget_bytes``: at least 1, at most ``most``
    (the size of a batch or chunk that must stay bounded in memory, whatever the item size)."""
    return max(1, min(most, budget_bytes // max(item_bytes, 1)))


def matmul_bt(a: Array, b: Array) -> Array:
    """``a @ b.T`` for ``a: (M, K)``, ``b: (P, K)``: ``(M, P)``, possibly a transposed view.

    Why: for these products over a long ``K`` (a weight gradient summed over every output
    position), OpenBLAS is faster with the operand of more rows on the left (1.2 times for a
    32->64 layer's ``288 x 1440 @ 1440 x 64`` against ``64 x 1440 @ 1440 x 288``,
    benchmarks/RESULTS.md), so when ``b`` has more rows this computes ``(b @ a.T).T``, the
    same numbers.
    """
    return (b @ a.T).T if b.shape[0] > a.shape[0] else a @ b.T


def part_slice(n: int, part: int, parts: int) -> slice:
    """Part ``part`` of ``n`` items cut into ``parts`` consecutive parts whose sizes differ by
    at most one (the parts of ``0..n`` in order, as ``numpy.array_split`` makes them)."""
    return slice(n * part // parts, n * (part + 1) // parts)


def window_slices(kernel: int, stride: int, out: int) -> list[slice]:
    """Along one axis: for each offset ``i`` in a window of ``kernel``, the slice of the
    (padded) input it reads at every one of the ``out`` window positions."""
    return [slice(i, i + stride * (out - 1) + 1, stride) for i in range(kernel)]


def kernel_offsets(kernel: tuple[int, int], stride: tuple[int, int],
                   out_hw: tuple[int, int]) -> Iterator[tuple[int, slice, slice]]:
    """Yield ``(k, rows, cols)`` for each kernel offset ``k = i * KW + j``: the slices of
    the padded input that offset ``(i, j)`` reads at every one of the ``OH x OW`` positions."""
    rows = window_slices(kernel[0], stride[0], out_hw[0])
    cols = window_slices(kernel[1], stride[1], out_hw[1])
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            yield i * len(cols) + j, row, col


def im2col(x: Array, kernel: tuple[int, int], stride: tuple[int, int],
           pads: tuple[int, int, int, int] = (0, 0, 0, 0), scratch: bool = False) -> Array:
    """Unfold every ``KH x KW`` window of ``x: (N, C, H, W)`` into columns.

    Returns ``cols: (C*KH*KW, N*OH*OW)`` (contiguous): one column per output position of
    every image, rows in ``(c, i, j)`` order, the order of a ``(F, C, KH, KW)`` kernel
    flattened to ``W2: (F, C*KH*KW)``. A whole convolution is then ONE large GEMM
    ``W2 @ cols → (F, N*OH*OW)``, the shape BLAS is fastest at (a GEMM per image would be
    many small calls, each a thread synchronisation). The window view is built with
    ``as_strided`` and copied once; its innermost axis runs along image rows, so the copy
    moves contiguous runs of memory. ``scratch``: the columns (and the padded copy) in this
    thread's scratch memory (:mod:`glassnet.scratch`), for a caller that uses them up at once.
    """
    xp = array_module(x)
    x = pad_images(x, pads, scratch=scratch)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = output_size(h, kh, sh), output_size(w, kw, sw)
    sn, sc, s_h, s_w = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(c, kh, kw, n, oh, ow), strides=(sc, s_h, s_w, sn, s_h * sh, s_w * sw))
    cols = _empty(xp, "cols", windows.shape, x.dtype, scratch)
    cols[...] = windows
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols: Array, x_shape: tuple[int, int, int, int], kernel: tuple[int, int],
           stride: tuple[int, int], pads: tuple[int, int, int, int] = (0, 0, 0, 0),
           scratch: bool = False) -> Array:
    """The adjoint of :func:`im2col`: sum ``cols: (C*KH*KW, N*OH*OW)`` back into ``(N, C, H, W)``.

    Overlapping windows add up. One strided ``+=`` per kernel offset (``KH*KW`` passes),
    each covering every image and channel at once. ``scratch``: the sums are a view of this
    thread's scratch memory (:mod:`glassnet.scratch`).
    """
    xp = array_module(cols)
    n, c, h, w = x_shape
    top, bottom, left, right = pads
    (kh, kw), (sh, sw) = kernel, stride
    oh = output_size(h, kh, sh, top, bottom)
    ow = output_size(w, kw, sw, left, right)
    windows = cols.reshape(c, kh * kw, n, oh, ow)
    padded = _empty(xp, "padded", (n, c, h + top + bottom, w + left + right), cols.dtype, scratch)
    padded[...] = 0
    by_channel = padded.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp), a view
    for k, rows, columns in kernel_offsets(kernel, stride, (oh, ow)):
        by_channel[:, :, rows, columns] += windows[:, k]
    return unpad_images(padded, pads)


def rows_width(width: int, kernel: int, left: int, right: int) -> int:
    """Positions per row in :func:`im2col_rows`' columns for an image ``width`` wide, padded
    by ``left`` and ``right`` zeros, and a kernel ``kernel`` wide: ``width + max(left, right)``
    (not ``width + left + right``), with two exceptions below.

    Why: in the flat padded image the zeros at the end of one row are followed by those at
    the start of the next, so each row needs only as many as the wider side: a window that
    runs past a row's right edge reads on into the next row's left zeros, which stand in for
    its own right padding. For a "same" 3x3 kernel that is one wasted position per row
    instead of two. Exceptions: padding at least as wide as the kernel on both sides gives
    more outputs per row than that, and each needs its place (``OW = width + left + right -
    kernel + 1``); and a row is never shorter than ``kernel - 1``, so that the last windows
    of an image, which run ``kernel - 2`` positions past its last row, stay inside its one
    spare row (a 5-wide kernel on a 1-wide image)."""
    return max(width + max(left, right, left + right - kernel + 1), kernel - 1)


def rows_pads(pads: tuple[int, int, int, int], kernel: tuple[int, int],
              width: int) -> tuple[int, int, int, int]:
    """The zeros :func:`im2col_rows` adds to each image ``width`` wide for ``pads = (top,
    bottom, left, right)``: ``left`` before each row, after it as many as make the row
    :func:`rows_width` long, and one spare row at the bottom for the last row's wrapped
    windows."""
    top, bottom, left, right = pads
    return top, bottom + 1, left, rows_width(width, kernel[1], left, right) - left - width


def im2col_rows(x: Array, kernel: tuple[int, int], pads: tuple[int, int, int, int] = (0, 0, 0, 0),
                scratch: bool = False) -> tuple[Array, int]:
    """:func:`im2col` for stride 1, unfolding whole rows of the padded image.

    Returns ``(cols, Wp)`` with ``cols: (C*KH*KW, N*OH*Wp)``: for each image, ``OH`` rows of
    ``Wp`` (:func:`rows_width`) positions, of which the first ``OW`` are the real windows; the
    last ``Wp - OW`` of each row wrap into the next row and their outputs must be ignored.

    Why: with stride 1, kernel offset ``(i, j)`` reads ``OH*Wp`` *consecutive* numbers of the
    padded image, starting at ``i*Wp + j``. The copy then moves ``C*KH*KW*N`` long runs
    instead of ``C*KH*KW*N*OH`` runs of only ``OW`` numbers (8 to 32 for CIFAR-sized images),
    where NumPy's per-run overhead, not memory, was the cost. The price is ``Wp/OW - 1`` more
    multiply-adds in the GEMMs (3% at 32x32 with a 3x3 kernel and padding 1, 12.5% at 8x8).

    ``scratch``: the columns (and the padded copy) in this thread's scratch memory
    (:mod:`glassnet.scratch`), for a caller that uses them up before asking again.
    """
    xp = array_module(x)
    x = pad_images(x, rows_pads(pads, kernel, x.shape[3]), scratch=scratch)
    n, c, hp, wp = x.shape
    (kh, kw), oh = kernel, hp - kernel[0]
    sn, sc, _, s_w = x.strides
    windows = xp.lib.stride_tricks.as_strided(
        x, shape=(c, kh, kw, n, oh * wp), strides=(sc, wp * s_w, s_w, sn, s_w))
    cols = _empty(xp, "cols", windows.shape, x.dtype, scratch)
    cols[...] = windows
    return cols.reshape(c * kh * kw, n * oh * wp), wp


def col2im_rows(cols: Array, x_shape: tuple[int, int, int, int], kernel: tuple[int, int],
                pads: tuple[int, int, int, int] = (0, 0, 0, 0), scratch: bool = False) -> Array:
    """The adjoint of :func:`im2col_rows`: ``cols: (C*KH*KW, N*OH*Wp)`` → ``(N, C, H, W)``.

    The columns of the wrapped positions (``OW <= x < Wp`` in each row) must be zero: they
    overlap real pixels of the next row. One contiguous ``+=`` per kernel offset and image.
    ``scratch``: the sums are a view of this thread's scratch memory (:mod:`glassnet.scratch`).
    """
    xp = array_module(cols)
    n, c, h, w = x_shape
    top, bottom, left, right = padding = rows_pads(pads, kernel, w)
    (kh, kw), hp, wp = kernel, h + top + bottom, w + left + right
    run = (hp - kh) * wp  # OH rows of Wp positions
    windows = cols.reshape(c, kh * kw, n, run)
    padded = _empty(xp, "padded", (n, c, hp * wp), cols.dtype, scratch)
    by_channel = padded.transpose(1, 0, 2)  # (C, N, Hp*Wp), a view
    # offset (0, 0) covers the first ``run`` positions: copied, not added to zeros
    by_channel[:, :, :run] = windows[:, 0]
    by_channel[:, :, run:] = 0
    for i in range(kh):
        for j in range(kw):
            start = i * wp + j
            if start:
                by_channel[:, :, start:start + run] += windows[:, i * kw + j]
    return unpad_images(padded.reshape(n, c, hp, wp), padding)
