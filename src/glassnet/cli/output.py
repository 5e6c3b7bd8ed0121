"""What a command writes: JSON and metrics on stdout, warnings and notices as lines on
stderr, and the files and folders it is told to write, checked before any work is done.

The ``cli`` package is the only code that prints (see README "Dependency rules"); its
subcommand modules print through these helpers where the form is shared.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .._files import finite_or_null
from .._text import logged_number, printable, well_formed
from ..errors import ConfigError, GlassnetWarning
from .notices import NoticeLines


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


def print_json(data: Any) -> None:
    """``--json`` output: strict JSON, a non-finite number (a diverged loss) as ``null``, and
    well-formed text (see :func:`well_formed`)."""
    json.dump(well_formed(finite_or_null(data)), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def fmt_metrics(metrics: dict[str, float]) -> str:
    """``"loss 0.4123, accuracy 0.8125"``: each metric as the training log shows it."""
    return ", ".join(f"{k} {logged_number(k, v)}" for k, v in metrics.items())


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
