"""Self-contained HTML pages: escaped text, tables and plots embedded as base64 PNG.

A page built here loads nothing from anywhere: no scripts, no fonts, no stylesheets
outside the file, and its Content-Security-Policy forbids any request except ``data:``
images, so it can be opened offline, mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .. import __version__
from .._text import printable, score_text
from . import figures, plots, text
from .evaluation import Evaluation

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1.5rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; margin-top: 2rem; }
.subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border-bottom: 1px solid #e4e4e4; padding: .25rem .7rem; text-align: left; vertical-align: top; }
td:not(.num) { overflow-wrap: anywhere; } /* a long name wraps, not pushing the numbers off the page */
th { background: #f5f5f5; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; } code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; }
pre { background: #f7f7f7; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: .9rem; }
img { max-width: 100%; height: auto; } footer { color: #888; font-size: .85rem; margin-top: 3rem; }
"""


def esc(value: Any) -> str:
    """HTML-escaped ``str(value)`` as one printable line (:func:`~glassnet._text.printable`):
    the bytes of a file name that are not UTF-8 written ``\\xe9`` (a UTF-8 page cannot hold
    them), control and invisible characters as escapes (``cat\\u200b`` must not read as
    ``cat``, nor a right-to-left override reverse the rest of a cell)."""
    return html.escape(printable(str(value)), quote=True)


def png_data_uri(png: bytes) -> str:
    """``png`` (a PNG file's bytes) as a ``data:`` URI, for an ``<img src>`` in a page that
    loads nothing else."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_html(fig: Figure, alt: str, caption: str | None = None, dpi: int = 100) -> str:
    """``<figure>`` with the plot embedded as a base64 PNG."""
    img = f'<img src="{png_data_uri(figures.figure_png(fig, dpi))}" alt="{esc(alt)}">'
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f"<figure>{img}{cap}</figure>"


def table_html(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None,
               numeric: Sequence[int] = (), last_is_total: bool = False) -> str:
    """An HTML table; columns listed in ``numeric`` are right-aligned."""

    def cells(row, tag):
        return "".join(f'<{tag}{" class=num" if i in numeric else ""}>{esc(c)}</{tag}>'
                       for i, c in enumerate(row))

    head = f"<thead><tr>{cells(header, 'th')}</tr></thead>" if header else ""
    body = []
    for k, row in enumerate(rows):
        cls = ' class="total"' if last_is_total and k == len(rows) - 1 else ""
        body.append(f"<tr{cls}>{cells(row, 'td')}</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def key_value_table(items: Sequence[tuple[str, Any]]) -> str:
    """Two-column table of labelled values (``None`` values are left out)."""
    return table_html([(k, v) for k, v in items if v is not None])


def section(title: str, body: str, anchor: str) -> str:
    """A ``<section id=anchor>`` headed ``title`` around ``body`` (HTML, not escaped)."""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[str], footer: str) -> str:
    """A complete, self-contained HTML document."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f'<h1>{esc(title)}</h1><p class="subtitle">{esc(subtitle)}</p>',
        *sections,
        f"<footer>{esc(footer)}</footer>",
        "</body></html>\n",
    ])


def footer() -> str:
    """The footer of the run, evaluation and search reports: the glassnet version that made the page,
    and when."""
    return (f"Made by glassnet {__version__} on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. "
            "Self-contained: every plot is embedded in this file.")


def model_summary_html(model: Any) -> str:
    """The Keras-style summary table with parameter counts and totals."""
    rows, totals = text.summary_rows(model)
    rows = [*rows, ["Total", "", f"{totals['total']:,}"]]
    shapes = text.image_shapes_note(model)
    note = (f"<p>Trainable parameters: {totals['trainable']:,}; "
            f"non-trainable: {totals['non_trainable']:,}.{' ' + shapes if shapes else ''}</p>")
    return table_html(rows, text.SUMMARY_HEADER, numeric=(2,), last_is_total=True) + note


def metrics_table_html(metrics: dict[str, dict[str, float]]) -> str:
    """Rows = split, columns = loss/accuracy (and any other metric)."""
    keys = sorted({k for values in metrics.values() for k in values},
                  key=lambda k: (k != "loss", k != "accuracy", k))
    rows = [[split, *(score_text(values[k]) if k in values else "" for k in keys)]
            for split, values in metrics.items()]
    return table_html(rows, ["split", *keys], numeric=range(1, len(keys) + 1))


def misclassified_rows(ev: Evaluation, limit: int) -> list[list[str]]:
    """One row per misclassified image (with its file when known, to look at or relabel it)."""
    rows = []
    for i in ev.misclassified[:limit]:
        rows.append([f"#{i}", *([ev.files[i]] if ev.files else []), ev.class_names[ev.y_true[i]],
                     ev.class_names[ev.y_pred[i]], f"{ev.probs[i, ev.y_pred[i]]:.3f}",
                     f"{ev.probs[i, ev.y_true[i]]:.3f}"])
    return rows


def confusions_html(matrix: np.ndarray, class_names: Sequence[str], limit: int = 20) -> str:
    """The ``limit`` most frequent off-diagonal cells of a confusion matrix ``(C, C)`` (rows:
    true classes) as a table."""
    rows, more = text.top_confusions(matrix, class_names, limit)
    if not rows:
        return "<p>No image was confused with another class.</p>"
    more_text = f" ({more} more pairs not shown)" if more else ""
    return (f"<p>Most frequent confusions{more_text}:</p>"
            + table_html(rows, text.CONFUSION_HEADER, numeric=(2, 3)))


def evaluation_sections(ev: Evaluation, max_gallery: int = 20, max_table: int = 100) -> list[str]:
    """Confusion matrix, per-class table, misclassified gallery and table, one example's
    probabilities: the sections shared by run and evaluation reports."""
    report = ev.report
    matrix = np.asarray(report["confusion_matrix"])
    wrong = ev.misclassified
    n = len(matrix)
    numbers = ("Numbers are counts" if n <= plots.ALL_COUNTS else
               "Numbers are the non-zero counts" if n <= plots.SOME_COUNTS else
               f"With {n} classes the cells are too small for numbers: the table below lists "
               "the most frequent confusions")
    cm = figure_html(plots.plot_confusion_matrix(matrix, ev.class_names, f"confusion matrix: {ev.name}"),
                     "confusion matrix", f"Rows: true class; columns: predicted class. {numbers}; "
                     "colours are the fraction of each true class (row-normalized).")
    if not figures.drawable(ev.class_names):
        numbered = ", ".join(f"{label} = {esc(name)}" for label, name in
                             zip(figures.figure_labels(ev.class_names), ev.class_names, strict=True))
        cm += ("<p>The plotting font cannot draw these class names, so the figures number the "
               f"classes: {numbered}.</p>")
    if n > plots.ALL_COUNTS:
        cm += confusions_html(matrix, ev.class_names)
    per_class = table_html(text.classification_rows(report), text.CLASS_HEADER, numeric=(1, 2, 3, 4))
    out = [section(f"Confusion matrix ({ev.name}, {report['samples']} images)", cm, "confusion"),
           section("Per-class precision, recall and F1", per_class, "per-class")]
    shown = min(len(wrong), max_gallery)
    caption = (f"{len(wrong)} of {len(ev.y_true)} images misclassified"
               + ("; there is nothing to show." if not len(wrong) else
                  " (number under each image: its index in the split)." if shown == len(wrong) else
                  f"; the first {shown} are shown (number under each image: its index in the split)."))
    gallery = figure_html(
        plots.plot_misclassified(ev.images, ev.y_true, ev.y_pred, ev.probs, ev.class_names, max_gallery),
        "misclassified images", caption)
    if len(wrong):
        file_column = ["file"] if ev.files else []
        gallery += table_html(misclassified_rows(ev, max_table),
                              ["index", *file_column, "true class", "predicted", "p(predicted)",
                               "p(true class)"], numeric=(3 + len(file_column), 4 + len(file_column)))
        if len(wrong) > max_table:
            gallery += f"<p>… and {len(wrong) - max_table} more.</p>"
    out.append(section("Misclassified images", gallery, "misclassified"))
    example = int(wrong[0]) if len(wrong) else 0
    bars = figure_html(plots.plot_probabilities(ev.images[example], ev.probs[example], ev.class_names,
                                                int(ev.y_true[example])),
                       f"class probabilities of image #{example}",
                       f"Image #{example} of {ev.name} and the model's class probabilities.")
    out.append(section("One prediction up close", bars, "example"))
    return out
