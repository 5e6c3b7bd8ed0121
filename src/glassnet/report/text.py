"""Plain-text tables (model summary, classification report) shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The model summary and the table layout live in the core's text helpers (Sequential.summary
# uses them, and the core never imports the reports); re-exported here for the reports and CLI.
from .._text import (  # noqa: F401
    SUMMARY_HEADER,
    batch_size_text,
    count,
    display_width,
    image_shapes_note,
    model_summary,
    summary_rows,
    table,
)


def no_trial_succeeded(rows: Sequence[dict[str, Any]]) -> str:
    """``"no trial succeeded (3 trials: 2 failed, 1 pruned)"``: why a search has no best
    trial, from its trial rows (``state``: ``fail``, ``pruned``, ``running``, ...)."""
    states = [row["state"] for row in rows]
    counts = [f"{states.count(state)} {word}" for state, word in
              (("fail", "failed"), ("pruned", "pruned"), ("running", "still running"))
              if state in states]
    return f"no trial succeeded ({count(len(rows), 'trial')}{': ' if counts else ''}{', '.join(counts)})"


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
