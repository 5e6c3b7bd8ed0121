"""Convolutional networks on CIFAR-10: the Keras-style CNN, its training curves, the
confusion matrix, probability bars and the misclassified gallery.

The shared data hold a 5,000-image subset of CIFAR-10's training set and 1,000 test
images; the last 20% of the training images are held out for validation, as Keras'
``validation_split`` does. The reference (PyTorch, 20 epochs, the same subset) reaches
about 0.54 test accuracy; the tutorial's default, 2 epochs on the first 1,000 images,
stops far short of that.

Run:  python examples/cifar_tutorial.py [--epochs 2] [--limit 1000] [--out DIR]
      (--limit N uses the first N training images; 0 uses all 5,000)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet import zoo
from glassnet.data import Dataset, load_cifar10
from glassnet.data.augment import parse as parse_augment
from glassnet.metrics import classification_report
from glassnet.report.plots import (
    plot_confusion_matrix,
    plot_misclassified,
    plot_probabilities,
    plot_training_curves,
    save_figure,
)

L = gn.layers


# --8<-- [start:model]
def keras_cnn(seed: int = 0) -> gn.Sequential:
    """conv32-pool-drop.25-conv64-pool-drop.25-dense512-drop.5-dense10, as the Keras example."""
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
def train(epochs: int, limit: int | None) -> tuple[gn.Sequential, gn.History, Dataset, float]:
    data = load_cifar10()
    train_set, test = data["train"], data["test"]
    n = min(limit, len(train_set)) if limit else len(train_set)
    cut = int(n * 0.8)  # Keras' validation_split: the last 20%, not shuffled
    x_train, y_train = train_set.x[:cut], train_set.y[:cut]
    x_val, y_val = train_set.x[cut:n], train_set.y[cut:n]
    model = keras_cnn()
    model.class_names = train_set.class_names
    model.summary()
    started = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=128,
                        validation_data=(x_val, y_val), verbose=2)
    seconds = time.perf_counter() - started
    print(f"{epochs} epochs on {cut} images in {seconds:.0f} s "
          f"({epochs * cut / seconds:.0f} training images per second on this machine)")
    return model, history, test, seconds
# --8<-- [end:train]


# --8<-- [start:evaluate]
def evaluate(model: gn.Sequential, history, test, out: Path | None) -> dict:
    probs = model.predict(test.x)                       # (1000, 10) softmax probabilities
    predicted = probs.argmax(axis=1)
    report = classification_report(test.y, predicted, test.class_names)
    print(f"test accuracy {report['accuracy']:.3f}")
    for row in report["per_class"]:
        print(f"  {row['class']:<11} precision {row['precision']:.2f}  recall {row['recall']:.2f}  "
              f"f1 {row['f1']:.2f}")
    if out:
        save_figure(plot_training_curves(history), out / "curves.png")
        matrix = np.asarray(report["confusion_matrix"])
        save_figure(plot_confusion_matrix(matrix, test.class_names), out / "confusion.png")
        save_figure(plot_probabilities(test.x[0], probs[0], test.class_names, int(test.y[0])),
                    out / "probabilities.png")
        save_figure(plot_misclassified(test.x, test.y, predicted, probs, test.class_names,
                                       max_images=15), out / "misclassified.png")
    return report
# --8<-- [end:evaluate]


# --8<-- [start:stronger]
def stronger_model(train_set, epochs: int, limit: int | None) -> float | None:
    """The zoo's cnn-bn: six 3x3 conv-BN-ReLU layers, global average pooling, dropout; trained
    with flips and crops, SGD with Nesterov momentum, weight decay and a one-cycle schedule."""
    model = zoo.build("cnn-bn", train_set.image_shape, train_set.num_classes, seed=0)
    model.set_preprocessing(scale=1 / 255)
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.SGD(
        lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
    model.summary()
    if epochs <= 0:
        return None
    n = min(limit, len(train_set)) if limit else len(train_set)
    history = model.fit(train_set.x[:n], train_set.y[:n], epochs=epochs, batch_size=128,
                        augment=parse_augment("flip,crop"), validation_split=0.2,
                        lr_schedule=gn.schedules.OneCycle(epochs), verbose=2)
    return history["val_accuracy"][-1]
# --8<-- [end:stronger]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=1000,
                        help="use the first N training images only (0: all 5,000)")
    parser.add_argument("--out", type=Path, help="folder for the plots and the model")
    parser.add_argument("--strong-epochs", type=int, default=0,
                        help="also train the stronger cnn-bn model for this many epochs")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    model, history, test, seconds = train(args.epochs, args.limit)
    report = evaluate(model, history, test, args.out)
    if args.out:
        model.save(str(args.out / "cnn.glassnet"))
    print("\n== the stronger model")
    strong = stronger_model(load_cifar10()["train"], args.strong_epochs, args.limit)
    return {"test_accuracy": report["accuracy"], "seconds": seconds, "strong_val_accuracy": strong}


if __name__ == "__main__":
    main()
