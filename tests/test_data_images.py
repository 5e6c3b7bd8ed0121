"""Images deeper than 8 bits (16-bit PNG, 16/32-bit integer and float TIFF) are scaled, not clipped."""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glassnet.data import image_folder
from glassnet.data.images import load_image
from glassnet.data.unlabelled import load_images
from glassnet.errors import GlassnetWarning, ImageError, SkippedFileWarning

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


def test_a_16_bit_png_transparency_key_makes_those_pixels_white(tmp_path):
    values = np.full((4, 6), 1000, np.uint16)
    values[0, :3] = 30000
    path = tmp_path / "keyed.png"
    Image.fromarray(values).save(path, transparency=1000)
    loaded = gray(load_image(path))
    assert (loaded[1:] == 255).all() and (loaded[0, 3:] == 255).all()  # the key: transparent
    assert (loaded[0, :3] == round(30000 * 255 / 65535)).all()  # the rest: scaled as usual


def save_16_bit_colour_png(path: Path, values: np.ndarray) -> Path:
    """``values: (H, W, 3 or 4)`` as a 48- or 64-bit PNG (Pillow cannot write one)."""
    height, width, channels = values.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in values)  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, {3: 2, 4: 6}[channels], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("channels", [3, 4])
def test_16_bit_colour_pngs_keep_their_high_byte_as_pillow_reads_them(tmp_path, channels):
    """As the README's recipe for other runtimes says: Pillow has no 16-bit colour mode, so a
    48- or 64-bit PNG opens as 8-bit RGB(A), each value's high byte (not scaled and rounded,
    as 16-bit grayscale is)."""
    values = np.zeros((2, 3, channels), np.uint16)
    values[..., :3] = [[0x80FF, 0x0001, 0xFFFF], [0x7F80, 0x0180, 0x00FF], [0, 0x1234, 0xFF00]]
    if channels == 4:
        values[..., 3] = 0xFFFF  # opaque
    with Image.open(save_16_bit_colour_png(tmp_path / "deep.png", values)) as image:
        assert image.mode == ("RGB", "RGBA")[channels - 3]
    loaded = load_image(tmp_path / "deep.png").transpose(1, 2, 0)
    np.testing.assert_array_equal(loaded, values[..., :3] >> 8)


def test_a_one_channel_image_is_the_luma_of_the_resized_rgb_image(tmp_path):
    """As the README's recipe says: resized in RGB, then (299 R + 587 G + 114 B + 500) // 1000."""
    rgb = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "noise.png")
    _, x = load_images([tmp_path / "noise.png"], (8, 8), color_mode="grayscale")
    resized = np.asarray(Image.fromarray(rgb).resize((8, 8), Image.BILINEAR)).astype(np.int64)
    np.testing.assert_array_equal(x[0, 0], (resized @ [299, 587, 114] + 500) // 1000)


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


def test_nan_is_black_and_a_constant_image_beyond_the_scale_saturates(tmp_path):
    values = np.full((4, 4), 0.5, np.float32)
    values[0, 0] = np.nan
    image = gray(load_image(save_array(tmp_path / "nan.tif", values)))
    assert image[0, 0] == 0 and (image.ravel()[1:] == 128).all()
    for name, value, expected in [("flat.tif", 7.0, 255), ("negative.tif", -3.0, 0)]:
        values = np.full((4, 4), value, np.float32)
        values[0, 0] = np.nan
        constant = gray(load_image(save_array(tmp_path / name, values)))
        assert constant[0, 0] == 0 and (constant.ravel()[1:] == expected).all(), name
    above_16_bits = np.full((4, 4), 70000, np.int32)  # the QA report's uniformly bright image
    assert (gray(load_image(save_array(tmp_path / "bright.tif", above_16_bits))) == 255).all()


def test_big_images_load_and_decompression_bombs_are_a_clear_error(tmp_path, monkeypatch):
    """Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; the limit is
    lowered here so that the test images stay small."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    big = tmp_path / "big.png"
    Image.new("L", (40, 40), 200).save(big)  # 1,600 pixels: over the warning, under the refusal
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning reaches the user either
        assert (gray(load_image(big, (4, 4))) == 200).all()
    bomb = tmp_path / "photos" / "a" / "bomb.png"
    bomb.parent.mkdir(parents=True)
    Image.new("L", (50, 50)).save(bomb)  # 2,500 pixels: refused
    with pytest.raises(ImageError, match=r"bomb.png: image too large to decode safely \(Image size"):
        load_image(bomb)
    Image.new("L", (40, 40)).save(bomb.parent / "big.png")
    with pytest.warns(GlassnetWarning) as caught:
        names, _ = load_images([bomb.parent.parent], image_size=(4, 4))
    assert [Path(n).name for n in names] == ["big.png"]  # loaded by the decoding threads
    assert [type(w.message) for w in caught] == [SkippedFileWarning, SkippedFileWarning]
    assert re.search(r"skipped .*bomb.png: image too large to decode safely", str(caught[0].message))


def test_decoding_threads_leave_the_warning_filters_as_they_were(tmp_path):
    """``catch_warnings`` is not thread-safe: only the thread that runs the pool may use it."""
    for i in range(40):
        save_array(tmp_path / "photos" / "ab"[i % 2] / f"{i}.png", np.full((4, 4), i, np.uint8))
    before = list(warnings.filters)
    for _ in range(10):
        image_folder(tmp_path / "photos", image_size=(4, 4), cache=False, workers=8)
    assert warnings.filters == before


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


@pytest.mark.parametrize("fmt", ["PPM", "ICO", "EPS"])
def test_only_the_documented_formats_are_decoded_whatever_the_name(tmp_path, fmt):
    """Pillow picks a decoder by content: a .png holding another format is refused, so no
    decoder outside the documented ones (EPS runs Ghostscript) ever sees a user's file."""
    path = tmp_path / "disguised.png"
    if fmt == "EPS":
        path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n")
    else:
        Image.new("RGB", (16, 16), (10, 20, 30)).save(path, format=fmt)
    with pytest.raises(ImageError, match="not an image file in a readable format"):
        load_image(path, (8, 8))


def test_a_big_jpeg_is_decoded_at_reduced_scale_and_looks_the_same(tmp_path, monkeypatch):
    from PIL import ImageOps, JpegImagePlugin

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).resize((1024, 768),
                                                                                    Image.BICUBIC)
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=95)
    sizes = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    fast = load_image(path, (48, 64)).astype(float)
    assert sizes == [(512, 384)]  # 1/2 scale: 1/4 would be less than 4 x 64 either way up
    with Image.open(path) as whole:
        whole.load()
        slow = np.asarray(ImageOps.exif_transpose(whole).resize((64, 48), Image.BILINEAR), float)
    difference = np.abs(fast - slow.transpose(2, 0, 1))
    assert difference.mean() < 0.5 and difference.max() <= 2  # measured 0.12 and 1 (at 1/8 scale: 1.4 and 5)


def test_a_photo_with_damaged_exif_is_read_as_stored_not_a_crash(tmp_path):
    """A text value under a number's EXIF tag made Pillow's exif_transpose raise TypeError,
    which stopped a whole folder (found by fuzzing)."""
    from PIL import Image

    from glassnet.data.images import load_image

    pixels = np.zeros((40, 50, 3), np.uint8)
    pixels[:, :25] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112], exif[0x010F] = 6, "cam"  # rotate, and a camera make (text)
    raw = exif.tobytes().replace(b"\x01\x0f\x00\x02", b"\x01\x1b\x00\x02")  # make -> YResolution
    image.save(tmp_path / "bad_exif.jpg", exif=raw)
    loaded = load_image(tmp_path / "bad_exif.jpg")
    assert loaded.shape == (3, 40, 50)  # as stored: the orientation could not be read
    assert loaded[:, :, :20].mean() > 200 and loaded[:, :, 30:].mean() < 50


def _bad_exif_jpeg(path: Path, size: int = 16) -> Path:
    """A JPEG whose EXIF names a tag (ImageDescription) stored past its end: Pillow warns."""
    import struct

    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", 0x010E, 2, 100, 1000) + struct.pack("<I", 0))
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, exif=b"Exif\x00\x00" + tiff)
    return path


def _pillows_exif_warning(path: Path) -> str:
    """What this Pillow says about the damaged EXIF of ``path`` (its wording changed between
    versions: "Truncated File Read" in 10.x, "Tag data larger than file. Skipping tag 270"
    later), read as glassnet reads the orientation."""
    from PIL import ImageOps

    with warnings.catch_warnings(record=True) as caught, Image.open(path) as img:
        warnings.simplefilter("always")
        ImageOps.exif_transpose(img)
    return str(caught[0].message)


def test_pillows_warnings_name_the_file_each_time(tmp_path):
    """Pillow's warning about damaged EXIF named no file, and Python showed it only once, so
    the second photo with the same problem said nothing."""
    paths = [_bad_exif_jpeg(tmp_path / f"photo{i}.jpg") for i in range(2)]
    for path in paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            image = load_image(path, (8, 8))
        assert image.shape == (3, 8, 8)
        assert [(w.category, str(w.message)) for w in caught] == [
            (GlassnetWarning, f"{path}: {_pillows_exif_warning(path)} (Pillow's warning; "
                              "the image was read)")]


def test_a_folders_pillow_warnings_are_named_five_then_counted(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
    paths = [_bad_exif_jpeg(tmp_path / "photos" / "a" / f"{i}.jpg") for i in range(8)]
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "photos" / "b" / "0.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()  # Python's own rule: once per line of code (of Pillow's)
        ds = image_folder(tmp_path / "photos", image_size=8, cache=False)
    assert len(ds) == 9
    assert all(w.filename == __file__ for w in caught)  # they point at the caller's line
    assert [str(w.message) for w in caught] == [
        *(f"{path}: {_pillows_exif_warning(path)} (Pillow's warning; the image was read)"
          for path in paths[:5]),
        f"Pillow warned about 3 more image file(s), e.g. {paths[5]}: "
        f"{_pillows_exif_warning(paths[5])} (the images were read)"]


def test_a_filter_of_your_own_still_silences_pillows_warning(tmp_path):
    """The warnings were collected ahead of the user's filters: ignoring them did nothing."""
    path = _bad_exif_jpeg(tmp_path / "photo.jpg")
    for rule in ({"module": "PIL"}, {"message": _pillows_exif_warning(path)[:12]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()
            warnings.filterwarnings("ignore", **rule)
            load_image(path, (8, 8))
        assert caught == [], rule


def test_the_warning_collector_left_behind_by_another_thread_passes_warnings_on(tmp_path):
    """Two contexts left out of order (catch_warnings is not thread-safe) left the collector
    installed, and later warnings went into a list nobody read."""
    from glassnet.data import images
    from glassnet.data.images import decoding_warnings

    first, second = decoding_warnings(), decoding_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # out of order: second's collector stays installed
        second.__exit__(None, None, None)
        installed = warnings.showwarning
        images._decoding.path = "photo.jpg"  # as a decoding thread without a context of its own
        try:
            warnings.warn("after both", UserWarning, stacklevel=1)
        finally:
            images._decoding.path = None
    assert installed is not warnings._showwarning_orig  # (the leak this guards against)
    assert [str(w.message) for w in caught] == ["after both"]


def test_an_image_that_fails_to_load_gets_its_error_not_pillows_warning(tmp_path):
    """Pillow's warning about a truncated file's EXIF came out as 'the image was read' before
    its ImageError, or instead of it where warnings are errors."""
    path = _bad_exif_jpeg(tmp_path / "whole.jpg")
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("error", GlassnetWarning)
        with pytest.raises(ImageError, match="damaged or truncated"):
            load_image(cut, (8, 8))


def test_a_folders_skipped_image_gets_no_pillow_warning_saying_it_was_read(tmp_path):
    """In a folder, an image that failed to decode is skipped, not raised: its Pillow warning
    was still repeated as 'the image was read'."""
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
    good = _bad_exif_jpeg(tmp_path / "photos" / "a" / "good.jpg")
    whole = _bad_exif_jpeg(tmp_path / "whole.jpg", size=200).read_bytes()  # cut in its pixels:
    (tmp_path / "photos" / "a" / "cut.jpg").write_bytes(whole[:len(whole) // 2])  # EXIF read first
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "photos" / "b" / "0.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        ds = image_folder(tmp_path / "photos", image_size=8, cache=False)
    assert len(ds) == 2
    pillow = [str(w.message) for w in caught if "Pillow" in str(w.message)]
    assert pillow == [f"{good}: {_pillows_exif_warning(good)} (Pillow's warning; the image was read)"]


@pytest.mark.parametrize("width, height", [(80, 20), (20, 80), (33, 32), (32, 32), (7, 5), (3, 61)])
def test_pad_is_pillows_letterbox(tmp_path, width, height):
    from PIL import ImageOps

    rgb = np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    expected = ImageOps.pad(Image.fromarray(rgb), (24, 16), Image.BILINEAR, color=(0, 0, 0))
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", (16, 24), "pad").transpose(1, 2, 0),
                                  np.asarray(expected))


@pytest.mark.parametrize("width, height", [(80, 20), (20, 80), (33, 32)])
def test_crop_is_pillows_centre_fit(tmp_path, width, height):
    from PIL import ImageOps

    rgb = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    expected = ImageOps.fit(Image.fromarray(rgb), (24, 16), Image.BILINEAR)
    np.testing.assert_array_equal(load_image(tmp_path / "x.png", (16, 24), "crop").transpose(1, 2, 0),
                                  np.asarray(expected))


@pytest.mark.parametrize("width, height, line", [(1, 64, np.s_[:, :, 16]), (64, 1, np.s_[:, 16, :])])
def test_pad_keeps_a_thin_image_as_a_line_not_an_all_black_input(tmp_path, width, height, line):
    Image.new("RGB", (width, height), (200, 100, 50)).save(tmp_path / "thin.png")
    image = load_image(tmp_path / "thin.png", (32, 32), "pad")  # Pillow's pad: 0 pixels, all black
    assert (image[line].T == [200, 100, 50]).all()  # one pixel wide, the full length, centred
    assert image.astype(int).sum() == (200 + 100 + 50) * 32
