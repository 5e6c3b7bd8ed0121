"""Training curves: one run's loss, accuracy and learning rate per epoch
(:func:`plot_training_curves`), and several runs side by side
(:func:`plot_optimizer_comparison`), from a :class:`~glassnet.training.History` or the
``history.json`` a run wrote (its ``null`` for a non-finite value is drawn as a gap, and
the legend names the epochs missing). The figures come from
:mod:`~glassnet.report.figures`; both functions are also documented as
``glassnet.report.plots.plot_training_curves`` and ``.plot_optimizer_comparison``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._files import nan_for_null
from ..errors import ShapeError
from .figures import LR_COLOR, TRAIN_COLOR, VAL_COLOR, new_figure


def history_dict(history: Any) -> dict[str, list[float]]:
    """A :class:`~glassnet.training.History` or its ``to_dict()`` as ``{key: values}``."""
    if history is None:  # model.history of a model that was loaded, not trained here
        raise ShapeError("there is no training history to plot (a loaded model keeps none: "
                         "plot the run's history.json, e.g. plot_training_curves(json.load(...)))")
    data = history.to_dict() if hasattr(history, "to_dict") else dict(history)
    return {k: list(v) for k, v in data.items()}


def _whole_epoch_axis(ax, x: np.ndarray) -> None:
    """Whole-number epoch ticks; a single epoch gets one tick, or matplotlib's locator
    (which wants two ticks) would label it 0.96, 0.98, 1.00, ..."""
    if len(x) and np.nanmin(x) == np.nanmax(x):
        ax.set_xlim(float(x[0]) - 0.5, float(x[0]) + 0.5)
        ax.set_xticks([float(x[0])])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5


def _epochs(data: dict[str, list[float]], key: str) -> np.ndarray:
    """1-based epoch numbers for ``data[key]``."""
    epochs = data.get("epoch")
    if epochs and len(epochs) == len(data[key]):
        return np.asarray(epochs) + 1
    return np.arange(1, len(data[key]) + 1)


def _label_with_gaps(name: str, epochs: np.ndarray, values: np.ndarray) -> str:
    """``name``, and the epochs whose value is not finite: matplotlib draws no point there,
    and without a word the curve would just have a gap (an overflowing validation loss)."""
    missing = [int(e) for e in epochs[~np.isfinite(values)]]  # plotted: the lengths agree
    if not missing:
        return name
    shown = ", ".join(map(str, missing[:3])) + (", ..." if len(missing) > 3 else "")
    return f"{name} (not finite, not drawn: epoch{'s' if len(missing) > 1 else ''} {shown})"


#: Curves of at most this many epochs mark each epoch's point.
FEW_EPOCHS = 20


def _marked_points(values: np.ndarray) -> list[int] | None:
    """Indices of ``values`` to mark with a dot: all of them for a short curve; for a long
    one, the finite values with no finite neighbour, which a line alone would not show
    (one epoch between two that overflowed). ``None``: no marker at all."""
    if len(values) <= FEW_EPOCHS:
        return list(range(len(values)))
    finite = np.pad(np.isfinite(values), 1)  # the ends have no neighbour outside
    isolated = finite[1:-1] & ~finite[:-2] & ~finite[2:]
    return [int(i) for i in np.flatnonzero(isolated)] or None


def _plot_curve(ax, epochs: np.ndarray, values: Sequence[float | None], name: str, **style) -> None:
    """One per-epoch curve: history.json's ``null`` as NaN, dots where a line would not
    show a value, and the legend naming the epochs that are not drawn."""
    y = np.asarray(nan_for_null(values), dtype=np.float64)
    marked = _marked_points(y)
    ax.plot(epochs, y, marker="o" if marked else None, markevery=marked,
            label=_label_with_gaps(name, epochs, y), **style)


def plot_training_curves(history: Any, kept_epoch: int | None = None,
                         weighted_loss: bool = False) -> Figure:
    """Loss and accuracy per epoch, training and validation; the learning rate on a second
    axis of the loss panel when it changes during training. Accuracy is drawn on 0..1 (a
    zoomed axis made a model stuck on the majority class look as if it learned);
    ``kept_epoch`` (counted from 1) marks the epoch whose weights the run kept (early
    stopping restores the best one); ``weighted_loss``: the training loss is weighted by
    class weights (``fit``'s ``class_weight``), the validation loss is not, and the legend
    says so."""
    data = history_dict(history)
    if not data.get("loss"):
        raise ShapeError("the history has no 'loss' values to plot")
    panels = [m for m in ("loss", "accuracy") if data.get(m)]
    fig = new_figure(5.2 * len(panels), 3.8)
    for ax, metric in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        x = _epochs(data, metric)
        weighted = " (class-weighted)" if weighted_loss and metric == "loss" else ""
        for key, color, name in ((metric, TRAIN_COLOR, f"training {metric}{weighted}"),
                                 (f"val_{metric}", VAL_COLOR, f"validation {metric}")):
            if data.get(key):  # each key its own epochs: a user's history may differ in length
                _plot_curve(ax, _epochs(data, key), data[key], name, color=color)
        ax.set_xlabel("epoch")
        _whole_epoch_axis(ax, x)
        ax.set_ylabel(metric)
        ax.set_title(metric)
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
        if kept_epoch is not None:
            ax.axvline(kept_epoch, color=LR_COLOR, linestyle=":", label=f"weights kept (epoch {kept_epoch})")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if metric == "loss" and len(set(data.get("lr", []))) > 1:
            lr_ax = ax.twinx()
            lr_ax.plot(_epochs(data, "lr"), data["lr"], color=LR_COLOR, linestyle="--", label="learning rate")
            lr_ax.set_ylabel("learning rate")
            if max(data["lr"]) > 20 * min(data["lr"]) > 0:
                lr_ax.set_yscale("log")
            more_handles, more_labels = lr_ax.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        ax.legend(handles, labels, loc="best", fontsize="small")
    return fig


def plot_optimizer_comparison(histories: Mapping[str, Any],
                              metrics: Sequence[str] = ("loss", "accuracy"),
                              log_loss: bool = False, compared: str = "optimizer") -> Figure:
    """One line per optimizer (``{name: History or history dict}``) for each metric present;
    ``compared`` names what the histories differ in, for the titles (``"initializer"``).

    Validation curves, where a history has them, are dashed in the same colour.
    """
    if not histories:
        raise ShapeError("plot_optimizer_comparison needs at least one history")
    data = {name: history_dict(h) for name, h in histories.items()}
    panels = [m for m in metrics if any(d.get(m) for d in data.values())]
    if not panels:
        raise ShapeError(f"none of the histories has any of the metrics {list(metrics)}")
    fig = new_figure(5.2 * len(panels), 3.8)
    cycle = [f"C{i}" for i in range(10)]
    for ax, metric in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for k, (name, d) in enumerate(data.items()):
            color = cycle[k % len(cycle)]
            for key, style, suffix in ((metric, "-", ""), (f"val_{metric}", "--", " (validation)")):
                if d.get(key):
                    _plot_curve(ax, _epochs(d, key), d[key], f"{name}{suffix}", color=color,
                                linestyle=style)
        if metric == "loss" and log_loss:
            ax.set_yscale("log")
        ax.set_xlabel("epoch")
        _whole_epoch_axis(ax, np.concatenate([_epochs(d, k) for d in data.values()
                                              for k in (metric, f"val_{metric}") if d.get(k)]))
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} by {compared}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    return fig
