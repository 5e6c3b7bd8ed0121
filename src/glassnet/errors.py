"""Errors a user can cause, each with a message that says what to do.

Every error glassnet raises on purpose derives from :class:`GlassnetError`; the
command line turns it into one line on stderr and exit code 1. Subclasses also
derive from the matching built-in (``ValueError``, ``FileNotFoundError``) so that
code written against NumPy-style exceptions keeps working.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


class GlassnetError(Exception):
    """Base class of every error glassnet raises deliberately."""


class ConfigError(GlassnetError, ValueError):
    """A bad argument or option: unknown name, value out of range, wrong type."""


class ShapeError(GlassnetError, ValueError):
    """Arrays whose shapes do not fit the model, the layer or each other."""


class DataError(GlassnetError):
    """A data set that is missing, damaged or not in the expected layout."""


class DataNotFoundError(DataError, FileNotFoundError):
    """Data files are absent and could not be downloaded."""


class ChecksumError(DataError):
    """A downloaded or cached file does not have the expected checksum."""


class ImageError(DataError):
    """A file that is not a readable image."""


class UnreadableFileError(ImageError):
    """A file the operating system would not let us read (permissions, an I/O error): not a
    damaged image, and possibly a passing problem, so it is never cached as a skipped file."""


class GlassnetWarning(UserWarning):
    """Base class of the warnings glassnet issues (the CLI prints them as one line each)."""


class CollapsedModelWarning(GlassnetWarning):
    """After training, the model answers one class whatever its input (dead ReLUs)."""


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning point at the first caller outside glassnet
    (the user's ``model.fit(...)`` line), however deep inside glassnet it is issued: call
    it in the ``warnings.warn`` call itself."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1  # the function that warns
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


class SkippedFileWarning(GlassnetWarning):
    """A file in an image folder that is not a readable image and was skipped."""


class ModelFormatError(GlassnetError):
    """A model or checkpoint file that is damaged, unsafe or of an unknown version."""


class DamagedFileError(ModelFormatError):
    """A model file that is truncated, not a zip archive, or fails its checksums."""


class UnsafeFileError(ModelFormatError):
    """A model file holding something glassnet never loads: pickled objects, stray entries."""


class UnknownLayerError(ModelFormatError):
    """A model file naming a layer class this glassnet does not have."""


class WeightMismatchError(ModelFormatError):
    """Arrays in a model file that are missing, extra, or of the wrong shape or type."""


class NewerFormatError(ModelFormatError):
    """A model file written in a format version newer than this glassnet reads."""


class SaveError(GlassnetError, OSError):
    """A file could not be written (disk full, no permission); the previous file is intact."""


class OutOfMemoryError(GlassnetError, MemoryError):
    """A layer whose weights do not fit in memory (a ``Flatten`` then ``Dense`` on big images)."""


class TrainingError(GlassnetError):
    """Training could not go on."""


class TrainingInterruptedError(TrainingError):
    """Training was stopped on request (Ctrl-C) between two batches; ``checkpoint`` is the
    file holding the last completed epoch (``epochs_done``)."""

    def __init__(self, message: str, epoch: int, batch: int, checkpoint: str | os.PathLike[str] | None = None,
                 epochs_done: int | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.checkpoint = checkpoint
        self.epochs_done = epochs_done


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite at ``epoch``, ``batch`` (1-based; ``None`` when not
    known: a run finished from its checkpoint); the model keeps the weights it had after
    ``kept_epoch`` epochs (0: its initial weights)."""

    def __init__(self, message: str, epoch: int | None, batch: int | None,
                 kept_epoch: int | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.kept_epoch = kept_epoch


class SearchError(GlassnetError):
    """A hyperparameter search that cannot start or go on (storage, study, search space)."""


class MissingExtraError(GlassnetError, ImportError):
    """An optional dependency (an extra such as ``glassnet[onnx]``) is not installed."""


def require_extra(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise a :class:`MissingExtraError` naming the pip extra."""
    import importlib

    package = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and (exc.name or package).partition(".")[0] == package
        if missing:
            raise MissingExtraError(f"this needs the optional package '{package}': "
                                    f"pip install 'glassnet[{extra}]'") from exc
        # installed, but broken: one of its own dependencies, or a library it loads, is missing
        raise MissingExtraError(f"the optional package '{package}' is installed but could not be "
                                f"imported: {exc}") from exc
