"""The data of a run: its configured data set loaded, the splits it trains, validates and
is scored on, and whether a data set fits a model (its image shape, its classes by name).

:mod:`glassnet.runs` trains on these splits; ``glassnet evaluate``, ``predict`` and
``report`` read data for a run's model the same way, and a search's trials hold out
their validation data with :func:`holdout_split`.
"""

from __future__ import annotations

import dataclasses
import unicodedata
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import Dataset, is_folder
from .data import load as load_dataset
from .errors import ConfigError, GlassnetWarning, ShapeError, user_stacklevel
from .model import Sequential

if TYPE_CHECKING:
    from .runs import RunConfig


def where_the_folder_is_now(config: RunConfig, dataset: str | None) -> RunConfig:
    """An earlier run's configuration (for ``--resume`` or ``report``), reading its image
    folder from ``dataset`` when given (``--dataset``: where the folder was moved to; its
    files are still checked against the run's), else from where the run recorded it,
    which must still be there."""
    if dataset is not None:
        if not is_folder(config.dataset):
            raise ConfigError(f"--dataset gives the new place of a run's image folder, but this run "
                              f"trained on the data set {config.dataset!r}: drop --dataset")
        return dataclasses.replace(config, dataset=dataset)
    if is_folder(config.dataset) and not Path(config.dataset).is_dir():
        raise ConfigError(f"the run trained on the image folder {config.dataset}, which is no "
                          "longer there: give its new place with --dataset")
    return config


def load_data(config: RunConfig, splits: tuple[str, ...] | None = None,
              color_mode: str = "rgb") -> dict[str, Dataset]:
    """The configured data set (an image folder read as configured, in ``color_mode``);
    ``splits`` limits which."""
    return load_dataset(config.dataset, splits=splits, image_size=config.image_size,
                        resize=config.resize, strict=config.strict, test_split=config.test_split,
                        seed=config.seed, color_mode=color_mode)


def model_color_mode(model: Sequential) -> str:
    """``"grayscale"`` for a model of one-channel images ``(1, H, W)``, else ``"rgb"``: how an
    image folder is read for it."""
    return "grayscale" if len(model.input_shape) == 3 and model.input_shape[0] == 1 else "rgb"


def prepare_splits(config: RunConfig, data: dict[str, Dataset] | None = None,
                   color_mode: str = "rgb") -> dict[str, Dataset | None]:
    """``{"train", "validation", "test"}`` as the run uses them: validation held out of
    ``data["train"]`` (``config.validation_split``, seeded) or ``data["validation"]`` as given
    (when not given, read in ``color_mode``).

    A search trial's run records in ``config.extra["holdout"]`` how its validation data was
    carved from the training split (:func:`holdout_split`); without given validation data
    (``glassnet report`` on a trial's folder) the same split is made again, and there is no
    test split, which the trial never saw."""
    holdout = config.extra.get("holdout")
    if holdout is not None and (data is None or data.get("validation") is None):
        train = (data if data is not None else load_data(config, ("train",), color_mode))["train"]
        train, validation = holdout_split(train, holdout, config.seed)
        return {"train": train, "validation": validation, "test": None}
    data = data if data is not None else load_data(config, color_mode=color_mode)
    train, validation = data["train"], data.get("validation")
    if config.validation_split is not None:
        if validation is not None:
            raise ConfigError("give either a validation split or validation data, not both")
        train, validation = validation_split_of(train, config.validation_split, config.seed)
    return {"train": train, "validation": validation, "test": data.get("test")}


def validation_split_of(train: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """``(train, validation)``: a run's ``--validation-split`` held out of its training split,
    seeded as the run does (:func:`holdout_split` of ``{"validation_split": fraction}``)."""
    return holdout_split(train, {"validation_split": fraction}, seed)


def holdout_split(train: Dataset, holdout: dict[str, Any], seed: int) -> tuple[Dataset, Dataset]:
    """``(train, validation)`` of a search trial's run: fold ``holdout["fold"]`` (1-based) of
    ``holdout["folds"]`` stratified folds of ``train``, or a ``holdout["validation_split"]``
    held out of it, seeded by ``seed`` as the search made them. They are named
    ``<data>/train`` and ``<data>/validation`` wherever they are shown (the report,
    ``glassnet evaluate --split``)."""
    if "folds" in holdout:
        pair = train.folds(int(holdout["folds"]), seed=seed, what="--folds")[int(holdout["fold"]) - 1]
    else:
        pair = train.split(float(holdout["validation_split"]), seed=seed)
    return named_split(train, pair)


def named_split(train: Dataset, pair: tuple[Dataset, Dataset]) -> tuple[Dataset, Dataset]:
    """``pair`` (the images of ``train`` a model trains on, those that validate it) named
    ``<data>/train`` and ``<data>/validation``."""
    rest, held = pair
    base = train.name.removesuffix("/train")
    rest.name, held.name = f"{base}/train", f"{base}/validation"
    return rest, held


def check_compatible(model: Sequential, dataset: Dataset) -> Dataset:
    """``dataset`` with its labels in the model's class order; a clear error when its images
    do not fit the model's input or its classes are not the model's.

    Classes are matched by name, not by position: an image folder lists its classes in
    sorted order (``cat``, ``non-cat``) while a model keeps its training set's order (the cat
    set's is ``non-cat``, ``cat``), and label 0 must mean the same class to both. A data set
    may hold only some of the model's classes (a folder of cats alone)."""
    if tuple(dataset.image_shape) != tuple(model.input_shape):
        raise ShapeError(
            f"the model expects images of shape {tuple(model.input_shape)} (channels, height, "
            f"width) but {dataset.name} has {tuple(dataset.image_shape)}")
    names = list(model.class_names or [])
    if not names:  # a model trained from arrays has no class names: only the count can be checked
        outputs = max(2, model.output_shape[-1])  # one sigmoid unit: two classes
        if dataset.num_classes > outputs:
            raise ShapeError(f"{dataset.name} has {dataset.num_classes} classes but the model "
                             f"predicts {outputs}")
        order = ", ".join(f"{i} = {name!r}" for i, name in enumerate(dataset.class_names))
        warnings.warn(f"the model records no class names, so the classes of {dataset.name} are "
                      f"matched by position ({order}): right only if the model was trained in that "
                      "order (set model.class_names before saving to match by name)",
                      GlassnetWarning, stacklevel=user_stacklevel())
        return dataset
    if list(dataset.class_names) == names:
        return dataset
    index = {c: class_index(names, c) for c in dataset.class_names}
    unknown = [c for c, i in index.items() if i is None]
    if unknown:
        folder_hint = (" (an image folder needs one subfolder per class, named as in training)"
                       if "files" in dataset.info else "")  # a named set's classes are fixed
        raise ConfigError(f"{dataset.name} has classes the model was not trained on: "
                          f"{', '.join(map(repr, unknown))}; the model's classes are "
                          f"{', '.join(map(repr, names))}{folder_hint}")
    to_model = np.array([index[c] for c in dataset.class_names], dtype=np.int64)
    return Dataset(dataset.x, to_model[dataset.y], names, dataset.name, dict(dataset.info))


def class_index(names: list[str], name: str) -> int | None:
    """Where ``name`` is among a model's class ``names``: the same name, else the one name
    that is the same in Unicode's NFC form ("grün" typed on Linux, and the same folder name
    unzipped from a Mac, whose "ü" is "u" and a combining mark), else ``None``."""
    if name in names:
        return names.index(name)
    form = unicodedata.normalize("NFC", name)
    same = [i for i, known in enumerate(names) if unicodedata.normalize("NFC", known) == form]
    return same[0] if len(same) == 1 else None
