"""Dropout and BatchNorm: finite differences (float64), PyTorch equality, state, errors."""

import numpy as np
import pytest

from glassnet import Sequential, gradcheck, layers
from glassnet.errors import ConfigError, ShapeError
from glassnet.training import Callback


def _build(layer, shape, dtype=np.float64, seed=0):
    layer.build(shape, np.random.default_rng(seed), dtype)
    return layer


# -- BatchNorm vs PyTorch -------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6,), (3, 4, 5)], ids=["BatchNorm1d", "BatchNorm2d"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_matches_torch(torch, rng, shape, training):
    ours = _build(layers.BatchNorm(momentum=0.3, eps=1e-4), shape)
    module = (torch.nn.BatchNorm1d if len(shape) == 1 else torch.nn.BatchNorm2d)(
        shape[0], momentum=0.3, eps=1e-4).double()
    gamma, beta = rng.uniform(0.5, 2, shape[0]), rng.standard_normal(shape[0])
    ours.params["gamma"][...], ours.params["beta"][...] = gamma, beta
    with torch.no_grad():
        module.weight.copy_(torch.tensor(gamma))
        module.bias.copy_(torch.tensor(beta))
    # a few training batches first so the running statistics are not the initial ones
    for _ in range(3):
        warm = rng.standard_normal((5, *shape)) * 3 + 1
        ours.forward(warm, training=True)
        module.train()(torch.tensor(warm))
    module.train(training)
    x = rng.standard_normal((5, *shape)) * 2 - 0.5
    dy = rng.standard_normal(x.shape)
    y = ours.forward(x, training=training)
    dx = ours.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = module(tx)
    ty.backward(torch.tensor(dy))
    pairs = [(y, ty), (dx, tx.grad), (ours.grads["gamma"], module.weight.grad),
             (ours.grads["beta"], module.bias.grad),
             (ours.state["running_mean"], module.running_mean),
             (ours.state["running_var"], module.running_var)]
    names = ["y", "dx", "dgamma", "dbeta", "running_mean", "running_var"]
    for name, (a, b) in zip(names, pairs, strict=True):
        assert gradcheck.rel_error(a, b.detach().numpy()) < 1e-10, name


def test_batchnorm_eval_mode_gradient_matches_finite_differences(rng):
    layer = _build(layers.BatchNorm(), (3, 2, 2))
    layer.state["running_mean"][...] = rng.standard_normal(3)
    layer.state["running_var"][...] = rng.uniform(0.5, 2, 3)
    result = gradcheck.check_layer(layer, (3, 2, 2), training=False)
    assert result.worst < 1e-7, result.errors


def test_batchnorm_normalizes_each_channel_and_ignores_other_channels(rng):
    layer = _build(layers.BatchNorm(), (2, 3, 3))
    x = rng.standard_normal((4, 2, 3, 3))
    x[:, 1] = x[:, 1] * 10 + 7
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_batchnorm_running_stats_use_the_torch_momentum_convention(rng):
    layer = _build(layers.BatchNorm(momentum=0.25), (3,))
    x = rng.standard_normal((8, 3))
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.state["running_mean"], 0.25 * x.mean(axis=0))
    np.testing.assert_allclose(layer.state["running_var"], 0.75 + 0.25 * x.var(axis=0, ddof=1))
    before = {k: v.copy() for k, v in layer.state.items()}
    layer.forward(x, training=False)  # inference never moves the statistics
    for key, value in before.items():
        np.testing.assert_array_equal(layer.state[key], value)


def test_batchnorm_state_survives_save_and_load(tmp_path, rng):
    from glassnet import load_model

    model = Sequential([layers.Dense(4), layers.BatchNorm(), layers.Dense(2)], input_shape=(3,),
                       dtype="float64")
    model.compile("categorical_crossentropy", "sgd")
    model.fit(rng.standard_normal((20, 3)), rng.integers(0, 2, 20), epochs=2, batch_size=5, verbose=0)
    path = tmp_path / "bn.glassnet"
    model.save(str(path))
    again = load_model(str(path))
    np.testing.assert_array_equal(again.layers[1].state["running_var"], model.layers[1].state["running_var"])
    x = rng.standard_normal((4, 3))
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert model.count_params() == (4 * 3 + 4 + 8 + 4 * 2 + 2, 8)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "0.1", True])
def test_batchnorm_rejects_bad_momentum(bad):
    with pytest.raises(ConfigError, match="momentum"):
        layers.BatchNorm(momentum=bad)


@pytest.mark.parametrize("bad", [0, -1e-5, "1e-5", 1e-50])
def test_batchnorm_rejects_bad_eps(bad):
    with pytest.raises(ConfigError, match="eps"):
        layers.BatchNorm(eps=bad)
    with pytest.raises(ConfigError, match="float32's smallest normal number"):
        layers.BatchNorm(eps=1e-40)  # a float32 subnormal: digits lost (0 from below 1.4e-45)


def test_batchnorm_rejects_unsupported_shapes():
    with pytest.raises(ShapeError, match=r"\(N, D\) or \(N, C, H, W\)"):
        _build(layers.BatchNorm(), (3, 4))


# -- Dropout ------------------------------------------------------------------------------
def test_dropout_is_identity_at_inference(rng):
    layer = _build(layers.Dropout(0.5), (10,))
    x = rng.standard_normal((4, 10))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def test_dropout_drops_about_rate_and_keeps_the_expectation():
    layer = _build(layers.Dropout(0.3), (1000,))
    x = np.ones((200, 1000))
    y = layer.forward(x, training=True)
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7)
    assert abs(y.mean() - 1) < 0.01
    dy = np.arange(x.size, dtype=float).reshape(x.shape)
    np.testing.assert_array_equal(layer.backward(dy), dy * y)  # x = 1, so y is the mask


def test_dropout_rate_zero_is_identity_in_training(rng):
    layer = _build(layers.Dropout(0.0), (5,))
    x = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(x), x)


def test_dropout_masks_are_reproducible_from_the_seed(rng):
    x = rng.standard_normal((6, 8))

    def masks(seed):
        model = Sequential([layers.Dense(8), layers.Dropout(0.5)], input_shape=(8,), seed=seed)
        return [model.forward(x.astype(np.float32), training=True) for _ in range(2)]

    first, again, other = masks(3), masks(3), masks(4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # a new mask every batch
    assert not np.array_equal(first[0] != 0, other[0] != 0)


@pytest.mark.parametrize("bad", [-0.1, 1, 1.5, "0.5", True, None])
def test_dropout_rejects_rates_outside_zero_one(bad):
    with pytest.raises(ConfigError, match=r"Dropout rate must be a number in \[0, 1\)"):
        layers.Dropout(bad)


def test_dropout_and_batchnorm_config_round_trip():
    for layer in (layers.Dropout(0.25), layers.BatchNorm(momentum=0.05, eps=1e-3)):
        again = layers.layer_from_config(type(layer).__name__, layer.get_config())
        assert again.get_config() == layer.get_config()


def test_stack_gradcheck_catches_a_batchnorm_bug(rng, monkeypatch):
    """The stacked check with a random upstream gradient fails for a classic BN bug
    (forgetting the x_hat * sum(dy * x_hat) term), so the passing cases mean something."""
    def buggy(self, dy):
        cache = self._recall()
        x_hat = cache["centred"] * cache["inv_std"]
        self.grads["gamma"][...] = (dy * x_hat).sum(axis=0)
        self.grads["beta"][...] = dy.sum(axis=0)
        return self.params["gamma"] * cache["inv_std"] * (dy - dy.mean(axis=0))

    monkeypatch.setattr(layers.BatchNorm, "backward", buggy)
    stack = gradcheck.Stack(layers.Dense(4, use_bias=False), layers.BatchNorm())
    assert gradcheck.check_layer(stack, (5,)).worst > 1e-3


def test_batchnorm_refuses_to_train_on_one_value_per_channel(rng):
    dense = _build(layers.BatchNorm(), (3,))
    with pytest.raises(ShapeError, match=r"needs more than one value per channel to train, got a "
                                         r"batch of shape \(1, 3\); use batches of 2 or more"):
        dense.forward(rng.standard_normal((1, 3)), training=True)
    assert dense.forward(rng.standard_normal((1, 3))).shape == (1, 3)  # inference: running statistics
    images = _build(layers.BatchNorm(), (3, 2, 2))  # one image still has 4 values per channel
    assert images.forward(rng.standard_normal((1, 3, 2, 2)), training=True).shape == (1, 3, 2, 2)
    one_pixel = _build(layers.BatchNorm(), (3, 1, 1))
    assert (dense.min_batch(), images.min_batch(), one_pixel.min_batch()) == (2, 1, 2)
    with pytest.raises(ConfigError, match="built before min_batch"):  # its input shape is unknown
        layers.BatchNorm().min_batch()


class CountBatches(Callback):
    def on_epoch_begin(self, epoch, logs):
        self.count = 0

    def on_batch_end(self, batch, logs):
        self.count += 1


@pytest.mark.parametrize("batchnorm,batches", [(True, 4), (False, 5)])
def test_fit_joins_a_lone_last_sample_to_the_batch_before_only_for_batchnorm(rng, batchnorm, batches):
    """41 samples in batches of 10 leave 1: BatchNorm would fail on it, so it trains as 10 + 1."""
    x, y = rng.standard_normal((41, 3)), np.arange(41) % 2
    model = Sequential([layers.Dense(4), *([layers.BatchNorm()] if batchnorm else []), layers.ReLU(),
                        layers.Dense(1)], input_shape=(3,), seed=0)
    model.compile("binary_crossentropy", "sgd")
    counter = CountBatches()
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[counter])
    assert counter.count == batches


def test_batch_indices_joins_a_short_last_batch():
    from glassnet.training import batch_indices

    assert [len(b) for b in batch_indices(41, 10, None, min_batch=2)] == [10, 10, 10, 11]
    assert [len(b) for b in batch_indices(41, 10, None)] == [10, 10, 10, 10, 1]
    assert [len(b) for b in batch_indices(1, 10, None, min_batch=2)] == [1]  # nothing to join
    assert np.array_equal(np.concatenate(batch_indices(41, 10, np.random.default_rng(0), 2)),
                          np.random.default_rng(0).permutation(41))
