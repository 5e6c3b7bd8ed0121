"""Finding hyperparameters: random search with narrowing, pruning and two workers sharing
one study, with the ``glassnet search`` command (Optuna underneath:
``pip install 'glassnet[search]'``).

The script runs the commands a user would type and prints what they print. It searches
the learning rate and weight decay (log scales) and the hidden layer size (a choice) of a
one-hidden-layer MLP on the CIFAR-10 subset, Adam, scored on validation images carved from
the training split: random rounds that narrow each range to the best quarter of the
previous round, hopeless trials stopped by the median pruner, and two worker processes (two
terminals, in effect) that share the study through its journal file. Then it reports which
worker ran which trial and how many were pruned, and trains the best setting on
train+validation, scored once on the test set.

Run:  python examples/search_tutorial.py [--trials 24] [--epochs-per-trial 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

# A row of the live table: trial, round, objective, state, epochs, params.
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+\S+\s+(complete|pruned|failed)\s")


def start(args: list[str]) -> subprocess.Popen:
    """Start ``glassnet ARGS`` (this Python's) in the background, its output in a pipe."""
    return subprocess.Popen([sys.executable, "-m", "glassnet", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "100"})


def finish(proc: subprocess.Popen, head: str = "") -> str:
    """Wait for ``proc``; its whole output (``head``: what was already read of it)."""
    output = head + proc.communicate()[0]
    if proc.returncode != 0:
        print(output)
        raise SystemExit(f"{shlex.join(proc.args[2:])} failed with exit code {proc.returncode}")
    return output


def read_until(proc: subprocess.Popen, prefix: str) -> str:
    """Read ``proc``'s output up to and including the first line that starts with ``prefix``."""
    lines = []
    while not (lines and lines[-1].startswith(prefix)):
        line = proc.stdout.readline()
        if not line:  # it ended before printing that line
            finish(proc, "".join(lines))
            raise SystemExit(f"{shlex.join(proc.args[2:])} never printed {prefix!r}")
        lines.append(line)
    return "".join(lines)


def echo(args: list[str], output: str, note: str = "") -> None:
    print("$ glassnet " + shlex.join(args) + (f"    # {note}" if note else ""))
    print(output.rstrip() + "\n", flush=True)


def table_rows(output: str) -> list[int]:
    """The trial numbers in a worker's live table."""
    return [int(m.group(1)) for m in map(ROW.match, output.splitlines()) if m]


def closing_lines(output: str) -> list[str]:
    """What a worker prints once the study is finished: from ``best:`` on."""
    lines = output.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("best: ")]
    return lines[starts[0]:] if starts else []


def show_second_worker(args: list[str], output: str, first: str) -> None:
    """Worker 2's output; its closing lines are left out when they equal worker 1's."""
    closing = closing_lines(output)
    if closing and closing == closing_lines(first):
        kept = output.rstrip().splitlines()[:-len(closing)]
        output = "\n".join(kept + [f"[... then the same {len(closing)} lines as worker 1, from "
                                   "'best:' on: each worker reports the whole study]"])
    echo(args, output, "worker 2, in a second terminal")


def describe_sharing(outputs: list[str], summary: dict[str, Any]) -> None:
    """Which worker ran which trial, and how many trials of each round were pruned."""
    numbers = [table_rows(output) for output in outputs]
    for worker, mine in enumerate(numbers, start=1):
        print(f"worker {worker} ran {len(mine)} of the {len(summary['trials'])} trials"
              + (f": {', '.join(map(str, sorted(mine)))}" if mine else ""))
    together = sorted(n for mine in numbers for n in mine)
    trials = summary["trials"]
    in_study = sorted(t["number"] for t in trials)
    print(f"together: {len(together)} trials, each run once: {together == in_study}")
    # Two workers that reach for a round's last place at once both get a trial number; the
    # later one gives way (a surplus claim, in neither table nor summary): a number skipped.
    skipped = sorted(set(range(in_study[-1] + 1)) - set(in_study))
    for number in skipped:
        print(f"trial number {number}: a claim that gave way to the other worker's for a "
              "round's last place")
    pruned = Counter(t["round"] for t in trials if t["state"] == "pruned")
    per_round = Counter(t["round"] for t in trials)
    epochs = sorted(t["epochs"] for t in trials if t["state"] == "pruned" and t["epochs"])
    print(f"pruned: {sum(pruned.values())} of {len(trials)} trials ("
          + ", ".join(f"round {r}: {pruned[r]} of {per_round[r]}" for r in sorted(per_round))
          + (f"), stopped after {epochs[0]} to {epochs[-1]} of "
             f"{summary['config']['base']['epochs']} epochs" if epochs else ")") + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs-per-trial", type=int, default=8)
    parser.add_argument("--out", type=Path, help="folder for the search's files (default: a temporary one)")
    args = parser.parse_args(argv)
    run_dir = (args.out or Path(tempfile.mkdtemp(prefix="glassnet-search-"))) / "cifar-search"

    # --8<-- [start:search]
    search = ["search", "--dataset", "cifar10", "--model", "mlp",
              "--param", "lr=log:1e-5:1e-1", "--param", "weight_decay=log:1e-6:1e-1",
              "--param", "hidden=choice:32,128,256",
              "--optimizer", "adam", "--batch-size", "64", "--validation-split", "0.2",
              "--strategy", "narrow", "--rounds", "3", "--trials", str(args.trials),
              "--epochs-per-trial", str(args.epochs_per_trial), "--pruner", "median",
              "--seed", "0", "--threads", "1", "--out", str(run_dir)]
    join = ["search", "--resume", "--out", str(run_dir), "--threads", "1"]
    # --8<-- [end:search]

    # --8<-- [start:workers]
    first = start(search)
    head = read_until(first, "trial")  # the table's header: the study is stored by now
    second = start(join)               # joins it through run_dir/search.journal
    outputs = [finish(first, head), finish(second)]
    # --8<-- [end:workers]
    echo(search, outputs[0], "worker 1")
    show_second_worker(join, outputs[1], outputs[0])

    summary = json.loads((run_dir / "search.json").read_text())
    describe_sharing(outputs, summary)

    # --8<-- [start:final]
    final = shlex.split(summary["best"]["train_command"])[1:]  # train + validation, then test
    echo(final, finish(start(final)))
    # --8<-- [end:final]
    return summary


if __name__ == "__main__":
    main()
