"""Finding hyperparameters: random search with narrowing, pruning and several workers,
with the ``glassnet search`` command (Optuna underneath: ``pip install 'glassnet[search]'``).

The script runs the commands a user would type and prints what they print: a search of
the learning rate and dropout rate of a one-hidden-layer cat MLP (SGD with momentum),
random rounds that narrow each range to the best quarter of the previous round, hopeless
trials pruned by the median rule, two worker processes sharing one study, then the best
setting trained once more on train+validation and scored on the test set.

Run:  python examples/search_tutorial.py [--trials 12] [--epochs-per-trial 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path


def glassnet(*args: str) -> str:
    """Run ``glassnet ARGS`` (this Python's), echo the command and its output, return the output."""
    print("$ glassnet " + shlex.join(args), flush=True)
    proc = subprocess.run([sys.executable, "-m", "glassnet", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100"})
    print(proc.stdout + proc.stderr, flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"glassnet {args[0]} failed with exit code {proc.returncode}")
    return proc.stdout


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs-per-trial", type=int, default=20)
    parser.add_argument("--out", type=Path, help="folder for the search's files (default: a temporary one)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="glassnet-search-"))
    out.mkdir(parents=True, exist_ok=True)
    # --8<-- [start:search]
    glassnet("search", "--dataset", "cats", "--model", "mlp", "--hidden", "50",
             "--param", "lr=log:1e-4:3e-2", "--param", "dropout=float:0:0.5",
             "--optimizer", "momentum", "--batch-size", "32", "--validation-split", "0.2",
             "--strategy", "narrow", "--rounds", "2", "--trials", str(args.trials),
             "--epochs-per-trial", str(args.epochs_per_trial), "--pruner", "median",
             "--workers", "2", "--final", "--seed", "0", "--out", str(out / "cats-search"))
    # --8<-- [end:search]
    summary = json.loads((out / "cats-search" / "search.json").read_text())
    return summary


if __name__ == "__main__":
    main()
