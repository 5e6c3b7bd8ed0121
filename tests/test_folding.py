"""Inference folds [Conv2D, BatchNorm(, ReLU)] into one convolution (layers/folding.py):
the same outputs as the layers one after the other, PyTorch's eval mode, and only where
folding is exact."""

import numpy as np
import pytest

from glassnet import Sequential, layers
from glassnet.layers.folding import foldable_run

INPUT = (3, 7, 6)


def _model(*stack, dtype="float64"):
    """A built, compiled model whose BatchNorms hold running statistics and affine
    parameters far from their initial 1 and 0 (so that folding them is not a no-op)."""
    model = Sequential([*stack, layers.Flatten(), layers.Dense(3)], input_shape=INPUT, seed=3,
                       dtype=dtype)
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    rng = np.random.default_rng(5)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNorm):
            channels = layer.params["gamma"].shape
            layer.params["gamma"][...] = rng.uniform(0.5, 2.0, channels)
            layer.params["beta"][...] = rng.normal(0, 1, channels)
            layer.state["running_mean"][...] = rng.normal(0, 1, channels)
            layer.state["running_var"][...] = rng.uniform(0.2, 3.0, channels)
        if isinstance(layer, layers.Conv2D) and layer.use_bias:
            layer.params["b"][...] = rng.normal(0, 1, layer.params["b"].shape)
    return model


def _layer_by_layer(model, x):
    for layer in model.layers:
        x = layer.forward(x)
    return x


CASES = {
    "conv-bn-relu": lambda: [layers.Conv2D(4, 3, padding="same", use_bias=False), layers.BatchNorm(),
                             layers.ReLU()],
    "conv+bias-bn": lambda: [layers.Conv2D(4, 3), layers.BatchNorm()],
    "strided, padded": lambda: [layers.Conv2D(5, (3, 2), strides=2, padding=1), layers.BatchNorm(),
                                layers.ReLU()],
    "two blocks and a pool": lambda: [layers.Conv2D(4, 3, padding="same"), layers.BatchNorm(),
                                      layers.ReLU(), layers.MaxPool2D(2),
                                      layers.Conv2D(6, 1, use_bias=False), layers.BatchNorm()],
}


@pytest.mark.parametrize("case", CASES)
def test_folded_inference_equals_the_layers_one_after_the_other(case, rng):
    model = _model(*CASES[case]())
    x = rng.normal(size=(5, *INPUT))
    np.testing.assert_allclose(model.forward(x), _layer_by_layer(model, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.predict(x), model.predict(x, batch_size=2), rtol=1e-12)


def test_folded_inference_in_float32_is_within_rounding(rng):
    model = _model(*CASES["conv-bn-relu"](), dtype="float32")
    x = rng.normal(size=(4, *INPUT)).astype(np.float32)
    np.testing.assert_allclose(model.forward(x), _layer_by_layer(model, x), rtol=1e-5, atol=1e-5)


def test_training_is_not_folded_it_uses_the_batch_statistics(rng):
    model = _model(*CASES["conv-bn-relu"]())
    x = rng.normal(size=(5, *INPUT))
    expected = x
    for layer in model.layers:
        expected = layer.forward(expected, training=True)
    np.testing.assert_allclose(model.forward(x, training=True), expected, rtol=1e-12)


def test_a_forward_from_the_middle_of_a_block_does_not_fold_across_the_start(rng):
    model = _model(*CASES["conv-bn-relu"]())
    x = rng.normal(size=(2, *INPUT))
    conv_out = model.layers[0].forward(x)
    expected = conv_out
    for layer in model.layers[1:]:
        expected = layer.forward(expected)
    np.testing.assert_allclose(model.forward(conv_out, start=1), expected, rtol=1e-12)
    np.testing.assert_allclose(model.forward(x, stop=2), model.layers[1].forward(conv_out), rtol=1e-12)


def test_only_exact_folds_are_taken():
    conv, norm, relu = layers.Conv2D(2, 3), layers.BatchNorm(), layers.ReLU()
    assert foldable_run([conv, norm, relu]) == 3
    assert foldable_run([conv, norm, layers.LeakyReLU()]) == 2  # only a plain ReLU joins the copy
    assert foldable_run([conv, norm]) == 2
    assert foldable_run([layers.Conv2D(2, 3, activation="relu"), norm]) == 0  # ReLU before the BN
    assert foldable_run([conv, layers.ReLU(), norm]) == 0
    assert foldable_run([layers.Dense(2), norm]) == 0
    assert foldable_run([conv]) == 0


@pytest.mark.parametrize("subclassed", ["Conv2D", "BatchNorm", "ReLU"])
def test_subclasses_are_not_folded_their_own_forward_runs(subclassed, rng):
    """A subclass's forward may compute something else: inference must run it as training does."""

    class FoldTestDoubledConv(layers.Conv2D):
        def forward(self, x, training=False):
            return 2 * super().forward(x, training)

    class FoldTestShiftedNorm(layers.BatchNorm):
        def forward(self, x, training=False):
            return super().forward(x, training) + 1

    class FoldTestHalvedReLU(layers.ReLU):
        def forward(self, x, training=False):
            return super().forward(x, training) / 2

    try:
        conv = FoldTestDoubledConv if subclassed == "Conv2D" else layers.Conv2D
        norm = FoldTestShiftedNorm if subclassed == "BatchNorm" else layers.BatchNorm
        relu = FoldTestHalvedReLU if subclassed == "ReLU" else layers.ReLU
        model = _model(conv(4, 3), norm(), relu())
        assert foldable_run(model.layers) == (2 if subclassed == "ReLU" else 0)  # not the ReLU
        x = rng.normal(size=(3, *INPUT))
        np.testing.assert_allclose(model.forward(x), _layer_by_layer(model, x), rtol=1e-12)
    finally:  # defining a layer class registers it by name (for model files)
        for name in ("FoldTestDoubledConv", "FoldTestShiftedNorm", "FoldTestHalvedReLU"):
            layers.LAYER_CLASSES.pop(name, None)


def test_an_inference_pass_leaves_nothing_for_backward_in_the_folded_layers(rng):
    model = _model(*CASES["conv-bn-relu"]())
    model.forward(rng.normal(size=(2, *INPUT)), training=True)  # caches from a training pass
    model.forward(rng.normal(size=(2, *INPUT)))  # folded: these must be dropped
    for layer in model.layers[:3]:
        with pytest.raises(Exception, match="forward"):
            layer.backward(np.ones((2, *layer.output_shape)))


def test_folded_inference_matches_torch_eval_mode(torch, rng):
    model = _model(*CASES["strided, padded"]())
    conv, norm = model.layers[0], model.layers[1]
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 5, (3, 2), stride=2, padding=1),
                                torch.nn.BatchNorm2d(5), torch.nn.ReLU()).double().eval()
    with torch.no_grad():
        block[0].weight.copy_(torch.tensor(conv.params["W"]))
        block[0].bias.copy_(torch.tensor(conv.params["b"]))
        block[1].weight.copy_(torch.tensor(norm.params["gamma"]))
        block[1].bias.copy_(torch.tensor(norm.params["beta"]))
        block[1].running_mean.copy_(torch.tensor(norm.state["running_mean"]))
        block[1].running_var.copy_(torch.tensor(norm.state["running_var"]))
        block[1].eps = norm.eps
        x = rng.normal(size=(3, *INPUT))
        expected = block(torch.tensor(x)).numpy()
    np.testing.assert_allclose(model.forward(x, stop=3), expected, rtol=1e-10, atol=1e-12)


def test_inference_runs_the_block_as_one_convolution(rng, monkeypatch):
    """The BatchNorm and the ReLU do not make their own passes (that is the speed-up)."""
    model = _model(*CASES["conv-bn-relu"]())
    x = rng.normal(size=(2, *INPUT))
    expected = _layer_by_layer(model, x)

    def not_called(self, *args, **kwargs):
        raise AssertionError(f"{type(self).__name__}.forward ran on its own")

    monkeypatch.setattr(layers.BatchNorm, "forward", not_called)
    monkeypatch.setattr(layers.ReLU, "forward", not_called)
    np.testing.assert_allclose(model.predict_logits(x), expected, rtol=1e-12)
