"""Plain-text tables (model summary, classification report) shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

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
    # A class with no sample and no prediction has no scores (None, left out of the macro
    # average, see classification_report): "-", not a 0.0000 that reads as a class the model
    # always misses.
    rows = [[c["class"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}",
             str(c["support"])] if c["precision"] is not None else [c["class"], "-", "-", "-", "0"]
            for c in report["per_class"]]
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


# A confusion matrix wider than this (in characters) is listed as its most frequent
# confusions instead: 55 classes made lines of 1,571 characters.
WIDEST_TABLE = 120
CONFUSION_HEADER = ["true class", "predicted", "images", "fraction of the true class"]


def top_confusions(matrix: np.ndarray | Sequence[Sequence[int]], class_names: Sequence[str],
                   limit: int = 20) -> tuple[list[list[Any]], int]:
    """Rows of :data:`CONFUSION_HEADER` for the ``limit`` most frequent off-diagonal cells of a
    confusion matrix (most images first), and how many more such pairs there are."""
    off = np.array(matrix, dtype=np.int64)
    np.fill_diagonal(off, 0)
    cells = sorted(((int(off[i, j]), int(i), int(j)) for i, j in zip(*np.nonzero(off), strict=True)),
                   key=lambda c: (-c[0], c[1], c[2]))
    support = np.asarray(matrix).sum(axis=1)
    rows = [[class_names[i], class_names[j], k, f"{k / support[i]:.3f}"] for k, i, j in cells[:limit]]
    return rows, max(len(cells) - limit, 0)


def confusion_table(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> str:
    """The confusion matrix with class names; rows = true class, columns = predicted. One
    wider than :data:`WIDEST_TABLE` characters gives its most frequent confusions instead."""
    rows = [[f"true {name}", *(str(int(v)) for v in row)]
            for name, row in zip(class_names, matrix, strict=True)]
    header = ["rows: true / columns: predicted", *class_names]
    full = table(rows, header, "l" + "r" * len(class_names))
    if max(display_width(line) for line in full.splitlines()) <= WIDEST_TABLE:
        return full
    top, more = top_confusions(matrix, class_names)
    intro = (f"The confusion matrix of {len(class_names)} classes is too wide to print (--report "
             "draws it, --json gives it)")
    if not top:
        return f"{intro}; no image was confused with another class."
    more_text = f" ({more} more pairs not shown)" if more else ""
    return f"{intro};\nthe most frequent confusions{more_text}:\n" + table(top, CONFUSION_HEADER, "llrr")


#: reductions listed by epoch in full; more are shown as the first three, "...", the last two
MAX_LISTED_EPOCHS = 8


def lr_reductions_text(record: dict[str, Any]) -> str | None:
    """``"lr reduced 2 times on a val_loss plateau (patience 3, factor 0.1), after epochs 4
    and 9: final lr 0.0001"``, from a record of ``glassnet train --reduce-lr`` (the run's
    ``metrics.json`` or its model's training summary: ``reduce_lr_monitor``,
    ``reduce_lr_patience``, ``reduce_lr_factor``, ``lr_reduced_after`` (epochs from 1),
    ``final_lr``); ``None`` for a record without them, or not of that shape (edited by hand)."""
    after, final = record.get("lr_reduced_after"), record.get("final_lr")
    if not (isinstance(after, list) and all(isinstance(e, int) and not isinstance(e, bool) for e in after)
            and isinstance(final, (int, float)) and not isinstance(final, bool)):
        return None
    factor = record.get("reduce_lr_factor")
    head = (f"on a {record.get('reduce_lr_monitor')} plateau (patience {record.get('reduce_lr_patience')}"
            + (f", factor {factor:g})" if isinstance(factor, (int, float)) else ")"))
    if not after:
        return f"lr never reduced {head}: it stayed {final:g}"
    shown = after if len(after) <= MAX_LISTED_EPOCHS else [*after[:3], "...", *after[-2:]]
    epochs = ", ".join(map(str, shown[:-1])) + (" and " if len(shown) > 1 else "") + str(shown[-1])
    return (f"lr reduced {count(len(after), 'time')} {head}, after "
            f"{'epoch' if len(after) == 1 else 'epochs'} {epochs}: final lr {final:g}")


def class_weight_text(pairs: Any, given: Any = None) -> str | None:
    """``"non-cat 0.763, cat 1.45 (balanced), in the training loss only"``, from a run's record
    of ``--class-weight`` (``pairs``: ``[[class name, weight], ...]``, as ``metrics.json`` and
    the model's training summary hold it; ``given``: the option's text, as run.json keeps it);
    ``None`` without one, or for one not of that shape (edited by hand)."""
    if not (isinstance(pairs, list) and pairs and all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], (int, float))
            and not isinstance(p[1], bool) for p in pairs)):
        return None
    how = f" ({given})" if given == "balanced" else ""
    return ", ".join(f"{name} {weight:.3g}" for name, weight in pairs) + how + ", in the training loss only"
