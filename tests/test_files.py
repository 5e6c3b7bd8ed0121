"""Atomic writes: the old file survives any failure, and no temporary file is left."""

from __future__ import annotations

import os
import stat

import pytest

from glassnet._files import atomic_write, write_json


def test_failure_keeps_the_previous_content(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_write(path) as handle:
        handle.write(b"half")
        raise RuntimeError("crash in the middle")
    assert path.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["model.bin"]


def test_new_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644


def test_json_files_are_strict_json_with_null_for_non_finite_numbers(tmp_path):
    import json
    import math

    data = {"loss": [0.5, math.nan, math.inf], "test": {"loss": -math.inf, "accuracy": 0.5},
            "pair": (1.0, math.nan), "epochs": 3, "name": None}
    write_json(tmp_path / "m.json", data)
    text = (tmp_path / "m.json").read_text()

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    assert json.loads(text, parse_constant=refuse) == {
        "loss": [0.5, None, None], "test": {"loss": None, "accuracy": 0.5},
        "pair": [1.0, None], "epochs": 3, "name": None}


def test_a_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / "private.glassnet"
    path.write_bytes(b"old")
    path.chmod(0o600)
    with atomic_write(path) as handle:
        handle.write(b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_link_is_written_through_to_its_target(tmp_path):
    target = tmp_path / "models" / "v3.glassnet"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "current.glassnet"
    link.symlink_to(target)
    with atomic_write(link) as handle:
        handle.write(b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"


def test_temporary_files_left_by_a_dead_process_are_removed_once_stale(tmp_path):
    import time

    from glassnet._files import STALE_SECONDS, make_temp_dir

    old = time.time() - STALE_SECONDS - 60
    stale, fresh = tmp_path / ".m.glassnet.abc123.tmp", tmp_path / ".m.glassnet.def456.tmp"
    other = tmp_path / ".other.glassnet.abc123.tmp"  # another file's: not touched
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"half a model")
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    with atomic_write(tmp_path / "m.glassnet") as handle:
        handle.write(b"whole")
    assert not stale.exists() and fresh.exists() and other.exists()
    crashed = tmp_path / ".cifar-10-batches-py.xyz"
    crashed.mkdir()
    (crashed / "data_batch_1").write_bytes(b"x" * 10)
    os.utime(crashed, (old, old))
    new = make_temp_dir(".cifar-10-batches-py.", tmp_path)
    assert not crashed.exists() and new.is_dir()
