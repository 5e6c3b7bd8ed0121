"""``fit``'s and ``train_on_batch``'s ``class_weight`` (glassnet.training.class_weights): the
weights reach the training loss and its gradient, and nothing else; bad values are refused."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError
from glassnet.split import stratified_split
from glassnet.training import class_weights, nan_guard


def _unbalanced(rng, n=200, minority=0.1):
    """Two overlapping 2-D classes, class 1 the rare one (``minority`` of ``n``)."""
    y = (rng.random(n) < minority).astype(np.int64)
    x = rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, 1.2, 0.0)
    return x, y


def _model(outputs=1, seed=0, dtype="float64", **kwargs):
    model = gn.Sequential([gn.layers.Dense(outputs)], input_shape=(2,), seed=seed, dtype=dtype, **kwargs)
    model.compile("binary_crossentropy" if outputs == 1 else "categorical_crossentropy",
                  gn.optimizers.SGD(lr=0.5))
    return model


@pytest.mark.parametrize("outputs", [1, 2])
def test_class_weights_move_the_decision_boundary_toward_the_majority(rng, outputs):
    """The same seed and data: weighted, the model answers the rare class far more often
    (a balanced model about as often as it occurs in a balanced set); binary (one sigmoid
    output) and softmax models alike."""
    x, y = _unbalanced(rng)
    answers = {}
    for name, cw in (("none", None), ("dict", {1: 9.0}), ("balanced", "balanced")):
        model = _model(outputs)
        model.fit(x, y, epochs=40, batch_size=32, verbose=0, class_weight=cw)
        answers[name] = float((model.predict_classes(x) == 1).mean())
    assert answers["dict"] > answers["none"] + 0.15
    assert answers["balanced"] > answers["none"] + 0.15


def test_the_history_loss_is_weighted_and_the_validation_loss_is_not(rng):
    """One full-batch epoch: ``loss`` is ``sum_i w_i l_i / N`` of the starting weights (each
    batch's loss is taken before its update); ``val_loss`` is evaluate's, unweighted."""
    x, y = _unbalanced(rng)
    x_val, y_val = x[:50], y[:50]
    model = _model()
    start = model.predict_logits(x)
    weights = np.where(y == 1, 4.0, 0.5)
    expected = gn.losses.BinaryCrossEntropy().forward(start, y, weights)
    history = model.fit(x, y, epochs=1, batch_size=None, verbose=0, class_weight={0: 0.5, 1: 4.0},
                        validation_data=(x_val, y_val))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x_val, y_val)["loss"], rel=1e-12)


def test_no_class_weight_and_weights_of_one_train_alike(rng):
    x, y = _unbalanced(rng)
    plain, ones = _model(), _model()
    h_plain = plain.fit(x, y, epochs=3, batch_size=32, verbose=0).history
    h_ones = ones.fit(x, y, epochs=3, batch_size=32, verbose=0, class_weight={0: 1, 1: 1}).history
    np.testing.assert_allclose(h_ones["loss"], h_plain["loss"], rtol=1e-12)


def test_balanced_counts_the_training_part_only(rng):
    """After ``validation_split`` is taken out: the same training as the dict of weights
    computed from the samples trained on, and not as one from all the samples."""
    x, y = _unbalanced(rng, n=97)
    model = _model(seed=5)
    train_idx, _ = stratified_split(y, 0.3, np.random.default_rng(model.split_seed))
    trained_on = class_weights.balanced_weights(y[train_idx], 2)
    every = class_weights.balanced_weights(y, 2)
    assert not np.allclose(trained_on, every)
    histories = []
    for cw in ("balanced", dict(enumerate(trained_on)), dict(enumerate(every))):
        model = _model(seed=5)
        histories.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.3,
                                   class_weight=cw).history["loss"])
    assert histories[0] == histories[1]
    assert histories[0] != histories[2]


def test_balanced_is_sklearns_formula():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    np.testing.assert_allclose(class_weights.balanced_weights(y, 3), [10 / 18, 10 / 9, 10 / 3])


def test_train_on_batch_takes_class_weights(rng):
    x, y = _unbalanced(rng, n=40)
    plain, weighted, same = _model(), _model(), _model()
    loss = weighted.train_on_batch(x, y, class_weight={1: 3.0})
    assert loss == pytest.approx(gn.losses.BinaryCrossEntropy().forward(
        plain.predict_logits(x), y, np.where(y == 1, 3.0, 1.0)), rel=1e-12)
    assert not np.allclose(weighted.get_weights()["0.W"], plain.get_weights()["0.W"])
    # "balanced" would count one batch's classes: refused, with how to count all of them once
    with pytest.raises(ConfigError, match=r"train_on_batch takes no class_weight='balanced': .* class_weight="
                       r"dict\(enumerate\(glassnet.training.class_weights.balanced_weights\(y_train, "
                       r"model.num_classes\)\)\)$"):
        same.train_on_batch(x, y, class_weight="balanced")
    counted = dict(enumerate(gn.training.class_weights.balanced_weights(y, same.num_classes)))
    start = same.predict_logits(x[:10])
    expected = gn.losses.BinaryCrossEntropy().forward(start, y[:10], np.array([counted[k] for k in y[:10]]))
    assert same.train_on_batch(x[:10], y[:10], class_weight=counted) == pytest.approx(expected, rel=1e-12)


def test_balanced_weights_take_labels_as_fit_does():
    np.testing.assert_array_equal(class_weights.balanced_weights([0.0, 1.0, 1.0, 1.0], 2), [2, 2 / 3])
    np.testing.assert_array_equal(class_weights.balanced_weights(np.eye(3)[[0, 1, 2, 2]], 3),
                                  [4 / 3, 4 / 3, 2 / 3])  # one-hot rows
    with pytest.raises(gn.errors.ShapeError):
        class_weights.balanced_weights([0, 1, 2], 2)  # a label the model has no class for


def test_a_weight_too_large_for_the_models_dtype_is_refused_before_training(rng):
    """1e39 is finite as a float but infinite in float32: the loss would be inf at the first
    batch; refused at once, naming the class. float64 takes it."""
    x, y = _unbalanced(rng, n=40)
    for call in (lambda m: m.fit(x, y, epochs=1, verbose=0, class_weight={1: 1e39}),
                 lambda m: m.train_on_batch(x, y, class_weight={1: 1e39})):
        model = _model(dtype="float32", class_names=["non-cat", "cat"])
        before = model.get_weights()
        with pytest.raises(ConfigError, match=r"^class_weight's weight 1e\+39 for class 'cat' is too "
                           r"large for the model's float32 \(at most 3.4e\+38\)$"):
            call(model)
        assert all(np.array_equal(before[k], v) for k, v in model.get_weights().items())
    assert np.isfinite(_model().train_on_batch(x, y, class_weight={1: 1e39}))  # (float64)


def test_the_nan_guard_rechecks_the_weighted_loss(rng, monkeypatch):
    """The check of an epoch's last update computes the training loss with the batch's weights."""
    x, y = _unbalanced(rng, n=64)
    seen = []
    real = nan_guard.trained_outputs

    def spy(model, xb, yb, start, wb=None):
        seen.append(None if wb is None else np.asarray(wb).copy())
        return real(model, xb, yb, start, wb)

    monkeypatch.setattr(nan_guard, "trained_outputs", spy)
    _model().fit(x, y, epochs=1, batch_size=None, verbose=0, class_weight={1: 7.0})
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], np.where(y == 1, 7.0, 1.0))


@pytest.mark.parametrize("cw, match", [
    ({-1: 2.0}, r"class indices 0 to 1 .* got -1"),
    ({2: 2.0}, r"class indices 0 to 1 of the model's 2 classes, got 2"),
    ({"1": 2.0}, r"class indices .* got '1'"),
    ({1.0: 2.0}, r"class indices .* got 1.0"),
    ({True: 2.0}, r"class indices .* got True"),
    ({1: -0.5}, r"finite numbers >= 0, got -0.5 for class 1"),
    ({1: float("nan")}, r"finite numbers >= 0, got nan"),
    ({1: float("inf")}, r"finite numbers >= 0, got inf"),
    ({1: "2"}, r"finite numbers >= 0, got '2'"),
    ({0: 0, 1: 0.0}, r"every training sample weight 0"),
    ("balance", r"a dict \{class_index: weight\} or 'balanced', got 'balance'"),
    ([1.0, 2.0], r"a dict \{class_index: weight\} or 'balanced', got \[1.0, 2.0\]"),
])
def test_bad_class_weights_are_refused(rng, cw, match):
    x, y = _unbalanced(rng, n=40)
    for call in (lambda m: m.fit(x, y, epochs=1, verbose=0, class_weight=cw),
                 lambda m: m.train_on_batch(x, y, class_weight=cw)):
        model = _model()
        before = model.get_weights()
        with pytest.raises(ConfigError, match=match):
            call(model)
        assert all(np.array_equal(before[k], v) for k, v in model.get_weights().items())


def test_weights_that_leave_only_absent_classes_are_refused(rng):
    x, y = _unbalanced(rng, n=40)
    model = _model(outputs=3)
    with pytest.raises(ConfigError, match="every training sample weight 0"):
        model.fit(x, y, epochs=1, verbose=0, class_weight={0: 0, 1: 0})  # class 2 has no samples


def test_balanced_names_a_class_without_training_samples(rng):
    x, y = _unbalanced(rng, n=40)
    model = _model(outputs=3, class_names=["cat", "dog", "bird"])
    with pytest.raises(ConfigError, match=r"class 'bird' has none"):
        model.fit(x, y, epochs=1, verbose=0, class_weight="balanced")
    unnamed = _model(outputs=3)
    with pytest.raises(ConfigError, match=r"class 2 has none"):
        unnamed.fit(x, y, epochs=1, verbose=0, class_weight="balanced")
