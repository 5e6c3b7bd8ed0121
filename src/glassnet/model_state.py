"""A model as plain values: its arrays by name, and its architecture as a JSON-able config.

:class:`~glassnet.model.Sequential`'s ``get_weights``, ``set_weights``, ``get_config``
and ``from_config`` call these functions; :mod:`glassnet.io.format` writes and reads what
they give (the ``.glassnet`` file), and the training callbacks keep and restore the best
weights with them. Arrays are named as :meth:`~glassnet.model.Sequential.parameters`
names them, ``"i.key"`` (layer index and key), with the non-trainable state arrays (batch
norm's running statistics) under ``"i.state.key"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .backend import Array, array_module, as_array, to_device_of, to_numpy
from .errors import ConfigError, GlassnetWarning, ShapeError, user_stacklevel
from .json_checks import short_list
from .layers.base import layer_from_config

if TYPE_CHECKING:
    from .model import Sequential


def named_arrays(model: Sequential) -> dict[str, Array]:
    """Every parameter and state array of ``model`` itself (not copies), keyed by name."""
    arrays = {name: p for name, p, _ in model.parameters()}
    for i, layer in enumerate(model.layers):
        arrays.update({f"{i}.state.{key}": value for key, value in layer.state.items()})
    return arrays


def get_weights(model: Sequential) -> dict[str, np.ndarray]:
    """Every parameter and state array of ``model`` as a NumPy copy, keyed by name."""
    return {name: to_numpy(a).copy() for name, a in named_arrays(model).items()}


def set_weights(model: Sequential, weights: Mapping[str, Any], where: Any = "set_weights") -> None:
    """Copy ``weights`` (as :func:`get_weights` gives them; NumPy or CuPy arrays, or what
    ``np.asarray`` takes) into ``model``'s arrays in place, on their device and in their
    dtype. Every name the model has must be there with its array's shape, and no other
    name: all is checked before anything is copied, so a refused call changes nothing.
    Arrays that hold NaN or infinity load, with a warning that begins with ``where`` (a
    file; ``None``: none, for weights glassnet took from the model itself and puts back)."""
    if not isinstance(weights, Mapping):  # Keras' list would meet NumPy's "truth value" error
        raise ConfigError("set_weights takes the dict get_weights returns, keyed '0.W', '0.b', ... "
                          f"(not Keras' list), got a {type(weights).__name__}")
    if not model.built:  # its layers have no arrays yet: nothing would load, silently
        raise ConfigError("build the model first: give input_shape or call model.build(...) "
                          "before set_weights")
    targets = named_arrays(model)
    missing = [name for name in targets if name not in weights]
    unknown = sorted(str(name) for name in weights if name not in targets)
    if missing:
        raise ShapeError(f"weights are missing {short_list(missing)}")
    if unknown:
        raise ShapeError(f"weights {short_list(unknown)} are not this model's; its arrays are "
                         f"named {short_list(list(targets), 4)}")
    arrays = {name: as_array(weights[name]) for name in targets}
    for name, new in arrays.items():
        if new.shape != targets[name].shape:
            raise ShapeError(f"{name}: expected shape {targets[name].shape}, got {new.shape}")
        if new.dtype.kind not in "biuf":  # a string or complex array would fail mid-copy
            raise ConfigError(f"{name}: weights must be real numbers, got dtype {new.dtype}")
    if where is not None:
        warn_non_finite(where, arrays)
    for name, new in arrays.items():
        current = targets[name]
        current[...] = to_device_of(new, current, dtype=current.dtype)


def warn_non_finite(where: Any, arrays: Mapping[str, Array]) -> None:
    """A warning naming the arrays that hold NaN or infinity (``where``: a file, or the
    call): such a model loads (to be inspected), but its outputs are meaningless."""
    bad = sorted(name for name, array in arrays.items() if not array_module(array).isfinite(array).all())
    if bad:
        warnings.warn(f"{where}: arrays {short_list(bad)} hold NaN or infinite values; the model's "
                      "outputs will be meaningless", GlassnetWarning, stacklevel=user_stacklevel())


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
