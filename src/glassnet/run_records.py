"""What a run records of itself: its files written when it ends (the model,
``history.json``, ``metrics.json`` and, last, ``run.json``), what its metrics and model
file say of its early stopping and lr reductions, and the training data and configuration
its model file and checkpoints keep.

:mod:`glassnet.runs` writes these as a run finishes (and into its checkpoints); the file
names are :mod:`glassnet.run_folders`'s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, backend
from ._files import write_json
from .data import is_folder
from .data import locator as data_locator
from .model import Sequential
from .run_folders import MODEL_FILE, RUN_RECORD
from .training.early_stopping import EarlyStopping
from .training.reduce_lr import ReduceLROnPlateau

if TYPE_CHECKING:
    from .runs import RunConfig


def write_run(out_dir: Path, model: Sequential, config: RunConfig, metrics: dict[str, Any],
              sizes: dict[str, int] | None = None, sessions: list[dict[str, Any]] | None = None) -> None:
    """Write model, history, metrics and configuration (each file atomically, the
    configuration last: it marks the run finished, see
    :data:`~glassnet.run_folders.RUN_RECORD`); ``sizes`` (images per split) lets ``glassnet
    report`` notice a data set that changed since, and ``sessions``
    (:func:`~glassnet.io.checkpoint.sessions_of`) lets its report say that the run was
    resumed, and where it then rounded differently from an unbroken run."""
    model.save(out_dir / MODEL_FILE)
    write_json(out_dir / "history.json", model.history.to_dict())
    write_json(out_dir / "metrics.json", metrics)
    # threads: a batch split over another number of threads rounds differently (training/shards.py)
    write_json(out_dir / RUN_RECORD, {"glassnet_version": __version__, "config": saved_config(config),
                                      "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                      "threads": backend.get_threads(),
                                      **({"sizes": sizes} if sizes else {}),
                                      **({"sessions": sessions} if sessions else {})})


#: what a run's record names as its command when Python code started it
PYTHON_API_COMMAND = "(Python API: glassnet.runs.train_run)"


def saved_config(config: RunConfig) -> dict[str, Any]:
    """The JSON-able run configuration (functions in ``extra``, named ``*_fn``, left out),
    with the command that started it: ``glassnet train``'s, or :data:`PYTHON_API_COMMAND`
    (a search's trials and final runs are named by their search instead)."""
    run_config = config.to_dict()
    run_config["dataset"] = data_locator(config.dataset)  # so that `glassnet report` works anywhere
    extra = {k: v for k, v in config.extra.items() if not k.endswith("_fn")}
    if not {"command", "search_trial", "search_final"} & set(extra):
        extra["command"] = PYTHON_API_COMMAND
    run_config["extra"] = extra
    return run_config


def training_data_record(config: RunConfig,
                         fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a model file records of its training data: the data set's name, ``--seed`` and
    ``--validation-split``, and for an image folder its absolute path, how images were
    fitted and ``--test-split``: predict and evaluate fit new images the same way, evaluate
    finds the test images the model never saw (and can tell when the ones it is given are
    not those), and the run's validation images apart from its training images. An image
    folder's ``fingerprint`` (its files' signature) tells ``evaluate`` when the folder has
    changed since, so that its test split is no longer the one the model never saw."""
    record: dict[str, Any] = {"dataset": config.dataset, "seed": config.seed}
    if is_folder(config.dataset):
        record.update(resize=config.resize, folder=str(Path(config.dataset).resolve()),
                      test_split=config.test_split)
        if fingerprint is not None:
            record["folder_signature"] = fingerprint["signature"]
            if "of" in fingerprint:  # the images read (data.folder); before 2026-12-06 every file
                record["folder_signature_of"] = fingerprint["of"]
    if config.validation_split is not None:  # evaluate can tell its images from the training ones
        record["validation_split"] = config.validation_split
    if "holdout" in config.extra:  # a search trial's validation images, carved as the search did
        record["holdout"] = dict(config.extra["holdout"])
    return record


def early_stopping_summary(stopper: EarlyStopping) -> dict[str, Any]:
    """What a model file records of the run's early stopping (``glassnet info`` shows it):
    ``monitor`` and ``patience``, and, when it acted, ``stopped_after`` (the last epoch
    trained) and ``restored_epoch`` (whose weights the model holds), epochs counted from 1."""
    record = early_stopping_record(stopper)
    return {"monitor": stopper.tracker.monitor, "patience": stopper.patience,
            **{key: record[name] for key, name in (("stopped_after", "early_stopped_after"),
                                                   ("restored_epoch", "restored_epoch")) if name in record}}


def early_stopping_record(stopper: EarlyStopping | None) -> dict[str, Any]:
    """What ``metrics.json`` records of an early stop (epochs counted from 1), so that the
    report can say which weights its scores are of: ``early_stopped_after`` (the last epoch
    trained), ``restored_epoch`` (the best one, whose weights were put back), ``monitor``
    and ``patience``; nothing when the run did not stop early or restore."""
    if stopper is None or (stopper.stopped_epoch is None and stopper.restored_epoch is None):
        return {}
    record: dict[str, Any] = {"early_stopping_monitor": stopper.tracker.monitor,
                              "early_stopping_patience": stopper.patience}
    if stopper.stopped_epoch is not None:
        record["early_stopped_after"] = stopper.stopped_epoch + 1
    if stopper.restored_epoch is not None:
        record["restored_epoch"] = stopper.restored_epoch + 1
    return record


def reduce_lr_record(reducer: ReduceLROnPlateau | None, lr: float) -> dict[str, Any]:
    """What ``metrics.json`` (and the model's training summary) record of ``--reduce-lr``: its
    monitor, patience and factor, ``lr_reduced_after`` (the epochs, from 1, after which it
    lowered the lr) and ``final_lr`` (``lr``, the optimizer's at the end); nothing without it
    (see :func:`~glassnet.report.text.lr_reductions_text`)."""
    if reducer is None:
        return {}
    return {"reduce_lr_monitor": reducer.tracker.monitor, "reduce_lr_patience": reducer.patience,
            "reduce_lr_factor": reducer.factor,
            "lr_reduced_after": [epoch + 1 for epoch, _, _ in reducer.reductions], "final_lr": lr}
