"""Classification metrics on NumPy (or CuPy) arrays.

Every matrix and table here has rows = the true class and columns = the predicted class.
Per-class precision, recall and F1 follow scikit-learn's definitions (a class that is
never predicted, or never present, scores 0 for the undefined ratio, never NaN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .backend import Array, array_module, to_numpy
from .errors import ShapeError


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


def class_probabilities(probs: Any) -> np.ndarray:
    """Per-class probabilities ``(N, C)``; one sigmoid column ``(N, 1)`` becomes ``[1 - p, p]``."""
    probs = to_numpy(probs)
    if probs.ndim == 1:
        probs = probs[:, None]
    return np.concatenate([1 - probs, probs], axis=1) if probs.shape[1] == 1 else probs


def _labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = to_numpy(y_true).reshape(-1), to_numpy(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ShapeError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    return y_true, y_pred


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of equal labels; ``y_true, y_pred: (N,)`` integer class indices."""
    y_true, y_pred = _labels(y_true, y_pred)
    return float((y_true == y_pred).mean()) if y_true.size else 0.0


def balanced_accuracy(y_true: Any, y_pred: Any, num_classes: int | None = None) -> float:
    """Mean recall over the classes present in ``y_true``; ``y_true, y_pred: (N,)`` class indices.

    Unlike accuracy it does not depend on how common each class is: a classifier that
    always answers one class scores exactly ``1 / C`` (0.5 for two classes) whatever the
    class priors, and equal per-class recalls score the same on a set of any class mix.
    Classes absent from ``y_true`` have no recall and are left out (as in scikit-learn).
    """
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    support = matrix.sum(axis=1)
    present = support > 0
    if not present.any():
        return 0.0
    return float((np.diag(matrix)[present] / support[present]).mean())


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts ``(C, C)``: rows are the true class, columns the predicted class."""
    y_true, y_pred = (a.astype(np.int64) for a in _labels(y_true, y_pred))
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ShapeError(f"{name} has labels outside [0, {num_classes - 1}]: "
                             f"min {labels.min()}, max {labels.max()}")
    return np.bincount(y_true * num_classes + y_pred,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0 where the denominator is 0."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def precision_recall_f1(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class ``precision``, ``recall``, ``f1`` and ``support`` from a confusion matrix ``(C, C)``.

    precision = TP / predicted as the class (column sum), recall = TP / true members
    (row sum, the support), F1 = their harmonic mean; each ``(C,)``.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ShapeError(f"a confusion matrix is square (C, C), got shape {matrix.shape}")
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    precision = _ratio(tp, matrix.sum(axis=0))
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def classification_report(y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None,
                          num_classes: int | None = None) -> dict[str, Any]:
    """Accuracy, confusion matrix, per-class and macro-averaged precision/recall/F1.

    Args:
        y_true: ``(N,)`` true class indices.
        y_pred: ``(N,)`` predicted class indices.
        class_names: one name per class (default ``"0"``, ``"1"``, ...); sets ``num_classes``.

    Returns a JSON-able dict: ``accuracy``, ``samples``, ``class_names``,
    ``confusion_matrix`` (list of rows; rows = true, columns = predicted),
    ``per_class`` (a list of ``{class, precision, recall, f1, support}``),
    ``macro_avg`` and ``weighted_avg`` (``{precision, recall, f1}``, unweighted and
    support-weighted means over the classes that occur in ``y_true`` or ``y_pred``; a class
    that occurs in neither has ``None`` scores, which JSON writes as null). A two-class
    problem also gets ``binary``: the scores of the positive class (index 1), the usual
    binary precision/recall/F1.
    """
    if class_names is not None:
        num_classes = len(class_names)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(matrix))]
    scores = precision_recall_f1(matrix)
    keys = ("precision", "recall", "f1")
    # As scikit-learn: a class neither in y_true nor predicted (a folder of cats alone) has
    # no scores (None, not a 0.0 that reads as a class always missed) and is not averaged:
    # counting it as 0 would halve a perfect macro average.
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    per_class = [{"class": name, **{k: float(scores[k][i]) if present[i] else None for k in keys},
                  "support": int(scores["support"][i])} for i, name in enumerate(names)]
    total = int(matrix.sum())
    weights = scores["support"] / total if total else np.zeros(len(matrix))
    report = {
        "accuracy": float(np.trace(matrix) / total) if total else 0.0,
        "samples": total,
        "class_names": names,
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "macro_avg": {k: float(scores[k][present].mean()) if present.any() else 0.0 for k in keys},
        "weighted_avg": {k: float((scores[k] * weights).sum()) for k in keys},
    }
    if len(matrix) == 2:
        report["binary"] = {"positive_class": names[1], **{k: per_class[1][k] for k in keys}}
    return report
