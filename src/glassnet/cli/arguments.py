"""The command line's shared arguments: argument types, the options several commands take,
and the checks of options given together.

Each subcommand module (``train.py``, ``evaluate.py``, ...) builds its parser from these;
:mod:`.runtime` adds ``--device``/``--threads``, :mod:`.output` checks the paths a command
writes, and :mod:`.common` loads the model file an argument names.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import zoo
from .._checks import MAX_INT, parse_int_list
from ..data import LOADERS
from ..data import cache as cache_mod
from ..data.images import RESIZE_MODES
from ..errors import ConfigError
from ..io.checkpoint_file import CHECKPOINT_NAME
from ..run_folders import MODEL_FILE
from ..runs import TRAIN_MODEL_OPTIONS

#: What ``ArgumentParser.add_subparsers`` returns: each command module's ``add_parser(sub)``
#: adds its parser to it.
Subcommands = argparse._SubParsersAction

CLASS_WEIGHT_HELP = ("weigh each class in the training loss, as Keras' class_weight: 'balanced' "
                     "(n_samples / (n_classes * count of the class), counted on the training split) "
                     "or NAME=WEIGHT pairs, e.g. cat=2,non-cat=1 (a class's name, or its index where "
                     "the class names are not numbers; a class not named weighs 1). Only the "
                     "training loss is weighted: the validation loss and every reported score are not")

DATASET_HELP = ("data set name (cats, cifar10) read from $GLASSNET_DATA, or the path of an image "
                "folder with one subfolder per class")


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
                what: str, limit: int = MAX_INT) -> Callable[[str], Any]:
    """An argparse ``type=``: ``convert`` the text, keep it if ``accept``, else say ``what``;
    an integer also at most ``limit`` (see :data:`~glassnet._checks.MAX_INT`)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if convert is int and abs(value) > limit:
            raise argparse.ArgumentTypeError(f"expected {what} up to {limit:,}, got {text!r}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = number_type(int, lambda v: v > 0, "a positive integer")
non_negative_int = number_type(int, lambda v: v >= 0, "an integer >= 0")
#: a count of folds: each fold is validated by a model trained on the others
fold_count = number_type(int, lambda v: v >= 2, "an integer >= 2")
#: a seed: any the course's RandomState takes (below 2**32), which the other streams take too
seed_int = number_type(int, lambda v: v >= 0, "an integer >= 0", limit=2**32 - 1)
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


def name_text(text: str) -> str:
    """An argparse ``type=`` for a name that is not a folder (a stored study's): not blank
    (``--study-name ""`` was taken as not given)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a name, got an empty one (an unset shell variable?)")
    return text


name_text.__name__ = "a name"


def folder_name(text: str) -> str:
    """An argparse ``type=`` for a name that becomes one folder under ``runs/``: not empty,
    not ``.`` or ``..``, no ``/`` (``--name ../x`` would write outside ``runs/``; a path is
    what ``--out`` takes)."""
    name_text(text)  # not blank
    if text in (".", "..") or "/" in text or os.sep in text:
        raise argparse.ArgumentTypeError(f"expected a name for a folder under runs/, got {text!r}: "
                                         "give a folder's path with --out (and a stored study's "
                                         "name with --study-name)")
    return text


folder_name.__name__ = "a name"


def run_folder_file(text: str, names: Sequence[str]) -> str:
    """``text``, or for a run directory (``runs/x``) the first of ``names`` in it, so that
    every command takes what ``train`` printed; any other folder is left to the command
    (:func:`~glassnet.cli.common.load_model_file`)."""
    text = path_text(text)
    # os.path's tests, not Path's: a folder we may not enter or a name too long is "no"
    # here (Path.is_dir raises), and the command then says why it cannot read the path
    if not os.path.isdir(text):
        return text
    for name in names:
        if os.path.isfile(os.path.join(text, name)):
            return os.path.join(text, name)
    return text


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
            f"expected a positive integer up to {MAX_INT:,} or 'full', got {text!r}") from None


def hidden_sizes(text: str) -> list[int]:
    """An argparse ``type=``: ``--hidden 20,7,5`` as ``[20, 7, 5]`` (``20,,5`` and ``20,x``
    are usage errors, see ``parse_int_list``)."""
    try:
        return parse_int_list(text, "--hidden")
    except ConfigError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers up to {MAX_INT:,} (e.g. 20,7,5), "
            f"got {text!r}") from None


hidden_sizes.__name__ = "hidden layer sizes"


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


# -- checks of the options given ---------------------------------------------------------------
# The zoo's model options and the flags that set them.
MODEL_FLAGS = {name: f"--{name}" for name in TRAIN_MODEL_OPTIONS}


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


def given_destinations(args: argparse.Namespace, command: str, add_parser: Callable[[Subcommands], None],
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
