"""Shared fixtures: the real data directory, PyTorch (optional), small random problems."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()

# Tests read the real data in ../shared/data unless GLASSNET_DATA points elsewhere; the path
# is made absolute because CLI tests run in temporary directories.
os.environ["GLASSNET_DATA"] = str(Path(os.environ.get("GLASSNET_DATA", SHARED_DATA)).resolve())
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ["GLASSNET_DATA"])
    if not (root / "catvnoncat" / "train_catvnoncat.h5").exists():
        pytest.fail(f"the shared data is missing: expected {root}/catvnoncat/ (set GLASSNET_DATA)")
    return root


@pytest.fixture(scope="session")
def cats(data_root):
    from glassnet.data import load_cats

    return load_cats(data_root)


@pytest.fixture(scope="session")
def torch():
    """PyTorch as a reference; tests using it skip with a reason when it is not installed."""
    return pytest.importorskip("torch", reason="PyTorch is not installed: `make test` installs "
                                               "the test extra (torch==2.13.0, CPU)")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m glassnet ARGS`` in a subprocess and capture its output."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "glassnet", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def real_images(cats, data_root) -> dict[str, tuple[np.ndarray, int]]:
    """A few real test images and the class count: the cat set (2 classes), CIFAR-10 (10)."""
    from glassnet.data import load_cifar10

    return {"cats": (cats["test"].x[:8], 2), "cifar10": (load_cifar10(data_root)["test"].x[:32], 10)}
