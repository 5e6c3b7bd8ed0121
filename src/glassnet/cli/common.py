"""Helpers shared by the subcommands: argument types and output formatting."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import zoo
from .._checks import parse_int_list
from .._files import finite_or_null
from .._text import logged_number, printable, well_formed
from ..data import LOADERS
from ..data import cache as cache_mod
from ..data.images import RESIZE_MODES
from ..errors import ConfigError, GlassnetWarning, ModelFormatError, user_stacklevel
from ..io.archive import read_archive
from ..io.checkpoint_file import CHECKPOINT_NAME
from ..io.format import model_from_archive, training_resize
from ..run_folders import MODEL_FILE
from ..run_records import training_data_record
from ..runs import TRAIN_MODEL_OPTIONS, RunConfig
from .notices import NoticeLines

DATASET_HELP = ("data set name (cats, cifar10) read from $GLASSNET_DATA, or the path of an image "
                "folder with one subfolder per class")
# The zoo's model options and the flags that set them.
MODEL_FLAGS = {name: f"--{name}" for name in TRAIN_MODEL_OPTIONS}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after an option's help, unless the help states the default itself:
    an option whose default is None (or an empty list) says in words what happens without
    it, where argparse would add a second, wrong ``(default: None)``, and an on/off flag
    (``store_true``) would only add ``(default: False)``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if (action.default in (None, []) or "default" in (action.help or "")
                or action.default is False):
            return action.help or ""
        return super()._get_help_string(action)


def number_type(convert: Callable[[str], Any], accept: Callable[[Any], bool],
                what: str) -> Callable[[str], Any]:
    """An argparse ``type=``: ``convert`` the text, keep it if ``accept``, else say ``what``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = number_type(int, lambda v: v > 0, "a positive integer")
non_negative_int = number_type(int, lambda v: v >= 0, "an integer >= 0")
# Floats must be finite too: "inf" parses, and would reach the optimizer or the loss.
positive_float = number_type(float, lambda v: 0 < v < math.inf, "a positive number")
non_negative_float = number_type(float, lambda v: 0 <= v < math.inf, "a number >= 0")
#: a number strictly between 0 and 1 (a share of the data)
fraction = number_type(float, lambda v: 0 < v < 1, "a number between 0 and 1")
#: a dropout rate (the fraction of units dropped: 0 is none, 1 would be every one) or a momentum
rate_below_one = number_type(float, lambda v: 0 <= v < 1, "a number >= 0 and below 1")
#: a factor that shrinks a number or leaves it (a learning-rate decay)
decay_factor = number_type(float, lambda v: 0 < v <= 1, "a number above 0 and at most 1")


def path_text(text: str) -> str:
    """An argparse ``type=`` for paths: an empty one (``--out "$UNSET"``) would mean the
    current folder, which no one asks for that way. A leading ``~`` is the home folder, as
    in the shell, which leaves it alone in ``--out=~/runs`` (a folder named ``~`` would be
    made, and ``rm -rf ~/runs`` would not remove it)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one (an unset shell variable?)")
    return os.path.expanduser(text)


path_text.__name__ = "a path"

def run_folder_file(text: str, names: Sequence[str]) -> str:
    """``text``, or for a run directory (``runs/x``) the first of ``names`` in it, so that
    every command takes what ``train`` printed; any other folder is left to the command
    (:func:`load_model_file`)."""
    text = path_text(text)
    # os.path's tests, not Path's: a folder we may not enter or a name too long is "no"
    # here (Path.is_dir raises), and the command then says why it cannot read the path
    if not os.path.isdir(text):
        return text
    for name in names:
        if os.path.isfile(os.path.join(text, name)):
            return os.path.join(text, name)
    return text


def load_model_file(path: str):
    """:func:`~glassnet.io.format.load_model` for a command's model argument; the run
    directory of an unfinished run (a checkpoint, no model yet) says how to go on."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, CHECKPOINT_NAME)):
        raise ConfigError(
            f"{path} holds no {MODEL_FILE} yet: its run has not finished; continue it with "
            f"glassnet train --resume {shlex.quote(path)}, or give "
            f"{shlex.quote(str(Path(path) / CHECKPOINT_NAME))} to use its last saved weights")
    config, arrays = read_archive(path)
    model = model_from_archive(path, config, arrays)
    if "dataset" not in model.training_summary:
        model.training_summary.update(_checkpoint_data(config))
    return model


def _checkpoint_data(config: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint written before models recorded their data says of its data set:
    its run configuration, as :func:`~glassnet.run_records.training_data_record` records it
    (``{}`` for a model file, or a configuration that does not read)."""
    run = (config.get("checkpoint") or {}).get("run") if config.get("kind") == "checkpoint" else None
    try:
        return training_data_record(RunConfig.from_dict(run)) if isinstance(run, dict) else {}
    except (ConfigError, TypeError, ValueError):
        return {}


def model_file(text: str) -> str:
    """An argparse ``type=`` for a model file, or a run directory for its ``model.glassnet``."""
    return run_folder_file(text, [MODEL_FILE])


model_file.__name__ = "a model file"


def model_or_checkpoint_file(text: str) -> str:
    """:func:`model_file`, where the run directory of an unfinished run stands for its
    checkpoint (``glassnet info`` describes checkpoints too)."""
    return run_folder_file(text, [MODEL_FILE, CHECKPOINT_NAME])


model_or_checkpoint_file.__name__ = "a model or checkpoint file"
MODEL_HELP = "a .glassnet model file, or a run directory (its model.glassnet)"


def batch_size(text: str) -> int | None:
    """``full`` (full batch) or a positive integer."""
    if text == "full":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'full', got {text!r}") from None


def hidden_sizes(text: str | None) -> list[int] | None:
    """``--hidden 20,7,5`` as ``[20, 7, 5]`` (``20,,5`` is an error, see ``parse_int_list``)."""
    return None if text is None else parse_int_list(text, "--hidden")


def check_model_options(model: str, given: list[str], hint: str | None = None) -> None:
    """A clear error for model option flags (``given``: zoo option names) that ``model`` does
    not take, naming the flags it does take (or saying ``hint`` instead)."""
    takes = zoo.option_names(model)
    refused = [MODEL_FLAGS[name] for name in given if name not in takes]
    if refused:
        usable = [flag for name, flag in MODEL_FLAGS.items() if name in takes]
        hint = hint or (f"of the model options it takes {', '.join(usable)}" if usable
                        else "it has no options to set from the command line")
        raise ConfigError(f"model {model!r} does not take {' or '.join(refused)}; {hint}")


def given_destinations(args: argparse.Namespace, command: str, add_parser: Callable[[Any], None],
                       dests: Iterable[str]) -> list[str]:
    """Which of ``dests`` (option destinations of ``command``, whose subparser ``add_parser``
    makes) were given on the command line ``args.argv``, in the order of ``dests``.

    The command line is parsed again into a namespace that already holds a marker for each of
    ``dests``: argparse fills in defaults only where an attribute is missing, so whatever no
    longer holds the marker was given (abbreviations and ``--opt=value`` included, also an
    option given with its default value). ``dests`` must not be ``append`` options."""
    commands = argparse.ArgumentParser(add_help=False).add_subparsers()
    add_parser(commands)
    not_given = object()
    dests = list(dests)
    namespace = argparse.Namespace(**dict.fromkeys(dests, not_given))
    command_args = args.argv[args.argv.index(command) + 1:]  # glassnet's own options come first
    parsed = vars(commands.choices[command].parse_args(command_args, namespace))
    return [dest for dest in dests if parsed[dest] is not not_given]


def check_folder_options(args: argparse.Namespace) -> None:
    """``--resize``, ``--strict`` and ``--no-cache`` given for a named data set (fixed-size
    arrays, no image files) would be ignored: an error, as ``--image-size`` is (no-op for
    other commands)."""
    if getattr(args, "dataset", None) not in LOADERS or not hasattr(args, "resize"):
        return
    if getattr(args, "resume", None) not in (None, False):  # search's --resume is False when not given
        return  # the data set is the resumed run's (search); train --resume refuses these options itself
    given = ([f"--resize {args.resize}"] if args.resize not in (None, "squash") else []) + (
        ["--strict"] if args.strict else []) + (["--no-cache"] if getattr(args, "no_cache", False) else [])
    if given:
        raise folder_options_error(given, args.dataset)


def folder_options_error(given: list[str], dataset: str, whose: str = "the") -> ConfigError:
    """The error for image-folder options (``given``, as typed) used with a named data set."""
    return ConfigError(f"{' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to image "
                       f"folders; {whose} {dataset!r} set has fixed-size images, stored as arrays")


def model_resize(args: argparse.Namespace, model, command: str, reads_images: bool = True) -> str:
    """``--resize`` if given, else how the model's training images were fitted (a trained
    model has only seen images fitted that way), else ``squash``, with a warning when
    ``command`` ``reads_images`` (files it fits to the model's input size)."""
    if args.resize is not None:
        return args.resize
    recorded = training_resize(model.training_summary)
    if recorded is None:
        if reads_images:
            warnings.warn(f"{args.model} does not record how its training images were fitted to "
                          f"its input size (a model trained in Python): {command} assumes squash "
                          "(stretched); give --resize crop or pad if they were fitted otherwise, or "
                          "record it in Python with model.training_summary['resize'] = 'crop' "
                          "before model.save", GlassnetWarning, stacklevel=user_stacklevel())
        return "squash"
    if recorded not in RESIZE_MODES:
        raise ModelFormatError(f"{args.model}: the model file records an unknown resize mode "
                               f"{recorded!r}; give --resize {'/'.join(RESIZE_MODES)}")
    return recorded


def add_test_split_option(p: argparse.ArgumentParser, note: str = "") -> None:
    """``--test-split FRACTION``: the stratified, seeded test set of an image folder."""
    p.add_argument("--test-split", type=fraction, default=None, metavar="FRACTION",
                   help="image folders: hold out this fraction of every class as the test set "
                        f"(stratified, seeded by --seed), before anything else{note}")


def add_folder_options(p: argparse.ArgumentParser, image_size: bool = True,
                       for_model: bool = False, cache: bool = True) -> None:
    """``--image-size``, ``--resize``, ``--strict`` and ``--no-cache``: how image files are
    read (``for_model``: by a command that reads them for a trained model, whose way is the
    default; ``cache``: by one that reads whole folders through the decoded-image cache)."""
    if image_size:
        size = "the model's input size" if for_model else "128"
        p.add_argument("--image-size", type=positive_int, default=None, metavar="PIXELS",
                       help=f"image folders: resize every image to PIXELS x PIXELS (default: {size})")
    default = ("the way the model's training images were fitted, as its file records (squash if "
               "it records none)" if for_model else "squash")
    p.add_argument("--resize", choices=list(RESIZE_MODES), default=None if for_model else "squash",
                   help="how images are fitted to the size: stretch (squash), centre-crop to "
                        f"the aspect ratio (crop) or letterbox with black (pad) (default: {default})")
    p.add_argument("--strict", action="store_true",
                   help="stop with an error on a file that is not a readable image, instead of "
                        "skipping it with a warning")
    if cache:
        add_no_cache_option(p)


def add_no_cache_option(p: argparse.ArgumentParser) -> None:
    """``--no-cache``, for every command that reads image folders through the cache."""
    p.add_argument("--no-cache", action="store_true",
                   help="image folders: decode the images again instead of reading or writing "
                        f"the decoded-image cache in $GLASSNET_DATA/cache (also: {cache_mod.ENV}=off)")


@contextlib.contextmanager
def warnings_as_lines(command: str, progress: bool = True) -> Iterator[None]:
    """Print each warning raised inside as one line on stderr, as it happens (every glassnet
    one), and each notice the library logs (``logging.getLogger("glassnet")``: a download
    starting, and its progress, see :mod:`.notices`) as ``glassnet COMMAND: ...``. A warning
    already printed is not printed again (``search --final`` reads an image folder a second
    time, with the same skipped files). Without ``progress`` (``--quiet``) a download's
    progress is not shown."""
    shown: set[str] = set()
    handler = NoticeLines(command, sys.stderr, progress)

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = printable(str(message))
        if text not in shown:
            shown.add(text)
            handler.line(f"glassnet {command}: warning: {text}")

    logger = logging.getLogger("glassnet")
    logger.addHandler(handler)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)  # the progress records; the handler shows no other debug detail
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", GlassnetWarning)
            warnings.showwarning = show
            yield
    finally:
        handler.end_progress()
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


def add_runtime_options(parser: argparse.ArgumentParser, split: str | None = "each batch",
                        device: bool = True) -> None:
    """``--device`` and ``--threads``, shared by every command that runs a model; ``split``
    says what is split over the threads (``None``: nothing, only BLAS uses them); without
    ``device``, only ``--threads`` (a command that always runs on the CPU)."""
    if device:
        parser.add_argument("--device", choices=["cpu", "gpu"], default=None,
                            help="run on the CPU (NumPy) or a GPU (CuPy, extra glassnet[gpu]) "
                                 "(default: $GLASSNET_DEVICE, else cpu)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads: BLAS's" + (f", and {split} is split over them" if split else "")
                             + " (default: all cores)")


def runtime_flags(args: argparse.Namespace) -> list[str]:
    """``--threads``/``--device`` as given to this command, for a command it prints or starts
    (a resume, a search's workers): on other threads or another device the sums round
    differently."""
    return [*(["--threads", str(args.threads)] if args.threads else []),
            *(["--device", args.device] if args.device else [])]


def apply_runtime_options(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Limit BLAS threads as ``args`` asks, and return the context to run the command in: on
    ``--device`` if given, else ``$GLASSNET_DEVICE`` (checked now, so that a bad value is not
    blamed on a model file later) or the CPU. Commands without ``--device`` (info, export,
    report) run on the CPU: describing or converting a model needs no GPU, nor CuPy because
    ``$GLASSNET_DEVICE`` says gpu. The device chosen before is restored afterwards; so is
    ``$GLASSNET_IMAGE_CACHE``, set to ``off`` inside by ``--no-cache`` (in the environment,
    so that search's worker processes inherit it)."""
    from .. import backend

    if getattr(args, "threads", None) or getattr(args, "workers", 1) > 1:
        from threadpoolctl import threadpool_limits

        # Kept for the life of the process: the command is the process.
        args._thread_limit = threadpool_limits(thread_count(args))
    if hasattr(args, "no_cache"):  # a command that reads image folders: a bad
        cache_mod.enabled()         # $GLASSNET_IMAGE_CACHE is named before any work
    if getattr(args, "device", "cpu") is None:
        backend.get_device()
    return _runtime_context(args)


def thread_count(args: argparse.Namespace) -> int:
    """The CPU threads a command uses: ``--threads``, else every core, shared out among
    ``search --workers`` processes (each of N workers gets 1/N of the cores: the workers
    would otherwise all use every core and slow each other down)."""
    from .. import backend

    return args.threads or max(1, backend.available_cores() // getattr(args, "workers", 1))


@contextlib.contextmanager
def every_core_again(args: argparse.Namespace) -> Iterator[None]:
    """Inside: the CPU threads of the same command without ``--workers``: ``--threads``, else
    every core, for BLAS and for splitting batches. ``search --workers N`` without
    ``--threads`` gave this process 1/N of the cores; once its workers have ended, its
    ``--final`` model trains as the printed ``glassnet train`` command (which carries only a
    given ``--threads``) does, so that it rounds the same: how a batch is split over threads
    changes the last digits."""
    from .. import backend

    share = getattr(args, "_thread_limit", None)
    if args.threads or share is None:  # this process has those threads already
        yield
        return
    share.restore_original_limits()  # BLAS as a command without --workers leaves it
    del args._thread_limit  # for the rest of the process: the workers have ended
    with backend.using_threads(thread_count(argparse.Namespace(threads=None))):
        yield


@contextlib.contextmanager
def _runtime_context(args: argparse.Namespace) -> Iterator[None]:
    """The device, training-thread and image-cache settings of :func:`apply_runtime_options`,
    undone on exit."""
    from .. import backend

    with contextlib.ExitStack() as stack:
        if hasattr(args, "threads"):
            stack.enter_context(backend.using_threads(thread_count(args)))
        if getattr(args, "no_cache", False):
            stack.enter_context(environment(cache_mod.ENV, "off"))
        if not hasattr(args, "device"):
            stack.enter_context(backend.using_device("cpu"))
        elif args.device:
            stack.enter_context(backend.using_device(args.device))
        yield


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` inside, as it was (or unset) afterwards."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def print_json(data: Any) -> None:
    """``--json`` output: strict JSON, a non-finite number (a diverged loss) as ``null``, and
    well-formed text (see :func:`well_formed`)."""
    json.dump(well_formed(finite_or_null(data)), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def fmt_metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {logged_number(k, v)}" for k, v in metrics.items())


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def require_probabilities(model, path: str) -> None:
    """``predict`` and ``evaluate`` need a model whose outputs are probabilities (compiled,
    or ending in a sigmoid/softmax): raw scores have neither classes nor a loss to report."""
    require(model.outputs_probabilities,
            f"{path}: this model's outputs are raw scores, not probabilities: it was saved "
            "without a loss (before compile), so nothing says whether they take a sigmoid or "
            "a softmax; compile it before saving")


def check_output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder to write into, or a clear error (before any work is done) when it
    is a file, lies under a file or cannot be created for lack of permission."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder")
    _check_can_create(path, path, option)
    return path


def check_output_file(path: str | os.PathLike | None, option: str,
                      model: str | os.PathLike | None = None,
                      suffixes: Sequence[str] = ()) -> Path | None:
    """``path`` as a file to write (``None`` passes), or a clear error (before any work is
    done) when it is a folder, lies under a file, its folder cannot be created, it is the
    ``model`` file the command reads (writing there would destroy the model), or its name
    does not end in one of ``suffixes`` (a slip such as ``--report photo.jpg`` would
    replace a photo with a web page)."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give the path of a file to write")
    if model is not None and path.exists() and path.resolve() == Path(model).resolve():
        raise ConfigError(f"{option} {path} is the model file itself; writing there would replace "
                          "the model: give another path")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path}: give a file name ending in {' or '.join(suffixes)} (the "
                          "file written there is of that kind)")
    _check_can_create(path.parent, path, option)
    return path


def _check_can_create(folder: Path, given: Path, option: str) -> None:
    """``mkdir -p folder`` would work: its nearest existing ancestor is a writable folder."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:  # not even the working directory exists: let mkdir say so
        return
    if not existing.is_dir():
        raise ConfigError(f"{option} {given}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {given}: no permission to write in {existing}")
