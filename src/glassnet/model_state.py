"""A model as plain values: its arrays by name, and its architecture as a JSON-able config.

:class:`~glassnet.model.Sequential`'s ``get_weights``, ``set_weights``, ``get_config``
and ``from_config`` call these functions; :mod:`glassnet.io.format` writes and reads what
they give (the ``.glassnet`` file), and the training callbacks keep and restore the best
weights with them. Arrays are named as :meth:`~glassnet.model.Sequential.parameters`
names them, ``"i.key"`` (layer index and key), with the non-trainable state arrays (batch
norm's running statistics) under ``"i.state.key"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import to_device_of, to_numpy
from .errors import ShapeError
from .layers.base import layer_from_config

if TYPE_CHECKING:
    from .model import Sequential


def get_weights(model: Sequential) -> dict[str, np.ndarray]:
    """Every parameter and state array of ``model`` as a NumPy copy, keyed by name."""
    weights = {name: to_numpy(p).copy() for name, p, _ in model.parameters()}
    for i, layer in enumerate(model.layers):
        for key, value in layer.state.items():
            weights[f"{i}.state.{key}"] = to_numpy(value).copy()
    return weights


def set_weights(model: Sequential, weights: dict[str, Any]) -> None:
    """Copy ``weights`` (as :func:`get_weights` gives them; NumPy or CuPy arrays) into
    ``model``'s arrays in place, on their device and in their dtype; every name must be
    there with the array's shape."""
    for i, layer in enumerate(model.layers):
        for store, prefix in ((layer.params, f"{i}."), (layer.state, f"{i}.state.")):
            for key, current in store.items():
                name = prefix + key
                if name not in weights:
                    raise ShapeError(f"weights are missing {name!r}")
                new = weights[name]
                if not hasattr(new, "shape"):  # NumPy or CuPy arrays are used where they are
                    new = np.asarray(new)
                if new.shape != current.shape:
                    raise ShapeError(f"{name}: expected shape {current.shape}, got {new.shape}")
                current[...] = to_device_of(new, current, dtype=current.dtype)


def get_config(model: Sequential) -> dict[str, Any]:
    """Everything needed to rebuild ``model``'s architecture (JSON-able)."""
    return {
        "name": model.name,
        "input_shape": list(model.input_shape) if model.input_shape else None,
        "dtype": model.dtype.name,
        "seed": model.seed,
        "init_stream": model.init_stream,
        "preprocessing": model.preprocessing,
        "class_names": model.class_names,
        "output_activation": model.output_activation,
        "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                   for layer in model.layers],
    }


def from_config(cls: type[Sequential], config: dict[str, Any]) -> Sequential:
    """A new model of class ``cls`` built from ``config`` (:func:`get_config`'s), with new
    weights: the caller loads the saved ones."""
    layers = [layer_from_config(entry["class_name"], entry["config"])
              for entry in config["layers"]]
    name = config.get("name")
    if not isinstance(name, str) or not name.strip():
        # files saved before names were checked may hold none (null, ""): still loadable
        name = "sequential"
    model = cls(layers, input_shape=config["input_shape"], seed=config.get("seed", 0),
                dtype=config.get("dtype", "float32"), name=name,
                preprocessing=config.get("preprocessing"),
                class_names=config.get("class_names"),
                init_stream=config.get("init_stream", "generator"))
    model.output_activation = config.get("output_activation")
    return model
