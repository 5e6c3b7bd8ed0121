"""The ``.glassnet`` model file: a zip with ``config.json`` and one ``.npy`` per array.

``config.json`` holds the format version, the glassnet version, the architecture, the
input shape, dtype, class names, preprocessing and a training summary. Arrays are
written with ``allow_pickle=False`` and read the same way, so opening a model file can
never run code. Saving is atomic: the previous file survives any failure.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write
from ..errors import ConfigError, ModelFormatError

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"


def _glassnet_version() -> str:
    from .. import __version__

    return __version__


def write_archive(path: str | Path, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Atomically write a zip holding ``config.json`` and ``arrays/<name>.npy`` entries."""
    with atomic_write(path, "wb") as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(CONFIG_NAME, json.dumps(config, indent=2))
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(f"arrays/{name}.npy", buffer.getvalue())


def read_archive(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read ``(config, arrays)`` from a file written by :func:`write_archive`, never unpickling."""
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"model file not found: {path}")
    if path.is_dir():
        raise ModelFormatError(f"{path} is a directory, not a model file")
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                config = json.loads(zf.read(CONFIG_NAME))
            except KeyError:
                raise ModelFormatError(f"{path} has no {CONFIG_NAME}: not a glassnet file") from None
            arrays = {}
            for info in zf.infolist():
                if info.filename.startswith("arrays/") and info.filename.endswith(".npy"):
                    name = info.filename[len("arrays/"):-len(".npy")]
                    try:
                        arrays[name] = np.load(io.BytesIO(zf.read(info)), allow_pickle=False)
                    except ValueError as exc:
                        raise ModelFormatError(
                            f"{path}: array {name!r} is not a plain array ({exc}); "
                            "the file may have been tampered with and was not loaded") from None
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, OSError) as exc:
        raise ModelFormatError(f"{path} is damaged or not a glassnet file: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"{path}: config.json is not valid JSON ({exc})") from None
    version = config.get("format_version")
    if not isinstance(version, int):
        raise ModelFormatError(f"{path}: config.json has no format_version")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} uses format version {version}, newer than this glassnet "
            f"({_glassnet_version()}) can read (up to {FORMAT_VERSION}); upgrade glassnet")
    return config, arrays


def save_model(model, path: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Save architecture, weights, layer state and metadata to ``path`` (atomic)."""
    if not model.built:
        raise ConfigError("build or train the model before saving it")
    config = {
        "format_version": FORMAT_VERSION,
        "glassnet_version": _glassnet_version(),
        "model": model.get_config(),
        "loss": model.loss.get_config() if model.loss is not None else None,
        "training": model.training_summary,
        **(extra or {}),
    }
    write_archive(path, config, model.get_weights())


def load_model(path: str | Path):
    """Load a model saved by :func:`save_model`; a damaged or unsafe file raises ``ModelFormatError``."""
    from ..layers.base import layer_from_config  # noqa: F401  (registers layer classes)
    from ..model import Sequential

    config, arrays = read_archive(path)
    try:
        model = Sequential.from_config(config["model"])
    except (KeyError, TypeError) as exc:
        raise ModelFormatError(f"{path}: the architecture in config.json is invalid ({exc})") from None
    except ConfigError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None
    try:
        model.set_weights(arrays)
    except ValueError as exc:
        raise ModelFormatError(f"{path}: weights do not fit the architecture: {exc}") from None
    if config.get("loss"):
        from .. import losses

        model.loss = losses.from_config(config["loss"])
        model.metrics = ["accuracy"]
    model.training_summary = config.get("training") or {}
    return model
