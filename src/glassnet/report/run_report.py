"""``report.html`` for a training run (``runs/<name>/``).

The run report is rebuilt from the run's files (``run.json``, ``history.json``,
``metrics.json``, ``model.glassnet``, read by :mod:`glassnet.report.run_files`) and its data
set: the model's predictions on the test split (or the validation split, or the training set,
whichever exists first) are computed here, so training itself stores nothing extra for the
report. A saved model's evaluation report is :mod:`glassnet.report.evaluation_report`.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from pathlib import Path
from typing import Any

from .. import optimizers
from .._files import write_text
from .._text import count
from ..data.fingerprint import same_training_files
from ..errors import DataError, GlassnetWarning, user_stacklevel
from ..run_data import model_color_mode, prepare_splits, where_the_folder_is_now
from ..run_folders import MODEL_FILE, REPORT_FILE, holding_run_folder
from ..run_setup import REDUCE_LR_FACTOR
from ..runs import RunConfig
from ..training.callbacks import epochs_waited
from .curves import plot_training_curves
from .evaluation import Evaluation, evaluate_model
from .html import (
    esc,
    evaluation_sections,
    figure_html,
    footer,
    key_value_table,
    metrics_table_html,
    model_summary_html,
    page,
    section,
)
from .run_files import read_run
from .sessions import resumed_text
from .text import batch_size_text, class_weight_text, lr_reductions_text

TRAINING_IMAGES_NOTE = (
    "<p>The run held no images out (no test split, no validation split), so the sections "
    "below score the model on the images it was trained on: they say how well it fits "
    "them, not how it does on new images. <code>--test-split</code> holds some out.</p>")


def _evaluated_split(splits: dict[str, Any]) -> str:
    return next(name for name in ("test", "validation", "train") if splits.get(name) is not None)


def _hyperparameters(config: dict[str, Any], optimizer: dict[str, Any]) -> str:
    fixed = {"lr": config.get("lr"), "batch size": batch_size_text(config.get("batch_size")),
             "epochs": config.get("epochs"), "momentum": config.get("momentum"),
             # the optimizer's own value: AdamW decays by 0.01 when --weight-decay is left out
             "weight decay": optimizer.get("weight_decay", config.get("weight_decay")) or None,
             "L2 reg": config.get("reg") or None,
             "lr decay": config.get("lr_decay"), "lr schedule": config.get("lr_schedule"),
             "validation split": config.get("validation_split"), "dtype": config.get("dtype"),
             "validated on": config.get("extra", {}).get("validation")}
    skip = {"name", "lr", "weight_decay", "momentum"}
    fixed.update({k.replace("_", " "): v for k, v in optimizers.non_default_settings(optimizer).items()
                  if k not in skip})
    extra = config.get("extra", {})
    fixed.update({k.replace("_", " "): v for k, v in extra.get("model_options", {}).items()})
    fixed.update({"augment": config.get("augment"), "normalize": extra.get("normalize"),
                  "early stopping patience": extra.get("early_stopping"),
                  "reduce lr patience": extra.get("reduce_lr"),
                  "reduce lr factor": extra.get("reduce_lr_factor", REDUCE_LR_FACTOR)
                  if extra.get("reduce_lr") is not None else None})
    return ", ".join(k if v is True else f"{k} {v}" for k, v in fixed.items()
                     if v is not None and v is not False)


def _summary_items(run_dir: Path, files: dict[str, Any], model: Any,
                   splits: dict[str, Any]) -> list[tuple[str, Any]]:
    config = files["run"]["config"]
    metrics = files["metrics"]
    optimizer = (model.training_summary or {}).get("optimizer", {})
    train = splits["train"]
    sizes = ", ".join(f"{name} {len(ds)}" for name, ds in splits.items() if ds is not None)
    skipped = train.info.get("skipped") or []  # what of an image folder was not used, and why
    skipped_text = None if not skipped else (
        f"{count(len(skipped), 'file')} of the folder not used: "
        + "; ".join(f"{rel} ({reason})" for rel, reason in skipped[:10])
        + (f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""))
    model_name = config["model"] + (f" (hidden {config['hidden']})" if config.get("hidden") else "")
    extra = config.get("extra", {})
    trial, final = extra.get("search_trial"), extra.get("search_final")
    if trial:
        command = f"trial {trial['number']} of the search in {trial['search']} (glassnet search)"
    elif final:
        command = (f"glassnet search --final in {final['search']}: trial {final['trial']}'s "
                   f"configuration on all training data; trained again by {final['command']}")
    else:
        # (some older runs recorded none, started from the command line too)
        command = extra.get("command", "not recorded")
    epochs = metrics.get("epochs")
    if not isinstance(epochs, int):  # a metrics.json edited by hand: the history says
        epochs = len(files["history"].get("loss", []))
    return [
        ("command", command),
        # the command shown is the first session's: a resume on other threads rounds differently
        ("resumed", resumed_text(files["run"].get("sessions"), epochs)),
        # the search ranks a trial by its best epoch; this page shows the last one's weights
        ("search", None if not trial else "the search scores this trial at its best epoch "
                                          f"(search.json); this page shows the weights of its last epoch, "
                                          f"{epochs}"),
        ("data set", f"{config['dataset']}: images {tuple(train.image_shape)} (channels, height, "
                     f"width), classes {', '.join(train.class_names)}"),
        ("sizes", sizes),
        ("skipped", skipped_text),
        ("model", model_name),
        ("optimizer", optimizer.get("name", config.get("optimizer"))),
        ("hyperparameters", _hyperparameters(config, optimizer)),
        ("seed", config.get("seed")),
        ("training time", f"{metrics.get('seconds') or 0:.1f} s for {count(epochs, 'epoch')}"),
        ("stopped", metrics.get("stopped")),  # a non-finite loss: which weights were kept
        ("early stopping", _early_stopping_text(metrics)),
        ("lr reductions", lr_reductions_text(metrics)),
        ("class weights", class_weight_text(metrics.get("class_weight"),
                                            config.get("extra", {}).get("class_weight"))),
        ("finished", files["run"].get("finished")),
        ("glassnet version", files["run"].get("glassnet_version")),
        ("run directory", str(run_dir.resolve())),  # "." says nothing in a mailed report
    ]


def run_report_html(run_dir: str | Path, model: Any = None, splits: dict[str, Any] | None = None,
                    dataset: str | None = None) -> str:
    """The HTML of a run's report; ``model`` and ``splits`` are loaded when not given (the
    run's image folder from ``dataset`` when given: where it was moved to)."""
    from ..io.format import load_model

    run_dir = Path(run_dir)
    files = read_run(run_dir)
    if model is None:
        model = load_model(run_dir / MODEL_FILE)
    if splits is None:
        # a model of one-channel images (Python API, color_mode="grayscale") reads an image
        # folder in grayscale, as evaluate and predict do
        recorded = RunConfig.from_dict(files["run"]["config"])
        config = where_the_folder_is_now(recorded, dataset)
        splits = prepare_splits(config, color_mode=model_color_mode(model))
        # another folder must hold the run's very files; the recorded one, changed since,
        # gets the warning below (_data_changed), --dataset or not
        elsewhere = dataset is not None and Path(dataset).resolve() != Path(recorded.dataset).resolve()
        if elsewhere and same_training_files(model.training_summary or {}, splits) is False:
            raise DataError(f"{dataset} holds other files than the run's image folder did (names, "
                            "sizes or modification times differ; a copy must keep the times, as "
                            "cp -a does): a report on it would not describe the run; give the "
                            "folder the run was trained on")
    name = _evaluated_split(splits)
    ds = splits[name]
    # a folder trained whole is named by the folder alone: say which images these are
    label = ds.name if ds.name.endswith(f"/{name}") else f"{ds.name}/{name}"
    ev = evaluate_model(model, ds.x, ds.y, list(ds.class_names), label, files=ds.info.get("files"))
    split_metrics = {k: v for k, v in files["metrics"].items() if isinstance(v, dict)}
    changed = _data_changed(files, splits, name, ev, model)
    sections = [
        *([section("Warning: this report does not match the run", f"<p>{esc(changed)}</p>", "warning")]
          if changed else []),
        section("Run", key_value_table(_summary_items(run_dir, files, model, splits)), "run"),
        section("Final metrics", metrics_table_html(split_metrics), "metrics"),
        section("Training curves", _curves_html(files["history"], files["metrics"]), "curves"),
        section(f'Model "{model.name}"', model_summary_html(model), "model"),
        *([section("These are the training images", TRAINING_IMAGES_NOTE, "training-images")]
          if name == "train" else []),
        *evaluation_sections(ev),
    ]
    config = files["run"]["config"]
    return page(f"glassnet run {run_dir.resolve().name}",
                f"{config['model']} on {config['dataset']}: {name} accuracy {ev.report['accuracy']:.4f}",
                sections, footer())


def _data_changed(files: dict[str, Any], splits: dict[str, Any], name: str,
                  ev: Evaluation, model: Any) -> str | None:
    """Why the splits read now are not the ones the run was trained and scored on, or ``None``.

    ``glassnet report`` reads the data set again: an image folder that gained or lost files
    since training gives other splits (the test split may even hold training images), and
    the plots would contradict the run's final metrics without a word. The split sizes the
    run recorded, the image folder's files the model recorded (names, sizes, times: a file
    replaced by another of the same size), and the evaluated split's accuracy (more than one
    image apart: float noise can flip one) give it away."""
    recorded = files["run"].get("sizes")
    now = {k: len(ds) for k, ds in splits.items() if ds is not None}
    problems = []
    if isinstance(recorded, dict) and recorded != now:
        problems.append("its splits had " + ", ".join(f"{k} {v}" for k, v in recorded.items())
                        + " images and have " + ", ".join(f"{k} {v}" for k, v in now.items()) + " now")
    elif same_training_files(model.training_summary or {}, splits) is False:
        problems.append("its image folder's files are not those it was trained on (added, "
                        "removed or changed)")
    accuracy = (files["metrics"].get(name) or {}).get("accuracy")
    if (isinstance(accuracy, (int, float)) and math.isfinite(accuracy)
            and abs(ev.report["accuracy"] - accuracy) * max(len(ev.y_true), 1) > 1.0 + 1e-9):
        problems.append(f"{ev.name} gives accuracy {ev.report['accuracy']:.4f} now, but "
                        f"{accuracy:.4f} when the run finished")
    if not problems:
        return None
    message = (f"{'; '.join(problems)}: {files['run']['config']['dataset']} (or the model file) has "
               "changed since training, so the report's confusion matrix, per-class scores and "
               "images are of other images than its final metrics (an image folder's splits are "
               "drawn again from its files)")
    warnings.warn(message, GlassnetWarning, stacklevel=user_stacklevel())
    return message


def _early_stopping_text(metrics: dict[str, Any]) -> str | None:
    """Which weights the scores are of when early stopping ended the run or restored weights."""
    monitor, patience = metrics.get("early_stopping_monitor"), metrics.get("early_stopping_patience")
    stopped, restored = metrics.get("early_stopped_after"), metrics.get("restored_epoch")
    parts = []
    if stopped is not None:
        waited = epochs_waited(patience) if isinstance(patience, int) else patience  # 0: it stopped at 1
        parts.append(f"stopped after epoch {stopped} ({monitor} had not improved for "
                     f"{count(waited, 'epoch')})")
    if restored is not None:
        parts.append(f"the scores are of epoch {restored}'s weights (the best {monitor}, restored)")
    return "; ".join(parts) or None


def _curves_html(history: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    if not history.get("loss"):
        return "<p>No epoch was completed, so there are no curves to draw.</p>"
    kept = (metrics or {}).get("restored_epoch")
    weighted = (metrics or {}).get("class_weight") is not None
    return figure_html(plot_training_curves(history, kept, weighted), "training curves",
                       _curves_caption(history, kept, weighted))


def _curves_caption(history: dict[str, Any], kept: int | None = None, weighted: bool = False) -> str:
    lr = history.get("lr", [])
    caption = "Loss and accuracy after each epoch (training: running mean over the epoch's batches)."
    if len(set(lr)) > 1:
        caption += " Dashed: the learning rate (right axis)."
    if kept is not None:
        caption += (f" Dotted: epoch {kept}, whose weights early stopping restored: the model "
                    "and its scores are of that epoch, not the last one.")
    if weighted:  # the two loss curves are then not on the same scale
        caption += (" The training loss is weighted by the class weights; the validation loss "
                    "is not (nor is any score), so the two curves are not directly comparable.")
    return caption



def write_run_report(run_dir: str | Path, model: Any = None,
                     splits: dict[str, Any] | None = None, dataset: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` (atomically) and return its path; ``dataset``: where
    the run's image folder is now, if it moved.

    The run folder is held while the report is made (:func:`~glassnet.run_folders.holding_run_folder`):
    a folder being trained into is refused, and a run cannot start into it meanwhile (an
    ``--overwrite`` would get the old run's report beside its own files). The run writing
    its own report holds it already."""
    run_dir = Path(run_dir)
    busy_advice = " (a run writes its report when it finishes)"
    # a path that is not a folder gets read_run's error
    with holding_run_folder(run_dir, busy_advice) if run_dir.is_dir() else contextlib.nullcontext():
        path = run_dir / REPORT_FILE
        write_text(path, run_report_html(run_dir, model, splits, dataset))
    return path
