"""``fit``'s and ``train_on_batch``'s ``class_weight`` (Keras' name): a weight per class,
given as ``{class_index: weight}`` or ``"balanced"``, turned into per-sample weights for the
loss (:mod:`glassnet.losses`: ``sum_i w_i l_i / N``).

Only the training loss is weighted: the validation loss, ``evaluate`` and the metrics stay
unweighted, as in Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._checks import is_number
from ..backend import to_numpy
from ..errors import ConfigError
from ..inputs import class_indices
from ..split import class_label

BALANCED = "balanced"


def class_weight_vector(class_weight: Any, y: np.ndarray, num_classes: int,
                        class_names: list[str] | None = None,
                        dtype: Any = np.float64) -> np.ndarray | None:
    """The weight of each class, ``(num_classes,)`` float64, or ``None`` for no weights.

    ``class_weight``: ``None``; a dict ``{class_index: weight}`` (a class not in it weighs 1,
    as in Keras); or ``"balanced"``, scikit-learn's ``n_samples / (n_classes * count_c)`` over
    the training labels ``y: (N,)`` (class indices): the training part only, never the
    validation or test data. ``class_names`` name classes in errors. Each weight must stay
    finite in ``dtype``, the model's (the loss is computed in it). A bad value is a
    :class:`ConfigError` that says what is wrong."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == BALANCED:
        weights = balanced_weights(y, num_classes, class_names)
    elif isinstance(class_weight, Mapping):
        weights = _weights_of_dict(class_weight, num_classes)
    else:
        raise ConfigError(f"class_weight must be a dict {{class_index: weight}} or {BALANCED!r}, "
                          f"got {class_weight!r}")
    in_dtype = _in_dtype(weights, np.dtype(dtype), class_names)
    if not in_dtype[np.unique(y)].any():  # (all weights zero, or those of every class trained on)
        raise ConfigError(f"class_weight gives every training sample weight 0, got {class_weight!r}: "
                          "nothing would be learned")
    return weights


def balanced_weights(y: np.ndarray, num_classes: int,
                     class_names: list[str] | None = None) -> np.ndarray:
    """``n_samples / (n_classes * count_c)`` for each class ``c`` of the labels ``y: (N,)``
    (scikit-learn's ``"balanced"``): each class then weighs as much in the loss as the others.

    ``(num_classes,)`` float64, which ``dict(enumerate(...))`` makes a ``class_weight``:
    ``train_on_batch`` takes that, counted once on all the training labels, in place of
    ``"balanced"`` (which would count one batch's)."""
    y = class_indices(to_numpy(y), len(y), num_classes)  # the labels fit takes, checked alike
    counts = np.bincount(y, minlength=num_classes)
    missing = np.flatnonzero(counts == 0)
    if missing.size:
        names = ", ".join(class_label(k, class_names) for k in missing)
        raise ConfigError(f"'balanced' class weights need training samples of every class, but "
                          f"class {names} has none: give each class's weight instead")
    return len(y) / (num_classes * counts)


def _in_dtype(weights: np.ndarray, dtype: np.dtype, class_names: list[str] | None) -> np.ndarray:
    """``weights: (C,)`` as ``dtype``; a weight too large for it (``1e39`` in float32) is a
    :class:`ConfigError` naming its class, not an infinite loss in the middle of training."""
    with np.errstate(over="ignore"):  # (the cast's overflow is what is checked here)
        cast = weights.astype(dtype)
    too_large = np.flatnonzero(~np.isfinite(cast))
    if too_large.size:
        k = too_large[0]
        raise ConfigError(f"class_weight's weight {weights[k]:g} for class {class_label(k, class_names)} "
                          f"is too large for the model's {dtype.name} (at most "
                          f"{np.finfo(dtype).max:.3g})")
    return cast


def _weights_of_dict(class_weight: Mapping[Any, Any], num_classes: int) -> np.ndarray:
    weights = np.ones(num_classes)
    for key, value in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < num_classes:
            raise ConfigError(f"class_weight's keys are class indices 0 to {num_classes - 1} of the "
                              f"model's {num_classes} classes, got {key!r}")
        if not is_number(value) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"class_weight's weights must be finite numbers >= 0, got {value!r} "
                              f"for class {key!r}")
        weights[int(key)] = float(value)
    return weights


def sample_weights(weights: np.ndarray | None, y: np.ndarray, dtype: Any) -> np.ndarray | None:
    """Each sample's weight, ``weights[y]`` as ``dtype`` ``(N,)`` for the labels ``y: (N,)``
    (class indices); ``None`` without weights."""
    return None if weights is None else weights[np.asarray(y)].astype(dtype)


def weights_by_class(weights: np.ndarray, class_names: list[str] | None) -> list[list[Any]]:
    """``[["non-cat", 1.0], ["cat", 2.0]]``: each class's name (its index without names) and
    weight (``weights: (C,)``), in class order, as a run records them (a list, not an
    object: in ``metrics.json`` an object is a split's metrics)."""
    names = class_names if class_names is not None else [str(k) for k in range(len(weights))]
    return [[name, float(w)] for name, w in zip(names, weights, strict=True)]
