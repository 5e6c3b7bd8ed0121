"""A model's predictions on one data split, with everything a report shows about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..metrics import class_probabilities, classification_report


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
        files: each image's file (an image folder's ``info["files"]``, relative to it), or ``None``.
    """

    images: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    class_names: list[str]
    loss: float | None = None
    name: str = "dataset"
    files: list[str] | None = None

    @property
    def report(self) -> dict[str, Any]:
        """:func:`glassnet.metrics.classification_report` of these predictions."""
        return classification_report(self.y_true, self.y_pred, self.class_names)

    @property
    def misclassified(self) -> np.ndarray:
        """Indices ``(M,)`` of the wrongly classified samples, in data order."""
        return np.flatnonzero(self.y_true != self.y_pred)

    def summary(self) -> dict[str, Any]:
        """JSON-able results: the name, then :meth:`results`."""
        return {"name": self.name, **self.results()}

    def results(self) -> dict[str, Any]:
        """JSON-able: loss, the classification report and the misclassified images (their
        indices, and their files when known)."""
        return {"loss": self.loss, **self.report, "misclassified": self.misclassified.tolist(),
                **({"misclassified_files": self.misclassified_files} if self.files else {})}

    @property
    def misclassified_files(self) -> list[str] | None:
        """The files of the misclassified images (in data order), when the files are known."""
        return [self.files[i] for i in self.misclassified] if self.files else None


def evaluate_model(model: Any, images: np.ndarray, labels: np.ndarray,
                   class_names: list[str] | None = None, name: str = "dataset",
                   batch_size: int | str | None = "auto", files: list[str] | None = None) -> Evaluation:
    """Predict ``images (N, *input_shape)`` with ``model`` and compare with ``labels (N,)``
    (in batches of ``batch_size``: ``"auto"`` sizes them by the model's activations, see
    :func:`glassnet.inference.batch_size_for`).

    One forward pass (in batches) gives the logits; predicted classes are the model's own
    decision (logit > 0 for one sigmoid output, else argmax), probabilities its sigmoid or
    softmax, and the loss (when the model has one; a loaded model needs no optimizer) is
    the mean loss plus the L2 term, as ``model.evaluate`` reports it.
    """
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    logits = np.asarray(model.predict_logits(images, batch_size=batch_size))
    if len(logits) != len(labels):
        raise ShapeError(f"{len(logits)} images but {len(labels)} labels")
    y_pred = np.asarray(model.classes_of(logits)).astype(np.int64)
    probs = class_probabilities(model.probabilities(logits))
    loss = None
    if model.loss is not None:
        loss = float(model.loss.forward(logits, labels)) + model.regularization_loss()
    names = list(class_names or model.class_names or [str(i) for i in range(probs.shape[1])])
    if files is not None and len(files) != len(labels):
        files = None  # not one name per image: better none than wrong ones
    return Evaluation(np.asarray(images), labels, y_pred, probs, names, loss, name,
                      list(files) if files is not None else None)
