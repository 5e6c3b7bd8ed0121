"""Inference only: a Conv2D followed by a BatchNorm (and a ReLU) run as one convolution.

With its running statistics, BatchNorm is a fixed per-channel affine map,
``y = z * s + t`` with ``s = gamma / sqrt(running_var + eps)`` and
``t = beta - running_mean * s`` (:meth:`~glassnet.layers.BatchNorm.inference_affine`). Put
after a convolution ``z = conv2d(x, W) + b`` it gives::

    y = conv2d(x, W * s[f]) + (b * s + t)        (each filter f scaled by its s[f])

the same GEMM with a rescaled kernel (``F*C*KH*KW`` multiplications, nothing per pixel),
instead of two more passes over the activations for the BatchNorm, and a ReLU after it
goes into the convolution's copy of its output, as a Conv2D's own fused ReLU does. On
``cnn-bn`` those passes are about a tenth of the inference time (benchmarks/RESULTS.md).

Training cannot fold: there BatchNorm normalizes with the batch's own statistics, and
backward needs each layer's own intermediate values. :meth:`glassnet.model.Sequential.forward`
uses this for ``training=False`` only (predict, evaluate, validation); the outputs equal the
three layers' one after the other to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..backend import Array
from .activations import ReLU
from .base import Layer
from .conv import Conv2D
from .normalization import BatchNorm


def foldable_run(layers: Sequence[Layer]) -> int:
    """How many of the leading ``layers`` run as one folded convolution: 3 for
    [Conv2D without activation, BatchNorm, ReLU], 2 without the ReLU, else 0 (a Conv2D
    with its own activation applies it before the BatchNorm: nothing to fold; nor are
    subclasses, whose ``forward`` may compute something else)."""
    # exactly these classes: a subclass's own forward (new math) must run as it is written
    if len(layers) < 2 or not (type(layers[0]) is Conv2D and layers[0].activation is None
                               and type(layers[1]) is BatchNorm):
        return 0
    return 3 if len(layers) > 2 and type(layers[2]) is ReLU else 2


def folded_forward(layers: Sequence[Layer], x: Array) -> Array:
    """The inference output of ``layers`` (a run :func:`foldable_run` counted: Conv2D,
    BatchNorm and perhaps ReLU) for ``x: (N, C, H, W)``, in one convolution."""
    conv, norm = layers[0], layers[1]
    assert isinstance(conv, Conv2D) and isinstance(norm, BatchNorm)
    scale, shift = norm.inference_affine()
    kernel = conv.params["W"] * scale[:, None, None, None]
    bias = shift if not conv.use_bias else conv.params["b"] * scale + shift
    return conv.convolve(conv.check_batch(x), kernel, bias, relu=len(layers) == 3)
