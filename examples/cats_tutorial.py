"""Your first deep network: the course's cat-vs-non-cat L-layer net, in glassnet.

Reproduces the course's 4-layer network 12288-20-7-5-1 (ReLU, sigmoid output), trained
with plain full-batch gradient descent, learning rate 0.0075, float64, weights
``randn / sqrt(fan_in)`` drawn from ``RandomState(1)`` in the course's order, for the
course's 2500 iterations. It prints the course's lines, digit for digit: cost
0.7717493284237686 after iteration 0 (its 16th digit depends on the CPU's BLAS: ...688 on an
AMD EPYC), 0.088439943441702 after iteration 2499, train
accuracy 0.986, test accuracy 0.80. (``--epochs 3000``, as ``make demo`` trains: train
0.990, test 0.82.) With ``--two-layer`` the course's 12288-7-1 net (weights
``randn * 0.01``): cost 0.6930497356599891 after iteration 0 (the course prints ...888:
the last digits depend on the BLAS), train accuracy 1.000, test accuracy 0.72.

Run:  GLASSNET_DATA=../shared/data python examples/cats_tutorial.py [--epochs 2500] [--two-layer]
      [--out DIR]  (writes cost.png, misclassified.png and model.glassnet there)
      [--photo FILE]  (predicts your own photo with the trained network)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet.data import load_cats
from glassnet.data.images import load_image


# --8<-- [start:build]
def build(hidden: tuple[int, ...]) -> gn.Sequential:
    # The course starts its L-layer net from randn / sqrt(fan_in) and its two-layer net
    # (one hidden layer) from randn * 0.01.
    init = "lecun_normal" if len(hidden) > 1 else "normal:0.01"
    layers = [gn.layers.Flatten(channels_last=True)]  # the course flattens H, W, C
    layers += [gn.layers.Dense(h, activation="relu", kernel_initializer=init) for h in hidden]
    layers.append(gn.layers.Dense(1, kernel_initializer=init))
    model = gn.Sequential(layers, input_shape=(3, 64, 64), seed=1, dtype="float64",
                          init_stream="legacy", preprocessing={"scale": 1 / 255},
                          class_names=["non-cat", "cat"])
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.0075))
    return model
# --8<-- [end:build]


# --8<-- [start:plots]
def save_plots(out: Path, losses: list[float], test, wrong: np.ndarray, probs: np.ndarray) -> None:
    """The cost curve and the misclassified test images, as PNG files in ``out``."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses)
    ax.set(xlabel="iteration", ylabel="cost", title="Cost during training")
    fig.savefig(out / "cost.png", dpi=90, bbox_inches="tight")
    shown = wrong[:10]
    fig, axes = plt.subplots(1, len(shown), figsize=(1.6 * len(shown), 2.2), squeeze=False)
    for ax, i in zip(axes[0], shown, strict=True):
        ax.imshow(test.x[i].transpose(1, 2, 0))  # (3, H, W) uint8 -> (H, W, 3) for imshow
        ax.set_title(f"#{i} {test.class_names[test.y[i]]}\np(cat)={probs[i]:.2f}", fontsize=8)
        ax.axis("off")
    fig.savefig(out / "misclassified.png", dpi=90, bbox_inches="tight")
    plt.close("all")
# --8<-- [end:plots]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2500, help="the course's num_iterations")
    parser.add_argument("--two-layer", action="store_true", help="the 12288-7-1 network")
    parser.add_argument("--out", type=Path, help="folder for the plots and the trained model")
    parser.add_argument("--photo", type=Path, help="an image file to classify after training")
    args = parser.parse_args(argv)
    # --8<-- [start:train]
    data = load_cats()
    train, test = data["train"], data["test"]
    model = build((7,) if args.two_layer else (20, 7, 5))
    model.summary()
    history = model.fit(train.x, train.y, epochs=args.epochs, batch_size=None, verbose=0)
    losses = history.history["loss"]
    for i, cost in enumerate(losses):  # the course's lines: every 100 iterations and the last
        if i % 100 == 0 or i == len(losses) - 1:
            print(f"Cost after iteration {i}: {cost}")
    result = {"first_cost": losses[0], "final_cost": losses[-1],
              "train_accuracy": model.evaluate(train.x, train.y)["accuracy"],
              "test_accuracy": model.evaluate(test.x, test.y)["accuracy"]}
    print(f"train accuracy {result['train_accuracy']:.3f}, test accuracy {result['test_accuracy']:.3f}")
    wrong = (model.predict_classes(test.x) != test.y).nonzero()[0]
    print(f"misclassified test images: {wrong.tolist()}")
    # --8<-- [end:train]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        save_plots(args.out, losses, test, wrong, model.predict(test.x)[:, 0])
        model.training_summary["resize"] = "squash"  # so glassnet predict stretches photos to 64x64
        model.save(str(args.out / "model.glassnet"))
    if args.photo:
        # --8<-- [start:photo]
        image = load_image(args.photo, size=(64, 64))  # uint8 (3, 64, 64): JPEG, PNG, BMP, GIF, WebP or TIFF
        p_cat = float(model.predict(image)[0])  # one sample in, one probability out
        label = "cat" if p_cat > 0.5 else "non-cat"
        print(f"{args.photo.name}: {label} (p(cat) = {p_cat:.3f})")
        # --8<-- [end:photo]
        result["photo_p_cat"] = p_cat
    return result


if __name__ == "__main__":
    main()
