"""The folder a training run writes into: the names of its files, its default name, holding
it while a run trains into it (or its report is written), and clearing an earlier run's files.

:mod:`glassnet.runs` trains into the folders held here and :mod:`glassnet.run_records`
writes the files named here; the commands (``train``, ``evaluate``, ``report``) and the
search use these names and checks to find a run's files, or a search's, in a folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ._files import cut_to_bytes, make_folder, remove_stale_temporaries
from .data import is_folder
from .data.listing import listed_within
from .errors import ConfigError, SaveError
from .io.checkpoint_file import CHECKPOINT_NAME

try:
    import fcntl
except ImportError:  # Windows: run folders are not locked (training_into)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from .runs import RunConfig


#: The trained model in a run's folder (the commands that take a model take the folder for it).
MODEL_FILE = "model.glassnet"
#: The run's configuration, written after its model, history and metrics: a folder with it
#: holds a finished run (whose report, written next, may still be missing).
RUN_RECORD = "run.json"
#: The run's report, written last (``glassnet report`` writes it again).
REPORT_FILE = "report.html"
#: What a training run writes into its folder; a new run removes these first.
RUN_FILE_NAMES = (RUN_RECORD, "history.json", "metrics.json", MODEL_FILE, CHECKPOINT_NAME,
                  REPORT_FILE)


#: What a search keeps in its folder (glassnet.search): its storage and its summary.
SEARCH_FILE_NAMES = ("search.journal", "search.json")
SEARCH_REPORT = "search_report.html"
#: The run folder inside a search's folder into which ``--final`` trains its best configuration.
SEARCH_FINAL = "final"


def search_files_in(folder: str | Path) -> list[str]:
    """The files of :data:`SEARCH_FILE_NAMES` in ``folder``: some when it is a search's folder."""
    return [name for name in SEARCH_FILE_NAMES if (Path(folder) / name).exists()]


def search_folder_note(folder: str | Path) -> str | None:
    """What a search's ``folder`` holds instead of a run, for a command given it as one (its
    report, its trials' runs, and the run of its best configuration, or how to train it);
    ``None`` for a folder that is not a search's."""
    found = search_files_in(folder)
    if not found:
        return None
    final = Path(folder) / SEARCH_FINAL
    if final.is_dir():
        best = f"the run of its best configuration, which --final trained, is {final}"
    else:
        storage = "" if SEARCH_FILE_NAMES[0] in found else " (with the search's --storage)"
        best = (f"'glassnet search --resume --out {shlex.quote(str(folder))} --final'{storage} "
                f"trains its best configuration into {final}")
    report = (f"its report is {SEARCH_REPORT}, " if (Path(folder) / SEARCH_REPORT).is_file()
              else "")  # none with --no-plot, or before the search's end
    return f"it is a search's folder: {report}each trial's run is in trials/NNNN/, and {best}"


def check_not_a_search_folder(out_dir: Path) -> None:
    """A training run's files in a search's folder would mix with the search's (its trials
    have folders of their own, ``trials/NNNN``): refused."""
    found = search_files_in(out_dir)
    if found:
        raise ConfigError(f"--out {out_dir} holds a search ({', '.join(found)}); give the run "
                          "another --out")


def previous_run_files(out_dir: str | Path) -> list[str]:
    """The files of an earlier run in ``out_dir`` (names from :data:`RUN_FILE_NAMES`)."""
    return [name for name in RUN_FILE_NAMES if (Path(out_dir) / name).exists()]


def clear_run_files(out_dir: Path) -> None:
    """Remove an earlier run's files, so that a new run interrupted (or failing) before it
    writes its own never leaves the old model, metrics or report beside its checkpoint."""
    for name in previous_run_files(out_dir):
        (out_dir / name).unlink()
    remove_run_temporaries(out_dir)


def remove_run_temporaries(out_dir: Path) -> None:
    """Remove the temporary files a killed write of the run's files left in ``out_dir``
    (``.checkpoint.glassnet.*.tmp``: :func:`~glassnet._files.atomic_write`'s), at once,
    not an hour later: the caller holds the folder (:func:`training_into`), so no other
    glassnet process can be writing them."""
    remove_stale_temporaries(out_dir, files=RUN_FILE_NAMES, older_than=0)


def report_hint(run_dir: Path) -> str:
    """``"; it has no report.html: glassnet report DIR writes it"`` for a finished run (it has
    its :data:`RUN_RECORD`) whose report is missing (killed while it was written), else ``""``;
    a run made without a report (a search's trial, ``extra["report"]`` false) misses nothing."""
    if not (run_dir / RUN_RECORD).is_file() or (run_dir / REPORT_FILE).exists():
        return ""
    try:
        config = json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8")).get("config", {})
        wanted = config.get("extra", {}).get("report", True) is not False
    except (OSError, ValueError, AttributeError):  # a damaged record: its own error comes later
        wanted = True
    return f"; it has no {REPORT_FILE}: {report_command(run_dir)} writes it" if wanted else ""


def report_command(run_dir: Path) -> str:
    """The command that writes the report of the finished run in ``run_dir``."""
    return shlex.join(["glassnet", "report", str(run_dir)])


def run_folder_of(path: str | Path) -> Path:
    """The run folder ``--resume`` means by ``path``: it, or the folder of the
    ``checkpoint.glassnet`` it names."""
    path = Path(path)
    if path.name == CHECKPOINT_NAME and not path.is_dir():
        return path.parent  # the checkpoint itself was named: its folder is the run
    return path


#: the bytes of a default run folder's name given to its data set's name: with the model's
#: name, the time and a ``-N`` of a folder claimed, it stays well under 255 (file names' limit)
DATA_NAME_BYTES = 120


def default_out_dir(config: RunConfig) -> Path:
    """``runs/<data>-<model>-<date>-<time>``: the folder of a run given no ``--out``
    (:func:`training_into` with ``claim`` adds ``-2``, ``-3``, ... when it is taken)."""
    return Path("runs") / default_folder_name(config.dataset, config.model)


def default_folder_name(dataset: str, model: str, kind: str | None = None) -> str:
    """``<data>-<model>[-<kind>]-<date>-<time>``, the name of a run's (or, ``kind="search"``,
    a search's) default folder; a long image folder's name is cut (:data:`DATA_NAME_BYTES`),
    so that the whole name stays a legal one."""
    data = cut_to_bytes(data_name(dataset), DATA_NAME_BYTES)
    return "-".join([data, model, *([kind] if kind else []), time.strftime("%Y%m%d-%H%M%S")])


def data_name(dataset: str) -> str:
    """A data set's name in a default run folder's: a named set's own, an image folder's
    last component as resolved (``.`` and ``..`` are named by the folder they stand for)."""
    return (Path(dataset).expanduser().resolve().name if is_folder(dataset) else dataset) or "data"


def check_outside_the_data(dataset: str, out_dir: Path) -> None:
    """A run folder inside an image folder would be read as a class of it by every later
    command (evaluate, report, --resume, a new run): refused, before any work."""
    if not is_folder(dataset) or not listed_within(out_dir, dataset):
        return
    raise ConfigError(f"the run folder {out_dir} would be inside the image folder {dataset}, "
                      "where its files would be read as a class of images: give an --out "
                      "outside it (or run from another folder)")


# The run folders this process trains into now: the thread holding each, and how many of
# its blocks do (see training_into).
_HELD: dict[str, tuple[int, int]] = {}
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def training_into(out_dir: Path, claim: bool = False) -> Iterator[Path]:
    """Hold the run folder ``out_dir`` (made if needed) while the block runs, and yield it:
    another process or thread training into it at the same time (a second ``glassnet train``
    with the same ``--out``, a ``--resume`` of a run still going, an ``--overwrite`` of it)
    is refused, instead of mixing its files with this run's or deleting them.

    An advisory lock (``flock``) on the folder itself: nothing is left in it, and the
    system releases it when the process ends, however it ends. Where the system has no
    ``flock`` (Windows) or the file system refuses it on folders (some network mounts),
    only threads are told apart. Reentrant in one thread: the command holds it from its
    first check of the folder through :func:`~glassnet.runs.train_run`, which holds it too. With ``claim``
    (a default folder, :func:`default_out_dir`), the first of ``out_dir``, ``out_dir-2``,
    ``-3``, ... that does not exist is made: two runs started in the same second never get
    one folder. A run that fails before writing anything (its data missing) leaves none of
    the folders made here (:func:`made_folder`)."""
    with made_folder(out_dir, claim) as out_dir, holding_run_folder(out_dir):
        yield out_dir


@contextlib.contextmanager
def made_folder(folder: Path, claim: bool = False) -> Iterator[Path]:
    """``folder``, made if needed, or with ``claim`` the first new one of ``folder``,
    ``folder-2``, ... (:func:`claim_new_folder`); when the block raises, the folders made
    here (it, then the parents made for it) are removed again while empty, so that a
    command that fails before writing anything leaves no trace."""
    made = _missing_folders(folder.parent if claim else folder)
    try:  # a folder that cannot be made (its name too long) leaves none of its parents
        folder = claim_new_folder(folder) if claim else make_folder(folder)
        if claim:
            made.insert(0, folder.absolute())
        yield folder
    except BaseException:
        _remove_empty(made)
        raise


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) while they are empty; one never made is passed."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            if os.path.isdir(folder):  # not empty: something else was written into it
                break
            # else never made: its creation failed there (no such folder, its name too long)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist, innermost first."""
    missing, folder = [], Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def claim_new_folder(folder: Path) -> Path:
    """Make the first of ``folder``, ``folder-2``, ... that does not exist (``mkdir`` fails
    for all but one of several processes asking for one name at once)."""
    make_folder(folder.parent)
    candidate, number = folder, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1
            candidate = folder.with_name(f"{folder.name}-{number}")
        except OSError as exc:
            raise SaveError(f"could not create the folder {candidate}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def holding_run_folder(out_dir: Path, busy_advice: str = ", or train into another folder"
                       ) -> Iterator[None]:
    """Hold the existing run folder ``out_dir`` as :func:`training_into` does, or raise a
    :class:`ConfigError` that ends with ``busy_advice`` (a training run's by default) when
    another process or thread holds it: ``glassnet report`` holds it while it writes the
    report, so that an ``--overwrite`` starting meanwhile never gets the old run's report
    beside its files."""
    busy = ConfigError(f"{out_dir} is being trained into by another glassnet run right now (or "
                       f"its report is being written); wait for it to end{busy_advice}")
    with _holding(str(out_dir.resolve()), busy):
        yield


@contextlib.contextmanager
def _holding(key: str, busy: ConfigError) -> Iterator[None]:
    """:func:`holding_run_folder`'s hold on the folder ``key`` (a resolved path); ``busy`` is
    raised when another process or thread holds it."""
    me = threading.get_ident()
    with _HELD_LOCK:
        holder, depth = _HELD.get(key, (me, 0))
        if holder != me:
            raise busy
        _HELD[key] = (me, depth + 1)
    handle = None
    try:
        if depth == 0 and fcntl is not None:
            handle = os.open(key, os.O_RDONLY)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            except OSError:  # no flock on folders here (a network mount): threads only
                pass
        yield
    finally:
        with _HELD_LOCK:
            if depth == 0:
                del _HELD[key]
            else:
                _HELD[key] = (me, depth)
        if handle is not None:
            os.close(handle)  # releases the lock
