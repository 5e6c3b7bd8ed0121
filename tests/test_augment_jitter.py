"""Brightness/contrast jitter, and augmentation reaching only the training batches."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.data import augment
from glassnet.data.dataset import Dataset
from glassnet.errors import ConfigError
from glassnet.runs import RunConfig, train_run


def reference_jitter(batch: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One image at a time, as torchvision's adjust_brightness then adjust_contrast (unclipped)."""
    out = []
    for image, bi, ci in zip(batch.astype(np.float64), b, c, strict=True):
        bright = image * bi
        grey = 0.299 * bright[0] + 0.587 * bright[1] + 0.114 * bright[2]
        out.append(ci * bright + (1 - ci) * grey.mean())
    return np.stack(out)


def test_jitter_matches_the_per_image_formula(rng):
    batch = rng.random((6, 3, 5, 7)).astype(np.float32)
    out = augment.random_jitter(batch, np.random.default_rng(3), brightness=0.3, contrast=0.4)
    draws = np.random.default_rng(3)
    b = draws.uniform(0.7, 1.3, 6)
    c = draws.uniform(0.6, 1.4, 6)
    assert out.dtype == np.float32 and out.shape == batch.shape
    np.testing.assert_allclose(out, reference_jitter(batch, b, c), rtol=1e-5, atol=1e-6)


def test_jitter_on_uint8_stays_in_range_and_is_seeded(rng):
    batch = rng.integers(0, 256, (8, 3, 6, 6)).astype(np.uint8)
    kept = batch.copy()
    a = augment.random_jitter(batch, np.random.default_rng(1), brightness=0.5, contrast=0.5)
    assert a.dtype == np.uint8 and not np.array_equal(a, batch)
    np.testing.assert_array_equal(a, augment.random_jitter(batch, np.random.default_rng(1), 0.5, 0.5))
    np.testing.assert_array_equal(batch, kept)
    zero = augment.random_jitter(batch, np.random.default_rng(1), brightness=0.0, contrast=0.0)
    np.testing.assert_array_equal(zero, batch)


def test_jitter_on_uint8_rounds_to_the_nearest_level(rng):
    """Truncating instead would darken every jittered image by half a level on average."""
    batch = rng.integers(0, 256, (6, 3, 5, 7)).astype(np.uint8)
    out = augment.random_jitter(batch, np.random.default_rng(3), brightness=0.3, contrast=0.4)
    draws = np.random.default_rng(3)
    b, c = draws.uniform(0.7, 1.3, 6), draws.uniform(0.6, 1.4, 6)
    expected = np.clip(reference_jitter(batch, b, c), 0, 255)
    assert np.abs(out - expected).max() <= 0.5 + 1e-3


def test_contrast_alone_keeps_the_mean_grey_and_grayscale_works(rng):
    batch = rng.random((4, 1, 8, 8)).astype(np.float32)
    out = augment.random_jitter(batch, np.random.default_rng(0), brightness=0.0, contrast=0.5)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), batch.mean(axis=(1, 2, 3)), rtol=1e-5)
    assert not np.allclose(out.std(axis=(1, 2, 3)), batch.std(axis=(1, 2, 3)))


@pytest.mark.parametrize("kwargs", [{"brightness": -0.1}, {"contrast": 1.0}, {"brightness": True}])
def test_jitter_rejects_bad_amounts(rng, kwargs):
    with pytest.raises(ConfigError, match="jitter"):
        augment.random_jitter(np.zeros((1, 3, 2, 2), np.uint8), rng, **kwargs)


def test_parse_knows_jitter():
    fn = augment.parse("flip,crop,jitter")
    batch = np.full((3, 3, 8, 8), 100, np.uint8)
    assert fn(batch, np.random.default_rng(0)).shape == batch.shape


def test_augmentation_sees_only_training_batches(tmp_path, rng):
    x = rng.integers(0, 256, (40, 3, 8, 8)).astype(np.uint8)
    y = np.arange(40) % 2
    data = {"train": Dataset(x, y, ["a", "b"]), "test": Dataset(x[:10], y[:10], ["a", "b"])}
    seen = []

    def spy(batch, generator):
        seen.append(len(batch))
        return augment.random_jitter(batch, generator)

    config = RunConfig(model="mlp", hidden=[4], epochs=3, batch_size=8, validation_split=0.25,
                       out=str(tmp_path / "run"), extra={"augment_fn": spy})
    result = train_run(config, verbose=0, data=data)
    assert sum(seen) == 3 * 30  # every training sample once per epoch; never validation or test
    assert "val_loss" in result.history.to_dict()


def test_jitter_keeps_a_float64_batch_in_float64():
    x = np.full((2, 3, 2, 2), 0.1234567890123)
    same = augment.random_jitter(x, np.random.default_rng(0), brightness=0.0, contrast=0.0)
    assert same.dtype == np.float64
    np.testing.assert_allclose(same, x, rtol=1e-15)  # float32 arithmetic was 2e-9 off
    big = augment.random_jitter(np.full((1, 1, 2, 2), 1e300), np.random.default_rng(0))
    assert np.isfinite(big).all()  # in float32 it was inf
