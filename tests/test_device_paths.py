"""The GPU code path: every layer, loss, optimizer and zoo model, training, saving and the
CLI, on device arrays, against the CPU.

``device`` runs each test on a strict NumPy stand-in for CuPy (tests/fake_cupy.py: device
arrays that refuse implicit conversion to NumPy and mixing with host arrays), and also on
real CuPy where a GPU is present. The stand-in checks glassnet's device discipline on
every machine; only the real run checks CUDA itself.
"""

from __future__ import annotations

import operator
import re
import sys
import warnings

import numpy as np
import pytest

import fake_cupy
import glassnet as gn
from glassnet import backend, gradcheck, optimizers, zoo
from layer_zoo import conv_gap_model, conv_model, dense_model, layer_types, perturbed
from test_device import needs_gpu

# Every test runs on the stand-in; its real-GPU variant is always collected, and skips with
# the reason where there is no GPU (so a run's summary says what did not run).
DEVICES = ["fake-cupy", pytest.param("gpu", marks=needs_gpu)]


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch):
    """Run the test's device code on the stand-in (or real) CuPy; the CPU stays NumPy."""
    if request.param == "fake-cupy":
        monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setattr(backend, "_device", "cpu")
    return request.param


def on(device_name: str, build):
    """``build()`` run with ``device_name`` (``"cpu"`` or ``"gpu"``) as the current device."""
    with backend.using_device(device_name):
        return build()


def device_arrays(model) -> list:
    return [p for _, p, _ in model.parameters()]


def assert_on_device(model) -> None:
    """Every weight of ``model`` is a device array when the GPU is current (else NumPy)."""
    expected = sys.modules["cupy"] if backend.get_device() == "gpu" else np
    assert all(backend.array_module(p) is expected for p in device_arrays(model))


def test_every_device_test_has_a_real_gpu_variant_that_says_why_it_skips():
    """Without a GPU the real-CuPy variants are still collected, so that the summary lists
    them as skipped with the reason rather than leaving them out without a word."""
    gpu = DEVICES[-1]
    assert gpu.values == ("gpu",) and [mark.name for mark in gpu.marks] == ["skipif"]
    assert "no GPU here" in gpu.marks[0].kwargs["reason"]


# -- the stand-in itself: it must refuse what CuPy refuses, or the tests below prove nothing --
def test_the_stand_in_refuses_what_cupy_refuses(device):
    if device != "fake-cupy":
        pytest.skip("checks the stand-in")
    a = fake_cupy.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="mixed with CuPy arrays"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="mixed with CuPy arrays"):
        fake_cupy.maximum(a, np.ones(3))
    with pytest.raises(TypeError, match="mixed with CuPy arrays"):
        a[0] = np.ones(3)
    with pytest.raises(TypeError, match="format"):  # a house rule (CuPy formats via the host)
        f"{a.sum():.2f}"
    b = a.copy()
    with pytest.raises(TypeError, match="a Python int as the source fails in CuPy 13"):
        fake_cupy.copyto(b, 1, where=b > 2)
    fake_cupy.copyto(b, b.dtype.type(1), where=b > 2)  # a NumPy scalar is fine
    with pytest.raises(AttributeError, match="no attribute 'errstate'"):
        getattr(fake_cupy, "errstate")  # noqa: B009 - the attribute access is the test
    with pytest.raises(TypeError, match="mixed with CuPy arrays"):
        a * np.array(2.0)  # a 0-d NumPy array is an array to CuPy, not a scalar
    with pytest.raises(TypeError, match="mixed with CuPy arrays"):
        fake_cupy.where(a > 2, a, np.array(0.0))
    np.testing.assert_array_equal((a * np.float64(2)).get(), a.get() * 2)  # a NumPy scalar is fine
    with pytest.raises(TypeError):
        operator.index(a.sum())  # CuPy's arrays have no __index__
    with pytest.raises(TypeError, match="no implementation found"):
        np.median(a)  # not a function of the stand-in's list: as CuPy for one it lacks
    total = a.sum()
    assert backend.array_module(total) is fake_cupy and float(total) == 15.0
    view = a.reshape(-1)
    view += 1  # views share memory, as on the device
    np.testing.assert_array_equal(a.get(), np.arange(1.0, 7.0).reshape(2, 3))
    np.testing.assert_array_equal(backend.to_numpy(np.exp(a) * 2), np.exp(a.get()) * 2)


@pytest.mark.parametrize("error", ["cudaErrorNoDevice: no CUDA-capable device is detected",
                                   "cudaErrorInsufficientDriver: CUDA driver version is insufficient "
                                   "for CUDA runtime version", None])
def test_cupy_without_a_usable_gpu_is_one_clear_error(device, error, monkeypatch, capsys, tmp_path):
    """CuPy imports on a machine without a GPU or driver: the device is refused at once,
    not by a CUDA error at the first allocation (a traceback from the command line)."""
    from glassnet.cli import main

    if device != "fake-cupy":
        pytest.skip("models a machine without a GPU")
    monkeypatch.setattr(fake_cupy.cuda.runtime, "getDeviceCount", fake_cupy.no_device_count(error))
    message = f"no usable CUDA GPU: {error or 'CUDA finds 0 devices'}; use the device 'cpu'"
    with pytest.raises(gn.errors.ConfigError, match=f"^{re.escape(message)}$"):
        backend.set_device("gpu")
    assert backend.get_device() == "cpu"
    assert main(["train", "--device", "gpu", "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == f"glassnet train: error: {message}\n"
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("GLASSNET_DEVICE", "gpu")
    with pytest.raises(gn.errors.ConfigError, match=r"^\$GLASSNET_DEVICE='gpu': no usable CUDA GPU"):
        backend.get_device()


def test_a_gpu_that_cannot_run_cupys_kernels_is_one_clear_error(device, monkeypatch):
    """A GPU and a driver, but no CUDA Toolkit libraries where CuPy's pip wheel looks for them
    (NVRTC, cuBLAS): the first kernel failed deep inside a layer, with a traceback."""
    if device != "fake-cupy":
        pytest.skip("models a machine without the CUDA libraries")

    class CompileException(Exception):  # noqa: N818 - CuPy's name
        pass

    def no_nvrtc(*args, **kwargs):
        raise CompileException("libnvrtc.so.12: cannot open shared object file")

    monkeypatch.setattr(fake_cupy, "arange", no_nvrtc, raising=False)
    message = r"^the CUDA GPU cannot run CuPy's kernels \(CompileException: libnvrtc.so.12: .*\); is the CUDA"
    with pytest.raises(gn.errors.ConfigError, match=message):
        backend.set_device("gpu")
    assert backend.get_device() == "cpu"


def test_gradcheck_on_the_gpu_checks_the_losses_on_the_gpu(device, monkeypatch):
    """`glassnet gradcheck --device gpu` says it checks the CuPy path: its loss checks ran on
    NumPy arrays (the outputs were never moved to the device)."""
    seen = []
    for loss in (gn.losses.BinaryCrossEntropy, gn.losses.CategoricalCrossEntropy):
        forward = loss.forward
        monkeypatch.setattr(loss, "forward", lambda self, output, *rest, _f=forward:
                            seen.append(type(output).__module__) or _f(self, output, *rest))
    rows = on("gpu", gradcheck.run_standard_checks)
    assert max(error for *_, error in rows) < 1e-6
    assert seen and set(seen) == {type(on("gpu", lambda: backend.to_device(np.zeros(1)))).__module__}


def test_a_fit_that_tracks_no_accuracy_waits_for_no_count(device, rng):
    """The running accuracy was counted on every batch (a read that waits for the whole step
    on a GPU) and thrown away when the model tracks no accuracy."""
    only_on_the_stand_in(device)

    def build():
        model = gn.Sequential([gn.layers.Dense(4), gn.layers.Dense(2)], input_shape=(3,))
        model.compile("categorical_crossentropy", "sgd", metrics=[])
        return model

    model = on("gpu", build)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.integers(0, 2, 16)
    with fake_cupy.recording() as copies:
        on("gpu", lambda: model.fit(x, y, epochs=1, batch_size=4, verbose=0))
    assert ("to host", "int64", ()) not in copies
    assert copies.count(("to host", "float32", ())) >= 4  # each batch's loss


# -- every layer and every loss ------------------------------------------------------------------
@pytest.mark.parametrize("factory", [dense_model, conv_model, conv_gap_model])
def test_every_layer_trains_on_the_device_as_on_the_cpu(device, factory, rng):
    x = rng.integers(0, 256, (12, 3, 64, 64)).astype(np.uint8)
    y = rng.integers(0, 3 if factory is not conv_gap_model else 2, 12)
    loss = "binary_crossentropy" if factory is conv_gap_model else "categorical_crossentropy"
    results = {}
    for name in ("cpu", "gpu"):
        def train():
            # float64: the conv bias before BatchNorm has a zero gradient up to rounding,
            # which Adam would scale up differently for the GPU's other summation order
            model = perturbed(factory(dtype="float64"))
            model.set_preprocessing(scale=1 / 255)
            model.compile(loss=loss, optimizer="adam")
            history = model.fit(x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0)
            assert_on_device(model)
            return model, history.history
        model, history = on(name, train)
        # used with the CPU current again: the model's inputs still go where its weights are
        results[name] = (model.get_weights(), history, model.predict(x), model.evaluate(x, y))
    (w_cpu, h_cpu, p_cpu, e_cpu), (w_gpu, h_gpu, p_gpu, e_gpu) = results["cpu"], results["gpu"]
    assert isinstance(p_gpu, np.ndarray) and all(isinstance(v, float) for v in e_gpu.values())
    np.testing.assert_allclose(p_gpu, p_cpu, atol=1e-9)
    for key in w_cpu:
        np.testing.assert_allclose(w_gpu[key], w_cpu[key], atol=1e-9, err_msg=key)
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-9, err_msg=key)
    assert e_gpu.keys() == e_cpu.keys()


def test_the_three_models_cover_every_layer():
    covered = set().union(*(layer_types(f()) for f in (dense_model, conv_model, conv_gap_model)))
    assert set(gn.layers.LAYER_CLASSES) <= covered


def _one_dense_layer(loss: str, units: int, from_logits: bool):
    """A compiled float64 model of one Dense layer for ``loss`` (its output activation
    when the loss takes probabilities), on the device in use."""
    activation = None if from_logits else ("sigmoid" if units == 1 else "softmax")
    model = gn.Sequential([gn.layers.Dense(units, activation=activation)], input_shape=(4,), seed=3,
                          dtype="float64")
    model.compile(loss=gn.losses.get(loss, from_logits=from_logits), optimizer="sgd")
    return model


@pytest.mark.parametrize("loss,units,from_logits", [
    ("binary_crossentropy", 1, True), ("binary_crossentropy", 1, False),
    ("categorical_crossentropy", 3, True), ("categorical_crossentropy", 3, False),
    ("sparse_categorical_crossentropy", 3, True)])
def test_every_loss_on_the_device(device, loss, units, from_logits, rng):
    x, y = rng.standard_normal((10, 4)), rng.integers(0, max(units, 2), 10)
    values = {}
    for name in ("cpu", "gpu"):
        def evaluate():
            model = _one_dense_layer(loss, units, from_logits)
            model.fit(x, y, epochs=2, batch_size=5, verbose=0)
            assert_on_device(model)
            return model.evaluate(x, y)["loss"]
        values[name] = on(name, evaluate)
    assert values["gpu"] == pytest.approx(values["cpu"], rel=1e-12)


@pytest.mark.parametrize("loss,units,from_logits", [
    ("binary_crossentropy", 1, True), ("binary_crossentropy", 1, False),
    ("categorical_crossentropy", 3, True), ("categorical_crossentropy", 3, False)])
def test_class_weights_on_the_device(device, loss, units, from_logits, rng):
    """fit's class_weight (mini-batch and full batch, with the NaN guard's re-check) and
    train_on_batch's send each batch's sample weights to the device: the CPU's history."""
    x, y = rng.standard_normal((12, 4)), rng.integers(0, max(units, 2), 12)
    seen = {}
    for name in ("cpu", "gpu"):
        def train():
            model = _one_dense_layer(loss, units, from_logits)
            losses = model.fit(x, y, epochs=2, batch_size=5, verbose=0,
                               class_weight={1: 3.0}).history["loss"]
            losses += model.fit(x, y, epochs=1, batch_size=None, verbose=0,
                                class_weight="balanced").history["loss"]
            losses.append(model.train_on_batch(x, y, class_weight={0: 0.5}))
            assert_on_device(model)
            return losses
        seen[name] = on(name, train)
    np.testing.assert_allclose(seen["gpu"], seen["cpu"], rtol=1e-12)


# -- what crosses between host and device (each copy is a wait on a real GPU) --------------------
def only_on_the_stand_in(device) -> None:
    if device != "fake-cupy":
        pytest.skip("counts copies with the stand-in's recording()")


def test_dropout_sends_a_one_byte_mask_to_the_device(device, rng):
    """The mask is drawn on the host (the CPU's random stream), but only the boolean
    keep-mask travels: not a float mask the size of the activations."""
    only_on_the_stand_in(device)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    outputs = {}
    for name in ("cpu", "gpu"):
        layer = gn.layers.Dropout(0.4)
        layer.build(x.shape[1:], np.random.default_rng(0), np.float32)
        on_device = on(name, lambda: backend.to_device(x))
        with fake_cupy.recording() as copies:
            y = layer.forward(on_device, training=True)
            dx = layer.backward(y)
        assert copies == ([] if name == "cpu" else [("to device", "bool", x.shape)])
        outputs[name] = backend.to_numpy(y), backend.to_numpy(dx)
    for cpu, gpu in zip(outputs["cpu"], outputs["gpu"], strict=True):
        np.testing.assert_array_equal(gpu, cpu)


@pytest.mark.parametrize("loss,units", [("categorical_crossentropy", 3), ("binary_crossentropy", 1)])
def test_a_training_step_waits_for_the_device_only_for_its_loss(device, loss, units, rng):
    """Per batch only the inputs, labels and dropout mask go over, and only the loss and its
    L2 term come back: labels checked on the host are not checked again on the device
    (min/max: two waits), the L2 terms are summed there (one wait per layer), the
    preprocessing mean/std are not sent again with every batch."""
    only_on_the_stand_in(device)

    def build():
        model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dropout(0.3),
                               gn.layers.Dense(8, activation="relu"), gn.layers.Dense(units)],
                              input_shape=(5,), preprocessing={"mean": [0.5], "std": [2.0]})
        model.compile(loss, "adam", reg=1e-3)
        return model

    model = on("gpu", build)
    x = rng.integers(0, 256, (16, 5)).astype(np.uint8)
    y = model.check_labels(x, rng.integers(0, 2, 16))
    model.train_step(model.preprocess(x), model.on_device(y))  # Adam's moments are made
    with fake_cupy.recording() as copies:
        model.train_step(model.preprocess(x), model.on_device(y))
    assert copies == [("to device", "uint8", (16, 5)), ("to device", "int64", (16,)),
                      ("to device", "bool", (16, 8)),
                      ("to host", "float32", ()), ("to host", "float64", ())]


def test_the_l2_term_summed_on_the_device_is_the_cpus(device, rng):
    def build():
        model = gn.Sequential([gn.layers.Dense(7), gn.layers.Dense(5), gn.layers.Dense(3)],
                              input_shape=(4,), seed=3)
        model.compile("categorical_crossentropy", "sgd", reg=0.37)
        return model

    values = {name: on(name, lambda: build().regularization_loss()) for name in ("cpu", "gpu")}
    assert isinstance(values["gpu"], float) and values["gpu"] == values["cpu"] > 0


@pytest.mark.parametrize("loss,labels", [("binary_crossentropy", [0, 2, 1]),
                                         ("categorical_crossentropy", [0, 3, 1]),
                                         ("categorical_crossentropy", [0, 0.5, 1])])
def test_a_loss_called_with_bad_host_labels_says_so_whatever_the_outputs_device(device, loss, labels):
    units = 1 if loss == "binary_crossentropy" else 3
    outputs = on("gpu", lambda: backend.to_device(np.zeros((3, units))))
    with pytest.raises(gn.errors.ShapeError, match=r"got range \[0, [23]\]|with fractions"):
        gn.losses.get(loss).forward(outputs, np.array(labels))


def test_new_preprocessing_values_reach_the_device(device):
    model = on("gpu", lambda: gn.Sequential([gn.layers.Dense(2)], input_shape=(2,),
                                            preprocessing={"mean": [1.0, 2.0]}))
    x = np.array([[3.0, 4.0]])
    np.testing.assert_array_equal(backend.to_numpy(model.preprocess(x)), [[2.0, 2.0]])
    model.set_preprocessing(mean=[0.0, 1.0], std=[2.0])
    np.testing.assert_array_equal(backend.to_numpy(model.preprocess(x)), [[1.5, 1.5]])
    # another rank: another cached shape, (1, C, 1)
    np.testing.assert_array_equal(backend.to_numpy(model.preprocess(x.reshape(1, 2, 1))), [[[1.5], [1.5]]])
    # values assigned directly, as an array or a number, as before the cache (they failed with it)
    model.preprocessing["mean"] = np.array([1.0, 1.0])
    np.testing.assert_array_equal(backend.to_numpy(model.preprocess(x)), [[1.0, 1.5]])
    model.preprocessing["mean"] = 3.0
    np.testing.assert_array_equal(backend.to_numpy(model.preprocess(x)), [[0.0, 0.5]])


# -- every optimizer and schedule ---------------------------------------------------------------
OPTIMIZERS = [
    lambda: optimizers.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optimizers.SGD(lr=0.1, momentum=0.5, dampening=0.1),
    lambda: optimizers.AdaGrad(lr=0.1, lr_decay=0.01, weight_decay=1e-3),
    lambda: optimizers.RMSProp(lr=0.01, momentum=0.9, centered=True, weight_decay=1e-3),
    lambda: optimizers.Adam(lr=0.01, weight_decay=1e-3),
    lambda: optimizers.AdamW(lr=0.01),
]


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=lambda f: repr(f()))
def test_every_optimizer_on_the_device(device, make_optimizer, rng):
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    weights, slots = {}, {}
    for name in ("cpu", "gpu"):
        def train():
            model = gn.Sequential([gn.layers.Dense(8, activation="tanh"), gn.layers.Dense(3)],
                                  input_shape=(5,), seed=2, dtype="float64")
            model.compile(loss="categorical_crossentropy", optimizer=make_optimizer())
            model.fit(x, y, epochs=3, batch_size=4, verbose=0, lr_schedule="cosine")
            assert_on_device(model)
            return model.get_weights(), model.optimizer.state_dict()["arrays"]
        weights[name], slots[name] = on(name, train)
    for key in weights["cpu"]:
        np.testing.assert_allclose(weights["gpu"][key], weights["cpu"][key], rtol=1e-10, atol=1e-12)
    assert slots["gpu"].keys() == slots["cpu"].keys()
    assert all(isinstance(v, np.ndarray) for v in slots["gpu"].values())


def test_the_keras_callbacks_and_batch_methods_on_the_device(device, rng, tmp_path):
    """EarlyStopping, ReduceLROnPlateau, CSVLogger and LambdaCallback read the logs of a fit
    on the device (Python floats, not device scalars) and give the CPU's history, lr
    reductions and CSV log; test_on_batch and predict_on_batch give the CPU's numbers."""
    x, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    seen = {}
    for name in ("cpu", "gpu"):
        def train(log=tmp_path / f"{name}.csv"):
            model = gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dense(3)],
                                  input_shape=(5,), seed=2, dtype="float64")
            model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.SGD(lr=0.5))
            logged = []
            callbacks = [gn.training.EarlyStopping("val_loss", patience=6),
                         gn.training.ReduceLROnPlateau("val_loss", factor=0.5, patience=1),
                         gn.training.CSVLogger(str(log)),
                         gn.training.LambdaCallback(on_epoch_end=lambda e, logs: logged.append(
                             type(logs["val_loss"])))]
            history = model.fit(x, y, epochs=8, batch_size=8, validation_split=0.25, verbose=0,
                                callbacks=callbacks)
            assert_on_device(model)
            return {"history": history.history, "reductions": callbacks[1].reductions,
                    "logged": logged, "test": model.test_on_batch(x[:10], y[:10]),
                    "predict": model.predict_on_batch(x[:10])}
        seen[name] = on(name, train)
    cpu, gpu = seen["cpu"], seen["gpu"]
    assert gpu["logged"] and set(gpu["logged"]) == {float}
    assert gpu["history"].keys() == cpu["history"].keys()
    for key, values in cpu["history"].items():
        np.testing.assert_allclose(gpu["history"][key], values, rtol=1e-10)
    assert cpu["reductions"] and len(gpu["reductions"]) == len(cpu["reductions"])
    np.testing.assert_allclose(gpu["test"], cpu["test"], rtol=1e-10)
    assert isinstance(gpu["predict"], np.ndarray)
    np.testing.assert_allclose(gpu["predict"], cpu["predict"], rtol=1e-10)
    gpu_rows = (tmp_path / "gpu.csv").read_text().splitlines()
    cpu_rows = (tmp_path / "cpu.csv").read_text().splitlines()
    assert gpu_rows[0] == cpu_rows[0] and len(gpu_rows) == len(cpu_rows) > 1


def test_nothing_is_split_over_threads_on_the_device(device, rng):
    """A GPU runs the whole batch in parallel: fit, evaluate and predict with threads > 1
    take the unsplit path there, and give the CPU's numbers."""
    from glassnet.training.shards import uses_shards

    x, y = rng.standard_normal((64, 3, 16, 16)), rng.integers(0, 3, 64)
    results = {}
    for name in ("cpu", "gpu"):
        def train(on_cpu=name == "cpu"):
            model = conv_model((3, 16, 16), dtype="float64")
            model.compile(loss="categorical_crossentropy", optimizer="adam")
            assert uses_shards(model, 4) == on_cpu
            no_weights = gn.Sequential([gn.layers.MaxPool2D(2), gn.layers.Flatten()], input_shape=(3, 8, 8))
            assert uses_shards(no_weights, 4) == on_cpu  # it follows the current device
            with backend.using_threads(4):
                model.fit(x, y, epochs=2, batch_size=64, verbose=0)
                probabilities = model.predict(x)
            assert (model._shards != {}) == on_cpu
            return model.get_weights(), probabilities
        results[name] = on(name, train)
    np.testing.assert_allclose(results["gpu"][1], results["cpu"][1], rtol=1e-9, atol=1e-12)
    for key in results["cpu"][0]:
        np.testing.assert_allclose(results["gpu"][0][key], results["cpu"][0][key], rtol=1e-8, atol=1e-11)


# -- the zoo, augmentation, checkpoints, files ---------------------------------------------------
@pytest.mark.parametrize("name", zoo.names())
def test_every_zoo_model_trains_with_augmentation_on_the_device(device, name, rng):
    from glassnet.data import augment

    x = rng.integers(0, 256, (8, 3, 32, 32)).astype(np.uint8)
    y = rng.integers(0, 10, 8)
    predictions = {}
    for device_name in ("cpu", "gpu"):
        def train():
            model = zoo.build(name, (3, 32, 32), 10, seed=1)
            model.set_preprocessing(scale=1 / 255)
            model.compile(loss=zoo.loss_for(10), optimizer="adam")
            model.fit(x, y, epochs=1, batch_size=4, verbose=0, augment=augment.parse("flip,crop,jitter"))
            assert_on_device(model)
            return model.predict(x)
        predictions[device_name] = on(device_name, train)
    np.testing.assert_allclose(predictions["gpu"], predictions["cpu"], atol=1e-4)


@pytest.mark.parametrize("built_on", ["gpu", "cpu"])
def test_data_and_weights_given_on_the_device_are_taken_wherever_the_model_is(device, built_on, rng):
    """fit(x, y) with x and y on the GPU, with augmentation (NumPy functions: the batch goes
    to the host for them), and set_weights with arrays on the GPU ("Implicit conversion" before),
    give the numbers of host data."""
    from glassnet.data import augment

    x = rng.integers(0, 256, (12, 3, 8, 8)).astype(np.uint8)
    y = rng.integers(0, 3, 12)

    def build():
        model = gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(3)],
                              input_shape=(3, 8, 8), seed=4, dtype="float64",
                              preprocessing={"scale": 1 / 255})
        model.compile("categorical_crossentropy", "adam")
        return model

    results = {}
    for where in ("cpu", "gpu"):
        model = on(built_on, build)
        data = on(where, lambda: (backend.to_device(x), backend.to_device(y)))
        model.fit(*data, epochs=2, batch_size=4, verbose=0, augment=augment.parse("flip,crop,jitter"))
        results[where] = model.get_weights()
    for key in results["cpu"]:
        np.testing.assert_array_equal(results["gpu"][key], results["cpu"][key], err_msg=key)
    model = on(built_on, build)
    model.set_weights(on("gpu", lambda: {k: backend.to_device(v) for k, v in results["gpu"].items()}))
    assert {backend.device_of(p) for p in device_arrays(model)} == {built_on}
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(value, results["cpu"][key], err_msg=key)


def test_a_model_trained_on_the_device_saves_loads_and_resumes_anywhere(device, tmp_path, rng):
    from glassnet.io.checkpoint import read_checkpoint, restore_training_state, save_checkpoint
    from glassnet.training import EarlyStopping, ModelCheckpoint

    x, y = rng.standard_normal((20, 6)), rng.integers(0, 2, 20)

    def build():
        model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.BatchNorm(),
                               gn.layers.Dense(1)], input_shape=(6,), seed=0)
        model.compile(loss="binary_crossentropy", optimizer="adam")
        return model

    def train():
        model = build()
        callbacks = [ModelCheckpoint(tmp_path / "best.glassnet", save_best_only=True),
                     EarlyStopping(patience=5)]
        model.fit(x, y, epochs=3, batch_size=5, validation_data=(x, y), callbacks=callbacks, verbose=0)
        model.save(str(tmp_path / "model.glassnet"))
        save_checkpoint(model, tmp_path / "ckpt.glassnet")
        return model.predict(x)

    expected = on("gpu", train)
    np.testing.assert_allclose(gn.load_model(str(tmp_path / "model.glassnet")).predict(x), expected,
                               atol=1e-6)  # the file is device-independent
    on_gpu = on("gpu", lambda: gn.load_model(str(tmp_path / "model.glassnet")))
    on("gpu", lambda: assert_on_device(on_gpu))
    np.testing.assert_allclose(on_gpu.predict(x), expected, atol=1e-6)  # CPU current: still fine

    def resume():
        model = build()
        done = restore_training_state(model, read_checkpoint(tmp_path / "ckpt.glassnet"))
        model.fit(x, y, epochs=5, initial_epoch=done, batch_size=5, verbose=0)
        assert_on_device(model)
        return model.history.epoch

    assert on("gpu", resume) == [0, 1, 2, 3, 4]  # 3 epochs, then 2 more
    # the checkpoint records where the weights were, not what was current when it was saved,
    # and no threads: on a GPU nothing is split over them
    on_gpu.compile(loss="binary_crossentropy", optimizer="adam")
    save_checkpoint(on_gpu, tmp_path / "saved-from-cpu.glassnet")  # the CPU is current here
    state = read_checkpoint(tmp_path / "saved-from-cpu.glassnet").state
    assert (state["device"], state["threads"]) == ("gpu", None)
    assert state["sessions"] == [{"from_epoch": 0, "threads": None, "device": "gpu"}]  # so do its sessions


def _small_model(optimizer="adam"):
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(1)],
                          input_shape=(6,), seed=0)
    model.compile(loss="binary_crossentropy", optimizer=optimizer)
    return model


def assert_slots_beside_weights(model) -> None:
    """Every optimizer slot lives where its parameter does."""
    params = {name: p for name, p, _ in model.parameters()}
    assert model.optimizer.slots
    for name, slots in model.optimizer.slots.items():
        for slot in slots.values():
            assert backend.device_of(slot) == backend.device_of(params[name]), name


@pytest.mark.parametrize("built_on,current", [("gpu", "cpu"), ("cpu", "gpu")])
def test_a_checkpoint_resumes_where_the_weights_are_whatever_device_is_current(device, built_on, current,
                                                                               tmp_path, rng):
    """The optimizer's moments go back beside the weights, not to the current device (they
    went to the current one, and the next step mixed host and device arrays)."""
    from glassnet.io.checkpoint import read_checkpoint, restore_training_state, save_checkpoint

    x, y = rng.standard_normal((20, 6)), rng.integers(0, 2, 20)
    model = on(built_on, _small_model)
    model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    save_checkpoint(model, tmp_path / "ckpt.glassnet")
    resumed = on(built_on, _small_model)
    with backend.using_device(current):
        done = restore_training_state(resumed, read_checkpoint(tmp_path / "ckpt.glassnet"))
        assert_slots_beside_weights(resumed)
        resumed.fit(x, y, epochs=3, initial_epoch=done, batch_size=5, verbose=0)
    assert resumed.history.epoch == [0, 1, 2]


@pytest.mark.parametrize("built_on,current", [("gpu", "cpu"), ("cpu", "gpu")])
def test_after_the_nan_guard_put_the_weights_back_training_goes_on(device, built_on, current, rng):
    x, y = rng.standard_normal((20, 6)) * 100, rng.integers(0, 2, 20)
    model = on(built_on, lambda: _small_model(optimizers.SGD(lr=10, momentum=0.99)))
    with backend.using_device(current), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(gn.errors.NonFiniteLossError):
            model.fit(x, y, epochs=5, batch_size=5, verbose=0)
        assert_slots_beside_weights(model)
        model.optimizer.lr = 1e-6
        model.fit(x, y, epochs=1, batch_size=5, verbose=0)  # mixed host and device arrays here


def test_gradient_checks_pass_on_the_device(device):
    with backend.using_device("gpu"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = gradcheck.run_standard_checks()
    worst = max(rows, key=lambda row: row[2])
    assert worst[2] < 1e-6, worst


@pytest.mark.parametrize("built_on,current", [("gpu", "cpu"), ("cpu", "gpu")])
def test_gradient_checks_run_where_the_weights_are_whatever_device_is_current(device, built_on, current, rng):
    """check_layer's inputs and output gradient, and check_model's labels, went to the current
    device, not to the layer's (a NumPy array met CuPy arrays)."""
    layer = gn.layers.Conv2D(2, 3, padding="same")
    stack = gradcheck.Stack(gn.layers.Dense(3), gn.layers.ReLU(), gn.layers.Dense(2))
    on(built_on, lambda: layer.build((2, 5, 5), np.random.default_rng(0), np.float64))
    on(built_on, lambda: stack.build((4,), np.random.default_rng(0), np.float64))

    def build_model():
        model = gn.Sequential([gn.layers.Dense(3, activation="tanh"), gn.layers.Dense(3)],
                              input_shape=(4,), dtype="float64")
        model.compile("categorical_crossentropy", "sgd", reg=0.1)
        return model

    model = on(built_on, build_model)
    with backend.using_device(current):
        assert gradcheck.check_layer(layer, (2, 5, 5)).worst < 1e-6
        assert gradcheck.check_layer(stack, (4,)).worst < 1e-6
        assert gradcheck.check_model(model, rng.standard_normal((5, 4)), rng.integers(0, 3, 5)).worst < 1e-6
        assert gradcheck.check_layer(gn.layers.ReLU(), (4,)).worst < 1e-6  # no weights: the current device


def test_the_command_line_runs_on_the_device(device, cats, tmp_path, capsys):
    """train, evaluate, predict and search with --device gpu."""
    from PIL import Image

    from glassnet.cli import main

    run, photo = tmp_path / "run", tmp_path / "cat.png"
    Image.fromarray(cats["test"].x[0].transpose(1, 2, 0)).save(photo)
    assert main(["train", "--device", "gpu", "--hidden", "7", "--epochs", "3", "--batchnorm",
                 "--dropout", "0.2", "--quiet", "--out", str(run)]) == 0
    assert main(["evaluate", str(run / "model.glassnet"), "--device", "gpu"]) == 0
    assert main(["predict", str(run / "model.glassnet"), str(photo), "--device", "gpu"]) == 0
    assert main(["search", "--device", "gpu", "--hidden", "7", "--param", "lr=log:1e-3:1e-1",
                 "--trials", "2", "--epochs-per-trial", "2", "--out", str(tmp_path / "search")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and f"{photo}: " in out and "best: trial" in out
    assert re.search(r"^train it on train\+validation: glassnet train .* --device gpu$", out, re.M)
    assert (run / "report.html").is_file()
