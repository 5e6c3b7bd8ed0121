"""The hyperparameter search's plot and page: the objective against each parameter.

Drawn on matplotlib's Agg canvas (no display, no pyplot state) and written atomically.
The x axis spans the whole searched range (log scale for log parameters, decades
labelled); choices are shown at evenly spaced positions
labelled with their values. Completed trials are filled dots coloured by narrowing
round; pruned trials are hollow, at the score of their best epoch. The objective
(``value`` of each trial row) is a validation score such as balanced accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .._text import score_text
from ..search_config import SCORE_LABELS
from ..search_space import LOG_BOUNDS, NARROW_MIN
from .figures import new_figure, save_figure
from .text import no_trial_succeeded

SCORE_NAMES = tuple((key, f"val {label}") for key, label in SCORE_LABELS.items())
ROUND_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


PANELS_PER_ROW = 2  # 2 × 4.2 in at the report's 100 dpi fit its 1100-pixel page unshrunk


def _axis_values(spec: Any, values: list[Any]) -> list[float]:
    if spec.kind == "choice":
        return [float(list(spec.choices).index(v)) if v in spec.choices else float("nan")
                for v in values]
    return [float(v) for v in values]


def _positions(spec: Any, group: Sequence[dict[str, Any]]) -> list[float]:
    """x of each trial; a choice's trials spread a little around it (by trial number), so
    that trials with the same choice and score do not hide each other."""
    xs = _axis_values(spec, [r["params"][spec.name] for r in group])
    if spec.kind != "choice":
        return xs
    return [x + 0.3 * ((r["number"] % 7) / 6 - 0.5) for x, r in zip(xs, group, strict=True)]


def _draw_param(ax, spec: Any, rows: Sequence[dict[str, Any]], label: str,
                best: int | None = None) -> None:
    for state, filled in (("complete", True), ("pruned", False)):
        chosen = [r for r in rows if r["state"] == state and spec.name in r["params"]
                  and r["value"] is not None]
        for round_number in sorted({r.get("round") or 1 for r in chosen}):  # rounds count from 1
            group = [r for r in chosen if (r.get("round") or 1) == round_number]
            color = ROUND_COLORS[(round_number - 1) % len(ROUND_COLORS)]
            ax.scatter(_positions(spec, group), [r["value"] for r in group], s=28, alpha=0.75,
                       facecolors=color if filled else "none", edgecolors=color,
                       label=f"{state}, round {round_number}")
    top = [r for r in rows if r["number"] == best and spec.name in r["params"] and r["value"] is not None]
    if top:
        ax.scatter(_positions(spec, top), [top[0]["value"]], s=160, marker="*", color="black",
                   zorder=3, label=f"best: trial {best}")
    if spec.kind == "log":
        ax.set_xscale("log")
        # 3% of the range's width in log space on each side, within the widest log range
        # ((high / low) ** 0.03 overflowed for lr=log:1e-300:1e300: axis limits 0 and inf)
        pad = math.exp(0.03 * (math.log(spec.high) - math.log(spec.low)))
        low = max(spec.low / pad, LOG_BOUNDS[0])
        high = min(spec.high * pad, LOG_BOUNDS[1])
        ax.set_xlim(low, high)  # the whole searched range
        ax.xaxis.set_minor_formatter(NullFormatter())  # decade labels only, never overlapping
        if math.floor(math.log10(high)) < math.ceil(math.log10(low)):
            # no power of ten in range, so no decade label: a few round values instead
            ax.xaxis.set_major_locator(MaxNLocator(4))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3g}"))
    elif spec.kind in ("float", "int"):
        pad = 0.03 * (spec.high - spec.low)
        ax.set_xlim(spec.low - pad, spec.high + pad)
    if spec.kind == "choice":
        ax.set_xticks(range(len(spec.choices)), [str(c) for c in spec.choices])
    ax.set_xlabel(f"{spec.name} ({spec.kind})")
    ax.set_ylabel(label)
    ax.grid(True, alpha=0.3)


def search_scatter_figure(rows: Sequence[dict[str, Any]], specs: Sequence[Any],
                          label: str = "validation accuracy", best: int | None = None) -> Figure:
    """One panel per parameter. ``rows``: dicts with ``number``, ``params``, ``value`` (the
    objective, named ``label`` on the y axis), ``state``, ``round``; ``specs``: objects with
    ``name``, ``kind`` (log/float/int/choice), ``choices``; ``best``: the number of the best
    trial, drawn as a black star."""
    # at most PANELS_PER_ROW panels side by side: a wider figure is shrunk to the report's
    # width, and its axis labels with it
    columns = min(len(specs), PANELS_PER_ROW)
    lines = -(-len(specs) // columns)
    fig = new_figure(4.2 * columns, 3.6 * lines)
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    for ax in axes[len(specs):]:
        ax.set_visible(False)
    for ax, spec in zip(axes, specs, strict=False):
        _draw_param(ax, spec, rows, label, best)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize="small")
    drawn = sum(1 for r in rows if r["state"] in ("complete", "pruned") and r["value"] is not None)
    # the trials it draws: failed ones (and pruned ones without a score) have no point
    others = f" ({len(rows) - drawn} failed or unscored, not drawn)" if drawn < len(rows) else ""
    fig.suptitle(f"hyperparameter search: {drawn} of {len(rows)} trials{others}")
    return fig


def plot_search_scatter(rows: Sequence[dict[str, Any]], specs: Sequence[Any], path: str | Path,
                        label: str = "validation accuracy", best: int | None = None) -> Path:
    """Draw :func:`search_scatter_figure` and write it as a PNG file at ``path`` (atomically)."""
    save_figure(search_scatter_figure(rows, specs, label, best), path)
    return Path(path)



def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _number(value: float | None) -> str:
    return "-" if value is None else score_text(value)


def _best_html(summary: dict[str, Any]) -> str:
    """The best trial's scores, parameters and train command; or why there is none."""
    from . import html

    best, label = summary["best"], summary["objective_label"]
    if best is None:
        return f"<p>{html.esc(no_trial_succeeded(summary['trials']))}; the trials below say why.</p>"
    scores = [(f"{label} (the objective)", _number(best["value"]))] + [
        (name, _number(best[key])) for key, name in SCORE_NAMES if key != summary["objective"]]
    epoch = "-" if best.get("best_epoch") is None else f"{best['best_epoch']} of {best.get('epochs')}"
    return html.key_value_table([
        ("trial", best["number"]), ("validated on", summary.get("validation", "-")), *scores,
        ("best epoch", epoch), ("parameters", _params_text(best["params"])),
        ("train it", best["train_command"])])


def _narrowed_text(narrowed: bool | None) -> str:
    """Whether a round's results narrowed the next round's ranges (``search.json``'s
    ``narrowed``: None for the last round, and absent in searches from before it was kept)."""
    if narrowed is None:
        return "-"
    return "yes" if narrowed else f"no: fewer than {NARROW_MIN} completed trials"


def search_report_html(summary: dict[str, Any], specs: Sequence[Any]) -> str:
    """A self-contained HTML page of a search (``summary`` as ``search.json`` holds it):
    the best trial, the final model, the rounds, the scatter plot and every trial."""
    from . import html

    label = summary["objective_label"]
    sections = [html.section("Best trial", _best_html(summary), "best")]
    if "final" in summary:
        splits = {k: v for k, v in summary["final"].items() if isinstance(v, dict)}
        sections.append(html.section("Final model: trained on train + validation, tested once",
                                     html.metrics_table_html(splits), "final"))
    elif "outdated_final" in summary:  # later trials found a better setting since
        best, old = (summary.get("best") or {}).get("number"), summary["outdated_final"].get("trial")
        sections.append(html.section(
            "Final model: outdated",
            f"<p>final/ holds the final model of trial {html.esc(old)}, which is no longer the best: "
            f"<code>glassnet search --resume --final</code> trains trial {html.esc(best)}'s there.</p>",
            "warning"))
    rounds = [(r["round"], r["trials"], ", ".join(f"{k}={v}" for k, v in r["ranges"].items()),
               _number(r["best_value"]), _narrowed_text(r.get("narrowed"))) for r in summary["rounds"]]
    sections.append(html.section("Rounds", html.table_html(
        rounds, ["round", "trials", "ranges", f"best {label}", "narrowed the next"],
        numeric=(0, 1, 3)), "rounds"))
    title = f"{label} against each parameter"
    sections.append(html.section(title[0].upper() + title[1:], html.figure_html(
        search_scatter_figure(summary["trials"], specs, label,
                              (summary.get("best") or {}).get("number")), title,
        "filled: completed trials; hollow: pruned (the score of their best epoch); black star: the "
        "best trial; log axes for log parameters"), "scatter"))
    trials = [(t["number"], "-" if t["round"] is None else t["round"], t["state"],
               *(_number(t[key]) for key, _ in SCORE_NAMES), t["epochs"] or "-",
               t.get("best_epoch") or "-", _params_text(t["params"]), t.get("error") or "")
              for t in summary["trials"]]
    columns = ["trial", "round", "state", *(name for _, name in SCORE_NAMES), "epochs", "best epoch",
               "params", "why it failed"]
    sections.append(html.section("Trials", html.table_html(trials, columns, numeric=(0, 1, 3, 4, 5, 6, 7)),
                                 "trials"))
    return html.page(f"Search {summary['study']}", f"{len(summary['trials'])} trials in {summary['storage']}",
                     sections, html.footer())
