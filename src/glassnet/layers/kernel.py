"""What Dense and Conv2D share: a kernel ``W``, an optional bias ``b`` and a fused activation.

Not a layer itself (it is never registered): ``class Dense(KernelOptions, Layer)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from .._checks import check_number
from ..backend import Array, to_device
from .activations import get_activation


class KernelOptions:
    """The ``activation``, ``use_bias``, ``kernel_initializer`` and ``kernel_regularizer``
    arguments, the creation of ``W`` and ``b``, and their part of ``get_config``."""

    #: L2 regularization applies to the kernel, never to the bias
    regularized = ("W",)

    def _init_kernel_options(self, activation: str | None, use_bias: bool,
                             kernel_initializer: str | float,
                             kernel_regularizer: float | None) -> None:
        self.activation_name = activation
        self.activation = get_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.kernel_regularizer = (None if kernel_regularizer is None else check_number(
            kernel_regularizer, "kernel_regularizer (or None)", 0, low_inclusive=True))

    def _create_params(self, W: Array, units: int, output_shape: tuple[int, ...], rng: Any,
                       dtype: Any) -> None:
        """Put ``W`` (and a zero bias ``(units,)``) on the device; build the activation."""
        # C order whatever the initializer returned (the course's stream gives W.T), so that
        # W.reshape(...) is always a view: the layers and the gradient checks rely on it.
        self.params = {"W": to_device(np.ascontiguousarray(W), dtype=self.dtype)}
        if self.use_bias:
            self.params["b"] = to_device(np.zeros(units), dtype=self.dtype)
        if self.activation is not None:
            self.activation.build(output_shape, rng, dtype)
        self._init_grads()

    def clear_cache(self) -> None:
        """The layer's cache and its fused activation's (``Layer.clear_cache``)."""
        super().clear_cache()
        if self.activation is not None:
            self.activation.clear_cache()

    def _kernel_shapes(self, kernel: tuple[int, ...], units: int) -> dict[str, tuple[int, ...]]:
        """``array_shapes`` of a layer with kernel ``W`` of shape ``kernel`` and ``units`` outputs."""
        return {"W": tuple(kernel), **({"b": (units,)} if self.use_bias else {})}

    def _kernel_config(self) -> dict[str, Any]:
        return {
            "activation": self.activation_name,
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.name_of(self.kernel_initializer),
            "kernel_regularizer": self.kernel_regularizer,
        }
