"""What a :class:`~glassnet.runs.RunConfig` makes to train with: the zoo model (with its
preprocessing), the optimizer, the learning-rate schedule, the callbacks of
``--early-stopping`` and ``--reduce-lr``, the class weights of ``--class-weight``, and the
check that ``--augment`` fits the images.

:mod:`glassnet.runs` sets a run up from these; :mod:`glassnet.search_checks` makes the
same things to try a search's configurations before any trial trains.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend, optimizers, schedules, zoo
from .data import Dataset, is_folder
from .errors import ConfigError, ShapeError
from .model import Sequential
from .training.callbacks import Callback
from .training.class_weights import BALANCED, class_weight_vector
from .training.early_stopping import EarlyStopping
from .training.reduce_lr import ReduceLROnPlateau

if TYPE_CHECKING:
    from .runs import RunConfig


def smallest_image_size(model: str, train: Dataset, options: dict[str, Any],
                        largest: int = 1024) -> int | None:
    """The smallest square image size (``--image-size``) that zoo model ``model`` can be built
    for with ``train``'s channels and classes, or ``None`` up to ``largest`` pixels."""
    for size in range(1, largest + 1):
        try:
            zoo.build(model, (train.image_shape[0], size, size), train.num_classes, **options)
        except ShapeError:
            continue
        return size
    return None


def build_model(config: RunConfig, train: Dataset) -> Sequential:
    """The zoo model for the data set's image shape and classes, with /255 preprocessing."""
    options: dict[str, Any] = dict(config.extra.get("model_options", {}))
    if config.hidden is not None:
        options["hidden"] = tuple(config.hidden)
    try:
        model = zoo.build(config.model, train.image_shape, train.num_classes, seed=config.seed,
                          dtype=config.dtype, **options)
    except ShapeError as exc:
        smallest = smallest_image_size(config.model, train, options) if is_folder(config.dataset) else None
        too_small = smallest is not None and smallest > min(train.image_shape[1:])  # not too large
        hint = f"; the smallest --image-size it fits is {smallest}" if too_small else ""
        raise ShapeError(f"model {config.model!r} does not fit the images of {train.name} (shape "
                         f"{train.image_shape}: channels, height, width): {exc}{hint}") from None
    model.set_preprocessing(scale=1 / 255)
    if config.extra.get("normalize"):
        model.set_preprocessing(scale=1 / 255, **channel_stats(train.x, scale=1 / 255))
    model.class_names = list(train.class_names)
    return model


def channel_stats(x: np.ndarray, scale: float = 1.0) -> dict[str, list[float]]:
    """Per-channel (axis 1) ``mean`` and ``std`` of ``x * scale`` over every other axis, from
    the training images only (one channel at a time, so uint8 data is never copied whole).
    A channel of one value has no spread: its std is 1 (it is only centred), not the 1e-16
    that rounding leaves of 200 / 255 averaged, which would blow its inputs up to 1e8."""
    mean, std = [], []
    for c in range(x.shape[1]):
        channel = x[:, c].astype(np.float64) * scale
        mean.append(float(channel.mean()))
        std.append(float(channel.std()) if channel.min() < channel.max() else 1.0)
    return {"mean": mean, "std": std}


def make_optimizer(config: RunConfig) -> optimizers.Optimizer:
    """The run's optimizer: ``config.optimizer`` with its lr, and its weight decay and momentum
    where given (momentum only for the SGDs and RMSProp)."""
    kwargs: dict[str, Any] = {"lr": config.lr}
    if config.weight_decay is not None:  # an explicit 0 turns off adamw's default 0.01
        kwargs["weight_decay"] = config.weight_decay
    if config.momentum is not None:
        if config.optimizer not in ("sgd", *optimizers.ALIASES, "rmsprop"):  # the SGDs and RMSProp
            raise ConfigError(f"--momentum applies to sgd/momentum/nesterov/rmsprop, "
                              f"not {config.optimizer!r}")
        kwargs["momentum"] = config.momentum
    return optimizers.get(config.optimizer, **kwargs)


def make_schedule(config: RunConfig) -> schedules.Schedule | None:
    """The run's lr schedule: ``--lr-decay`` as a step schedule of every epoch, else
    ``--lr-schedule`` over the run's epochs; ``None`` for a constant lr."""
    if config.lr_decay is not None and config.lr_schedule not in (None, "step"):
        # "constant" is the default schedule, but --lr-decay alone is a step schedule: say so
        raise ConfigError(f"--lr-decay {config.lr_decay:g} makes the lr a step schedule "
                          f"(x{config.lr_decay:g} every epoch): give it alone or with --lr-schedule "
                          f"step; --lr-schedule {config.lr_schedule} is another schedule")
    if config.lr_decay is not None:
        return schedules.StepDecay(every=1, factor=config.lr_decay)
    return schedules.for_run(config.lr_schedule, config.epochs)


def make_callbacks(config: RunConfig, verbose: int = 0) -> list[Callback]:
    """``extra["early_stopping"] = PATIENCE``: stop on val_loss and keep the best weights;
    ``extra["reduce_lr"] = PATIENCE`` (and ``"reduce_lr_factor"``, default 0.1): lower the
    lr when val_loss stalls (``verbose``: a line for each reduction)."""
    return [*_early_stopping(config), *_reduce_lr(config, verbose)]


def _needs_validation(config: RunConfig, option: str) -> None:
    """``option`` (``"--early-stopping 5"``) watches the validation loss: it needs a split
    (or validation data given with the run's data, which ``extra["validation"]`` names: a
    search trial's fold or split)."""
    if config.validation_split is None and not config.extra.get("validation"):
        raise ConfigError(f"{option} watches the validation loss: add --validation-split FRACTION "
                          "(never the test set)")


def _early_stopping(config: RunConfig) -> list[Callback]:
    patience = config.extra.get("early_stopping")
    if patience is None:
        return []
    _needs_validation(config, f"--early-stopping {patience}")
    return [EarlyStopping("val_loss", patience=patience, restore_best_weights=True)]


#: what --reduce-lr multiplies the lr by unless --reduce-lr-factor says (Keras' default)
REDUCE_LR_FACTOR = 0.1


def _reduce_lr(config: RunConfig, verbose: int) -> list[Callback]:
    patience = config.extra.get("reduce_lr")
    if patience is None:
        return []
    _needs_validation(config, f"--reduce-lr {patience}")
    setter = ("--lr-decay" if config.lr_decay is not None
              else f"--lr-schedule {config.lr_schedule}"
              if config.lr_schedule not in (None, schedules.Schedule.name) else None)
    if setter:
        raise ConfigError(f"--reduce-lr {patience} lowers the lr when val_loss stalls, but {setter} "
                          "sets the lr every epoch, undoing it: give one or the other")
    return [ReduceLROnPlateau("val_loss", factor=config.extra.get("reduce_lr_factor", REDUCE_LR_FACTOR),
                              patience=patience, verbose=1 if verbose else 0)]


def check_augmentation(augment: Any, train: Dataset, names: str | None) -> None:
    """Augment one training image once, before anything of an earlier run is removed: an
    augmentation the images cannot take (``crop`` pads 4 pixels by reflection: images of
    4x4 or less) fails here, naming the option, not in the first batch of training. A
    function of the user's own (``extra["augment_fn"]``, no ``names``) is left to its batches."""
    if augment is None or not names or not len(train):
        return
    try:
        augment(train.x[:1], np.random.default_rng(0))
    except ConfigError as exc:
        raise ConfigError(f"--augment {names}: {exc} (the images are {train.image_shape[1]}x"
                          f"{train.image_shape[2]}: a larger --image-size, or leave that "
                          "augmentation out)") from None


CLASS_WEIGHT_SYNTAX = ("'balanced', or NAME=WEIGHT pairs separated by commas (NAME a class's "
                       "name or index, WEIGHT a number >= 0), e.g. cat=2,non-cat=1")


def parse_class_weight(text: str, names: list[str] | None = None) -> str | dict[str, float]:
    """``--class-weight``'s text: ``"balanced"``, or ``"cat=2,non-cat=1"`` as ``{"cat": 2.0,
    "non-cat": 1.0}`` (keys as written: class names or indices, resolved against the data set
    by :func:`class_weights_for`). ``names``, the data set's classes where known, are listed
    when a piece is not a pair."""
    if text.strip() == BALANCED:
        return BALANCED
    weights: dict[str, float] = {}
    for pair in text.split(","):
        name, sep, value = pair.rpartition("=")  # a class name may hold "=", a weight cannot
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not (0 <= weight < math.inf):
            # "non,cat=2": a name with a comma is cut in two, and its first part has no "="
            hint = ("" if sep else "; a class whose name holds a comma is given by its index"
                    + (f" (the classes are {_classes_text(names)})" if names is not None else ""))
            raise ConfigError(f"--class-weight {text}: expected {CLASS_WEIGHT_SYNTAX}; "
                              f"{pair.strip()!r} is not{hint}")
        if name.strip() in weights:
            raise ConfigError(f"--class-weight {text}: class {name.strip()!r} is given twice")
        weights[name.strip()] = weight
    return weights


def class_weights_for(config: RunConfig, train: Dataset) -> np.ndarray | None:
    """The weight of each of ``train``'s classes, ``(C,)``, that ``extra["class_weight"]`` asks
    for (``--class-weight``'s text, or the dict it parses to), or ``None`` without one:
    ``"balanced"`` counts ``train``'s samples (the training split only), names are
    ``train``'s class names (a name before an index: a class folder may be named ``1``).
    Each weight must stay finite in the run's ``dtype``."""
    given = config.extra.get("class_weight")
    if given is None:
        return None
    option = f"--class-weight {given}" if isinstance(given, str) else f"class_weight {given!r}"
    names = list(train.class_names)
    spec = parse_class_weight(given, names) if isinstance(given, str) else given
    try:
        resolved = _class_indices_of(spec, names) if isinstance(spec, dict) else spec
        return class_weight_vector(resolved, train.y, train.num_classes, names,
                                   backend.resolve_dtype(config.dtype))
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def _classes_text(names: list[str]) -> str:
    """``"0=non-cat, 1=cat"``: each class's index and name."""
    return ", ".join(f"{i}={name}" for i, name in enumerate(names))


def _is_index(key: str) -> bool:
    """Whether ``key`` is written as a class index: ASCII digits only (``str.isdigit`` is
    true of ``"²"``, which ``int`` refuses, and of ``"١"``, which it reads as 1)."""
    return key.isascii() and key.isdigit()


def _class_indices_of(weights: dict[Any, float], names: list[str]) -> dict[int, float]:
    """``{"cat": 2.0, "0": 1.0}`` as ``{1: 2.0, 0: 1.0}`` for the classes ``names``: a key
    that is a class's name is that class; one that is a number only, its index, unless the
    class names are numbers too (then which class it means is a guess: it is refused)."""
    by_index: dict[int, float] = {}
    for key, weight in weights.items():
        key = str(key)
        if key in names:
            index = names.index(key)
        elif _is_index(key) and any(_is_index(name) for name in names):
            raise ConfigError(f"{key!r} is not a class name, and the class names here are numbers: "
                              f"give a class by its name (an index would be ambiguous); the classes "
                              f"are {_classes_text(names)}")
        elif _is_index(key) and int(key) < len(names):
            index = int(key)
        else:
            raise ConfigError(f"the data set has no class {key!r}; its classes are {_classes_text(names)}")
        if index in by_index:
            raise ConfigError(f"class {names[index]!r} is given twice (by name and by index)")
        by_index[index] = weight
    return by_index
