"""Inverted dropout: drop a fraction ``rate`` of the activations while training.

Training:  ``mask = (u >= rate) / (1 - rate)`` with ``u ~ U[0, 1)``, ``y = x * mask``
Inference: ``y = x`` (the ``1 / (1 - rate)`` scaling at training time keeps the expected
           activation the same, so nothing needs rescaling at test time)
Backward:  ``dx = dy * mask``

The masks come from the layer's own ``numpy.random.Generator``, drawn from the model's
seed when the layer is built: the same seed gives the same masks, and a gradient check
can replay them by restoring the generator's state.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_rate
from ..backend import Array, RandomSource, array_module, as_array
from .base import Layer, child_generator


class Dropout(Layer):
    """Zero each element of ``x`` (any shape ``(N, ...)``) with probability ``rate``.

    Args:
        rate: fraction of the activations dropped, in ``[0, 1)`` (``0`` = identity).
    """

    shardable = True
    stochastic = True  # a fresh mask every training step

    def __init__(self, rate: float = 0.5, name: str | None = None) -> None:
        super().__init__(name)
        self.rate = check_rate(rate, "Dropout rate")
        self.rng: np.random.Generator | None = None

    def build(self, input_shape: tuple[int, ...], rng: RandomSource, dtype: Any) -> tuple[int, ...]:
        out = super().build(input_shape, rng, dtype)
        self.rng = child_generator(rng)
        return out

    def forward(self, x: Array, training: bool = False) -> Array:
        x = as_array(x)  # a list, used alone, as predict takes it
        if not training or self.rate == 0:
            self._remember(training, mask=None)
            return x
        self.require_built("training")
        # Drawn on the host, so that the GPU sees the CPU's random stream (the same seed gives
        # the same run on either device); only the 1-byte keep-mask is sent to the device,
        # and the mask is made there, not sent as floats of the activations' size.
        keep = array_module(x).asarray(self.rng.random(x.shape) >= self.rate)
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1 / (1 - self.rate))
        self._remember(mask=mask)
        return x * mask

    def backward(self, dy: Array) -> Array:
        mask = self._recall()["mask"]
        if mask is None:  # rate 0: the identity
            return dy
        return self.check_output_grad(dy, mask.shape) * mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
