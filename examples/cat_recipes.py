"""Optimizer recipes on the cat set: test accuracy, mean ± std over seeds.

Every recipe trains the course's 12288-20-7-5-1 network (``mlp``, the course's
"randn / sqrt(fan_in)" initial weights from its seed) through the ``glassnet train``
command, so each row of the table is reproducible with the printed command. The plain
full-batch gradient-descent row is the course's recipe (test accuracy 0.82 with seed 1).
The plain recipe runs in float64 (to reproduce the course exactly); the mini-batch recipes
in float32 with a budget of 100 epochs of 4 batches of 64 (400 updates), unless early
stopping on a validation split carved from the training set ends them sooner. The test set
is only ever used for the final number. Runs already in --out are reused (resume).

    python examples/cat_recipes.py --out runs/cat-recipes            # about 5 CPU-minutes
    python examples/cat_recipes.py --seeds 1 --only gd               # the course's run only
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import time
from pathlib import Path

from glassnet.cli import main as glassnet_main

BASE = "--dataset cats --model mlp --quiet"
COURSE_NET = "--hidden 20,7,5"
MINI = f"{COURSE_NET} --batch-size 64 --epochs 100"
RECIPES = {
    "gd": ("Gradient descent (course)",
           f"{COURSE_NET} --batch-size full --epochs 3000 --lr 0.0075 --optimizer sgd --dtype float64"),
    "momentum": ("Momentum 0.9", f"{MINI} --lr 0.0075 --optimizer momentum"),
    "adagrad": ("AdaGrad", f"{MINI} --lr 0.01 --optimizer adagrad"),
    "rmsprop": ("RMSProp", f"{MINI} --lr 0.001 --optimizer rmsprop"),
    "adam": ("Adam", f"{MINI} --lr 0.001 --optimizer adam"),
    # reg 0.005 is the course's L2 strength (lambda 0.7 with its cost / (2m), m ~ 170
    # training images) in the CS231n convention 0.5 * reg * sum(W**2)
    "adam-he-l2-es": ("Adam + He init + L2 (reg 0.005) + early stopping",
                      f"{MINI} --lr 0.001 --optimizer adam --init he --reg 0.005 "
                      "--validation-split 0.2 --early-stopping 20"),
    "adam-he-l2-es-norm": ("Adam + He init + L2 (reg 0.005) + early stopping + --normalize",
                           f"{MINI} --lr 0.001 --optimizer adam --init he --reg 0.005 --normalize "
                           "--validation-split 0.2 --early-stopping 20"),
}


def run_recipe(key: str, seed: int, out_root: Path) -> dict:
    """Train one recipe with one seed through the CLI; returns its metrics.json."""
    out = out_root / f"{key}-s{seed}"
    if (out / "metrics.json").exists():  # already trained (the script resumes where it stopped)
        return json.loads((out / "metrics.json").read_text())
    args = ["train", *shlex.split(BASE), *shlex.split(RECIPES[key][1]), "--seed", str(seed),
            "--out", str(out), "--overwrite"]  # an interrupted recipe starts over
    if glassnet_main(args) != 0:
        raise SystemExit(f"glassnet {' '.join(args)} failed")
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--only", default=",".join(RECIPES), help="comma-separated recipe keys")
    parser.add_argument("--out", default="runs/cat-recipes")
    args = parser.parse_args()
    unknown = [key for key in args.only.split(",") if key not in RECIPES]
    if unknown:
        parser.error(f"--only: unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out_root = Path(args.out)
    rows = []
    for key in args.only.split(","):
        started = time.perf_counter()
        results = [run_recipe(key, seed, out_root) for seed in seeds]
        test = [r["test"]["accuracy"] for r in results]
        train = [r["train"]["accuracy"] for r in results]
        epochs = [r["epochs"] for r in results]
        std = statistics.stdev(test) if len(test) > 1 else 0.0
        rows.append((RECIPES[key][0], test, statistics.mean(test), std, statistics.mean(train),
                     epochs, time.perf_counter() - started, key))
        print(f"{key}: test {test} train {train} epochs {epochs}", flush=True)
    print(f"\n| recipe | test accuracy, mean ± std (seeds {args.seeds}) | per seed | train accuracy "
          "(mean) | epochs run |")
    print("|---|---|---|---|---|")
    for label, test, mean, std, train_mean, epochs, _, _ in rows:
        print(f"| {label} | {mean:.3f} ± {std:.3f} | {', '.join(f'{t:.2f}' for t in test)} | "
              f"{train_mean:.3f} | {', '.join(map(str, epochs))} |")
    print("\nCommands (add --seed S --out DIR):")
    for label, *_, key in rows:
        print(f"  {label}: glassnet train {BASE.replace(' --quiet', '')} {RECIPES[key][1]}")
    out_root.mkdir(parents=True, exist_ok=True)
    summary = {key: {"label": label, "test": test, "mean": mean, "std": std, "train_mean": tm,
                     "epochs": ep, "seconds": round(sec, 1)}
               for label, test, mean, std, tm, ep, sec, key in rows}
    (out_root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
