"""The hyperparameter search's plot: validation accuracy against each searched parameter.

Drawn on matplotlib's Agg canvas (no display, no pyplot state) and written atomically.
Log-scale parameters get a log x axis; choices are shown at evenly spaced positions
labelled with their values. Completed trials are filled dots coloured by narrowing
round; pruned trials are hollow, at the last validation accuracy they reported.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._files import atomic_write

ROUND_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def _axis_values(spec: Any, values: list[Any]) -> list[float]:
    if spec.kind == "choice":
        return [float(list(spec.choices).index(v)) if v in spec.choices else float("nan")
                for v in values]
    return [float(v) for v in values]


def _draw_param(ax, spec: Any, rows: Sequence[dict[str, Any]]) -> None:
    for state, filled in (("complete", True), ("pruned", False)):
        chosen = [r for r in rows if r["state"] == state and spec.name in r["params"]
                  and r["val_accuracy"] is not None]
        for round_index in sorted({r.get("round") or 0 for r in chosen}):
            group = [r for r in chosen if (r.get("round") or 0) == round_index]
            color = ROUND_COLORS[round_index % len(ROUND_COLORS)]
            ax.scatter(_axis_values(spec, [r["params"][spec.name] for r in group]),
                       [r["val_accuracy"] for r in group], s=28,
                       facecolors=color if filled else "none", edgecolors=color,
                       label=f"{state}, round {round_index + 1}")
    if spec.kind == "log":
        ax.set_xscale("log")
    if spec.kind == "choice":
        ax.set_xticks(range(len(spec.choices)), [str(c) for c in spec.choices])
    ax.set_xlabel(f"{spec.name} ({spec.kind})")
    ax.set_ylabel("validation accuracy")
    ax.grid(True, alpha=0.3)


def search_scatter_figure(rows: Sequence[dict[str, Any]], specs: Sequence[Any]) -> Figure:
    """One panel per parameter. ``rows``: dicts with ``params``, ``val_accuracy``, ``state``,
    ``round``; ``specs``: objects with ``name``, ``kind`` (log/float/int/choice), ``choices``."""
    fig = Figure(figsize=(4.2 * len(specs), 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(specs), squeeze=False)[0]
    for ax, spec in zip(axes, specs, strict=True):
        _draw_param(ax, spec, rows)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize="small")
    fig.suptitle(f"hyperparameter search: {len(rows)} trials")
    return fig


def plot_search_scatter(rows: Sequence[dict[str, Any]], specs: Sequence[Any], path: str | Path) -> Path:
    """Draw :func:`search_scatter_figure` and write it as a PNG file at ``path`` (atomically)."""
    buffer = io.BytesIO()
    search_scatter_figure(rows, specs).savefig(buffer, format="png")
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return Path(path)
