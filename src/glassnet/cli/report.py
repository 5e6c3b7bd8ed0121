"""``glassnet report``: rebuild ``report.html`` of a training run."""

from __future__ import annotations

import argparse

from .arguments import Subcommands, add_no_cache_option, path_text
from .runtime import add_runtime_options


def add_parser(sub: Subcommands) -> None:
    """Add the ``report`` command's parser to ``sub``."""
    p = sub.add_parser(
        "report", help="rebuild runs/<name>/report.html",
        description="Rebuild the self-contained HTML report of a training run from its files "
                    "(run.json, history.json, metrics.json, model.glassnet) and its data set.")
    p.add_argument("run_dir", type=path_text, metavar="RUN_DIR",
                   help="a run directory written by 'glassnet train'")
    p.add_argument("--dataset", type=path_text, default=None, metavar="FOLDER",
                   help="where the run's image folder is now, if it was moved (its images must "
                        "be the run's)")
    add_no_cache_option(p)
    # it runs the model over the evaluated split: on a shared machine, on fewer cores
    add_runtime_options(p, device=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``glassnet report``: write the run's ``report.html`` again; returns the exit code."""
    from ..report.run_report import write_run_report  # Matplotlib: only for this command

    path = write_run_report(args.run_dir, dataset=args.dataset)
    print(f"report: {path}")
    return 0
