"""Progress display for ``fit``: a tqdm bar on a terminal, plain lines otherwise.

When the output is not a terminal (CI logs, ``nohup``, a pipe) a bar's redraws would
fill the log, so each epoch becomes one line instead; with many epochs (the tutorial's
3000 full-batch epochs) only every ``log_every``-th epoch is printed, plus the last.
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Any

from .callbacks import Callback

_ORDER = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def format_logs(logs: dict[str, Any]) -> str:
    """``loss 0.4123 - accuracy 0.8123 - ...`` in a fixed key order."""
    parts = []
    for key in _ORDER:
        if key in logs:
            value = logs[key]
            parts.append(f"{key} {value:.3g}" if key == "lr" else f"{key} {value:.4f}")
    return " - ".join(parts)


class ProgressBar(Callback):
    """``verbose=1``: bar (terminal) or lines (not a terminal); ``verbose=2``: lines only."""

    def __init__(self, epochs: int, steps: int, verbose: int = 1, stream: IO[str] | None = None,
                 log_every: int | None = None) -> None:
        self.epochs, self.steps, self.verbose = epochs, steps, verbose
        self.stream = stream if stream is not None else sys.stderr
        self.use_bar = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.log_every = log_every or max(1, math.ceil(epochs / 100))
        self._bar = None
        self._epoch_bar = steps == 1  # full batch: one bar over epochs, not one per epoch

    def _new_bar(self, total: int, desc: str, initial: int = 0):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, initial=initial, file=self.stream, leave=True,
                    dynamic_ncols=True, unit="epoch" if self._epoch_bar else "batch")

    def on_train_begin(self, logs):
        self._start = time.perf_counter()
        self._first_epoch = logs.get("initial_epoch", 0)  # a resumed run shows its first epoch too
        if self.use_bar and self._epoch_bar:
            self._bar = self._new_bar(self.epochs, "training", logs.get("initial_epoch", 0))

    def on_epoch_begin(self, epoch, logs):
        self._epoch_start = time.perf_counter()
        if self.use_bar and not self._epoch_bar:
            self._bar = self._new_bar(self.steps, f"epoch {epoch + 1}/{self.epochs}")

    def on_batch_end(self, batch, logs):
        if self.use_bar and not self._epoch_bar:
            self._bar.update(1)
            self._bar.set_postfix_str(format_logs(logs), refresh=False)

    def on_epoch_end(self, epoch, logs):
        if self.use_bar:
            if self._epoch_bar:
                self._bar.update(1)
            self._bar.set_postfix_str(format_logs(logs))
            if not self._epoch_bar:
                self._bar.close()
            return
        last = epoch + 1 == self.epochs or self.model.stop_training
        if (epoch + 1) % self.log_every == 0 or last or epoch == self._first_epoch:
            seconds = time.perf_counter() - self._epoch_start
            self.stream.write(f"epoch {epoch + 1}/{self.epochs} - {seconds:.2f}s - "
                              f"{format_logs(logs)}\n")
            self.stream.flush()

    def on_train_end(self, logs):
        if self._bar is not None and self._epoch_bar:
            self._bar.close()
