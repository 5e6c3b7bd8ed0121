"""Images deeper than 8 bits (16-bit PNG, 16/32-bit integer and float TIFF) are scaled, not clipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glassnet.data import image_folder
from glassnet.data.folder import load_images
from glassnet.data.images import load_image

# The QA report's image: a 16-bit gradient from 21 to 65516, which used to load as near-white.
GRADIENT = np.linspace(21, 65516, 12 * 16).round().reshape(12, 16)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Never cache into the shared data directory."""
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))


def save_array(path: Path, values: np.ndarray, mode: str | None = None) -> Path:
    """``values`` written by Pillow as a real file (PNG for 16-bit, TIFF for the rest)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = (Image.frombytes(mode, values.shape[::-1], values.tobytes()) if mode
             else Image.fromarray(values))
    image.save(path)
    return path


def gray(image: np.ndarray) -> np.ndarray:
    """The one channel of an RGB ``(3, H, W)`` image that came from grayscale."""
    assert image.dtype == np.uint8 and image.shape[0] == 3
    assert (image[0] == image[1]).all() and (image[0] == image[2]).all()
    return image[0].astype(int)


@pytest.mark.parametrize("name, values, mode, opened_as", [
    ("gradient.png", GRADIENT.astype(np.uint16), None, "I;16"),
    ("big-endian.tif", GRADIENT.astype(">u2"), "I;16B", "I;16B"),
    ("int32.tif", GRADIENT.astype(np.int32), None, "I"),
])
def test_16_bit_samples_are_scaled_to_8_bits(tmp_path, name, values, mode, opened_as):
    path = save_array(tmp_path / name, values, mode)
    with Image.open(path) as img:
        assert img.mode == opened_as  # the file really is the deep mode under test
    image = gray(load_image(path))
    np.testing.assert_array_equal(image, np.rint(GRADIENT * 255 / 65535))
    assert image.min() == 0 and image.max() == 255 and abs(image.mean() - 127.5) < 1


def test_float_images_map_0_to_1_onto_0_to_255(tmp_path):
    values = (GRADIENT / 65535).astype(np.float32)
    image = gray(load_image(save_array(tmp_path / "float.tif", values)))
    np.testing.assert_array_equal(image, np.rint(values.astype(np.float64) * 255))


@pytest.mark.parametrize("name, values", [
    ("float.tif", (GRADIENT - 30000).astype(np.float32)),  # negative and above 1: scale unknown
    ("int32.tif", (GRADIENT * 100).astype(np.int32)),      # beyond 16 bits
])
def test_values_outside_the_known_range_are_stretched_min_to_max(tmp_path, name, values):
    image = gray(load_image(save_array(tmp_path / name, values)))
    low, high = values.min(), values.max()
    np.testing.assert_array_equal(image, np.rint((values - low) * (255 / (high - low))))


def test_nan_is_black_and_a_constant_image_of_unknown_scale_is_black(tmp_path):
    values = np.full((4, 4), 0.5, np.float32)
    values[0, 0] = np.nan
    image = gray(load_image(save_array(tmp_path / "nan.tif", values)))
    assert image[0, 0] == 0 and (image.ravel()[1:] == 128).all()
    constant = gray(load_image(save_array(tmp_path / "flat.tif", np.full((4, 4), 7.0, np.float32))))
    assert (constant == 0).all()


def test_training_folders_and_predict_see_the_scaled_pixels(tmp_path):
    """The same decoding reaches image folders (training, evaluate) and predict, resized."""
    root = tmp_path / "photos"
    dark = save_array(root / "dark" / "0.png", np.full((12, 16), 4000, np.uint16))
    save_array(root / "bright" / "0.png", np.full((12, 16), 60000, np.uint16))
    expected = {"dark": round(4000 * 255 / 65535), "bright": round(60000 * 255 / 65535)}
    ds = image_folder(root, image_size=(6, 8), color_mode="grayscale")
    for image, label in zip(ds.x, ds.y, strict=True):
        assert image.shape == (1, 6, 8) and (image == expected[ds.class_names[label]]).all()
    names, x = load_images([dark], image_size=(6, 8))
    assert names == [str(dark)] and (x == expected["dark"]).all()
