"""Dense, activations and Flatten: finite differences (float64) and PyTorch equality."""

import numpy as np
import pytest

from glassnet import Sequential, gradcheck, layers
from glassnet.errors import ConfigError, ShapeError


@pytest.mark.parametrize("label,factory,shape", gradcheck.layer_cases(),
                         ids=[c[0] for c in gradcheck.layer_cases()])
def test_layer_matches_finite_differences(label, factory, shape):
    result = gradcheck.check_layer(factory(), shape, name=label)
    assert result.worst < 1e-7, result.errors


def test_every_layer_class_has_a_gradient_check():
    checked = {type(factory()).__name__ for _, factory, _ in gradcheck.layer_cases()}
    missing = set(layers.LAYER_CLASSES) - checked - {"Layer"}
    assert not missing, f"add gradcheck cases for {sorted(missing)}"


def _nan_in_bias(monkeypatch):
    original = layers.Dense.backward

    def backward(self, dy):
        dx = original(self, dy)
        self.grads["b"][0] = np.nan
        return dx

    monkeypatch.setattr(layers.Dense, "backward", backward)


def _adding_to_grads(monkeypatch):
    """The classic slip: ``grads += ...`` where the protocol says ``grads = ...``."""
    original = layers.Dense.backward

    def backward(self, dy):
        before = {k: g.copy() for k, g in self.grads.items()}
        dx = original(self, dy)
        for key, grad in self.grads.items():
            grad += before[key]
        return dx

    monkeypatch.setattr(layers.Dense, "backward", backward)


@pytest.mark.parametrize("bug", [_nan_in_bias, _adding_to_grads], ids=["NaN gradient", "+= grads"])
def test_gradient_checks_fail_for_a_nan_gradient_or_a_backward_that_adds_to_grads(bug, monkeypatch, rng):
    bug(monkeypatch)
    layer_check = gradcheck.check_layer(layers.Dense(4), (5,))
    assert not layer_check.worst < 1e-6, layer_check.errors
    model = Sequential([layers.Dense(3), layers.Dense(1)], input_shape=(4,), dtype="float64")
    model.compile("binary_crossentropy", "sgd")
    model_check = gradcheck.check_model(model, rng.standard_normal((6, 4)), rng.integers(0, 2, 6))
    assert not model_check.worst < 1e-6, model_check.errors


def _wrap_backward(monkeypatch, cls, wrong):
    """``cls.backward`` whose ``dx`` is ``wrong(layer, dx, cache)`` (the cache forward kept)."""
    original = cls.backward

    def backward(self, dy):
        cache = self._cache
        return wrong(self, original(self, dy), cache)

    monkeypatch.setattr(cls, "backward", backward)


def _relu_mask_dropped_when_unfolding_dz(monkeypatch):
    from glassnet.layers.conv import Conv2D

    original = Conv2D._backward_stride_1
    monkeypatch.setattr(Conv2D, "_backward_stride_1",
                        lambda self, dy, x, relu_y: original(self, dy, x, None))


PATH_BUGS = {  # a wrong backward on one path only: the standard cases must reach each path
    "Conv2D: fused ReLU's mask dropped when dz is unfolded": _relu_mask_dropped_when_unfolding_dz,
    "Conv2D: dx doubled for 1x1 kernels": lambda mp: _wrap_backward(
        mp, layers.Conv2D, lambda self, dx, _: dx * 2 if self.kernel_size == (1, 1) else dx),
    "Conv2D: dx doubled for even square kernels": lambda mp: _wrap_backward(
        mp, layers.Conv2D, lambda self, dx, _: dx * 2 if self.kernel_size == (2, 2) else dx),
    "MaxPool2D: dx wrong when the stride passes the window": lambda mp: _wrap_backward(
        mp, layers.MaxPool2D, lambda self, dx, _: dx * 1.5 if self.strides[0] > self.pool_size[0] else dx),
    "AvgPool2D: dx wrong when the stride passes the window": lambda mp: _wrap_backward(
        mp, layers.AvgPool2D, lambda self, dx, _: dx * 1.5 if self.strides[0] > self.pool_size[0] else dx),
    "BatchNorm: dx doubled in eval mode": lambda mp: _wrap_backward(
        mp, layers.BatchNorm, lambda self, dx, cache: dx if "centred" in cache else dx * 2),
}


@pytest.mark.parametrize("bug", PATH_BUGS.values(), ids=PATH_BUGS.keys())
def test_the_standard_checks_reach_every_backward_path(bug, monkeypatch):
    """``glassnet gradcheck`` passed these bugs: no standard case took their path."""
    bug(monkeypatch)
    failed = [label for label, key, error in gradcheck.run_standard_checks() if not error < 1e-6]
    assert failed


def test_the_worst_error_is_nan_when_any_error_is():
    assert np.isnan(gradcheck.CheckResult("case", {"x": 1e-10, "W": np.nan}).worst)
    assert gradcheck.CheckResult("case", {}).worst == 0.0


def _build(layer, shape, dtype=np.float64):
    layer.build(shape, np.random.default_rng(0), dtype)
    return layer


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax"])
def test_dense_matches_torch(torch, activation, rng):
    layer = _build(layers.Dense(6, activation=activation), (5,))
    x = rng.standard_normal((4, 5))
    dy = rng.standard_normal((4, 6))
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    tW = torch.tensor(layer.params["W"], requires_grad=True)
    tb = torch.tensor(layer.params["b"], requires_grad=True)
    tz = tx @ tW + tb
    acts = {None: lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "tanh": torch.tanh, "softmax": lambda t: torch.softmax(t, dim=1)}
    ty = acts[activation](tz)
    ty.backward(torch.tensor(dy))
    for ours, theirs in [(y, ty), (dx, tx.grad), (layer.grads["W"], tW.grad),
                         (layer.grads["b"], tb.grad)]:
        assert gradcheck.rel_error(ours, theirs.detach().numpy()) < 1e-10


@pytest.mark.parametrize("name,factory", [
    ("relu", lambda t: t.relu()), ("leaky", lambda t: __import__("torch").nn.functional.leaky_relu(t, 0.1)),
    ("sigmoid", lambda t: t.sigmoid()), ("tanh", lambda t: t.tanh()),
])
def test_activations_match_torch(torch, name, factory, rng):
    layer = {"relu": layers.ReLU(), "leaky": layers.LeakyReLU(0.1), "sigmoid": layers.Sigmoid(),
             "tanh": layers.Tanh()}[name]
    _build(layer, (7,))
    x = rng.standard_normal((3, 7))
    dy = rng.standard_normal((3, 7))
    y = layer.forward(x, training=True)
    dx = layer.backward(dy)
    tx = torch.tensor(x, requires_grad=True)
    ty = factory(tx)
    ty.backward(torch.tensor(dy))
    assert gradcheck.rel_error(y, ty.detach().numpy()) < 1e-10
    assert gradcheck.rel_error(dx, tx.grad.numpy()) < 1e-10


@pytest.mark.parametrize("name", ["relu", "leaky", "sigmoid", "tanh"])
def test_activations_of_infinities_and_zero_match_torch(torch, name):
    """ReLU computed x * [x > 0]: -inf * 0 is NaN where PyTorch (and max(0, x)) give 0. At
    exactly 0 (common after a ReLU or a max pool of ReLUs) ReLU's gradient is PyTorch's
    one-sided choice: that of x < 0 (0 for ReLU, alpha for LeakyReLU)."""
    layer = {"relu": layers.ReLU(), "leaky": layers.LeakyReLU(0.1), "sigmoid": layers.Sigmoid(),
             "tanh": layers.Tanh()}[name]
    _build(layer, (5,))
    x = np.array([[-np.inf, np.inf, -2.0, 0.0, 3.0]])
    dy = np.array([[2.0, 3.0, 5.0, 7.0, 11.0]])
    tx = torch.tensor(x, requires_grad=True)
    ty = {"relu": torch.relu, "leaky": lambda t: torch.nn.functional.leaky_relu(t, 0.1),
          "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name](tx)
    ty.backward(torch.tensor(dy))
    np.testing.assert_array_equal(layer.forward(x), ty.detach().numpy())
    layer.forward(x, training=True)
    np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-14, atol=0)


def test_flatten_channels_last_matches_course_reshape(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    out = _build(layers.Flatten(channels_last=True), (3, 4, 5)).forward(x)
    np.testing.assert_array_equal(out, x.transpose(0, 2, 3, 1).reshape(2, -1))


def test_backward_before_forward_is_a_clear_error():
    layer = _build(layers.Dense(3), (2,))
    with pytest.raises(ShapeError, match="no training pass before it"):
        layer.backward(np.zeros((1, 3)))


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.Dense(3), (4,)), (lambda: layers.Dense(3, activation="tanh"), (4,)),
    (lambda: layers.ReLU(), (4,)), (lambda: layers.LeakyReLU(0.1), (4,)), (lambda: layers.Sigmoid(), (4,)),
    (lambda: layers.Tanh(), (4,)), (lambda: layers.Softmax(), (4,)), (lambda: layers.Flatten(), (2, 2)),
    (lambda: layers.Dropout(0.5), (4,)), (lambda: layers.Conv2D(2, 3, padding=1), (1, 4, 4)),
    (lambda: layers.Conv2D(2, 3, activation="relu"), (1, 4, 4)), (lambda: layers.MaxPool2D(), (1, 4, 4)),
    (lambda: layers.AvgPool2D(), (1, 4, 4)), (lambda: layers.GlobalAveragePooling2D(), (1, 4, 4)),
], ids=["dense", "dense-tanh", "relu", "leaky-relu", "sigmoid", "tanh", "softmax", "flatten", "dropout",
        "conv", "conv-relu", "max-pool", "avg-pool", "global-avg-pool"])
def test_a_lone_layers_inference_pass_drops_the_training_cache(make, shape, rng):
    """backward after forward(x) (inference) would differentiate the training batch before it:
    a wrong gradient without a word; it is the clear error instead."""
    layer = _build(make(), shape)
    layer.forward(rng.standard_normal((2, *shape)), training=True)
    y = layer.forward(rng.standard_normal((2, *shape)))
    with pytest.raises(ShapeError, match="backward called with no training pass before it"):
        layer.backward(np.ones_like(y))
    layer.forward(rng.standard_normal((2, *shape)), training=True)
    assert layer.backward(np.ones_like(y)).shape == (2, *shape)  # a training pass keeps it again


def test_backward_does_not_modify_upstream_gradient(rng):
    for layer, shape in [(layers.Dense(3, activation="relu"), (4,)), (layers.Softmax(), (4,)),
                         (layers.Sigmoid(), (4,))]:
        _build(layer, shape)
        layer.forward(rng.standard_normal((2, *shape)), training=True)
        dy = rng.standard_normal((2, layer.output_shape[0]))
        before = dy.copy()
        layer.backward(dy)
        np.testing.assert_array_equal(dy, before)


def test_dense_on_images_asks_for_flatten():
    with pytest.raises(ShapeError, match="Flatten"):
        _build(layers.Dense(3), (3, 8, 8))


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_dense_rejects_bad_units(bad):
    with pytest.raises(ConfigError, match="units"):
        layers.Dense(bad)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown activation 'relux'"):
        layers.Dense(3, activation="relux")


def test_activation_linear_is_no_activation_as_in_keras():
    dense = layers.Dense(3, activation="linear")
    assert dense.activation is None and dense.get_config()["activation"] == "linear"


@pytest.mark.parametrize("bad", [-0.1, np.nan, "0.1", True])
def test_leaky_relu_rejects_an_alpha_that_is_not_a_number_at_least_0(bad):
    with pytest.raises(ConfigError, match=r"LeakyReLU alpha must be a finite number >= 0"):
        layers.LeakyReLU(bad)


def test_layer_config_round_trip():
    layer = layers.Dense(4, activation="tanh", use_bias=False, kernel_initializer="he_normal",
                         kernel_regularizer=0.1)
    again = layers.layer_from_config("Dense", layer.get_config())
    assert again.get_config() == layer.get_config()
    with pytest.raises(ConfigError, match="unknown layer class"):
        layers.layer_from_config("os.system", {})


@pytest.mark.parametrize("layer,shape", [
    (layers.Dense(3), (2, 4)),
    (layers.Conv2D(2, 3), (1, 1, 5, 5)),
    (layers.MaxPool2D(2), (1, 1, 4, 4)),
    (layers.AvgPool2D(2), (1, 1, 4, 4)),
    (layers.GlobalAveragePooling2D(), (1, 1, 4, 4)),
    (layers.BatchNorm(), (2, 3)),
    (layers.Dropout(0.5), (2, 3)),
], ids=lambda v: type(v).__name__ if isinstance(v, layers.Layer) else "")
def test_an_unbuilt_layer_says_it_must_be_built(layer, shape):
    with pytest.raises(ConfigError, match=rf"{type(layer).__name__} must be built before "
                                          r"(forward|training): put it in a Sequential model"):
        layer.forward(np.zeros(shape), training=True)


def test_one_layer_object_cannot_sit_in_two_places():
    from glassnet import Sequential

    dense = layers.Dense(4)
    with pytest.raises(ConfigError, match="this Dense layer is already in the model"):
        Sequential([dense, layers.ReLU(), dense])


def test_a_layer_of_another_model_is_refused_and_its_weights_kept():
    """Sequential(m1.layers) rebuilt the layers: m1's trained weights were drawn again."""
    import copy
    import pickle

    from glassnet import Sequential

    shared = [layers.Dense(4, activation="relu"), layers.Dense(2)]
    first = Sequential(shared, input_shape=(3,))
    weights = first.layers[0].params["W"].copy()
    with pytest.raises(ConfigError, match="this Dense layer is already in another model, and a layer "
                                          "holds the weights of one model; create new layers"):
        Sequential(shared, input_shape=(3,))
    np.testing.assert_array_equal(first.layers[0].params["W"], weights)
    for twin in (copy.deepcopy(first), pickle.loads(pickle.dumps(first))):
        assert all(layer._owner() is twin for layer in twin.layers)  # the copy's own layers
        with pytest.raises(ConfigError, match="already in another model"):
            Sequential(twin.layers[:1], input_shape=(3,))
    shallow = copy.copy(first)  # shares first's layers (as the thread replicas do): first keeps them
    assert all(layer._owner() is first for layer in shallow.layers)
    del shallow
    with pytest.raises(ConfigError, match="already in another model"):
        Sequential(shared, input_shape=(3,))
    del first
    second = Sequential(shared, input_shape=(3,))  # the model that held them is gone: free again
    assert all(layer._owner() is second for layer in second.layers)
    orphan = copy.copy(second)
    del second  # orphan's layers are of no live model now: a copy of it takes them
    again = copy.copy(orphan)
    assert all(layer._owner() is again for layer in again.layers)


def test_a_model_that_failed_to_build_lets_its_layers_go():
    """The failed model lives on in the traceback (a notebook keeps it): the layers must not
    stay tied to it."""
    from glassnet import Sequential

    dense = [layers.Dense(4)]
    with pytest.raises(ShapeError):
        Sequential(dense, input_shape=(0,))
    assert Sequential(dense, input_shape=(3,)).layers[0] is dense[0]


def test_a_shape_error_while_building_names_the_layer():
    from glassnet import Sequential

    # a message that names the class already does not name it twice
    with pytest.raises(ShapeError, match=r"^layer 1: Conv2D expects images"):
        Sequential([layers.Flatten(), layers.Conv2D(4, 3)], input_shape=(3, 8, 8))

    with pytest.raises(ShapeError, match=r"^layer 4 \(Conv2D\): kernel 3x3 is larger than the padded "
                                         r"input 1x1"):
        Sequential([layers.Conv2D(4, 3), layers.MaxPool2D(2), layers.Conv2D(4, 3), layers.MaxPool2D(2),
                    layers.Conv2D(8, 3)], input_shape=(3, 12, 12))


@pytest.mark.parametrize("name", [None, "", "  ", 5])
def test_a_model_name_must_be_a_non_empty_string(name):
    """It names the ONNX graph: export crashed with a traceback on None, '' or 5."""
    from glassnet import Sequential

    with pytest.raises(ConfigError, match="name must be a non-empty string, got "):
        Sequential([layers.Dense(1)], input_shape=(3,), name=name)


def test_dense_names_the_input_it_was_built_for():
    dense = _build(layers.Dense(3), (4,))
    with pytest.raises(ShapeError, match=r"Dense was built for inputs \(N, 4\), got \(2, 5\)"):
        dense.forward(np.ones((2, 5)))
    with pytest.raises(ShapeError, match=r"got \(4,\); add the batch axis: x\[None\]"):
        dense.forward(np.ones(4))


def test_a_layer_with_a_callable_initializer_can_be_shown():
    def init(shape, fan_in, fan_out, rng):
        return rng.standard_normal(shape) * 0.1

    dense = layers.Dense(2, kernel_initializer=init)
    assert repr(dense) == "Dense(...)"  # get_config refuses an unnamed initializer; repr must not fail
    assert repr(layers.Dense(2)).startswith("Dense(units=2, ")


def test_check_layer_works_on_the_first_trainable_layer_of_a_model():
    import glassnet as gn

    model = gn.Sequential([layers.Dense(3), layers.ReLU(), layers.Dense(2)], input_shape=(4,),
                          dtype="float64")
    first = model.layers[0]
    assert first.input_grad is False  # the model skips its dx ...
    result = gradcheck.check_layer(first, (4,))  # ... but a gradient check needs it
    assert result.worst < 1e-7 and "x" in result.errors
    assert first.input_grad is False  # the model's setting is back


def test_a_user_layer_that_makes_its_grads_only_in_backward_is_refused_when_built():
    """It passed check_layer, then fit failed with a bare KeyError."""
    from glassnet.gradcheck import check_layer

    class GradTestLate(layers.Layer):
        def build(self, input_shape, rng, dtype):
            out = super().build(input_shape, rng, dtype)
            self.params = {"a": np.ones(input_shape, dtype=dtype)}
            return out

        def forward(self, x, training=False):
            return x * self.params["a"]

    try:
        message = (r"after build, its grads \(none\) do not mirror its params \(a \(4,\)\); create them "
                   r"at the end of build with self\._init_grads\(\)")
        with pytest.raises(ConfigError, match=rf"^layer 0 \(GradTestLate\): {message}"):
            Sequential([GradTestLate()], input_shape=(4,))
        with pytest.raises(ConfigError, match=rf"^GradTestLate: {message}"):
            check_layer(GradTestLate(), (4,))
        with pytest.raises(ConfigError, match=r"check_layer checks one layer, got Sequential; for a "
                                              r"model, use check_model"):
            check_layer(Sequential([layers.Dense(2)], input_shape=(3,)), (3,))
    finally:
        layers.LAYER_CLASSES.pop("GradTestLate", None)


def test_a_layer_drawing_from_np_random_cannot_be_gradient_checked_and_says_why():
    """Its errors came out near 1 with no hint: the check could not replay its noise."""
    from glassnet.gradcheck import check_layer, check_model

    class GlobalNoise(layers.Layer):
        def forward(self, x, training=False):
            self._remember()
            return x + np.random.standard_normal(x.shape) * training

        def backward(self, dy):
            return dy

    try:
        message = r"gives different outputs for the same input on two runs.*not from np\.random"
        with pytest.raises(ConfigError, match=rf"^GlobalNoise {message}"):
            check_layer(GlobalNoise(), (4,))
        model = Sequential([layers.Dense(1), GlobalNoise()], input_shape=(3,), dtype="float64")
        model.compile(loss="binary_crossentropy")
        with pytest.raises(ConfigError, match=message):
            check_model(model, np.ones((2, 3)), np.array([0, 1]))
    finally:
        layers.LAYER_CLASSES.pop("GlobalNoise", None)


def test_build_names_the_generator_it_takes():
    """Dense(3).build((5,), 0, 'float64') was "'int' object has no attribute 'uniform'"."""
    with pytest.raises(ConfigError, match=r"^Dense\.build takes rng, a numpy\.random\.Generator "
                                          r"\(np\.random\.default_rng\(0\)\), got 0$"):
        layers.Dense(3).build((5,), 0, "float64")
    assert layers.Dense(3).build((5,), np.random.default_rng(0), "float64") == (3,)


def test_a_gradient_that_is_exactly_zero_passes_the_check_and_a_wrong_one_does_not():
    """A bias feeding a BatchNorm has gradient 0; centred differences measure ~1e-11, and
    rel_error's floor of 1e-8 made that a relative error of ~1e-3: a correct layer failed.
    Values within the differences' rounding noise now agree; one above it is still judged."""
    from glassnet.gradcheck import check_model, finite_difference_noise, gradient_error

    noise = finite_difference_noise(1.0)
    assert gradient_error(np.array([1e-17, 0.5]), np.array([1e-11, 0.5]), noise) == 0.0
    assert gradient_error(np.array([1e-6, 0.5]), np.array([1e-11, 0.5]), noise) > 0.99

    class BiasOff(layers.Dense):  # reports a bias gradient where the true one is zero
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["b"] += 1e-6
            return dx

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), np.arange(6) % 3
    try:
        for first, passes in ((layers.Dense, True), (BiasOff, False)):
            model = Sequential([first(5), layers.BatchNorm(), layers.ReLU(), layers.Dense(3)],
                               input_shape=(4,), seed=0, dtype="float64")
            model.compile(loss="categorical_crossentropy", optimizer="adam")
            model.fit(x, y, epochs=1, verbose=0)
            errors = check_model(model, x, y).errors
            assert (errors["0.b"] < 1e-6) is passes, errors
            assert max(v for k, v in errors.items() if k != "0.b") < 1e-6
    finally:
        layers.LAYER_CLASSES.pop("BiasOff", None)


def test_the_zero_tolerance_does_not_hide_a_vanishing_gradient_that_differences_measure():
    """Five tanh layers of small weights: the first layer's true gradients are about 2e-9,
    which centred differences still measure. A backward that drops them must fail."""
    from glassnet.gradcheck import check_model

    class DeadTanh(layers.Tanh):  # passes no gradient to the layers before it
        def backward(self, dy):
            return super().backward(dy) * 0.0

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 10)), np.arange(8) % 3
    try:
        stack = [layer for i in range(5) for layer in (layers.Dense(20, kernel_initializer="normal:0.005"),
                                                        DeadTanh() if i == 0 else layers.Tanh())]
        model = Sequential([*stack, layers.Dense(3, kernel_initializer="normal:0.005")], input_shape=(10,),
                           seed=0, dtype="float64")
        model.compile(loss="categorical_crossentropy", optimizer="sgd")
        assert check_model(model, x, y).errors["0.W"] > 0.1
    finally:
        layers.LAYER_CLASSES.pop("DeadTanh", None)


def test_gradient_checks_refuse_a_float32_layer_or_model():
    """float32's rounding (1e-7) swamps centred differences with h = 1e-5: the errors would
    say a correct layer is wrong."""
    from glassnet.gradcheck import check_layer, check_model

    layer = layers.Dense(2)
    layer.build((3,), np.random.default_rng(0), "float32")
    with pytest.raises(ConfigError, match=r"gradient checks need a float64 layer"):
        check_layer(layer, (3,))
    model = Sequential([layers.Dense(3)], input_shape=(4,))  # float32, the default
    model.compile("categorical_crossentropy")
    with pytest.raises(ConfigError, match=r"gradient checks need dtype='float64'"):
        check_model(model, np.ones((2, 4)), np.array([0, 2]))


def test_the_rounding_noise_of_a_function_near_zero_is_that_of_a_function_near_one():
    """Its terms are rounded at their own size, about 1, whatever their sum: a loss of 1e-3
    has the tolerance of a loss of 1; above 1 it grows with the function."""
    from glassnet.gradcheck import finite_difference_noise

    one = finite_difference_noise(1.0)
    assert finite_difference_noise(1e-3) == finite_difference_noise(0.0) == one
    assert finite_difference_noise(100.0) == pytest.approx(100 * one)
    assert one == pytest.approx(10 * np.finfo(np.float64).eps / 1e-5)


@pytest.mark.parametrize("make", ["dense_model", "conv_model", "conv_gap_model"])
def test_backward_refuses_a_dy_not_shaped_like_the_output(make, rng):
    """A dy of one sample, without the batch axis or with an extra axis would otherwise be
    broadcast over the batch (ReLU, Dropout: a wrong gradient without a word) or fail deep
    inside NumPy; every layer says which shape it needs. A list is taken as an array."""
    import re

    import layer_zoo

    model = getattr(layer_zoo, make)()
    x = rng.random((3, *model.input_shape)).astype("float32")
    for layer in model.layers:
        y = layer.forward(x, training=True)
        for wrong in (y[:1], y[0], y[..., None]):
            with pytest.raises(ShapeError, match=rf"^{type(layer).__name__}\.backward: dy must be shaped "
                                                 rf"like .*{re.escape(str(tuple(y.shape)))}; got"):
                layer.backward(wrong)
        dx = layer.backward(y.tolist())
        assert dx is None or dx.shape == x.shape
        x = y


@pytest.mark.parametrize("make", ["dense_model", "conv_model", "conv_gap_model"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_layer_backward_computes_in_its_dtype_whatever_the_dtype_of_dy(make, dtype, rng):
    """Used on its own, a layer takes ``dy`` in its own dtype, as it takes ``x``: a dy of ints
    made the average pools' ``dy / k`` 0 (an all-zero gradient), and a float32 dy made a
    float64 pool's dx float32 (a float64 dy a float32 layer's float64)."""
    import layer_zoo

    model = getattr(layer_zoo, make)(dtype=dtype)
    x = rng.random((3, *model.input_shape))
    for layer in model.layers:
        y = layer.forward(x, training=True)
        dys = (rng.integers(-3, 4, y.shape), rng.standard_normal(y.shape))
        for dy in (*dys, dys[1].astype(np.float32)):
            expected = layer.backward(dy.astype(dtype))
            expected_grads = {k: v.copy() for k, v in layer.grads.items()}
            dx = layer.backward(dy)
            assert dx is None or dx.dtype == np.dtype(dtype), type(layer).__name__
            np.testing.assert_array_equal(dx, expected, err_msg=type(layer).__name__)
            for key, grad in layer.grads.items():
                np.testing.assert_array_equal(grad, expected_grads[key])
        x = y


@pytest.mark.parametrize("make", [layers.ReLU, layers.LeakyReLU, layers.Tanh, layers.Sigmoid,
                                  layers.Flatten])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_layer_never_built_takes_dy_in_the_inputs_dtype(make, dtype, rng):
    """A parameter-free layer used alone without build has no dtype of its own: its forward
    computes in the input's, and so does its backward (a float64 dx stays float64)."""
    layer = make()
    y = layer.forward(rng.standard_normal((4, 3, 2, 2)).astype(dtype), training=True)
    assert layer.backward(np.ones(y.shape, dtype)).dtype == np.dtype(dtype)


@pytest.mark.parametrize("make", ["dense_model", "conv_model", "conv_gap_model"])
def test_every_layer_takes_a_list_in_forward(make, rng):
    """Used on its own, every layer (the activations, Flatten and Dropout too, which have no
    input shape to check) takes a list as ``np.asarray`` of it, as predict does (they raised
    AttributeError or TypeError)."""
    import layer_zoo

    model = getattr(layer_zoo, make)()
    x = rng.random((3, *model.input_shape)).astype("float32")
    for layer in model.layers:
        y = layer.forward(x)
        np.testing.assert_array_equal(layer.forward(x.tolist()), layer.forward(np.asarray(x.tolist())))
        x = y


def test_a_layer_takes_a_list_or_a_pytorch_tensor_as_predict_does(torch):
    dense = layers.Dense(3)
    dense.build((4,), np.random.default_rng(0), "float32")
    x = [[1.0, 2.0, 3.0, 4.0], [0.5, 0.0, -1.0, 2.0]]
    expected = dense.forward(np.array(x, dtype=np.float32))
    np.testing.assert_array_equal(dense.forward(x), expected)
    np.testing.assert_array_equal(dense.forward(torch.tensor(x)), expected)
