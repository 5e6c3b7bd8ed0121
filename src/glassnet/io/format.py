"""The ``.glassnet`` model file: a model's architecture, weights and metadata in an archive.

The file is the zip of :mod:`glassnet.io.archive` (which reads it without unpickling and
refuses damaged, unsafe or newer files): ``config.json`` holds the format version, the
glassnet version, the architecture, the input shape, dtype, class names, preprocessing and
a training summary; arrays live under ``arrays/<name>.npy`` (names as
:meth:`Sequential.get_weights` gives them, e.g. ``0.W``). This module turns a model into
that file and the file back into a model, trusting nothing in it:

- the architecture may only name registered layer classes (:class:`UnknownLayerError`);
- the model is rebuilt from the config and every array must exist with exactly the shape
  that model needs, and nothing else may be in the file (:class:`WeightMismatchError`),
  checked before the layers allocate their weights;
- the loss, the L2 strength and the training summary must be of the kinds glassnet writes
  (:class:`ModelFormatError`).

Saving is atomic (see :func:`~glassnet.io.archive.write_archive`); checkpoints
(:mod:`glassnet.io.checkpoint_file`) hold a model in the same way, with more beside it.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..compile_checks import check_loss_fits, check_reg
from ..errors import (
    ConfigError,
    GlassnetWarning,
    ModelFormatError,
    UnknownLayerError,
    WeightMismatchError,
    user_stacklevel,
)
from ..json_checks import NUMBER, holdout_problem, is_number_or_none, short_list, type_problem
from ..layers.base import check_config_complete
from ..model import Sequential  # at run time: typing.get_type_hints(load_model) resolves
from ..model_state import named_arrays, set_weights
from .archive import (
    CONFIG_NAME,
    FORMAT_VERSION,
    glassnet_version,
    newer_writer_hint,
    read_archive,
    write_archive,
)

#: values in one input sample a model file may declare (3 x 8192 x 8192 is 201 M): a conv
#: net's weights fit any image size, so a file could ask predict for a 40000 x 40000 image
MAX_INPUT_VALUES = 2**28


# -- validation -----------------------------------------------------------------------------
def validate_model_config(path: str | Path, config: Any) -> None:
    """The architecture's shape: a list of known layer classes with dict configs, a valid input shape."""
    from ..layers import LAYER_CLASSES

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ModelFormatError(f"{path}: {CONFIG_NAME} has no 'model' with a list of 'layers'")
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise ModelFormatError(f"{path}: layer {i} in {CONFIG_NAME} needs 'class_name' and 'config'")
        name = entry.get("class_name")
        if not isinstance(name, str) or name not in LAYER_CLASSES or name == "Layer":
            known = sorted(k for k in LAYER_CLASSES if k != "Layer")
            raise UnknownLayerError(f"{path}: layer {i} has unknown layer class {name!r}; this glassnet "
                                    f"knows {known} and the layer classes defined in Python before "
                                    "loading (a class of your own: load the file in the program that "
                                    "defines it), or a newer glassnet may know it")
    shape = config.get("input_shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise ModelFormatError(f"{path}: input_shape in {CONFIG_NAME} must be a list of positive "
                               f"integers, got {shape!r}")
    if math.prod(shape) > MAX_INPUT_VALUES:  # a conv net's weights do not depend on the image size
        raise ModelFormatError(f"{path}: input_shape {shape} in {CONFIG_NAME} is {math.prod(shape):,} "
                               f"values per sample, more than any model glassnet trains "
                               f"({MAX_INPUT_VALUES:,}); the file is damaged")


def model_from_config(path: str | Path, config: dict[str, Any],
                      arrays: dict[str, np.ndarray] | None = None) -> Sequential:
    """Build the (untrained) model that ``config["model"]`` describes; with ``arrays`` (the
    file's weights), check them against the architecture first."""
    from ..backend import get_device
    from ..model import Sequential

    get_device()  # a bad $GLASSNET_DEVICE is its own error, not "the architecture is invalid"
    validate_model_config(path, config.get("model"))
    if arrays is not None:
        check_arrays_before_building(path, config, arrays)
    try:
        model = Sequential.from_config(config["model"])
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError and ShapeError are ValueErrors
        raise ModelFormatError(f"{path}: the architecture in {CONFIG_NAME} is invalid: "
                               f"{exc}{newer_writer_hint(config)}") from None
    _check_outputs(path, model)
    return model


def _check_outputs(path: str | Path, model) -> None:
    """The output activation must fit the built model's outputs: a wrong pair would load
    fine and then predict nonsense (softmax over one output is always 1). Class names and
    preprocessing are checked by the model itself when it is built."""
    outputs = int(np.prod(model.output_shape))
    expected = {"sigmoid": outputs == 1, "softmax": outputs > 1, None: True}
    activation = model.output_activation
    if not (activation is None or isinstance(activation, str)) or activation not in expected:
        raise ModelFormatError(f"{path}: unknown output_activation {model.output_activation!r} in "
                               f"{CONFIG_NAME}; expected 'sigmoid', 'softmax' or null")
    if not expected[model.output_activation]:
        raise ModelFormatError(f"{path}: output_activation {model.output_activation!r} does not fit "
                               f"a model with {outputs} output(s)")


def check_arrays(path: str | Path, expected: dict[str, tuple[int, ...]],
                 arrays: dict[str, np.ndarray], what: str = "the architecture") -> None:
    """Every expected array present, with exactly that shape and a float dtype; no others."""
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing:
        raise WeightMismatchError(f"{path}: arrays {short_list(missing)} that {what} needs are missing")
    if extra:
        raise WeightMismatchError(f"{path}: arrays {short_list(extra)} do not belong to {what}; "
                                  "not loaded")
    for name, shape in expected.items():
        array = arrays[name]
        if array.shape != tuple(shape):
            raise WeightMismatchError(f"{path}: array {name!r} has shape {array.shape} but {what} "
                                      f"needs {tuple(shape)}")
        if array.dtype.kind != "f":
            raise WeightMismatchError(f"{path}: array {name!r} has dtype {array.dtype}; weights "
                                      "must be floating point")
        if name.endswith(".running_var") and bool((array < 0).any()):  # sqrt would give NaN
            raise WeightMismatchError(f"{path}: array {name!r} holds negative variances; the file "
                                      "is damaged")


def check_arrays_before_building(path: str | Path, config: dict[str, Any],
                                 arrays: dict[str, np.ndarray]) -> None:
    """Check ``arrays`` against the architecture in ``config["model"]``, worked out from the
    layers' configs without building them: building allocates every weight, and a file that
    declares a layer of a billion units must be refused before that, not after. From the
    first layer defined outside glassnet on (its shapes are known only once it is built),
    the layers are left to the check after building."""
    from ..layers import layer_from_config

    model = config["model"]
    shape, expected, checked = tuple(model["input_shape"]), {}, len(model["layers"])
    try:
        for i, entry in enumerate(model["layers"]):
            layer = layer_from_config(entry["class_name"], entry["config"])
            if not type(layer).__module__.startswith("glassnet."):
                checked = i
                break
            expected.update({f"{i}.{key}": value for key, value in layer.array_shapes(shape).items()})
            shape = layer.compute_output_shape(shape)
    except (KeyError, TypeError, ValueError) as exc:  # ConfigError and ShapeError are ValueErrors
        raise ModelFormatError(f"{path}: the architecture in {CONFIG_NAME} is invalid: "
                               f"{exc}{newer_writer_hint(config)}") from None
    layer_of = {name: name.partition(".")[0] for name in arrays}
    check_arrays(path, expected, {name: array for name, array in arrays.items()
                                  if not (layer_of[name].isdigit() and int(layer_of[name]) >= checked)})


def weight_shapes(model: Sequential) -> dict[str, tuple[int, ...]]:
    """``{"0.W": (D, U), "1.state.mean": (C,), ...}``: the arrays a built model saves."""
    return {name: tuple(a.shape) for name, a in named_arrays(model).items()}


# -- models ---------------------------------------------------------------------------------
def model_config(model: Sequential, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config.json`` of a model file (or checkpoint)."""
    for index, layer in enumerate(model.layers):
        check_config_complete(layer, f"layer {index} ({type(layer).__name__})")
    return {
        "format_version": FORMAT_VERSION,
        "glassnet_version": glassnet_version(),
        "kind": "model",
        "model": model.get_config(),
        "loss": model.loss.get_config() if model.loss is not None else None,
        "reg": model.reg,  # part of the loss that evaluate reports, as in training
        "training": model.training_summary,
        **(extra or {}),
    }


def save_model(model: Sequential, path: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> None:
    """Save architecture, weights, layer state and metadata to ``path`` (atomic)."""
    if not model.built:
        raise ConfigError("build or train the model before saving it")
    write_archive(path, model_config(model, extra), model.get_weights())


def restore_model(path: str | Path, model: Sequential, config: dict[str, Any],
                  arrays: dict[str, np.ndarray]) -> Sequential:
    """Put validated arrays, the loss and the training summary into a model built from ``config``."""
    from .. import losses

    set_weights(model, arrays, where=path)  # a warning names the file's non-finite arrays
    loss = config.get("loss")
    if loss:
        try:
            model.loss = losses.from_config(loss)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFormatError(f"{path}: the loss in {CONFIG_NAME} is invalid: "
                                   f"{exc}{newer_writer_hint(config)}") from None
        if model.loss.output_activation != model.output_activation:
            raise ModelFormatError(f"{path}: the loss in {CONFIG_NAME} expects output activation "
                                   f"{model.loss.output_activation!r} but the model says "
                                   f"{model.output_activation!r}")
        _warn_if_the_loss_does_not_fit(path, model)
        model.metrics = ["accuracy"]
    model.reg = _saved_reg(path, config)
    model.training_summary = _training_summary(path, config)
    return model


def _warn_if_the_loss_does_not_fit(path: str | Path, model: Sequential) -> None:
    """What compile refuses (softmax applied twice, by the last layer and by the loss from
    logits) a file written before glassnet checked it may hold: it still loads (its weights
    are the user's), with a warning, since its predictions are not the probabilities its
    last layer computes. A Dropout after that layer changes nothing at inference: no word."""
    try:
        check_loss_fits(model, model.loss, training=False)
    except ConfigError as exc:
        warnings.warn(f"{path}: its loss does not fit the model ({exc}); the file predates that "
                      "check, and its predictions are not the last layer's probabilities until "
                      "it is compiled again", GlassnetWarning, stacklevel=user_stacklevel())


#: what ``glassnet info`` and the reports read from a file's training summary (its other
#: keys are not used); kinds as in :mod:`glassnet.json_checks`
SUMMARY_TYPES: dict[str, tuple[Any, ...]] = {
    "dataset": (str,), "epochs": (int,), "seconds": (NUMBER,), "optimizer": (dict,),
    "lr_schedule": (str, None), "batch_size": (int, None, "full"), "metrics": (dict,),
    "final": (dict, None), "resize": (str,), "folder": (str,), "test_split": (NUMBER, None),
    "seed": (int,), "validation_split": (NUMBER,), "folder_signature": (str,), "folder_signature_of": (str,),
    "holdout": (dict,)}


#: the ``resize`` of the ONNX metadata for a model whose file does not say how its images
#: were fitted (``predict`` assumes squash, and warns)
UNRECORDED_RESIZE = "squash (assumed: not recorded for a model trained in Python)"


def training_resize(summary: dict[str, Any] | None) -> str | None:
    """How a model's training images were fitted to its input size, as its training summary
    records it (``"squash"``, ``"crop"`` or ``"pad"``: ``glassnet train`` on an image folder
    records it; a named set's images came at their size, so ``"squash"``); ``None`` for a
    model trained in Python, whose file does not say unless its code set
    ``model.training_summary["resize"]`` before saving it."""
    summary = summary or {}
    return summary.get("resize", "squash" if "dataset" in summary else None)


def _training_summary(path: str | Path, config: dict[str, Any]) -> dict[str, Any]:
    """The ``training`` section, checked: each known key of the right type, metrics numbers."""
    summary = config.get("training") or {}
    if not isinstance(summary, dict):
        problem: str | None = "is not an object"
    else:
        problem = type_problem(summary, SUMMARY_TYPES)
        problem = f"has {problem}" if problem else None
    if problem is None:
        scores = [*summary.get("metrics", {}).values(), summary.get("final") or {}]
        optimizer = summary.get("optimizer", {})
        if not all(isinstance(group, dict) and all(map(is_number_or_none, group.values()))
                   for group in scores):
            problem = "has metrics that are not numbers"
        elif not (is_number_or_none(optimizer.get("lr")) and isinstance(optimizer.get("name", ""), str)):
            problem = f"has an invalid optimizer {optimizer!r}"
        elif "holdout" in summary and (bad_holdout := holdout_problem(summary["holdout"])):
            problem = f"has {bad_holdout}"
    if problem is not None:
        raise ModelFormatError(f"{path}: the training summary in {CONFIG_NAME} {problem}; the file "
                               "is damaged")
    return summary


def _saved_reg(path: str | Path, config: dict[str, Any]) -> float:
    """The model-wide L2 strength the file records (older files recorded none: 0)."""
    try:
        return check_reg(config.get("reg", 0.0), f"'reg' in {CONFIG_NAME}")
    except ConfigError as exc:
        raise ModelFormatError(f"{path}: {exc}") from None


def load_model(path: str | os.PathLike[str]) -> Sequential:
    """Load a model (or the model in a checkpoint) saved by glassnet.

    A damaged, unsafe, unknown or inconsistent file raises a :class:`ModelFormatError`
    subclass that says which.
    """
    return model_from_archive(path, *read_archive(path))


def model_from_archive(path: str | Path, config: dict[str, Any],
                       arrays: dict[str, np.ndarray]) -> Sequential:
    """The model of a file's ``(config, arrays)`` as
    :func:`~glassnet.io.archive.read_archive` returns them."""
    model_arrays = {k: v for k, v in arrays.items() if "/" not in k}
    others = {k for k in arrays if "/" in k}
    if others and config.get("kind") != "checkpoint":
        raise WeightMismatchError(f"{path}: arrays {short_list(sorted(others))} do not belong to a "
                                  "model file")
    model = model_from_config(path, config, model_arrays)
    check_arrays(path, weight_shapes(model), model_arrays)  # the built model agrees
    return restore_model(path, model, config, model_arrays)

