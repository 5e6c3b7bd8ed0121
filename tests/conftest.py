"""Shared fixtures: the real data directory, PyTorch (optional), small random problems."""

from __future__ import annotations

import io
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
# Tests never reach the network: a named data set missing from a test's data directory is
# downloaded from a local port that refuses (port 9, discard), not from the real mirrors;
# the tests of a download serve their own files and set their own address.
os.environ["GLASSNET_CATS_URL"] = os.environ["GLASSNET_CIFAR10_URL"] = "http://127.0.0.1:9/"


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


def cli_env(env: dict | None = None) -> dict:
    """The environment in which ``python -m glassnet`` runs this checkout's code."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    return full_env


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m glassnet ARGS`` in a subprocess and capture its output."""
    return subprocess.run([sys.executable, "-m", "glassnet", *args], cwd=cwd, env=cli_env(env),
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def real_images(cats, data_root) -> dict[str, tuple[np.ndarray, int]]:
    """A few real test images and the class count: the cat set (2 classes), CIFAR-10 (10)."""
    from glassnet.data import load_cifar10

    return {"cats": (cats["test"].x[:8], 2), "cifar10": (load_cifar10(data_root)["test"].x[:32], 10)}


BAD_FILES = {"cat/notes.txt": "not an image", "non-cat/empty.jpg": "empty file",
             "cat/broken.png": "truncated"}


@pytest.fixture(scope="session")
def cat_photo_folder(cats, tmp_path_factory) -> Path:
    """A real image folder: the 259 cat-set photos as JPEG and PNG in ``cat/`` and ``non-cat/``
    (some in a subfolder), hidden clutter, and three bad files (:data:`BAD_FILES`)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos") / "photos"
    x = np.concatenate([cats["train"].x, cats["test"].x])
    y = np.concatenate([cats["train"].y, cats["test"].y])
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / cats["train"].class_names[label] / ("more" if i % 5 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image.transpose(1, 2, 0))
        picture.save(folder / f"{i:03d}.png") if i % 2 else picture.save(folder / f"{i:03d}.jpg", quality=95)
    (root / "cat" / "notes.txt").write_text("my cat photos, taken in 2024\n")
    (root / "non-cat" / "empty.jpg").write_bytes(b"")
    png = io.BytesIO()
    Image.fromarray(x[0].transpose(1, 2, 0)).save(png, format="PNG")
    (root / "cat" / "broken.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    for clutter in (root / ".DS_Store", root / "cat" / ".DS_Store", root / ".ipynb_checkpoints" / "x.png"):
        clutter.parent.mkdir(exist_ok=True)
        clutter.write_bytes(b"\0\1junk")
    return root
