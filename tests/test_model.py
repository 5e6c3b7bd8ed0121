"""The Sequential API end to end on small problems: build, fit, evaluate, predict, save."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.errors import ConfigError, NonFiniteLossError, ShapeError


def small_binary_problem(rng, n=120, d=6):
    x = rng.standard_normal((n, d))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def small_model(dtype="float64", seed=3, d=6):
    return gn.Sequential([gn.layers.Dense(8, activation="relu"), gn.layers.Dense(1)],
                         input_shape=(d,), seed=seed, dtype=dtype)


def test_float32_is_the_default():
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,))
    assert all(p.dtype == np.float32 for _, p, _ in model.parameters())


def test_fit_learns_a_separable_problem_and_evaluate_agrees(rng):
    x, y = small_binary_problem(rng)
    model = small_model()
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.5))
    history = model.fit(x, y, epochs=200, batch_size=None, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    result = model.evaluate(x, y)
    assert result["accuracy"] >= 0.95
    assert result["accuracy"] == pytest.approx(np.mean(model.predict_classes(x) == y))
    assert result["loss"] == pytest.approx(history.history["loss"][-1], rel=0.05)
    assert model.evaluate(x, y, return_dict=False) == [result["loss"], result["accuracy"]]  # Keras' form
    model.compile(loss="binary_crossentropy", metrics=None)
    assert model.evaluate(x, y, return_dict=False) == result["loss"]  # the loss alone, as in Keras
    with pytest.raises(ConfigError, match="return_dict"):
        model.evaluate(x, y, return_dict="no")


def test_same_seed_gives_the_same_history(rng):
    x, y = small_binary_problem(rng)
    runs = []
    for _ in range(2):
        model = small_model()
        model.compile(optimizer=gn.optimizers.Adam(lr=0.01))
        runs.append(model.fit(x, y, epochs=5, batch_size=16, verbose=0).history["loss"])
    assert runs[0] == runs[1]


def test_predict_single_sample_and_batch_agree(rng):
    x, _ = small_binary_problem(rng, n=10)
    model = small_model()
    model.compile()
    batch = model.predict(x)
    assert batch.shape == (10, 1)
    assert np.all((batch > 0) & (batch < 1))
    np.testing.assert_allclose(model.predict(x[3]), batch[3])


def test_wrong_input_shape_is_a_clear_error(rng):
    model = small_model()
    model.compile()
    with pytest.raises(ShapeError, match=r"expects inputs of shape \(N, 6\), got \(4, 5\)"):
        model.predict(np.zeros((4, 5)))


def test_one_dimensional_inputs_are_told_to_give_a_batch():
    """One feature as a plain column of values, (50,): an unbuilt model said "input_shape
    must be positive sizes, got ()", a built one gave no hint."""
    x = np.linspace(-1, 1, 50)
    y = (x > 0).astype(int)
    unbuilt = gn.Sequential([gn.layers.Dense(1)])
    unbuilt.compile()
    with pytest.raises(ShapeError, match=r"the inputs must be a batch \(N, features\), got shape "
                                         r"\(50,\): x\.reshape\(-1, 1\) for one feature"):
        unbuilt.fit(x, y, epochs=1, verbose=0)
    assert not unbuilt.built
    built = gn.Sequential([gn.layers.Dense(1)], input_shape=(1,))
    built.compile()
    with pytest.raises(ShapeError, match=r"expects inputs of shape \(N, 1\), got \(50,\); give a "
                                         r"batch \(N, features\): x\.reshape\(-1, 1\) for one feature"):
        built.fit(x, y, epochs=1, verbose=0)
    assert built.predict(x[:1]).shape == (1,)  # (1,) is one sample of this model: no batch needed
    unbuilt.fit(x.reshape(-1, 1), y, epochs=1, verbose=0)


def test_a_column_of_flattened_samples_is_told_the_models_own_shape():
    """The one-feature hint only where the model takes one feature: a (N*D,) column for a
    model of input (D,) or (C, H, W) is told that shape, and a size that is no multiple of
    a sample's gets no hint at all (x.reshape(-1, 1) would be refused again)."""
    dense = gn.Sequential([gn.layers.Dense(2)], input_shape=(4,))
    with pytest.raises(ShapeError, match=r"got \(8,\); give a batch: x\.reshape\(-1, 4\) \(2 samples\)$"):
        dense.predict(np.zeros(8, "float32"))
    with pytest.raises(ShapeError, match=r"expects inputs of shape \(N, 4\), got \(7,\)$"):
        dense.predict(np.zeros(7, "float32"))
    conv = gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(2)],
                         input_shape=(3, 8, 8))
    with pytest.raises(ShapeError, match=r"x\.reshape\(-1, 3, 8, 8\) \(1 sample\)$"):
        conv.predict(np.zeros(192, "float32"))


def test_weights_that_do_not_fit_in_memory_name_the_layer(monkeypatch):
    """cnn-keras at 1536 pixels: its Dense layer after Flatten asks for 36 GiB."""
    from glassnet.errors import OutOfMemoryError

    def unable(shape, fan_in, fan_out, rng):
        raise MemoryError(f"Unable to allocate 36.0 GiB for an array with shape {shape}")

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(512, kernel_initializer=unable)])
    with pytest.raises(OutOfMemoryError, match=r"^layer 1 \(Dense\) for inputs \(N, 9437184\) "
                       r"needs 4,831,838,720 weights \(36\.0 GiB as float32 with their gradients, "
                       r"72\.0 GiB at once while they are drawn in float64\): there was not enough "
                       r"memory \(Unable to allocate 36\.0 GiB .*\); use smaller images, or pool them "
                       r"smaller before Flatten, or fewer than 512 units$"):
        model.build((3, 1536, 2048))
    assert not model.built

    class OOMTestBig(gn.layers.Layer):  # no array_shapes: its weights' size is not known
        def build(self, input_shape, rng, dtype):
            raise MemoryError("Unable to allocate 728. TiB")

    try:
        with pytest.raises(OutOfMemoryError, match=r"^layer 0 \(OOMTestBig\) for inputs \(N, 3\) "
                                                   r"could not create its weights: there was not "
                                                   r"enough memory \(Unable to allocate 728\. TiB\)"):
            gn.Sequential([OOMTestBig()], input_shape=(3,))
    finally:
        gn.layers.LAYER_CLASSES.pop("OOMTestBig", None)


@pytest.mark.parametrize("scale, divide, message", [
    (1.0, False, r"the training inputs reach 25\d after the model's preprocessing \(scale 1\): raw "
                 r"pixel values\?"),
    ({"scale": 1.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}, False,
     r"the training inputs reach 1\d\d\d(\.\d+)? after the model's preprocessing"),  # ImageNet's, for 0..1
    (1 / 255, True, r"the training inputs are at most 0\.0039 after the model's preprocessing "
                    r"\(scale 0\.00392157\): scaled twice"),
])
def test_raw_or_twice_scaled_pixels_are_warned_about(rng, scale, divide, message):
    """The course's mistakes: both train a ReLU net to 'always the commoner class' silently."""
    from glassnet.errors import GlassnetWarning

    pixels = rng.integers(0, 256, (40, 3, 4, 4), dtype=np.uint8)
    y = rng.integers(0, 2, 40)
    preprocessing = scale if isinstance(scale, dict) else {"scale": scale}
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], preprocessing=preprocessing)
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    with pytest.warns(GlassnetWarning, match=message) as caught:
        model.fit(pixels / 255.0 if divide else pixels, y, epochs=1, verbose=0)
    assert caught[0].filename == __file__  # said where fit was called
    right = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], preprocessing={"scale": 1 / 255})
    right.compile(loss="binary_crossentropy", optimizer="sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right.fit(pixels, y, epochs=1, verbose=0)


@pytest.mark.parametrize("preprocessing, make", [
    ({"mean": [125.3, 123.0, 113.9]}, lambda p: p),        # CS231n: mean-subtracted raw pixels
    ({"scale": 1 / 255}, lambda p: (p > 128).astype(np.uint8)),  # 0/1 masks: dark, not scaled twice
], ids=["mean-subtracted raw pixels", "uint8 masks"])
def test_legitimate_input_scales_are_not_warned_about(rng, preprocessing, make):
    pixels = make(rng.integers(0, 256, (40, 3, 4, 4), dtype=np.uint8))
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], preprocessing=preprocessing)
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    with warnings.catch_warnings():
        warnings.simplefilter("error", gn.errors.GlassnetWarning)
        model.fit(pixels, rng.integers(0, 2, 40), epochs=1, verbose=0)


def test_a_model_collapsed_to_one_class_is_warned_about(cats):
    """The course's net at lr 0.75 (100 times the course's): every ReLU dies and it answers
    'non-cat' for every image, 0.34 on the test set, and nothing said so."""
    from glassnet.errors import GlassnetWarning
    from glassnet.run_setup import build_model
    from glassnet.runs import RunConfig

    def course_net(lr, epochs):
        model = build_model(RunConfig(dataset="cats", model="mlp", hidden=[20, 7, 5]), cats["train"])
        model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=lr))
        model.fit(cats["train"].x, cats["train"].y, epochs=epochs, batch_size=None, verbose=0)

    with pytest.warns(GlassnetWarning, match=r"answers class 'non-cat' for every sample of its last "
                                             r"batch, though 34% of them are of other classes") as caught:
        course_net(0.75, 300)
    assert caught[0].filename.endswith("test_model.py")  # the user's line, not glassnet's
    with warnings.catch_warnings():  # one epoch of the course's lr: not collapsed, just young
        warnings.simplefilter("error")
        course_net(0.0075, 1)
    # the course's week 2: logistic regression from zero weights, one full-batch step; the
    # step's outputs (before its update) are all equal, the trained model's are not
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1, kernel_initializer="zeros")],
                          preprocessing={"scale": 1 / 255})
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.005))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(cats["train"].x, cats["train"].y, epochs=1, batch_size=None, verbose=0)


def test_the_courses_layouts_get_a_hint(rng):
    """The course's X: (12288, m), Y: (1, m); HDF5 and Keras images (N, H, W, C)."""
    from glassnet.data import Dataset
    from glassnet.errors import GlassnetWarning

    flat = gn.Sequential([gn.layers.Dense(1)], input_shape=(12,))
    flat.compile(loss="binary_crossentropy", optimizer="sgd")
    x, y = rng.standard_normal((30, 12)), np.arange(30) % 2
    with pytest.raises(ShapeError, match=r"got \(12, 30\); one sample per column, as in the "
                                         r"course\? give x\.T, of shape \(30, 12\)$"):
        flat.fit(x.T, y, epochs=1, verbose=0)
    with pytest.raises(ShapeError, match=r"y has shape \(1, 30\); give one label per sample, as "
                                         r"\(N,\): y\.ravel\(\)$"):
        flat.fit(x, y[None], epochs=1, verbose=0)
    with pytest.raises(ShapeError, match=r"give the arrays of a Dataset: fit\(data\.x, data\.y\)"):
        flat.fit(Dataset(x, y, ["a", "b"]), None, epochs=1, verbose=0)
    pair = (r"a tuple of arrays of different shapes \(\(30, 12\), \(30,\)\), not one batch of samples "
            r"of one shape; to give labels with them, give the inputs and the labels separately")
    for call in (lambda: flat.fit((x, y), epochs=1, verbose=0), lambda: flat.evaluate((x, y)),
                 lambda: flat.predict((x, y))):
        with pytest.raises(ShapeError, match=pair):
            call()
    assert flat.predict([x[0], x[1]]).shape == (2, 1)  # a list of samples is a batch
    images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)  # channels last
    conv = gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(1)],
                         input_shape=(3, 8, 8))
    with pytest.raises(ShapeError, match=r"got \(4, 8, 8, 3\); images with the channels last "
                                         r"\(N, H, W, C\)\? give x\.transpose\(0, 3, 1, 2\)$"):
        conv.predict(images)
    wide = gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(1)],
                         input_shape=(3, 8, 12))  # not square: (8, 12, 3), not reversed (12, 8, 3)
    with pytest.raises(ShapeError, match=r"got \(4, 8, 12, 3\); images with the channels last"):
        wide.predict(np.zeros((4, 8, 12, 3), np.uint8))
    with pytest.warns(GlassnetWarning, match=r"built for images \(C, H, W\) = \(8, 8, 3\): 8 "
                                             r"channels of 8x3 pixels; if they are \(H, W, C\)") as caught:
        gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(1)],
                      input_shape=(8, 8, 3))
    assert caught[0].filename == __file__
    conv = gn.Sequential([gn.layers.Conv2D(2, 3), gn.layers.Flatten(), gn.layers.Dense(1)])
    conv.compile(loss="binary_crossentropy", optimizer="sgd")
    with pytest.warns(GlassnetWarning, match=r"\(C, H, W\) = \(8, 8, 3\)") as caught:
        conv.fit(images.astype(np.float64) / 255, np.arange(4) % 2, epochs=1, verbose=0)
    assert caught[0].filename == __file__  # through fit and build, still the user's line
    with warnings.catch_warnings():  # a dense net flattens either layout; 12 channels of a
        warnings.simplefilter("error")  # signal 1000 long is not an image
        gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(8, 8, 3))
        gn.Sequential([gn.layers.Conv2D(2, (3, 1)), gn.layers.Flatten(), gn.layers.Dense(1)],
                      input_shape=(12, 1000, 1))


def test_forward_refuses_inputs_that_were_not_preprocessed(rng):
    """The course's loop written by hand: uint8 pixels went in unscaled (cost 62, not 0.77)."""
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(3, 4, 4),
                          preprocessing={"scale": 1 / 255})
    pixels = rng.integers(0, 256, (2, 3, 4, 4), dtype=np.uint8)
    with pytest.raises(ShapeError, match=r"forward takes preprocessed inputs, got uint8 values: "
                                         r"call model\.preprocess\(x\) first"):
        model.forward(pixels, training=True)
    assert model.forward(model.preprocess(pixels)).shape == (2, 1)


def test_label_count_mismatch_is_a_clear_error(rng):
    x, y = small_binary_problem(rng, n=20)
    model = small_model()
    model.compile()
    with pytest.raises(ShapeError, match=r"20 samples but y has shape \(19,\)"):
        model.evaluate(x, y[:19])


def softmax_model(classes=3, d=6):
    model = gn.Sequential([gn.layers.Dense(classes)], input_shape=(d,), seed=1, dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer=gn.optimizers.SGD(lr=0.1))
    return model


def test_one_hot_labels_train_and_score_like_class_indices(rng):
    x = rng.standard_normal((30, 6))
    y = rng.integers(0, 3, 30)
    runs = []
    for labels in (y, np.eye(3)[y]):
        model = softmax_model()
        history = model.fit(x, labels, epochs=3, batch_size=10, verbose=0,
                            validation_data=(x, labels))
        runs.append((history.history["loss"], model.evaluate(x, labels)))
    assert runs[0] == runs[1]


def test_binary_labels_may_be_a_column_or_whole_floats(rng):
    x, y = small_binary_problem(rng, n=20)
    model = small_model()
    model.compile()
    expected = model.evaluate(x, y)
    assert model.evaluate(x, y[:, None]) == expected
    assert model.evaluate(x, y.astype(np.float32)) == expected
    assert model.evaluate(x, y.astype(bool)) == expected


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0, 1, 2, 1]), r"in \[0, 1\] for this model's 2 classes, got range \[0, 2\]"),
    (np.array([0, 1, -1, 1]), r"got range \[-1, 1\]"),
    (np.array([0.0, 0.5, 1.0, 1.0]), "whole class indices, got 0.5"),
    (np.array([0.0, np.nan, 1.0, 1.0]), "whole class indices, got nan"),
    (np.array(["cat", "dog", "cat", "dog"]), r"class indices \(integers\), got <U3 values"),
    (np.zeros((4, 2, 2)), r"class indices \(N,\) or one-hot rows \(N, 2\)"),
])
def test_labels_a_binary_model_cannot_learn_are_refused(rng, labels, message):
    x, _ = small_binary_problem(rng, n=4)
    model = small_model()
    model.compile()
    with pytest.raises(ShapeError, match=message):
        model.fit(x, labels, epochs=1, verbose=0)
    with pytest.raises(ShapeError, match=message):
        model.evaluate(x, labels)


def test_soft_or_wrong_width_label_rows_are_refused(rng):
    x = rng.standard_normal((4, 6))
    model = softmax_model()
    with pytest.raises(ShapeError, match="must be one-hot rows"):
        model.fit(x, np.full((4, 3), 1 / 3), epochs=1, verbose=0)
    with pytest.raises(ShapeError, match=r"one-hot rows \(N, 3\), got shape \(4, 4\)"):
        model.evaluate(x, np.eye(4))
    for rows in ([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]],  # two classes in a row
                 [[0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]):  # none
        with pytest.raises(ShapeError, match="must be one-hot rows"):
            model.evaluate(x, np.array(rows))
    with pytest.raises(ShapeError, match="must be in"):
        model.fit(x, np.array([0, 1, 3, 2]), epochs=1, verbose=0,
                  validation_data=(x, np.array([0, 1, 2, 2])))
    with pytest.raises(ShapeError, match="must be in"):  # the validation labels are checked too
        model.fit(x, np.array([0, 1, 2, 2]), epochs=1, verbose=0,
                  validation_data=(x, np.array([0, 1, 3, 2])))


def test_fit_before_compile_is_a_clear_error(rng):
    x, y = small_binary_problem(rng, n=20)
    with pytest.raises(ConfigError, match="compile the model first"):
        small_model().fit(x, y, epochs=1, verbose=0)


@pytest.mark.filterwarnings("ignore::glassnet.errors.GlassnetWarning")  # inputs of 1e3, on purpose
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_training_stops_and_keeps_the_last_good_weights(rng):
    x, y = small_binary_problem(rng)
    x = x * 1e3
    model = small_model()
    model.compile(optimizer=gn.optimizers.SGD(lr=1e6))
    with pytest.raises(NonFiniteLossError, match="epoch") as info:
        model.fit(x, y, epochs=50, batch_size=None, verbose=0)
    assert info.value.epoch >= 1
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights.values())


def test_summary_lists_layers_and_parameter_counts():
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(20, activation="relu"),
                           gn.layers.Dense(1)], input_shape=(3, 4, 4))
    text = model.summary(print_fn=None)
    assert "Flatten" in text and "Dense" in text
    assert "(None, 48)" in text and "(None, 20)" in text
    total = 48 * 20 + 20 + 20 + 1
    assert f"{total:,}" in text
    printed = []
    assert model.summary(print_fn=printed.append) is None  # as Keras: a notebook shows it once
    assert printed == [text]
    assert "channels" not in text  # no image shapes: nothing to explain
    conv = gn.Sequential([gn.layers.Conv2D(4, 3), gn.layers.Flatten(), gn.layers.Dense(1)],
                         input_shape=(3, 8, 8)).summary(print_fn=None)
    assert "(None, 4, 6, 6)" in conv
    assert conv.endswith("Image shapes are (None, channels, height, width).")


def test_summary_counts_a_batchnorms_running_statistics_in_its_row_as_keras_does():
    """BatchNorm(4): gamma and beta trainable, the running mean and variance not: 16 in its
    row, 8 of them in the non-trainable total."""
    model = gn.Sequential([gn.layers.Dense(4, use_bias=False), gn.layers.BatchNorm(),
                           gn.layers.Dense(1, name="out")], input_shape=(3,))
    assert model.summary(print_fn=None) == "\n".join([
        'Model: "sequential"',
        "=" * 46,
        "Layer (type)             Output Shape  Param #",
        "-" * 46,
        "dense_0 (Dense)          (None, 4)          12",
        "batchnorm_1 (BatchNorm)  (None, 4)          16",
        "out (Dense)              (None, 1)           5",
        "=" * 46,
        "Total params: 33",
        "Trainable params: 25",
        "Non-trainable params: 8"])


@pytest.mark.parametrize("shape", [(5, 3), (5, 3, 2, 2)], ids=["features", "images"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_preprocess_is_scale_then_mean_then_std_whatever_the_inputs_dtype_and_rank(shape, dtype, rng):
    """uint8 and float32 inputs are converted first (then scaled in place), float64 ones are
    scaled in a new array: each path applies every value, per channel (axis 1)."""
    layers = [gn.layers.Dense(2)] if len(shape) == 2 else [gn.layers.Flatten(), gn.layers.Dense(2)]
    model = gn.Sequential(layers, input_shape=shape[1:], dtype="float64",
                          preprocessing={"scale": 1 / 255, "mean": [0.1, 0.5, 0.9], "std": [0.2, 0.3, 0.4]})
    x = rng.integers(0, 256, shape).astype(dtype)
    channels = (1, 3) + (1,) * (len(shape) - 2)
    expected = (x.astype(np.float64) / 255 - np.reshape([0.1, 0.5, 0.9], channels)) / np.reshape(
        [0.2, 0.3, 0.4], channels)
    np.testing.assert_allclose(model.preprocess(x), expected, rtol=1e-12)


def test_an_input_shape_with_a_zero_size_is_refused():
    for layers in ([gn.layers.Dense(2)], [gn.layers.Flatten(), gn.layers.Dense(2)]):
        with pytest.raises(ShapeError, match=r"^input_shape must be positive sizes, got \(3, 0, 8\)$"):
            gn.Sequential(layers, input_shape=(3, 0, 8))


def test_save_and_load_give_identical_predictions(tmp_path, rng):
    x, y = small_binary_problem(rng)
    model = small_model()
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    path = tmp_path / "m.glassnet"
    model.save(str(path))
    loaded = gn.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()


def test_validation_split_adds_val_metrics_to_history(rng):
    x, y = small_binary_problem(rng, n=100)
    model = small_model()
    model.compile(optimizer=gn.optimizers.SGD(lr=0.1))
    history = model.fit(x, y, epochs=3, batch_size=20, validation_split=0.2, verbose=0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert len(history.history[key]) == 3


def test_softmax_model_predicts_probability_rows(rng):
    x = rng.standard_normal((30, 4))
    y = rng.integers(0, 3, 30)
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,), dtype="float64")
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    probs = model.predict(x)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict_classes(x), probs.argmax(axis=1))


def test_full_batch_shortcut_gives_the_same_history_as_one_unshuffled_batch(rng):
    x = rng.integers(0, 256, (40, 3, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 2, 40)
    histories = []
    for batch_size in (None, 40):
        model = gn.Sequential([gn.layers.Flatten(channels_last=True),
                               gn.layers.Dense(5, activation="relu"), gn.layers.Dense(1)],
                              input_shape=(3, 4, 4), seed=2, dtype="float64",
                              preprocessing={"scale": 1 / 255})
        model.compile(optimizer=gn.optimizers.SGD(lr=0.1))
        assert model.fixed_prefix() == 1
        histories.append(model.fit(x, y, epochs=5, batch_size=batch_size, shuffle=False,
                                   verbose=0).history["loss"])
    assert histories[0] == histories[1]


def test_full_batch_training_runs_a_leading_parameter_free_layer_with_state_every_epoch(rng):
    """Only layers whose output depends on the input alone are computed once for full-batch
    training: one that keeps state (a running statistic) must see every epoch's pass."""

    class CountsPasses(gn.layers.Layer):
        def build(self, input_shape, rng, dtype):
            shape = super().build(input_shape, rng, dtype)
            self.state = {"passes": np.zeros(1, dtype=self.dtype)}
            return shape

        def forward(self, x, training=False):
            if training:
                self.state["passes"] += 1
            return x

        def backward(self, dy):
            return dy

    try:
        x, y = small_binary_problem(rng, n=20)
        model = gn.Sequential([CountsPasses(), gn.layers.Dense(1)], input_shape=(6,), dtype="float64")
        model.compile("binary_crossentropy", "sgd")
        model.fit(x, y, epochs=3, batch_size=None, verbose=0)
        assert model.fixed_prefix() == 0 and model.layers[0].state["passes"][0] == 3
    finally:
        gn.layers.LAYER_CLASSES.pop("CountsPasses", None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_never_change_the_callers_array(rng, dtype):
    """Preprocessing scales a copy: the input array given to predict/evaluate stays as it was."""
    model = small_model(dtype=dtype)
    model.compile("binary_crossentropy", "sgd")
    model.set_preprocessing(scale=0.5)
    x, y = small_binary_problem(rng, n=10)
    x = x.astype(dtype)
    before = x.copy()
    model.predict(x)
    model.evaluate(x, y)
    np.testing.assert_array_equal(x, before)


def test_course_stream_weights_are_c_ordered_and_gradient_checked(rng):
    """The course's legacy init stream draws W transposed; stored W is still C-ordered, so
    the model-level gradient check perturbs the real weights (a copy would report 1.0)."""
    model = gn.Sequential([gn.layers.Dense(5, activation="relu"), gn.layers.Dense(1)],
                          input_shape=(4,), seed=1, dtype="float64", init_stream="legacy")
    model.compile("binary_crossentropy", "sgd")
    assert all(p.flags["C_CONTIGUOUS"] for _, p, _ in model.parameters())
    x, y = small_binary_problem(rng, n=8, d=4)
    assert gn.check_model(model, x, y).worst < 1e-6


@pytest.mark.parametrize("stream", ["legacy", "generator"])
def test_dropout_leaves_the_other_layers_initial_weights_as_they_were(stream):
    """Dropout drew its generator's seed from the weight-initialization stream, so every
    layer after it started from other weights: the course's networks were no longer the
    course's "weight for weight" once dropout was added."""
    def weights(dropout: bool) -> list[np.ndarray]:
        hidden = [[gn.layers.Dense(5, activation="relu", kernel_initializer="lecun")]
                  + ([gn.layers.Dropout(0.14)] if dropout else []) for _ in range(2)]
        model = gn.Sequential([*hidden[0], *hidden[1], gn.layers.Dense(1, kernel_initializer="lecun")],
                              input_shape=(12,), seed=3, dtype="float64", init_stream=stream)
        return [layer.params["W"] for layer in model.layers if layer.params]

    plain, with_dropout = weights(False), weights(True)
    for a, b in zip(plain, with_dropout, strict=True):
        np.testing.assert_array_equal(a, b)
    if stream == "legacy":  # the course's draws: randn(out, in) / sqrt(in), layer by layer
        np.random.seed(3)
        for W, (fan_out, fan_in) in zip(with_dropout, [(5, 12), (5, 5), (1, 5)], strict=True):
            np.testing.assert_array_equal(W.T, np.random.randn(fan_out, fan_in) / np.sqrt(fan_in))


def test_two_dropout_layers_draw_different_masks():
    model = gn.Sequential([gn.layers.Dropout(0.5), gn.layers.Dropout(0.5)], input_shape=(1000,), seed=0)
    x = np.ones((1, 1000))
    first, second = (layer.forward(x, training=True) for layer in model.layers)
    assert not np.array_equal(first, second)


def test_the_legacy_stream_refuses_seeds_randomstate_cannot_take():
    with pytest.raises(ConfigError, match=r"legacy init stream .* below 2\*\*32, got 4294967296"):
        gn.Sequential([gn.layers.Dense(1)], input_shape=(2,), seed=2**32, init_stream="legacy")


def test_no_samples_is_a_clear_error(rng):
    x, y = small_binary_problem(rng, n=4)
    model = small_model()
    model.compile()
    for call in (lambda: model.fit(x[:0], y[:0], epochs=1, batch_size=None, verbose=0),
                 lambda: model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:0], y[:0])),
                 lambda: model.evaluate(x[:0], y[:0])):
        with pytest.raises(ShapeError, match="hold no samples"):
            call()


@pytest.mark.parametrize("kwargs,message", [
    ({"mean": [0.5, 0.5]}, r"mean has 2 values but the inputs \(3, 4, 4\) have 3 channels"),
    ({"std": [1.0] * 4}, "std has 4 values"),
    ({"mean": [0.5, float("nan"), 0.5]}, "mean must be a list of finite numbers"),
    ({"std": [1.0, float("inf"), 1.0]}, "std must be a list of finite numbers"),
    ({"mean": "0.5"}, "mean must be a list of finite numbers"),
    ({"mean": []}, "mean must be a list of finite numbers"),
    ({"std": [1.0, 0.0, 1.0]}, "std must be positive"),
    ({"scale": True}, "scale must be a positive number"),
    ({"mean": [[1, 2], [3]]}, "mean must be a list of finite numbers"),
])
def test_preprocessing_that_cannot_fit_the_inputs_is_refused_when_set(kwargs, message):
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4))
    with pytest.raises(ConfigError, match=message):
        model.set_preprocessing(**kwargs)
    assert model.preprocessing == {"scale": 1.0, "mean": None, "std": None}  # unchanged
    # ... and when the model is built later, before any prediction could fail on it
    late = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)])
    with pytest.raises(ConfigError, match=message):
        late.set_preprocessing(**kwargs)
        late.build((3, 4, 4))


@pytest.mark.parametrize("kwargs,message", [
    ({"mean": [1e39]}, r"preprocessing mean 1e\+39 is not a number the model's float32 can hold \(its "
                       r"means must be at most 3.4e\+38 in size\); or make the model float64"),
    ({"std": [1.0, 1e-46, 1.0]}, r"std 1e-46 is not .* float32 .*\(its scale and std must be 1.18e-38 to "),
    ({"std": [1e-40]}, "std 1e-40 is not"),  # float32 would keep a few of its digits: not 0, not right
    ({"std": [1e39]}, r"std 1e\+39 is not"),
    ({"scale": 1e-39}, "scale 1e-39 is not"),
])
def test_preprocessing_the_models_dtype_cannot_hold_is_refused(kwargs, message):
    """In float32 a std of 1e-46 is 0 (every input divided by zero) and a mean of 1e39 is
    infinite: predict gave NaN probabilities, fit blamed the initial weights."""
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4))
    with pytest.raises(ConfigError, match=message):
        model.set_preprocessing(**kwargs)
    with pytest.raises(ConfigError, match=message):
        gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4), preprocessing=kwargs)
    wide = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4), dtype="float64")
    wide.set_preprocessing(**kwargs)  # float64 holds them all


def test_inputs_the_preprocessing_makes_infinite_are_refused_by_fit_evaluate_and_predict(rng):
    """Each value may be fine and the product not: pixels times a scale of 1e37 pass 3.4e38
    in float32 (fit blamed the initial weights for the non-finite loss)."""
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,), preprocessing={"scale": 1e37})
    model.compile("categorical_crossentropy", "sgd")
    small, large = np.array([[0.0, 1.0, 2.0]] * 4), np.array([[0.0, -40.0, 2.0]] * 4)
    y = np.array([0, 1, 0, 1])
    message = (r"x reaches 4e\+38 after the model's preprocessing \(x \* scale - mean\) / std, beyond "
               r"float32's range \(±3.4e\+38\), the model's: it would become infinite")
    for call in (lambda: model.fit(large, y, verbose=0), lambda: model.evaluate(large, y),
                 lambda: model.predict(large), lambda: model.predict(large.astype(np.int64)),
                 lambda: model.fit(small, y, validation_data=(large, y), verbose=0)):
        with pytest.raises(ConfigError, match=message.replace("x reaches", ".*x reaches")):
            call()
    assert np.isfinite(model.predict(small)).all()  # 2e37: within range
    # an infinite value is the data's fault, said as such (not blamed on the preprocessing)
    bad = small.copy()
    bad[1, 2] = np.inf
    for call in (lambda: model.predict(bad), lambda: model.fit(bad, y, verbose=0)):
        with pytest.raises(ConfigError, match="^x holds NaN or infinite values; clean the data first"):
            call()
    # the mean and std count too, at each step: (x * 1e37 - (-3e38)) / 0.5
    shifted = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,),
                            preprocessing={"scale": 1e37, "mean": [-3e38], "std": [0.5]})
    with pytest.raises(ConfigError, match=r"x reaches 6.4e\+38"):
        shifted.predict(small)


def test_assigning_preprocessing_is_set_preprocessing(rng):
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 2, 2), seed=1)
    model.compile("categorical_crossentropy", "sgd")
    x, y = rng.integers(0, 256, (4, 3, 2, 2)), np.array([0, 1, 0, 1])
    model.preprocessing = {"scale": 1 / 255}  # the keys not given take their defaults
    assert model.preprocessing == {"scale": 1 / 255, "mean": None, "std": None}
    expected = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 2, 2), seed=1,
                             preprocessing={"scale": 1 / 255})
    expected.compile("categorical_crossentropy", "sgd")
    np.testing.assert_array_equal(model.predict(x), expected.predict(x))
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y)
    for bad, message in ((["scale"], "preprocessing must be a dict"),
                         ({"scal": 2}, "unknown preprocessing key"),
                         ({"mean": [1, 2]}, "mean has 2 values but the inputs")):
        with pytest.raises(ConfigError, match=message):
            model.preprocessing = bad
        assert model.preprocessing["scale"] == 1 / 255  # unchanged
    old_pickle = {**model.__getstate__(), "preprocessing": {"scale": 2.0, "mean": None, "std": None}}
    del old_pickle["_preprocessing"]
    revived = gn.Sequential.__new__(gn.Sequential)
    revived.__setstate__(old_pickle)
    assert revived.preprocessing["scale"] == 2.0


def test_flat_inputs_have_features_not_channels():
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(12,))
    with pytest.raises(ConfigError, match=r"the inputs \(12,\) have 12 features \(axis 1\): give one "
                                          "per feature, or one for all"):
        model.set_preprocessing(mean=[0.5, 0.5])


@pytest.mark.parametrize("reg", [float("nan"), float("inf"), -0.1, "0.1", True])
def test_compile_refuses_an_l2_strength_that_would_poison_the_loss(reg):
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,))
    with pytest.raises(ConfigError, match="reg must be a finite number >= 0"):
        model.compile("categorical_crossentropy", "sgd", reg=reg)


def test_class_names_cannot_be_changed_behind_the_check():
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,), class_names=(n for n in "abc"))
    assert model.class_names == ["a", "b", "c"]  # a generator is read once, not emptied by the check
    model.class_names.append("d")  # a copy: the model's names stay as they were checked
    assert model.class_names == ["a", "b", "c"]


def test_one_value_or_one_per_channel_is_accepted():
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4))
    model.set_preprocessing(scale=1 / 255, mean=[0.5], std=(0.2, 0.3, 0.4))
    assert model.preprocessing == {"scale": 1 / 255, "mean": [0.5], "std": [0.2, 0.3, 0.4]}
    assert model.predict(np.ones((2, 3, 4, 4))).shape == (2, 2)


@pytest.mark.parametrize("names,message", [
    (["a", "b"], r"class_names must be 3 strings, one per class this model's outputs \(3,\)"),
    (["a", "b", "c", "d"], "class_names must be 3 strings"),
    (["a", "a", "b"], "class_names must be distinct"),
    ("abc", "class_names must be a list of strings"),
    (["a", 2, "c"], "class_names must be a list of strings"),
])
def test_class_names_must_name_each_output_class(names, message):
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,))
    with pytest.raises(ConfigError, match=message):
        model.class_names = names
    assert model.class_names is None


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"]])
def test_a_wrong_class_name_count_is_found_when_the_model_is_built(names):
    model = gn.Sequential([gn.layers.Dense(3)], class_names=names)
    with pytest.raises(ConfigError, match="class_names must be 3 strings"):
        model.build((4,))
    assert not model.built
    model.class_names = ["a", "b", "c"]
    model.build((4,))
    assert model.built


def test_a_binary_model_takes_two_class_names():
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(4,), class_names=["non-cat", "cat"])
    assert model.num_classes == 2 and model.class_names == ["non-cat", "cat"]


@pytest.mark.parametrize("layers, loss, kwargs, message", [
    ([gn.layers.Dense(1, activation="sigmoid")], "binary_crossentropy", {},
     "the last layer applies sigmoid, and binary_crossentropy applies sigmoid again"),
    ([gn.layers.Dense(3), gn.layers.Softmax()], "categorical_crossentropy", {},
     "the last layer applies softmax, and categorical_crossentropy applies softmax again"),
    ([gn.layers.Dense(1)], "categorical_crossentropy", {}, "takes one output per class but the model has 1"),
    ([gn.layers.Dense(3)], "binary_crossentropy", {}, "takes one output .* but the model has 3"),
    ([gn.layers.Dense(1)], "binary_crossentropy", {"from_logits": False},
     "from_logits=False takes probabilities: the last layer must apply sigmoid \\(it applies nothing\\)"),
    ([gn.layers.Dense(3, activation="sigmoid")], "categorical_crossentropy", {"from_logits": False},
     "the last layer must apply softmax \\(it applies sigmoid\\)"),  # the wrong one
    # a trailing Dropout passes values on: the softmax before it is still the model's
    ([gn.layers.Dense(1), gn.layers.Sigmoid(), gn.layers.Dropout(0.1)], "binary_crossentropy", {},
     "the last layer before the Dropout applies sigmoid, and binary_crossentropy applies sigmoid again"),
    ([gn.layers.Dense(3, activation="softmax"), gn.layers.Dropout(0.1)], "categorical_crossentropy",
     {"from_logits": False}, "a Dropout after the layer that applies softmax zeroes and rescales"),
])
def test_a_loss_that_does_not_fit_the_outputs_is_refused(layers, loss, kwargs, message):
    built = gn.Sequential(layers, input_shape=(4,))
    with pytest.raises(ConfigError, match=message):
        built.compile(loss, "sgd", **kwargs)
    lazy = gn.Sequential([type(layer)(**layer.get_config()) for layer in layers])
    lazy.compile(loss, "sgd", **kwargs)  # not built yet: checked when the first batch builds it
    with pytest.raises(ConfigError, match=message):
        lazy.fit(np.zeros((4, 4)), np.array([0, 1, 0, 1]), epochs=1, verbose=0)


def test_probabilities_from_the_last_layer_with_from_logits_false():
    model = gn.Sequential([gn.layers.Dense(1, activation="sigmoid")], input_shape=(4,))
    model.compile("binary_crossentropy", "sgd", from_logits=False)
    assert model.outputs_probabilities and model.final_activation == "sigmoid"
    assert not gn.Sequential([gn.layers.Dense(2)], input_shape=(4,)).outputs_probabilities
    # after a trailing Flatten (or a Dropout, an identity at inference) it is still the output's
    flat = gn.Sequential([gn.layers.Dense(3, activation="softmax"), gn.layers.Flatten()], input_shape=(4,))
    flat.compile("categorical_crossentropy", "sgd", from_logits=False)
    assert flat.final_activation == "softmax" and flat.outputs_probabilities


@pytest.mark.parametrize("bad", [0, -1, 3.5, "64", True])
def test_predict_and_evaluate_refuse_a_bad_batch_size(rng, bad):
    x, y = small_binary_problem(rng, n=10)
    model = small_model()
    model.compile("binary_crossentropy", "sgd")
    for call in (lambda: model.predict(x, batch_size=bad), lambda: model.evaluate(x, y, batch_size=bad)):
        with pytest.raises(ConfigError, match="batch_size must be a positive integer, None .* or .auto."):
            call()
    np.testing.assert_allclose(model.predict(x, batch_size=None), model.predict(x, batch_size=3), rtol=1e-12)


def test_small_api_slips_are_understood_or_named():
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=4)  # an int is a flat input's size
    assert model.input_shape == (4,)
    model.compile("categorical_crossentropy", "sgd", metrics="accuracy")  # one metric as a string
    assert model.metrics == ["accuracy"]
    with pytest.raises(ConfigError, match=r"write Sequential\(\[Dense\(\.\.\.\), \.\.\.\]\)"):
        gn.Sequential(gn.layers.Dense(3))
    with pytest.raises(ConfigError, match="shuffle must be True or False, got 'no'"):
        model.fit(np.zeros((4, 4)), np.array([0, 1, 0, 1]), epochs=1, verbose=0, shuffle="no")


def test_an_unknown_preprocessing_key_and_an_uncompiled_gradient_check_are_named():
    with pytest.raises(ConfigError, match=r"unknown preprocessing key\(s\) \['scal'\]; it takes \['mean', "):
        gn.Sequential([gn.layers.Dense(2)], input_shape=(3,), preprocessing={"scal": 1 / 255})
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,), dtype="float64")
    with pytest.raises(ConfigError, match="compile the model first"):
        gn.check_model(model, np.zeros((2, 3)), np.array([0, 1]))


def test_one_optimizer_instance_cannot_train_two_models():
    shared = gn.optimizers.Adam(lr=0.01)
    first = gn.Sequential([gn.layers.Dense(2)], input_shape=(3,))
    first.compile("categorical_crossentropy", shared)
    first.compile("categorical_crossentropy", shared)  # the same model again is fine
    second = gn.Sequential([gn.layers.Dense(2)], input_shape=(5,))
    with pytest.raises(ConfigError, match="this optimizer already trains another model"):
        second.compile("categorical_crossentropy", shared)


def test_train_on_batch_preprocesses_checks_labels_and_matches_train_step(rng):
    x = rng.integers(0, 256, (8, 3, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 2, 8)
    models = []
    for _ in range(2):
        model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(3, 4, 4), seed=0,
                              preprocessing={"scale": 1 / 255})
        model.compile("binary_crossentropy", "sgd")
        models.append(model)
    by_hand, _ = models[0].train_step(models[0].preprocess(x), y)
    assert models[1].train_on_batch(x, y) == by_hand < 1  # scaled to 0..1: loss near log 2
    np.testing.assert_array_equal(models[1].get_weights()["1.W"], models[0].get_weights()["1.W"])
    with pytest.raises(ShapeError, match="labels"):
        models[1].train_on_batch(x, np.full(8, 0.5))
    with pytest.raises(ConfigError, match="compile the model first"):
        gn.Sequential([gn.layers.Dense(1)], input_shape=(2,)).train_on_batch(np.zeros((1, 2)), [0])


def test_test_on_batch_is_the_loss_before_an_update_and_leaves_the_weights(rng):
    x = rng.integers(0, 256, (8, 3, 4, 4)).astype(np.uint8)
    y = rng.integers(0, 2, 8)
    layers = [gn.layers.Flatten(), gn.layers.Dense(3), gn.layers.Dropout(0.5), gn.layers.Dense(1)]
    model = gn.Sequential(layers, input_shape=(3, 4, 4), seed=0, preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    before = model.get_weights()
    loss = model.test_on_batch(x, y)
    assert loss == model.evaluate(x, y)["loss"]  # inference mode: dropout off, every time
    assert loss == model.test_on_batch(x, y)
    for name, value in model.get_weights().items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, batch_size=3))
    assert model.predict_on_batch(x).shape == (8, 1)
    with pytest.raises(ShapeError, match="labels"):
        model.test_on_batch(x, np.full(8, 0.5))


def test_building_a_built_model_again_keeps_its_weights(rng):
    x, y = small_binary_problem(rng)
    model = small_model()
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=2, verbose=0)
    weights = model.get_weights()
    model.build((6,))  # same shape: nothing happens (a rebuild drew new weights)
    assert all(np.array_equal(weights[k], v) for k, v in model.get_weights().items())
    with pytest.raises(ConfigError, match=r"already built for inputs \(N, 6\); building it again "
                                          r"for \(8,\) would replace its weights"):
        model.build((8,))
    assert model.input_shape == (6,)
    model.fit(x, y, epochs=1, verbose=0)  # still trains (the optimizer's slots still fit)


def test_build_with_a_keras_batch_axis_says_what_to_write():
    model = gn.Sequential([gn.layers.Dense(2)])
    with pytest.raises(ShapeError, match=r"without the batch axis: write build\(\(4,\)\), not "
                                         r"build\(\(None, 4\)\)"):
        model.build((None, 4))
    assert not model.built


@pytest.mark.parametrize("first", ["adam", "momentum", gn.optimizers.SGD()])
def test_compile_in_keras_order_says_the_loss_comes_first(first):
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,))
    with pytest.raises(ConfigError, match="compile's first argument is the loss, got the optimizer"):
        model.compile(first, "categorical_crossentropy")


def test_compile_refuses_a_from_logits_that_its_loss_object_does_not_have():
    """from_logits was silently ignored for a loss object, and the error that followed told
    the user to do what they had just done."""
    model = gn.Sequential([gn.layers.Dense(1, activation="sigmoid")], input_shape=(3,))
    with pytest.raises(ConfigError, match=r"made with from_logits=True, and compile's "
                                          r"from_logits=False cannot change it: make it with "
                                          r"BinaryCrossEntropy\(from_logits=False\)"):
        model.compile(gn.losses.BinaryCrossEntropy(), "sgd", from_logits=False)
    model.compile(gn.losses.BinaryCrossEntropy(from_logits=False), "sgd")  # its own setting
    model.compile(gn.losses.BinaryCrossEntropy(from_logits=False), "sgd", from_logits=False)
    model.compile("binary_crossentropy", "sgd", from_logits=False)
    with pytest.raises(ConfigError, match="from_logits must be True or False, got 'no'"):
        model.compile("binary_crossentropy", "sgd", from_logits="no")


def test_a_compile_refused_for_a_loss_that_does_not_fit_leaves_the_model_as_it_was(rng):
    """A built model kept the refused loss, metrics and L2 strength, and took the refused
    optimizer (which no other model could then use)."""
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,), seed=0)
    optimizer = gn.optimizers.Adam(lr=0.01)
    model.compile("categorical_crossentropy", optimizer)
    model.fit(rng.standard_normal((8, 4)), rng.integers(0, 3, 8), epochs=1, verbose=0)
    moments = optimizer.state_dict()
    refused = gn.optimizers.SGD(lr=0.1)
    with pytest.raises(ConfigError, match="binary_crossentropy takes one output"):
        model.compile("binary_crossentropy", refused, metrics=None, reg=0.5)
    assert model.loss.name == "categorical_crossentropy" and model.optimizer is optimizer
    assert model.metrics == ["accuracy"] and model.reg == 0.0
    assert refused.owner is None and optimizer.owner() is model
    other = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,), seed=1)
    other.compile("categorical_crossentropy", refused)  # free to use
    after = optimizer.state_dict()
    assert after["arrays"].keys() == moments["arrays"].keys() and after["arrays"]
    for key, value in moments["arrays"].items():
        np.testing.assert_array_equal(after["arrays"][key], value)


def test_check_model_builds_a_model_given_no_input_shape(rng):
    model = gn.Sequential([gn.layers.Dense(3), gn.layers.ReLU(), gn.layers.Dense(2)], dtype="float64")
    model.compile("categorical_crossentropy")
    result = gn.check_model(model, rng.standard_normal((4, 5)), np.array([0, 1, 1, 0]))
    assert model.input_shape == (5,) and result.worst < 1e-6


def test_predict_on_a_model_not_built_yet_refuses_to_guess_what_a_sample_is(rng):
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    image = rng.integers(0, 256, (3, 8, 8)).astype(np.uint8)  # one sample, or 3 of (8, 8)?
    for x in (image, image[None], np.zeros(5)):
        with pytest.raises(ConfigError, match="not built yet, so it cannot tell one sample from a batch"):
            model.predict(x)
    assert not model.built
    model.fit(image[None].repeat(4, axis=0), [0, 1, 0, 1], epochs=1, verbose=0)  # builds (3, 8, 8)
    assert model.predict(image).shape == (1,)


def test_backward_after_an_inference_pass_is_a_clear_error_not_a_stale_gradient(rng):
    x, y = small_binary_problem(rng, n=8)
    model = small_model()
    model.compile("binary_crossentropy", "sgd")
    model.train_step(x, y)
    out = model.forward(x[:5])  # training=False: nothing kept for backward
    model.loss.forward(out, y[:5])
    with pytest.raises(ShapeError, match="Dense.backward called with no training pass before it"):
        model.backward(model.loss.backward())
    model.train_step(x, y)
    model.evaluate(x, y)  # evaluate and predict drop the caches too (and the memory they hold)
    assert all(layer._cache is None for layer in model.layers)


def test_backward_after_an_inference_pass_is_an_error_with_batchnorm_first_too(rng):
    """BatchNorm keeps what its eval-mode backward needs (a lone layer's saliency); in a model
    whose first trainable layer it is, predict's last batch was then silently differentiated."""
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.BatchNorm()], input_shape=(2, 3), seed=0)
    model.forward(rng.standard_normal((4, 2, 3)), training=True)
    model.predict(rng.standard_normal((4, 2, 3)))
    model.forward(rng.standard_normal((4, 2, 3)))
    with pytest.raises(ShapeError, match="BatchNorm.backward called with no training pass before it"):
        model.backward(rng.standard_normal((4, 6)))


def test_an_optimizer_whose_model_is_gone_starts_afresh_on_the_next_model(rng):
    import gc

    x, y = small_binary_problem(rng, n=32)
    reused = gn.optimizers.Adam(lr=0.01)
    first = small_model()
    first.compile("binary_crossentropy", reused)
    first.fit(x, y, epochs=3, batch_size=8, verbose=0,
              lr_schedule=gn.schedules.StepDecay(every=1, factor=0.5))
    assert reused.steps == 12 and reused.slots and reused.lr == 0.01 * 0.5 ** 2
    del first
    gc.collect()
    fresh = gn.optimizers.Adam(lr=0.01)
    histories = []
    for optimizer in (reused, fresh):
        model = small_model()
        model.compile("binary_crossentropy", optimizer)
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history["loss"])
    assert histories[0] == histories[1]
    assert reused.steps == fresh.steps == 8 and reused.lr == 0.01


def test_evaluate_and_predict_refuse_nan_inputs_as_fit_does(rng):
    x, y = small_binary_problem(rng, n=10)
    model = small_model()
    model.compile("binary_crossentropy", "sgd")
    x[3, 2] = np.nan
    for call in (lambda: model.evaluate(x, y), lambda: model.predict(x), lambda: model.predict(x[3]),
                 lambda: model.predict_classes(x)):
        with pytest.raises(ConfigError, match="x holds NaN or infinite values; clean the data first"):
            call()
    x[3, 2] = np.inf
    with pytest.raises(ConfigError, match="NaN or infinite"):
        model.evaluate(x, y)


def test_inputs_that_overflow_the_model_dtype_or_are_not_numbers_are_refused(rng):
    """1e39 is finite in float64 but infinite in a float32 model: evaluate counted the NaN
    outputs as right answers, and fit blamed the initial weights. An object array (None, or
    NaN from a table) skipped the check entirely."""
    x, y = small_binary_problem(rng, n=10)
    model = small_model(dtype="float32")
    model.compile("binary_crossentropy", "sgd")
    x[3, 0] = 1e39
    for call in (lambda: model.evaluate(x, y), lambda: model.predict(x),
                 lambda: model.fit(x, y, epochs=1, verbose=0),
                 lambda: model.fit(x[:5] / 1e40, y[:5], validation_data=(x, y), epochs=1, verbose=0)):
        with pytest.raises(ConfigError, match=r"x holds values beyond float32's range \(±3.4e\+38\), "
                                              "the model's: they would become infinite"):
            call()
    x64 = gn.Sequential([gn.layers.Dense(1)], input_shape=(x.shape[1],), dtype="float64")
    assert np.isfinite(x64.predict(x)).all()  # a float64 model holds them
    for bad in (np.array([[1.0, np.nan, None, 0, 0, 0]], dtype=object), np.array([["a"] * 6]),
                np.ones((2, 6), np.complex64)):  # the cast would drop the imaginary parts
        with pytest.raises(ConfigError, match=f"must be real numbers, got an array of dtype {bad.dtype}"):
            model.predict(bad)
    assert model.predict(x > 0).shape == (10, 1)  # booleans are numbers enough


def test_narrower_float_inputs_into_a_wider_model_give_no_warning(rng):
    """float32 into a float64 model (float16 into float32): checking their range compared
    float64's max as a float32 scalar, and NumPy warned of an overflow in the cast."""
    x, y = small_binary_problem(rng, n=10)
    for dtype, inputs in (("float64", np.float32), ("float32", np.float16)):
        model = small_model(dtype=dtype)
        model.compile("binary_crossentropy", "sgd")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model.fit(x.astype(inputs), y, epochs=1, verbose=0)
            model.evaluate(x.astype(inputs), y)
            assert model.predict(x.astype(inputs)).dtype == np.dtype(dtype)


def test_predict_classes_of_a_model_never_compiled_thresholds_raw_scores_at_zero():
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(1,), dtype="float64")
    model.set_weights({"0.W": np.array([[1.0]]), "0.b": np.array([0.0])})
    x = np.array([[-0.3], [0.2], [0.7]])  # raw scores (logits) equal to x
    assert model.predict_classes(x).tolist() == [0, 1, 1]
    with_sigmoid = gn.Sequential([gn.layers.Dense(1, activation="sigmoid")], input_shape=(1,),
                                 dtype="float64")
    with_sigmoid.set_weights({"0.W": np.array([[1.0]]), "0.b": np.array([0.0])})
    assert with_sigmoid.predict_classes(x).tolist() == [0, 1, 1]  # probabilities: 0.5


def test_a_gradient_check_leaves_running_statistics_and_dropout_as_they_were(rng):
    model = gn.Sequential([gn.layers.Conv2D(3, 3, use_bias=False), gn.layers.BatchNorm(),
                           gn.layers.ReLU(), gn.layers.Flatten(), gn.layers.Dropout(0.3),
                           gn.layers.Dense(2)], input_shape=(2, 5, 5), dtype="float64", seed=1)
    model.compile("categorical_crossentropy")
    x, y = rng.standard_normal((4, 2, 5, 5)), np.array([0, 1, 1, 0])
    before = model.predict(x)
    state = {k: v.copy() for k, v in model.layers[1].state.items()}
    dropout_position = model.layers[4].rng.bit_generator.state
    assert gn.check_model(model, x, y).worst < 1e-6
    assert all(np.array_equal(state[k], v) for k, v in model.layers[1].state.items())
    assert model.layers[4].rng.bit_generator.state == dropout_position
    np.testing.assert_array_equal(model.predict(x), before)
    layer = gn.layers.BatchNorm()
    layer.build((3,), np.random.default_rng(0), np.float64)
    assert gn.check_layer(layer, (3,), batch=4).worst < 1e-6
    assert not layer.state["running_mean"].any() and (layer.state["running_var"] == 1).all()


def test_nan_is_found_in_any_batch_and_raw_scores_are_classified_alike_everywhere(rng):
    from glassnet.report.evaluation import evaluate_model

    x, y = small_binary_problem(rng, n=10)
    model = small_model()
    model.compile("binary_crossentropy", "sgd")
    x[9, 0] = np.nan  # in the last batch of 2: checked batch by batch (bounded memory)
    with pytest.raises(ConfigError, match="x holds NaN"):
        model.predict(x, batch_size=2)
    with pytest.raises(ConfigError, match="x holds NaN"):
        model.evaluate(x, y, batch_size=2)
    raw = gn.Sequential([gn.layers.Dense(1)], input_shape=(1,), dtype="float64")  # never compiled
    raw.set_weights({"0.W": np.array([[1.0]]), "0.b": np.array([0.0])})
    scores = np.linspace(-1, 1, 40)[:, None]
    labels = (scores[:, 0] > 0).astype(int)
    assert np.array_equal(raw.predict_classes(scores), labels)
    assert np.array_equal(evaluate_model(raw, scores, labels, ["a", "b"]).y_pred, labels)


def test_inference_drops_a_fused_activations_cache_too(rng):
    x, y = small_binary_problem(rng, n=16)
    model = small_model()  # Dense(8, relu): the ReLU's mask is the activation's cache
    model.compile("binary_crossentropy", "sgd")
    model.train_step(x, y)
    assert model.layers[0].activation._cache is not None
    model.predict(x)
    assert model.layers[0]._cache is None and model.layers[0].activation._cache is None


def test_a_copied_model_keeps_its_optimizer_state_when_the_original_is_gone(rng):
    import copy
    import gc

    x, y = small_binary_problem(rng, n=16)
    original = small_model()
    original.compile("binary_crossentropy", gn.optimizers.Adam(lr=0.01))
    original.fit(x, y, epochs=2, batch_size=8, verbose=0)
    copied = copy.deepcopy(original)
    del original
    gc.collect()
    copied.compile("binary_crossentropy", copied.optimizer, reg=0.01)  # recompiled with its own
    assert copied.optimizer.steps == 4 and copied.optimizer.slots


def test_evaluate_takes_one_sample_and_its_label_as_predict_does(rng):
    model = gn.Sequential([gn.layers.Dense(3)], input_shape=(4,), dtype="float64")
    model.compile("categorical_crossentropy", "sgd")
    x, y = rng.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    assert model.evaluate(x[0], y[0]) == model.evaluate(x[:1], y[:1])
    assert model.evaluate(x[0], np.eye(3)[y[0]]) == model.evaluate(x[:1], y[:1])  # a one-hot row


@pytest.mark.parametrize("keras_argument", ["sample_weight", "steps_per_epoch"])
def test_fit_names_an_argument_it_does_not_have(keras_argument, rng):
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(4,))
    model.compile("binary_crossentropy", "sgd")
    with pytest.raises(ConfigError, match=rf"fit\(\) has no argument {keras_argument}; it takes epochs, "):
        model.fit(rng.standard_normal((4, 4)), np.array([0, 1, 0, 1]), **{keras_argument: None})


def _conv_model(shape, filters=32):
    return gn.Sequential([gn.layers.Conv2D(filters, 3, padding="same"), gn.layers.GlobalAveragePooling2D(),
                          gn.layers.Dense(2)], input_shape=shape)


def test_a_batch_without_a_given_size_is_sized_by_the_bytes_of_its_activations():
    from glassnet.inference import batch_size_for

    # 64x64 RGB through 32 filters: 4 bytes * (3 + 32) * 64 * 64 = 0.57 MB a sample, 256 of them
    assert batch_size_for(_conv_model((3, 64, 64))) == 256
    # 384x384: 20.6 MB a sample, 13 in 256 MiB (256 would hold 5.3 GB)
    assert batch_size_for(_conv_model((3, 384, 384))) == 13
    # a sample above the budget alone: one at a time, never none
    assert batch_size_for(_conv_model((3, 1024, 1024), filters=64)) == 1
    assert batch_size_for(gn.Sequential([gn.layers.Dense(2)], input_shape=(6,), dtype="float64")) == 256


def test_predict_and_evaluate_use_the_sized_batches_unless_given_one(rng, monkeypatch, capsys):
    from glassnet import inference

    x, y = small_binary_problem(rng, n=10)
    model = small_model()  # float64: the widest layer holds 6 + 8 values, 112 bytes a sample
    model.compile("binary_crossentropy", "sgd")
    monkeypatch.setattr(inference, "BATCH_BYTES", 3 * 112)
    monkeypatch.setattr(inference, "BATCH_SIZE", 4)  # batch_size=None is all at once, not this
    model.predict(x, verbose=2)
    model.evaluate(x, y, verbose=2)
    model.predict(x, batch_size=5, verbose=2)
    model.evaluate(x, y, batch_size=None, verbose=2)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "predict: 4/4 batches", "evaluate: 4/4 batches", "predict: 2/2 batches", "evaluate: 1/1 batches"]


def test_set_weights_refuses_a_model_not_built_yet_and_names_it_does_not_have():
    unbuilt = gn.Sequential([gn.layers.Dense(1)])  # its first batch would build new weights
    with pytest.raises(ConfigError, match=r"build the model first: give input_shape or call "
                                          r"model\.build\(\.\.\.\)"):
        unbuilt.set_weights({"0.W": np.ones((3, 1)), "0.b": np.zeros(1)})
    model = small_model()
    weights = model.get_weights()
    with pytest.raises(ShapeError, match=r"weights \['5.W', 'junk'\] are not this model's; its "
                                         r"arrays are named \['0.W', '0.b', '1.W', '1.b'\]"):
        model.set_weights({**weights, "junk": np.ones(1), "5.W": np.ones(1)})
    with pytest.raises(ShapeError, match=r"weights are missing \['1.b'\]"):
        model.set_weights({k: v for k, v in weights.items() if k != "1.b"})


def test_a_refused_set_weights_changes_nothing(rng):
    model = small_model()
    before = model.get_weights()
    changed = {k: v + 1 for k, v in before.items()}
    for bad, error in (({"1.W": np.ones((7, 7))}, r"1\.W: expected shape \(8, 1\), got \(7, 7\)"),
                       ({"1.b": np.array(["a"])}, r"1\.b: weights must be real numbers, got dtype <U1")):
        with pytest.raises((ShapeError, ConfigError), match=error):
            model.set_weights({**changed, **bad})  # "0.W" comes first: it was copied before
        for name, value in model.get_weights().items():
            np.testing.assert_array_equal(value, before[name])


def test_set_weights_warns_about_non_finite_values_as_load_model_does():
    model = small_model()
    weights = model.get_weights()
    weights["0.W"][0, 0] = np.nan
    with pytest.warns(gn.errors.GlassnetWarning, match=r"set_weights: arrays \['0.W'\] hold NaN or "
                                                       "infinite values; the model's outputs will "
                                                       "be meaningless") as caught:
        model.set_weights(weights)
    assert caught[0].filename == __file__  # it points at the caller's line
    assert np.isnan(model.get_weights()["0.W"][0, 0])  # loaded, to be inspected


def test_set_weights_refuses_keras_list_of_arrays():
    model = small_model()
    with pytest.raises(ConfigError, match=r"set_weights takes the dict get_weights returns, keyed "
                                          r"'0\.W', '0\.b', \.\.\. \(not Keras' list\), got a list"):
        model.set_weights(list(model.get_weights().values()))


def test_pytorch_cpu_tensors_are_taken_as_inputs_and_labels(torch, rng):
    """NumPy could not read a tensor's dtype ("Cannot interpret 'torch.float32' as a data
    type"): anything not a NumPy or CuPy array now goes through np.asarray."""
    x, y = small_binary_problem(rng, n=16)
    models = [small_model(), small_model()]
    for model in models:
        model.compile(optimizer="sgd")
    models[0].fit(x, y, epochs=2, batch_size=8, verbose=0)
    models[1].fit(torch.from_numpy(x), torch.from_numpy(y), epochs=2, batch_size=8, verbose=0)
    np.testing.assert_array_equal(models[1].predict(torch.from_numpy(x)), models[0].predict(x))
    assert models[1].predict(torch.zeros(6)).shape == (1,)  # one sample without the batch axis
    assert models[1].evaluate(torch.from_numpy(x), torch.from_numpy(y)) == models[0].evaluate(x, y)
    models[1].set_weights({k: torch.from_numpy(v) for k, v in models[0].get_weights().items()})
    tracked = torch.from_numpy(x).requires_grad_()  # NumPy may not read it without detach()
    np.testing.assert_array_equal(models[1].predict(tracked), models[0].predict(x))


def test_keras_order_input_shape_then_add_is_told_the_working_order():
    """Keras' Sequential(input_shape) then add(...): here a model builds when it gets its
    input shape, so both steps' errors say to add the layers first and build after."""
    with pytest.raises(ConfigError, match=r"the model has no layers: add them first, then build it: "
                                          r"Sequential\(\[\.\.\.\], input_shape=\(8,\)\), or "
                                          r"model\.add\(\.\.\.\) and then model\.build\(\(8,\)\)"):
        gn.Sequential(input_shape=(8,))
    model = gn.Sequential([gn.layers.Dense(2)], input_shape=(8,))
    with pytest.raises(ConfigError, match=r"already built: add every layer first, then build it "
                                          r"\(input_shape=\.\.\., or model\.build\(shape\)\)"):
        model.add(gn.layers.Dense(1))
    model = gn.Sequential()
    model.add(gn.layers.Dense(1))
    model.build((8,))
    assert model.output_shape == (1,)


def test_compile_with_a_loss_or_optimizer_class_says_to_create_an_instance():
    model = small_model()
    with pytest.raises(ConfigError, match=r"the loss BinaryCrossEntropy is a class: create an "
                                          r"instance: BinaryCrossEntropy\(\)$"):
        model.compile(loss=gn.losses.BinaryCrossEntropy)
    with pytest.raises(ConfigError, match=r"the optimizer Adam is a class: create an instance: Adam\(\)$"):
        model.compile(optimizer=gn.optimizers.Adam)


def test_a_foreign_loss_object_is_named_by_its_type_in_one_line():
    class TorchLikeLoss:  # a PyTorch module's repr spans lines
        def __repr__(self):
            return "TorchLikeLoss(\n  (inner): Something()\n)"

    model = small_model()
    with pytest.raises(ConfigError) as info:
        model.compile(loss=TorchLikeLoss())
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("unknown loss a test_model.test_a_foreign_loss_object_is_named_"
                                      "by_its_type_in_one_line.<locals>.TorchLikeLoss object; choose one "
                                      "of ['binary_crossentropy'")
    with pytest.raises(ConfigError, match=r"unknown optimizer a list object; choose one of \['adagrad'"):
        model.compile(optimizer=["adam"])  # unhashable: was a TypeError from the dict lookup


@pytest.mark.parametrize("name,hint", [
    ("eval", "predict and evaluate run the layers in inference mode themselves"),
    ("train", r"fit\(\.\.\.\) trains"),
    ("state_dict", r"model\.get_weights\(\) gives \{name: array\}"),
    ("load_state_dict", r"model\.set_weights\(\{name: array\}\)"),
    ("cuda", r"the device is chosen for the whole process: glassnet\.set_device\('gpu'\)"),
    ("save_weights", r"model\.save\(path\)"),
])
def test_pytorch_and_keras_methods_glassnet_lacks_say_what_to_use(name, hint):
    model = small_model()
    with pytest.raises(AttributeError, match=rf"^'Sequential' object has no attribute '{name}': {hint}"):
        getattr(model, name)
    assert not hasattr(model, name)  # duck typing still sees no such method


def test_other_missing_attributes_stay_plain_attribute_errors_that_python_can_suggest_for():
    model = small_model()
    with pytest.raises(AttributeError, match=r"^'Sequential' object has no attribute 'fitt'$") as info:
        model.fitt  # noqa: B018
    assert info.value.name == "fitt" and info.value.obj is model  # Python's "Did you mean: 'fit'?"
    assert copy.deepcopy(model).built and pickle.loads(pickle.dumps(model)).built


def test_calling_the_model_like_keras_or_pytorch_names_the_methods_to_use():
    model = small_model()
    with pytest.raises(TypeError, match=r"not called on inputs: use model\.predict\(x\) .*"
                                        r"model\.predict_logits\(x\) .*model\.forward\(model\."
                                        r"preprocess\(x\), training=False\)"):
        model(np.zeros((2, 6)))
    x = np.ones((2, 6))  # what the message says gives the outputs
    np.testing.assert_allclose(model.forward(model.preprocess(x), training=False), model.predict_logits(x))


def test_a_gradient_shaped_unlike_its_parameter_is_a_clear_error(rng):
    """A layer of one's own whose backward sums over the wrong axis: an update would
    broadcast a (3,) gradient into a (6, 3) weight, every row the same step, silently. The
    error comes after backward, before the regularization gradient and the update: nothing
    has changed (a misshaped layer after another, with L2 on)."""

    class WrongAxisDense(gn.layers.Dense):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] = self.grads["W"].sum(axis=0)  # (3,), not (4, 3)
            return dx

    try:
        x, y = small_binary_problem(rng, n=20)
        for threads in (1, 2):  # one update, or batches split over two threads
            model = gn.Sequential([gn.layers.Dense(4), WrongAxisDense(3), gn.layers.Dense(1)],
                                  input_shape=(6,), dtype="float64")
            model.compile("binary_crossentropy", "adam", reg=0.1)
            before = model.get_weights()
            with pytest.raises(ShapeError, match=r"^WrongAxisDense \(layer 1\) left its gradient 'W' "
                                                 r"shaped \(3,\), its parameter is \(4, 3\): backward"):
                model.fit(x, y, epochs=1, batch_size=None, verbose=0, threads=threads)
            after = model.get_weights()
            assert all(np.array_equal(after[k], before[k]) for k in before)
            assert model.optimizer.steps == 0
    finally:
        gn.layers.LAYER_CLASSES.pop("WrongAxisDense", None)
