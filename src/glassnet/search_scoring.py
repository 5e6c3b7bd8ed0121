"""How a search scores a trial: its validation data, its per-epoch validation curve, its best epoch.

A trial is validated either on one split held out of the training data
(``--validation-split``) or by stratified k-fold cross-validation (``--folds K``): K
models, each trained on all folds but one and validated on that one. Either way every
training run records a *curve*, its validation scores after each epoch (:data:`SCORES`);
the trial's curve is the mean of its runs' curves, epoch by epoch, and the trial's score is
the curve at its best epoch (see :func:`best_epoch`), which is also how many epochs the
search's final model trains. With ``--smooth W`` the curve is first averaged over a moving
window of W epochs (:func:`smooth_curve`), so that one lucky epoch of a curve that swings
from epoch to epoch cannot win. No Optuna here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import Dataset
from .metrics import balanced_accuracy, predicted_classes
from .run_data import named_split, validation_split_of
from .search_config import SCORE_LABELS, SearchConfig
from .training.callbacks import Callback

if TYPE_CHECKING:
    from .model import Sequential

SCORES = tuple(SCORE_LABELS)  # recorded every epoch
Split = tuple[Dataset, Dataset]  # (the images a model trains on, the images that validate it)
Curve = dict[str, list[float]]  # score name -> one value per epoch


def validation_splits(config: SearchConfig, train: Dataset) -> list[Split]:
    """The ``(train, validation)`` pairs every trial trains on: the K folds of ``train``
    (``config.folds``) or the one held-out split ``glassnet train --validation-split``
    would make. Both are stratified and seeded by the base run's seed."""
    if config.folds is not None:
        return [named_split(train, pair) for pair in train.folds(config.folds, seed=config.base.seed,
                                                                 what="--folds")]
    return [validation_split_of(train, config.base.validation_split, config.base.seed)]


def validation_balanced_accuracy(model: Sequential, validation: Dataset) -> float:
    """Balanced accuracy (mean per-class recall) of ``model`` on ``validation`` (x: (N, C, H, W))."""
    predicted = predicted_classes(model.predict_logits(validation.x), model.output_activation)
    return balanced_accuracy(validation.y, predicted, validation.num_classes)


class CurveRecorder(Callback):
    """Records the validation scores after every epoch into :attr:`curve`.

    With ``report``, each epoch ends with ``report(epoch, curve)`` (1-based epoch, the curve
    so far); when it returns True (the trial is pruned) training stops after that epoch.
    The fit loop must validate on ``validation`` (it logs ``val_loss``, ``val_accuracy``).
    """

    def __init__(self, validation: Dataset, report: Callable[[int, Curve], bool] | None = None) -> None:
        self.validation, self.report = validation, report
        self.curve: Curve = {key: [] for key in SCORES}
        self.stopped_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        scores = {"val_balanced_accuracy": validation_balanced_accuracy(self.model, self.validation),
                  "val_accuracy": logs["val_accuracy"], "val_loss": logs["val_loss"]}
        for key, value in scores.items():
            self.curve[key].append(float(value))
        if self.report is not None and self.report(epoch + 1, self.curve):
            self.stopped_at = epoch + 1
            self.model.stop_training = True


def mean_curve(curves: Sequence[Curve]) -> dict[str, np.ndarray]:
    """Epoch-by-epoch mean of several runs' curves: one array ``(epochs,)`` per score, as
    long as the shortest run (the folds of a trial all train the same number of epochs)."""
    if not curves:
        raise ValueError("mean_curve needs at least one curve")
    epochs = min(len(curve[SCORES[0]]) for curve in curves)
    return {key: np.mean([curve[key][:epochs] for curve in curves], axis=0) for key in SCORES}


def smooth_curve(curve: dict[str, np.ndarray], window: int) -> dict[str, np.ndarray]:
    """Each score's centred moving average over ``window`` epochs (fewer at either end, where
    the window is cut off); ``window=1`` returns the curve unchanged. Arrays ``(epochs,)``."""
    if window <= 1:
        return curve
    out = {}
    for key, values in curve.items():
        values = np.asarray(values, dtype=np.float64)
        # Epoch i averages epochs [i - window//2, i + (window-1)//2] that exist (NumPy's
        # "same" convolution, but never more values than epochs, however long the window),
        # by running sums: a search scores its curve so far after every epoch, and a
        # window's own mean each time made a 2500-epoch trial's scoring take seconds.
        epochs = np.arange(len(values))
        window = min(window, 2 * len(values) + 1)  # any wider averages the same (and may overflow)
        low = np.clip(epochs - window // 2, 0, len(values))
        high = np.clip(epochs + (window - 1) // 2 + 1, 0, len(values))
        missing = np.isnan(values)  # a window holding a NaN averages to NaN, as its mean would
        sums = np.concatenate([[0.0], np.cumsum(np.where(missing, 0.0, values))])
        nans = np.concatenate([[0], np.cumsum(missing)])
        means = (sums[high] - sums[low]) / (high - low)
        out[key] = np.where(nans[high] > nans[low], np.nan, means)
    return out


@dataclass(frozen=True)
class BestEpoch:
    """The best point of a curve: its epoch (1-based) and every score there."""

    epoch: int
    scores: dict[str, float]


def best_epoch(curve: dict[str, np.ndarray], objective: str, maximize: bool) -> BestEpoch:
    """The epoch at which ``curve[objective]`` is best (highest when ``maximize``); ties go
    to the lower validation loss, then to the earlier epoch. ``curve``: arrays ``(epochs,)``."""
    values = np.asarray(curve[objective], dtype=np.float64)
    if not len(values):
        raise ValueError("best_epoch needs a curve of at least one epoch")
    ranked = values if maximize else -values
    ranked = np.where(np.isnan(ranked), -np.inf, ranked)
    candidates = np.flatnonzero(ranked == ranked.max())
    losses = np.asarray(curve["val_loss"], dtype=np.float64)[candidates]
    index = int(candidates[np.argmin(np.where(np.isnan(losses), np.inf, losses))])
    return BestEpoch(index + 1, {key: float(curve[key][index]) for key in SCORES})
