"""How a ``Sequential`` builds its layers: which layers it takes, and building each in turn.

:class:`~glassnet.model.Sequential`'s constructor, ``add`` and ``build`` call these
functions, and so does unpickling (``__setstate__``). A layer belongs to one model (it
holds that model's weights), so ``add`` refuses one that is in the model already or in
another live model, and a model copied whole owns its copied layers. ``build`` hands each
layer the shape of its inputs and the random stream it draws from: the initial weights
from one stream, the stochastic layers (dropout) from another, so adding a Dropout leaves
every other layer's initial weights as they were. A layer that cannot be built (a shape it
does not take, weights that do not fit in memory) is named by its index in the message.
What shapes of input the model takes is :mod:`glassnet.inputs`'s business.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend
from .errors import ConfigError, OutOfMemoryError, ShapeError
from .layers.base import Layer, check_grads_mirror_params

if TYPE_CHECKING:
    from .model import Sequential


def check_model_arguments(layers: Any, seed: Any, init_stream: Any) -> None:
    """``Sequential``'s ``layers`` (a list, not one layer), ``seed`` and ``init_stream``
    (``"generator"``, or ``"legacy"`` with a seed the course's RandomState takes)."""
    if init_stream not in ("generator", "legacy"):
        raise ConfigError(f"init_stream must be 'generator' or 'legacy', got {init_stream!r}")
    if isinstance(layers, Layer):
        raise ConfigError("Sequential takes a list of layers; write "
                          f"Sequential([{type(layers).__name__}(...), ...])")
    backend.make_rng(seed)  # validates the seed
    if init_stream == "legacy" and seed is not None and seed >= 2**32:
        # The course's RandomState takes 32-bit seeds only.
        raise ConfigError(f"the legacy init stream (the course's mlp) takes seeds below 2**32, "
                          f"got {seed}")


def take_layer(model: Sequential, layer: Any) -> None:
    """Make ``model`` the owner of ``layer``, which it is about to add, if it may: a Layer,
    not in it yet nor in another live model, and the model not built yet."""
    if not isinstance(layer, Layer):
        raise ConfigError(f"Sequential takes Layer objects, got {type(layer).__name__}")
    if model.built:
        raise ConfigError("cannot add layers to a model that is already built: add every layer "
                          "first, then build it (input_shape=..., or model.build(shape))")
    if any(layer is known for known in model.layers):
        # One object would hold one set of weights and one forward cache for two places.
        raise ConfigError(f"this {type(layer).__name__} layer is already in the model; "
                          "create a new layer for each place")
    owner = getattr(layer, "_owner", None)
    if owner is not None and owner() is not None and owner() is not model:
        # Building it for this model would draw new weights over the other model's.
        raise ConfigError(f"this {type(layer).__name__} layer is already in another model, "
                          "and a layer holds the weights of one model; create new layers "
                          "(in a notebook: in the cell that builds the model, so that running "
                          "it again makes new ones), or copy.deepcopy the other model")
    layer._owner = weakref.ref(model)


def release_layers(layers: Sequence[Layer]) -> None:
    """``layers`` belong to no model any more (that of a failed constructor)."""
    for layer in layers:
        layer._owner = None


def claim_copied_layers(model: Sequential) -> None:
    """``model``, a copy (or unpickled), owns those of its layers that no live model owns:
    a deep copy's (or pickle's) layers are its own; a shallow copy (copy.copy, the thread
    replicas) shares the original's, which stay the original's."""
    for layer in model.layers:
        owner = getattr(layer, "_owner", None)
        if owner is None or owner() is None:
            layer._owner = weakref.ref(model)


def build_layers(layers: Sequence[Layer], shape: tuple[int, ...], init_rng: Any, noise_rng: Any,
                 dtype: np.dtype) -> tuple[int, ...]:
    """Build ``layers`` in order for samples of shape ``shape`` (without the batch axis):
    the stochastic ones draw from ``noise_rng``, the others their initial weights from
    ``init_rng``. Returns the last layer's output shape."""
    for index, layer in enumerate(layers):
        rng = noise_rng if layer.stochastic else init_rng
        shape = _build_layer(index, layer, shape, rng, dtype)
    return shape


def _build_layer(index: int, layer: Layer, shape: tuple[int, ...], rng: Any,
                 dtype: np.dtype) -> tuple[int, ...]:
    """``layer.build``; running out of memory names the layer and its weights (a ``Dense``
    after ``Flatten`` on big images: ``cnn-keras`` at 1536 pixels asks for 36 GiB)."""
    what = f"layer {index} ({type(layer).__name__}{f' {layer.name!r}' if layer.name else ''})"
    try:
        output_shape = layer.build(shape, rng, dtype)
    except ShapeError as exc:
        # which of several layers of one class it is; the message names the class already
        message = str(exc).removeprefix(type(layer).__name__ + ": ")
        if message.startswith(type(layer).__name__ + " "):  # "Conv2D expects images ..."
            what = f"layer {index}"
        raise ShapeError(f"{what}: {message}") from None
    except MemoryError as exc:
        values = sum(int(np.prod(s)) for s in layer.array_shapes(shape).values())
        # each weight has a gradient of its size; the initializers draw in float64 and
        # convert, and the draw is still alive when the gradients are made
        kept, peak = 2 * dtype.itemsize * values / 2**30, (8 + 2 * dtype.itemsize) * values / 2**30
        need = (f"needs {values:,} weights ({kept:.1f} GiB as {dtype.name} with their gradients, "
                f"{peak:.1f} GiB at once while they are drawn in float64)" if values
                else "could not create its weights")
        raise OutOfMemoryError(
            f"{what} for inputs (N, {', '.join(map(str, shape))}) {need}: there "
            f"was not enough memory ({exc}); use smaller images, or pool them smaller before "
            f"Flatten{_fewer_units_hint(layer)}") from None
    check_grads_mirror_params(layer, what)
    return output_shape


def _fewer_units_hint(layer: Layer) -> str:
    """``", or fewer than 100000000 units"`` for a layer whose own size is what the memory is
    short of (``--hidden 100000000`` was told only to use smaller images)."""
    units = getattr(layer, "units", None) or getattr(layer, "filters", None)
    return f", or fewer than {units:,} {'units' if hasattr(layer, 'units') else 'filters'}" if units else ""
