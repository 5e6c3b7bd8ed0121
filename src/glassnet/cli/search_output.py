"""An opened search run in this process, and what it shows: the live table of trials (a
row as each ends), then the best trial, the rounds, the files and the ``glassnet train``
command, and with ``--final`` the best configuration trained and tested.

:mod:`glassnet.cli.search` opens the search and hands it to :func:`run_search`; the worker
processes it starts are :mod:`glassnet.cli.search_workers`'.
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import warnings
from typing import TYPE_CHECKING

from .._text import count, score_text
from ..errors import GlassnetWarning, SearchError, user_stacklevel
from ..report.text import no_trial_succeeded
from ..run_folders import SEARCH_FINAL
from ..search_config import SCORE_LABELS
from ..search_space import NARROW_MIN
from .output import fmt_metrics
from .runtime import every_core_again
from .search_workers import search_runtime_flags, spawn_workers

if TYPE_CHECKING:  # for annotations: glassnet.search is imported when a search runs
    from ..search import Search


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# The live table's column for each objective (and its width).
COLUMNS = {"val_balanced_accuracy": "val_bal_acc", "val_accuracy": "val_acc", "val_loss": "val_loss"}


def _print_row(record) -> None:
    params = " ".join(f"{k}={_format(v)}" for k, v in record.params.items())
    value = "-" if record.value is None else score_text(record.value)
    best = "-" if record.best_epoch is None else str(record.best_epoch)
    print(f"{record.number:>5}  {record.round + 1:>5}  {value:>11}  {record.state:<8}  "
          f"{record.epochs:>6}  {best:>7}  {params}" + (f"  ({record.note})" if record.note else ""),
          flush=True)


def _describe(cfg) -> str:
    """The search's settings in one line: budget, validation, sampler, pruner, objective, space."""
    smooth = f" (curves smoothed over {cfg.smooth} epochs)" if cfg.smooth > 1 else ""
    rounds = f" ({cfg.rounds} rounds)" if cfg.strategy == "narrow" else ""
    space = ", ".join(f"{p.name}={p.describe()}" for p in cfg.params)
    return (f"{count(cfg.trials, 'trial')}, {count(cfg.base.epochs, 'epoch')} each, scored on "
            f"{cfg.describe_validation()}{smooth}, sampler {cfg.sampler}, strategy {cfg.strategy}"
            f"{rounds}, pruner {cfg.pruner}, objective {cfg.objective} ({cfg.direction}); space: {space}")


def run_search(search: Search, args: argparse.Namespace) -> int:
    """Run the opened ``search``'s trials (with ``--workers`` in that many processes), then
    print its results (not in a worker process) and with ``--final`` train the best."""
    cfg = search.config
    if not args.quiet_summary:
        print(f"search {search.study.study_name!r} in {search.storage_label}: {_describe(cfg)}")
        print(f"{'trial':>5}  {'round':>5}  {COLUMNS[cfg.objective]:>11}  {'state':<8}  {'epochs':>6}  "
              f"{'best_ep':>7}  params", flush=True)
    workers = spawn_workers(search, args) if args.workers > 1 else []
    ran = 0
    try:
        ran = search.run(on_trial=_print_row,
                         on_wait=lambda text: print(f"glassnet search: {text}", file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reaches every worker; a SIGINT sent to this process alone
        # (kill -INT) must stop them too, or this would wait for the rest of the budget.
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                w.send_signal(signal.SIGINT)
        raise
    finally:
        codes = [w.wait() for w in workers]
    failed = [c for c in codes if c]
    if not ran and not workers and not args.quiet_summary:  # under the table's header: say why empty
        print(f"(no trial left to run: the budget of {count(cfg.trials, 'trial')} is used up; "
              "--resume with a bigger --trials runs more)")
    code = 0 if args.quiet_summary else _report(search, args, table=bool(ran))  # the study is whole: failed
    if failed:  # workers' trials were marked failed, and their settings trained again
        print(f"glassnet search: error: {len(failed)} worker process(es) failed (exit code(s) "
              f"{', '.join(map(str, failed))}); trials they left unfinished were marked failed and "
              "their settings trained again", file=sys.stderr)
        return 1
    return code


def _print_files(search, summary: dict) -> None:
    """Where the search's summary, plot and report are."""
    if "plot" in summary:
        print(f"scatter plot: {summary['plot']}; report: {search.run_dir / 'search_report.html'}")
    print(f"summary: {search.run_dir / 'search.json'}")


def _report(search, args: argparse.Namespace, table: bool = True) -> int:
    """Print the best trial, the rounds, the files and the train command (``table``: this
    process printed trial rows above); with ``--final`` train and test the best."""
    summary = search.summary(plot=not args.no_plot)
    best = summary["best"]
    if best is None:
        _print_files(search, summary)
        raise SearchError(f"{no_trial_succeeded(summary['trials'])}: there is no best configuration "
                          f"to print or train{' (--final skipped)' if args.final else ''}; each "
                          f"trial's reason is in {'the table above and in ' if table else ''}"
                          f"{search.run_dir / 'search.json'}")
    scores = ", ".join(f"{name} {score_text(best[key])}" for key, name in SCORE_LABELS.items()
                       if key != summary["objective"] and best.get(key) is not None)
    at = f" at epoch {best['best_epoch']} of {best['epochs']}" if best.get("best_epoch") else ""
    print(f"best: trial {best['number']}, {summary['objective_label']} {score_text(best['value'])} "
          f"(validation {scores}){at}, " + ", ".join(f"{k}={_format(v)}" for k, v in best["params"].items()))
    if search.config.strategy == "narrow":
        for r in summary["rounds"]:
            print(f"round {r['round']}: {r['trials']} trials, ranges "
                  + ", ".join(f"{k}={v}" for k, v in r["ranges"].items())
                  + (f", best {score_text(r['best_value'])}" if r["best_value"] is not None else "")
                  + (f" (not narrowed: fewer than {NARROW_MIN} completed trials)"
                     if r["narrowed"] is False else ""))
    _print_files(search, summary)
    command = " ".join([best["train_command"], *map(shlex.quote, search_runtime_flags(args))])
    print(f"train it on train+validation: {command}")
    outdated = summary.get("outdated_final")
    if outdated and not args.final:
        warnings.warn(f"{search.run_dir / SEARCH_FINAL} holds the final model of trial {outdated['trial']}, "
                      f"which is no longer the best: add --final (with --resume) to train trial "
                      f"{best['number']}'s there", GlassnetWarning, stacklevel=user_stacklevel())
    if not args.final:
        return 0
    with every_core_again(args):  # as the printed command trains, with the workers gone
        result = search.train_final()
    m = result.metrics
    print(f"final: trained on {count(m['epochs'], 'epoch')}; train: {fmt_metrics(m['train'])}"
          + (f"; test: {fmt_metrics(m['test'])}" if "test" in m else " (no test split)"))
    print(f"final run files: {result.out_dir}/")
    return 1 if result.error is not None else 0
