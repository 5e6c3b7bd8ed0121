"""Better training: initializers, optimizers, batch norm, dropout, weight decay, a
validation split and learning-rate decay, each tried on the cat set.

Every experiment trains the course's 12288-20-7-5-1 network shape (or a variant) for a
few hundred epochs in float32 and plots what changed. The numbers vary with the seed;
the lessons do not.

Run:  python examples/training_tutorial.py [--epochs 240] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import glassnet as gn
from glassnet.data import load_cats
from glassnet.report.curves import plot_optimizer_comparison, plot_training_curves
from glassnet.report.figures import save_figure
from glassnet.training import EarlyStopping

L = gn.layers


# --8<-- [start:mlp]
def mlp(init: str = "he_normal", batchnorm: bool = False, dropout: float = 0.0,
        seed: int = 1) -> gn.Sequential:
    """Flatten → [Dense(h) → (BatchNorm) → ReLU → (Dropout)] for h in 20, 7, 5 → Dense(1)."""
    layers: list[L.Layer] = [L.Flatten()]
    for units in (20, 7, 5):
        if batchnorm:  # the bias is redundant before a batch norm (its beta shifts instead)
            layers += [L.Dense(units, use_bias=False, kernel_initializer=init), L.BatchNorm(), L.ReLU()]
        else:
            layers.append(L.Dense(units, activation="relu", kernel_initializer=init))
        if dropout:
            layers.append(L.Dropout(dropout))
    layers.append(L.Dense(1, kernel_initializer=init))
    return gn.Sequential(layers, input_shape=(3, 64, 64), seed=seed,
                         preprocessing={"scale": 1 / 255}, class_names=["non-cat", "cat"])
# --8<-- [end:mlp]


# --8<-- [start:initializers]
def compare_initializers(data, epochs: int, out: Path | None) -> dict[str, float]:
    """Same network, same data, same SGD: only the initial weights differ."""
    histories = {}
    for init in ("normal:0.01", "glorot_uniform", "he_normal"):
        model = mlp(init)
        model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.0075))
        histories[init] = model.fit(data["train"].x, data["train"].y, epochs=epochs,
                                    batch_size=None, verbose=0)
        test = model.evaluate(data["test"].x, data["test"].y)
        print(f"init {init:<15} final loss {histories[init]['loss'][-1]:.4f}  "
              f"test accuracy {test['accuracy']:.2f}")
    if out:
        save_figure(plot_optimizer_comparison(histories, compared="initializer"), out / "initializers.png")
    return {k: h["loss"][-1] for k, h in histories.items()}
# --8<-- [end:initializers]


# --8<-- [start:optimizers]
# Factories, not instances: an optimizer holds its moments, so each model gets a new one.
OPTIMIZERS = {
    "sgd": lambda: gn.optimizers.SGD(lr=0.0075),
    "momentum": lambda: gn.optimizers.SGD(lr=0.0075, momentum=0.9),
    "rmsprop": lambda: gn.optimizers.RMSProp(lr=0.0005),
    "adam": lambda: gn.optimizers.Adam(lr=0.0005),
}


def compare_optimizers(data, epochs: int, out: Path | None) -> dict[str, float]:
    """Mini-batches of 64, the same He-initialized network for every optimizer."""
    histories = {}
    for name, new_optimizer in OPTIMIZERS.items():
        model = mlp("he_normal")
        model.compile(loss="binary_crossentropy", optimizer=new_optimizer())
        histories[name] = model.fit(data["train"].x, data["train"].y, epochs=epochs,
                                    batch_size=64, verbose=0)
        test = model.evaluate(data["test"].x, data["test"].y)
        print(f"{name:<9} final loss {histories[name]['loss'][-1]:.4f}  "
              f"train accuracy {histories[name]['accuracy'][-1]:.2f}  test accuracy {test['accuracy']:.2f}")
    if out:
        save_figure(plot_optimizer_comparison(histories, log_loss=True), out / "optimizers.png")
    return {k: h["loss"][-1] for k, h in histories.items()}
# --8<-- [end:optimizers]


# --8<-- [start:regularized]
def regularized(data, epochs: int, out: Path | None) -> dict[str, float]:
    """Batch norm, dropout, L2 weight decay, a validation split, step decay, early stopping."""
    model = mlp("he_normal", batchnorm=True, dropout=0.2)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(lr=0.001), reg=0.005)
    model.summary()
    stop = EarlyStopping(monitor="val_loss", patience=max(epochs // 5, 3), restore_best_weights=True)
    history = model.fit(data["train"].x, data["train"].y, epochs=epochs, batch_size=64,
                        validation_split=0.2,  # stratified, seeded by the model's seed
                        lr_schedule=gn.schedules.StepDecay(every=max(epochs // 4, 1), factor=0.5),
                        callbacks=[stop], verbose=0)
    test = model.evaluate(data["test"].x, data["test"].y)
    stopped = "ran to the end" if stop.stopped_epoch is None else f"stopped at epoch {stop.stopped_epoch + 1}"
    print(f"{len(history)} epochs ({stopped}); best val_loss {stop.best:.4f} at epoch {stop.best_epoch + 1}")
    print(f"test accuracy {test['accuracy']:.2f} (weights of the best epoch)")
    if out:
        save_figure(plot_training_curves(history), out / "regularized.png")
    return {"test_accuracy": test["accuracy"], "epochs": len(history)}
# --8<-- [end:regularized]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=240,
                        help="epochs of the initializer runs (a third of it for the others)")
    parser.add_argument("--out", type=Path, help="folder for the plots")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    data = load_cats()
    print("== initializers (full-batch gradient descent)")
    result = {"initializers": compare_initializers(data, args.epochs, args.out)}
    print("\n== optimizers (mini-batches of 64)")
    result["optimizers"] = compare_optimizers(data, max(args.epochs // 3, 1), args.out)
    print("\n== batch norm, dropout, weight decay, validation split, learning-rate decay")
    result["regularized"] = regularized(data, max(args.epochs // 3, 1), args.out)
    return result


if __name__ == "__main__":
    main()
