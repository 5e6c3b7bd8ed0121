"""What a run report says of a run trained in several sessions (Ctrl-C, then ``--resume``).

A resumed run continues exactly, to the last bit, when it goes on with the threads and
device it began with; with others, the rest of the run rounds differently, so rerunning
the report's command unbroken gives other numbers. The run's training sessions
(``run.json["sessions"]``, see :func:`glassnet.io.checkpoint_file.sessions_of`) say which epochs
ran on what; :func:`resumed_text` turns them into the report's "resumed" row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._text import count

RESUME_COMMAND = "glassnet train --resume"


@dataclass
class Span:
    """Epochs ``first``..``last`` (counted from 1), trained in a row on one setting."""

    first: int
    last: int
    setting: tuple[Any, Any]  # (device, threads) of the sessions that trained them


def setting_of(session: dict[str, Any]) -> tuple[Any, Any]:
    """``(device, threads)`` of a session: what decides how its batches round."""
    return session.get("device"), session.get("threads")


def known(setting: tuple[Any, Any]) -> bool:
    """Whether the session recorded what it ran on (checkpoints of older glassnets did not)."""
    device, threads = setting
    return device is not None and (device != "cpu" or threads is not None)


def on_text(setting: tuple[Any, Any]) -> str:
    """``"on 2 threads"``, ``"on the GPU"``, ``"with threads and device not recorded"``: how
    epochs ran."""
    device, threads = setting
    if not known(setting):
        return "with threads and device not recorded"
    return f"on {count(threads, 'thread')}" if device == "cpu" else f"on the {device.upper()}"


def epochs_text(span: Span, first_of_list: bool) -> str:
    """``"epochs 1-181"`` (``"epoch 7"`` alone); the first span of a list says ``ran``."""
    numbers = f"epoch {span.first}" if span.first == span.last else f"epochs {span.first}-{span.last}"
    return f"{numbers} {'ran ' if first_of_list else ''}{on_text(span.setting)}"


def spans(sessions: list[dict[str, Any]], epochs: int) -> list[Span]:
    """The epochs each session completed (up to the next one's start, the last up to
    ``epochs``), adjacent ones on the same setting merged; a session that completed no
    epoch (stopped again within its first, or resumed only to write the files) has none."""
    found: list[Span] = []
    ends = [s["from_epoch"] for s in sessions[1:]] + [epochs]
    for session, end in zip(sessions, ends, strict=True):
        if end <= session["from_epoch"]:
            continue
        if found and found[-1].setting == setting_of(session) and found[-1].last == session["from_epoch"]:
            found[-1].last = end
        else:
            found.append(Span(session["from_epoch"] + 1, end, setting_of(session)))
    return found


def resume_points(sessions: list[dict[str, Any]]) -> str:
    """``"after epoch 181"``, ``"in epoch 1 and after epochs 100 and 250"``: where the
    run was resumed (a resume after no completed epoch repeated the first)."""
    points = sorted({s["from_epoch"] for s in sessions[1:]})
    after = [str(p) for p in points if p > 0]
    parts = ["in epoch 1"] if 0 in points else []
    if after:
        listed = after[0] if len(after) == 1 else ", ".join(after[:-1]) + " and " + after[-1]
        parts.append(f"after {'epoch' if len(after) == 1 else 'epochs'} {listed}")
    return " and ".join(parts)


def rounds_differently(settings: list[tuple[Any, Any]]) -> bool | None:
    """Whether epochs trained on these settings round differently from an unbroken run
    (``None``: cannot tell, some were not recorded)."""
    recorded = {s for s in settings if known(s)}
    if len(recorded) > 1:
        return True
    return None if len(recorded) < len(set(settings)) else False


def resumed_text(sessions: list[dict[str, Any]] | None, epochs: int) -> str | None:
    """The report's "resumed" row for a run of ``epochs`` completed epochs trained in
    ``sessions``: where it was resumed, and whether its epochs ran on the threads and device
    it began with (which ran on what, when not); ``None`` for a run trained in one session
    (or whose ``run.json`` predates sessions)."""
    if not sessions or len(sessions) < 2:
        return None
    text = f"{resume_points(sessions)} ({RESUME_COMMAND})"
    trained, began = spans(sessions, epochs), setting_of(sessions[0])
    settings = [began, *(span.setting for span in trained)]
    differs = rounds_differently(settings)
    if not trained:
        return text + ": no epoch was completed"
    if differs is False:
        text += (f": every epoch ran {on_text(began)}, so it continued exactly: an unbroken run of "
                 f"the command above {on_text(began)} gives the same numbers")
    else:
        text += ": " + ", ".join(epochs_text(span, i == 0) for i, span in enumerate(trained))
        if sessions[1]["from_epoch"] <= sessions[0]["from_epoch"]:  # the first completed no epoch
            text += f" (the run began {on_text(began)})"
        text += (", so it " + ("rounds" if differs else "may round")
                 + " differently from an unbroken run of the command above")
    if sessions[-1]["from_epoch"] >= epochs:
        text += (f"; the last resume had no epoch left to train and only wrote the run's files "
                 f"({on_text(setting_of(sessions[-1]))})")
    return text
