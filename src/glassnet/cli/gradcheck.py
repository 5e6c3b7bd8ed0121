"""``glassnet gradcheck``: every layer and loss against finite differences, in float64."""

from __future__ import annotations

import argparse

from ..gradcheck import run_standard_checks
from ..report.text import table
from .arguments import Subcommands
from .output import print_json
from .runtime import add_runtime_options

THRESHOLD = 1e-6


def add_parser(sub: Subcommands) -> None:
    """Add the ``gradcheck`` command's parser to ``sub``."""
    p = sub.add_parser(
        "gradcheck", help="check every layer's backward pass numerically",
        description="Compare every layer's and loss's analytic gradients with centered finite "
                    f"differences in float64. Exits with 1 if any relative error exceeds "
                    f"{THRESHOLD:g}.")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_runtime_options(p, split=None)  # --device gpu checks the CuPy path
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``glassnet gradcheck``: print every standard check's largest relative error; returns 1
    when one exceeds :data:`THRESHOLD`, else 0."""
    rows = run_standard_checks()
    failed = [r for r in rows if not r[2] < THRESHOLD]
    if args.json:
        print_json({"threshold": THRESHOLD, "passed": not failed,
                    "checks": [{"case": c, "array": a, "max_rel_error": e} for c, a, e in rows]})
    else:
        print(table([[c, a, f"{e:.2e}", "ok" if e < THRESHOLD else "FAIL"] for c, a, e in rows],
                    ["layer / loss", "gradient", "max rel. error", ""], "llrl"))
        print(f"{len(rows) - len(failed)}/{len(rows)} gradients within {THRESHOLD:g}")
    return 1 if failed else 0
