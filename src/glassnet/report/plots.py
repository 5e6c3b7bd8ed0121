"""The plots of a run, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`figure_png` turns one
into PNG bytes and :func:`save_figure` writes it atomically. Confusion matrices always
have the true class on the rows (labelled "true") and the predicted class on the
columns ("predicted").
"""

from __future__ import annotations

import functools
import io
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._files import nan_for_null, write_bytes
from .._text import printable
from ..errors import ShapeError
from ..metrics import class_probabilities

TRAIN_COLOR, VAL_COLOR, LR_COLOR = "#1f77b4", "#ff7f0e", "#7f7f7f"
OK_COLOR, WRONG_COLOR = "#2ca02c", "#d62728"


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas with constrained layout; ``width, height`` in inches."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes. Characters the font lacks (a data set's name in Chinese
    with DejaVu Sans) are drawn as boxes without a warning per character; class names are
    numbered instead (:func:`figure_labels`), and the HTML report and the text tables show
    every name as it is."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def short_name(name: str, limit: int = 16) -> str:
    """A class name of at most ``limit`` characters for titles and tick labels: its start
    and its end around a "…" (``golden_…er_puppy``: names often differ only at the end)."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return name[:head] + "…" + name[-(limit - 1 - head):]


def short_names(names: Sequence[str], limit: int = 16) -> list[str]:
    """:func:`short_name` of each name; names that would look the same are lengthened
    (more of their start and end) until they differ, and kept whole if need be
    (``class_000_golden_retriever_puppy`` and ``class_003_golden_retriever_puppy`` become
    ``class_000…ver_puppy`` and ``class_003…ver_puppy``, not both ``class_0…r_puppy``)."""
    names = [str(name) for name in names]
    limits = [limit] * len(names)
    short = [short_name(name, limit) for name in names]
    while True:  # ends: each round lengthens every clashing name, and a whole name never clashes
        seen = Counter(short)
        clashing = [i for i, s in enumerate(short) if seen[s] > 1 and s != names[i]]
        if not clashing:
            return short
        for i in clashing:
            limits[i] += 1
            short[i] = short_name(names[i], limits[i])


def literal(text: str) -> str:
    """``text`` drawn as it is: matplotlib reads ``$...$`` as a formula (a class named
    ``price_$5_to_$10`` stopped the whole report; ``size_$x^2$`` showed a superscript)."""
    return str(text).replace("$", r"\$")


@functools.lru_cache(maxsize=1)
def _drawable_characters() -> frozenset[int]:
    """The code points the figures' font, with matplotlib's fallback fonts, can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    prop = font_manager.FontProperties()
    try:  # the chain of fonts matplotlib falls back through (3.6+)
        paths = font_manager.fontManager._find_fonts_by_props(prop)
    except AttributeError:
        paths = [font_manager.findfont(prop)]
    return frozenset(point for path in paths for point in FT2Font(str(path)).get_charmap())


def drawable(names: Sequence[str]) -> bool:
    """Whether the figures can draw every character of ``names`` as :func:`figure_labels`
    writes them (a tab, a zero-width space written as ``\t``, ``\u200b``)."""
    points = _drawable_characters()
    return all(ord(ch) in points or ch == " " for name in names for ch in printable(str(name)))


def figure_labels(names: Sequence[str], limit: int = 16) -> list[str]:
    """The class names as figure text: :func:`short_names`, drawn literally; or the class
    numbers ``#0``, ``#1``, ... when the font cannot draw a name (Chinese names with DejaVu
    Sans: every name would be the same row of boxes, and a wrong prediction would read as
    right). The HTML report then lists which number is which class. Control and invisible
    characters are written as escapes (:func:`~glassnet._text.printable`): ``cat`` and
    ``cat\u200b`` are two classes and must not look the same."""
    names = [printable(str(name)) for name in names]
    if not drawable(names):
        return [f"#{i}" for i in range(len(names))]
    return [literal(label) for label in short_names(names, limit)]


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> None:
    """Write the figure as a PNG file, atomically."""
    write_bytes(path, figure_png(fig, dpi))


def image_for_display(image: np.ndarray) -> np.ndarray:
    """One image ``(C, H, W)`` (C = 1 or 3) → ``(H, W)`` or ``(H, W, 3)`` for ``imshow``.

    uint8 images are shown as they are; float images are scaled to [0, 1] by their range.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ShapeError(f"expected one image of shape (C, H, W) with C = 1 or 3, got {image.shape}")
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = (image - low) / (high - low) if high > low else np.zeros_like(image, dtype=float)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)


def _show_image(ax, image: np.ndarray) -> None:
    shown = image_for_display(image)
    # A one-channel image is drawn through a colour map, which would stretch it from its own
    # darkest to its brightest pixel: pin the map to the full range, as an RGB image is shown.
    full = {"vmin": 0, "vmax": 255 if shown.dtype == np.uint8 else 1.0} if shown.ndim == 2 else {}
    ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, interpolation="nearest", **full)
    ax.set_xticks([])
    ax.set_yticks([])


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


def plot_training_curves(history: Any, kept_epoch: int | None = None) -> Figure:
    """Loss and accuracy per epoch, training and validation; the learning rate on a second
    axis of the loss panel when it changes during training. Accuracy is drawn on 0..1 (a
    zoomed axis made a model stuck on the majority class look as if it learned);
    ``kept_epoch`` (counted from 1) marks the epoch whose weights the run kept (early
    stopping restores the best one)."""
    data = history_dict(history)
    if not data.get("loss"):
        raise ShapeError("the history has no 'loss' values to plot")
    panels = [m for m in ("loss", "accuracy") if data.get(m)]
    fig = new_figure(5.2 * len(panels), 3.8)
    for ax, metric in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        x = _epochs(data, metric)
        for key, color, name in ((metric, TRAIN_COLOR, f"training {metric}"),
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


def row_normalized(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the fraction of each true class); empty rows stay 0."""
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
    """``pred`` and ``true`` as :func:`short_names` gave them (two different classes must
    never read the same in a title: a wrong prediction would look right)."""
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
                       true_class: int | None = None, top: int = 10) -> Figure:
    """One image ``(C, H, W)`` beside a bar chart of its class probabilities ``(num_classes,)``
    (or a sigmoid model's one probability of class 1, as ``model.predict`` gives it).

    Shows the ``top`` most likely classes (all of them when there are at most ``top``, in
    class order; a title says how many of how many otherwise); the predicted bar is green
    when right and red when wrong.
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
    if true_class is not None:
        titles = figure_labels(class_names)
        title = _prediction_title(titles[predicted], probs[predicted], titles[true_class])
        ax_image.set_title(title, fontsize=_title_size([title]))
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
