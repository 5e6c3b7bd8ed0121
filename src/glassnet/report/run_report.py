"""``report.html`` for a training run (``runs/<name>/``) and for an evaluation.

The run report is rebuilt from the run's files (``run.json``, ``history.json``,
``metrics.json``, ``model.glassnet``) and its data set: the model's predictions on the
test split (or the validation split, or the training set, whichever exists first) are
computed here, so training itself stores nothing extra for the report.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__, optimizers
from .._files import nan_for_null, write_text
from .._text import count, score_text
from ..data.fingerprint import same_training_files
from ..errors import ConfigError, DataError, GlassnetWarning, user_stacklevel
from ..io.checkpoint_file import CHECKPOINT_NAME, sessions_problem
from ..json_checks import NUMBER, is_number_or_none, type_problem
from ..run_data import model_color_mode, prepare_splits, where_the_folder_is_now
from ..run_folders import MODEL_FILE, REPORT_FILE, RUN_RECORD, holding_run_folder, search_files_in
from ..run_setup import REDUCE_LR_FACTOR
from ..runs import RunConfig
from .curves import plot_training_curves
from .evaluation import Evaluation, evaluate_model
from .html import (
    esc,
    evaluation_sections,
    figure_html,
    key_value_table,
    metrics_table_html,
    model_summary_html,
    page,
    section,
)
from .sessions import resumed_text
from .text import batch_size_text, lr_reductions_text

RUN_FILES = (RUN_RECORD, "history.json", "metrics.json")


def _search_of_trial(folder: Path) -> Path | None:
    """The search folder ``S`` when ``folder`` is one of its trials' runs, ``S/trials/NNNN``
    or ``S/trials/NNNN/fold-K``; else ``None``."""
    trial = folder.resolve()
    if trial.name.startswith("fold-"):
        trial = trial.parent
    search = trial.parent.parent
    if trial.parent.name == "trials" and trial.name.isdigit() and search_files_in(search):
        return search
    return None


def _what_else(folder: Path) -> str:
    """What to give instead of ``folder``, which holds no run: a search's folder and a trial
    trained on folds hold runs one level down."""
    if (folder / CHECKPOINT_NAME).is_file() and (folder / MODEL_FILE).is_file():
        # a finished run keeps its checkpoint: its run.json alone is gone
        return (f"its {RUN_RECORD} is missing; resuming writes the run's files again: "
                f"glassnet train --resume {shlex.quote(str(folder))}")
    if (folder / CHECKPOINT_NAME).is_file():
        search = _search_of_trial(folder)
        if search is not None:
            # 'train --resume' would finish the trial outside the study, which never learns of it
            return (f"it is a search trial whose training was interrupted; the search trains its "
                    f"settings again when it is continued: glassnet search --resume --out "
                    f"{shlex.quote(str(search))} (with the search's --storage if it is not the "
                    f"journal file in that folder)")
        return (f"its training was interrupted and the report is written when it finishes: "
                f"glassnet train --resume {shlex.quote(str(folder))}")
    if search_files_in(folder):
        return ("it is a search's folder: its report is search_report.html, and each trial's "
                "run is in trials/NNNN/")
    folds = sorted(p.name for p in folder.glob("fold-*") if (p / RUN_RECORD).is_file())
    if folds:
        return f"it holds a trial's run on each fold: give one of {', '.join(folds)}"
    return "give the folder that 'glassnet train --out' wrote"


def read_run(run_dir: str | Path) -> dict[str, Any]:
    """``{"run", "history", "metrics"}`` from a run directory's JSON files."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError(f"{str(run_dir)!r} does not exist; give the folder that "
                          "'glassnet train --out' wrote")
    if run_dir.is_file():  # runs/x/model.glassnet, say: its folder is the run
        raise ConfigError(f"{str(run_dir)!r} is a file; give the run directory that 'glassnet "
                          f"train --out' wrote (it holds {RUN_RECORD}), e.g. {str(run_dir.parent)!r}")
    if not (run_dir / RUN_RECORD).is_file():
        raise ConfigError(f"{str(run_dir)!r} is not a run directory: it has no run.json "
                          f"({_what_else(run_dir)})")
    files = {}
    for name in RUN_FILES:
        try:
            files[name.removesuffix(".json")] = json.loads((run_dir / name).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{run_dir / name} is missing; the run is incomplete") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{run_dir / name} is not valid JSON ({exc})") from None
    for name, content in files.items():
        if not isinstance(content, dict):
            raise ConfigError(f"{run_dir / (name + '.json')} must hold a JSON object, "
                              f"not {type(content).__name__}; the run files are damaged")
    if not isinstance(files["run"].get("config"), dict):
        raise ConfigError(f"{run_dir / 'run.json'} has no 'config' object; the run files are damaged")
    # absent from a run.json written before they were recorded (nothing to say of a resume then)
    problem = sessions_problem(files["run"]["sessions"]) if "sessions" in files["run"] else None
    if problem:
        raise ConfigError(f"{run_dir / 'run.json'}: its training sessions are damaged ({problem})")
    problem = _numbers_problem(files["history"], files["metrics"])
    if problem:
        raise ConfigError(f"{run_dir / problem[0]}: {problem[1]}; the run files are damaged")
    # Non-finite numbers are stored as null (strict JSON); the curves and tables want NaN.
    files["history"] = {key: nan_for_null(values) for key, values in files["history"].items()}
    files["metrics"] = {key: nan_for_null(value) for key, value in files["metrics"].items()}
    return files


def _numbers_problem(history: dict[str, Any], metrics: dict[str, Any]) -> tuple[str, str] | None:
    """``(file name, what is wrong)`` for a history that is not lists of numbers, or a split's
    metrics that are not numbers (the curves and tables would fail on them), else ``None``."""
    for key, values in history.items():
        if not isinstance(values, list) or not all(map(is_number_or_none, values)):
            return "history.json", f"{key!r} must be a list of numbers"
    for split, values in metrics.items():
        if isinstance(values, dict) and not all(map(is_number_or_none, values.values())):
            return "metrics.json", f"the metrics of {split!r} must be numbers"
    problem = type_problem(metrics, {"seconds": (NUMBER, None)})
    return ("metrics.json", problem) if problem else None


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
    trial = config.get("extra", {}).get("search_trial")
    command = (f"trial {trial['number']} of the search in {trial['search']} (glassnet search)"
               if trial else config.get("extra", {}).get("command", "(Python API: glassnet.runs.train_run)"))
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
                sections, _footer())


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
        parts.append(f"stopped after epoch {stopped} ({monitor} had not improved for "
                     f"{count(patience, 'epoch')})")
    if restored is not None:
        parts.append(f"the scores are of epoch {restored}'s weights (the best {monitor}, restored)")
    return "; ".join(parts) or None


def _curves_html(history: dict[str, Any], metrics: dict[str, Any] | None = None) -> str:
    if not history.get("loss"):
        return "<p>No epoch was completed, so there are no curves to draw.</p>"
    kept = (metrics or {}).get("restored_epoch")
    return figure_html(plot_training_curves(history, kept), "training curves",
                       _curves_caption(history, kept))


def _curves_caption(history: dict[str, Any], kept: int | None = None) -> str:
    lr = history.get("lr", [])
    caption = "Loss and accuracy after each epoch (training: running mean over the epoch's batches)."
    if len(set(lr)) > 1:
        caption += " Dashed: the learning rate (right axis)."
    if kept is not None:
        caption += (f" Dotted: epoch {kept}, whose weights early stopping restored: the model "
                    "and its scores are of that epoch, not the last one.")
    return caption


def _footer() -> str:
    return (f"Made by glassnet {__version__} on {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. "
            "Self-contained: every plot is embedded in this file.")


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


def evaluation_report_html(model: Any, ev: Evaluation, model_path: str | Path, dataset: str,
                           settings: Sequence[tuple[str, Any]] = (), notes: Sequence[str] = ()) -> str:
    """The HTML of an evaluation of a saved model on one split of a data set; ``settings``:
    more ``(label, value)`` rows (how the split was drawn), ``notes``: the warnings the
    evaluation gave, shown first."""
    training = model.training_summary or {}
    items = [("model file", str(model_path)), ("model", model.name),
             ("trained on", training.get("dataset")), ("evaluated on", f"{ev.name} ({dataset})"),
             *settings,
             ("images", len(ev.y_true)), ("loss", score_text(ev.loss) if ev.loss is not None else None),
             ("accuracy", f"{ev.report['accuracy']:.4f}")]
    warned = "".join(f"<p>{esc(note)}</p>" for note in notes)
    sections = [*([section("Warning", warned, "warning")] if notes else []),
                section("Evaluation", key_value_table(items), "evaluation"),
                section(f'Model "{model.name}"', model_summary_html(model), "model"),
                *evaluation_sections(ev)]
    return page(f"glassnet evaluation of {Path(model_path).name}",
                f"{ev.name}: accuracy {ev.report['accuracy']:.4f}", sections, _footer())


def write_evaluation_report(path: str | Path, model: Any, ev: Evaluation, model_path: str | Path,
                            dataset: str, settings: Sequence[tuple[str, Any]] = (),
                            notes: Sequence[str] = ()) -> Path:
    """Write an evaluation report (:func:`evaluation_report_html`) to ``path`` (atomically)
    and return the path."""
    path = Path(path)
    write_text(path, evaluation_report_html(model, ev, model_path, dataset, settings, notes))
    return path
