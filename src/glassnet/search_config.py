"""What a hyperparameter search runs: the search's configuration and the runs it trains.

:class:`SearchConfig` holds the base run (``base.epochs`` is the epochs per trial), the
parameter specs and the budget; :func:`apply_params` turns a trial's sampled parameters
into a :class:`~glassnet.runs.RunConfig`, and :func:`train_command` writes the
``glassnet train`` command line of such a run. No Optuna here.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import shlex
from dataclasses import dataclass
from typing import Any

from . import schedules, zoo
from ._checks import parse_int_list
from ._text import batch_size_text
from .data import DEFAULT_IMAGE_SIZE, is_folder
from .errors import ConfigError
from .run_setup import parse_class_weight
from .runs import TRAIN_MODEL_OPTIONS, RunConfig
from .search_space import NARROW_MIN, ParamSpec, check_unique, exact_text

SAMPLERS = ("tpe", "random")
STRATEGIES = ("plain", "narrow")
PRUNERS = ("median", "halving", "none")
# What a trial is scored (and pruned) by, and whether higher or lower is better. Balanced
# accuracy, the mean per-class recall, is the default: unlike accuracy it does not reward
# answering the class that is common in the validation split (a constant answer scores
# 1/C), so it ranks trials the same way on a test set whose class mix differs.
OBJECTIVES = {"val_balanced_accuracy": "maximize", "val_accuracy": "maximize", "val_loss": "minimize"}
#: The validation scores every trial records after each epoch, and what they are in words.
SCORE_LABELS = {"val_balanced_accuracy": "balanced accuracy", "val_accuracy": "accuracy",
                "val_loss": "loss"}
OBJECTIVE_LABELS = {key: f"validation {label}" for key, label in SCORE_LABELS.items()}
# RunConfig fields a search may not vary: they define the problem, not the model's settings.
# What the data is cannot be searched: every trial must see the same images and the same
# held-out test split (and the printed train command must train on them too).
FIXED_FIELDS = {"dataset", "model", "epochs", "seed", "dtype", "out", "extra", "validation_split",
                "image_size", "resize", "strict", "test_split"}


def searchable_model_options(model: str) -> set[str]:
    """The options of zoo ``model`` a search may vary: those ``glassnet train`` has a flag for
    (the best trial is printed as a ``glassnet train`` command), e.g. ``{"dropout"}``."""
    return zoo.option_names(model) & set(TRAIN_MODEL_OPTIONS)


# Searchable options that are on or off (``--batchnorm``): their only values are true and false.
FLAG_OPTIONS = {"batchnorm"}


def searchable_names(model: str) -> set[str]:
    """Every parameter a search of ``model`` may vary: the run's settings that are not
    :data:`FIXED_FIELDS` (``hidden`` only for a model that has hidden layers), and
    :func:`searchable_model_options`."""
    run_settings = set(RunConfig.__dataclass_fields__) - FIXED_FIELDS - set(TRAIN_MODEL_OPTIONS)
    return run_settings | searchable_model_options(model)


def _unsearchable_reason(name: str, model: str) -> str:
    """Why ``name`` cannot be searched for ``model`` (it is not in :func:`searchable_names`)."""
    if name in FIXED_FIELDS:
        return ("it is fixed for the whole search (every trial sees the same data, model, seed "
                "and epochs, --epochs-per-trial, and is scored the same way); set it with its "
                "own option")
    if name in zoo.option_names(model):
        return ("'glassnet train' has no flag for it, so the printed command could not train the "
                "best configuration")
    if name in NOT_SEARCHED_TRAIN_OPTIONS:
        return (f"--{name.replace('_', '-')} is a 'glassnet train' option that a search does not "
                "vary (every trial trains with the same input normalization, no early stopping and "
                "no lr reduction on a plateau)")
    return f"neither model {model!r} nor the training run takes it"


#: options of `glassnet train` (kept in RunConfig.extra) that a search never varies
NOT_SEARCHED_TRAIN_OPTIONS = ("normalize", "early_stopping", "reduce_lr", "reduce_lr_factor")


# The options of `glassnet search` that define a stored search, and the setting of
# SearchConfig each one sets: `--resume` takes them from the stored search and refuses a
# different value; an error about two different searches names these options. Their values
# are compared as :func:`resolved` writes them (a default as the value it stands for); the
# rounds only for --strategy narrow (a plain search is one round).
STORED_SETTINGS = {
    "dataset": "base.dataset", "model": "base.model", "hidden": "base.hidden",
    "epochs_per_trial": "base.epochs", "optimizer": "base.optimizer", "batch_size": "base.batch_size",
    "validation_split": "base.validation_split", "folds": "folds", "smooth": "smooth",
    "image_size": "base.image_size", "resize": "base.resize", "strict": "base.strict",
    "test_split": "base.test_split", "seed": "base.seed", "dtype": "base.dtype",
    "sampler": "sampler", "strategy": "strategy", "rounds": "rounds", "objective": "objective",
    "pruner": "pruner", "class_weight": "base.extra.class_weight",
}
# ... and the two a resumed search may change (a bigger budget) or not give (the space).
_OPTION_OF_SETTING = {path: "--" + dest.replace("_", "-") for dest, path in STORED_SETTINGS.items()}
_OPTION_OF_SETTING.update(trials="--trials", params="--param")


def resolved(config: SearchConfig) -> SearchConfig:
    """A copy of ``config`` with each setting left to its default written as the value it
    stands for, so that two searches that train the same trials compare equal however they
    were asked for (``--hidden 20,7,5`` given or not): ``base.hidden`` None is the model's
    default hidden sizes (mlp's ``20,7,5``; still None for a model that takes none), and
    ``base.image_size`` None an image folder's 128 (still None for a named data set). What is
    stored and run is ``config`` itself: searches stored before this compare the same way."""
    base = config.base
    hidden = base.hidden
    if hidden is None and zoo.option_default(base.model, "hidden") is not None:
        hidden = list(zoo.option_default(base.model, "hidden"))
    image_size = base.image_size
    if image_size is None and is_folder(base.dataset):
        image_size = DEFAULT_IMAGE_SIZE
    extra = base.extra
    if isinstance(extra.get("class_weight"), str):  # "cat=2, non-cat=1" is "non-cat=1,cat=2"
        extra = {**extra, "class_weight": _class_weight_text(extra["class_weight"])}
    return dataclasses.replace(config, base=dataclasses.replace(base, hidden=hidden, image_size=image_size,
                                                                extra=extra))


def _class_weight_text(text: str) -> str:
    """``--class-weight``'s text written one way: ``balanced``, or the pairs sorted by class
    with the weights as numbers, those of weight 1 left out as a class not named weighs 1
    (``"non-cat=1.0, cat=2.0"`` → ``"cat=2"``); text that does not parse stays as it is (the
    run's own check names what is wrong). Classes are compared as written: ``1=2`` and
    ``cat=2`` differ here even where class 1 is ``cat`` (the data set is not read for this)."""
    try:
        weights = parse_class_weight(text)
    except ConfigError:
        return text
    if isinstance(weights, str):
        return weights
    # a class not named weighs 1: naming it with 1 changes nothing
    return ",".join(f"{name}={exact_text(weight)}" for name, weight in sorted(weights.items())
                    if weight != 1)


def setting(config: SearchConfig, path: str) -> Any:
    """The value at ``path`` (``"base.epochs"``, ``"base.extra.class_weight"``) of ``config``
    (``None`` for a key its ``extra`` does not hold)."""
    return functools.reduce(lambda value, name: value.get(name) if isinstance(value, dict)
                            else getattr(value, name), path.split("."), config)


def setting_difference(path: str, stored: Any, given: Any) -> str:
    """``"--epochs-per-trial: stored 2, given 3"``: a setting that differs between a stored
    search and the one given, named by its option where it has one (else by its path), the
    values as that option writes them (``20,7,5``, ``full``, ``on``, ``lr=log:1e-05:0.1``)."""
    def text(value: Any) -> str:
        if path == "base.batch_size":
            return batch_size_text(value)
        if path == "params":
            specs = [v if isinstance(v, ParamSpec) else ParamSpec.from_dict(v) for v in value or []]
            return " ".join(f"{spec.name}={spec.describe()}" for spec in specs) or "none"
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list):
            return ",".join(map(str, value))
        return "not set" if value is None else str(value)

    return f"{_OPTION_OF_SETTING.get(path, path)}: stored {text(stored)}, given {text(given)}"


def _check_value_types(spec: ParamSpec) -> None:
    """On/off options take only true and false; no other option takes true or false (a
    ``choice:yes,no`` for batchnorm would turn it on twice, ``lr_decay=choice:true`` mean 1)."""
    values = spec.all_choices if spec.kind == "choice" else ()
    if spec.name in FLAG_OPTIONS:
        if spec.kind != "choice" or not all(isinstance(v, bool) for v in values):
            raise ConfigError(f"cannot search {spec.name}={spec.describe()}: it is on or off; "
                              f"use {spec.name}=choice:true,false")
    elif any(isinstance(v, bool) for v in values):
        raise ConfigError(f"cannot search {spec.name}={spec.describe()}: true and false are not "
                          f"values of {spec.name}")


@dataclass
class SearchConfig:
    """What to search: the base run (``base.epochs`` = epochs per trial), the space, the budget."""

    base: RunConfig
    params: list[ParamSpec]
    trials: int = 30
    sampler: str = "tpe"
    strategy: str = "plain"
    rounds: int = 1
    pruner: str = "median"
    objective: str = "val_balanced_accuracy"
    folds: int | None = None  # K-fold cross-validation instead of base.validation_split
    smooth: int = 1  # epochs of the moving average taken of the validation curve

    def validate(self) -> SearchConfig:
        check_unique(self.params)
        for name, value, allowed in (("sampler", self.sampler, SAMPLERS),
                                     ("strategy", self.strategy, STRATEGIES),
                                     ("pruner", self.pruner, PRUNERS),
                                     ("objective", self.objective, tuple(OBJECTIVES))):
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.strategy == "narrow" and self.sampler != "random":
            raise ConfigError("--strategy narrow samples at random inside each round's ranges; "
                              f"it cannot use --sampler {self.sampler}")
        if self.rounds < 1 or (self.strategy == "plain" and self.rounds != 1):
            raise ConfigError(f"--rounds {self.rounds} needs --strategy narrow (plain is one round)")
        if self.strategy == "narrow" and self.trials < NARROW_MIN * self.rounds:
            # fewer would leave a round without the trials to narrow from: a silent no-op
            raise ConfigError(f"--strategy narrow needs at least {NARROW_MIN} trials a round (each "
                              f"range shrinks to the span of a round's best trials): --trials "
                              f"{self.trials} is too few for --rounds {self.rounds}; give --trials "
                              f"{NARROW_MIN * self.rounds} or more, or fewer --rounds")
        if self.trials < self.rounds:
            raise ConfigError(f"--trials {self.trials} is fewer than --rounds {self.rounds}")
        self._validate_validation()
        if isinstance(self.smooth, bool) or not isinstance(self.smooth, int) or self.smooth < 1:
            raise ConfigError(f"--smooth must be a whole number of epochs, at least 1, got {self.smooth!r}")
        if self.smooth > self.base.epochs:
            # every epoch would average (nearly) the whole curve: the ends, which average
            # fewer epochs, or a tie, would choose the best epoch (epoch 1)
            raise ConfigError(f"--smooth {self.smooth} is longer than a trial (--epochs-per-trial "
                              f"{self.base.epochs}): every epoch would average nearly the whole "
                              f"curve; give --smooth {self.base.epochs} or less")
        searchable = searchable_names(self.base.model)
        for spec in self.params:
            if spec.name not in searchable:
                raise ConfigError(f"cannot search {spec.name!r}: "
                                  f"{_unsearchable_reason(spec.name, self.base.model)}; searchable: "
                                  f"{', '.join(sorted(searchable))}")
            _check_value_types(spec)
        return self

    def _validate_validation(self) -> None:
        """Exactly one way to validate: ``folds`` (an integer >= 2) or ``base.validation_split``."""
        if self.folds is None:
            if self.base.validation_split is None:
                raise ConfigError("a search scores trials on validation data: give a validation "
                                  "split or a number of folds")
            return
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"--folds must be an integer of at least 2 (each fold is validated by "
                              f"a model trained on the others), got {self.folds!r}")
        if self.base.validation_split is not None:
            raise ConfigError(f"--folds {self.folds} validates every trial on each fold of the "
                              "training split in turn; leave out --validation-split")

    @property
    def objective_label(self) -> str:
        """What the objective is, in words: ``"validation balanced accuracy (mean of 5 folds)"``."""
        label = OBJECTIVE_LABELS[self.objective]
        return label if self.folds is None else f"{label} (mean of {self.folds} folds)"

    def describe_validation(self) -> str:
        """Where trials are scored: ``"5 stratified folds"`` or ``"a 0.2 validation split"``."""
        if self.folds is not None:
            return f"{self.folds} stratified folds of the training split"
        return f"a {self.base.validation_split:g} validation split"

    @property
    def direction(self) -> str:
        """``"maximize"`` or ``"minimize"``: which way :attr:`objective` ranks trials."""
        return OBJECTIVES[self.objective]

    def rank(self, value: float) -> float:
        """``value`` of the objective turned so that higher is always better."""
        return value if self.direction == "maximize" else -value

    def per_round(self, round_index: int, used: int) -> int:
        """Trials in round ``round_index`` when the rounds before it ran ``used`` trials: what
        is left of the budget, split evenly over this round and the later ones, the remainder
        first. A search run in one go splits its budget evenly over all rounds; one resumed
        with a bigger ``--trials`` after rounds closed gives the rest to the open rounds (the
        last round, when all others are done), so that the study reaches its total."""
        share, extra = divmod(max(0, self.trials - used), self.rounds - round_index)
        return share + (extra > 0)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["base"] = self.base.to_dict()
        data["params"] = [p.to_dict() for p in self.params]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        data = dict(data)
        data.setdefault("objective", "val_accuracy")  # searches stored before --objective existed
        data.setdefault("folds", None)  # ... and before --folds and --smooth
        data.setdefault("smooth", 1)
        data["base"] = RunConfig.from_dict(data["base"])
        data["params"] = [ParamSpec.from_dict(p) for p in data["params"]]
        return cls(**data)


def apply_params(base: RunConfig, params: dict[str, Any]) -> RunConfig:
    """A copy of ``base`` with the sampled ``params`` set (model options go to the zoo)."""
    config = dataclasses.replace(base, extra=copy.deepcopy(base.extra))
    options = config.extra.setdefault("model_options", {})
    for name, value in params.items():
        if name == "hidden":
            config.hidden = _hidden_choice(value)
        elif name == "augment":  # choice:none,flip,flip-crop (a comma separates choices)
            config.augment = None if value == "none" else str(value).replace("-", ",")
        elif name in RunConfig.__dataclass_fields__:
            setattr(config, name, value)
        else:
            options[name] = value
    if not options:
        config.extra.pop("model_options")
    return config


def _hidden_choice(value: Any) -> list[int]:
    """A searched ``hidden``: ``50`` as ``[50]``, ``"20-7-5"`` (sizes joined with a dash: a
    comma separates the choices) as ``[20, 7, 5]``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    try:
        return parse_int_list(str(value).replace("-", ","), "hidden")
    except ConfigError:
        raise ConfigError(f"a hidden choice is a positive layer size, or several joined with '-' "
                          f"(hidden=choice:50,20-7-5: one layer of 50, or three), got {value!r}") from None


def final_config(base: RunConfig, params: dict[str, Any], best_epoch: int | None) -> RunConfig:
    """The run that trains a trial's ``params`` on all training data (no validation split)
    for the trial's ``best_epoch`` epochs; for all ``base.epochs`` when the best epoch is
    unknown (searches stored before it was recorded) or the lr schedule depends on them."""
    config = apply_params(base, params)
    config.validation_split = None
    # A schedule shaped by the run's total epochs: a shorter run is not the longer one cut short.
    if best_epoch is not None and config.lr_schedule not in schedules.SPAN_THE_RUN:
        config.epochs = int(best_epoch)
    return config


# Options whose ``glassnet train`` default is 0: a 0 there needs no flag. Any other 0 (a
# searched momentum of 0, where train's default is the optimizer's 0.9, or a weight decay
# of 0, where adamw's default is 0.01) must be written.
ZERO_BY_DEFAULT = ("reg",)


def _is_train_default(name: str, value: Any) -> bool:
    """True for a value ``glassnet train`` would use without the flag (``is``, not ``==``:
    ``0.0 == False`` in Python, and a searched 0 must still be written)."""
    return value is None or value is False or value == "" or (value == 0 and name in ZERO_BY_DEFAULT)


def train_command(config: RunConfig) -> str:
    """The ``glassnet train`` command line that trains ``config``, exactly: numbers are written
    with every digit they need (``repr``), since even a learning rate rounded to six digits
    can end a long full-batch run on the other side of a test image."""
    args = ["glassnet", "train", "--dataset", config.dataset, "--model", config.model]
    if config.hidden:
        args += ["--hidden", ",".join(str(h) for h in config.hidden)]
    args += ["--epochs", str(config.epochs),
             "--batch-size", batch_size_text(config.batch_size),
             "--optimizer", config.optimizer, "--lr", repr(float(config.lr))]
    options = {name: getattr(config, name) for name in
               ("momentum", "weight_decay", "reg", "lr_decay", "lr_schedule", "validation_split",
                "image_size", "test_split", "strict", "augment")}
    options["resize"] = config.resize if config.resize != "squash" else None
    options.update(config.extra.get("model_options", {}))
    options.update({name: config.extra.get(name)
                    for name in ("early_stopping", "reduce_lr", "reduce_lr_factor", "class_weight")})
    options["normalize"] = config.extra.get("normalize")
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        if value is True:
            args.append(flag)
        elif not _is_train_default(name, value):
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    args += ["--seed", str(config.seed), "--dtype", config.dtype]
    if config.out:  # the folder --final trains into: the command may repeat that run
        args += ["--out", str(config.out), "--overwrite"]
    return shlex.join(args)
