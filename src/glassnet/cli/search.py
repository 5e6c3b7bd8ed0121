"""``glassnet search``: hyperparameter search on Optuna, one or many workers.

This module is the subcommand itself: its parser, and :func:`run`, which opens the search
(new, joined or resumed: a resumed one checked against the options given) and says how to
continue it after a Ctrl-C. Its siblings: :mod:`~glassnet.cli.search_setup` (the search the
options ask for, the ``--storage`` URL), :mod:`~glassnet.cli.search_workers` (the processes of
``--workers``) and :mod:`~glassnet.cli.search_output` (the trials run, the live table, the
results and ``--final``).
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .. import zoo
from ..data import LOADERS, locator
from ..errors import ConfigError, SkippedFileWarning
from ..run_folders import default_folder_name, made_folder
from ..search_config import (
    OBJECTIVES,
    STORED_SETTINGS,
    SearchConfig,
    resolved,
    setting,
    setting_difference,
)
from ..search_space import NARROW_MIN
from .arguments import (
    CLASS_WEIGHT_HELP,
    DATASET_HELP,
    Subcommands,
    add_folder_options,
    add_test_split_option,
    batch_size,
    fold_count,
    folder_name,
    folder_options_error,
    fraction,
    given_destinations,
    hidden_sizes,
    name_text,
    path_text,
    positive_int,
    seed_int,
)
from .output import check_output_folder
from .runtime import add_runtime_options
from .search_output import run_search
from .search_setup import config_from_args, storage_url
from .search_workers import search_runtime_flags

if TYPE_CHECKING:
    from ..search import Search


def add_parser(sub: Subcommands) -> None:
    """Add the ``search`` command's parser to ``sub``."""
    p = sub.add_parser(
        "search", help="search hyperparameters (Optuna; needs glassnet[search])",
        description="Search hyperparameters: each trial trains on the training split and is "
                    "scored on validation data carved from it, one held-out split or each of "
                    "--folds K folds in turn (the test split is never read, except by --final), "
                    "at its best epoch. Hopeless trials are pruned early. Run the same command "
                    "in several processes or machines to share one study.")
    p.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="a searched parameter: lr=log:1e-5:1e-1, dropout=float:0:0.5, "
                        "batch_size=int:16:128, hidden=choice:50,100,20-7-5 (a dash joins the "
                        "sizes of one choice) (repeatable)")
    p.add_argument("--space", type=path_text, default=None, metavar="FILE",
                   help="TOML file with a [params] table (name = \"log:1e-5:1e-1\" per line)")
    p.add_argument("--trials", type=positive_int, default=None,
                   help="trials in the whole study (all workers together) (default: 30)")
    p.add_argument("--epochs-per-trial", type=positive_int, default=10,
                   help="epochs each trial trains (on each fold); a trial is scored at its best "
                        "epoch, and --final trains that many")
    p.add_argument("--sampler", choices=["tpe", "random"], default=None,
                   help="Optuna sampler (default: tpe; random for --strategy narrow)")
    p.add_argument("--strategy", choices=["plain", "narrow"], default="plain",
                   help="plain: one sampler over all trials; narrow: random rounds, each range "
                        "shrunk to the span of the best quarter of the previous round")
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="rounds of --strategy narrow (the trials are split evenly, at least "
                        f"{NARROW_MIN} a round; a --resume with more --trials gives the rest to the "
                        "rounds still open) (default: 3)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="val_balanced_accuracy",
                   help="what ranks (and prunes) trials, measured on validation data at the "
                        "trial's best epoch: balanced accuracy (mean per-class recall; not fooled "
                        "by a class that is more common in validation than in test), accuracy, or "
                        "loss (lower is better)")
    p.add_argument("--pruner", choices=["median", "halving", "none"], default="median",
                   help="stop hopeless trials early from their objective after each epoch (with "
                        "--folds: their score so far after each fold); median judges from a quarter "
                        "of the epochs on, halving from the first")
    p.add_argument("--dataset", type=path_text, default="cats", help=DATASET_HELP)
    p.add_argument("--model", default="mlp", help=f"zoo model: {', '.join(zoo.names())}")
    p.add_argument("--hidden", type=hidden_sizes, default=None, metavar="SIZES",
                   help="mlp hidden sizes, e.g. 20,7,5 (default: 20,7,5, the course's network)")
    p.add_argument("--optimizer", default="sgd", help="optimizer when not searched")
    p.add_argument("--batch-size", type=batch_size, default=64, help="batch size when not searched")
    p.add_argument("--class-weight", default=None, metavar="WEIGHTS",
                   help=CLASS_WEIGHT_HELP + " (each trial trains with them; trials are still scored "
                        "on the unweighted validation data)")
    p.add_argument("--validation-split", type=fraction, default=None, metavar="FRACTION",
                   help="fraction of the training split held out to score trials (default: 0.2, "
                        "unless --folds)")
    p.add_argument("--folds", type=fold_count, default=None, metavar="K",
                   help="k-fold cross-validation instead of one validation split: each trial "
                        "trains K models, each on all stratified folds of the training split but "
                        "one, and is scored by the mean of their validation curves (K >= 2)")
    p.add_argument("--smooth", type=positive_int, default=1, metavar="EPOCHS",
                   help="take the best epoch of the validation curve after a centred moving "
                        "average over this many epochs, so that a curve swinging from epoch to "
                        "epoch does not win by one lucky epoch (1: no smoothing)")
    add_folder_options(p)
    add_test_split_option(p, note=": never read by the trials, only by --final")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="seed of the models, the split and the sampler")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of every trial and of the printed train command")
    p.add_argument("--name", type=folder_name, default=None,
                   help="search name: run directory runs/NAME and study name (default: the "
                        "--study-name, else <dataset>-<model>-search-<time>, with -2, -3, ... "
                        "added when another search took that folder)")
    p.add_argument("--out", type=path_text, default=None,
                   help="run directory (default: runs/NAME); it holds one search: one that records "
                        "another --study-name or --storage is refused")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="SQLAlchemy URL of a shared study database (postgresql://user:pw@host/db), "
                        "or env:VAR to read it from the environment variable VAR (a password then "
                        "stays out of ps and the shell history) (default: the journal file "
                        "runs/NAME/search.journal)")
    p.add_argument("--study-name", type=name_text, default=None,
                   help="study name in --storage (default: NAME)")
    p.add_argument("--resume", action="store_true",
                   help="continue the stored search with its space and settings (an option "
                        "that would change a stored setting is an error; --trials may change the "
                        "budget, and --workers, --final, --no-plot, --threads, --device and "
                        "--no-cache may differ; --dataset may say where a moved image folder "
                        "is now; an image folder whose files changed since the search started "
                        "is refused)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="worker processes on this machine sharing the study (at most 4 per "
                        "CPU core; not with a sqlite:// --storage, which locks under parallel "
                        "writers); without "
                        "--threads each gets an equal share of the cores, and --final, run once "
                        "they have ended, all of them, as the printed train command")
    p.add_argument("--final", action="store_true",
                   help="then train the best configuration on train+validation (all training "
                        "data) for the best trial's best epoch, and evaluate it once on the test "
                        "split")
    p.add_argument("--no-plot", action="store_true",
                   help="do not draw the scatter plot nor write search_report.html (those an "
                        "earlier run of the search wrote are updated, so that they agree with "
                        "search.json)")
    add_runtime_options(p, split="each batch of a trial")
    p.add_argument("--quiet-summary", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def _check_resumed(args: argparse.Namespace, stored: SearchConfig) -> None:
    """``--resume`` continues the stored search: an option of :data:`STORED_SETTINGS` given
    with another value than the stored one is an error that names both (not given: stored;
    a default is the value it stands for, see :func:`~glassnet.search_config.resolved`).
    ``--no-cache`` (not stored) for a search of a named data set is refused as for a new one:
    its workers and its printed ``train`` command would carry it."""
    if args.resume and args.no_cache and stored.base.dataset in LOADERS:
        # check_folder_options leaves a resumed search alone: its data set is the stored one
        raise folder_options_error(["--no-cache"], stored.base.dataset, "the stored search's")
    given_dests = given_destinations(args, "search", add_parser, STORED_SETTINGS) if args.resume else []
    if not given_dests:
        return
    given = config_from_args(args)
    differences = []
    for dest in given_dests:
        path = STORED_SETTINGS[dest]
        if path == "rounds" and stored.strategy != "narrow":
            if given.rounds != 1:  # what a new plain search says, not "stored 1"
                differences.append(f"--rounds {given.rounds}: the stored search's strategy is "
                                   f"{stored.strategy}, of one round, and --rounds needs --strategy narrow")
            continue
        # compared as the values they stand for: --hidden 20,7,5 is mlp's default hidden sizes
        old, new = setting(resolved(stored), path), setting(resolved(given), path)
        if path == "base.dataset":  # one folder, however it is written (photos, ./photos, /abs)
            old, new = locator(old), locator(new)
        if old != new:
            differences.append(setting_difference(path, old, new))
    if differences:
        raise ConfigError(f"--resume continues the stored search with its own settings, and these "
                          f"options differ from them ({'; '.join(differences)}); leave them out to "
                          "use the stored values, or start a new search under another --name")


def run(args: argparse.Namespace) -> int:
    """``glassnet search``: open the search (new, joined or resumed) and run its trials, in
    ``--workers`` processes; returns the exit code (130 after a Ctrl-C)."""
    if not args.quiet_summary:
        return _search(args)
    # A worker process (--workers): its parent has shown the image folder's skipped files
    # already; the same warnings from every worker would break into the live table. With
    # --strict they are still errors (the listing turns them into errors inside).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedFileWarning)
        return _search(args)


#: worker processes per CPU core that --workers may start on one machine
WORKERS_PER_CORE = 4


def _check_worker_count(workers: int) -> None:
    """A typo (``--workers 1000``) would start that many processes, each with the data set in
    memory, on cores they could only share: more than :data:`WORKERS_PER_CORE` per core is
    refused (more machines join a study with ``--storage``)."""
    from .. import backend

    cores = backend.available_cores()
    if workers > WORKERS_PER_CORE * cores:
        raise ConfigError(f"--workers {workers} is more than {WORKERS_PER_CORE} per CPU core "
                          f"({cores} here): they would only wait for each other, each holding "
                          f"the data in memory. To use more machines, start the same search on "
                          f"each with a shared --storage")


def _check_folder_name(name: str, option: str) -> None:
    """``name`` as the run folder ``runs/NAME``, or the error :func:`folder_name` gives."""
    try:
        folder_name(name)
    except argparse.ArgumentTypeError:
        raise ConfigError(f"{option} {name!r} cannot be the run folder's name as well (runs/NAME: "
                          f"no '/', not '.' or '..'): give --name or --out too") from None


def _search(args: argparse.Namespace) -> int:
    from ..search import Search
    from ..search_storage import check_workers

    storage_given = args.storage  # as typed: env:VAR keeps a password out of the printed command
    args.storage = storage_url(args.storage)
    check_workers(args.storage, args.workers)
    _check_worker_count(args.workers)
    if args.resume and not (args.name or args.out or args.study_name):
        raise ConfigError("--resume continues a stored search: give its --name (or --out, or "
                          "--study-name with --storage)")
    if args.resume and (args.param or args.space):
        raise ConfigError("--resume continues the stored search space; leave out --param and --space")
    # A study joined by name (--study-name) gets the same local run folder on every machine.
    named = bool(args.name or args.study_name or args.out)
    name = args.name or args.study_name or default_folder_name(args.dataset, args.model, "search")
    if not args.out and not args.name and args.study_name:  # it names the run folder too
        _check_folder_name(args.study_name, "--study-name")
    run_dir = check_output_folder(args.out or Path("runs") / name, "--out")
    config = None if args.resume else config_from_args(args)
    # on --resume, --dataset may say where the search's image folder is now (it moved)
    dataset_given = args.resume and given_destinations(args, "search", add_parser, ["dataset"])
    # A default folder is claimed (mkdir: -2, -3, ... when taken), so that two searches started
    # in the same second never share one; the study is named after the folder claimed. It is
    # removed again when the search cannot start.
    with contextlib.nullcontext(run_dir) if named else made_folder(run_dir, claim=True) as run_dir:
        search = Search.open(config, run_dir, storage=args.storage,
                             study_name=args.study_name or (args.name or run_dir.name),
                             resume=args.resume, trials=args.trials,
                             check_stored=partial(_check_resumed, args),
                             dataset=args.dataset if dataset_given else None)
    try:
        return run_search(search, args)
    except KeyboardInterrupt:
        if args.quiet_summary:  # a worker process: silent (cli.run_command), its parent says it
            raise
        print("glassnet search: interrupted", file=sys.stderr)
        command = continue_command(search, args, storage_given, args.dataset if dataset_given else None)
        hidden = (" (its password is hidden: put it back, or give the URL as --storage env:VAR)"
                  if "***" in command and storage_given and not storage_given.startswith("env:") else "")
        print(f"continue with: {command}{hidden}", file=sys.stderr)
        return 130


def continue_command(search: Search, args: argparse.Namespace, storage: str | None,
                     dataset: str | None = None) -> str:
    """The command that continues the interrupted ``search`` as this one would have gone on:
    its folder, and the options this command was given that are not stored with the search
    (``--final``, ``--workers``, ``--threads``, ...), with its ``--storage`` (``storage``: as
    typed; a URL with its password hidden), its study name where the folder's name is not it,
    and ``dataset``, where its image folder is now when the resume was told (it moved)."""
    options = ["--resume", "--out", str(search.run_dir)]
    if dataset is not None:
        options += [f"--dataset={dataset}"]
    if storage is not None:  # storage_label: the URL with its password hidden
        options += ["--storage", storage if storage.startswith("env:") else search.storage_label]
    if args.study_name or search.study.study_name != search.run_dir.name:
        options += ["--study-name", search.study.study_name]
    options += ["--final"] * args.final + ["--no-plot"] * args.no_plot
    options += ["--workers", str(args.workers)] if args.workers > 1 else []
    return shlex.join(["glassnet", "search", *options, *search_runtime_flags(args)])

