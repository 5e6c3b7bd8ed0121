"""The benchmark scripts' logic that needs no timing: the worker-failure exit, the GEMM
shapes of the layer profile, the profile's per-call averaging, the
BLAS-kernel comparison's processes and errors."""

from __future__ import annotations

import itertools
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from glassnet import Sequential, layers, zoo
from glassnet.layers import conv

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench_cnn
        import profile_layers

        yield SimpleNamespace(bench_cnn=bench_cnn, profile_layers=profile_layers)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_compare_exits_with_an_error_naming_the_workload_when_a_worker_fails(tmp_path):
    # Damaged cat files and a download that cannot succeed: the glassnet worker dies in set-up.
    (tmp_path / "catvnoncat").mkdir()
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        (tmp_path / "catvnoncat" / name).write_text("x")
    env = {**os.environ, "GLASSNET_DATA": str(tmp_path), "GLASSNET_CATS_URL": "http://127.0.0.1:9/",
           "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, str(BENCHMARKS / "compare.py"), "--workloads", "cats-mlp",
                          "--reps", "1", "--threads", "1"], env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 1
    assert out.stderr.rstrip().splitlines()[-1].startswith(
        "error: the glassnet cats-mlp worker failed (exit code 1)")


def test_profile_gemm_shapes_follow_the_layers_own_groups(scripts, monkeypatch):
    model = zoo.build("cnn-bn", (3, 32, 32), 10, seed=0)
    for group_bytes in (conv.GROUP_BYTES, conv.GROUP_BYTES // 4):
        monkeypatch.setattr(conv, "GROUP_BYTES", group_bytes)
        shapes = scripts.profile_layers.gemm_shapes(model, batch_size=128)
        convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
        assert len(shapes) == len({(c.input_shape, c.filters) for c in convs}) + 1  # + the square one
        for layer in convs:
            c, h, w = layer.input_shape
            m, k, n = shapes[f"conv {c}->{layer.filters} at {h}x{w}"]
            group = layer._forward_groups(np.empty((128, c, h, w), np.float32))[0]
            assert (m, k) == (layer.filters, c * 9)
            assert n == (group.stop - group.start) * layer.output_shape[1] * layer._unfolded_width()
    # back to the original bytes: larger groups than with a quarter, so wider GEMMs
    monkeypatch.setattr(conv, "GROUP_BYTES", conv.GROUP_BYTES * 4)
    wide = scripts.profile_layers.gemm_shapes(model)
    assert all(wide[name][2] >= shapes[name][2] for name in shapes)
    assert any(wide[name][2] > shapes[name][2] for name in shapes)


def test_layer_profile_averages_each_part_over_its_own_calls(scripts, monkeypatch):
    """Every timed call lasts one tick of a fake clock, so every per-step row is 1000 ms:
    fit's extra forward pass at the end of the epoch (its finite check) is not spread over
    the steps' forward rows."""
    ticks = itertools.count()
    monkeypatch.setattr(scripts.bench_cnn, "clock", lambda: float(next(ticks)))
    model = Sequential([layers.Flatten(), layers.Dense(4, activation="relu"), layers.Dense(3)],
                       input_shape=(2, 2, 2), seed=0)
    model.compile(loss="categorical_crossentropy", optimizer="sgd")
    rng = np.random.default_rng(0)
    train = SimpleNamespace(x=rng.random((20, 2, 2, 2), dtype=np.float32), y=rng.integers(0, 3, 20))
    profile = scripts.bench_cnn.layer_profile(model, train, batch_size=4, steps=5)
    rows = {k: v for k, v in profile.items() if k != "other (loss, loop)"}
    assert {"1:Dense forward", "1:Dense backward", "2:Dense forward", "optimizer step"} <= set(rows)
    assert all(ms == 1000.0 for ms in rows.values()), rows


def test_the_inference_peak_script_reports_the_auto_batch_and_its_budget():
    result = subprocess.run([sys.executable, str(BENCHMARKS / "inference_peak.py"), "cnn-small", "16"],
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cnn-small at 16x16: batch 256, peak ")
    assert result.stdout.rstrip().endswith("x the 256 MiB budget")


def _blas_kernel(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "blas_kernel.py"), *args],
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})},
                          capture_output=True, text=True, timeout=180, check=False)


def test_the_blas_kernel_script_runs_each_kernel_in_its_own_process():
    result = _blas_kernel("--workloads", "maxpool32@32", "--reps", "1", "--kernels", "default,Haswell",
                          env={"OPENBLAS_CORETYPE": "Haswell"})  # the default row must unset it
    assert result.returncode == 0, result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| maxpool")]
    assert [row[1] for row in rows] == ["default", "Haswell"]
    assert rows[0][4] == "1.00"
    if platform.machine() == "x86_64":  # the AVX2 kernel exists only there
        assert rows[1][2] == "Haswell"
        assert rows[0][2] != "Haswell" or "avx512f" not in Path("/proc/cpuinfo").read_text()


def test_the_blas_kernel_script_names_an_unknown_workload():
    result = _blas_kernel("--workloads", "cnn-nope")
    assert result.returncode == 2
    assert "unknown workload cnn-nope; known: cats-mlp" in result.stderr


def test_the_blas_kernel_script_exits_with_an_error_naming_a_failed_worker(tmp_path):
    (tmp_path / "catvnoncat").mkdir()  # damaged files and a download that cannot succeed
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        (tmp_path / "catvnoncat" / name).write_text("x")
    result = _blas_kernel("--workloads", "cats-mlp", "--reps", "1",
                          env={"GLASSNET_DATA": str(tmp_path), "GLASSNET_CATS_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 1
    assert result.stderr.rstrip().splitlines()[-1].startswith(
        "error: the default cats-mlp worker failed (exit code 1)")


def test_the_image_decode_script_has_help_and_asks_for_a_private_data_directory():
    """``--help`` ran the benchmark (44 MB of photos left in /tmp, its cache in ~/.cache)."""
    script = [sys.executable, str(BENCHMARKS / "image_decode.py")]
    env = {k: v for k, v in os.environ.items() if k != "GLASSNET_DATA"}
    helped = subprocess.run([*script, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: image_decode.py")
    refused = subprocess.run(script, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert "set GLASSNET_DATA to a private data directory" in refused.stderr


def no_download(*args, **kwargs):
    raise AssertionError("benchmarks/gpu.py downloaded CIFAR-10 (out of a lent GPU's minutes)")


@pytest.mark.slow  # four epochs of two CNNs and six short fits: 20-50 s on 2 shared cores
def test_the_gpu_script_measures_speed_and_equality_on_the_stand_in(monkeypatch, tmp_path, capsys):
    """benchmarks/gpu.py, run as it would be on a lent GPU (here on the NumPy stand-in for
    CuPy, without the data): both tables, every model's differences within 1e-4."""
    import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path))  # no CIFAR there: random images
    monkeypatch.setattr("glassnet.data.cifar10.download_and_extract", no_download)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu

    assert gpu.main(["--images", "128", "--reps", "1", "--steps", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "data: random uint8 images of CIFAR's shape (128)" in out
    assert re.search(r"^\| cnn-keras \| [\d,]+ \| [\d,]+ \| [\d.]+ \| (yes|no) \|", out, re.M)
    assert re.search(r"^\| cnn-bn \| [\d,]+ \| [\d,]+ \| [\d.]+ \| - \|", out, re.M)
    rows = re.findall(r"^\| (mlp|cnn-keras|cnn-bn) \| (\S+) \| (\S+) \| 1 \| (\w+) \|$", out, re.M)
    assert [row[0] for row in rows] == ["mlp", "cnn-keras", "cnn-bn"]
    for model, before, after, met in rows:
        # the stand-in is NumPy on both sides: the same weights give the same probabilities up
        # to float32 rounding (a GPU convolves the whole batch as one group, the CPU a few
        # images at a time; some BLAS kernels round those GEMMs differently, 3e-8 seen)
        assert float(before) <= 1e-6 and float(after) <= 1e-4 and met == "yes", (model, out)


def test_the_gpu_script_without_cupy_is_one_line_and_exit_code_1():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--images", "128",
                          "--steps", "1"], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    if out.returncode == 0:
        pytest.skip("CuPy and a GPU are here: the script measured them")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip() == ("error: this needs the optional package 'cupy': "
                                  "pip install 'glassnet[gpu]'")


@pytest.mark.parametrize("argv, message", [
    (["--images", "0"], "--images must be at least 1"),
    (["--steps", "2", "--images", "200"], "--images must be at least --steps x 128 = 256"),
])
def test_the_gpu_script_refuses_bad_sizes(argv, message):
    out = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), *argv],
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and message in out.stderr


def test_results_are_appended_after_a_blank_line_and_a_new_file_gets_the_heading(scripts, tmp_path,
                                                                                 monkeypatch):
    """bench_cnn.py --write and gpu.py --write append their tables with one helper."""
    monkeypatch.setattr(scripts.bench_cnn, "ROOT", tmp_path)
    (tmp_path / "benchmarks").mkdir()
    scripts.bench_cnn.append_to_results("### first\n")
    scripts.bench_cnn.append_to_results("### second\n")
    assert (tmp_path / "benchmarks" / "RESULTS.md").read_text() == (
        "# Benchmark results\n\n### first\n\n### second\n")


def test_compare_write_appends_to_the_given_file_atomically_keeping_what_it_held(scripts, tmp_path,
                                                                                 monkeypatch):
    """compare.py --write FILE goes through the same atomic append, to any file it names."""
    target = tmp_path / "notes.md"
    target.write_text("# My notes\n\nkept\n")
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append(dst), real_replace(src, dst)))
    scripts.bench_cnn.append_to_results("| table |\n", target)
    assert target.read_text() == "# My notes\n\nkept\n\n| table |\n"
    assert [str(p) for p in replaced] == [str(target)]
