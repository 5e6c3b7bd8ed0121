"""Progress display for ``fit`` (and ``evaluate``/``predict`` with ``verbose``): a tqdm bar
on a terminal, plain lines otherwise.

When the output is not a terminal (CI logs, ``nohup``, a pipe) a bar's redraws would
fill the log, so each epoch becomes one line instead; with many epochs (the tutorial's
3000 full-batch epochs) only every ``log_every``-th epoch is printed, plus the last.
Both show the epoch, loss, accuracy, val_loss, val_accuracy and the time left for the
whole training; one summary line closes the training. On a terminal, as in Keras, an
epoch's bar (mini-batches) gives way to that epoch's line when it ends; a bar's values
are cut to whole values that fit the terminal's width (tqdm would cut the line at the
edge, in the middle of a number).
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import IO, TYPE_CHECKING, Any

from .._text import count, display_width, logged_number
from ..errors import ConfigError
from .callbacks import Callback
from .history import is_logged_number

if TYPE_CHECKING:
    from tqdm import tqdm

_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def format_logs(logs: dict[str, Any]) -> str:
    """``loss 0.4123 - accuracy 0.8123 - ...``: the keys fit logs in a fixed order, then any
    number a callback added (``val_f1``), as Keras shows them."""
    keys = [key for key in _ORDER if key in logs]
    keys += [key for key in logs if key not in _ORDER and is_logged_number(logs[key])]
    return " - ".join(f"{key} {logged_number(key, logs[key])}" for key in keys)


def shows_bars(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal a bar can be drawn on: a terminal that reports zero
    columns or rows (some CI pseudo-terminals, ``stty cols 0``) would get empty redraws, so
    it gets the plain lines instead."""
    if not getattr(stream, "isatty", lambda: False)():
        return False
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns > 0 and size.lines > 0
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's stand-in): a terminal
        return True


def new_bar(stream: IO[str], total: int, desc: str, unit: str, initial: int = 0, leave: bool = True) -> tqdm:
    """A tqdm bar on ``stream`` that stays on screen when done unless not ``leave``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, initial=initial, file=stream, leave=leave,
                dynamic_ncols=True, unit=unit)


#: how often a bar's values are made, at most (tqdm's default redraw interval)
VALUES_SECONDS = 0.1
#: the narrowest bar (in columns) that values beside it may leave
MIN_BAR_COLUMNS = 10


def fitting_values(bar: tqdm, text: str) -> str:
    """``text`` (values joined by `` - ``) cut to the leading values that fit beside
    ``bar`` on its terminal, whole, leaving the bar :data:`MIN_BAR_COLUMNS`: tqdm would cut
    the line at the terminal's edge (at 80 columns ``accuracy 0.1`` for 0.1340, and a bar
    one column wide). All of it where the width is unknown."""
    try:
        columns = os.get_terminal_size(bar.fp.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's stand-in)
        return text
    # the line without its bar and values: "epoch 1/2:  45% 32/71 [00:01<00:01, 31.71batch/s]"
    meter = bar.format_meter(**{**bar.format_dict, "ncols": 0, "postfix": None})
    room = columns - display_width(meter) - len("||") - MIN_BAR_COLUMNS - len(", ")
    values = text.split(" - ")
    while values and display_width(" - ".join(values)) > room:
        values.pop()
    return " - ".join(values)


def check_verbose(verbose: Any) -> int:
    """``verbose`` as Keras takes it: 0, 1, 2, or ``"auto"`` (1); ``False``/``True`` are 0/1."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ConfigError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def format_duration(seconds: float) -> str:
    """``"0:07"``, ``"12:34"`` or ``"1:02:03"`` (hours:minutes:seconds)."""
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar(Callback):
    """``verbose=1``: bar (terminal) or lines (not a terminal); ``verbose=2``: lines only."""

    call_order = 2  # last: it shows what the other callbacks logged, and a stop one of them asked for

    def __init__(self, epochs: int, steps: int, verbose: int = 1, stream: IO[str] | None = None,
                 log_every: int | None = None) -> None:
        self.epochs, self.steps, self.verbose = epochs, steps, verbose
        self.stream = stream if stream is not None else sys.stderr
        self.use_bar = verbose == 1 and shows_bars(self.stream)
        self.log_every = log_every or max(1, math.ceil(epochs / 100))
        self._bar = None
        self._epoch_bar = steps == 1  # full batch: one bar over epochs, not one per epoch
        self._values_made = -math.inf  # when the bar's values were last made (perf_counter)

    def _new_bar(self, total: int, desc: str, initial: int = 0):
        # an epoch's bar gives way to the epoch's line; the bar over all epochs stays
        return new_bar(self.stream, total, desc, "epoch" if self._epoch_bar else "batch", initial,
                       leave=self._epoch_bar)

    def time_left(self, epochs_done: float) -> float:
        """Seconds left for the whole training, from the average pace so far."""
        done = epochs_done - self._initial_epoch
        if done <= 0:
            return float("nan")
        elapsed = time.perf_counter() - self._start
        return elapsed / done * (self.epochs - epochs_done)

    def _with_time_left(self, text: str, epochs_done: float) -> str:
        left = self.time_left(epochs_done)
        return f"{text} - left {format_duration(left)}" if left == left else text

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        self._start = time.perf_counter()
        self._initial_epoch = self._epoch = logs.get("initial_epoch", 0)
        self._first_epoch = self._initial_epoch  # a resumed run shows its first epoch too
        if self.use_bar and self._epoch_bar:
            self._bar = self._new_bar(self.epochs, "training", logs.get("initial_epoch", 0))

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
        self._epoch, self._epoch_start = epoch, time.perf_counter()
        if self.use_bar and not self._epoch_bar:
            self._bar = self._new_bar(self.steps, f"epoch {epoch + 1}/{self.epochs}")

    def _values_due(self, last: bool = False) -> bool:
        """Whether to make the bar's values now: at most every :data:`VALUES_SECONDS` (as
        often as tqdm redraws), and for the ``last`` update; making them costs more than a
        tiny model's batch (about 60 us), and most would never be drawn."""
        now = time.perf_counter()
        if last or now - self._values_made >= VALUES_SECONDS:
            self._values_made = now
            return True
        return False

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        if self.use_bar and not self._epoch_bar:
            if self._values_due():  # (before the update, which may redraw: the latest values)
                text = self._with_time_left(format_logs(logs), self._epoch + (batch + 1) / self.steps)
                self._bar.set_postfix_str(fitting_values(self._bar, text), refresh=False)
            self._bar.update(1)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.use_bar and self._epoch_bar:
            # the last epoch's values stay on screen with the bar
            if self._values_due(last=epoch + 1 == self.epochs or self.model.stop_training):
                self._bar.set_postfix_str(fitting_values(self._bar, format_logs(logs)), refresh=False)
            self._bar.update(1)
            return
        if self.use_bar:
            self._bar.close()  # (it erases itself: the epoch's line below takes its place)
        last = epoch + 1 == self.epochs or self.model.stop_training
        if (epoch + 1) % self.log_every == 0 or last or epoch == self._first_epoch:
            seconds = time.perf_counter() - self._epoch_start
            line = f"epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - {format_logs(logs)}"
            self.stream.write((line if last else self._with_time_left(line, epoch + 1)) + "\n")
            self.stream.flush()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        if self._bar is not None and self._epoch_bar:
            self._bar.close()
        if "error" in logs:  # the loss became non-finite: the error that fit raises next says it
            return
        if self._initial_epoch >= self.epochs:  # nothing to train: say so, not "1 epoch"
            self.stream.write(f"trained 0 epochs: initial_epoch {self._initial_epoch} is not below "
                              f"epochs {self.epochs}\n")
            self.stream.flush()
            return
        epochs = self._epoch + 1 - self._initial_epoch
        seconds = time.perf_counter() - self._start
        stopped = (f", stopped early by a callback after epoch {self._epoch + 1} of {self.epochs}"
                   if self.model.stop_training and self._epoch + 1 < self.epochs else "")
        self.stream.write(f"trained {count(epochs, 'epoch')} in "
                          f"{format_duration(seconds)} ({seconds:.1f}s){stopped} - {format_logs(logs)}\n")
        self.stream.flush()


class InferenceProgress:
    """The progress of ``evaluate``/``predict`` over their batches, as Keras shows it:
    ``verbose=1`` a bar on a terminal (one closing line otherwise), ``verbose=2`` only the
    closing line (``predict: 4/4 batches, 1000 samples in 0.21s (0.05s/batch)``), 0 nothing."""

    def __init__(self, what: str, batches: int, samples: int, verbose: Any,
                 stream: IO[str] | None = None) -> None:
        self.what, self.batches, self.samples = what, batches, samples
        self.verbose = check_verbose(verbose)
        self.stream = stream if stream is not None else sys.stderr
        self.done, self._start = 0, time.perf_counter()
        self._bar = None
        if self.verbose == 1 and shows_bars(self.stream):
            self._bar = new_bar(self.stream, batches, what, "batch")

    def update(self) -> None:
        """One batch done."""
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self, logs: dict[str, Any] | None = None) -> None:
        """The closing line (or the bar's last state), with ``logs`` (loss, accuracy) if given."""
        text = format_logs(logs or {})
        if self._bar is not None:
            if text:
                self._bar.set_postfix_str(fitting_values(self._bar, text))
            self._bar.close()
        elif self.verbose:
            seconds = time.perf_counter() - self._start
            line = (f"{self.what}: {self.done}/{self.batches} batches, {count(self.samples, 'sample')} in "
                    f"{seconds:.2f}s ({seconds / max(self.done, 1):.2f}s/batch)")
            self.stream.write(line + (f" - {text}" if text else "") + "\n")
            self.stream.flush()
