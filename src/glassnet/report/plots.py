"""The plots of a model's predictions: the confusion matrix, the gallery of misclassified
images and one image's class-probability bars, drawn with matplotlib's Agg canvas.

Confusion matrices always have the true class on the rows (labelled "true") and the
predicted class on the columns ("predicted"). What the figures share (the canvas, PNG
bytes and files, class names as figure text) is in :mod:`~glassnet.report.figures`; the
training curves and the optimizer comparison are in :mod:`~glassnet.report.curves`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .._text import printable
from ..errors import ShapeError
from ..metrics import class_probabilities

# documented as glassnet.report.plots.plot_training_curves, .plot_optimizer_comparison and
# .save_figure (README "Evaluation and reports"): they stay importable from here
from .curves import plot_optimizer_comparison, plot_training_curves  # noqa: F401
from .figures import (
    OK_COLOR,
    TRAIN_COLOR,
    WRONG_COLOR,
    figure_labels,
    image_for_display,
    literal,
    new_figure,
    save_figure,  # noqa: F401
    short_name,
)


def _show_image(ax, image: np.ndarray) -> None:
    shown = image_for_display(image)
    # A one-channel image is drawn through a colour map, which would stretch it from its own
    # darkest to its brightest pixel: pin the map to the full range, as an RGB image is shown.
    full = {"vmin": 0, "vmax": 255 if shown.dtype == np.uint8 else 1.0} if shown.ndim == 2 else {}
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, interpolation="nearest", **full)
    ax.set_xticks([])
    ax.set_yticks([])


def row_normalized(matrix: np.ndarray) -> np.ndarray:
    """Each row of ``matrix: (C, C)`` (rows: true classes) divided by its sum (the fraction
    of each true class); empty rows stay 0."""
    matrix = np.asarray(matrix, dtype=np.float64)
    sums = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, sums, out=np.zeros_like(matrix), where=sums > 0)


#: Confusion matrices of at most this many classes show every count; of at most
#: SOME_COUNTS, the non-zero counts; larger ones only the colours.
ALL_COUNTS, SOME_COUNTS = 20, 50


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str] | None = None,
                          title: str = "confusion matrix") -> Figure:
    """Heatmap of a confusion matrix ``(C, C)`` (rows = true, columns = predicted).

    Each cell shows its count; its colour is the count divided by its row's sum, so the
    diagonal reads as per-class recall whatever the class sizes.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ShapeError(f"a confusion matrix is square (C, C), got shape {matrix.shape}")
    n = len(matrix)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ShapeError(f"{len(names)} class names for a {n}x{n} confusion matrix")
    colors = row_normalized(matrix)
    size = min(3.2 + 0.55 * n, 12)
    fig = new_figure(size + 1.2, size)
    ax = fig.subplots()
    image = ax.imshow(colors, cmap="Blues", vmin=0.0, vmax=1.0)
    # Every count up to ALL_COUNTS classes; up to SOME_COUNTS only the non-zero ones (a sea of
    # zeros hides the confusions); beyond that the cells are too small for numbers.
    if n <= SOME_COUNTS:
        for i in range(n):
            for j in range(n):
                if n <= ALL_COUNTS or matrix[i, j]:
                    ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                            color="white" if colors[i, j] > 0.5 else "black",
                            fontsize="medium" if n <= 10 else "small" if n <= ALL_COUNTS else "x-small")
    labels = figure_labels(names)
    slanted = n > 4 or max(map(len, labels)) > 6  # long names side by side would overlap
    # a tick label must fit its row: 12 inches hold about 80 rows of 10-point text
    tick_size = min(10.0, max(4.0, 0.8 * 72 * size / n)) if n > ALL_COUNTS else None
    rotation = 90 if n > ALL_COUNTS else 45 if slanted else 0  # many names: upright, no overlap
    ax.set_xticks(range(n), labels, rotation=rotation, ha="right" if rotation == 45 else "center",
                  fontsize=tick_size)
    ax.set_yticks(range(n), labels, fontsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(literal(title))
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    return fig


def _title_size(titles: Sequence[str], fits: int = 35) -> float:
    """Font size in points for panel titles: matplotlib's "small" (8.3 pt) when every
    line has at most ``fits`` characters, smaller for longer ones, so that neighbouring
    titles do not run into each other."""
    longest = max((len(line) for title in titles for line in title.splitlines()), default=0)
    return max(5.0, 8.33 * min(1.0, fits / max(longest, 1)))


def _prediction_title(pred: str, prob: float, true: str) -> str:
    """``pred`` and ``true`` as :func:`~glassnet.report.figures.short_names` gave them (two
    different classes must never read the same in a title: a wrong prediction would look
    right)."""
    return f"Prediction: {pred} ({prob:.2f})\nClass: {true}"


def plot_misclassified(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray,
                       class_names: Sequence[str], max_images: int = 20, columns: int = 5) -> Figure:
    """The first ``max_images`` misclassified images, in data order.

    ``images: (N, C, H, W)``, ``y_true, y_pred: (N,)``, ``probs: (N, num_classes)``. Each
    panel is titled "Prediction: <class> (<its probability>) / Class: <true class>"; its
    axes label (``ax.get_label()``) is the sample index, also shown under it as ``#index``.
    """
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if not len(images) == len(y_true) == len(y_pred) == len(probs):
        raise ShapeError(f"{len(images)} images, {len(y_true)} labels, {len(y_pred)} predictions "
                         f"and {len(probs)} probability rows: they must match")
    wrong = np.flatnonzero(y_true != y_pred)[:max_images]
    if len(wrong) == 0:
        fig = new_figure(4, 1)
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    cols = min(columns, len(wrong))
    rows = -(-len(wrong) // cols)
    fig = new_figure(2.3 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    labels = figure_labels(class_names)
    titles = [_prediction_title(labels[y_pred[i]], float(probs[i, y_pred[i]]), labels[y_true[i]])
              for i in wrong]
    size = _title_size(titles)
    for ax, index, title in zip(axes, wrong, titles, strict=False):
        _show_image(ax, images[index])
        ax.set_title(title, fontsize=size)
        ax.set_xlabel(f"#{index}", fontsize="x-small")
        ax.set_label(str(int(index)))
    for ax in axes[len(wrong):]:
        ax.remove()
    return fig


def plot_probabilities(image: np.ndarray, probs: np.ndarray, class_names: Sequence[str],
                       true_class: int | None = None, top: int = 10, image_name: str | None = None) -> Figure:
    """One image ``(C, H, W)`` beside a bar chart of its class probabilities ``(num_classes,)``
    (or a sigmoid model's one probability of class 1, as ``model.predict`` gives it).

    Shows the ``top`` most likely classes (all of them when there are at most ``top``, in
    class order; a title says how many of how many otherwise); the predicted bar is green
    when right and red when wrong. ``image_name`` (a photo's file name, as ``glassnet
    predict --plot`` gives it) titles the image, above the prediction when ``true_class``
    is given.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    if len(probs) == 1 and len(class_names) == 2:
        probs = class_probabilities(probs[None])[0]
    if len(probs) != len(class_names):
        raise ShapeError(f"{len(probs)} probabilities for {len(class_names)} classes")
    if true_class is not None and not 0 <= true_class < len(class_names):
        raise ShapeError(f"true_class {true_class} is not a class index (0..{len(class_names) - 1})")
    order = np.arange(len(probs)) if len(probs) <= top else np.argsort(-probs, kind="stable")[:top]
    added = true_class is not None and true_class not in order
    if added:  # the true class is always shown
        order = np.append(order[:-1], true_class)
    predicted = int(np.argmax(probs))
    fig = new_figure(7.5, max(2.8, 0.35 * len(order) + 1))
    ax_image, ax_bars = fig.subplots(1, 2, width_ratios=[1, 1.4])
    _show_image(ax_image, image)
    title_lines = [] if image_name is None else [literal(short_name(printable(image_name), 40))]
    if true_class is not None:
        titles = figure_labels(class_names)
        title_lines.append(_prediction_title(titles[predicted], probs[predicted], titles[true_class]))
    if title_lines:
        title = "\n".join(title_lines)
        # narrower than a gallery panel once the bars' labels have their room: a 35-character
        # line at the gallery's size reached past the figure's left edge
        ax_image.set_title(title, fontsize=_title_size([title], fits=30))
    colors = [(OK_COLOR if predicted == true_class or true_class is None else WRONG_COLOR)
              if i == predicted else TRAIN_COLOR for i in order]
    y = np.arange(len(order))[::-1]
    ax_bars.barh(y, probs[order], color=colors)
    labels = figure_labels(class_names, 24)
    ax_bars.set_yticks(y, [labels[i] for i in order])
    for tick, i in zip(ax_bars.get_yticklabels(), order, strict=True):
        if i == true_class:
            tick.set_fontweight("bold")
    if len(order) < len(probs):  # say that classes were left out
        ax_bars.set_title(f"the {len(order) - added} most likely of {len(probs)} classes"
                          + (" and the true class" if added else ""), fontsize="small")
    ax_bars.set_xlim(0, 1)
    ax_bars.set_xlabel("probability" + ("" if true_class is None else " (bold: the true class)"))
    for pos, p, i in zip(y, probs[order], order, strict=True):
        label = f"{p:.2f}" + (" true" if i == true_class else "")
        if p > 0.8:  # no room after the bar: inside its end, in white
            ax_bars.text(p - 0.02, pos, label, va="center", ha="right", fontsize="small", color="white")
        else:
            ax_bars.text(p + 0.02, pos, label, va="center", fontsize="small")
    return fig
