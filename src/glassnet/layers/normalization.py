"""Batch normalization (Ioffe & Szegedy 2015) for ``(N, D)`` and ``(N, C, H, W)`` inputs.

Statistics are taken per feature ``D`` (dense inputs) or per channel ``C`` (images, over
``N, H, W``), as PyTorch's ``BatchNorm1d`` / ``BatchNorm2d``:

Training:  ``mu, var = mean(x), mean((x - mu)^2)`` over the batch (biased variance),
           ``x_hat = (x - mu) / sqrt(var + eps)``, ``y = gamma * x_hat + beta``;
           the running statistics move towards the batch's:
           ``running = (1 - momentum) * running + momentum * batch``
           with the *unbiased* batch variance ``var * m / (m - 1)`` (``m`` samples per channel).
Inference: ``y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta``.
Backward (training, ``m`` samples per channel, sums over the batch axes):
           ``dx = gamma / sqrt(var + eps) / m * (m * dy - sum(dy) - x_hat * sum(dy * x_hat))``,
           ``dgamma = sum(dy * x_hat)``, ``dbeta = sum(dy)``.

Momentum convention: PyTorch's, ``momentum`` is the weight of the *new* batch (default
0.1). Keras' ``BatchNormalization(momentum=0.99)`` is the weight of the *old* value, so
Keras' 0.99 is our 0.01.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import Array, to_device
from ..errors import ConfigError, ShapeError
from .base import Layer


def _check_open_unit(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigError(f"{what} must be a number in (0, 1], got {value!r}")
    return float(value)


class BatchNorm(Layer):
    """Normalize each feature/channel over the batch, then scale by ``gamma`` and shift by ``beta``.

    Input ``(N, D)`` (statistics per feature, like ``BatchNorm1d``) or ``(N, C, H, W)``
    (per channel over ``N, H, W``, like ``BatchNorm2d``); output has the input's shape.
    ``params``: ``gamma (C,)`` (init 1), ``beta (C,)`` (init 0);
    ``state``: ``running_mean (C,)`` (init 0), ``running_var (C,)`` (init 1).

    Args:
        momentum: weight of the new batch in the running statistics (PyTorch's convention).
        eps: added to the variance before the square root.
    """

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(name)
        self.momentum = _check_open_unit(momentum, "BatchNorm momentum")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
            raise ConfigError(f"BatchNorm eps must be a positive number, got {eps!r}")
        self.eps = float(eps)

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in (1, 3):
            shape = ", ".join(map(str, input_shape))
            raise ShapeError(f"BatchNorm expects inputs (N, D) or (N, C, H, W), got (N, {shape})")
        return tuple(input_shape)

    def build(self, input_shape, rng, dtype):
        out = super().build(input_shape, rng, dtype)
        channels = input_shape[0]
        self.params = {"gamma": to_device(np.ones(channels), dtype=self.dtype),
                       "beta": to_device(np.zeros(channels), dtype=self.dtype)}
        self.state = {"running_mean": to_device(np.zeros(channels), dtype=self.dtype),
                      "running_var": to_device(np.ones(channels), dtype=self.dtype)}
        self._init_grads()
        return out

    # -- helpers --------------------------------------------------------------------
    @staticmethod
    def _axes(x: Array) -> tuple[int, ...]:
        """Batch axes the statistics are taken over: (0,) or (0, 2, 3)."""
        return (0,) if x.ndim == 2 else (0, 2, 3)

    @staticmethod
    def _per_channel(v: Array, ndim: int) -> Array:
        """A ``(C,)`` vector shaped to broadcast against ``(N, C)`` or ``(N, C, H, W)``."""
        return v if ndim == 2 else v.reshape(1, -1, 1, 1)

    def _update_running(self, mean: Array, var: Array, m: int) -> None:
        mom = self.momentum
        unbiased = var * (m / (m - 1)) if m > 1 else var
        for key, batch in (("running_mean", mean), ("running_var", unbiased)):
            running = self.state[key]
            running *= 1 - mom
            running += mom * batch

    # -- protocol -------------------------------------------------------------------
    def forward(self, x: Array, training: bool = False) -> Array:
        axes = self._axes(x)
        gamma = self._per_channel(self.params["gamma"], x.ndim)
        beta = self._per_channel(self.params["beta"], x.ndim)
        if training:
            m = x.size // x.shape[1]
            mean = x.mean(axis=axes)
            centered = x - self._per_channel(mean, x.ndim)
            var = (centered * centered).mean(axis=axes)
            inv_std = 1 / (var + self.eps) ** 0.5
            x_hat = centered * self._per_channel(inv_std, x.ndim)
            self._update_running(mean, var, m)
        else:
            inv_std = 1 / (self.state["running_var"] + self.eps) ** 0.5
            x_hat = (x - self._per_channel(self.state["running_mean"], x.ndim)) \
                * self._per_channel(inv_std, x.ndim)
        # Inference keeps x_hat too, so that backward also works in eval mode (saliency,
        # the PyTorch eval-mode comparison); it is overwritten by the next forward.
        self._remember(x_hat=x_hat, inv_std=inv_std, batch_stats=training)
        return x_hat * gamma + beta

    def backward(self, dy: Array) -> Array:
        cache = self._recall()
        x_hat, inv_std = cache["x_hat"], cache["inv_std"]
        axes = self._axes(dy)
        sum_dy = dy.sum(axis=axes)
        sum_dy_xhat = (dy * x_hat).sum(axis=axes)
        self.grads["gamma"][...] = sum_dy_xhat
        self.grads["beta"][...] = sum_dy
        if not self.input_grad:
            return None
        scale = self._per_channel(self.params["gamma"] * inv_std, dy.ndim)
        if not cache["batch_stats"]:
            return dy * scale  # running statistics are constants of the input
        m = dy.size // dy.shape[1]
        return (scale / m) * (m * dy - self._per_channel(sum_dy, dy.ndim)
                              - x_hat * self._per_channel(sum_dy_xhat, dy.ndim))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "eps": self.eps}
