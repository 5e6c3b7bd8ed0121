"""What a model accepts: inputs, class labels, class names and preprocessing, checked once.

Every entry point (``fit``, ``evaluate``, ``train_on_batch``, the CLI) goes through these
checks, so a label 2 for a binary model, a soft one-hot row or a NaN mean is refused with
a message instead of training on nonsense; :func:`preprocess` then turns a batch into what
the first layer takes. :class:`~glassnet.model.Sequential`'s ``check_input``,
``check_labels``, ``preprocess`` and ``set_preprocessing`` call these functions;
:mod:`glassnet.compile_checks` is the counterpart for what the model's outputs must fit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._text import count
from .backend import Array, array_module, as_array
from .errors import ConfigError, GlassnetWarning, ShapeError, user_stacklevel

if TYPE_CHECKING:
    from .model import Sequential

DEFAULT_PREPROCESSING = {"scale": 1.0, "mean": None, "std": None}


def sample_shape(input_shape: Sequence[int] | int) -> tuple[int, ...]:
    """``input_shape`` (one sample's, without the batch axis; an int for flat samples) as a
    tuple of positive ints, or a ShapeError: a ``None`` in it is Keras' batch axis."""
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (input_shape,)
    if any(d is None for d in input_shape):
        raise ShapeError(f"input_shape is the shape of one sample, without the batch axis: "
                         f"write build({tuple(d for d in input_shape if d is not None)}), "
                         f"not build({tuple(input_shape)})")
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d <= 0 for d in shape):
        raise ShapeError(f"input_shape must be positive sizes, got {tuple(input_shape)}")
    return shape


def is_dataset(value: Any) -> bool:
    """Whether ``value`` is a glassnet :class:`~glassnet.data.Dataset` (or looks like one),
    which the model's methods take only as its arrays."""
    return hasattr(value, "class_names") and hasattr(value, "y")


def check_input(model: Sequential, x: Any) -> tuple[Any, bool]:
    """``x`` (a batch, or one sample) checked against ``model``'s input shape, as ``(x,
    single)``: a single sample gains a batch axis, and ``single`` says so. A model not
    built yet is built for ``x``'s samples."""
    if is_dataset(x):
        raise ShapeError("give the arrays of a Dataset: fit(data.x, data.y), predict(data.x)")
    if _is_tuple_of_arrays(x):
        shapes = ", ".join(str(tuple(part.shape)) for part in x)
        raise ShapeError(f"the inputs are a {type(x).__name__} of arrays of different shapes "
                         f"({shapes}), not one batch of samples of one shape; to give labels "
                         f"with them, give the inputs and the labels separately: fit(x, y), "
                         f"not fit((x, y))")
    x = as_array(x)  # a PyTorch tensor too: NumPy cannot read its dtype
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.dtype.kind == "c":
        # an object array (None, or NaN from a table) would pass unchecked into the model;
        # a complex one would lose its imaginary parts in the cast, with only NumPy's warning
        raise ConfigError(f"the inputs must be real numbers, got an array of dtype {x.dtype}; "
                          "convert them first, e.g. np.asarray(x, dtype='float32')")
    if not model.built:
        if x.ndim < 2:  # its samples would be of shape (): "input_shape must be positive sizes"
            raise ShapeError(f"the inputs must be a batch (N, features), got shape {tuple(x.shape)}"
                             f": {ONE_FEATURE}")
        model.build(x.shape[1:])
        return x, False
    if tuple(x.shape) == model.input_shape:
        return x[None], True
    if tuple(x.shape[1:]) != model.input_shape:
        raise ShapeError(
            f"the model expects inputs of shape (N, {', '.join(map(str, model.input_shape))}), "
            f"got {tuple(x.shape)}{layout_hint(tuple(x.shape), model.input_shape)}"
        )
    return x, False


def _is_tuple_of_arrays(x: Any) -> bool:
    """Whether ``x`` is an ``(x, y)``-like pair of arrays that cannot be one batch (the
    tf.data habit of one tuple): a list of same-shaped samples is a batch, this is not."""
    return (isinstance(x, (tuple, list)) and 1 < len(x) <= 3
            and all(hasattr(part, "shape") for part in x)
            and len({tuple(part.shape) for part in x}) > 1)


def class_indices(y: np.ndarray, samples: int, classes: int) -> np.ndarray:
    """Labels for ``samples`` inputs as class indices ``(N,)`` (int64), or a ShapeError that
    says why not.

    ``y`` may be class indices ``(N,)`` (integers, or floats with integer values such as the
    cat set's ``1.0``), ``(N, 1)`` for one sigmoid output, or one-hot rows ``(N, classes)``.
    """
    if y.ndim == 0 or len(y) != samples:
        row = y.shape == (1, samples)  # the course's Y: (1, m)
        raise ShapeError(f"x has {samples} samples but y has shape {y.shape}; give one label per "
                         "sample" + (", as (N,): y.ravel()" if row else ""))
    if samples == 0:  # a mean over no samples is not a score, and not a training step
        raise ShapeError("x and y hold no samples")
    if y.dtype.kind not in "biuf":
        raise ShapeError(f"labels must be class indices (integers), got {y.dtype} values "
                         f"such as {y.reshape(-1)[:3].tolist()}; map the class names to "
                         f"0..{classes - 1} first")
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    elif y.ndim == 2 and y.shape[1] == classes:
        y = one_hot_to_indices(y)
    elif y.ndim != 1:
        raise ShapeError(f"labels must be class indices (N,) or one-hot rows (N, {classes}), "
                         f"got shape {y.shape}")
    if y.size and not np.all(np.isfinite(y) & (y == np.round(y))):
        bad = y[~(np.isfinite(y) & (y == np.round(y)))][0]
        raise ShapeError(f"labels must be whole class indices, got {float(bad):g}")
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ShapeError(f"labels must be in [0, {classes - 1}] for this model's {classes} "
                         f"classes, got range [{y.min():g}, {y.max():g}]")
    return y.astype(np.int64, copy=False)


def one_hot_to_indices(y: np.ndarray) -> np.ndarray:
    """Class indices ``(N,)`` from one-hot rows ``y: (N, C)``; soft rows are refused."""
    if y.size and not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
        raise ShapeError(f"labels of shape {y.shape} must be one-hot rows (one 1, the rest 0); "
                         "for soft targets call the loss directly")
    return y.argmax(axis=1)


def class_name_list(names: Sequence[str] | None) -> list[str] | None:
    """``names`` as a list of distinct strings (``None`` stays ``None``), or a ConfigError."""
    if names is None:
        return None
    listed = list(names) if not isinstance(names, str) else None
    if listed is None or not all(isinstance(n, str) for n in listed):
        raise ConfigError(f"class_names must be a list of strings, got {names!r}")
    if len(set(listed)) != len(listed):
        raise ConfigError(f"class_names must be distinct, got {listed!r}")
    return listed


def check_class_count(names: list[str] | None, num_classes: int,
                      output_shape: tuple[int, ...]) -> None:
    """``names`` (or ``None``) must name each of the ``num_classes`` classes that a built
    model's outputs ``output_shape`` tell apart."""
    if names is not None and len(names) != num_classes:
        raise ConfigError(f"class_names must be {num_classes} strings, one per class "
                          f"this model's outputs {output_shape} tell apart, got {names!r}")


def preprocessing_values(scale: float = 1.0, mean: Sequence[float] | None = None,
                         std: Sequence[float] | None = None) -> dict[str, Any]:
    """``{"scale", "mean", "std"}`` checked: a positive finite scale, finite means, positive
    finite standard deviations (lists of floats, or ``None``)."""
    if isinstance(scale, bool) or not (isinstance(scale, (int, float)) and math.isfinite(scale)
                                       and scale > 0):
        raise ConfigError(f"preprocessing scale must be a positive number, got {scale!r}")
    mean, std = finite_values("mean", mean), finite_values("std", std)
    if std is not None and any(s <= 0 for s in std):
        raise ConfigError(f"preprocessing std must be positive, got {std}")
    return {"scale": float(scale), "mean": mean, "std": std}


def check_preprocessing_keys(preprocessing: dict[str, Any]) -> None:
    """Only the keys of :data:`DEFAULT_PREPROCESSING` are allowed."""
    unknown = sorted(set(preprocessing) - set(DEFAULT_PREPROCESSING))
    if unknown:
        raise ConfigError(f"unknown preprocessing key(s) {unknown}; it takes "
                          f"{sorted(DEFAULT_PREPROCESSING)}")


def check_preprocessing(preprocessing: dict[str, Any], input_shape: tuple[int, ...],
                        dtype: np.dtype) -> None:
    """Per-channel values must match the channels (axis 1) of ``input_shape`` (or, for flat
    inputs, its features): a wrong count would only fail (or silently broadcast) at the
    first prediction. And each value must be a number of the model's ``dtype``
    (:func:`_check_in_dtype`)."""
    channels, what = input_shape[0], "channels" if len(input_shape) > 1 else "features"
    for key in ("mean", "std"):
        values = preprocessing[key]
        if values is not None and len(values) not in (1, channels):
            raise ConfigError(f"preprocessing {key} has {len(values)} values but the inputs "
                              f"{input_shape} have {channels} {what} (axis 1): give one per "
                              f"{what[:-1]}, or one for all")
    _check_in_dtype(preprocessing, np.dtype(dtype))


def _check_in_dtype(preprocessing: dict[str, Any], dtype: np.dtype) -> None:
    """The preprocessing values as numbers of ``dtype``, which the model computes in: a mean
    beyond its range is infinite (every output NaN), a scale or std below its smallest
    normal number loses its digits or is 0 (``std=[1e-46]`` in float32 divides by zero)."""
    info = np.finfo(dtype)
    tiny, largest = float(info.tiny), float(info.max)
    sizes = {"scale": [preprocessing["scale"]], "mean": preprocessing["mean"] or [],
             "std": preprocessing["std"] or []}
    for key, values in sizes.items():
        for value in values:
            too_small = key != "mean" and abs(value) < tiny
            if too_small or abs(value) > largest:
                raise ConfigError(
                    f"preprocessing {key} {value:g} is not a number the model's {dtype.name} can hold "
                    f"(its {'scale and std' if key != 'mean' else 'means'} must be "
                    f"{f'{tiny:.3g} to ' if key != 'mean' else 'at most '}{largest:.3g} in size)"
                    + ("; or make the model float64" if dtype != np.float64 else ""))


def finite_values(name: str, values: Sequence[float] | None) -> list[float] | None:
    """``values`` as a list of finite floats (``None`` stays ``None``), or a ConfigError."""
    if values is None:
        return None
    try:
        array = np.asarray(values) if not isinstance(values, (str, bytes)) else np.array([])
    except ValueError:  # ragged nested lists
        array = np.array([[]])
    if array.ndim != 1 or not array.size or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
        raise ConfigError(f"preprocessing {name} must be a list of finite numbers (one per "
                          f"channel, or one for all), got {values!r}")
    return [float(v) for v in array]


def preprocess(x: Array, preprocessing: dict[str, Any], dtype: np.dtype,
               cache: dict[tuple, tuple[tuple[float, ...], Array]]) -> Array:
    """A batch ``x: (N, C, ...)`` (already on the model's device) as a float array of
    ``dtype``, after ``(x * scale - mean) / std`` with the ``preprocessing`` values;
    ``cache`` keeps the per-channel arrays (see :func:`_per_channel`)."""
    scale = dtype.type(preprocessing["scale"])
    if x.dtype != dtype:
        x = x.astype(dtype)
        if scale != 1:
            x *= scale  # in place: the converted array is our own copy
    elif scale != 1:
        x = x * scale  # never in place: x may be the caller's array
    for key, op in (("mean", "sub"), ("std", "div")):
        if preprocessing[key] is not None:
            values = _per_channel(preprocessing[key], key, x, dtype, cache)
            x = x - values if op == "sub" else x / values
    return x


def _per_channel(values: Any, key: str, x: Array, dtype: np.dtype,
                 cache: dict[tuple, tuple[tuple[float, ...], Array]]) -> Array:
    """Preprocessing ``values`` (its ``mean`` or ``std``, named by ``key``) as an array
    shaped ``(1, C, 1, ...)`` to broadcast over ``x``, on its device in ``dtype``: made once
    per device, dtype and rank (and again when the values change) and kept in ``cache``
    (the model's), not copied to the GPU with every batch."""
    xp = array_module(x)
    cache_key = (key, xp.__name__, dtype.name, x.ndim)
    # compared as plain numbers: the values may be a list, a tuple, an array or a number
    # assigned to model.preprocessing directly
    plain = tuple(np.ravel(values).tolist())
    cached = cache.get(cache_key)
    if cached is None or cached[0] != plain:
        array = xp.asarray(plain, dtype=dtype).reshape((1, -1) + (1,) * (x.ndim - 2))
        cached = cache[cache_key] = (plain, array)
    return cached[1]


#: preprocessed inputs beyond this are raw pixel values (0..255) that nothing scaled
UNSCALED_ABOVE = 100.0
#: ... and inputs that never exceed this were scaled twice (x / 255, then scale 1/255)
TWICE_SCALED_BELOW = 0.01


def input_scale_problem(lows: np.ndarray, highs: np.ndarray, preprocessing: dict[str, Any],
                        integers: bool) -> str | None:
    """What is wrong with the scale of some training inputs, or ``None``: ``lows`` and
    ``highs`` are their smallest and largest values per channel (axis 1), ``integers`` says
    they are integers (pixels). The model's preprocessing is applied to those extremes, not
    to a copy of the inputs, since ``(x * scale - mean) / std`` is monotonic per channel.

    Both mistakes are silent otherwise: the course's ReLU net trained on raw pixels, or on
    pixels divided by 255 twice, ends at the accuracy of always answering the commoner class
    (0.34 on the cat set's test images). Given a mean on the raw pixels' scale (above 1),
    large inputs are a choice (CS231n subtracts the mean of raw pixels); a mean for 0..1
    pixels (ImageNet's 0.485, ...) with scale 1 is the mistake again. Integers cannot have
    been divided twice."""
    scale = float(preprocessing["scale"])
    mean = np.asarray(preprocessing["mean"] if preprocessing["mean"] is not None else [0.0])
    largest = float(np.max(_preprocessed_ends(lows, highs, preprocessing)[-1], initial=0.0))
    raw_mean = preprocessing["mean"] is not None and float(np.abs(mean).max()) > 1
    if largest > UNSCALED_ABOVE and not raw_mean:
        return (f"the training inputs reach {largest:g} after the model's preprocessing (scale "
                f"{scale:g}): raw pixel values? Networks learn poorly from inputs this large; scale "
                "them, e.g. Sequential(..., preprocessing={'scale': 1 / 255})")
    if 0 < largest < TWICE_SCALED_BELOW and not integers:
        return (f"the training inputs are at most {largest:.2g} after the model's preprocessing "
                f"(scale {scale:g}): scaled twice (x / 255, and the model's scale 1/255)? Give the "
                "model the uint8 images, or set its scale to 1")
    return None


def _preprocessed_ends(lows: np.ndarray, highs: np.ndarray, preprocessing: dict[str, Any]) -> list:
    """The sizes ``|x * scale|``, ``|x * scale - mean|`` and ``|(x * scale - mean) / std|``
    (float64) that inputs whose channels range from ``lows`` to ``highs`` reach at each
    step of the preprocessing: each step is monotonic, so the extremes are the ends'."""
    scale = float(preprocessing["scale"])
    mean = np.asarray(preprocessing["mean"] if preprocessing["mean"] is not None else [0.0])
    std = np.asarray(preprocessing["std"] if preprocessing["std"] is not None else [1.0])
    ends = np.concatenate([lows, highs]).reshape(2, -1)
    with np.errstate(over="ignore"):  # inf: beyond any dtype, which the caller says
        steps = [ends * scale]
        steps += [steps[-1] - mean]
        steps += [steps[-1] / std]
    return [np.abs(step) for step in steps]


def largest_preprocessed(lows: np.ndarray, highs: np.ndarray, preprocessing: dict[str, Any]) -> float:
    """The largest size an input reaches at any step of the preprocessing (see
    :func:`_preprocessed_ends`): a model of a dtype whose largest number is below it would
    compute an infinity (float32 computes ``x * scale`` first, then the rest)."""
    return max(float(np.max(step, initial=0.0)) for step in _preprocessed_ends(lows, highs, preprocessing))


#: what a 1-D (or 0-D) input that is not one sample is told
ONE_FEATURE = "x.reshape(-1, 1) for one feature"


def layout_hint(shape: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """How ``shape`` (a batch) may be the ``(N, *expected)`` the model takes, laid out as
    the course or another library lays it out: one sample per column (``X: (12288, 209)``,
    the course's), or images with the channels last (``(209, 64, 64, 3)``, HDF5 and Keras),
    or no batch axis at all (a column of values, ``(50,)``)."""
    if len(shape) < 2:  # a column of values: a batch of one feature, or of flattened samples
        if expected == (1,):
            return f"; give a batch (N, features): {ONE_FEATURE}"
        sample = math.prod(expected)
        if len(shape) == 1 and shape[0] % sample == 0:
            batch = ", ".join(map(str, expected))
            return f"; give a batch: x.reshape(-1, {batch}) ({count(shape[0] // sample, 'sample')})"
        return ""
    if len(shape) == 2 and shape[:1] == expected:
        return f"; one sample per column, as in the course? give x.T, of shape {shape[::-1]}"
    if len(shape) == 4 and len(expected) == 3 and shape[1:] == (*expected[1:], expected[0]):
        return "; images with the channels last (N, H, W, C)? give x.transpose(0, 3, 1, 2)"
    return ""


def warn_if_channels_last(shape: tuple[int, ...]) -> None:
    """A warning when a model with convolutions or pooling is built for images ``(C, H, W)``
    that look like ``(H, W, C)``: the course's HDF5 arrays, ``(64, 64, 3)``, would train
    without an error as 64 channels of 64x3 pixels. "Look like": 1, 3 or 4 last, not first,
    and the first two comparable, as an image's sides are (``(12, 1000, 1)``, 12 channels of
    a signal, is left alone)."""
    if len(shape) != 3 or shape[2] not in (1, 3, 4) or shape[0] in (1, 3, 4):
        return
    height, width = shape[0], shape[1]  # if they were (H, W, C): an image's two sides
    if min(height, width) >= 8 and max(height, width) <= 2 * min(height, width):
        warnings.warn(f"the model is built for images (C, H, W) = {shape}: {shape[0]} channels of "
                      f"{shape[1]}x{shape[2]} pixels; if they are (H, W, C), with the channels "
                      "last, give x.transpose(0, 3, 1, 2)", GlassnetWarning, stacklevel=user_stacklevel())

