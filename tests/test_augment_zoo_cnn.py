"""Augmentation (flip, crop), the cnn zoo models and the CLI on CIFAR-10."""

import json

import numpy as np
import pytest
from tests.conftest import run_cli
from tests.test_cifar10 import write_cifar_folder

from glassnet import layers, zoo
from glassnet.data import augment, cifar10
from glassnet.errors import ConfigError, ShapeError


@pytest.fixture
def batch(rng):
    return rng.integers(0, 256, (16, 3, 8, 8)).astype(np.uint8)


def test_flip_mirrors_about_half_the_images(batch):
    out = augment.random_flip(batch, np.random.default_rng(0))
    flipped = [np.array_equal(o, b[:, :, ::-1]) for o, b in zip(out, batch, strict=True)]
    kept = [np.array_equal(o, b) for o, b in zip(out, batch, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 3 <= sum(flipped) <= 13 and out.dtype == np.uint8


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_crop_is_a_shift_of_at_most_the_padding(batch, mode):
    out = augment.random_crop(batch, np.random.default_rng(1), padding=2, mode=mode)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    padded = np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)), mode=mode)
    shifts = []
    for o, p in zip(out, padded, strict=True):
        found = [(i, j) for i in range(5) for j in range(5) if np.array_equal(o, p[:, i:i + 8, j:j + 8])]
        assert found, "each crop is a window of the padded image"
        shifts.append(found[0])
    assert len(set(shifts)) > 3  # offsets differ between images


def test_crop_shifts_reach_the_padding_both_ways(rng):
    """Every window of the padded image, the last row and column of offsets included."""
    batch = rng.integers(0, 256, (200, 1, 4, 4)).astype(np.uint8)
    out = augment.random_crop(batch, np.random.default_rng(0), padding=1, mode="constant")
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)))
    shifts = {next((i, j) for i in range(3) for j in range(3) if np.array_equal(o, p[:, i:i + 4, j:j + 4]))
              for o, p in zip(out, padded, strict=True)}
    assert shifts == {(i, j) for i in range(3) for j in range(3)}


def test_augmentation_is_seeded_and_leaves_the_input_alone(batch):
    fn = augment.parse("flip,crop")
    kept = batch.copy()
    a = fn(batch, np.random.default_rng(5))
    b = fn(batch, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(batch, kept)
    assert not np.array_equal(a, fn(batch, np.random.default_rng(6)))


def test_parse():
    assert augment.parse(None) is None and augment.parse("") is None and augment.parse("none") is None
    assert augment.parse(["none"]) is None and augment.parse(" none,") is None
    with pytest.raises(ConfigError,
                       match=r"unknown augmentation 'rotate'; choose from \['crop', 'flip', 'jitter'\]"):
        augment.parse("flip,rotate")
    with pytest.raises(ConfigError, match=r"augmentation 'none' means no augmentation: it cannot be "
                                          r"combined with others, got 'none,flip'"):
        augment.parse("none,flip")
    with pytest.raises(ConfigError, match=r"augmentation 'flip' given twice in 'flip,crop,flip'"):
        augment.parse("flip,crop,flip")
    with pytest.raises(ConfigError, match="needs image batches"):
        augment.random_flip(np.zeros((2, 5)), np.random.default_rng(0))


def test_parse_crops_with_the_padding_it_is_given():
    """parse's crop_padding reaches the crop: padding 0 leaves a single window (the image
    itself), while the default 4 shifts the images."""
    batch = np.random.default_rng(0).integers(0, 256, (8, 3, 6, 6), dtype=np.uint8)
    unpadded = augment.parse("crop", crop_padding=0)(batch, np.random.default_rng(1))
    assert np.array_equal(unpadded, batch)
    assert not np.array_equal(augment.parse("crop")(batch, np.random.default_rng(1)), batch)


@pytest.mark.parametrize("call,match", [
    (lambda b, r: augment.random_crop(b, r, padding=-1), "crop padding must be an integer >= 0, got -1"),
    (lambda b, r: augment.random_crop(b, r, padding=1.5), "crop padding must be an integer >= 0, got 1.5"),
    (lambda b, r: augment.random_flip(b.tolist(), r),
     r"takes a NumPy array of images \(N, C, H, W\), got list"),
], ids=["negative", "fractional", "list"])
def test_bad_augmentation_arguments_are_clear_errors(batch, rng, call, match):
    """NumPy's own errors (negative indices, a list has no ndim) said nothing of the padding."""
    with pytest.raises(ConfigError, match=match):
        call(batch, rng)


def test_cnn_keras_is_the_tutorials_network():
    model = zoo.build("cnn-keras", (3, 32, 32), 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPool2D", "Dropout", "Conv2D", "MaxPool2D", "Dropout", "Flatten",
                     "Dense", "Dropout", "Dense"]
    assert model.count_params() == (896 + 18496 + 2097664 + 5130, 0)  # Keras' summary
    assert model.layers[0].output_shape == (32, 32, 32) and model.layers[6].output_shape == (4096,)


def test_cnn_bn_shapes_for_cifar_and_cats():
    model = zoo.build("cnn-bn", (3, 32, 32), 10)
    convs = [layer.filters for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert convs == [32, 32, 64, 64, 128, 128]
    assert sum(isinstance(layer, layers.BatchNorm) for layer in model.layers) == 6
    assert model.output_shape == (10,)
    assert zoo.build("cnn-bn", (3, 64, 64), 2, widths=(8, 16)).output_shape == (1,)


def test_cnn_bn_trains_a_few_steps(rng):
    model = zoo.build("cnn-bn", (3, 8, 8), 3, widths=(4, 8))
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = rng.random((12, 3, 8, 8), dtype=np.float32)
    y = np.arange(12) % 3
    history = model.fit(x, y, epochs=8, batch_size=6, verbose=0)
    assert history["loss"][-1] < history["loss"][0]


def test_a_model_rejects_images_of_the_wrong_size_or_channels():
    model = zoo.build("cnn-keras", (3, 32, 32), 10)
    with pytest.raises(ShapeError, match=r"expects inputs of shape \(N, 3, 32, 32\), got \(2, 1, 32, 32\)"):
        model.predict(np.zeros((2, 1, 32, 32), np.uint8))
    with pytest.raises(ShapeError, match=r"got \(2, 3, 64, 64\)"):
        model.predict(np.zeros((2, 3, 64, 64), np.uint8))


@pytest.mark.parametrize("model", ["cnn-bn", "cnn-keras"])
def test_cli_trains_cnn_on_cifar_with_augmentation(tmp_path, model):
    write_cifar_folder(tmp_path / "data" / cifar10.FOLDER)  # 25 training, 8 test images
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", "cifar10", "--model", model, "--epochs", "2",
                     "--batch-size", "8", "--optimizer", "adam", "--lr", "1e-3",
                     "--augment", "flip,crop", "--out", str(out),
                     "--quiet", env={"GLASSNET_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert f"trained {model} on cifar10: 2 epochs" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1 and np.isfinite(metrics["test"]["loss"])
    assert json.loads((out / "run.json").read_text())["config"]["augment"] == "flip,crop"


def test_cli_bad_augment_is_one_line(tmp_path):
    result = run_cli("train", "--dataset", "cifar10", "--model", "cnn-keras", "--augment", "rotate",
                     "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "unknown augmentation 'rotate'" in result.stderr


def test_cli_names_a_corrupt_cifar_batch_in_one_line(tmp_path):
    write_cifar_folder(tmp_path / cifar10.FOLDER)
    (tmp_path / cifar10.FOLDER / "data_batch_5").write_bytes(b"\x80\x02garbage")
    result = run_cli("train", "--dataset", "cifar10", "--model", "cnn-keras", "--out", str(tmp_path / "r"),
                     env={"GLASSNET_DATA": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "data_batch_5" in result.stderr


@pytest.mark.filterwarnings("ignore::glassnet.errors.GlassnetWarning")  # unscaled random pixels
def test_cnn_models_save_and_load_exactly(tmp_path, rng):
    from glassnet import load_model

    for name in ("cnn-keras", "cnn-bn"):
        model = zoo.build(name, (3, 16, 16), 10, seed=3)
        model.compile(loss="categorical_crossentropy", optimizer="adam")
        x = rng.integers(0, 256, (8, 3, 16, 16)).astype(np.uint8)
        model.fit(x, np.arange(8) % 10, epochs=1, batch_size=4, verbose=0)  # moves BN statistics
        model.save(tmp_path / f"{name}.glassnet")
        again = load_model(tmp_path / f"{name}.glassnet")
        np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_the_cnns_fit_the_smallest_images_their_docstrings_promise():
    """cnn-bn: 4x4 (two 2x2 pools, between the widths only); cnn-small: 7x7 (a stride-2
    stem padded by 2, then pools between the widths only). A pool too many still gives the
    same parameters and outputs on big images, and fails only on small ones."""
    bn = zoo.build("cnn-bn", (3, 4, 4), 10)
    assert bn.output_shape == (10,) and isinstance(bn.layers[0], layers.Conv2D)
    assert sum(isinstance(layer, layers.MaxPool2D) for layer in bn.layers) == 2
    small = zoo.build("cnn-small", (3, 7, 7), 2)
    assert small.output_shape == (1,) and small.layers[0].output_shape == (16, 4, 4)
    assert sum(isinstance(layer, layers.MaxPool2D) for layer in small.layers) == 2


def test_mlp_draws_the_courses_weights_from_the_courses_seed():
    """Without init_stream, the zoo's mlp uses the course's RandomState: its first Dense is
    the course's W1 = randn(20, 12288) / sqrt(12288) for seed 1 (transposed: (in, out))."""
    model = zoo.build("mlp", (3, 64, 64), 2, seed=1, dtype="float64")
    expected = np.random.RandomState(1).randn(20, 12288) / np.sqrt(12288)
    np.testing.assert_allclose(model.layers[1].params["W"].T, expected, rtol=1e-12)
    assert zoo.build("mlp", (4,), 2, init_stream="generator").init_stream == "generator"
    assert zoo.build("cnn-bn", (3, 8, 8), 2).init_stream == "generator"


def test_a_zoo_model_needs_two_classes():
    for name in zoo.names():
        with pytest.raises(ConfigError, match="a classifier needs at least 2 classes, got 1"):
            zoo.build(name, (3, 8, 8), 1)
