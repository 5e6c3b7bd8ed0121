"""``CSVLogger``: each epoch's logs in a CSV file, as Keras' callback of that name writes it."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Sequence
from typing import Any

from .._checks import check_flag
from .._files import write_text
from ..errors import ConfigError, GlassnetWarning, user_stacklevel
from .callbacks import FIT_KEYS, Callback
from .history import is_logged_number

#: what :class:`CSVLogger` writes for a name an epoch did not log (as Keras does; pandas
#: reads it as NaN, as it reads the ``nan`` of a non-finite number)
MISSING = "NA"


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file, as Keras' ``CSVLogger``: a header
    ``epoch,<logged names, sorted>`` (``loss``, ``lr``, ``val_*``...), then one row per
    epoch. ``epoch`` counts from 0, as in Keras and :class:`~glassnet.training.History`, so
    ``pandas.read_csv(filename)`` gives the columns of ``history.history``; numbers are
    written in full (``repr``: a value read back equals the history's), a non-finite one as
    ``nan``/``inf``, a name an epoch did not log as ``NA``. A name a callback first logs
    after the first epoch gets a column of its own (Keras drops it), ``NA`` before.

    ``append=True`` continues an existing file (a second ``fit``, a resumed run): the rows
    of epochs at or after ``initial_epoch`` left at its end (by a run that stopped before
    its checkpoint caught up) are replaced, not repeated; a file whose columns are not what
    this fit logs is an error before training. Without it the file is replaced. After a
    non-finite loss the rows of the epochs whose weights were not kept go, as in the history.
    """

    def __init__(self, filename: str | os.PathLike, *, separator: str = ",", append: bool = False) -> None:
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename):
            raise ConfigError(f"CSVLogger filename must be a file name, got {filename!r}")
        if not isinstance(separator, str) or len(separator) != 1 or separator in '"\r\n':
            raise ConfigError("CSVLogger separator must be one character other than a quote or "
                              f"a line break (',', ';', '\\t'...), got {separator!r}")
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = check_flag(append, "CSVLogger append")
        self.columns: list[str] = []  # the logged names, without "epoch"
        self.rows: list[dict[str, str]] = []  # the file's rows, each cell as written
        self._first = 0  # the index in rows of this fit's first row

    def on_train_begin(self, logs: dict[str, Any]) -> None:
        if os.path.isdir(self.filename):
            raise ConfigError(f"CSVLogger filename {self.filename!r} is a folder; give a file name, "
                              f"e.g. {os.path.join(self.filename, 'training.csv')!r}")
        self.columns, self.rows = [], []
        initial = logs.get("initial_epoch", 0)
        if self.append:
            self.columns, self.rows = _read_log(self.filename, self.separator)
            if self.rows or self.columns:
                self._check_columns(logs.get("logged"))
            while initial and self.rows and int(self.rows[-1]["epoch"]) >= initial:
                self.rows.pop()  # a crashed run's epochs, which this fit trains again
        elif initial and os.path.isfile(self.filename) and os.path.getsize(self.filename):
            warnings.warn(f"CSVLogger replaces {self.filename}, and this fit starts at epoch "
                          f"{initial + 1}: the rows of the epochs before are lost; give "
                          "append=True to continue the file", GlassnetWarning, stacklevel=user_stacklevel())
        if not self.append:  # the header at once: a fit stopped in its first epoch leaves no old rows
            self.columns = sorted(logs.get("logged") or [])
        self._first = len(self.rows)
        self._write()  # and a file that cannot be written is an error before any training

    def _check_columns(self, logged: Sequence[str] | None) -> None:
        """An existing file's columns must hold every name this fit logs, and no name of
        :data:`FIT_KEYS` it does not (another callback's may still come)."""
        if logged is None:
            return
        missing = [key for key in logged if key not in self.columns]
        extra = [key for key in self.columns if key in FIT_KEYS and key not in logged]
        if missing or extra:
            raise ConfigError(f"CSVLogger cannot append to {self.filename}: its columns "
                              f"({', '.join(self.columns)}) are not what this fit logs "
                              f"({', '.join(logged)}); give another file, or append=False to replace it")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        keys = [key for key in logs if key != "epoch"]
        if any(key not in self.columns for key in keys):
            self.columns = sorted({*self.columns, *keys})
        self.rows.append({"epoch": str(epoch), **{key: _cell(logs[key]) for key in keys}})
        self._write()

    def on_train_end(self, logs: dict[str, Any]) -> None:
        kept = logs.get("kept_epoch")
        if kept is None:
            return
        mine = self.rows[self._first:]
        kept_rows = [row for row in mine if int(row["epoch"]) < kept]
        if len(kept_rows) < len(mine):
            self.rows[self._first:] = kept_rows
            self._write()

    def _write(self) -> None:
        # The whole file, atomically, each epoch: a few kilobytes even after a thousand
        # epochs, and a crash or a full disk mid-write leaves the previous file whole, where
        # an append could leave half a row for the next append=True to trip over.
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.separator, lineterminator="\n")
        header = ["epoch", *self.columns]
        writer.writerow(header)
        writer.writerows([row.get(key, MISSING) for key in header] for row in self.rows)
        write_text(self.filename, text.getvalue())


def _cell(value: Any) -> str:
    """A logged value as :class:`CSVLogger` writes it: a number in full (``repr``, ``nan``),
    anything else (a callback's note) as text."""
    return repr(float(value)) if is_logged_number(value) else str(value)


def _read_log(path: str, separator: str) -> tuple[list[str], list[dict[str, str]]]:
    """The columns (without ``epoch``) and rows of the CSV log at ``path``, none if it is
    absent or empty; a :class:`ConfigError` for a file that is not such a log."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            lines = [cells for cells in csv.reader(handle, delimiter=separator) if cells]
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"CSVLogger cannot append to {path}: {reason}") from None
    if not lines:
        return [], []
    header, *body = lines
    if header[0] != "epoch" or len(set(header)) != len(header):
        raise ConfigError(f"CSVLogger cannot append to {path}: it is not a CSV log with separator "
                          f"{separator!r} (its first line is not epoch{separator}...)")
    for number, cells in enumerate(body, start=2):
        if len(cells) != len(header) or not (cells[0].isascii() and cells[0].isdigit()):
            raise ConfigError(f"CSVLogger cannot append to {path}: line {number} is not an epoch's "
                              f"row of its {len(header)} columns; give another file, or append=False")
    return header[1:], [dict(zip(header, cells, strict=True)) for cells in body]
