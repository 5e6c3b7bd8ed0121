"""The image-folder cache stays bounded: old content goes, a few recently used settings stay."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from glassnet.data import image_folder
from glassnet.data.cache import CACHE_FOLDER, CACHE_VERSION, ENV, MAX_ENTRIES_PER_FOLDER
from glassnet.errors import ConfigError
from test_data_folder import save, solid, two_classes

fcntl = pytest.importorskip("fcntl", reason="the cache's lock needs POSIX file locks")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch) -> Path:
    """Every test caches into its own data directory (never the shared data)."""
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    return tmp_path / "data" / "cache" / CACHE_FOLDER


def cache_state(root: Path, size: int) -> str:
    return image_folder(root, image_size=size).info["cache"]


def entries(cache_dir: Path) -> tuple[int, int]:
    """How many ``.json`` and ``.npy`` files the cache holds."""
    return len(list(cache_dir.glob("*.json"))), len(list(cache_dir.glob("*.npy")))


def age_entries(cache_dir: Path) -> None:
    """Give the entries distinct last-use times an hour ago, oldest first in creation order,
    so the test does not depend on the file system's timestamp resolution."""
    for i, path in enumerate(sorted(cache_dir.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)):
        stamp = (1_000_000_000 + i) * 10**9
        os.utime(path, ns=(stamp, stamp))


def test_a_content_change_removes_the_entries_for_the_old_content_at_every_size(tmp_path, cache_dir):
    root = two_classes(tmp_path / "photos")
    for size in (4, 5, 6):
        assert cache_state(root, size) == "miss"
    assert entries(cache_dir) == (3, 3)
    save(root / "b" / "new.png", solid((0, 255, 0)))
    assert cache_state(root, 4) == "miss"
    assert entries(cache_dir) == (1, 1)  # the 5 and 6 entries described the old files
    assert (cache_state(root, 4), cache_state(root, 5)) == ("hit", "miss")


def test_other_class_lists_of_the_same_folder_are_not_old_content(tmp_path, cache_dir):
    root = two_classes(tmp_path / "photos")
    save(root / "c" / "0.png", solid((9, 9, 9)))
    image_folder(root, image_size=4, class_names=["a", "b"])
    save(root / "c" / "1.png", solid((8, 8, 8)))  # changes only what the full class list sees
    image_folder(root, image_size=4)
    assert entries(cache_dir) == (2, 2)
    assert image_folder(root, image_size=4, class_names=["a", "b"]).info["cache"] == "hit"


def test_at_most_n_entries_per_folder_and_the_least_recently_used_goes(tmp_path, cache_dir):
    root = two_classes(tmp_path / "photos")
    sizes = list(range(4, 4 + MAX_ENTRIES_PER_FOLDER))
    for size in sizes:
        cache_state(root, size)
    age_entries(cache_dir)
    assert cache_state(root, sizes[0]) == "hit"  # the oldest entry is now the most recently used
    assert cache_state(root, 99) == "miss"        # one entry too many: sizes[1] is dropped
    assert entries(cache_dir) == (MAX_ENTRIES_PER_FOLDER, MAX_ENTRIES_PER_FOLDER)
    assert [cache_state(root, s) for s in (sizes[0], *sizes[2:], 99)] == ["hit"] * MAX_ENTRIES_PER_FOLDER
    assert cache_state(root, sizes[1]) == "miss"


def test_a_folder_with_the_same_name_elsewhere_keeps_its_entries(tmp_path, cache_dir):
    mine, other = two_classes(tmp_path / "one" / "photos"), two_classes(tmp_path / "two" / "photos")
    cache_state(other, 4)
    for size in range(4, 6 + MAX_ENTRIES_PER_FOLDER):
        cache_state(mine, size)
    save(mine / "a" / "new.png", solid((1, 2, 3)))
    cache_state(mine, 4)
    assert cache_state(other, 4) == "hit"
    assert entries(cache_dir) == (2, 2)


def test_the_entries_of_a_folder_that_no_longer_exists_go_at_the_next_write(tmp_path, cache_dir):
    """Entries were bounded per folder only: a deleted, moved or temporary folder's stayed for good."""
    deleted, moved, kept = (two_classes(tmp_path / name / "photos") for name in ("tmp", "old", "kept"))
    for root in (deleted, moved, kept):
        cache_state(root, 4)
    shutil.rmtree(deleted)
    moved.rename(tmp_path / "old" / "holiday")
    assert entries(cache_dir) == (3, 3)  # nothing happens until an entry is written
    assert cache_state(tmp_path / "old" / "holiday", 4) == "miss"
    assert entries(cache_dir) == (2, 2)  # the kept folder's and the moved folder's new one
    assert cache_state(kept, 4) == "hit"


def test_entries_of_an_older_cache_version_and_damaged_entries_are_removed(tmp_path, cache_dir):
    root = two_classes(tmp_path / "photos")
    cache_state(root, 4)
    (current,) = cache_dir.glob("*.json")
    name = current.name.rsplit("-", 1)[0]
    old = cache_dir / f"{name}-{'0' * 16}.json"
    old.write_text(json.dumps({"version": 2, "array": f"{old.stem}-{'1' * 16}.npy"}))
    np.save(cache_dir / f"{old.stem}-{'1' * 16}.npy", np.zeros(3, np.uint8))
    damaged = cache_dir / f"{name}-{'2' * 16}.json"
    damaged.write_text("{ damaged")
    unrelated = cache_dir / f"other-{'3' * 16}.json"  # another folder's name: not looked at
    unrelated.write_text(json.dumps({"version": 2}))
    newer = cache_dir / f"{name}-{'4' * 16}.json"  # a newer glassnet's, sharing the cache
    newer.write_text(json.dumps({"version": CACHE_VERSION + 1}))
    cache_state(root, 5)
    assert not old.exists() and not damaged.exists() and unrelated.exists() and current.exists()
    assert newer.exists()
    assert entries(cache_dir) == (4, 2)  # size 4, size 5, unrelated, newer; the old array is gone


def test_nothing_is_removed_while_another_process_writes_an_entry(tmp_path, cache_dir):
    """A writer holds the lock shared; pruning needs it exclusively and waits for the next write."""
    root = two_classes(tmp_path / "photos")
    cache_state(root, 4)
    save(root / "b" / "new.png", solid((0, 255, 0)))
    lock = cache_dir.with_name(f"{CACHE_FOLDER}.lock")
    with open(lock, "a") as writer:  # another open file: flock treats it as another process
        fcntl.flock(writer, fcntl.LOCK_SH)
        assert cache_state(root, 5) == "miss"
        assert entries(cache_dir) == (2, 2)  # the old-content entry survives for now
    assert cache_state(root, 6) == "miss"
    assert entries(cache_dir) == (2, 2)  # 5 and 6 describe the new files; the 4 entry is gone
    assert (cache_state(root, 5), cache_state(root, 6)) == ("hit", "hit")


def test_an_entry_removed_under_a_reader_is_rebuilt(tmp_path, cache_dir):
    """A reader that finds the ``.json`` but not its array (pruned meanwhile) rebuilds."""
    root = two_classes(tmp_path / "photos")
    first = image_folder(root, image_size=4)
    (array,) = cache_dir.glob("*.npy")
    array.unlink()
    again = image_folder(root, image_size=4)
    assert again.info["cache"] == "miss" and entries(cache_dir) == (1, 1)
    np.testing.assert_array_equal(first.x, again.x)


def _load_sizes(root: Path, sizes: list[int]) -> list[tuple[int, bytes]]:
    return [(size, image_folder(root, image_size=size).x.tobytes()) for size in sizes]


def test_processes_writing_and_pruning_at_once_always_read_correct_arrays(tmp_path, cache_dir):
    root = two_classes(tmp_path / "photos")
    sizes = list(range(4, 6 + MAX_ENTRIES_PER_FOLDER))
    expected = {s: image_folder(root, image_size=s, cache=False).x.tobytes() for s in sizes}
    orders = [sizes * 2, sizes[::-1] * 2, sizes[1::2] + sizes[::2] + sizes]
    context = multiprocessing.get_context("fork")  # the children inherit GLASSNET_DATA
    with ProcessPoolExecutor(len(orders), mp_context=context) as pool:
        results = list(pool.map(_load_sizes, [root] * len(orders), orders))
    for loaded in results:
        for size, pixels in loaded:
            assert pixels == expected[size], size
    assert entries(cache_dir) == (MAX_ENTRIES_PER_FOLDER, MAX_ENTRIES_PER_FOLDER)
    assert not list(cache_dir.glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize("value,on", [("off", False), ("OFF", False), ("0", False), ("no", False),
                                      ("false", False), ("on", True), ("1", True), ("", True)])
def test_the_environment_switches_the_cache_off(tmp_path, cache_dir, monkeypatch, value, on):
    root = two_classes(tmp_path / "photos")
    monkeypatch.setenv(ENV, value)
    assert cache_state(root, 4) == ("miss" if on else "off")
    assert entries(cache_dir) == ((1, 1) if on else (0, 0))  # off: nothing written either
    assert image_folder(root, image_size=4, cache=True).info["cache"] in ("hit", "miss")  # the argument wins


def test_a_bad_cache_switch_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "maybe")
    with pytest.raises(ConfigError, match=r"\$GLASSNET_IMAGE_CACHE='maybe': expected on or off"):
        image_folder(two_classes(tmp_path / "photos"), image_size=4)


@pytest.mark.parametrize("damage", ["empty npy", "json list", "json null", "files not a list",
                                    "npy one image short"])
def test_a_damaged_entry_of_any_kind_is_rebuilt_not_a_crash(tmp_path, cache_dir, damage):
    root = two_classes(tmp_path / "photos")
    first = image_folder(root, 4)
    (entry,) = cache_dir.glob("*.json")
    if damage == "empty npy":
        (array,) = cache_dir.glob("*.npy")
        array.write_bytes(b"")  # np.load raises EOFError
    elif damage == "npy one image short":  # a valid array that no longer matches its labels
        (array,) = cache_dir.glob("*.npy")
        np.save(array, np.load(array)[:-1])
    elif damage == "files not a list":
        meta = json.loads(entry.read_text())
        entry.write_text(json.dumps({**meta, "files": 3}))
    else:
        entry.write_text("[]" if damage == "json list" else "null")
    again = image_folder(root, 4)
    assert np.array_equal(again.x, first.x) and np.array_equal(again.y, first.y)


def test_a_folder_with_a_long_name_is_cached(tmp_path, monkeypatch):
    """80 Chinese characters are 240 bytes: the entry's name (and its array's, and the
    temporary file's) went past the 255-byte limit, and every run rebuilt the array."""
    root = two_classes(tmp_path / ("照片" * 40))
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert image_folder(root, image_size=4).info["cache"] == "miss"
        assert image_folder(root, image_size=4).info["cache"] == "hit"
    names = [p.name for p in (tmp_path / "data" / "cache" / "image-folders").iterdir()]
    assert all(len(os.fsencode(n)) < 128 for n in names) and any(n.startswith("照片") for n in names)


def test_the_entries_of_a_folder_that_cannot_be_looked_into_are_kept(tmp_path, cache_dir, monkeypatch):
    """A folder behind one we may not enter (or on a drive that refuses us) is not gone:
    pruning after another folder's write must keep its entries."""
    locked, other = (two_classes(tmp_path / name / "photos") for name in ("locked", "open"))
    assert cache_state(locked, 4) == "miss"
    real_stat, refused = os.stat, str(locked.resolve())

    def denying(path, *args, **kwargs):
        if os.fspath(path) == refused:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "stat", denying)
        assert cache_state(other, 4) == "miss"  # its write prunes the cache
    assert entries(cache_dir) == (2, 2)
    assert cache_state(locked, 4) == "hit"
