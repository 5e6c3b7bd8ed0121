"""Your first deep network: the course's cat-vs-non-cat L-layer net, in glassnet.

Reproduces the course's 4-layer network 12288-20-7-5-1 (ReLU, sigmoid output), trained
with plain full-batch gradient descent, learning rate 0.0075, float64, weights
``randn / sqrt(fan_in)`` drawn from ``RandomState(1)`` in the course's order. Expected:
cost 0.772 at iteration 0, train accuracy 0.990, test accuracy 0.82.

Run:  GLASSNET_DATA=../shared/data python examples/cats_tutorial.py [--epochs 3000] [--two-layer]
"""

from __future__ import annotations

import argparse

import glassnet as gn
from glassnet.data import load_cats


def build(hidden: tuple[int, ...]) -> gn.Sequential:
    layers = [gn.layers.Flatten(channels_last=True)]  # the course flattens H, W, C
    layers += [gn.layers.Dense(h, activation="relu", kernel_initializer="lecun_normal")
               for h in hidden]
    layers.append(gn.layers.Dense(1, kernel_initializer="lecun_normal"))
    model = gn.Sequential(layers, input_shape=(3, 64, 64), seed=1, dtype="float64",
                          init_stream="legacy", preprocessing={"scale": 1 / 255},
                          class_names=["non-cat", "cat"])
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.0075))
    return model


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--two-layer", action="store_true", help="the 12288-7-1 network")
    args = parser.parse_args(argv)
    data = load_cats()
    train, test = data["train"], data["test"]
    model = build((7,) if args.two_layer else (20, 7, 5))
    model.summary()
    history = model.fit(train.x, train.y, epochs=args.epochs, batch_size=None, verbose=0)
    losses = history.history["loss"]
    for epoch in range(0, len(losses), max(len(losses) // 10, 1)):
        print(f"cost after iteration {epoch}: {losses[epoch]:.6f}")
    result = {"first_cost": losses[0], "final_cost": losses[-1],
              "train_accuracy": model.evaluate(train.x, train.y)["accuracy"],
              "test_accuracy": model.evaluate(test.x, test.y)["accuracy"]}
    print(f"train accuracy {result['train_accuracy']:.3f}, test accuracy {result['test_accuracy']:.3f}")
    wrong = (model.predict_classes(test.x) != test.y).nonzero()[0]
    print(f"misclassified test images: {wrong.tolist()}")
    return result


if __name__ == "__main__":
    main()
