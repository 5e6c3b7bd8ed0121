"""Pure, shared math used by layers, losses and metrics.

Each function works on NumPy and CuPy arrays alike and never takes ``log(0)`` or
overflows ``exp``.
"""

from __future__ import annotations

import numpy as np

from .backend import Array, array_module


def sigmoid(z: Array) -> Array:
    """Numerically stable logistic function ``1 / (1 + exp(-z))``, any shape.

    ``exp`` is only ever taken of a non-positive number: for ``z >= 0`` we use
    ``1 / (1 + exp(-z))`` and for ``z < 0`` the equal ``exp(z) / (1 + exp(z))``.
    """
    xp = array_module(z)
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def log_sigmoid(z: Array) -> Array:
    """``log(sigmoid(z)) = -softplus(-z)``, stable for large ``|z|``."""
    xp = array_module(z)
    return xp.minimum(z, 0) - xp.log1p(xp.exp(-xp.abs(z)))


def log_softmax(z: Array, axis: int = -1) -> Array:
    """``z - logsumexp(z)`` along ``axis``; the max is subtracted first so ``exp`` cannot overflow."""
    xp = array_module(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(z: Array, axis: int = -1) -> Array:
    """Probabilities ``exp(z) / sum(exp(z))`` along ``axis``, computed from shifted logits."""
    xp = array_module(z)
    e = xp.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def one_hot(labels: Array, num_classes: int, dtype=np.float32) -> Array:
    """Integer labels ``(N,)`` → one-hot matrix ``(N, num_classes)``."""
    xp = array_module(labels)
    out = xp.zeros((labels.shape[0], num_classes), dtype=dtype)
    out[xp.arange(labels.shape[0]), labels.astype(np.int64)] = 1
    return out
