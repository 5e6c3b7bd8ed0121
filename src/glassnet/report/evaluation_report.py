"""``glassnet evaluate --report``: the HTML page of a saved model's evaluation on one split
of a data set (what it was evaluated on, its loss and accuracy, the model, then the sections
of :func:`~glassnet.report.html.evaluation_sections` that a run report shows too).

The run's own report is :mod:`glassnet.report.run_report`; the evaluation itself is
:mod:`glassnet.report.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._files import write_text
from .._text import score_text
from .evaluation import Evaluation
from .html import esc, evaluation_sections, footer, key_value_table, model_summary_html, page, section


def evaluation_report_html(model: Any, ev: Evaluation, model_path: str | Path, dataset: str,
                           settings: Sequence[tuple[str, Any]] = (), notes: Sequence[str] = ()) -> str:
    """The HTML of an evaluation of a saved model on one split of a data set; ``settings``:
    more ``(label, value)`` rows (how the split was drawn), ``notes``: the warnings the
    evaluation gave, shown first."""
    training = model.training_summary or {}
    items = [("model file", str(model_path)), ("model", model.name),
             ("trained on", training.get("dataset")), ("evaluated on", f"{ev.name} ({dataset})"),
             *settings,
             ("images", len(ev.y_true)), ("loss", score_text(ev.loss) if ev.loss is not None else None),
             ("accuracy", f"{ev.report['accuracy']:.4f}")]
    warned = "".join(f"<p>{esc(note)}</p>" for note in notes)
    sections = [*([section("Warning", warned, "warning")] if notes else []),
                section("Evaluation", key_value_table(items), "evaluation"),
                section(f'Model "{model.name}"', model_summary_html(model), "model"),
                *evaluation_sections(ev)]
    return page(f"glassnet evaluation of {Path(model_path).name}",
                f"{ev.name}: accuracy {ev.report['accuracy']:.4f}", sections, footer())


def write_evaluation_report(path: str | Path, model: Any, ev: Evaluation, model_path: str | Path,
                            dataset: str, settings: Sequence[tuple[str, Any]] = (),
                            notes: Sequence[str] = ()) -> Path:
    """Write an evaluation report (:func:`evaluation_report_html`) to ``path`` (atomically)
    and return the path."""
    path = Path(path)
    write_text(path, evaluation_report_html(model, ev, model_path, dataset, settings, notes))
    return path
