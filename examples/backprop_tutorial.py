"""How backprop works here: affine, ReLU and softmax layers, the finite-difference check,
and CS231n's two-layer net, number for number.

Every value this script compares with is published in the CS231n assignments
(``FullyConnectedNets.ipynb`` and ``two_layer_net.ipynb``); the script stops with an error if
any differs by more than the notebooks allow.

Run:  python examples/backprop_tutorial.py [--out DIR]   (DIR receives gradcheck_vs_h.png)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet.gradcheck import numerical_gradient


def expect(name: str, ours: np.ndarray, reference: list) -> float:
    """Check our values against values published with 8 decimals: they must agree to all 8
    (a difference of at most 5e-9, the rounding of the published numbers)."""
    diff = float(np.abs(ours - np.asarray(reference)).max())
    print(f"{name:<24} max |ours - published| = {diff:.1e}  (rounding of 8 decimals: 5e-09)")
    if diff > 5e-9:
        raise SystemExit(f"{name}: differs from the published values by {diff:.2e}")
    return diff


def built(layer: gn.layers.Layer, input_shape: tuple[int, ...]) -> gn.layers.Layer:
    layer.build(input_shape, np.random.default_rng(0), np.float64)
    return layer


# --8<-- [start:affine]
def affine_forward_values() -> float:
    """CS231n's affine_forward test: x (2, 4, 5, 6) flattened, W (120, 3), b (3,)."""
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    W = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    flatten, dense = built(gn.layers.Flatten(), (4, 5, 6)), built(gn.layers.Dense(3), (120,))
    dense.params["W"][...], dense.params["b"][...] = W, b
    out = dense.forward(flatten.forward(x))
    return expect("affine forward", out, [[1.49834967, 1.70660132, 1.91485297],
                                          [3.25553199, 3.51413270, 3.77273342]])
# --8<-- [end:affine]


# --8<-- [start:relu]
def relu_forward_values() -> float:
    """CS231n's relu_forward test on 12 evenly spaced values."""
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out = built(gn.layers.ReLU(), (4,)).forward(x)
    return expect("ReLU forward", out, [[0, 0, 0, 0], [0, 0, 0.04545455, 0.13636364],
                                        [0.22727273, 0.31818182, 0.40909091, 0.5]])
# --8<-- [end:relu]


# --8<-- [start:backward]
def backward_by_hand() -> None:
    """The analytic backward pass of Dense, ReLU and Softmax against finite differences."""
    for label, layer, shape in [("Dense(5 -> 4)", gn.layers.Dense(4), (5,)),
                                ("ReLU", gn.layers.ReLU(), (6,)),
                                ("Softmax", gn.layers.Softmax(), (5,))]:
        result = gn.check_layer(layer, shape, batch=10, seed=231)
        for key, err in result.errors.items():
            print(f"{label:<16} d{key:<2} max relative error {err:.2e}")
            assert err < 1e-7, (label, key, err)
# --8<-- [end:backward]


# --8<-- [start:two_layer]
def cs231n_two_layer_net() -> gn.Sequential:
    """The notebook's toy net: 4 inputs, 10 hidden ReLU units, 3 classes, 5 samples."""
    np.random.seed(0)  # the notebook's own (global) draws, reproduced here to get its weights
    W1, b1 = 1e-1 * np.random.randn(4, 10), np.zeros(10)
    W2, b2 = 1e-1 * np.random.randn(10, 3), np.zeros(3)
    np.random.seed(1)
    X, y = 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])

    model = gn.Sequential([gn.layers.Dense(10, activation="relu"), gn.layers.Dense(3)],
                          input_shape=(4,), dtype="float64")
    model.set_weights({"0.W": W1, "0.b": b1, "1.W": W2, "1.b": b2})
    # CS231n adds reg * sum(W**2) with reg = 0.05; glassnet adds 0.5 * reg * sum(W**2).
    model.compile(loss="categorical_crossentropy", optimizer="sgd", reg=0.1)

    scores = model.predict_logits(X)
    expect("two-layer net scores", scores, [
        [-0.81233741, -1.27654624, -0.70335995], [-0.17129677, -1.18803311, -0.47310444],
        [-0.51590475, -1.01354314, -0.85042150], [-0.15419291, -0.48629638, -0.52901952],
        [-0.00618733, -0.12435261, -0.15226949]])
    loss = model.loss.forward(model.forward(X, training=True), y) + model.regularization_loss()
    print(f"two-layer net loss {loss:.11f}   (notebook: 1.30378789133)")
    assert abs(loss - 1.30378789133) < 1e-10
    model.backward(model.loss.backward())
    for name, param, grad in model.parameters():
        numeric = numerical_gradient(
            lambda: model.loss.forward(model.forward(X, training=True), y) + model.regularization_loss(),
            param)
        print(f"two-layer net d{name:<4} max relative error {gn.rel_error(grad, numeric):.2e}")
        assert gn.rel_error(grad, numeric) < 1e-8
    return model
# --8<-- [end:two_layer]


# --8<-- [start:step_size]
def error_against_step_size(out: Path | None) -> dict[float, float]:
    """Why h = 1e-5: too large and the difference is a poor slope, too small and rounding wins."""
    layer = built(gn.layers.Dense(4, activation="tanh"), (5,))
    rng = np.random.default_rng(0)
    x, dy = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))
    layer.forward(x, training=True)
    dx = layer.backward(dy)
    errors = {}
    for h in 10.0 ** -np.arange(1, 13):
        numeric = numerical_gradient(lambda: float((layer.forward(x) * dy).sum()), x, h)
        errors[h] = gn.rel_error(dx, numeric)
        print(f"h = {h:.0e}: relative error {errors[h]:.1e}")
    if out is not None:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.loglog(list(errors), list(errors.values()), "o-")
        ax.set(xlabel="step h", ylabel="max relative error",
               title="Finite differences of Dense(tanh), float64")
        ax.invert_xaxis()
        fig.savefig(out / "gradcheck_vs_h.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
    return errors
# --8<-- [end:step_size]


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for the plot")
    args = parser.parse_args(argv)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    print("== the layers' forward passes, against CS231n's values")
    result = {"affine": affine_forward_values(), "relu": relu_forward_values()}
    print("\n== their backward passes, against finite differences")
    backward_by_hand()
    print("\n== CS231n's two-layer net")
    cs231n_two_layer_net()
    print("\n== the finite-difference step")
    errors = error_against_step_size(args.out)
    result["best_h"] = min(errors, key=errors.get)
    return result


if __name__ == "__main__":
    main()
