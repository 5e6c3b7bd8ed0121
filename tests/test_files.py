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


WRITERS = {
    "write_json": "write_json(target, list(range(5000)))",
    "write_text": "write_text(target, 'x' * 50000)",
    "save_figure": "save_figure(big_figure(), target)",
}


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_write_that_fails_midway_names_the_file_and_keeps_the_old_one(tmp_path, writer):
    """A file-size limit (as a full disk) while the body writes: a SaveError naming the
    file, not a bare OSError; the old content stays, and no temporary file is left."""
    import subprocess
    import sys

    target = tmp_path / "report.out"
    target.write_bytes(b"old")
    script = f"""
import resource, sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
from glassnet._files import write_json, write_text
from glassnet.errors import SaveError
from glassnet.report.figures import save_figure
def big_figure():
    fig = Figure(figsize=(8, 8))
    fig.add_subplot().imshow(__import__("numpy").random.default_rng(0).random((400, 400)))
    return fig
target = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (8000, 8000))  # Python ignores SIGXFSZ: EFBIG
try:
    {WRITERS[writer]}
except SaveError as exc:
    print(exc)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"could not write {target}: File too large; the previous file "
                                     "(if any) is unchanged")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["report.out"]


def test_a_link_loop_is_a_save_error_and_leaves_no_temporary_file(tmp_path):
    from glassnet.errors import SaveError

    (tmp_path / "a.json").symlink_to(tmp_path / "b.json")
    (tmp_path / "b.json").symlink_to(tmp_path / "a.json")
    with pytest.raises(SaveError, match=r"could not write .*a.json: Too many levels of symbolic links"):
        write_json(tmp_path / "a.json", {})
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_names_up_to_255_bytes_can_be_written_and_their_leftovers_cleaned(tmp_path):
    import time

    from glassnet._files import STALE_SECONDS

    for length in (242, 255):
        target = tmp_path / ("m" * (length - 5) + ".onnx")
        write_json(target, [length])  # the temporary name was 14 bytes longer: too long
        assert target.read_text() == f"[\n  {length}\n]\n"
    leftover = tmp_path / ("." + "m" * 241 + ".abcdefgh.tmp")  # a killed write's: 255 bytes
    leftover.write_bytes(b"half")
    old = time.time() - STALE_SECONDS - 60
    os.utime(leftover, (old, old))
    write_json(target, [1])
    assert not leftover.exists()


def test_a_temporary_folder_gets_the_permissions_of_a_plain_mkdir(tmp_path):
    """It is renamed into place as a shared data folder (CIFAR-10's): mkdtemp's 0700 would
    leave the data readable only by whoever downloaded it."""
    from glassnet._files import make_temp_dir

    old = os.umask(0o022)
    try:
        folder = make_temp_dir(".cifar-10-batches-py.", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755



def test_a_missing_extra_and_a_broken_one_say_different_things(tmp_path, monkeypatch):
    """An optional package that is installed but fails to import (a library it loads is
    missing) was reported as not installed: pip then answers "already satisfied"."""
    import sys

    from glassnet.errors import MissingExtraError, require_extra

    with pytest.raises(MissingExtraError, match=r"^this needs the optional package 'nosuchpkg': "
                                                r"pip install 'glassnet\[onnx\]'$"):
        require_extra("nosuchpkg", "onnx")
    (tmp_path / "brokenpkg").mkdir()
    (tmp_path / "brokenpkg" / "__init__.py").write_text("raise ImportError('libfoo.so: cannot open')\n")
    (tmp_path / "needy").mkdir()
    (tmp_path / "needy" / "__init__.py").write_text("import nosuchdependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, reason in (("brokenpkg", "libfoo.so: cannot open"),
                         ("needy", "No module named 'nosuchdependency'")):
        with pytest.raises(MissingExtraError, match=rf"^the optional package '{name}' is installed but could "
                                                    rf"not be imported: {reason}$"):
            require_extra(name, "onnx")
        sys.modules.pop(name, None)
