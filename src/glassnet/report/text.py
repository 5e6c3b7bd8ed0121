"""Plain-text tables (model summary, classification report) shared by the API and the CLI."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from .._text import count


def no_trial_succeeded(rows: Sequence[dict[str, Any]]) -> str:
    """``"no trial succeeded (3 trials: 2 failed, 1 pruned)"``: why a search has no best
    trial, from its trial rows (``state``: ``fail``, ``pruned``, ``running``, ...)."""
    states = [row["state"] for row in rows]
    counts = [f"{states.count(state)} {word}" for state, word in
              (("fail", "failed"), ("pruned", "pruned"), ("running", "still running"))
              if state in states]
    return f"no trial succeeded ({count(len(rows), 'trial')}{': ' if counts else ''}{', '.join(counts)})"


def batch_size_text(batch_size: int | None) -> str:
    """``"64"``, or ``"full"`` for full-batch training (``None``): as ``--batch-size`` takes it."""
    return "full" if batch_size is None else str(batch_size)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 for wide characters (猫), 0 for combining marks."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def table(rows: list[list[str]], header: list[str], align: str | None = None) -> str:
    """A simple fixed-width table; ``align`` has one 'l' or 'r' per column (aligned by
    :func:`display_width`, so class names in any script line up)."""
    widths = [max(display_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = align or "l" * len(header)

    def fmt(row):
        cells = []
        for cell, width, side in zip(row, widths, align, strict=True):
            pad = " " * (width - display_width(str(cell)))
            cells.append(f"{cell}{pad}" if side == "l" else f"{pad}{cell}")
        return "  ".join(cells).rstrip()

    rule = "-" * display_width(fmt(header))
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


SUMMARY_HEADER = ["Layer (type)", "Output Shape", "Param #"]


def summary_rows(model: Any) -> tuple[list[list[str]], dict[str, int]]:
    """Rows ``[name (Type), output shape, parameter count]`` per layer and the totals
    ``{"total", "trainable", "non_trainable"}``."""
    rows = []
    for i, layer in enumerate(model.layers):
        name = layer.name or f"{type(layer).__name__.lower()}_{i}"
        shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")" if layer.built else "?"
        n_params = layer.count_params() + sum(int(v.size) for v in layer.state.values())
        rows.append([f"{name} ({type(layer).__name__})", shape, f"{n_params:,}"])
    trainable, frozen = model.count_params()
    return rows, {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def model_summary(model: Any) -> str:
    """Keras-style summary: Layer (type) | Output Shape | Param #, then the totals."""
    rows, totals = summary_rows(model)
    body = table(rows, SUMMARY_HEADER, "llr")
    width = len(body.splitlines()[1])
    return "\n".join([
        f'Model: "{model.name}"',
        "=" * width,
        body,
        "=" * width,
        f"Total params: {totals['total']:,}",
        f"Trainable params: {totals['trainable']:,}",
        f"Non-trainable params: {totals['non_trainable']:,}",
    ])


CLASS_HEADER = ["class", "precision", "recall", "f1-score", "support"]


def classification_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of :data:`CLASS_HEADER` for each class, then macro and weighted averages and accuracy,
    from :func:`glassnet.metrics.classification_report`."""
    # A class with no sample and no prediction has no scores (left out of the macro average,
    # see classification_report): "-", not a 0.0000 that reads as a class the model always misses.
    predicted = [sum(col) for col in zip(*report["confusion_matrix"], strict=True)]
    rows = [[c["class"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
             str(c["support"])] if c["support"] or predicted[k] else [c["class"], "-", "-", "-", "0"]
            for k, c in enumerate(report["per_class"])]
    samples = str(report["samples"])
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        avg = report[key]
        rows.append([label, f"{avg['precision']:.4f}", f"{avg['recall']:.4f}", f"{avg['f1']:.4f}",
                     samples])
    rows.append(["accuracy", "", "", f"{report['accuracy']:.4f}", samples])
    return rows


def classification_table(report: dict[str, Any]) -> str:
    """Per-class precision, recall, F1 and support as a fixed-width table."""
    return table(classification_rows(report), CLASS_HEADER, "lrrrr")


def confusion_table(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> str:
    """The confusion matrix with class names; rows = true class, columns = predicted."""
    rows = [[f"true {name}", *(str(int(v)) for v in row)]
            for name, row in zip(class_names, matrix, strict=True)]
    header = ["rows: true / columns: predicted", *class_names]
    return table(rows, header, "l" + "r" * len(class_names))
