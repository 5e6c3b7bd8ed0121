"""A training run from a plain, JSON-able configuration: data → model → fit → files.

``glassnet train`` (and the hyperparameter search) call :func:`train_run`; it writes
``runs/<name>/`` with ``model.glassnet``, ``history.json``, ``metrics.json`` and
``run.json`` (the configuration, so a run can be reproduced or resumed).

This module holds the configuration (:class:`RunConfig`) and the run's course, new or
resumed; its siblings hold the parts: :mod:`glassnet.run_folders` (the folder and its
file names), :mod:`glassnet.run_data` (data and splits), :mod:`glassnet.run_setup` (model,
optimizer, schedule, callbacks), :mod:`glassnet.run_resume` (going on from a checkpoint)
and :mod:`glassnet.run_records` (the files it writes).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from ._checks import parse_int_list
from .data import Dataset
from .data import augment as augment_mod
from .errors import ConfigError, ModelFormatError, NonFiniteLossError
from .io.checkpoint import Checkpointer, StopRequest
from .io.checkpoint_file import CHECKPOINT_NAME, read_checkpoint
from .json_checks import INTS, NUMBER, type_problem
from .model import Sequential
from .run_data import load_data, prepare_splits, where_the_folder_is_now
from .run_folders import (
    RUN_RECORD,
    check_not_a_search_folder,
    check_outside_the_data,
    clear_run_files,
    default_out_dir,
    remove_run_temporaries,
    run_folder_of,
    training_into,
)
from .run_records import (
    early_stopping_record,
    early_stopping_summary,
    reduce_lr_record,
    saved_config,
    training_data_record,
    write_run,
)
from .run_resume import resume_state
from .run_setup import (
    build_model,
    check_augmentation,
    class_weights_for,
    make_callbacks,
    make_optimizer,
    make_schedule,
)
from .training.callbacks import Callback
from .training.class_weights import weights_by_class
from .training.early_stopping import EarlyStopping
from .training.history import History
from .training.nan_guard import note_restored_weights
from .training.reduce_lr import ReduceLROnPlateau

# The zoo model options that ``glassnet train`` has a flag for (``--hidden``, ``--init``,
# ``--batchnorm``, ``--dropout``). Other options (mlp's ``activation``, the CNNs' ``widths``)
# can be set from Python only, through ``extra["model_options"]``.
TRAIN_MODEL_OPTIONS = ("hidden", "init", "batchnorm", "dropout")


@dataclass
class RunConfig:
    """Every choice a training run makes; defaults are the CLI's defaults."""

    dataset: str = "cats"
    model: str = "mlp"
    hidden: list[int] | None = None
    epochs: int = 10
    batch_size: int | None = 64
    lr: float = 0.01
    optimizer: str = "sgd"
    momentum: float | None = None
    weight_decay: float | None = None  # None: the optimizer's own (0.01 for adamw, else 0)
    reg: float = 0.0
    lr_decay: float | None = None
    lr_schedule: str | None = None
    validation_split: float | None = None
    image_size: int | None = None
    resize: str = "squash"
    test_split: float | None = None
    strict: bool = False
    seed: int = 0
    dtype: str = "float32"
    augment: str | None = None
    out: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "config_version": CONFIG_VERSION}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """A configuration saved by :meth:`to_dict`, now or by an earlier glassnet; a value of
        the wrong type (a damaged or edited file) is a :class:`ConfigError` naming it."""
        known = {f.name for f in dataclasses.fields(cls)}
        problem = type_problem(data, SAVED_TYPES)
        if problem:
            raise ConfigError(f"the saved run configuration has {problem}")
        config = cls(**{k: v for k, v in data.items() if k in known})
        if config.seed < 0:
            raise ConfigError(f"the saved run configuration has seed = {config.seed}, which is negative")
        options = config.extra.get("model_options")
        if options is not None and not isinstance(options, dict):
            raise ConfigError(f"the saved run configuration has model_options = {options!r}, which is "
                              "not a JSON object")
        class_weight = config.extra.get("class_weight")
        if class_weight is not None and not isinstance(class_weight, (str, dict)):
            raise ConfigError(f"the saved run configuration has class_weight = {class_weight!r}, which "
                              "is neither a text nor a JSON object")
        if data.get("config_version", 1) < 2 and config.weight_decay == 0:
            # Version 1 saved 0.0 for "not given", which meant the optimizer's own default
            # (AdamW's 0.01); keep meaning that, so resumed runs train as they began.
            config.weight_decay = None
        return config


#: 2: ``weight_decay`` None means the optimizer's default, and 0 means none.
CONFIG_VERSION = 2

#: the JSON types of a saved :class:`RunConfig` (see :mod:`glassnet.json_checks`)
SAVED_TYPES: dict[str, tuple[Any, ...]] = {
    "dataset": (str,), "model": (str,), "hidden": (INTS, None), "epochs": (int,),
    "batch_size": (int, None, "full"), "lr": (NUMBER,), "optimizer": (str,),
    "momentum": (NUMBER, None), "weight_decay": (NUMBER, None), "reg": (NUMBER,),
    "lr_decay": (NUMBER, None), "lr_schedule": (str, None), "validation_split": (NUMBER, None),
    "image_size": (int, INTS, None), "resize": (str,), "test_split": (NUMBER, None),
    "strict": (bool,), "seed": (int,), "dtype": (str,), "augment": (str, None),
    "out": (str, None), "extra": (dict,), "config_version": (int,)}


@dataclass
class RunResult:
    model: Sequential
    history: History
    metrics: dict[str, Any]
    out_dir: Path
    error: NonFiniteLossError | None = None
    config: RunConfig | None = None
    early_stopping: EarlyStopping | None = None  # what it did, when the run used it
    reduce_lr: ReduceLROnPlateau | None = None  # the same, of --reduce-lr


@dataclass
class FitOutcome:
    """What fitting a run gave (:func:`_fit_run`) for :func:`_finish_run` to record."""

    error: NonFiniteLossError | None  # the non-finite loss that stopped training, if one did
    seconds: float  # trained over every session
    given_lr: float  # a resumed run's: its checkpoint's, which the restore put back
    sessions: list[dict[str, Any]]  # the run's training sessions (io.checkpoint.sessions_of)


def train_run(config: RunConfig, callbacks: list[Callback] | None = None, verbose: int = 1,
              data: dict[str, Dataset] | None = None, resume: str | Path | None = None,
              stop: StopRequest | None = None) -> RunResult:
    """Train as configured and write the run's files; returns the model, history and metrics.

    The run's ``report.html`` is written too, unless ``config.extra["report"]`` is false.

    A new run (not ``resume``) first removes the files of an earlier run in its folder
    (:data:`~glassnet.run_folders.RUN_FILE_NAMES`); ``glassnet train`` asks for ``--overwrite`` before that.
    ``runs/<name>/checkpoint.glassnet`` keeps the last completed epoch (see
    :class:`~glassnet.io.checkpoint.Checkpointer`); ``resume`` names such a checkpoint to
    continue from. When ``stop`` is requested (Ctrl-C), training stops after the current
    batch and :class:`~glassnet.errors.TrainingInterruptedError` propagates; the checkpoint
    holds the last completed epoch and nothing else is written.
    If the loss becomes non-finite the last good model is still saved and the result
    carries the error (the CLI reports it and exits with 1).
    """
    zoo.check_name(config.model)  # fail before the (possibly slow) data loading
    out_dir = Path(config.out) if config.out else default_out_dir(config)
    check_outside_the_data(config.dataset, out_dir)
    check_not_a_search_folder(out_dir)
    with training_into(out_dir, claim=not config.out) as out_dir:
        return _train_into(out_dir, config, callbacks, verbose, data, resume, stop)


def _train_into(out_dir: Path, config: RunConfig, callbacks: list[Callback] | None, verbose: int,
                data: dict[str, Dataset] | None, resume: str | Path | None,
                stop: StopRequest | None) -> RunResult:
    """:func:`train_run` in the run folder ``out_dir``, which this process holds."""
    augment = config.extra.get("augment_fn") or augment_mod.parse(config.augment)
    data = data if data is not None else load_data(config)
    splits = prepare_splits(config, data)
    model = build_model(config, splits["train"])
    callbacks = list(callbacks or []) + make_callbacks(config, verbose)
    model.compile(loss=zoo.loss_for(splits["train"].num_classes), optimizer=make_optimizer(config),
                  reg=config.reg)
    fingerprint = splits["train"].info.get("fingerprint")  # an image folder's files, checked on resume
    # in the model from the start, so that its checkpoints record the data too
    model.training_summary = training_data_record(config, fingerprint)
    check_augmentation(augment, splits["train"], None if config.extra.get("augment_fn") else config.augment)
    # before an earlier run's files go: a class name the data set lacks fails here
    class_weight = class_weights_for(config, splits["train"])
    by_class = None  # the weights as the run records them: [name, weight] by class
    if class_weight is not None:  # its checkpoints' loss is the weighted one: they say so too
        by_class = weights_by_class(class_weight, splits["train"].class_names)
        model.training_summary["class_weight"] = by_class
    if resume is None:
        clear_run_files(out_dir)
    else:
        remove_run_temporaries(out_dir)
    outcome = _fit_run(model, config, splits, out_dir, callbacks, augment, verbose, resume, stop, fingerprint,
                       class_weight)
    return _finish_run(model, config, splits, out_dir, callbacks, outcome, fingerprint, by_class)


def _fit_run(model: Sequential, config: RunConfig, splits: dict[str, Dataset | None], out_dir: Path,
             callbacks: list[Callback], augment: Any, verbose: int, resume: str | Path | None,
             stop: StopRequest | None, fingerprint: dict[str, Any] | None,
             class_weight: np.ndarray | None = None) -> FitOutcome:
    """Fit the compiled ``model`` as configured, checkpointing into ``out_dir`` (from the
    checkpoint ``resume`` names, if any); the lr it returns is the one the run was given (a
    resumed run's: its checkpoint's, which the restore puts back whatever ``config`` says).
    ``class_weight``: each class's weight in the training loss (:func:`class_weights_for`),
    or ``None``."""
    train, validation = splits["train"], splits["validation"]
    checkpoint = read_checkpoint(resume) if resume is not None else None
    initial_epoch, over = 0, False
    if checkpoint is not None:
        finished = (out_dir / RUN_RECORD).is_file()  # written last: every other file is there
        initial_epoch, over = resume_state(model, checkpoint, config, fingerprint, finished)
    checkpointer = Checkpointer(out_dir / CHECKPOINT_NAME, saved_config(config), stop,
                                callbacks=callbacks, resume=checkpoint, data=fingerprint)
    error = None
    started = time.perf_counter()
    try:
        # a training that is over trains no more epochs: its callbacks still end it (early
        # stopping puts back the best epoch's weights, as it did before the run was cut short);
        # one that ended before its first epoch (a non-finite loss) has nothing to end
        if not (over and initial_epoch == 0):
            model.fit(train.x, train.y, epochs=initial_epoch if over else config.epochs,
                      batch_size=config.batch_size,
                      validation_data=(validation.x, validation.y) if validation else None,
                      lr_schedule=make_schedule(config), callbacks=[*callbacks, checkpointer],
                      verbose=0 if over else verbose, augment=augment,
                      initial_epoch=initial_epoch,
                      class_weight=None if class_weight is None else dict(enumerate(class_weight)))
    except NonFiniteLossError as exc:
        error = exc
    if over and checkpoint.state.get("non_finite"):  # its files say why its training ended
        error = NonFiniteLossError(checkpoint.state["non_finite"], None, None, kept_epoch=initial_epoch)
        note_restored_weights(error, callbacks)  # as the fit that stopped did
    checkpointer.stop.phase = "finishing"  # a Ctrl-C now lets the run's files be written
    saved_run = checkpoint.run_config if checkpoint is not None else None
    given_lr = saved_run["lr"] if isinstance(saved_run, dict) and "lr" in saved_run else config.lr
    return FitOutcome(error, checkpointer.prior_seconds + time.perf_counter() - started, given_lr,
                      checkpointer.sessions)


def _finish_run(model: Sequential, config: RunConfig, splits: dict[str, Dataset | None], out_dir: Path,
                callbacks: list[Callback], outcome: FitOutcome, fingerprint: dict[str, Any] | None,
                class_weight: list[list[Any]] | None = None) -> RunResult:
    """Score every split, record the run in the model and write its files and report
    (``class_weight``: the weights the training loss had, ``[name, weight]`` by class)."""
    metrics = evaluate_splits(model, splits)
    metrics.update({"epochs": len(model.history), "seconds": round(outcome.seconds, 3),
                    "seed": config.seed})
    if outcome.error is not None:  # the metrics are of the weights the NaN guard kept: say so
        metrics["stopped"] = str(outcome.error)
    stopper = next((c for c in callbacks if isinstance(c, EarlyStopping)), None)
    metrics.update(early_stopping_record(stopper))
    reducer = next((c for c in callbacks if isinstance(c, ReduceLROnPlateau)), None)
    reductions = reduce_lr_record(reducer, model.optimizer.lr)
    metrics.update(reductions)
    if class_weight is not None:  # the training loss's weights (the metrics are unweighted)
        metrics["class_weight"] = class_weight
    model.training_summary = {
        **training_data_record(config, fingerprint), "epochs": len(model.history),
        "seconds": round(outcome.seconds, 3),
        # the lr the run was given (a schedule's base), not the last one it (or a callback) set
        "optimizer": {**model.optimizer.get_config(), "lr": outcome.given_lr},
        "lr_schedule": _schedule_text(config), "batch_size": config.batch_size,
        **({"augment": config.augment} if config.augment else {}),
        **({"early_stopping": early_stopping_summary(stopper)} if stopper is not None else {}),
        **({"reduce_lr": reductions} if reductions else {}),
        **({"class_weight": class_weight} if class_weight is not None else {}),
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, dict)},
    }
    write_run(out_dir, model, config, metrics,
              sizes={name: len(ds) for name, ds in splits.items() if ds is not None},
              sessions=outcome.sessions)
    if config.extra.get("report", True):
        from .report.run_report import write_run_report

        write_run_report(out_dir, model, splits)
    return RunResult(model, model.history, metrics, out_dir, outcome.error, config, stopper, reducer)


def _schedule_text(config: RunConfig) -> str | None:
    """``"cosine schedule"``, ``"step schedule, x0.5 per epoch"`` or ``None`` (a constant
    learning rate)."""
    if config.lr_decay is not None:
        return f"step schedule, x{config.lr_decay:g} per epoch"
    return f"{config.lr_schedule} schedule" if config.lr_schedule else None


def evaluate_splits(model: Sequential, splits: dict[str, Dataset | None]) -> dict[str, dict[str, float]]:
    """:meth:`Sequential.evaluate` (loss and metrics) on each split there is (x: (N, C, H, W)),
    by split name; a ``None`` split (no validation data) is left out."""
    return {name: model.evaluate(ds.x, ds.y) for name, ds in splits.items() if ds is not None}


def resume_run(run_dir: str | Path, callbacks: list[Callback] | None = None, verbose: int = 1,
               data: dict[str, Dataset] | None = None, stop: StopRequest | None = None,
               dataset: str | None = None) -> RunResult:
    """Continue ``runs/<name>/`` (or its ``checkpoint.glassnet``) from its checkpoint, with
    the configuration saved in it; ``dataset``: where its image folder is now, if it moved."""
    if not str(run_dir).strip():
        raise ConfigError("no run directory given to resume (an empty path)")
    run_dir = run_folder_of(run_dir)
    if run_dir.is_file():
        raise ConfigError(f"{run_dir} is a file; give the run directory that holds "
                          f"{CHECKPOINT_NAME} (the --out of the interrupted run)")
    if not run_dir.is_dir():
        if run_dir.suffix == ".glassnet":  # e.g. runs/x/model.glassnet, not written yet
            raise ConfigError(f"{run_dir}: no such file; --resume takes the run directory that "
                              f"holds {CHECKPOINT_NAME} (the --out of the interrupted run)")
        raise ConfigError(f"{run_dir}: no such run directory")
    path = run_dir / CHECKPOINT_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir} has no {CHECKPOINT_NAME} to resume from")
    saved = read_checkpoint(path).run_config
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} holds no run configuration; it was not written by a training run")
    try:
        config = RunConfig.from_dict({**saved, "out": str(run_dir)})
    except ConfigError as exc:
        raise ModelFormatError(f"{path}: {exc}; the checkpoint is damaged") from None
    if data is None:
        config = where_the_folder_is_now(config, dataset)
    return train_run(config, callbacks, verbose, data, resume=path, stop=stop)


__all__ = ["RunConfig", "RunResult", "parse_int_list", "resume_run", "train_run"]
