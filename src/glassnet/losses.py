"""Cross-entropy losses, from logits (default) or from probabilities.

A loss has ``forward(output, y_true, sample_weight=None) -> float`` (the mean over the
batch) and ``backward() -> dLoss/doutput``. From logits, the sigmoid or softmax is fused
with the cross-entropy, so the gradient is simply ``(p - y) / N`` and no ``log(0)`` can
occur. From probabilities, ``p`` is clipped to ``[eps, 1 - eps]`` first.

Per-sample weights ``w: (N,)`` (``fit``'s ``class_weight``) use Keras' "sum over batch
size" reduction: ``L = sum_i w_i l_i / N``, divided by ``N``, not by ``sum_i w_i``. So a
batch's loss is still the sum of its shards' ``n_k / N`` shares (the data-parallel step,
:mod:`glassnet.training.shards`) and of its samples' terms (the epoch's running mean), as
without weights; the gradient is ``w_i (p_i - y_i) / N``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functional as F
from ._checks import check_flag, unknown_choice
from .backend import Array, array_module, as_array
from .errors import ShapeError

EPSILON = 1e-7


class Loss:
    """Base class. ``output_activation`` is what turns the model's output into probabilities."""

    name = "loss"

    def __init__(self, from_logits: bool = True) -> None:
        self.from_logits = check_flag(from_logits, f"{type(self).__name__} from_logits")  # "no" is truthy
        self._cache: dict[str, Any] | None = None

    @property
    def output_activation(self) -> str | None:
        """``"sigmoid"``/``"softmax"`` if the model outputs logits, else ``None``."""
        raise NotImplementedError

    def forward(self, output: Array, y_true: Array, sample_weight: Array | None = None) -> float:
        """The mean loss over the batch: ``output: (N, C)`` (or ``(N, 1)``/``(N,)`` for one
        output), logits unless ``from_logits=False``; ``y_true``: class indices ``(N,)`` or
        one-hot rows ``(N, C)``. Keeps what :meth:`backward` needs.

        ``sample_weight: (N,)`` (finite, >= 0) weighs each sample's loss: the result is
        ``sum_i w_i l_i / N``, Keras' "sum over batch size" (not divided by ``sum_i w_i``:
        see the module's docstring). ``None`` is the plain mean, to the last bit.

        Label values given as a NumPy array are checked (a class out of range is a
        ShapeError); labels already on the GPU are taken as checked: ``fit``, ``evaluate``
        and ``train_on_batch`` check them on the host first (``Sequential.check_labels``),
        and a check on the device would stop it for every batch."""
        raise NotImplementedError

    def backward(self) -> Array:
        """``dL/d output``, shaped as the last ``output``; fused with the sigmoid or softmax
        it is ``(p - y) / N`` (``w_i (p_i - y_i) / N`` with sample weights)."""
        raise NotImplementedError

    def _refuse_an_empty_batch(self, n: int) -> None:
        """A clear error for a batch of no samples, whose mean loss is 0 / 0 (NaN, with
        NumPy's "Mean of empty slice"); a model's fit and evaluate refuse empty data before."""
        if n == 0:
            raise ShapeError(f"{type(self).__name__}: the batch holds no samples (outputs of shape "
                             "(0, ...)): a mean loss over none is undefined")

    def _recall(self) -> dict[str, Any]:
        if self._cache is None:
            raise ShapeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class BinaryCrossEntropy(Loss):
    """``L = -mean(y log p + (1 - y) log(1 - p))`` for ``output: (N, 1)`` or ``(N,)``, ``y: (N,)``.

    From logits ``z``: ``L = mean(max(z, 0) - z y + log(1 + exp(-|z|)))`` and
    ``dL/dz = (sigmoid(z) - y) / N``.
    """

    name = "binary_crossentropy"

    @property
    def output_activation(self) -> str | None:
        return "sigmoid" if self.from_logits else None

    def forward(self, output: Array, y_true: Array, sample_weight: Array | None = None) -> float:
        xp = array_module(output)
        n = output.shape[0]
        if output.ndim > 2 or (output.ndim == 2 and output.shape[1] != 1):
            raise ShapeError(
                f"binary cross-entropy needs model outputs of shape (N, 1), got {output.shape}; "
                "use categorical_crossentropy for more than two classes"
            )
        self._refuse_an_empty_batch(n)
        y = _as_binary_targets(y_true, n, output.dtype, xp)
        w = _as_sample_weights(sample_weight, n, output.dtype, xp)
        z = output.reshape(n)
        if self.from_logits:
            # = -(y log p + (1 - y) log(1 - p)), p = sigmoid(z), as softplus(z) - z y, summed
            # so that the large exact terms cancel first and the small log1p term is added
            # last (added first, float32 lost it for confident right answers: z = 16, y = 1)
            loss = (xp.maximum(z, 0) - z * y) + xp.log1p(xp.exp(-xp.abs(z)))
            p = F.sigmoid(z)
        else:
            p = clip_probabilities(z)
            loss = -(y * xp.log(p) + (1 - y) * xp.log(1 - p))
        self._cache = {"p": p, "y": y, "w": w, "shape": output.shape}
        if w is not None:
            loss = w * loss
        with np.errstate(over="ignore"):  # a mean beyond the dtype's range is inf (as in PyTorch),
            return float(loss.mean())     # which the NaN guard handles: no warning

    def backward(self) -> Array:
        c = self._recall()
        p, y = c["p"], c["y"]
        n = p.shape[0]
        if self.from_logits:
            grad = (p - y) / n
        else:
            grad = (p - y) / (p * (1 - p)) / n
        if c["w"] is not None:
            grad = c["w"] * grad
        return grad.reshape(c["shape"])


class CategoricalCrossEntropy(Loss):
    """``L = -mean_n sum_c y_nc log p_nc`` for ``output: (N, C)``.

    ``y`` is either integer labels ``(N,)`` or one-hot / probability rows ``(N, C)``.
    From logits: ``log p = log_softmax(z)`` and ``dL/dz = (softmax(z) * sum_c y_c - y) / N``,
    the familiar ``(p - y) / N`` when each row of ``y`` sums to 1 (and exact when it does
    not: soft targets, PyTorch's ``cross_entropy`` with probabilities).
    """

    name = "categorical_crossentropy"

    @property
    def output_activation(self) -> str | None:
        return "softmax" if self.from_logits else None

    def forward(self, output: Array, y_true: Array, sample_weight: Array | None = None) -> float:
        xp = array_module(output)
        if output.ndim != 2:
            raise ShapeError(f"categorical cross-entropy needs outputs (N, C), got {output.shape}")
        n, c = output.shape
        self._refuse_an_empty_batch(n)
        y = _as_class_targets(y_true, n, c, output.dtype, xp)
        w = _as_sample_weights(sample_weight, n, output.dtype, xp)
        if self.from_logits:
            log_p = F.log_softmax(output, axis=1)
            p = xp.exp(log_p)
        else:
            p = clip_probabilities(output)
            log_p = xp.log(p)
        self._cache = {"p": p, "y": y, "w": w}
        # where y is 0, log p may be -inf (logits spread wider than the dtype's range): 0 * -inf
        # would be NaN, and those classes add nothing to the loss
        terms = y * xp.where(y != 0, log_p, 0)
        with np.errstate(over="ignore"):  # a sum beyond the dtype's range: inf, as above
            if w is None:
                return float(-terms.sum() / n)
            return float(-(w * terms.sum(axis=1)).sum() / n)

    def backward(self) -> Array:
        c = self._recall()
        p, y = c["p"], c["y"]
        n = p.shape[0]
        if self.from_logits:
            grad = (p * y.sum(axis=1, keepdims=True) - y) / n
        else:
            grad = -y / p / n
        return grad if c["w"] is None else c["w"][:, None] * grad


def clip_probabilities(p: Array) -> Array:
    """``p`` clipped to ``[eps, 1 - eps]`` so that ``log(p)``, ``log(1 - p)`` and ``1 / p``
    stay finite: ``eps`` is :data:`EPSILON`, or the dtype's own epsilon where ``1 - EPSILON``
    rounds to 1 (float16), which would let ``log(1 - p)`` reach ``log(0)``."""
    eps = EPSILON
    if p.dtype.kind == "f" and p.dtype.type(1 - EPSILON) == 1:
        eps = float(np.finfo(p.dtype).eps)
    return array_module(p).clip(p, eps, 1 - eps)


def _labels(y_true: Any) -> tuple[Array, bool]:
    """``y_true`` as an array where it is, and whether its values are to be checked: on the
    host, where that costs no wait (see :meth:`Loss.forward`)."""
    y = as_array(y_true)
    return y, array_module(y) is np


def _as_binary_targets(y_true: Array, n: int, dtype, xp) -> Array:
    y, check = _labels(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.shape != (n,):
        raise ShapeError(f"labels have shape {np.shape(y_true)} but the outputs have {n} rows")
    if check and y.size and not bool(((y >= 0) & (y <= 1)).all()):  # NaN fails too
        raise ShapeError(f"binary cross-entropy targets are probabilities in [0, 1] (class 1's), "
                         f"got range [{float(y.min()):g}, {float(y.max()):g}]")
    return xp.asarray(y).astype(dtype, copy=False)


def _as_class_targets(y_true: Array, n: int, c: int, dtype, xp) -> Array:
    y, check = _labels(y_true)
    if y.ndim == 1:
        if y.shape[0] != n:
            raise ShapeError(f"labels have shape {tuple(y.shape)} but the outputs have {n} rows")
        whole = y.dtype.kind in "biu" or not check or bool((y == np.round(y)).all())  # NaN is not whole
        if check and y.size and (not whole or y.min() < 0 or y.max() >= c):
            raise ShapeError(f"labels must be integers in [0, {c - 1}], got range "
                             f"[{float(y.min()):g}, {float(y.max()):g}]"
                             + ("" if whole else " with fractions"))
        return F.one_hot(xp.asarray(y), c, dtype=dtype)
    if y.shape != (n, c):
        raise ShapeError(f"labels have shape {tuple(y.shape)}; expected ({n},) or ({n}, {c})")
    return xp.asarray(y).astype(dtype, copy=False)


def _as_sample_weights(sample_weight: Any, n: int, dtype, xp) -> Array | None:
    """``sample_weight`` as an ``(n,)`` array of ``dtype`` on the outputs' device, or ``None``.
    Checked where it is on the host, as labels are (see :meth:`Loss.forward`): a weight that
    is negative, NaN or infinite would turn the loss's gradient around or make it NaN."""
    if sample_weight is None:
        return None
    w, check = _labels(sample_weight)
    if w.shape != (n,):
        raise ShapeError(f"sample_weight has shape {tuple(w.shape)} but the outputs have {n} rows; "
                         f"expected ({n},)")
    if check and w.dtype.kind not in "biuf":
        raise ShapeError(f"sample weights must be numbers, got {w.dtype} values")
    if check and w.size and not bool((np.isfinite(w) & (w >= 0)).all()):
        raise ShapeError(f"sample weights must be finite and >= 0, got range "
                         f"[{float(np.min(w)):g}, {float(np.max(w)):g}]")
    return xp.asarray(w).astype(dtype, copy=False)


_LOSSES = {
    "binary_crossentropy": BinaryCrossEntropy,
    "categorical_crossentropy": CategoricalCrossEntropy,
    "sparse_categorical_crossentropy": CategoricalCrossEntropy,
}


def get(spec: str | Loss, from_logits: bool = True) -> Loss:
    """A loss instance for a name such as ``"binary_crossentropy"`` or an instance."""
    if isinstance(spec, Loss):
        return spec
    if not isinstance(spec, str) or spec not in _LOSSES:
        raise unknown_choice(spec, "loss", Loss, sorted(_LOSSES))
    return _LOSSES[spec](from_logits=from_logits)


def from_config(config: dict[str, Any]) -> Loss:
    """The loss that ``config`` (:meth:`Loss.get_config`: ``name``, ``from_logits``) describes."""
    return get(config["name"], from_logits=config.get("from_logits", True))


__all__ = ["BinaryCrossEntropy", "CategoricalCrossEntropy", "Loss", "get"]
