"""The optimizer comparison of "deep learning from scratch" (chapter 6) on the cat set.

SGD, Momentum, AdaGrad and Adam train the same 5-layer ReLU network (four hidden layers,
He initialization) from the same initial weights on the same random mini-batches; the
script draws one loss-per-iteration plot with four curves and prints a table of final
losses. The defaults are short (hidden width 50, 200 iterations); the tutorial's scale is
``--width 100 --iterations 2000``.

    python examples/optimizers.py --out optimizers.png
    python examples/optimizers.py --width 100 --iterations 2000 --with-rmsprop
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from glassnet import Sequential, layers
from glassnet.data import load_cats
from glassnet.training.compare import TUTORIAL_OPTIMIZERS, compare_optimizers, smoothed


def build(image_shape: tuple[int, ...], seed: int, width: int = 50) -> Sequential:
    hidden = [layers.Dense(width, activation="relu", kernel_initializer="he_normal") for _ in range(4)]
    return Sequential([layers.Flatten(), *hidden, layers.Dense(1, kernel_initializer="he_normal")],
                      input_shape=image_shape, seed=seed, preprocessing={"scale": 1 / 255})


def plot(histories: dict, path: str, window: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, history in histories.items():
        ax.plot(history.epoch, smoothed(history["loss"], window), label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"training loss (moving average of {window})")
    ax.set_yscale("log")
    ax.set_title("Optimizers on the cat set (same network, weights and batches)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--width", type=int, default=50, help="units in each of the 4 hidden layers")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-rmsprop", action="store_true", help="add RMSProp (lr 0.001)")
    parser.add_argument("--out", default="optimizers.png", help="where to write the plot (PNG)")
    args = parser.parse_args()
    if not Path(args.out).resolve().parent.is_dir():
        parser.error(f"--out {args.out}: the folder {Path(args.out).parent} does not exist")

    train = load_cats()["train"]
    specs = dict(TUTORIAL_OPTIMIZERS)
    if args.with_rmsprop:
        specs["RMSProp"] = {"name": "rmsprop", "lr": 0.001}
    started = time.perf_counter()
    histories = compare_optimizers(lambda: build(train.image_shape, args.seed, args.width), train.x, train.y,
                                   specs, iterations=args.iterations, batch_size=args.batch_size,
                                   loss="binary_crossentropy", seed=args.seed)
    seconds = time.perf_counter() - started
    plot(histories, args.out, window=max(1, args.iterations // 30))
    last = max(1, args.iterations // 10)
    print(f"{'optimizer':<10} {'settings':<34} {'first loss':>10} {f'final (mean of last {last})':>24}")
    for label, history in histories.items():
        settings = ", ".join(f"{k}={v}" for k, v in specs[label].items())
        loss = history["loss"]
        print(f"{label:<10} {settings:<34} {loss[0]:>10.4f} {np.mean(loss[-last:]):>24.4f}")
    print(f"{len(histories)} x {args.iterations} iterations in {seconds:.1f}s; plot: {args.out}")


if __name__ == "__main__":
    main()
