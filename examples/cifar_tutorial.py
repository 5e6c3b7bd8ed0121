"""Convolutional networks on CIFAR-10: the Keras-style CNN, its training curves, the
confusion matrix, probability bars and the misclassified gallery; then the stronger
``cnn-bn`` recipe trained on the same images, and the two compared.

The shared data hold a 5,000-image subset of CIFAR-10's training set and 1,000 test
images. Both models train on the first ``--limit`` training images, of which the last 20%
are held out for validation, as Keras' ``validation_split`` does, and both are scored on
the same 1,000 test images. The reference (PyTorch, 20 epochs, the Keras CNN on the whole
subset) reaches about 0.54 test accuracy; the short default settings stop far short of
that.

Run:  python examples/cifar_tutorial.py [--epochs 2] [--limit 1000] [--strong-epochs N] [--out DIR]
      (--limit N uses the first N training images, 0 all 5,000; --strong-epochs defaults
      to --epochs)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

import glassnet as gn
from glassnet import zoo
from glassnet.data import Dataset, load_cifar10
from glassnet.data.augment import parse as parse_augment
from glassnet.metrics import classification_report
from glassnet.report.curves import plot_training_curves
from glassnet.report.figures import save_figure
from glassnet.report.plots import plot_confusion_matrix, plot_misclassified, plot_probabilities

L = gn.layers
BATCH_SIZE = 128


# --8<-- [start:model]
def keras_cnn(seed: int = 0) -> gn.Sequential:
    """conv32-pool-drop.25-conv64-pool-drop.25-dense512-drop.5-dense10: a Keras-style CNN (the
    zoo's cnn-keras; Keras' own cifar10_cnn.py example has two convolutions per block)."""
    model = gn.Sequential([
        L.Conv2D(32, 3, padding="same", activation="relu"),   # (N, 32, 32, 32)
        L.MaxPool2D(2),                                        # (N, 32, 16, 16)
        L.Dropout(0.25),
        L.Conv2D(64, 3, padding="same", activation="relu"),   # (N, 64, 16, 16)
        L.MaxPool2D(2),                                        # (N, 64, 8, 8)
        L.Dropout(0.25),
        L.Flatten(),                                           # (N, 4096)
        L.Dense(512, activation="relu"),
        L.Dropout(0.5),
        L.Dense(10),                                           # logits; the loss applies softmax
    ], input_shape=(3, 32, 32), seed=seed, preprocessing={"scale": 1 / 255})
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.Adam(lr=1e-3))
    return model
# --8<-- [end:model]


# --8<-- [start:train]
def keras_split(train_set: Dataset, limit: int | None) -> tuple[Dataset, Dataset]:
    """The first ``limit`` images (all if 0/None) as ``(train, validation)``: the last 20%
    held out, not shuffled, as Keras' ``validation_split``. Images uint8 ``(N, 3, 32, 32)``."""
    n = min(limit, len(train_set)) if limit else len(train_set)
    cut = int(n * 0.8)
    return train_set.subset(np.arange(cut)), train_set.subset(np.arange(cut, n))


def fit_timed(model: gn.Sequential, train: Dataset, validation: Dataset, epochs: int,
              **fit_options: Any) -> tuple[gn.History, float]:
    """``model.fit`` in batches of 128, validated after every epoch; returns the history and
    the seconds it took. ``fit_options`` go to ``fit`` (augmentation, learning-rate schedule)."""
    started = time.perf_counter()
    history = model.fit(train.x, train.y, epochs=epochs, batch_size=BATCH_SIZE,
                        validation_data=(validation.x, validation.y), verbose=2, **fit_options)
    seconds = time.perf_counter() - started
    print(f"{epochs} epoch(s) on {len(train)} images in {seconds:.0f} s "
          f"({epochs * len(train) / seconds:.0f} training images per second on this machine)")
    return history, seconds
# --8<-- [end:train]


# --8<-- [start:evaluate]
def evaluate(model: gn.Sequential, test: Dataset) -> tuple[dict, np.ndarray]:
    """The classification report on ``test`` and the probabilities ``(N, 10)``."""
    probs = model.predict(test.x)                       # (1000, 10) softmax probabilities
    report = classification_report(test.y, probs.argmax(axis=1), test.class_names)
    print(f"test accuracy {report['accuracy']:.3f}")
    def score(value):  # None: a class with no test image and no prediction has no score
        return "-" if value is None else f"{value:.2f}"

    for row in report["per_class"]:
        print(f"  {row['class']:<11} precision {score(row['precision'])}  recall {score(row['recall'])}  "
              f"f1 {score(row['f1'])}")
    return report, probs


def draw_plots(history: gn.History, test: Dataset, report: dict, probs: np.ndarray,
               out: Path) -> None:
    """Training curves, confusion matrix, the first test image's probabilities and the
    first 15 misclassified test images, as PNG files in ``out``."""
    save_figure(plot_training_curves(history), out / "curves.png")
    matrix = np.asarray(report["confusion_matrix"])
    save_figure(plot_confusion_matrix(matrix, test.class_names), out / "confusion.png")
    save_figure(plot_probabilities(test.x[0], probs[0], test.class_names, int(test.y[0])),
                out / "probabilities.png")
    save_figure(plot_misclassified(test.x, test.y, probs.argmax(axis=1), probs, test.class_names,
                                   max_images=15), out / "misclassified.png")
# --8<-- [end:evaluate]


# --8<-- [start:stronger]
def stronger_cnn(image_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> gn.Sequential:
    """The zoo's cnn-bn: six 3x3 conv-BN-ReLU layers, global average pooling, dropout;
    compiled with SGD, Nesterov momentum 0.9 and weight decay 5e-4."""
    model = zoo.build("cnn-bn", image_shape, num_classes, seed=seed)
    model.set_preprocessing(scale=1 / 255)
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.SGD(
        lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
    return model


def train_stronger(model: gn.Sequential, train: Dataset, validation: Dataset,
                   epochs: int) -> tuple[gn.History, float]:
    """The recipe: random flips and 32x32 crops of the 4-pixel padded images, and a
    one-cycle learning rate that peaks at 0.1."""
    return fit_timed(model, train, validation, epochs, augment=parse_augment("flip,crop"),
                     lr_schedule=gn.schedules.OneCycle(epochs))
# --8<-- [end:stronger]


# --8<-- [start:compare]
def compare(rows: list[dict[str, Any]]) -> None:
    """One line per trained model: parameters, epochs, time and accuracies."""
    print(f"{'model':<10} {'parameters':>10} {'epochs':>6} {'seconds':>7} {'images/s':>8} "
          f"{'val acc':>7} {'test acc':>8}")
    for r in rows:
        print(f"{r['model']:<10} {r['parameters']:>10,} {r['epochs']:>6} {r['seconds']:>7.0f} "
              f"{r['images_per_second']:>8.0f} {r['val_accuracy']:>7.3f} {r['test_accuracy']:>8.3f}")


def result_row(name: str, model: gn.Sequential, history: gn.History, seconds: float,
               train: Dataset, report: dict) -> dict[str, Any]:
    """The numbers :func:`compare` prints for one trained model."""
    epochs = len(history["loss"])
    return {"model": name, "parameters": sum(model.count_params()), "epochs": epochs,
            "seconds": seconds, "images_per_second": epochs * len(train) / seconds,
            "val_accuracy": history["val_accuracy"][-1], "test_accuracy": report["accuracy"]}
# --8<-- [end:compare]


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the Keras CNN")
    parser.add_argument("--limit", type=int, default=1000,
                        help="use the first N training images only (0: all 5,000)")
    parser.add_argument("--strong-epochs", type=int, default=None,
                        help="epochs of the stronger cnn-bn model (default: --epochs)")
    parser.add_argument("--out", type=Path, help="folder for the plots and the models")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    data = load_cifar10()
    train, validation = keras_split(data["train"], args.limit)
    test = data["test"]
    print(f"{len(train)} training, {len(validation)} validation and {len(test)} test images")

    print("\n== the Keras-style CNN")
    keras = keras_cnn()
    keras.class_names = test.class_names
    keras.summary()
    history, seconds = fit_timed(keras, train, validation, args.epochs)
    report, probs = evaluate(keras, test)
    rows = [result_row("cnn-keras", keras, history, seconds, train, report)]
    if args.out:
        draw_plots(history, test, report, probs, args.out)
        keras.save(str(args.out / "cnn.glassnet"))

    print("\n== the stronger model: cnn-bn")
    strong = stronger_cnn(train.image_shape, train.num_classes)
    strong.class_names = test.class_names
    strong.summary()
    history, seconds = train_stronger(strong, train, validation, args.strong_epochs or args.epochs)
    report, _ = evaluate(strong, test)
    rows.append(result_row("cnn-bn", strong, history, seconds, train, report))
    if args.out:
        save_figure(plot_training_curves(history), args.out / "curves-cnn-bn.png")
        strong.save(str(args.out / "cnn-bn.glassnet"))

    print(f"\n== the two models on the same {len(train)} training images")
    compare(rows)
    return rows


if __name__ == "__main__":
    main()
