"""The layer protocol shared by every layer.

A layer owns three dicts of arrays: ``params`` (trainable), ``grads`` (same keys and
shapes, written by ``backward``) and ``state`` (non-trainable, saved with the model,
e.g. batch-norm running statistics). ``build`` creates them for a given input shape;
``forward`` computes the output and keeps only what ``backward`` needs; ``backward``
turns ``dLoss/dy`` into ``dLoss/dx`` and fills ``grads``.

Every subclass registers itself by class name, which is how a saved model is rebuilt
from its ``config.json`` without ever running code from the file.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from ..backend import Array, RandomSource, array_module, as_array
from ..errors import ConfigError, ShapeError
from ..functional import as_float

LAYER_CLASSES: dict[str, type[Layer]] = {}


class Layer:
    """Base class: subclasses implement ``build``, ``forward``, ``backward`` and ``get_config``."""

    #: keys of ``params`` that L2 regularization applies to (weights, never biases)
    regularized: ClassVar[tuple[str, ...]] = ()
    #: True for layers whose training-time output is random (dropout): the fit loop may
    #: compute the output of leading parameter-free, non-random layers only once, and a
    #: model builds them with its noise generator, not the weight-initialization one (so
    #: adding one leaves the other layers' initial weights unchanged).
    stochastic: ClassVar[bool] = False
    #: True for layers that a batch may be split over threads for (training/shards.py): each
    #: sample's output depends on that sample alone (BatchNorm's batch statistics are summed
    #: across the parts), parameter gradients add up over samples, and randomness is drawn
    #: as ``self.rng.random(x.shape)``, once per forward. Every glassnet layer says so; a
    #: layer of your own is never split unless it does too (a subclass that overrides
    #: ``build``, ``forward`` or ``backward`` must say so again).
    shardable: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "shardable" not in vars(cls) and {"build", "forward", "backward"} & set(vars(cls)):
            cls.shardable = False  # new math: not known to allow a split batch
        # Model files name layers by class name alone, so two different classes under one
        # name would load one as the other. Redefining the same class (a re-run notebook
        # cell, a reloaded module) just replaces it.
        known = LAYER_CLASSES.get(cls.__name__)
        if known is not None and _origin(known) != _origin(cls):
            raise ConfigError(
                f"a layer class named {cls.__name__!r} already exists ({_origin(known)}); model "
                f"files store layers by class name, so give {_origin(cls)} another name")
        LAYER_CLASSES[cls.__name__] = cls

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.state: dict[str, Array] = {}
        self.input_shape: tuple[int, ...] | None = None
        self.output_shape: tuple[int, ...] | None = None
        self.dtype: np.dtype = np.dtype(np.float32)
        self._cache: dict[str, Any] | None = None
        #: False when nothing upstream needs dLoss/dx (the model's first trainable layer):
        #: ``backward`` may then skip computing it and return ``None``.
        self.input_grad = True
        self._owner: Any = None  # a weak reference to the model it is in (one model only)

    def __getstate__(self) -> dict[str, Any]:
        # A copy (or pickle) belongs to the copy of its model, which claims it; the original's
        # weak reference cannot be pickled, and would tie the copy to the original model.
        return {**self.__dict__, "_owner": None}

    # -- protocol -------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...], rng: RandomSource, dtype: Any) -> tuple:
        """Create params for inputs ``(N, *input_shape)``; return the output shape (no N)."""
        if not isinstance(rng, (np.random.Generator, np.random.RandomState)):  # e.g. a seed, 0
            raise ConfigError(f"{type(self).__name__}.build takes rng, a numpy.random.Generator "
                              f"(np.random.default_rng(0)), got {rng!r}")
        if not all(isinstance(size, (int, np.integer)) and size > 0 for size in input_shape):
            raise ShapeError(f"{type(self).__name__} needs input sizes > 0 (without the batch "
                             f"axis), got {tuple(input_shape)}")
        self.input_shape = tuple(input_shape)
        self.dtype = np.dtype(dtype)
        self.output_shape = self.compute_output_shape(self.input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Output shape (without N) for an input shape (without N); default: unchanged."""
        return tuple(input_shape)

    def array_shapes(self, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
        """The shapes of the ``params`` (and, as ``"state.<key>"``, of the ``state``) that
        :meth:`build` creates for inputs ``(N, *input_shape)``, without creating them: a
        model file is checked against them before anything is allocated. Default: none."""
        return {}

    def min_batch(self) -> int:
        """The fewest samples a training batch may hold (BatchNorm on dense inputs: 2)."""
        return 1

    def forward(self, x: Array, training: bool = False) -> Array:
        """``x: (N, *input_shape)`` → ``y: (N, *output_shape)``. With ``training`` the layer
        keeps (``_remember``) only what :meth:`backward` needs, and uses its training
        behaviour (dropout masks, batch statistics)."""
        raise NotImplementedError

    def backward(self, dy: Array) -> Array | None:
        """``dy = dL/dy: (N, *output_shape)`` → ``dL/dx: (N, *input_shape)``, after filling
        ``self.grads`` (``dL/dparam``, shaped as ``params``). ``dy`` is never changed in
        place; ``None`` when ``input_grad`` is off (a model's first layer: nothing needs it)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """JSON-able constructor arguments."""
        return {"name": self.name} if self.name else {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from :meth:`get_config`'s output."""
        return cls(**config)

    # -- helpers for subclasses -----------------------------------------------------
    @property
    def built(self) -> bool:
        return self.output_shape is not None

    def require_built(self, what: str = "forward") -> None:
        """A clear error instead of a missing weight when ``build`` has not run."""
        if not self.built:
            raise ConfigError(f"{type(self).__name__} must be built before {what}: put it in a "
                              "Sequential model, or call layer.build(input_shape, rng, dtype)")

    def check_batch(self, x: Array) -> Array:
        """``x`` in the layer's dtype, or a clear error, before any arithmetic, when ``x`` is
        not a batch ``(N, *input_shape)`` of the inputs the layer was built for (one sample
        alone: add the batch axis).

        Why the cast: a layer used on its own (``layer.forward(images)``) would otherwise
        compute in the input's dtype: uint8 pixels wrap around and truncate, float64 inputs
        double the work of a float32 layer. In a model the inputs are already cast
        (``Sequential.preprocess``), so this costs nothing there. A list or a PyTorch CPU
        tensor is taken as an array, as ``model.predict`` takes it."""
        self.require_built()
        x = as_array(x)
        if tuple(x.shape[1:]) != self.input_shape:
            hint = "; add the batch axis: x[None]" if tuple(x.shape) == self.input_shape else ""
            raise ShapeError(f"{type(self).__name__} was built for inputs (N, "
                             f"{', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}{hint}")
        return self._in_layer_dtype(x)

    def _in_layer_dtype(self, a: Array) -> Array:
        """``a`` in this layer's dtype (itself when it already is)."""
        return a if a.dtype == self.dtype else a.astype(self.dtype)

    def _remember(self, training: bool = True, /, **values: Any) -> None:
        """Keep what ``backward`` needs from this forward pass (``values``). An inference
        pass (``training`` False) keeps nothing and drops what the last training pass kept:
        ``backward`` then fails clearly instead of differentiating another batch."""
        self._cache = values if training else None

    def clear_cache(self) -> None:
        """Drop what the last ``forward(x, training=True)`` kept: after an inference pass it
        belongs to another batch, so ``backward`` must fail clearly instead of using it."""
        self._cache = None

    def _recall(self) -> dict[str, Any]:
        """What ``forward`` kept; a clear error if ``forward(training=True)`` has not run."""
        if self._cache is None:
            raise ShapeError(
                f"{type(self).__name__}.backward called with no training pass before it: "
                "run forward(x, training=True) first (forward(x) alone, training=False, keeps "
                "nothing for backward)"
            )
        return self._cache

    def check_output_grad(self, dy: Any, shape: tuple[int, ...]) -> Array:
        """``dy`` as an array in the layer's dtype, or a clear error when it is not shaped
        like the output of the forward pass before it (``forward(x, training=True)``;
        BatchNorm's eval-mode backward follows an inference pass), ``shape``, batch axis
        included. Before any arithmetic: NumPy would broadcast the ``dy`` of one sample, or
        one without the batch axis, over the whole batch without a word. The cast is
        :meth:`check_batch`'s for ``x``: a ``dy`` of ints (``np.ones(shape, int)``) would
        otherwise truncate the pools' ``dy / k`` to 0, and a float64 ``dy`` make a float32
        layer's ``dx`` float64 (in a model every ``dy`` is already in its dtype: no cost).
        A layer without parameters used alone and never built (``ReLU().forward(x)``) has no
        dtype of its own: it computes in the input's, and takes ``dy`` as it is (ints as float64)."""
        dy = as_array(dy)
        if tuple(dy.shape) != tuple(shape):
            raise ShapeError(f"{type(self).__name__}.backward: dy must be shaped like the output of "
                             f"the forward pass before it, {tuple(shape)}; got {tuple(dy.shape)}")
        return self._in_layer_dtype(dy) if self.built else as_float(dy)

    def _init_grads(self) -> None:
        """Zero gradients with the same keys, shapes, dtype and device as ``params``."""
        self.grads = {k: array_module(v).zeros_like(v) for k, v in self.params.items()}

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except ConfigError:  # e.g. a callable initializer, which has no name to save:
            return f"{type(self).__name__}(...)"  # showing a layer must never fail
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


def check_grads_mirror_params(layer: Layer, what: str) -> None:
    """After ``build``, ``grads`` must hold a zero array shaped like each of ``params``: a
    layer of one's own that fills ``grads`` only in ``backward`` passes a gradient check and
    then fails in ``fit`` with a bare ``KeyError`` (the optimizer and checkpoints read them
    by name). ``what`` names the layer in the error."""
    params, grads = layer.params, layer.grads
    if set(grads) == set(params) and not misshaped_grads(layer):
        return

    def shapes(arrays: dict[str, Any]) -> str:
        return ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items()) or "none"

    raise ConfigError(f"{what}: after build, its grads ({shapes(grads)}) do not mirror its params "
                      f"({shapes(params)}); create them at the end of build with "
                      "self._init_grads() (zeros shaped like each param)")


def misshaped_grads(layer: Layer) -> list[str]:
    """The keys of ``layer.params`` whose gradient is missing or shaped otherwise."""
    return [key for key, value in layer.params.items()
            if key not in layer.grads or tuple(layer.grads[key].shape) != tuple(value.shape)]


def check_config_complete(layer: Layer, what: str) -> None:
    """Before a save: ``get_config()`` must return every ``__init__`` argument that the
    loaded layer would otherwise get wrong. A layer of one's own that keeps ``alpha=3.0``
    but returns only ``name`` would load with the default ``alpha`` and predict otherwise,
    silently; without a default, the file could not be loaded at all. Arguments with a
    default are checked when the layer keeps them as an attribute of the same name."""
    config = layer.get_config()
    arguments = list(inspect.signature(type(layer).__init__).parameters.values())[1:]
    for arg in arguments:
        if arg.kind in (arg.VAR_POSITIONAL, arg.VAR_KEYWORD) or arg.name in config:
            continue
        if arg.default is arg.empty:
            problem = ", which __init__ requires: the file could not be loaded"
        elif hasattr(layer, arg.name) and not _equal(getattr(layer, arg.name), arg.default):
            problem = (f" ({getattr(layer, arg.name)!r} here): the loaded layer would have the "
                       f"default, {arg.default!r}")
        else:
            continue
        raise ConfigError(f"{what}: get_config() does not return {arg.name!r}{problem}; "
                          "return it from get_config (with the other arguments)")


def _equal(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except (TypeError, ValueError):  # an array: not a plain default
        return False


def child_generator(rng: np.random.Generator | np.random.RandomState) -> np.random.Generator:
    """A new independent ``Generator`` drawn from a build-time ``rng`` (for layers such as
    dropout that draw at training time; works for the legacy init stream too)."""
    return np.random.default_rng(int(rng.integers(2**63)) if isinstance(rng, np.random.Generator)
                                 else int(rng.randint(2**31)))


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def layer_from_config(class_name: str, config: dict[str, Any]) -> Layer:
    """Rebuild a registered layer; unknown class names are an error, never an import."""
    cls = LAYER_CLASSES.get(class_name)
    if cls is None or class_name == "Layer":
        raise ConfigError(
            f"unknown layer class {class_name!r}; known: {sorted(LAYER_CLASSES)}"
        )
    return cls.from_config(config)
