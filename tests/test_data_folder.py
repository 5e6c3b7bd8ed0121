"""Image folders: discovery, formats, bad files, the decoded-array cache, splits."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import BAD_FILES
from glassnet.data import image_folder, load
from glassnet.data.cache import entry_path
from glassnet.data.unlabelled import load_images
from glassnet.errors import (
    ConfigError,
    DataError,
    DataNotFoundError,
    GlassnetWarning,
    ImageError,
    SkippedFileWarning,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test caches into its own data directory (never the shared data)."""
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))


def save(path: Path, image: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **kwargs)
    return path


def solid(color, size=(40, 30), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color)


def two_classes(root: Path, n: int = 3, size=(40, 30)) -> Path:
    for i in range(n):
        save(root / "a" / f"{i}.png", solid((200, 10 * i, 0), size))
        save(root / "b" / f"{i}.png", solid((0, 10 * i, 200), size))
    return root


def load_quietly(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = image_folder(*args, **kwargs)
    return result, [str(w.message) for w in caught if issubclass(w.category, GlassnetWarning)]


def load_images_quietly(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load_images(*args, **kwargs)
    assert [w.category for w in caught] == [SkippedFileWarning] * 2
    assert "readme.txt" in str(caught[0].message)
    return result


def test_cat_folder_is_read_recursively_with_bad_files_reported(cat_photo_folder, cats):
    ds, messages = load_quietly(cat_photo_folder, image_size=64)
    assert ds.class_names == ["cat", "non-cat"]
    assert ds.x.dtype == np.uint8 and ds.x.shape == (259, 3, 64, 64)
    assert ds.class_counts() == {"cat": 105, "non-cat": 154}
    assert sorted(rel for rel, _ in ds.info["skipped"]) == sorted(BAD_FILES)
    for rel, expected in BAD_FILES.items():
        assert any(rel in m and expected in m for m in messages), (rel, messages)
    assert messages[-1].startswith("skipped 3 of 262 files")
    assert len(messages) == 4  # one line per bad file and the count; hidden clutter is silent
    # The photos are in the right class with the right pixels: PNG bit-exact, JPEG close.
    original = np.concatenate([cats["train"].x, cats["test"].x])
    errors = {rel: np.abs(image.astype(int) - original[int(Path(rel).stem)]).mean()
              for rel, image in zip(ds.info["files"], ds.x, strict=True)}
    assert all(e == 0 for rel, e in errors.items() if rel.endswith(".png"))
    jpeg = [e for rel, e in errors.items() if rel.endswith(".jpg")]
    assert len(jpeg) == 130 and np.mean(jpeg) < 5 and max(jpeg) < 20


def test_strict_mode_makes_bad_files_an_error(cat_photo_folder):
    with pytest.raises(ImageError, match="3 of 262 files") as info:
        image_folder(cat_photo_folder, image_size=16, strict=True)
    assert all(rel.split("/")[1] in str(info.value) for rel in BAD_FILES)


def test_hidden_entries_are_neither_classes_nor_images(tmp_path):
    root = two_classes(tmp_path / "photos")
    save(root / ".ipynb_checkpoints" / "x.png", solid("red"))
    save(root / "a" / ".hidden" / "x.png", solid("red"))
    save(root / "a" / ".ipynb_checkpoints" / "y.png", solid("red"))
    (root / "a" / ".DS_Store").write_bytes(b"junk")
    (root / "__MACOSX").mkdir()
    ds, messages = load_quietly(root, image_size=8)
    assert ds.class_names == ["a", "b"] and len(ds) == 6 and not messages


def test_images_beside_the_class_folders_are_reported_not_silently_dropped(tmp_path):
    root = two_classes(tmp_path / "photos")
    save(root / "stray.png", solid("red"))
    ds, messages = load_quietly(root, image_size=8)
    assert len(ds) == 6
    assert messages == [f"skipped 1 image file(s) directly in {root} (stray.png): an image belongs "
                        "in the subfolder of its class"]
    # ... and listed with the unreadable files, for the run report
    assert ds.info["skipped"] == [["stray.png", "an image beside the class folders, in none of them"]]
    for i in range(6):  # the files are named (they were not), the first five of many
        save(root / f"more-{i}.png", solid("red"))
    _, messages = load_quietly(root, image_size=8)
    assert messages == [f"skipped 7 image file(s) directly in {root} (more-0.png, more-1.png, "
                        "more-2.png, more-3.png, more-4.png and 2 more): an image belongs in the "
                        "subfolder of its class"]


def test_a_pipe_named_as_an_image_is_not_called_empty(tmp_path):
    """A named pipe (or /dev/null) was 'empty file (0 bytes)'; a folder said what it is."""
    import os

    from glassnet.data.images import load_image
    from glassnet.errors import ImageError

    os.mkfifo(tmp_path / "fifo.jpg")
    for path in (tmp_path / "fifo.jpg", "/dev/null"):
        with pytest.raises(ImageError, match="not a regular file .a pipe, socket or device., not an image"):
            load_image(path)


def test_a_linked_class_folder_is_not_followed_and_says_so(tmp_path):
    root = two_classes(tmp_path / "photos")
    elsewhere = two_classes(tmp_path / "elsewhere")
    (root / "c").symlink_to(elsewhere / "a", target_is_directory=True)
    ds, messages = load_quietly(root, image_size=8)
    assert ds.class_names == ["a", "b"] and len(ds) == 6
    assert messages == [f"skipped {root / 'c'}: a link to a folder, not a class folder (linked "
                        "folders are not followed)"]
    assert ds.info["skipped"] == [["c", "a link to a folder, not a class folder"]]


def test_a_dangling_link_is_reported_as_skipped(tmp_path):
    root = two_classes(tmp_path / "photos")
    (root / "a" / "gone.png").symlink_to(tmp_path / "deleted.png")
    (root / "b" / "linked").symlink_to(root / "a", target_is_directory=True)  # not followed
    ds, messages = load_quietly(root, image_size=8)
    assert len(ds) == 6
    assert messages[0] == (f"skipped {root / 'b' / 'linked'}: a link to a folder (linked folders "
                           "are not followed: they may lead anywhere)")
    assert len(messages) == 3 and "a/gone.png" in messages[1]
    assert "skipped 1 of 7 files" in messages[2]
    assert [rel for rel, _ in ds.info["skipped"]] == ["a/gone.png", "b/linked"]
    assert ds.info["skipped"][1][1] == "a link to a folder, not followed"


def test_a_link_that_loops_is_skipped_not_the_end_of_the_listing(tmp_path, capsys):
    """One such link in a synced photo folder made every command fail (ELOOP from the
    listing); named to predict, it printed a traceback."""
    import glassnet as gn
    from glassnet.cli import main

    root = two_classes(tmp_path / "photos")
    loop = root / "a" / "self.jpg"
    loop.symlink_to(loop)
    ds, messages = load_quietly(root, image_size=8)
    assert len(ds) == 6
    assert messages[0] == f"skipped {loop}: cannot read the file (Too many levels of symbolic links)"
    assert ds.info["skipped"] == [["a/self.jpg", "cannot read the file (Too many levels of symbolic links)"]]
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 8, 8),
                          class_names=["a", "b"])
    model.compile("categorical_crossentropy", "sgd")
    model.save(tmp_path / "m.glassnet")
    model_file = str(tmp_path / "m.glassnet")
    assert main(["predict", model_file, str(loop), "--resize", "squash", "--threads", "1"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"glassnet predict: error: {loop}: cannot read the file (Too many levels of symbolic links); "
        "name only readable images, or their folder (whose unreadable files are skipped with a warning)")


def test_a_folder_of_splits_given_as_the_data_set_is_questioned(tmp_path):
    root = tmp_path / "kaggle"
    two_classes(root / "train"), two_classes(root / "test")
    ds, messages = load_quietly(root, image_size=8)
    assert ds.class_names == ["test", "train"]  # what was asked for, but probably not what was meant
    assert messages == [f"the class folders of {root} are named test, train: if they are the "
                        "splits of a data set, give the folder whose subfolders are the classes "
                        f"(e.g. {root / 'train'})"]


def test_a_class_that_shares_a_name_with_a_split_is_not_questioned(tmp_path):
    """Only a folder whose class folders are all split names looks like a data set's splits:
    "valid" and "invalid" documents are two classes."""
    root = two_classes(tmp_path / "documents")
    (root / "a").rename(root / "valid"), (root / "b").rename(root / "invalid")
    ds, messages = load_quietly(root, image_size=8)
    assert ds.class_names == ["invalid", "valid"] and messages == []


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    root = two_classes(tmp_path / "photos")
    latin1 = os.fsencode(root / "a") + b"/caf\xe9.png"  # from an old zip: not valid UTF-8
    with open(latin1, "wb") as handle:
        handle.write((root / "a" / "0.png").read_bytes())
    for _ in range(2):  # decoded, then from the cache
        ds, messages = load_quietly(root, image_size=8)
        assert len(ds) == 7 and not messages


def test_a_folder_the_system_will_not_list_is_one_clear_error(tmp_path, monkeypatch):
    root = two_classes(tmp_path / "photos")
    (root / "a" / "private").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if Path(path).name == "private":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(DataError, match=f"^cannot read the folder {root / 'a' / 'private'}: "
                                        "Permission denied$"):
        image_folder(root, image_size=8)


def test_a_file_the_system_will_not_read_is_skipped_as_such_and_never_cached(tmp_path, monkeypatch):
    root = two_classes(tmp_path / "photos")
    locked = root / "a" / "1.png"
    real_open = Image.open

    def open_image(path, *args, **kwargs):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", open_image)
    for _ in range(2):
        ds, messages = load_quietly(root, image_size=8)
        assert len(ds) == 5 and ds.info["cache"] == "miss"  # a skip that may pass is not cached
        assert messages[0] == f"skipped {locked}: cannot read the file (Permission denied)"
    monkeypatch.setattr(Image, "open", real_open)  # the permission is fixed: size and time unchanged
    ds, messages = load_quietly(root, image_size=8)
    assert len(ds) == 6 and not messages


def test_a_file_without_an_extension_is_read_by_its_content(tmp_path):
    root = two_classes(tmp_path / "photos")
    save(root / "a" / "downloaded", solid((200, 60, 0)), format="PNG")
    (root / "b" / "LICENSE").write_text("not a picture")
    (root / "b" / "notes.txt").write_bytes((root / "a" / "downloaded").read_bytes())  # never opened
    ds, messages = load_quietly(root, image_size=8)
    assert len(ds) == 7 and ds.x[ds.y == 0][-1][:, 0, 0].tolist() == [200, 60, 0]
    assert len(messages) == 3 and "b/LICENSE: no extension, and not a readable image" in messages[0]
    assert "b/notes.txt: not an image file (extension '.txt'" in messages[1]


@pytest.mark.parametrize("name, image, kwargs, expected", [
    ("x.jpg", solid((250, 0, 0)), {"quality": 100}, (250, 0, 0)),
    ("x.jpeg", solid((0, 250, 0)), {"quality": 100}, (0, 250, 0)),
    ("x.bmp", solid((1, 2, 3)), {}, (1, 2, 3)),
    ("x.webp", solid((9, 99, 199)), {"lossless": True}, (9, 99, 199)),
    ("x.tif", solid((10, 20, 30)), {}, (10, 20, 30)),
    ("x.TIFF", solid((10, 20, 30)), {}, (10, 20, 30)),
    ("x.png", solid(77, mode="L"), {}, (77, 77, 77)),
    ("x.png", solid((0, 0, 0, 0), mode="RGBA"), {}, (255, 255, 255)),  # transparent -> white
    ("x.png", solid((5, 6, 7)).convert("P"), {}, (5, 6, 7)),
    ("x.jpg", solid((0, 0, 0, 0), mode="CMYK"), {"quality": 100}, (255, 255, 255)),
    ("x.png", solid(77, mode="L"), {"transparency": 77}, (255, 255, 255)),  # tRNS: grayscale
    ("x.png", solid((5, 6, 7)), {"transparency": (5, 6, 7)}, (255, 255, 255)),  # tRNS: RGB
    ("x.jfif", solid((250, 0, 0)), {"format": "JPEG", "quality": 100}, (250, 0, 0)),
    ("x.jpe", solid((0, 250, 0)), {"format": "JPEG", "quality": 100}, (0, 250, 0)),
])
def test_every_listed_format_and_mode_becomes_rgb(tmp_path, name, image, kwargs, expected):
    root = two_classes(tmp_path / "photos")
    save(root / "a" / name, image, **kwargs)
    ds = image_folder(root, image_size=(6, 5), cache=False)
    index = ds.info["files"].index(f"a/{name}")
    assert ds.x[index].shape == (3, 6, 5)
    assert np.abs(ds.x[index].reshape(3, -1).mean(1) - expected).max() <= 2


def test_gif_first_frame_is_used(tmp_path):
    root = two_classes(tmp_path / "photos")
    frames = [solid((255, 0, 0)).convert("P"), solid((0, 0, 255)).convert("P")]
    save(root / "a" / "anim.gif", frames[0], save_all=True, append_images=frames[1:])
    ds = image_folder(root, image_size=4, cache=False)
    image = ds.x[ds.info["files"].index("a/anim.gif")]
    assert image[0].min() > 200 and image[2].max() < 50


def test_exif_orientation_is_applied(tmp_path):
    root = two_classes(tmp_path / "photos")
    upright = np.zeros((20, 40, 3), np.uint8)
    upright[:, :20] = 255  # left half white
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # 40 high, 20 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": undoes ROTATE_90 (counter-clockwise)
    save(root / "a" / "rotated.jpg", stored, exif=exif, quality=100)
    ds = image_folder(root, image_size=(20, 40), cache=False)
    image = ds.x[ds.info["files"].index("a/rotated.jpg")]
    assert image[:, :, :15].mean() > 240 and image[:, :, 25:].mean() < 15


@pytest.mark.parametrize("mode, check", [
    ("squash", lambda im: im.mean() > 250),
    ("crop", lambda im: im.mean() > 250),
    ("pad", lambda im: im[:, :5].max() == 0 and im[:, 12:20].min() > 250),  # black bars top/bottom
])
def test_resize_modes(tmp_path, mode, check):
    root = two_classes(tmp_path / "photos")
    save(root / "a" / "wide.png", solid((255, 255, 255), size=(80, 20)))
    ds = image_folder(root, image_size=32, resize=mode, cache=False)
    assert check(ds.x[ds.info["files"].index("a/wide.png")])


def test_grayscale_matches_pillow(tmp_path):
    root = two_classes(tmp_path / "photos")
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    save(root / "a" / "noise.png", rgb)
    ds = image_folder(root, image_size=8, color_mode="grayscale", cache=False)
    assert ds.x.shape[1:] == (1, 8, 8)
    expected = np.asarray(rgb.convert("L"))
    assert np.abs(ds.x[ds.info["files"].index("a/noise.png")][0].astype(int) - expected).max() <= 1


def test_parallel_decoding_gives_the_same_array(cat_photo_folder):
    one, _ = load_quietly(cat_photo_folder, image_size=32, workers=1, cache=False)
    many, _ = load_quietly(cat_photo_folder, image_size=32, workers=4, cache=False)
    np.testing.assert_array_equal(one.x, many.x)
    np.testing.assert_array_equal(one.y, many.y)


def make_big_folder(root: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((640, 480), Image.BILINEAR)
        save(root / ("a" if i % 2 else "b") / f"{i}.jpg", image, quality=90)
    return root


def test_second_load_is_a_cache_hit_at_least_10x_faster(tmp_path):
    root = make_big_folder(tmp_path / "photos")
    started = time.perf_counter()
    first = image_folder(root, image_size=64, workers=1)
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        second = image_folder(root, image_size=64, workers=1)
        warm.append(time.perf_counter() - started)
    assert (first.info["cache"], second.info["cache"]) == ("miss", "hit")
    np.testing.assert_array_equal(first.x, second.x)
    assert cold >= 10 * min(warm), (cold, warm)
    cache_dir = tmp_path / "data" / "cache" / "image-folders"
    assert sorted(p.suffix for p in cache_dir.iterdir()) == [".json", ".npy"]  # atomic: no leftovers


@pytest.mark.parametrize("change", ["rewrite", "add", "remove"])
def test_cache_is_invalidated_when_the_folder_changes(tmp_path, change):
    root = two_classes(tmp_path / "photos")
    before = image_folder(root, image_size=4)
    target = root / "a" / "0.png"
    if change == "rewrite":
        save(target, solid((0, 255, 0)))
        os.utime(target, ns=(time.time_ns(), target.stat().st_mtime_ns + 10**9))
    elif change == "add":
        save(root / "b" / "new.png", solid((0, 255, 0)))
    else:
        target.unlink()
    after = image_folder(root, image_size=4)
    assert (before.info["cache"], after.info["cache"]) == ("miss", "miss")
    assert image_folder(root, image_size=4).info["cache"] == "hit"
    cache_dir = tmp_path / "data" / "cache" / "image-folders"
    assert len(list(cache_dir.glob("*.npy"))) == 1  # the stale array is gone
    if change == "rewrite":
        assert after.x[0, 1].min() == 255 and before.x[0, 1].max() < 255
    else:
        assert len(after) == len(before) + (1 if change == "add" else -1)


def test_cache_notices_a_same_size_file_whose_modification_time_was_restored(tmp_path):
    """``cp -p`` of another image of the same size keeps the old mtime; only the file's
    status-change time (which no program can set back) tells the cache it was replaced."""
    root = two_classes(tmp_path / "photos")
    target = root / "a" / "0.png"
    before = image_folder(root, image_size=4)
    old = target.stat()
    target.write_bytes((root / "b" / "0.png").read_bytes())  # blue, where red was
    os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert target.stat().st_size == old.st_size and target.stat().st_mtime_ns == old.st_mtime_ns
    after = image_folder(root, image_size=4)
    assert after.info["cache"] == "miss"
    assert after.x[0, 2].min() == 200 and before.x[0, 2].max() == 0
    # the fingerprint that checkpoints record is by name, size and mtime only: it does not
    # change (a chmod or a restore from backup must not make --resume refuse the folder)
    assert after.info["fingerprint"] == before.info["fingerprint"]


def test_a_chmod_rebuilds_the_cache_but_keeps_the_fingerprint(tmp_path):
    root = two_classes(tmp_path / "photos")
    before = image_folder(root, image_size=4)
    (root / "a" / "0.png").chmod(0o600)
    after = image_folder(root, image_size=4)
    assert after.info["cache"] == "miss"
    np.testing.assert_array_equal(after.x, before.x)
    assert after.info["fingerprint"] == before.info["fingerprint"]


def test_cache_keeps_the_skip_report_and_depends_on_the_settings(cat_photo_folder):
    _, first = load_quietly(cat_photo_folder, image_size=16)
    again, second = load_quietly(cat_photo_folder, image_size=16)
    assert again.info["cache"] == "hit" and first == second
    other, _ = load_quietly(cat_photo_folder, image_size=16, resize="crop")
    assert other.info["cache"] == "miss"
    assert entry_path(cat_photo_folder, {"a": 1}) != entry_path(cat_photo_folder, {"a": 2})


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    root = two_classes(tmp_path / "photos")
    first = image_folder(root, image_size=4)
    (array,) = (tmp_path / "data" / "cache" / "image-folders").glob("*.npy")
    array.write_bytes(b"not an array")
    again = image_folder(root, image_size=4)
    assert again.info["cache"] == "miss"
    np.testing.assert_array_equal(first.x, again.x)


def test_validation_split_and_subsets_are_stratified_and_seeded(cat_photo_folder):
    (train, val), _ = load_quietly(cat_photo_folder, image_size=8, validation_split=0.2, seed=3)
    assert len(train) + len(val) == 259
    assert val.class_counts() == {"cat": 21, "non-cat": 31}
    only_val, _ = load_quietly(cat_photo_folder, image_size=8, validation_split=0.2, seed=3,
                               subset="validation")
    np.testing.assert_array_equal(only_val.x, val.x)
    other, _ = load_quietly(cat_photo_folder, image_size=8, validation_split=0.2, seed=4,
                            subset="validation")
    assert not np.array_equal(other.x, val.x)


def test_class_names_choose_and_order_the_classes(tmp_path):
    root = two_classes(tmp_path / "photos")
    save(root / "c" / "0.png", solid("red"))
    ds = image_folder(root, image_size=4, class_names=["b", "a"])
    assert ds.class_names == ["b", "a"] and ds.x[ds.y == 0][:, 2].min() == 200
    with pytest.raises(ConfigError, match="'z'"):
        image_folder(root, image_size=4, class_names=["a", "z"])
    with pytest.raises(ConfigError, match=r"class_names takes a list of subfolder names, as "
                                          r"class_names=\['a'\], got the string 'a'"):
        image_folder(root, image_size=4, class_names="a")  # was read as ['a'] by luck, "ab" as two
    with pytest.raises(ConfigError, match=r"class_names \['a'\] chooses 1 of the class folders of .*; "
                                          r"a classifier needs at least 2 \(min_classes=1"):
        image_folder(root, image_size=4, class_names=["a"])  # said the folder had one class
    assert image_folder(root, image_size=4, class_names=["a"], min_classes=1).class_names == ["a"]
    with pytest.raises(ConfigError, match=r"class_names \['a', 'b', 'a'\] must be distinct subfolders"):
        image_folder(root, image_size=4, class_names=["a", "b", "a"])  # a's images under two labels


def test_load_images_from_files_and_folders(tmp_path):
    root = two_classes(tmp_path / "photos")
    (root / "b" / "readme.txt").write_text("hi")
    single = save(tmp_path / "one.png", solid((1, 2, 3)))
    names, x = load_images_quietly([str(single), str(root)], 4)
    assert names[0] == str(single) and len(names) == 7 == len(x)
    assert names[1:] == sorted(names[1:])
    with pytest.raises(ImageError, match="readme.txt"):
        load_images([root], 4, strict=True)
    (root / "empty").mkdir()
    with pytest.raises(ImageError, match="no readable image"):
        load_images([root / "empty"], 4)



def test_load_images_reads_each_file_once(tmp_path):
    root = two_classes(tmp_path / "photos")
    first = root / "a" / "0.png"
    # named twice, named and inside a named folder, inside two named folders
    names, x = load_images([str(first), str(tmp_path / "photos" / "a" / ".." / "a" / "0.png"),
                            str(root / "a"), str(root)], 4)
    assert names[0] == str(first) and len(names) == 6 == len(x)
    assert sorted(names[1:]) == sorted(str(p) for p in root.glob("*/*.png") if p != first)
    names, _ = load_images([str(root), str(root / "b")], 4)  # a folder whose files all came before
    assert len(names) == 6


@pytest.mark.parametrize("chunk", [1, 2, 4, 100])
def test_iter_images_gives_load_images_in_bounded_chunks(tmp_path, chunk):
    from glassnet.data.unlabelled import iter_images

    root = two_classes(tmp_path / "photos", n=5)
    (root / "b" / "readme.txt").write_text("hi")
    singles = [save(tmp_path / f"one{i}.png", solid((i, 2, 3))) for i in range(3)]
    items = [str(singles[0]), str(root), str(singles[1]), str(singles[2])]
    names, x = load_images_quietly(items, 4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(iter_images(items, 4, chunk_images=chunk))
    assert all(len(n) == len(c) <= chunk for n, c in chunks)  # memory: one chunk at a time
    assert [name for n, _ in chunks for name in n] == names  # same files, same order
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks]), x)
    assert sum("skipped 1 of 11 files" in str(w.message) for w in caught) == 1  # one report per folder


def test_iter_images_strict_stops_at_the_first_chunk_with_a_bad_file(tmp_path):
    from glassnet.data.unlabelled import iter_images

    root = two_classes(tmp_path / "photos", n=5)  # a/0..4.png, then b/0..4.png
    (root / "b" / "2.png").write_text("not an image")
    chunks = iter_images([root], 4, strict=True, chunk_images=3)
    assert len(next(chunks)[0]) == 3  # a/0..2: out before the bad file is met
    with pytest.raises(ImageError, match=r"1 of 9 files in .* \(strict mode\).*2\.png"):
        list(chunks)


def test_iter_images_hands_out_the_images_before_an_item_that_stops_it(tmp_path):
    from glassnet.data.unlabelled import iter_images

    good = save(tmp_path / "good.png", solid((1, 2, 3)))
    (tmp_path / "empty").mkdir()
    chunks = iter_images([good, tmp_path / "empty"], 4)
    assert next(chunks)[0] == [str(good)]  # answered before the folder's error
    with pytest.raises(ImageError, match=r"empty: no readable image in this folder: it holds no file") as exc:
        next(chunks)
    assert "name only readable images" not in str(exc.value)  # that advice is for a named file
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("a.txt", "b.doc", "c.png"):
        (notes / name).write_text("not an image")
    chunks = iter_images([good, notes], 4)
    with pytest.warns(SkippedFileWarning) as caught:  # the folder is read first
        assert next(chunks)[0] == [str(good)]
    assert len(caught) == 4 and "skipped 3 of 3 files" in str(caught[-1].message)
    with pytest.raises(ImageError, match=r"none of its 3 file\(s\) is a readable image \(a.txt, b.doc, c"):
        next(chunks)


@pytest.mark.parametrize("strict", [False, True])
def test_a_named_file_that_is_not_an_image_stops_iter_images_there(tmp_path, strict):
    from glassnet.data.unlabelled import iter_images

    good, bad = save(tmp_path / "good.png", solid((1, 2, 3))), tmp_path / "bad.png"
    bad.write_text("not an image")
    chunks = iter_images([good, bad, good.with_name("later.png")], 4, strict=strict)
    assert next(chunks)[0] == [str(good)]
    with pytest.raises(ImageError, match="bad.png: not an image file") as exc:
        next(chunks)
    # without strict, a folder's unreadable files would be skipped: the error says so
    assert ("name only readable images, or their folder" in str(exc.value)) is not strict


def test_iter_images_chunks_big_images_by_bytes(tmp_path, monkeypatch):
    from glassnet.data import unlabelled

    assert unlabelled.chunk_size((128, 128), 3) == 1024  # 49 MB: as many as before
    assert unlabelled.chunk_size((384, 384), 3) == 151  # 64 MiB of uint8, not 1,024 (453 MB)
    assert unlabelled.chunk_size((1024, 1024), 3) == 21  # not 3.2 GB
    assert unlabelled.chunk_size((1024, 1024), 1) == 64
    assert unlabelled.chunk_size((8192, 8192), 3) == 1  # one image above the budget: one at a time
    root = two_classes(tmp_path / "photos", n=3)
    monkeypatch.setattr(unlabelled, "CHUNK_BYTES", 2 * 3 * 4 * 4)  # two 4x4 RGB images
    assert [len(names) for names, _ in unlabelled.iter_images([root], 4)] == [2, 2, 2]


def test_the_images_to_predict_load_from_their_documented_place():
    """The README names glassnet.data.folder.load_images and .iter_images."""
    from glassnet.data import folder, unlabelled

    assert folder.load_images is unlabelled.load_images
    assert folder.iter_images is unlabelled.iter_images

def test_test_split_is_carved_first_stratified_and_seeded(cat_photo_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        splits = load(str(cat_photo_folder), image_size=8, test_split=0.2, seed=5)
        again = load(str(cat_photo_folder), image_size=8, test_split=0.2, seed=5)
    assert splits["train"].class_counts() == {"cat": 84, "non-cat": 123}
    assert splits["test"].class_counts() == {"cat": 21, "non-cat": 31}
    np.testing.assert_array_equal(splits["test"].x, again["test"].x)
    assert splits["test"].name == "photos/test"


@pytest.mark.parametrize("setup, kwargs, error, message", [
    (lambda p: p / "nope", {}, DataNotFoundError, "no such folder"),
    (lambda p: save(p / "a.png", solid("red")), {}, DataError, "is a file, not a folder"),
    (lambda p: p, {}, DataError, "no class subfolders"),
    (lambda p: save(p / "x.png", solid("red")).parent, {}, DataError, "holds 1 image file"),
    (lambda p: save(p / "cat" / "x.png", solid("red")).parent.parent, {}, DataError, "only one class"),
    (lambda p: two_classes(p), {"image_size": 0}, ConfigError, "positive"),
    (lambda p: two_classes(p), {"image_size": (32, -1)}, ConfigError, "-1"),
    (lambda p: two_classes(p), {"resize": "stretch"}, ConfigError, "stretch"),
    (lambda p: two_classes(p), {"color_mode": "cmyk"}, ConfigError, "cmyk"),
    (lambda p: two_classes(p), {"subset": "training"}, ConfigError, "validation_split"),
    (lambda p: two_classes(p), {"validation_split": 1.5, "subset": "both"}, ConfigError, "1.5"),
])
def test_bad_input_is_a_clear_error(tmp_path, setup, kwargs, error, message):
    with pytest.raises(error, match=message):
        image_folder(setup(tmp_path), **{"image_size": 8, **kwargs})


def test_a_class_without_readable_images_is_an_error(tmp_path):
    root = two_classes(tmp_path / "photos")
    for path in (root / "b").iterdir():
        path.write_bytes(b"broken")
    with pytest.raises(DataError, match=r"\['b'\].*no readable image"), pytest.warns(SkippedFileWarning):
        image_folder(root, image_size=4)


@pytest.mark.parametrize("split", ["test_split", "validation_split"])
def test_a_split_that_empties_a_class_names_the_class(tmp_path, split):
    root = two_classes(tmp_path / "photos")
    for extra in ("1.png", "2.png"):
        (root / "a" / extra).unlink()  # class 'a' keeps one image: it cannot be on both sides
    with pytest.raises(ConfigError, match=rf"^{split}=0.5 leaves class 'a' \(1 sample\(s\)\) with no"):
        if split == "test_split":
            load(str(root), image_size=4, test_split=0.5)
        else:
            load(str(root), image_size=4)["train"].split(0.5)


def test_named_sets_refuse_folder_options(data_root):
    with pytest.raises(ConfigError, match="^--image-size applies to image folders; the 'cats' set has "
                                          "fixed-size images"):
        load("cats", data_root, image_size=32)
    with pytest.raises(ConfigError, match="^--test-split applies to image folders; .* its own test split"):
        load("cats", data_root, test_split=0.2)
    with pytest.raises(ConfigError, match="^--image-size and --test-split apply to image folders"):
        load("cats", data_root, image_size=32, test_split=0.2)
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        load("imagenet")


def test_an_unwritable_cache_costs_only_a_warning(tmp_path, monkeypatch):
    root = two_classes(tmp_path / "photos")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    monkeypatch.setenv("GLASSNET_DATA", str(blocker))
    with pytest.warns(GlassnetWarning, match=f"could not write the image cache .*: {blocker} is a file, "
                                             "not a folder"):  # the system said "Not a directory"
        ds = image_folder(root, image_size=4)
    assert len(ds) == 6 and ds.info["cache"] == "miss"
    nowhere = tmp_path / "moved-away"
    (link := tmp_path / "data-link").symlink_to(nowhere)
    monkeypatch.setenv("GLASSNET_DATA", str(link))
    with pytest.warns(GlassnetWarning, match=f"image cache .*: {link} is a link to {nowhere}, which "
                                             "does not exist"):  # the system said "File exists"
        image_folder(root, image_size=4)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root, to run a child as the unprivileged user 'nobody'")
def test_a_data_directory_beyond_a_folder_that_may_not_be_entered_costs_only_a_warning():
    """`sudo -u user glassnet ...` with HOME still /root: explaining the failed cache write
    asked whether the folders on the way exist, which raised PermissionError itself, and
    the warning became an error that stopped the command."""
    import shutil
    import tempfile

    # not in pytest's tmp_path: its folders may be entered by root alone
    place = Path(tempfile.mkdtemp(prefix="glassnet-nobody-"))
    try:
        _load_as_nobody_beyond_a_locked_folder(place)
    finally:
        shutil.rmtree(place)


def _load_as_nobody_beyond_a_locked_folder(place: Path) -> None:
    import subprocess
    import sys

    place.chmod(0o755)
    root = two_classes(place / "photos")
    locked = place / "locked"
    locked.mkdir(mode=0o700)
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    # everything imported (and a first, uncached load run) as root: the interpreter's own
    # files may be readable by root alone
    script = ("import os, warnings\n"
              "from glassnet.data import image_folder\n"
              f"image_folder({str(root)!r}, image_size=4, cache=False)\n"
              "os.setgid(65534); os.setuid(65534)\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              f"    ds = image_folder({str(root)!r}, image_size=4)\n"
              "print(len(ds), [str(w.message) for w in caught if 'image cache' in str(w.message)])\n")
    env = {**os.environ, "GLASSNET_DATA": str(locked / "data"),
           "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("6 [") and "could not write the image cache" in result.stdout


def test_a_data_directory_marked_read_only_is_not_written_even_by_root(tmp_path, monkeypatch):
    """A shared data set's folder (dr-xr-xr-x) stays as it is: root ignores the permission
    bits, so they are read, not relied on."""
    root = two_classes(tmp_path / "photos")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o555)
    monkeypatch.setenv("GLASSNET_DATA", str(shared))
    try:
        with pytest.warns(GlassnetWarning, match=r"could not write the image cache .*read-only .*"
                                                 r"\(--no-cache or \$GLASSNET_IMAGE_CACHE=off skips it\)"):
            ds = image_folder(root, image_size=4)
        assert len(ds) == 6 and ds.info["cache"] == "miss" and not list(shared.iterdir())
    finally:
        shared.chmod(0o755)


@pytest.mark.parametrize("mode,marked", [(0o755, False), (0o575, False), (0o557, False), (0o555, True),
                                        (0o500, True)])
def test_a_folder_is_marked_read_only_only_when_nobody_may_write_it(tmp_path, mode, marked):
    """The owner's write bit alone is no mark: a folder its group (or anyone) may write is
    shared for writing."""
    from glassnet.data.store import refuse_if_marked_read_only

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(mode)
    try:
        if marked:
            with pytest.raises(PermissionError, match=f"{shared} is read-only"):
                refuse_if_marked_read_only(shared / "cache" / "entry")
        else:
            refuse_if_marked_read_only(shared / "cache" / "entry")
    finally:
        shared.chmod(0o755)


def test_file_names_follow_their_images_through_splits(tmp_path):
    root = tmp_path / "photos"
    for i in range(6):  # each image's colour encodes its file: red = 40 * i
        save(root / "a" / f"{i}.png", solid((40 * i, 0, 0)))
        save(root / "b" / f"{i}.png", solid((40 * i, 0, 200)))
    splits = load(str(root), image_size=4, test_split=0.5, seed=3)
    training, validation = image_folder(root, image_size=4, validation_split=0.5, subset="both", seed=1)
    for ds in (splits["train"], splits["test"], training, validation, splits["test"].subset(slice(1, 3))):
        assert len(ds.info["files"]) == len(ds)
        for name, image, label in zip(ds.info["files"], ds.x, ds.y, strict=True):
            folder, stem = name.split("/")[0], int(name.split("/")[1].split(".")[0])
            assert ds.class_names[label] == folder and image[0, 0, 0] == 40 * stem


def test_the_listing_skips_pipes_and_strict_makes_everything_skipped_an_error(tmp_path):
    import os

    from glassnet.data import load
    from glassnet.data.unlabelled import load_images

    root = two_classes(tmp_path / "photos", n=2)
    os.mkfifo(root / "b" / "fifo.png")  # reading it would block: listed as skipped, not read
    with pytest.warns(SkippedFileWarning, match=r"fifo.png: not a regular file \(a pipe, socket or device\)"):
        data = image_folder(root, 4, cache=False)
    assert len(data) == 4 and data.info["skipped"] == [["b/fifo.png", "not a regular file"]]
    with pytest.raises(ImageError, match=r"fifo.png: not a regular file .* \(--strict makes every "
                                         r"skipped file an error\)"):
        image_folder(root, 4, cache=False, strict=True)
    (root / "b" / "fifo.png").unlink()
    save(root / "loose.png", solid((1, 2, 3)))  # beside the class folders: no class
    with pytest.raises(ImageError, match="directly in .*--strict makes every skipped file an error"):
        image_folder(root, 4, cache=False, strict=True)
    (root / "loose.png").unlink()
    with pytest.raises(ConfigError, match=r"image size must be a positive integer .*got \(0, 0\)"):
        load(str(root), image_size=0)  # was: silently 128
    with pytest.raises(ConfigError, match="seed must be an integer >= 0, got None"):
        load(str(root), image_size=4, test_split=0.5, seed=None)
    with pytest.raises(ConfigError, match="give a list of image files and folders, got \\[\\]"):
        load_images([], 4)


@pytest.mark.parametrize("labels, names, error", [
    ([0.7, 1.2, 1.9], ["a", "b"], r"labels must be whole class indices, got float64 values such as \[0\.7"),
    ([0, 1, float("nan")], ["a", "b"], r"labels must be whole class indices"),
    ([0, 1, 2], ["a", "b"], r"labels outside \[0, 1\]"),
    ([0, 1, 1], "ab", r"class_names must be a list of strings, got 'ab'"),
    ([0, 1, 1], ["a", "a"], r"class_names must be distinct"),
    ([0, 1, 1], None, r"class_names is required"),
])
def test_a_dataset_refuses_labels_and_names_it_would_change(labels, names, error):
    """astype(int64) made 0.7 a 0 and 1.9 a 1 without a word; "ab" passed as two classes."""
    from glassnet.data import Dataset

    with pytest.raises(ValueError, match=error):
        Dataset(np.zeros((3, 1, 2, 2), np.uint8), labels, names)
    assert Dataset(np.zeros((3, 1, 2, 2), np.uint8), [0.0, 1.0, 1.0], ("a", "b")).y.tolist() == [0, 1, 1]


def test_class_folders_whose_names_differ_only_in_unicode_form_are_refused(tmp_path):
    """'grün' composed and decomposed (as a Mac writes it) would print alike everywhere."""
    from glassnet.errors import DataError

    for name in ("gr\u00fcn", "gru\u0308n", "rot"):
        save(tmp_path / "photos" / name / "0.png", solid((200, 0, 0)))
    with pytest.raises(DataError, match=r"class folders whose names differ only in their Unicode form, "
                                        r"so they look the same: 'gru\\u0308n' and 'gr\\xfcn'; rename"):
        image_folder(tmp_path / "photos", image_size=4)


def test_folder_warnings_point_at_the_callers_line(tmp_path):
    """Every glassnet warning names the user's line (errors.user_stacklevel), however deep in
    glassnet it is raised: a fixed stacklevel named glassnet's own files."""
    root = two_classes(tmp_path / "photos")
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "linked").symlink_to(root / "a", target_is_directory=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image_folder(root, image_size=8)
    assert {Path(w.filename).name for w in caught} == {Path(__file__).name}
    assert len(caught) >= 2


def test_an_image_size_too_large_to_hold_is_a_clear_error_not_numpys(tmp_path):
    """`--image-size 2147483647` stopped with NumPy's traceback "array is too big" (and the
    out-of-memory advice named --batch-size, which does not change the decoded size)."""
    from glassnet.data.decoding import decode_images
    from glassnet.errors import DataError

    folder = two_classes(tmp_path / "photos", n=1)
    paths = sorted(folder.rglob("*.png"))
    side = 2**31 - 1
    message = (rf"^2 images of 3x{side}x{side} pixels need 2.58e\+10 GiB decoded, more than this "
               r"machine can hold \(.*\); choose a smaller image size")
    with pytest.raises(DataError, match=message):
        decode_images(paths, (side, side))
