"""Classification metrics on NumPy (or CuPy) arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Array, array_module, to_numpy


def predicted_classes(outputs: Array, output_activation: str | None) -> Array:
    """Class indices ``(N,)`` from model outputs ``(N, 1)`` or ``(N, C)``.

    One output column is a binary decision: logits (``output_activation="sigmoid"``)
    are thresholded at 0, probabilities at 0.5 (the same decision).
    """
    xp = array_module(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1 or outputs.ndim == 1:
        threshold = 0.0 if output_activation == "sigmoid" else 0.5
        return (outputs.reshape(-1) > threshold).astype(xp.int64)
    return outputs.argmax(axis=-1)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of equal labels; ``y_true, y_pred: (N,)`` integer class indices."""
    y_true, y_pred = to_numpy(y_true).reshape(-1), to_numpy(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts ``(C, C)``: rows are the true class, columns the predicted class."""
    y_true = to_numpy(y_true).astype(np.int64).reshape(-1)
    y_pred = to_numpy(y_pred).astype(np.int64).reshape(-1)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    return np.bincount(y_true * num_classes + y_pred,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)
