"""The model file a command is given: loading it (a run directory's model, an unfinished
run's checkpoint) and what the commands require of it (probabilities, how its images were
fitted to its input size).

The argument that names the file is parsed by :func:`~glassnet.cli.arguments.model_file`;
this module reads what it names, through :mod:`glassnet.io.format`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.images import RESIZE_MODES
from ..errors import ConfigError, GlassnetWarning, ModelFormatError, user_stacklevel
from ..io.archive import read_archive
from ..io.checkpoint_file import CHECKPOINT_NAME
from ..io.format import model_from_archive, training_resize
from ..run_folders import MODEL_FILE, search_folder_note
from ..run_records import training_data_record
from ..runs import RunConfig

if TYPE_CHECKING:
    from ..model import Sequential


def refuse_a_search_folder_as_model(path: str) -> None:
    """A search's folder given for a model file: an error that says where its model is (its
    ``final`` run) or how to get one, as ``glassnet report`` says for the same folder."""
    note = search_folder_note(path) if os.path.isdir(path) else None
    if note is not None:
        raise ConfigError(f"{path} is not a model file: {note}")


def load_model_file(path: str) -> Sequential:
    """:func:`~glassnet.io.format.load_model` for a command's model argument; the run
    directory of an unfinished run (a checkpoint, no model yet) says how to go on, and a
    search's folder where its model is."""
    refuse_a_search_folder_as_model(path)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, CHECKPOINT_NAME)):
        raise ConfigError(
            f"{path} holds no {MODEL_FILE} yet: its run has not finished (it is still training, "
            f"or it stopped); once it has stopped, continue it with glassnet train --resume "
            f"{shlex.quote(path)}, or give {shlex.quote(str(Path(path) / CHECKPOINT_NAME))} to "
            f"use its last saved weights")
    config, arrays = read_archive(path)
    model = model_from_archive(path, config, arrays)
    if "dataset" not in model.training_summary:
        model.training_summary.update(_checkpoint_data(config))
    beside = Path(path).parent / MODEL_FILE
    if config.get("kind") == "checkpoint" and os.path.isfile(path) and beside.is_file():
        # a finished run keeps its checkpoint: its weights may not be the run's model's
        warnings.warn(f"{path} is the checkpoint of a finished run (the state --resume continues "
                      f"from), with the weights of its last epoch; the run's model is {beside} "
                      "(early stopping's best epoch, if it restored one)", GlassnetWarning,
                      stacklevel=user_stacklevel())
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


def model_resize(args: argparse.Namespace, model: Sequential, command: str, reads_images: bool = True) -> str:
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


def require(condition: bool, message: str) -> None:
    """A :class:`ConfigError` saying ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def require_probabilities(model: Sequential, path: str) -> None:
    """``predict`` and ``evaluate`` need a model whose outputs are probabilities (compiled,
    or ending in a sigmoid/softmax): raw scores have neither classes nor a loss to report."""
    require(model.outputs_probabilities,
            f"{path}: this model's outputs are raw scores, not probabilities: it was saved "
            "without a loss (before compile), so nothing says whether they take a sigmoid or "
            "a softmax; compile it before saving")


def no_class_text(count: int) -> str:
    """Why ``count`` images got no class (``predict``), or could not be scored (``evaluate``):
    the model's outputs for them are NaN. A script reading the output must not take a broken
    model's answers for answers (argmax of NaN is class 0)."""
    return (f"{count} image(s) got no class: the model's outputs are not numbers (NaN), as from "
            "weights that are NaN or infinite or that overflow; retrain it (a lower --lr) or use "
            "another model file")
