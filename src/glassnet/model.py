"""``Sequential``: a list of layers with a forward pass, a backward pass and Keras-like training.

The model's backward pass is its layers' backward passes in reverse. Training
(``fit``) lives in :mod:`glassnet.training`; this file holds what a model *is*: its
layers, parameters, loss, preprocessing and the forward/backward composition. The
supporting logic its methods call lives beside it: :mod:`glassnet.building` (the layers
it takes and building them), :mod:`glassnet.inputs` (what it accepts: inputs, labels,
class names, preprocessing), :mod:`glassnet.compile_checks` (compile's arguments, and
whether the loss fits the output layer), :mod:`glassnet.inference` (evaluate and predict)
and :mod:`glassnet.model_state` (its weights and architecture as plain values).
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, overload

import numpy as np

from . import backend, building, compile_checks, inference, inputs, model_state
from . import losses as losses_mod
from . import optimizers as optimizers_mod
from ._checks import check_flag, require_labels
from ._text import model_summary
from .backend import Array, to_device_of_weights, to_numpy
from .errors import ConfigError, ShapeError
from .layers.base import Layer, misshaped_grads
from .layers.folding import foldable_run, folded_forward
from .training.history import History  # at run time: typing.get_type_hints(Sequential.fit) resolves

# What a PyTorch or Keras user reaches for that glassnet does otherwise: the AttributeError
# for these names says how (Python's own would name nothing, or suggest an unrelated method).
OTHER_FRAMEWORKS_HINTS = {
    "train": "fit(...) trains, and runs the layers in training mode itself; there is no mode to set",
    "eval": "predict and evaluate run the layers in inference mode themselves; there is no mode "
            "to set",
    "state_dict": "model.get_weights() gives {name: array}",
    "load_state_dict": "model.set_weights({name: array}) sets them",
    "zero_grad": "each backward pass overwrites the gradients; there is nothing to zero",
    "to": "the device is chosen for the whole process: glassnet.set_device('gpu')",
    "cuda": "the device is chosen for the whole process: glassnet.set_device('gpu')",
    "save_weights": "model.save(path) writes the weights with the architecture; "
                    "glassnet.load_model(path) reads them back",
    "load_weights": "glassnet.load_model(path) reads a saved model; model.set_weights({name: "
                    "array}) sets weights",
}


class Sequential:
    """A stack of layers applied in order.

    Args:
        layers: the layers, first to last.
        input_shape: shape of one sample (without N), e.g. ``(12288,)`` or ``(3, 32, 32)``;
            if omitted the model is built on the first batch it sees.
        seed: one integer from which every random draw derives (init, shuffling, dropout).
        dtype: ``"float32"`` (default) or ``"float64"``.
        preprocessing: ``{"scale", "mean", "std"}`` applied to every batch:
            ``(x * scale - mean) / std`` with per-channel ``mean``/``std`` (axis 1).
        class_names: names of the output classes, saved with the model.
        init_stream: ``"generator"`` (default) draws initial weights from a
            ``numpy.random.Generator``; ``"legacy"`` from ``numpy.random.RandomState(seed)``
            in the course's order (``W`` as (out, in), layer by layer), which reproduces the
            course's networks weight for weight. Only the initial weights differ.
    """

    def __init__(self, layers: Sequence[Layer] | None = None, input_shape: Sequence[int] | int | None = None,
                 seed: int = 0, dtype: str = "float32", name: str = "sequential",
                 preprocessing: dict[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, init_stream: str = "generator") -> None:
        building.check_model_arguments(layers, seed, init_stream)
        self.init_stream = init_stream
        self.layers: list[Layer] = []
        self.seed = seed
        # Independent streams from one seed: weight init, everything during training
        # (shuffling, augmentation), fit's validation split, and the layers that draw at
        # training time (dropout), which get their own generators from it when built: adding
        # a Dropout leaves every other layer's initial weights as they were. The split has
        # a seed of its own, not a stream: every fit call (a resumed one too) draws the same
        # split again, so no validation sample is ever trained on.
        self._init_seeds, train_seeds, self.split_seed, self._noise_seeds = \
            np.random.SeedSequence(seed).spawn(4)
        self.train_rng = np.random.default_rng(train_seeds)
        self.dtype = backend.resolve_dtype(dtype)
        if not isinstance(name, str) or not name.strip():  # it names the ONNX graph too
            raise ConfigError(f"name must be a non-empty string, got {name!r}")
        self.name = name
        self.input_shape: tuple[int, ...] | None = None
        self._preprocessing_arrays: dict[tuple, tuple[tuple[float, ...], Array]] = {}  # preprocess's
        self.preprocessing = preprocessing or {}
        self._class_names: list[str] | None = None
        self.class_names = class_names
        self.loss: losses_mod.Loss | None = None
        self.optimizer: optimizers_mod.Optimizer | None = None
        self.reg = 0.0
        self.metrics: list[str] = []
        self.output_activation: str | None = None
        self.stop_training = False
        self.history: History | None = None
        self.training_summary: dict[str, Any] = {}
        self._shards: dict[str, Any] = {}  # replicas for training on several threads (training/shards.py)
        try:
            for layer in layers or []:
                self.add(layer)
            if input_shape is not None:
                self.build((input_shape,) if isinstance(input_shape, int) else input_shape)
        except BaseException:
            # a failed model (kept alive by the traceback) must not keep its layers from the
            # next attempt
            building.release_layers(self.layers)
            raise

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "preprocessing" in state:  # pickled before preprocessing was a checked property
            state["_preprocessing"] = state.pop("preprocessing")
        self.__dict__.update(state)
        building.claim_copied_layers(self)

    # -- structure ---------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        building.take_layer(self, layer)
        self.layers.append(layer)

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def build(self, input_shape: Sequence[int]) -> None:
        """Create every layer's parameters for samples of shape ``input_shape`` (one sample,
        without the batch axis). Building a built model again for the same shape does
        nothing (as in Keras); its weights are kept."""
        shape = inputs.sample_shape(input_shape)
        if self.built:
            if shape == self.input_shape:
                return  # a second build would draw new weights and lose the trained ones
            raise ConfigError(f"the model is already built for inputs (N, "
                              f"{', '.join(map(str, self.input_shape))}); building it again for "
                              f"{shape} would replace its weights: create a new model instead")
        if not self.layers:
            # Sequential(input_shape=(8,)) then add(): Keras' order, which builds too early here
            raise ConfigError(f"the model has no layers: add them first, then build it: "
                              f"Sequential([...], input_shape={shape}), or model.add(...) and "
                              f"then model.build({shape})")
        init_rng = (np.random.RandomState(self.seed) if self.init_stream == "legacy"
                    else np.random.default_rng(self._init_seeds))
        noise_rng = np.random.default_rng(self._noise_seeds)  # for the stochastic layers
        inputs.check_preprocessing(self.preprocessing, shape, self.dtype)
        if any(hasattr(layer, "kernel_size") or hasattr(layer, "pool_size") for layer in self.layers):
            inputs.warn_if_channels_last(shape)
        output_shape = building.build_layers(self.layers, shape, init_rng, noise_rng, self.dtype)
        self.input_shape, self.output_shape = shape, output_shape
        try:
            inputs.check_class_count(self.class_names, self.num_classes, self.output_shape)
            if self.loss is not None:
                compile_checks.check_loss_fits(self, self.loss)
        except ConfigError:
            self.input_shape = None  # not built: right names and a new build() may follow
            raise
        # Layers before the first trainable one need no backward pass, and that one needs
        # no input gradient: the model's input is data, not a parameter.
        self._first_trainable = next(
            (i for i, layer in enumerate(self.layers) if layer.params), len(self.layers))
        for i, layer in enumerate(self.layers):
            layer.input_grad = i > self._first_trainable

    def parameters(self) -> Iterator[tuple[str, Array, Array]]:
        """Yield ``(name, param, grad)`` with names like ``"2.W"`` (layer index and key)."""
        for i, layer in enumerate(self.layers):
            for key, value in layer.params.items():
                yield f"{i}.{key}", value, layer.grads[key]

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every parameter and state array as NumPy, keyed ``"i.key"`` (state under ``"i.state.key"``)."""
        return model_state.get_weights(self)

    def set_weights(self, weights: dict[str, Any]) -> None:
        """Load the dict of arrays :meth:`get_weights` gives into this built model, in place:
        every name it has, each of its shape, and no other (a refused call changes nothing);
        NumPy or CuPy arrays, whichever device this model's weights are on."""
        model_state.set_weights(self, weights)

    def count_params(self) -> tuple[int, int]:
        """(trainable, non-trainable) parameter counts."""
        trainable = sum(layer.count_params() for layer in self.layers)
        frozen = sum(int(v.size) for layer in self.layers for v in layer.state.values())
        return trainable, frozen

    # -- preprocessing -----------------------------------------------------------------
    def set_preprocessing(self, scale: float = 1.0, mean: Sequence[float] | None = None,
                          std: Sequence[float] | None = None) -> None:
        """Inputs become ``(x * scale - mean) / std`` (per channel, axis 1) before the first layer.

        ``mean`` and ``std`` hold one value per channel (``input_shape[0]``), or one for all.
        """
        preprocessing = inputs.preprocessing_values(scale, mean, std)
        if self.built:  # checked before it is kept: a refused call changes nothing
            inputs.check_preprocessing(preprocessing, self.input_shape, self.dtype)
        self._preprocessing = preprocessing

    @property
    def preprocessing(self) -> dict[str, Any]:
        """``{"scale", "mean", "std"}`` (:meth:`set_preprocessing`). Assigning a dict is
        :meth:`set_preprocessing` with its keys: checked, and the keys it lacks take their
        defaults (scale 1, no mean, no std)."""
        return self._preprocessing

    @preprocessing.setter
    def preprocessing(self, values: dict[str, Any]) -> None:
        if not isinstance(values, dict):
            raise ConfigError(f"preprocessing must be a dict with keys among "
                              f"{sorted(inputs.DEFAULT_PREPROCESSING)}, got {values!r}")
        inputs.check_preprocessing_keys(values)
        self.set_preprocessing(**values)

    @property
    def class_names(self) -> list[str] | None:
        """The output classes' names, saved with the model (``None``: unnamed). A copy:
        assign a new list to change them (so that they are checked)."""
        return None if self._class_names is None else list(self._class_names)

    @class_names.setter
    def class_names(self, names: Sequence[str] | None) -> None:
        names = inputs.class_name_list(names)
        if self.built:
            inputs.check_class_count(names, self.num_classes, self.output_shape)
        self._class_names = names

    def on_device(self, a: Any) -> Array:
        """``a`` (a batch of inputs or labels) as an array on the device of this model's
        weights: the device that was current when the model was built or loaded."""
        # a model without weights (e.g. only pooling) follows the current device
        return to_device_of_weights(a, (param for _, param, _ in self.parameters()))

    def preprocess(self, x: Any) -> Array:
        """A batch ``x: (N, *input_shape)`` as a float array of the same shape on the model's
        device (:meth:`on_device`), after scale/mean/std."""
        return inputs.preprocess(self.on_device(x), self.preprocessing, self.dtype,
                                 self._preprocessing_arrays)

    # -- forward / backward ------------------------------------------------------------
    def check_input(self, x: Any) -> tuple[Any, bool]:
        """Validate ``x`` against the input shape; a single sample gains a batch axis.

        Returns ``(x, single)`` where ``single`` says a batch axis was added (an unbuilt
        model is built for ``x``'s samples: :func:`glassnet.inputs.check_input`).
        """
        return inputs.check_input(self, x)

    @property
    def num_classes(self) -> int:
        """Classes the built model tells apart: 2 for one (sigmoid) output, else its outputs."""
        outputs = int(np.prod(self.output_shape))
        return 2 if outputs == 1 else outputs

    def check_labels(self, x: Any, y: Any) -> np.ndarray:
        """Labels for ``x`` as class indices ``(N,)`` (int64), or a ShapeError that says why not.

        ``y`` may be class indices ``(N,)`` (integers, or floats with integer values such
        as the cat set's ``1.0``), ``(N, 1)`` for one sigmoid output, or one-hot rows
        ``(N, C)``. Anything else would train on nonsense without a word (a label 2 for a
        binary model, 0.5, a string), so it is refused here, once, for every entry point
        (:func:`glassnet.inputs.class_indices`).
        """
        return inputs.class_indices(to_numpy(y), len(x), self.num_classes)

    def forward(self, x: Array, training: bool = False, start: int = 0,
                stop: int | None = None) -> Array:
        """Run layers ``start:stop`` (all by default); ``x`` is already preprocessed.

        ``x: (N, *input_shape)`` when ``start`` is 0, else the output of layer ``start - 1``.
        """
        if start == 0 and x.dtype.kind in "biu":
            # uint8 pixels would go in unscaled: the cost of the course's net starts at 62
            raise ShapeError(f"forward takes preprocessed inputs, got {x.dtype} values: call "
                             "model.preprocess(x) first (or train_on_batch, predict, fit, which do)")
        if training:
            for layer in self.layers[start:stop]:
                x = layer.forward(x, training=True)
            return x
        layers, i = self.layers[start:stop], 0
        while i < len(layers):
            # [Conv2D, BatchNorm(, ReLU)] as one convolution (layers/folding.py), else one layer
            run = foldable_run(layers[i:])
            x = folded_forward(layers[i:i + run], x) if run else layers[i].forward(x)
            for layer in layers[i:i + max(run, 1)]:  # backward must not use what the last
                layer.clear_cache()  # training pass kept, nor BatchNorm's of an inference pass
            i += max(run, 1)
        return x

    def min_batch(self) -> int:
        """The smallest batch every layer can train on (2 with a BatchNorm on dense inputs)."""
        return max((layer.min_batch() for layer in self.layers), default=1)

    def fixed_prefix(self) -> int:
        """How many leading layers have no parameters and no randomness.

        Their output depends on the input alone, so when the same batch comes back every
        epoch (full-batch training) the fit loop computes it once and starts at this index.
        """
        count = 0
        for layer in self.layers[:self._first_trainable]:
            if layer.stochastic or layer.state:
                break
            count += 1
        return count

    def backward(self, d_output: Array, regularize: bool = True) -> Array | None:
        """Back-propagate ``dLoss/d_output: (N, *output_shape)`` and (unless ``regularize``
        is false) add the L2 gradient.

        Fills every layer's ``grads``. Stops at the first trainable layer, so it returns
        ``None`` (the input gradient is never needed for training).
        """
        d = d_output
        for layer in reversed(self.layers[self._first_trainable:]):
            d = layer.backward(d)
        self._check_grads()
        if regularize:
            self.add_regularization_gradients()
        return d

    def _check_grads(self) -> None:
        """A clear error for a gradient that a layer's ``backward`` left shaped unlike its
        parameter (a layer of one's own that summed over the wrong axis), before anything
        uses it: an update would broadcast it into the parameter without a word."""
        for i in range(self._first_trainable, len(self.layers)):
            layer = self.layers[i]
            wrong = misshaped_grads(layer)
            if wrong:
                key = wrong[0]
                left = (f"shaped {tuple(layer.grads[key].shape)}" if key in layer.grads
                        else "missing")
                raise ShapeError(f"{type(layer).__name__} (layer {i}) left its gradient {key!r} {left}, "
                                 f"its parameter is {tuple(layer.params[key].shape)}: backward must fill "
                                 f"self.grads[{key!r}] with dLoss/d{key}, shaped like the parameter")

    def add_regularization_gradients(self) -> None:
        """``grads += reg * W`` for every regularized weight (the gradient of the L2 term)."""
        for layer, key, coef in self._regularized():
            layer.grads[key] += coef * layer.params[key]

    def _regularized(self) -> Iterator[tuple[Layer, str, float]]:
        for layer in self.layers:
            coef = getattr(layer, "kernel_regularizer", None)
            coef = self.reg if coef is None else coef
            if coef:
                for key in layer.regularized:
                    yield layer, key, coef

    def regularization_loss(self) -> float:
        """``0.5 * reg * sum(W**2)`` over every regularized weight (CS231n's older convention;
        its current assignments add ``reg * sum(W**2)``, so their ``reg`` is half of this one)."""
        # Summed where the weights are, in float64 as Python's floats were, and converted once:
        # on a GPU each conversion is a wait for the device.
        return float(sum(0.5 * coef * (layer.params[key] ** 2).sum().astype(np.float64)
                         for layer, key, coef in self._regularized()))

    # -- training API ------------------------------------------------------------------
    def compile(self, loss: str | losses_mod.Loss = "binary_crossentropy",
                optimizer: str | optimizers_mod.Optimizer = "sgd",
                metrics: Sequence[str] | None = ("accuracy",), reg: float = 0.0,
                from_logits: bool | None = None) -> None:
        """Choose the loss, the optimizer, the metrics (``None`` or ``[]``: the loss alone) and
        the model-wide L2 strength ``reg``. ``from_logits`` (default True) is for a loss given
        by name; a loss object keeps its own, and a different one here is an error."""
        # everything checked before anything changes: a refused compile must leave the model
        # (and its optimizer, which another model could otherwise take over) as it was
        loss, optimizer, metrics, reg = compile_checks.compile_arguments(
            self, loss, optimizer, metrics, reg, from_logits)
        if self.built:
            compile_checks.check_loss_fits(self, loss)
        if optimizer.owner is not None and compile_checks.optimizer_owner(optimizer) is not self:
            # its model is gone, or was compiled with another optimizer since: its moments and
            # step count must not leak into this one
            optimizer.reset()
        optimizer.owner = weakref.ref(self)
        self.loss, self.optimizer, self.metrics, self.reg = loss, optimizer, metrics, reg
        self.output_activation = self.loss.output_activation

    @property
    def final_activation(self) -> str | None:
        """``"sigmoid"`` or ``"softmax"`` when the output layer applies it (a ``Sigmoid`` or
        ``Softmax`` layer, or a Dense/Conv2D layer's activation), else ``None``."""
        return compile_checks.final_activation(self.layers)

    @property
    def output_layer(self) -> Layer | None:
        """The last layer that computes the outputs' values: trailing ``Flatten`` and ``Dropout``
        layers pass them on (at inference), so a softmax before them is the model's."""
        return compile_checks.output_layer(self.layers)

    @property
    def probability_activation(self) -> str | None:
        """What makes :meth:`predict`'s outputs probabilities: ``"sigmoid"`` or ``"softmax"``,
        applied to the logits (the loss's :attr:`output_activation`) or by the last layer
        (:attr:`final_activation`); ``None`` for raw scores (a model never compiled)."""
        return self.output_activation or self.final_activation

    @property
    def outputs_probabilities(self) -> bool:
        """Whether :meth:`predict` gives probabilities (see :attr:`probability_activation`)."""
        return self.probability_activation is not None

    def _require_compiled(self, need_optimizer: bool = True) -> None:
        # A loaded model knows its loss (it can be evaluated) but has no optimizer.
        if self.loss is None or (need_optimizer and self.optimizer is None):
            raise ConfigError("compile the model first: model.compile(loss=..., optimizer=...)")

    def train_on_batch(self, x: Any, y: Any = None,
                       class_weight: dict[int, float] | str | None = None) -> float:
        """One update on one batch, as Keras' ``train_on_batch``: ``x: (N, *input_shape)`` as
        :meth:`fit` takes it (preprocessed here), ``y`` checked as :meth:`fit` checks labels,
        ``class_weight`` a dict as :meth:`fit` takes it (not ``"balanced"``, which would count
        only this batch's classes: see
        :func:`~glassnet.training.class_weights.balanced_weights`). Returns the batch's loss
        before the update (with the L2 term; weighted by ``class_weight``, as the update is)."""
        from .training.class_weights import BALANCED, class_weight_vector, sample_weights

        self._require_compiled()
        if isinstance(class_weight, str) and class_weight == BALANCED:
            raise ConfigError("train_on_batch takes no class_weight='balanced': it would count only "
                              "this batch's classes, weighing them differently in every batch; count "
                              "them once on all the training labels and give the dict, class_weight="
                              "dict(enumerate(glassnet.training.class_weights.balanced_weights("
                              "y_train, model.num_classes)))")
        x, _ = self.check_input(x)
        require_labels(y, "train_on_batch")
        y = self.check_labels(x, y)
        weights = sample_weights(class_weight_vector(class_weight, y, self.num_classes, self.class_names,
                                                     self.dtype), y, self.dtype)
        loss, _ = self.train_step(self.preprocess(x), self.on_device(y),
                                  **({} if weights is None else {"sample_weight": self.on_device(weights)}))
        return loss

    def test_on_batch(self, x: Any, y: Any = None) -> float:
        """The loss (with the L2 term) on one batch ``x: (N, *input_shape)``, ``y: (N,)``
        without an update, as Keras' ``test_on_batch``: the counterpart of
        :meth:`train_on_batch`, ``x`` and ``y`` checked and preprocessed alike, in inference
        mode (dropout off, batch norm's running statistics)."""
        self.check_input(x)  # first: a Dataset given whole is named (its y is then missing)
        require_labels(y, "test_on_batch")
        return self.evaluate(x, y, batch_size=None)["loss"]

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """Class probabilities of one batch ``x: (N, *input_shape)`` in one forward pass, as
        Keras' ``predict_on_batch`` (:meth:`predict` with ``batch_size=None``)."""
        return self.predict(x, batch_size=None)

    def train_step(self, x: Array, y: Array, start: int = 0,
                   sample_weight: Array | None = None) -> tuple[float, Array]:
        """One forward/backward/update on a batch already preprocessed and on the model's
        device, labels already checked (the fit loop's inner step; from your own code, use
        :meth:`train_on_batch`); returns (loss, outputs).

        ``start`` > 0 means ``x`` is already the output of layer ``start - 1`` (see
        :meth:`fixed_prefix`). ``sample_weight: (N,)`` weighs each sample's loss (``fit``'s
        ``class_weight``; see :meth:`glassnet.losses.Loss.forward`).
        """
        out = self.forward(x, training=True, start=start)
        loss = self.loss.forward(out, y, sample_weight) + self.regularization_loss()
        self.backward(self.loss.backward())
        self.optimizer.step(self.parameters())
        return loss, out

    def fit(self, x: Any, y: Any = None, **kwargs: Any) -> History:
        """Train; see :func:`glassnet.training.fit` for every option. Returns a ``History``."""
        import inspect

        from .training.loop import fit

        known = [name for name in inspect.signature(fit).parameters if name not in ("model", "x", "y")]
        unknown = sorted(set(kwargs) - set(known))
        if unknown:  # Keras' sample_weight, steps_per_epoch...: a TypeError before
            raise ConfigError(f"fit() has no argument {', '.join(unknown)}; it takes {', '.join(known)}")
        return fit(self, x, y, **kwargs)

    @overload
    def evaluate(self, x: Any, y: Any = None, batch_size: int | str | None = "auto",
                 verbose: Any = 0, *, return_dict: Literal[True] = True) -> dict[str, float]: ...

    @overload
    def evaluate(self, x: Any, y: Any = None, batch_size: int | str | None = "auto",
                 verbose: Any = 0, *, return_dict: Literal[False]) -> list[float] | float: ...

    def evaluate(self, x: Any, y: Any = None, batch_size: int | str | None = "auto",
                 verbose: Any = 0, *, return_dict: bool = True) -> dict[str, float] | list[float] | float:
        """Mean loss (with the L2 term, like the training loss) and metrics over ``(x, y)``:
        ``{"loss": ..., "accuracy": ...}``; ``return_dict=False`` gives Keras' default form
        instead, ``[loss, accuracy]`` (the loss alone for a model without metrics).
        ``verbose``: 0 silent (the default), 1 a progress bar, 2 one line (see :meth:`predict`).
        See :func:`glassnet.inference.evaluate`."""
        results = inference.evaluate(self, x, y, batch_size, verbose)
        if check_flag(return_dict, "return_dict"):
            return results
        values = list(results.values())
        return values if len(values) > 1 else values[0]

    def predict_logits(self, x: Any, batch_size: int | str | None = "auto", verbose: Any = 0) -> np.ndarray:
        """Raw outputs of the last layer, in batches (bounded memory). ``x: (N, *input_shape)``.
        See :func:`glassnet.inference.predict_logits`."""
        return inference.predict_logits(self, x, batch_size, verbose)

    def __getstate__(self) -> dict[str, Any]:
        # A copy (or pickle) starts without the thread replicas: they belong to this model's
        # arrays, and hold threads and locks that cannot be copied; nor does it share (or
        # pickle device arrays of) the preprocessing cache, which it remakes when used.
        return {**self.__dict__, "_shards": {}, "_preprocessing_arrays": {}}

    def predict(self, x: Any, batch_size: int | str | None = "auto", verbose: Any = 0) -> np.ndarray:
        """Class probabilities: ``(N, 1)`` for a sigmoid output, ``(N, C)`` for softmax.

        A single sample without the batch axis gives a result without it. ``verbose`` (as in
        Keras, but silent by default: the library prints only when asked): 1 a progress bar
        over the batches on a terminal, else one closing line; 2 that line; ``"auto"`` is 1.
        """
        return self.probabilities(self.predict_logits(x, batch_size, verbose))

    def __getattr__(self, name: str) -> Any:
        """Only for attributes that do not exist: an AttributeError, with a hint for the names
        of :data:`OTHER_FRAMEWORKS_HINTS` (``hasattr`` stays false for them)."""
        hint = OTHER_FRAMEWORKS_HINTS.get(name)
        message = f"{type(self).__name__!r} object has no attribute {name!r}"
        raise AttributeError(message + (f": {hint}" if hint else ""), name=name, obj=self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``model(x)``, Keras' and PyTorch's forward pass: a TypeError that names the methods
        that do it here (Python's own "not callable" would name none)."""
        raise TypeError("a glassnet model is not called on inputs: use model.predict(x) "
                        "(probabilities), model.predict_logits(x) (the last layer's outputs) or "
                        "model.forward(model.preprocess(x), training=False) (one pass, as in a "
                        "loop of your own)")

    def probabilities(self, outputs: Array) -> Array:
        """The last layer's outputs ``(N, C)`` (or ``(N, 1)``) as :meth:`predict` returns them:
        the loss's sigmoid or softmax applied to logits; unchanged when the model outputs
        probabilities itself, or was never compiled (raw scores)."""
        return inference.probabilities(self, outputs)

    def predict_classes(self, x: Any, batch_size: int | str | None = "auto", verbose: Any = 0
                        ) -> np.ndarray | np.integer:
        """Predicted class indices ``(N,)`` (one output: probability above 0.5, or raw score
        above 0); a single sample without the batch axis gives one index."""
        return inference.predict_classes(self, x, batch_size, verbose)

    def classes_of(self, outputs: Array) -> Array:
        """Class indices ``(N,)`` from the last layer's outputs ``(N, C)`` or ``(N, 1)``: the
        largest of several; for one output, a logit above 0 (the loss's sigmoid, or raw
        scores of a model never compiled) or a probability above 0.5 (a final Sigmoid)."""
        return inference.classes_of(self, outputs)

    # -- description and files ---------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str | None:
        """Keras-style table: Layer (type) | Output Shape | Param #, then the totals.

        Printed with ``print_fn`` (returns ``None``, as Keras: a notebook shows the table
        once), or returned as text with ``print_fn=None``."""
        if not self.built:
            raise ConfigError("the model is not built yet, so it has no shapes or parameters to "
                              "show: give input_shape to Sequential(...) or call model.build(shape)")
        text = model_summary(self)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def get_config(self) -> dict[str, Any]:
        """Everything needed to rebuild the architecture (JSON-able)."""
        return model_state.get_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        """A new model from :meth:`get_config`'s ``config``, with new weights."""
        return model_state.from_config(cls, config)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ``.glassnet`` file (atomic; see :mod:`glassnet.io.format`)."""
        from .io.format import save_model

        save_model(self, path)

    def __repr__(self) -> str:
        return f"Sequential({len(self.layers)} layers, input_shape={self.input_shape})"



# ``training.loop.fit(model: Sequential, ...)``: that module cannot import this one, which
# imports it (for History), so the name is given to it here, once the class exists, for
# typing.get_type_hints(fit) (type checkers read its TYPE_CHECKING import instead).
_fit_loop = sys.modules[f"{__package__}.training.loop"]
_fit_loop.Sequential = Sequential
