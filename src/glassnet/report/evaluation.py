"""A model's predictions on one data split, with everything a report shows about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import class_probabilities, classification_report, predicted_classes


@dataclass
class Evaluation:
    """Predictions of a model on ``images`` with labels ``y_true``.

    Attributes:
        images: the evaluated inputs ``(N, C, H, W)`` (uint8 images, as data sets keep them).
        y_true: true class indices ``(N,)``.
        y_pred: predicted class indices ``(N,)``.
        probs: class probabilities ``(N, num_classes)`` (a sigmoid output as ``[1 - p, p]``).
        class_names: one name per class.
        loss: mean loss as ``model.evaluate`` computes it (with the L2 term), or ``None``.
        name: what was evaluated, e.g. ``"cats/test"``.
    """

    images: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    class_names: list[str]
    loss: float | None = None
    name: str = "dataset"

    @property
    def report(self) -> dict[str, Any]:
        """:func:`glassnet.metrics.classification_report` of these predictions."""
        return classification_report(self.y_true, self.y_pred, self.class_names)

    @property
    def misclassified(self) -> np.ndarray:
        """Indices ``(M,)`` of the wrongly classified samples, in data order."""
        return np.flatnonzero(self.y_true != self.y_pred)

    def summary(self) -> dict[str, Any]:
        """JSON-able results: loss, the classification report and the misclassified indices."""
        return {"name": self.name, "loss": self.loss, **self.report,
                "misclassified": self.misclassified.tolist()}


def evaluate_model(model: Any, images: np.ndarray, labels: np.ndarray,
                   class_names: list[str] | None = None, name: str = "dataset",
                   batch_size: int = 256) -> Evaluation:
    """Predict ``images (N, *input_shape)`` with ``model`` and compare with ``labels (N,)``.

    Predicted classes are the model's own decision (sigmoid output > 0.5, else argmax).
    """
    probs = np.asarray(model.predict(images, batch_size=batch_size))
    y_pred = np.asarray(predicted_classes(probs, None)).astype(np.int64)
    probs = class_probabilities(probs)
    names = list(class_names or model.class_names or [str(i) for i in range(probs.shape[1])])
    loss = model.evaluate(images, labels, batch_size=batch_size)["loss"] if model.loss else None
    return Evaluation(np.asarray(images), np.asarray(labels).astype(np.int64).reshape(-1), y_pred,
                      probs, names, loss, name)
