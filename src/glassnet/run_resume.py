"""Going on with a run from its checkpoint: the checkpoint's state put back into the
model, what is left to do (more epochs, or only the run's files), a clear error when
nothing is (the run completed, stopped early or diverged), and a warning when the rest
of the run will round differently from an unbroken one.

:func:`glassnet.runs.resume_run` finds the checkpoint and its configuration, and
:mod:`glassnet.runs` calls :func:`resume_state` before it fits the rest of the run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._text import count
from .errors import ConfigError, GlassnetWarning, user_stacklevel
from .io.checkpoint_file import Checkpoint, running_on
from .io.resume import restore_training_state
from .model import Sequential
from .run_folders import report_hint

if TYPE_CHECKING:
    from .runs import RunConfig


def resume_state(model: Sequential, checkpoint: Checkpoint, config: RunConfig,
                 data: dict[str, Any] | None = None, finished: bool = True) -> tuple[int, bool]:
    """Restore a checkpoint into the freshly built, compiled ``model``; returns ``(epochs
    done, over)``: ``over`` when its training has ended (all epochs, or early stopping).

    ``finished`` says the run's files were written. A run whose training ended but whose
    files were not (a second Ctrl-C, a kill or out-of-memory while it evaluated the splits)
    is not "nothing to resume": only those files are left to write."""
    done = restore_training_state(model, checkpoint, data)
    non_finite = checkpoint.state.get("non_finite")
    ended = training_end(checkpoint.state, done, config.epochs)
    # a run killed while its report was written: the report is what is left to do
    report = report_hint(Path(checkpoint.path).parent) if finished else ""
    if finished and ended == "non_finite":  # the same settings would diverge the same way again
        raise ConfigError(f"{checkpoint.path}: the run ended because {non_finite}; resuming would "
                          "train on with the same settings: start a new run instead (with a smaller "
                          f"--lr, or --normalize){report}")
    if finished and ended == "stopped_early":
        raise ConfigError(f"{checkpoint.path}: the run stopped early (early stopping) after {done} "
                          f"epochs; nothing to resume{report}")
    if finished and ended == "complete":
        raise ConfigError(f"{checkpoint.path}: the run already completed its {config.epochs} epochs; "
                          f"nothing to resume{report}")
    warn_if_the_rounding_changes(checkpoint)
    over = ended is not None
    if over:
        what = (f"the end of the run's training, which stopped because {non_finite}" if non_finite
                else f"the run's whole training ({count(done, 'epoch')})")
        warnings.warn(f"{checkpoint.path} holds {what}; only its files were left to write",
                      GlassnetWarning, stacklevel=user_stacklevel())
    return done, over


def training_end(state: dict[str, Any], done: int, planned: int | None) -> str | None:
    """How the training a checkpoint's ``state`` records ended, ``done`` of ``planned``
    epochs in: ``"non_finite"`` (its loss), ``"stopped_early"`` (a callback), ``"complete"``,
    or ``None`` while epochs are left (what ``--resume`` trains; ``glassnet info`` says the
    same of the file)."""
    if state.get("non_finite"):
        return "non_finite"
    if state.get("stopped_early"):
        return "stopped_early"
    return "complete" if planned is not None and done >= planned else None


def warn_if_the_rounding_changes(checkpoint: Checkpoint) -> None:
    """A warning when a run goes on with other threads or on another device than it was
    trained with until now: its numbers then differ from an unbroken run's by float
    rounding (a resumed run is otherwise exact to the last bit)."""
    now = running_on()
    changed = {key: checkpoint.state[key] for key in now
               if None not in (checkpoint.state.get(key), now[key]) and checkpoint.state[key] != now[key]}
    if changed:
        was = ", ".join(f"{key} {value}" for key, value in changed.items())
        goes_on = ", ".join(f"{key} {now[key]}" for key in changed)
        warnings.warn(f"{checkpoint.path} was trained with {was} and goes on with {goes_on}: "
                      "the rest of the run rounds differently, so it will not match an unbroken "
                      "run to the last digit (resume with the same --threads/--device for that)",
                      GlassnetWarning, stacklevel=user_stacklevel())
