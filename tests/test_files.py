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
