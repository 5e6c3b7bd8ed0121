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

Split batches: when training splits a batch over threads (``training/shards.py``), each
shard's replica of this layer sums its per-channel sums with the other shards'
(``shard_sum``), so the statistics, and the backward's sums, are the whole batch's.

Momentum convention: PyTorch's, ``momentum`` is the weight of the *new* batch (default
0.1). Keras' ``BatchNormalization(momentum=0.99)`` is the weight of the *old* value, so
Keras' 0.99 is our 0.01.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import check_eps, check_number
from ..backend import Array, RandomSource, array_module, to_device
from ..errors import ShapeError
from .base import Layer


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

    shardable = True
    #: Set on a shard's replica when a batch is split over threads: adds up a value over all shards.
    shard_sum: Callable[[Any], Any] | None = None

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(name)
        self.momentum = check_number(momentum, "BatchNorm momentum", 0, 1, high_inclusive=True)
        self.eps = check_eps(eps, "BatchNorm eps")

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) not in (1, 3):
            shape = ", ".join(map(str, input_shape))
            raise ShapeError(f"BatchNorm expects inputs (N, D) or (N, C, H, W), got (N, {shape})")
        return tuple(input_shape)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        channels = (input_shape[0],)
        return {"gamma": channels, "beta": channels, "state.running_mean": channels,
                "state.running_var": channels}

    def build(self, input_shape: tuple[int, ...], rng: RandomSource, dtype: Any) -> tuple[int, ...]:
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
    def _channel_shape(ndim: int) -> tuple[int, ...]:
        """The shape that makes a ``(C,)`` vector broadcast against ``(N, C)`` or ``(N, C, H, W)``."""
        return (1, -1) if ndim == 2 else (1, -1, 1, 1)

    @staticmethod
    def _channel_sum(a: Array, b: Array | None = None) -> Array:
        """``sum(a)`` or ``sum(a * b)`` per channel ``(C,)``, over the batch axes ``N, H, W``.

        ``einsum`` reads ``a`` and ``b`` once, without building the product ``a * b`` (a
        temporary as large as the batch) and faster than ``sum(axis=(0, 2, 3))``."""
        xp = array_module(a)
        a3 = a.reshape(a.shape[0], a.shape[1], -1)  # (N, C, H*W); (N, D, 1) for dense inputs
        if xp is not np:  # CuPy's einsum would first copy both operands to (C, N*H*W)
            return (a3 if b is None else a3 * b.reshape(a3.shape)).sum(axis=(0, 2))
        if b is None:
            return xp.einsum("ncp->c", a3)
        return xp.einsum("ncp,ncp->c", a3, b.reshape(a3.shape))

    def _whole_batch(self, value: Any) -> Any:
        """``value`` (a count or per-channel sums of this batch) over the whole batch: added
        up across the shards when the batch is split over threads, else unchanged."""
        return value if self.shard_sum is None else self.shard_sum(value)

    def min_batch(self) -> int:
        """The smallest batch it can train on: 2 when each sample holds one value per
        channel (dense inputs, 1x1 images), else 1."""
        self.require_built("min_batch")  # the count per channel depends on the input shape
        return 2 if int(np.prod(self.input_shape[1:])) == 1 else 1

    def _update_running(self, mean: Array, var: Array, m: int) -> None:
        mom = self.momentum
        unbiased = var * (m / (m - 1))
        for key, batch in (("running_mean", mean), ("running_var", unbiased)):
            running = self.state[key]
            running *= 1 - mom
            running += mom * batch

    # -- protocol -------------------------------------------------------------------
    # ``scale = gamma / sqrt(var + eps)`` turns the whole layer into ``y = x_c * scale + beta``
    # with ``x_c = x - mean``: one multiply and one add per element, in place where possible,
    # so that forward makes a single batch-sized temporary besides ``y``. Backward works
    # with ``x_c`` and the per-channel ``inv_std`` (``x_hat = x_c * inv_std`` is never built).
    def forward(self, x: Array, training: bool = False) -> Array:
        x = self.check_batch(x)
        channel = self._channel_shape(x.ndim)
        if not training:
            return self._forward_inference(x, channel)
        m = self._whole_batch(x.size // x.shape[1])
        if m == 1:  # var would be 0, y = beta, dx = 0, and running_var pulled towards 0
            raise ShapeError(f"BatchNorm needs more than one value per channel to train, got a "
                             f"batch of shape {tuple(x.shape)}; use batches of 2 or more samples")
        mean = self._whole_batch(self._channel_sum(x)) / m
        centred = x - mean.reshape(channel)
        var = self._whole_batch(self._channel_sum(centred, centred)) / m
        inv_std = self._inv_std(var)
        self._update_running(mean, var, m)
        self._remember(centred=centred, inv_std=inv_std, m=m)
        y = centred * (self.params["gamma"] * inv_std).reshape(channel)
        y += self.params["beta"].reshape(channel)
        return y

    def _forward_inference(self, x: Array, channel: tuple[int, ...]) -> Array:
        """``y = x * scale + shift`` with the running statistics folded into two
        per-channel vectors (``shift = beta - running_mean * scale``): two passes over ``x``.

        ``x`` and the statistics used are remembered (references and two ``(C,)`` vectors,
        no batch-sized copy), so that backward also works in eval mode (saliency, the
        PyTorch eval-mode comparison)."""
        mean = self.state["running_mean"].copy()
        inv_std = self._inv_std(self.state["running_var"])
        self._remember(x=x, mean=mean, inv_std=inv_std)
        scale, shift = self.inference_affine(mean, inv_std)
        y = x * scale.reshape(channel)
        y += shift.reshape(channel)
        return y

    def _inv_std(self, var: Array) -> Array:
        """``1 / sqrt(var + eps)`` per channel; ``var: (C,)``, the batch's or the running one."""
        return 1 / (var + self.eps) ** 0.5

    def inference_affine(self, mean: Array | None = None,
                         inv_std: Array | None = None) -> tuple[Array, Array]:
        """``(scale, shift)``, each ``(C,)``, such that inference is ``y = x * scale + shift``:
        ``scale = gamma / sqrt(running_var + eps)``, ``shift = beta - running_mean * scale``
        (``mean`` and ``inv_std`` when already computed)."""
        if mean is None:
            mean = self.state["running_mean"]
        if inv_std is None:
            inv_std = self._inv_std(self.state["running_var"])
        scale = self.params["gamma"] * inv_std
        return scale, self.params["beta"] - mean * scale

    def backward(self, dy: Array) -> Array | None:
        cache = self._recall()
        batch_stats = "centred" in cache
        dy = self.check_output_grad(dy, (cache["centred"] if batch_stats else cache["x"]).shape)
        inv_std, channel = cache["inv_std"], self._channel_shape(dy.ndim)
        centred = cache["centred"] if batch_stats else cache["x"] - cache["mean"].reshape(channel)
        sum_dy = self._channel_sum(dy)
        sum_dy_xhat = self._channel_sum(dy, centred) * inv_std  # sum(dy * x_hat)
        self.grads["gamma"][...] = sum_dy_xhat  # a shard's part: the shards' grads are added up
        self.grads["beta"][...] = sum_dy
        if not self.input_grad:
            return None
        scale = (self.params["gamma"] * inv_std).reshape(channel)
        if not batch_stats:
            return dy * scale  # running statistics are constants of the input
        # dx = scale * (dy - sum(dy) / m - x_hat * sum(dy * x_hat) / m),  x_hat = x_c * inv_std
        m = cache["m"]
        sum_dy, sum_dy_xhat = self._whole_batch(array_module(dy).stack([sum_dy, sum_dy_xhat]))
        dx = centred * (-inv_std * sum_dy_xhat / m).reshape(channel)
        dx += dy
        dx -= (sum_dy / m).reshape(channel)
        dx *= scale
        return dx

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "eps": self.eps}
