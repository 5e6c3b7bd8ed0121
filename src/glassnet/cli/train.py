"""``glassnet train``: train a zoo model on a data set and write the run's files."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from .. import initializers, schedules, zoo
from .._text import count
from ..errors import ConfigError, SaveError, TrainingInterruptedError
from ..io.checkpoint import StopRequest
from ..io.checkpoint_file import CHECKPOINT_NAME
from ..run_folders import (
    RUN_RECORD,
    check_outside_the_data,
    default_out_dir,
    previous_run_files,
    report_command,
    report_hint,
    run_folder_of,
    training_into,
)
from ..run_setup import make_schedule, parse_class_weight
from ..runs import RunConfig, RunResult, resume_run, train_run
from ..training.callbacks import epochs_waited
from ..training.nan_guard import quiet_float_errors, weights_after
from .arguments import (
    CLASS_WEIGHT_HELP,
    DATASET_HELP,
    Subcommands,
    add_folder_options,
    add_test_split_option,
    batch_size,
    check_model_options,
    decay_factor,
    fraction,
    given_destinations,
    hidden_sizes,
    non_negative_float,
    non_negative_int,
    path_text,
    positive_float,
    positive_int,
    rate_below_one,
    seed_int,
)
from .output import check_output_folder, fmt_metrics
from .runtime import add_runtime_options, on_sigint, runtime_flags


def add_parser(sub: Subcommands) -> None:
    """Add the ``train`` command's parser to ``sub``."""
    p = sub.add_parser(
        "train", help="train a model and write runs/<name>/",
        description="Train a model from the zoo on a data set. Writes model.glassnet, "
                    "history.json, metrics.json, run.json and report.html into --out, and keeps "
                    "checkpoint.glassnet up to date while training: Ctrl-C stops after the "
                    "current batch, saves the last completed epoch and exits with 130; "
                    "--resume RUN_DIR continues exactly where it stopped.")
    p.add_argument("--dataset", type=path_text, default="cats", help=DATASET_HELP)
    p.add_argument("--model", default="mlp", help=f"zoo model: {', '.join(zoo.names())}")
    p.add_argument("--hidden", type=hidden_sizes, default=None, metavar="SIZES",
                   help="mlp hidden layer sizes, comma-separated (default: 20,7,5, the course's "
                        "L-layer net; 7 gives its two-layer net)")
    p.add_argument("--epochs", type=positive_int, default=10, help="passes over the training set")
    p.add_argument("--batch-size", type=batch_size, default=64,
                   help="samples per update, or 'full' for full-batch gradient descent")
    p.add_argument("--lr", type=positive_float, default=0.01,
                   help="learning rate (default: 0.01 for every optimizer)")
    p.add_argument("--optimizer", default="sgd",
                   help="sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw")
    p.add_argument("--momentum", type=rate_below_one, default=None,
                   help="momentum for sgd (and --optimizer momentum/nesterov) or rmsprop "
                        "(default: the optimizer's own)")
    p.add_argument("--weight-decay", type=non_negative_float, default=None,
                   help="PyTorch-style weight decay of the optimizer, decoupled for adamw "
                        "(default: the optimizer's own: 0.01 for adamw, 0 for the others)")
    p.add_argument("--reg", type=non_negative_float, default=0.0,
                   help="L2 strength: adds 0.5*reg*sum(W**2) over weights to the loss (CS231n)")
    p.add_argument("--lr-decay", type=decay_factor, default=None, metavar="FACTOR",
                   help="multiply the learning rate by FACTOR after every epoch (e.g. 0.95)")
    p.add_argument("--lr-schedule", default=None,
                   help=f"learning-rate schedule: {', '.join(schedules.SCHEDULES)} (default: constant)")
    p.add_argument("--validation-split", type=fraction, default=None, metavar="FRACTION",
                   help="hold out this fraction of the training set (stratified, seeded) "
                        "for validation; the test split is never used for tuning")
    add_folder_options(p)
    add_test_split_option(p)
    p.add_argument("--init", default=None, metavar="NAME",
                   help="mlp: weight initializer: he, xavier, lecun, glorot_uniform, ... or "
                        "normal:STD; the CNNs use their own (default: lecun)")
    p.add_argument("--batchnorm", action="store_true",
                   help="mlp: batch normalization after each hidden Dense layer")
    p.add_argument("--dropout", type=rate_below_one, default=None, metavar="RATE",
                   help="dropout rate (fraction dropped): mlp after each hidden layer; cnn-bn and "
                        "cnn-small before the output layer (their defaults 0.3 and 0.2)")
    p.add_argument("--normalize", action="store_true",
                   help="subtract the training set's per-channel mean and divide by its std "
                        "(saved with the model, so predict applies the same)")
    p.add_argument("--early-stopping", type=non_negative_int, default=None, metavar="PATIENCE",
                   help="stop when val_loss has not improved for PATIENCE epochs and keep the "
                        "best epoch's weights (needs --validation-split)")
    p.add_argument("--reduce-lr", type=positive_int, default=None, metavar="PATIENCE",
                   help="multiply the learning rate by --reduce-lr-factor when val_loss has not "
                        "improved (by more than 1e-4) for PATIENCE epochs, as Keras' "
                        "ReduceLROnPlateau (needs --validation-split; not with --lr-decay or an "
                        "--lr-schedule other than constant, which set the lr themselves)")
    p.add_argument("--reduce-lr-factor", type=fraction, default=None, metavar="FACTOR",
                   help="what --reduce-lr multiplies the learning rate by (default: 0.1)")
    p.add_argument("--class-weight", default=None, metavar="WEIGHTS", help=CLASS_WEIGHT_HELP)
    p.add_argument("--augment", default=None, metavar="LIST",
                   help="augment training batches: flip (random horizontal flip), crop (random "
                        "crop from 4-pixel reflect padding), jitter (brightness and contrast "
                        "x0.9-1.1), comma-separated, e.g. flip,crop,jitter (none: no augmentation)")
    p.add_argument("--seed", type=seed_int, default=0, help="seed for every random draw")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="floating-point precision")
    p.add_argument("--out", type=path_text, default=None,
                   help="run directory (default: runs/<dataset>-<model>-<time>)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --out (its files are removed before training)")
    p.add_argument("--quiet", action="store_true", help="no progress output, only the summary")
    p.add_argument("--resume", type=path_text, default=None, metavar="RUN_DIR",
                   help="continue runs/<name>/ (or the checkpoint.glassnet in it) from its "
                        "checkpoint with the configuration saved there (takes no other training "
                        "option; --quiet, --device, --threads and --no-cache are allowed: other "
                        "threads or device than the run's round differently, which its report says; "
                        "--dataset gives where its image folder is now, if it was moved)")
    add_runtime_options(p, split="each training and evaluation batch")
    p.set_defaults(run=run, train_defaults=vars(p.parse_args([])))


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run configuration that ``glassnet train``'s options (not ``--resume``) give."""
    return RunConfig(
        dataset=args.dataset, model=args.model,
        hidden=args.hidden,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        momentum=args.momentum, weight_decay=args.weight_decay, reg=args.reg,
        lr_decay=args.lr_decay, lr_schedule=args.lr_schedule,
        validation_split=args.validation_split, image_size=args.image_size, resize=args.resize,
        test_split=args.test_split, strict=args.strict, seed=args.seed, dtype=args.dtype,
        augment=args.augment, out=args.out, extra=toolkit_extra(args))


def toolkit_extra(args: argparse.Namespace) -> dict:
    """Model options (--init, --batchnorm, --dropout), --early-stopping, --reduce-lr(-factor),
    --normalize and --class-weight, only when given, so that models without these options are
    not handed them."""
    if args.init is not None:  # checked now, named as the option (not in the model's build)
        try:
            initializers.get(args.init)
        except ConfigError as exc:
            raise ConfigError(f"--init {args.init}: {exc}") from None
    model_options = {key: value for key, value in (("init", args.init), ("dropout", args.dropout),
                                                   ("batchnorm", args.batchnorm or None))
                     if value is not None}
    extra: dict = {"model_options": model_options} if model_options else {}
    if args.early_stopping is not None:
        extra["early_stopping"] = args.early_stopping
    if args.reduce_lr_factor is not None and args.reduce_lr is None:
        raise ConfigError(f"--reduce-lr-factor {args.reduce_lr_factor:g} is the factor of --reduce-lr: "
                          "add --reduce-lr PATIENCE")
    if args.reduce_lr is not None:
        extra["reduce_lr"] = args.reduce_lr
    if args.reduce_lr_factor is not None:
        extra["reduce_lr_factor"] = args.reduce_lr_factor
    if args.normalize:
        extra["normalize"] = True
    if args.class_weight is not None:  # its syntax checked now; its class names once the data is read
        parse_class_weight(args.class_weight)
        extra["class_weight"] = args.class_weight
    return extra


# the options --resume takes (--dataset: where the run's image folder is now, if it moved)
RESUME_OPTIONS = ("resume", "quiet", "device", "threads", "no_cache", "dataset")


def check_new_run_folder(out: Path, overwrite: bool) -> None:
    """A folder holding another run is refused unless ``--overwrite``: the new run would
    replace its files (and, stopped early, leave a mix of both)."""
    previous = previous_run_files(out)
    if previous and not overwrite:
        # an unfinished run (no run.json: killed while its files were written, too) goes on
        resume = (f" continue it with --resume {shlex.quote(str(out))}," if CHECKPOINT_NAME in previous
                  and RUN_RECORD not in previous else "")
        raise ConfigError(f"--out {out} already holds a run ({', '.join(previous)}):{resume} choose "
                          f"another --out, or add --overwrite to replace it{report_hint(out)}")


def check_resume_args(args: argparse.Namespace) -> list[str]:
    """``--resume`` takes the run's own configuration: any other training option is an
    error, even one given with its default value. Returns the options given (destinations),
    all of them among :data:`RESUME_OPTIONS`."""
    given = given_options(args)
    refused = [f"--{dest.replace('_', '-')}" for dest in given if dest not in RESUME_OPTIONS]
    if refused:
        raise ConfigError(f"--resume continues a run with the configuration saved in its checkpoint; "
                          f"drop {', '.join(refused)}")
    return given


def resume_command(args: argparse.Namespace, run_dir: Path) -> str:
    """The command that continues the interrupted run in ``run_dir`` on the threads and
    device this one used (on others it would round differently, and warn)."""
    return shlex.join(["glassnet", "train", "--resume", str(run_dir), *runtime_flags(args)])


def how_to_go_on(args: argparse.Namespace, run_dir: Path | None) -> str | None:
    """After a failed write (a full disk), the line that says how to finish the run in
    ``run_dir``: resume it from its checkpoint (intact: written atomically), or, when only
    its report is missing, write that; ``None`` when there is nothing to go on from."""
    if run_dir is None:
        return None
    if (run_dir / RUN_RECORD).is_file():
        return f"write its report with: {report_command(run_dir)}" if report_hint(run_dir) else None
    if (run_dir / CHECKPOINT_NAME).is_file():
        return f"resume with: {resume_command(args, run_dir)}"
    return None


def _print_how_to_go_on(args: argparse.Namespace, run_dir: Path | None, stop: StopRequest) -> None:
    """After a failed write or an abort, :func:`how_to_go_on` on stderr, if there is a way;
    never before training began: the folder's files then are not this run's (an
    ``--overwrite``'s old run)."""
    hint = how_to_go_on(args, run_dir) if stop.phase != "starting" else None
    if hint:
        print(hint, file=sys.stderr)


def given_options(args: argparse.Namespace) -> list[str]:
    """The ``train`` options on the command line, as destinations, in ``--help``'s order."""
    return given_destinations(args, "train", add_parser, args.train_defaults)


@contextlib.contextmanager
def stop_on_ctrl_c(stop: StopRequest) -> Iterator[None]:
    """First Ctrl-C: stop after the current batch (the fit loop checkpoints), or, once training
    is over, let the run's files be written; second: abort now. Before training starts
    (loading the data) there is nothing to save: the first one aborts."""

    def handler(signum, frame):
        if stop.requested or stop.phase == "starting":
            raise KeyboardInterrupt
        stop.request()
        doing = {"finishing": b"training is over, finishing the model file and the report",
                 "last epoch": b"finishing the last epoch, then the model file and the report",
                 }.get(stop.phase, b"stopping after the current batch and saving a checkpoint")
        # on a terminal, below the ^C it echoed (and off the progress bar's line); not in a log
        start = b"\n" if os.isatty(2) else b""
        os.write(2, start + b"glassnet train: " + doing + b" (Ctrl-C again to abort at once)\n")

    with on_sigint(handler):
        yield


def run(args: argparse.Namespace) -> int:
    """``glassnet train``: train a new run, or continue one (``--resume``), writing its files
    into the run folder; returns the exit code (130 after a Ctrl-C)."""
    stop = StopRequest()
    verbose = 0 if args.quiet else 1
    run_dir = None  # the run folder: a write failing once training began says how to go on
    try:
        # A non-finite loss stops training with the NaN guard's error and non-finite metrics
        # print as nan: NumPy's floating-point warnings about them would only be noise.
        with stop_on_ctrl_c(stop), quiet_float_errors():
            if args.resume is not None:
                run_dir = run_folder_of(args.resume)
                moved_to = args.dataset if "dataset" in check_resume_args(args) else None
                result = resume_run(args.resume, verbose=verbose, stop=stop, dataset=moved_to)
            else:
                config = config_from_args(args)
                check_model_options(config.model, [*config.extra.get("model_options", {}),
                                                   *(["hidden"] if config.hidden is not None else [])])
                out = check_output_folder(config.out or default_out_dir(config), "--out")
                check_outside_the_data(config.dataset, out)  # before the folder is made
                make_schedule(config)  # train_run makes it only once the run folder exists
                config.extra["command"] = shlex.join(["glassnet", *getattr(args, "argv", [])])
                # held from the check of its files to the end: another run starting into it
                # meanwhile would have its files deleted, or mixed with this run's
                with training_into(out, claim=not config.out) as out:
                    config.out = str(out)  # a default folder, -2 when taken, is named once
                    check_new_run_folder(out, args.overwrite)
                    run_dir = out
                    result = train_run(config, verbose=verbose, stop=stop)
    except TrainingInterruptedError as exc:
        print(f"glassnet train: interrupted: {exc}", file=sys.stderr)
        print(f"resume with: {resume_command(args, Path(exc.checkpoint).parent)}", file=sys.stderr)
        return 130
    except SaveError as exc:  # a full disk: the checkpoint written before is intact
        print(f"glassnet train: error: {exc}", file=sys.stderr)
        _print_how_to_go_on(args, run_dir, stop)
        return 1
    except KeyboardInterrupt:
        # a second Ctrl-C while the run's files were written: the checkpoint (or the model
        # and run record, without the report) are intact, since each is written atomically
        print("glassnet train: interrupted", file=sys.stderr)
        _print_how_to_go_on(args, run_dir, stop)
        return 130
    config = result.config
    m = result.metrics
    parts = [f"{split}: {fmt_metrics(m[split])}" for split in ("train", "validation", "test")
             if split in m]
    print(f"trained {config.model} on {config.dataset}: {count(m['epochs'], 'epoch')} in "
          f"{m['seconds']:.1f}s{kept_weights(result)}{lr_reductions(result)}; evaluated after "
          "training: " + "; ".join(parts))
    print(f"run files: {result.out_dir}/ (report: {result.out_dir / 'report.html'})")
    if result.error is not None:
        print(f"glassnet train: error: {result.error}; that model was saved to "
              f"{result.out_dir / 'model.glassnet'}", file=sys.stderr)
        return 1
    return 0


def lr_reductions(result: RunResult) -> str:
    """``", reduced the lr 2 times (to 0.0001)"``: what --reduce-lr did, if it did."""
    reducer = result.reduce_lr
    if reducer is None or not reducer.reductions:
        return ""
    return f", reduced the lr {count(len(reducer.reductions), 'time')} (to {reducer.reductions[-1][2]:g})"


def kept_weights(result: RunResult) -> str:
    """``", stopped early ... and restored ..."``: which weights the printed metrics are of,
    when they are not simply those of the last epoch trained."""
    if result.error is not None:
        return f", stopped by a non-finite loss and kept {weights_after(result.error.kept_epoch)}"
    stopper, clauses = result.early_stopping, []
    if stopper is None:
        return ""
    if stopper.stopped_epoch is not None:
        clauses.append(f"stopped early (no better {stopper.tracker.monitor} for "
                       f"{count(epochs_waited(stopper.patience), 'epoch')})")
    if stopper.restored_epoch is not None:
        clauses.append(f"restored the best epoch's weights (epoch {stopper.restored_epoch + 1})")
    return ", " + " and ".join(clauses) if clauses else ""
