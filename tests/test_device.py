"""Device selection (CPU/NumPy, GPU/CuPy) and thread limits."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import glassnet as gn
from conftest import run_cli
from glassnet import backend
from glassnet.errors import ConfigError

HAS_CUPY = importlib.util.find_spec("cupy") is not None


def gpu_available() -> bool:
    if not HAS_CUPY:
        return False
    import cupy

    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory):
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(3, 64, 64),
                          class_names=["non-cat", "cat"], preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    path = tmp_path_factory.mktemp("device") / "model.glassnet"
    model.save(path)
    return path


needs_gpu = pytest.mark.skipif(not gpu_available(),
                               reason="no GPU here: install glassnet[gpu] (CuPy) on a CUDA machine")


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ConfigError, match="'cpu' or 'gpu', got 'tpu'"):
        backend.set_device("tpu")


def test_bad_device_env_var_fails_where_the_device_is_needed(monkeypatch):
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("GLASSNET_DEVICE", "tpu")
    with pytest.raises(ConfigError, match=r"^\$GLASSNET_DEVICE='tpu': device must be 'cpu' or 'gpu'"):
        gn.Sequential([gn.layers.Dense(2)], input_shape=(3,))
    monkeypatch.setattr(backend, "_device", None)


def test_a_bad_device_env_var_is_not_blamed_on_the_model_file(trained_model, monkeypatch):
    monkeypatch.setattr(backend, "_device", None)
    monkeypatch.setenv("GLASSNET_DEVICE", "tpu")
    with pytest.raises(ConfigError, match=r"^\$GLASSNET_DEVICE='tpu'"):
        gn.load_model(trained_model)
    monkeypatch.setattr(backend, "_device", None)
    result = run_cli("evaluate", str(trained_model), env={"GLASSNET_DEVICE": "tpu"})
    assert result.returncode == 1
    assert result.stderr.startswith("glassnet evaluate: error: $GLASSNET_DEVICE='tpu'")


def test_a_command_run_in_process_leaves_the_callers_device_as_it_was(trained_model, monkeypatch, capsys):
    from glassnet.cli import main

    monkeypatch.setattr(backend, "_device", None)
    assert main(["info", str(trained_model)]) == 0  # runs on the CPU ...
    assert backend._device is None  # ... and the caller's choice (none yet) is back
    with backend.using_device("cpu"):
        assert backend.get_device() == "cpu"
    assert backend._device is None


@pytest.mark.parametrize("device", ["gpu", "tpu"])
def test_info_runs_on_the_cpu_whatever_the_device_env_var_says(trained_model, device):
    result = run_cli("info", str(trained_model), env={"GLASSNET_DEVICE": device})
    assert result.returncode == 0, result.stderr
    assert "glassnet model (format 1" in result.stdout


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_gpu_from_the_env_var_without_cupy_names_the_variable_and_the_extra(trained_model):
    result = run_cli("evaluate", str(trained_model), env={"GLASSNET_DEVICE": "gpu"})
    assert result.returncode == 1
    assert result.stderr.startswith("glassnet evaluate: error: $GLASSNET_DEVICE='gpu': this needs "
                                    "the optional package 'cupy'")


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_gpu_without_cupy_names_the_extra():
    result = run_cli("train", "--device", "gpu", "--epochs", "1")
    assert result.returncode == 1
    assert "glassnet[gpu]" in result.stderr and "Traceback" not in result.stderr


def test_threads_option_is_accepted(tmp_path):
    result = run_cli("train", "--hidden", "7", "--epochs", "2", "--threads", "1", "--quiet",
                     "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr


@needs_gpu
def test_gpu_training_matches_cpu(rng):
    x = rng.standard_normal((64, 10))
    y = rng.integers(0, 3, 64)
    outputs = {}
    for device in ("cpu", "gpu"):
        backend.set_device(device)
        try:
            model = gn.Sequential([gn.layers.Dense(16, activation="relu"), gn.layers.Dense(3)],
                                  input_shape=(10,), seed=5)
            model.compile(loss="categorical_crossentropy", optimizer="adam")
            model.fit(x, y, epochs=3, batch_size=16, verbose=0)
            outputs[device] = model.predict(x)
            assert isinstance(outputs[device], np.ndarray)
        finally:
            backend.set_device("cpu")
    np.testing.assert_allclose(outputs["gpu"], outputs["cpu"], atol=1e-4)


def test_to_device_of_a_host_array_gives_the_dtype_asked_for():
    out = backend.to_device_of([1.5, 2.5], np.zeros(2), dtype=np.float32)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert backend.to_device_of(np.arange(2), np.zeros(2)).dtype == np.arange(2).dtype  # kept
