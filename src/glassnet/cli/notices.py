"""The library's log records on stderr: ``glassnet COMMAND: message``, and a download's
progress as one line redrawn in place.

The data loaders log a download as it starts (INFO) and its progress (DEBUG records with a
``progress`` attribute ``(received bytes, total bytes or None, finished)``, at most twice a
second). On a terminal the progress line is rewritten in place and closed when the download
ends; elsewhere (a log file, CI) only the quarters of the download are written, so a
170 MB download costs at most four lines.
"""

from __future__ import annotations

import logging
from typing import IO

from .._text import printable
from ..training.progress import shows_bars

#: marks written when stderr is not a terminal: the download's quarters
QUARTERS = 4


class NoticeLines(logging.Handler):
    """Writes the ``glassnet`` logger's INFO records, and its download progress records, to
    ``stream`` as ``glassnet COMMAND: ...`` lines."""

    def __init__(self, command: str, stream: IO[str], progress: bool = True) -> None:
        super().__init__(logging.DEBUG)
        self.prefix, self.stream, self.progress = f"glassnet {command}: ", stream, progress
        self.in_place = shows_bars(stream)
        self.open_line = False  # a progress line is on screen, not yet ended by a newline
        self.quarter = 0  # quarters of the current download already written (not a terminal)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            progress = getattr(record, "progress", None)
            text = self.prefix + printable(record.getMessage())
            if progress is not None:
                if self.progress:  # not under --quiet
                    self._progress(text, *progress)
            elif record.levelno >= logging.INFO:  # other debug detail is not for the terminal
                self.line(text)
        except Exception:  # a closed stream must not end the command; logging reports it
            self.handleError(record)

    def line(self, text: str) -> None:
        """Write ``text`` as a line of its own (below an unfinished progress line)."""
        self.end_progress()
        self.stream.write(text + "\n")
        self.stream.flush()

    def end_progress(self) -> None:
        """End the progress line on screen, if any, so that what follows starts a new line."""
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False

    def _progress(self, text: str, received: int, total: int | None, finished: bool) -> None:
        if self.in_place:
            self.stream.write("\r" + text + "\033[K")  # K: clear what a longer line left
            self.stream.flush()
            self.open_line = True
            if finished:
                self.end_progress()
            return
        reached = QUARTERS if finished else QUARTERS * received // total if total else 0
        if reached > self.quarter:
            self.line(text)
        self.quarter = 0 if finished else max(self.quarter, reached)  # 0: the next download
