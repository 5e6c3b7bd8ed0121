"""``glassnet evaluate``: loss, accuracy, per-class scores and confusion matrix of a saved model."""

from __future__ import annotations

import argparse
import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .._text import printable, score_text
from ..data import LOADERS, is_folder
from ..data import load as load_dataset
from ..data.fingerprint import same_training_files
from ..errors import ConfigError, GlassnetWarning, ShapeError, user_stacklevel
from ..report.evaluation import evaluate_model
from ..report.text import classification_table, confusion_table
from ..run_data import check_compatible, holdout_split, model_color_mode
from ..run_folders import REPORT_FILE, RUN_RECORD, SEARCH_REPORT, search_files_in
from .arguments import (
    MODEL_HELP,
    Subcommands,
    add_folder_options,
    add_test_split_option,
    check_folder_options,
    model_file,
    path_text,
    seed_int,
)
from .common import load_model_file, model_resize, no_class_text, require_probabilities
from .output import check_output_file, print_json
from .runtime import add_runtime_options

if TYPE_CHECKING:
    from ..model import Sequential


def add_parser(sub: Subcommands) -> None:
    """Add the ``evaluate`` command's parser to ``sub``."""
    p = sub.add_parser(
        "evaluate", help="evaluate a saved model on a data set",
        description="Evaluate a .glassnet model on one split of a data set: loss, accuracy, "
                    "per-class precision/recall/F1 with macro averages, and the confusion "
                    "matrix (rows = true class, columns = predicted).")
    p.add_argument("model", type=model_file, help=MODEL_HELP)
    p.add_argument("--dataset", type=path_text, default=None,
                   help="data set name, or the path of an image folder (one subfolder per class); "
                        "default: the one the model was trained on, as its file records it (an "
                        "image folder with its --test-split and --seed: the images it never "
                        "saw), else cats")
    p.add_argument("--split", default=None,
                   help="which split: train or test, or validation when the model's run held "
                        "one out (--validation-split, or a search trial's split or fold; train "
                        "is then the images it trained on) "
                        "(default: test; an image folder without --test-split has no splits: it "
                        "is evaluated whole)")
    # no --image-size: a model takes only the size it was trained at (its input shape)
    add_folder_options(p, image_size=False, for_model=True)
    add_test_split_option(p, note=": the same FRACTION and --seed as 'glassnet train' "
                                  "give the same test images")
    p.add_argument("--seed", type=seed_int, default=None,
                   help="seed of --test-split (the training run's --seed; default: the one the "
                        "model file records for its folder, else 0)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--report", type=path_text, default=None, metavar="HTML",
                   help="also write a self-contained HTML report (plots, misclassified images) "
                        "to this .html file (not the training run's own report.html)")
    add_runtime_options(p)
    p.set_defaults(run=run)


def fill_in_the_training_data(model: Sequential, args: argparse.Namespace) -> None:
    """``--dataset``, ``--test-split`` and ``--seed`` left out: those of the model's training
    run, as its file records them (a model saved from Python records none: the cat set)."""
    summary = model.training_summary or {}
    if args.dataset is None:
        if "folder" in summary:
            args.dataset = summary["folder"]
            if not Path(args.dataset).is_dir():
                raise ConfigError(f"{args.model} was trained on the image folder {args.dataset}, "
                                  "which is no longer there: give its new place with --dataset "
                                  "(and the training run's --test-split and --seed)")
            if args.test_split is None:
                args.test_split = summary.get("test_split")
            if args.seed is None:
                args.seed = summary.get("seed", 0)
        else:
            recorded = summary.get("dataset")
            args.dataset = recorded if recorded in LOADERS else "cats"
            args.dataset_assumed = recorded not in LOADERS  # (said if it does not fit)
        check_folder_options(args)  # e.g. --resize for a model trained on a named set
    if args.seed is None:  # its own folder named again: the seed it was split with, as the help says
        args.seed = summary.get("seed", 0) if _is_the_models_folder(args, summary) else 0
    args.validation_held_out = None
    holdout = summary.get("holdout") or ({"validation_split": summary["validation_split"]}
                                         if "validation_split" in summary else None)
    if isinstance(holdout, dict) and _is_the_training_data(args, summary):
        args.validation_held_out = (holdout, summary.get("seed", 0))


def _is_the_models_folder(args: argparse.Namespace, summary: dict) -> bool:
    """Whether ``--dataset`` is the image folder the model file records it was trained on."""
    return is_folder(args.dataset) and summary.get("folder") == str(Path(args.dataset).resolve())


def _is_the_training_data(args: argparse.Namespace, summary: dict) -> bool:
    """Whether ``--dataset`` (with ``--test-split``/``--seed``) is the data the model was
    trained on, read the same way: then its training split holds the run's validation images."""
    if is_folder(args.dataset):
        return (_is_the_models_folder(args, summary)
                and (args.test_split, args.seed) == (summary.get("test_split"), summary.get("seed", 0)))
    return args.dataset == summary.get("dataset")


def hold_out_validation(splits: dict, held_out: tuple[dict, int] | None) -> dict:
    """The run's own training and validation images (``--validation-split``, or a search
    trial's fold or split, held out of the training split, seeded as the run did) instead
    of the training split as a whole."""
    if held_out is None or "train" not in splits:
        return splits
    train, validation = holdout_split(splits["train"], *held_out)
    return {**splits, "train": train, "validation": validation}


def warn_if_training_images(model: Sequential, args: argparse.Namespace, moved: bool = False) -> None:
    """A warning when the images evaluated as unseen include the model's training images:
    its own training folder, whole, or split with another --test-split/--seed than it was.
    ``moved``: ``--dataset`` holds the very files of the training folder, found elsewhere."""
    summary = model.training_summary or {}
    if not (moved or _is_the_models_folder(args, summary)):
        return
    if (args.split or "test") != "test" or "test_split" not in summary:
        return
    trained = (summary["test_split"], summary.get("seed", 0))
    folder = (f"this folder (the same files as its training folder {summary['folder']})"
              if moved else "this folder")
    if trained[0] is None:
        problem = f"was trained on every image of {folder}: these scores are on its training images"
    elif args.test_split is None:
        problem = (f"was trained on {folder} with --test-split {trained[0]:g} --seed {trained[1]}: "
                   "the whole folder includes its training images; add those two options to "
                   "score only the test images it never saw")
    elif (args.test_split, args.seed) != trained:
        problem = (f"was trained on {folder} with --test-split {trained[0]:g} --seed {trained[1]}: "
                   f"the test split of --test-split {args.test_split:g} --seed {args.seed} holds "
                   "images it was trained on; give the training run's values")
    else:
        return
    warnings.warn(f"{args.model} {problem}", GlassnetWarning, stacklevel=user_stacklevel())


def warn_if_the_training_folder_moved_here(model: Sequential, args: argparse.Namespace, splits: dict) -> None:
    """:func:`warn_if_training_images` for a ``--dataset`` at another path that holds the very
    files the model was trained on (names, sizes, modification times: the folder moved
    there, or a copy that kept the times, as ``cp -a`` does; other copies are not recognized)."""
    summary = model.training_summary or {}
    if not _is_the_models_folder(args, summary) and same_training_files(summary, splits):
        warn_if_training_images(model, args, moved=True)


def warn_if_the_folder_changed(model: Sequential, args: argparse.Namespace, splits: dict) -> None:
    """A warning when the model's own folder has other files than when it was trained: its
    test split is drawn from the files it has now, so the "test" images may include some the
    model was trained on (one file added to a class reshuffles that class's split)."""
    summary = model.training_summary or {}
    if _is_the_models_folder(args, summary) and same_training_files(summary, splits) is False:
        warnings.warn(f"{args.dataset} has changed since {args.model} was trained on it (files "
                      "added, removed, changed, or readable then and not now, or the other way "
                      "round): its splits are drawn again from the files it "
                      "has now, so the images scored as unseen may include training images",
                      GlassnetWarning, stacklevel=user_stacklevel())


def check_not_the_runs_report(report: str | None, model: str) -> None:
    """``--report`` must not replace a training run's own report, this model's or another's
    (its curves and history would be lost to an evaluation's page)."""
    if report is None:
        return
    path = Path(report).resolve()
    if path.name == REPORT_FILE and (path.parent / RUN_RECORD).is_file():
        own = path.parent == Path(model).resolve().parent
        whose = "the training run's own" if own else "a training run's"
        raise ConfigError(f"--report {report} is {whose} report; writing there would replace "
                          "it: give another path")
    if path.name == SEARCH_REPORT and search_files_in(path.parent):
        raise ConfigError(f"--report {report} is a search's report; writing there would replace "
                          "it: give another path")


@contextlib.contextmanager
def noting_warnings(notes: list[str]) -> Iterator[None]:
    """Also keep the text of each glassnet warning shown inside in ``notes``: the report page
    of an evaluation, which is mailed and archived, must say what the terminal said (that its
    "test" images include training images, ...)."""
    show = warnings.showwarning

    def note(message, category, *args, **kwargs) -> None:
        if issubclass(category, GlassnetWarning) and printable(str(message)) not in notes:
            notes.append(printable(str(message)))
        show(message, category, *args, **kwargs)

    warnings.showwarning = note
    try:
        yield
    finally:
        warnings.showwarning = show


def _split_text(args: argparse.Namespace) -> str:
    """Which images were evaluated, as the options that choose them: the test split of an
    image folder, and the validation images a run held out of its training split."""
    options = []
    if args.test_split is not None and args.split != "all":
        options.append(f"--test-split {args.test_split:g}")
    held_out = args.validation_held_out if args.split in ("train", "validation") else None
    if held_out is not None:
        holdout = held_out[0]
        options.append(f"--validation-split {float(holdout['validation_split']):g}"
                       if "validation_split" in holdout
                       else f"fold {holdout['fold']} of --folds {holdout['folds']}")
    seed = held_out[1] if held_out is not None else args.seed or 0
    return f"{args.split} ({' '.join(options)} --seed {seed})" if options else args.split


def run(args: argparse.Namespace) -> int:
    """``glassnet evaluate``: score the model on the chosen split and print (or ``--json``)
    the results, with ``--report`` also as an HTML page; returns the exit code."""
    check_output_file(args.report, "--report", args.model, suffixes=(".html", ".htm"))
    check_not_the_runs_report(args.report, args.model)
    notes: list[str] = []
    with noting_warnings(notes):
        return _evaluate(args, notes)


def _evaluate(args: argparse.Namespace, notes: list[str]) -> int:
    model = load_model_file(args.model)
    require_probabilities(model, args.model)
    seed_given = args.seed is not None
    fill_in_the_training_data(model, args)
    if seed_given and args.dataset in LOADERS:  # it would be ignored without a word
        raise ConfigError(f"--seed chooses the images of an image folder's --test-split; the data "
                          f"set {args.dataset!r} has a test split of its own: drop --seed")
    size = None  # an image folder is read at the model's own size
    if is_folder(args.dataset) and len(model.input_shape) == 3:
        size = tuple(model.input_shape[1:])
    # --split train/validation of the run's own data: its training and validation images
    if args.split not in (None, "train", "test", "validation"):  # before any data is read
        available = ["test", "train", *(["validation"] if args.validation_held_out else [])]
        raise ConfigError(f"--split {args.split!r}: choose one of {', '.join(available)}")
    held_out = args.validation_held_out if args.split in ("train", "validation") else None
    whole_folder = is_folder(args.dataset) and args.test_split is None and held_out is None
    if whole_folder and args.split is not None:  # said before the folder is read
        raise ConfigError(f"--split {args.split}: the image folder {args.dataset!r} has no splits "
                          "of its own; add --test-split FRACTION (and the training run's --seed) "
                          "to evaluate its train or test part, or drop --split to evaluate every image")
    if args.split == "validation" and not args.validation_held_out:  # said before the data's splits
        raise ConfigError(f"--split validation: {args.model} records no validation images held out of "
                          f"{args.dataset!r} (its run had no --validation-split, or it was trained on "
                          "other data); choose --split train or test")
    warn_if_training_images(model, args)  # (after the error: a warning about no evaluation)
    # A named set reads only the split evaluated (its other files need not be there).
    only = ("train" if held_out else args.split or "test",) if args.dataset in LOADERS else None
    resize = model_resize(args, model, "evaluate", reads_images=is_folder(args.dataset))
    splits = load_dataset(args.dataset, splits=only, image_size=size, resize=resize,
                          color_mode=model_color_mode(model), strict=args.strict,
                          test_split=args.test_split, seed=args.seed,
                          min_classes=1)  # a folder of one of the model's classes is fine
    splits = hold_out_validation(splits, held_out)
    warn_if_the_training_folder_moved_here(model, args, splits)  # (before --split defaults)
    args.split = args.split or ("test" if "test" in splits else "train")
    if args.split not in splits:
        raise ConfigError(f"data set {args.dataset!r} has no split {args.split!r}; "
                          f"it has {sorted(splits)}")
    warn_if_the_folder_changed(model, args, splits)
    try:
        dataset = check_compatible(model, splits[args.split])
    except ShapeError as exc:
        if not getattr(args, "dataset_assumed", False):
            raise
        raise ShapeError(f"{exc}; {args.model} records no data set it was trained on (a model "
                         "saved from Python), so the cat set was used: give --dataset") from None
    if whole_folder:
        # named as a split of it is ("photos/test"): the folder's name, then which images
        args.split, dataset.name = "all", f"{dataset.name}/all"
    ev = evaluate_model(model, dataset.x, dataset.y, list(dataset.class_names), dataset.name,
                        files=dataset.info.get("files"))
    unanswered = int((~np.isfinite(ev.probs)).any(axis=1).sum())
    if unanswered:  # NaN outputs would be scored as answers of class 0
        raise ConfigError(no_class_text(unanswered))
    if args.report:
        from ..report.evaluation_report import write_evaluation_report

        write_evaluation_report(args.report, model, ev, args.model, args.dataset,
                                settings=[("split", _split_text(args))], notes=notes)
    if args.json:
        print_json({"dataset": args.dataset, "split": args.split, "samples": len(dataset),
                    **ev.results()})
        return 0
    report = ev.report
    # (a model saved without compile has no loss; its accuracy is still its own answers')
    loss = f"loss {score_text(ev.loss)}, " if ev.loss is not None else "loss n/a (the model has none), "
    print(f"{printable(dataset.name)} ({len(dataset)} images): {loss}accuracy {report['accuracy']:.4f}\n")
    print(classification_table(report) + "\n")
    print(confusion_table(report["confusion_matrix"], report["class_names"]))
    if args.report:
        print(f"\nreport: {args.report}")
    return 0
