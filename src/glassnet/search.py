"""Hyperparameter search on Optuna (the optional extra ``glassnet[search]``).

Each trial samples parameters, trains the run's model with
:func:`glassnet.runs.train_run` on the training split and scores it on validation data
carved from it, either one held-out split or each of K stratified folds in turn
(:mod:`glassnet.search_scoring`); the test split is not even loaded. Trials are ranked by
an objective measured on validation data (``val_balanced_accuracy`` by default, or
``val_accuracy``, ``val_loss``), at the trial's best epoch (of the mean over folds),
which is also how long the final model trains. An Optuna pruner stops hopeless trials
early: it sees the objective after every epoch (one split) or the trial's score so far
after every fold (K folds). One trial's work is :mod:`glassnet.search_trial`.

Two strategies: ``plain`` (one Optuna sampler, TPE or random, over the whole budget) and
``narrow`` (the classic recipe: sample at random, shrink each range to the span of the
best quarter of the round's trials, repeat for ``rounds`` rounds; every round's ranges are
stored in the study). Studies live in Optuna storage: by default a journal file
``runs/<name>/search.journal`` that any number of local worker processes share safely,
or any SQLAlchemy URL (``postgresql://...``) that workers on many machines join.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import shlex
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ._files import make_folder, nan_for_null, write_json, write_text
from .data import LOADERS, Dataset, is_folder, locator
from .data.folder import folder_change
from .errors import GlassnetWarning, SearchError, require_extra, user_stacklevel
from .run_data import load_data
from .run_folders import SEARCH_FILE_NAMES, SEARCH_REPORT, check_outside_the_data, previous_run_files
from .runs import RunConfig, RunResult, train_run
from .search_checks import check_values
from .search_config import SearchConfig, apply_params, final_config, setting_difference, train_command
from .search_scoring import SCORES, Split, validation_balanced_accuracy, validation_splits
from .search_space import NARROW_MIN, ParamSpec, narrow
from .search_trial import TrialRecord, TrialRunner

STORAGE_FILE = SEARCH_FILE_NAMES[0]
JOURNAL_LOCK_SUFFIX = ".lock"  # Optuna's JournalFileSymlinkLock: <journal>.lock
SUMMARY_FILE = SEARCH_FILE_NAMES[1]
PLOT_FILE = "search_scatter.png"
REPORT_FILE = SEARCH_REPORT
CONFIG_ATTR = "glassnet_search"
#: the image folder's absolute path, as the process that started the search resolved it
FOLDER_ATTR = "glassnet_image_folder"
#: the image folder's class names when the search started: another folder read later (a
#: same-named one in another directory) must have them too
CLASSES_ATTR = "glassnet_image_classes"
#: the image folder's fingerprint when the search started (its images' names, sizes and
#: modification times, as ``glassnet train`` records it for ``--resume``): every trial must
#: see the same images, wherever the folder is now
FINGERPRINT_ATTR = "glassnet_image_fingerprint"
# A trial without a round this many seconds after it was asked for is an orphan (its worker
# died between asking and labelling it), no longer a rival for a round's last place.
CLAIM_SECONDS = 60.0



#: the pip package of each PostgreSQL driver SQLAlchemy may pick for a URL
POSTGRES_DRIVERS = {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary"}


def driver_advice(url: str) -> str:
    """What to install for ``url``: the driver SQLAlchemy picks for it (``postgresql://`` is
    psycopg 3 from SQLAlchemy 2.1, psycopg2 before: on Python 3.10 pip installs 2.0)."""
    try:
        from sqlalchemy.engine import make_url

        driver = make_url(url).get_dialect().driver
    except Exception:  # noqa: BLE001 - an unknown dialect: the general advice
        return ("PostgreSQL: pip install 'psycopg[binary]' for postgresql+psycopg://, "
                "psycopg2-binary for postgresql+psycopg2://")
    if driver in POSTGRES_DRIVERS:
        other = "postgresql+psycopg2://" if driver == "psycopg" else "postgresql+psycopg://"
        return (f"this URL uses the driver {driver}: pip install {POSTGRES_DRIVERS[driver]}, or write "
                f"{other} to use the other PostgreSQL driver")
    return (f"this URL uses the driver {driver}: install its Python package (SQLAlchemy's "
            "page on the dialect names it)")


def _masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any unparsable URL is shown without its credentials
        return url.split("@")[-1]


def _drop_partial_last_line(journal: Path) -> None:
    """Cut off a last line without its newline: the record a worker killed in the middle of a
    write left. Optuna skips it when reading, but the next write would join it to a new
    record, and from then on every read fails. Done under Optuna's own lock, so it is never
    a write still in progress."""
    from optuna.storages.journal import JournalFileSymlinkLock

    if not _ends_mid_line(journal):  # the usual case: one byte read, no lock taken
        return
    lock = JournalFileSymlinkLock(str(journal))
    lock.acquire()
    try:
        if _ends_mid_line(journal):  # still, now that no write can be in progress
            with open(journal, "rb+") as handle:
                data = handle.read()
                handle.truncate(data.rfind(b"\n") + 1)
    finally:
        lock.release()


def _ends_mid_line(journal: Path) -> bool:
    """Whether ``journal`` exists and its last byte is not a newline."""
    if not journal.is_file() or journal.stat().st_size == 0:
        return False
    with open(journal, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def damaged_journal(journal: Path, exc: Exception) -> SearchError:
    """The error for a journal file with a record that does not read."""
    return SearchError(f"{journal} is damaged ({exc}): a record in it is not valid; restore it "
                       "from a copy, or start a new search under another --name")


def open_storage(url: str | None, run_dir: Path):
    """The journal file in ``run_dir`` (``url=None``) or an RDB storage at a SQLAlchemy URL."""
    optuna = require_extra("optuna", "search")
    if url is None:
        from optuna.storages.journal import JournalFileBackend

        make_folder(run_dir)
        # Absolute: Optuna's lock is a symbolic link to this path, and a relative one would
        # point nowhere (it resolves from the link's own folder).
        journal = (run_dir / STORAGE_FILE).resolve()
        _remove_dead_lock(Path(f"{journal}{JOURNAL_LOCK_SUFFIX}"))
        _drop_partial_last_line(journal)
        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
        except ValueError as exc:  # json.JSONDecodeError, "Invalid log format."
            raise damaged_journal(journal, exc) from None
    if "://" not in url:
        raise SearchError(f"--storage must be a database URL such as "
                          f"postgresql://user:password@host:5432/db, got {url!r}")
    kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except ImportError as exc:
            raise SearchError(f"the storage {_masked(url)} needs a database driver: {exc} "
                              f"({driver_advice(url)})") from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean "unusable"
            if type(exc).__name__ == "IntegrityError" and attempt < 2:
                time.sleep(0.5 + attempt)  # workers started together both created the tables
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SearchError(f"cannot open the storage {_masked(url)}: {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _remove_dead_lock(lock: Path) -> None:
    """Remove a journal lock that links nowhere: a process killed while holding the lock left
    it (glassnet before 2026-12-05 made such links), and Optuna would wait for it for ever,
    spinning. A live lock always links to the journal, which exists."""
    if lock.is_symlink() and not lock.exists():
        warnings.warn(f"removed the lock {lock} that a killed search left behind", GlassnetWarning,
                      stacklevel=user_stacklevel())
        with contextlib.suppress(FileNotFoundError):  # another worker removed it first
            lock.unlink()


def check_workers(url: str | None, workers: int) -> None:
    """Refuse ``workers`` > 1 processes on a SQLite storage, which locks under parallel
    writers (trials and summaries fail with "database is locked")."""
    if workers > 1 and url is not None and url.split(":", 1)[0].split("+", 1)[0] == "sqlite":
        raise SearchError(f"--workers {workers} cannot share the SQLite storage {_masked(url)}: SQLite "
                          "locks under parallel writers. Leave out --storage (the journal file "
                          "runs/NAME/search.journal takes any number of local workers), use a "
                          "PostgreSQL URL, or run one worker")


def _read_summary(run_dir: Path) -> dict[str, Any]:
    """The ``search.json`` in ``run_dir`` (written by this or another worker), or ``{}``."""
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        return {}
    try:
        summary = json.loads(path.read_text())
        problem = None if isinstance(summary, dict) else "not a JSON object"
    except (ValueError, UnicodeDecodeError) as exc:
        problem = str(exc)
    if problem is not None:
        raise SearchError(f"{path} is damaged ({problem}): remove it, and the search writes it "
                          "again from its storage (all but the result of --final)")
    return summary


def _storage_key(label: str) -> str | None:
    """What names a storage: a database URL as its label shows it; None for a run folder's own
    journal file, which a relative or an absolute path may name (a label is written as given)."""
    return label if "://" in label else None


def _recorded(summary: dict[str, Any], study: str, label: str) -> tuple[str, str]:
    """The study and the storage label that ``summary`` (``search.json``) records; one it
    does not record (there is no search.json) is taken to be ``study``'s or ``label``'s."""
    return summary.get("study", study), summary.get("storage", label)


def _same_search(summary: dict[str, Any], study: str, label: str) -> bool:
    """Whether ``summary`` is that of the study ``study`` in the storage labelled ``label``."""
    recorded_study, recorded_label = _recorded(summary, study, label)
    return recorded_study == study and _storage_key(recorded_label) == _storage_key(label)


def _the_recorded_search(run_dir: Path, summary: dict[str, Any], study: str, label: str) -> str:
    """``"runs/a/search.json records the search 'A' in runs/a/search.journal; continue it
    with --resume --study-name A"``: the search ``summary`` records, where that is not
    ``study`` in ``label``, and the options that continue it."""
    recorded_study, recorded_label = _recorded(summary, study, label)
    options = ["--resume"]
    if recorded_study != study:
        options.append(f"--study-name {shlex.quote(recorded_study)}")
    if _storage_key(recorded_label) != _storage_key(label):
        url = _storage_key(recorded_label)
        options.append("without --storage" if url is None else f"--storage URL (of {url})")
    return (f"{run_dir / SUMMARY_FILE} records the search {recorded_study!r} in {recorded_label}; "
            f"continue it with {' '.join(options)}")


def _another_search(run_dir: Path, summary: dict[str, Any], study: str, label: str) -> SearchError:
    """The error for a search started in a folder that holds another search's results (they
    would be overwritten: its trials' run files, its search.json and its final model)."""
    return SearchError(f"the search {study!r} in {label} cannot run in {run_dir}: "
                       f"{_the_recorded_search(run_dir, summary, study, label)}, or give this one "
                       "another --name or --out (it would overwrite that one's trials and results)")


def _check_journal_holds_no_other_search(run_dir: Path, study: str, label: str, own: bool):
    """Refuse to start ``study`` in ``run_dir`` when the folder's journal file holds another
    search that has written no search.json yet (stopped early, or still running): its trials'
    run files would be overwritten. ``own``: the journal is this search's storage, where a
    study of the same name is this very search (joined). Returns the journal storage it
    opened (``None`` when the folder has no journal), for the search to use when it is its
    own: each opening reads the whole journal."""
    if not (run_dir / STORAGE_FILE).is_file():
        return None
    import optuna

    journal = open_storage(None, run_dir)
    others = [s for s in optuna.get_all_study_names(journal) if s != study or not own]
    if others:
        other = others[0]
        options = " ".join([*([] if other == study else [f"--study-name {shlex.quote(other)}"]),
                            *([] if own else ["without --storage"])])
        # A study whose process was stopped before it stored its settings cannot be resumed.
        stored = CONFIG_ATTR in optuna.load_study(study_name=other, storage=journal).user_attrs
        advice = (f"continue it with {' '.join(['--resume', options]).strip()}" if stored else
                  f"it stopped before it stored its settings: start it again with {options}".rstrip())
        raise SearchError(f"the search {study!r} in {label} cannot run in {run_dir}: its journal "
                          f"{run_dir / STORAGE_FILE} holds the search {other!r}, which has "
                          f"written no {SUMMARY_FILE} yet (it stopped early, or is still running); "
                          f"{advice}, or give this one another --name or --out "
                          "(it would overwrite that one's trials)")
    return journal


def _stored_file(storage: str | None, run_dir: Path) -> Path | None:
    """The file a search's storage lives in: the run folder's journal, or an SQLite URL's
    database (``sqlite:///runs/s.db``); ``None`` for a server's URL."""
    if storage is None:
        return run_dir / STORAGE_FILE
    scheme, _, rest = storage.partition(":///")
    if scheme.split("+", 1)[0] == "sqlite" and rest and rest != ":memory:":
        return Path(rest.split("?", 1)[0])
    return None


def _nothing_to_resume(name: str, label: str, run_dir: Path, summary: dict[str, Any]) -> SearchError:
    """The error for ``--resume`` of a search that is not stored; when ``summary`` (the run
    folder's search.json) records another one, which, and how to continue it."""
    message = f"there is no search named {name!r} in {label} to resume"
    if not _same_search(summary, name, label):
        return SearchError(f"{message}: {_the_recorded_search(run_dir, summary, name, label)}")
    return SearchError(f"{message}; start it without --resume")


def _readable_here(config: SearchConfig, recorded: str | None, given: str | None = None) -> SearchConfig:
    """``config`` with its image folder where this process reads it: the absolute path
    recorded when the search started, while it is a folder; else ``given``, the ``--dataset``
    of a ``--resume`` that names where the folder is now (it moved); else the path as stored
    (typed, relative to the directory the search started in: a worker on another machine,
    started with the same command in a like directory, reads its own copy)."""
    dataset = config.base.dataset
    if dataset in LOADERS:
        return config
    found = next((path for path in (recorded, given, dataset)
                  if path and Path(path).expanduser().is_dir()), None)
    if found is None:
        places = [f"at {recorded}, where it was when the search started"] if recorded else []
        if not Path(dataset).is_absolute() or not recorded:
            places.append(f"at {dataset} from {Path.cwd()}")
        where = f"neither {places[0]}, nor {places[1]}" if len(places) == 2 else places[0]
        asked = f"; --dataset {given} is not a folder either" if given else ""
        raise SearchError(f"the search's image folder is not there any more ({where}{asked}): give "
                          "its place now with --dataset")
    return dataclasses.replace(config, base=dataclasses.replace(config.base, dataset=locator(found)))


def _check_same_classes(config: SearchConfig, splits: list[Split], recorded: list[str] | None) -> None:
    """The image folder this process reads must hold the classes the search started on: a
    same-named folder in another directory (read after the search's own moved, or by a
    worker started there) is another data set, whose trials would be mixed into this one."""
    if recorded is None or config.base.dataset in LOADERS:
        return
    found = list(splits[0][0].class_names)
    if found != list(recorded):
        raise SearchError(f"the image folder {config.base.dataset} holds the classes {found}, but the "
                          f"search started on {list(recorded)}: it is another data set; give the "
                          "search's folder with --dataset")


def _check_same_files(config: SearchConfig, train: Dataset, recorded: dict[str, Any] | None) -> None:
    """The image folder this process reads must hold the very images the search started on
    (wherever it is now): trials trained on other images would be ranked against the earlier
    ones. A search stored before glassnet recorded the fingerprint (``recorded`` None) is
    not checked."""
    now = train.info.get("fingerprint")
    if recorded is None or now is None or config.base.dataset in LOADERS:
        return
    change = folder_change(recorded, now)
    if change is not None:
        raise SearchError(f"the image folder {now['root']} changed since the search started "
                          f"({change}): its trials would train on other images than the earlier "
                          "ones; restore the folder (a copy on another machine must keep the "
                          "files' modification times: rsync -a, cp -p), or start a new search "
                          "under another --name")


def _recorded_fingerprint(train: Dataset) -> dict[str, Any]:
    """What the study keeps of the image folder's fingerprint: the signature of the images
    read, their count and what it is of (:func:`~glassnet.data.folder.folder_change` reads it)."""
    fingerprint = train.info["fingerprint"]
    return {key: fingerprint[key] for key in ("signature", "files", "of") if key in fingerprint}


def _pruner(name: str, steps: int):
    """The pruner for trials that report ``steps`` times (once per epoch, or per fold)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, steps // 4))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _differences(stored: dict[str, Any], given: dict[str, Any], prefix: str = "") -> str:
    """``"--epochs-per-trial: stored 2, given 3; --trials: stored 30, given 20"``: where two
    search configurations (as dicts) differ, nested dicts by key path."""
    parts = []
    for key in dict.fromkeys([*stored, *given]):
        old, new = stored.get(key), given.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            parts.append(_differences(old, new, f"{prefix}{key}."))
        else:
            parts.append(setting_difference(f"{prefix}{key}", old, new))
    return "; ".join(parts)


def _counts(trial) -> bool:
    """Trials that use up the budget: all but those a crashed worker left behind."""
    from optuna.trial import TrialState

    return trial.state != TrialState.FAIL or "error" in trial.user_attrs


def _failure(trial) -> str | None:
    """Why a failed trial failed (None for any other): its error, or its worker's end."""
    if trial.state.name != "FAIL":
        return None
    return trial.user_attrs.get("error", "interrupted: its worker stopped before the trial ended")


def _score(trial, config: SearchConfig) -> tuple[float, float]:
    """How trials rank (higher is better): the objective, ties broken by the lower validation loss."""
    return config.rank(trial.value), -trial.user_attrs.get("val_loss", math.inf)


def _patience(trials) -> float:
    """Seconds after which a running trial of another host counts as dead: ten times the
    median finished trial's, at least 10 minutes."""
    durations = sorted(t.duration.total_seconds() for t in trials
                       if t.state.name == "COMPLETE" and t.duration is not None)
    return max(600.0, 10 * durations[len(durations) // 2]) if durations else 600.0


def _fresh_claim(trial, now: datetime.datetime) -> bool:
    """Whether ``trial`` was asked for less than :data:`CLAIM_SECONDS` ago; ``abs`` because
    another machine's clock may be ahead of this one."""
    start = trial.datetime_start
    return start is not None and abs((now - start).total_seconds()) < CLAIM_SECONDS


def _alive(pid: Any) -> bool:
    """Whether the process ``pid`` of this host still runs. A worker this process started
    (``--workers``) that died is a zombie until it is reaped, and signal 0 still reaches a
    zombie: ask ``waitid`` first, without reaping it (its exit code is collected later)."""
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if hasattr(os, "waitid"):  # not on Windows
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return False  # our child, and it has exited
        except ChildProcessError:
            pass  # not our child: signal 0 tells whether it exists
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Search:
    """An opened study: :meth:`run` works on it, :meth:`summary` and :meth:`train_final` read it."""

    config: SearchConfig
    run_dir: Path
    study: Any
    storage_label: str
    splits: list[Split] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, config: SearchConfig | None, run_dir: str | Path, storage: str | None = None,
             study_name: str | None = None, resume: bool = False,
             trials: int | None = None, data: dict[str, Dataset] | None = None,
             check_stored: Callable[[SearchConfig], None] | None = None,
             dataset: str | None = None) -> Search:
        """Create the study, join it (same search) or, with ``resume``, continue the stored one.

        With ``resume`` the stored configuration is used (``config`` may be None), after
        ``check_stored(stored)`` has had the chance to refuse it (before any data is read or
        anything is stored), and ``trials`` raises or lowers the budget. Joining a stored
        search keeps its budget: a ``trials`` that differs from it gets a warning (None, as
        when no ``--trials`` was given, asks for no budget, so none). ``data``
        (``{"train": Dataset}``) is the training split, read from the configured data set
        when not given. A new search is checked (its settings, every parameter's values alone
        and together, its validation splits or folds) before the storage is opened, so that a
        search that cannot run leaves no study, no journal file and no run folder behind.
        ``dataset``, on resume: where an image folder that is no longer where the search
        found it is now (:func:`_readable_here`).
        """
        run_dir = Path(run_dir)
        name = study_name or run_dir.name
        optuna = require_extra("optuna", "search")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        label = _masked(storage) if storage else str(run_dir / STORAGE_FILE)
        summary = _read_summary(run_dir)
        stored_file = _stored_file(storage, run_dir)
        if resume and stored_file is not None and not stored_file.is_file():
            # before opening the journal (or an SQLite URL's file) would create it
            raise _nothing_to_resume(name, label, run_dir, summary)
        journal = None
        if not resume:
            if config is None:
                raise SearchError("give the search to run (or --resume an existing one)")
            if not _same_search(summary, name, label):  # before the storage or a journal is opened
                raise _another_search(run_dir, summary, name, label)
            check_outside_the_data(config.base.dataset, run_dir)  # before its folder is made
            training_files = previous_run_files(run_dir)
            if training_files:  # its summary and report would mix with a training run's files
                raise SearchError(f"{run_dir} holds a training run ({', '.join(training_files)}); give "
                                  "the search another --out (or --name)")
            train = cls._training_split(config.validate(), data)
            splits = cls._splits(config, train, check=True)
            journal = _check_journal_holds_no_other_search(run_dir, name, label, own=storage is None)
        # the journal the check opened is this search's storage when it has no --storage
        backend = journal if storage is None and journal is not None else open_storage(storage, run_dir)
        try:
            study = optuna.load_study(study_name=name, storage=backend)
        except KeyError:
            study = None
        except ValueError as exc:  # a journal line that does not read
            if storage is not None:
                raise
            raise damaged_journal(run_dir / STORAGE_FILE, exc) from None
        stored = study.user_attrs.get(CONFIG_ATTR) if study is not None else None
        if resume:
            if stored is None:
                raise _nothing_to_resume(name, label, run_dir, summary)
            if not _same_search(summary, name, label):
                raise _another_search(run_dir, summary, name, label)
            as_stored = SearchConfig.from_dict(stored)
            config = _readable_here(as_stored, study.user_attrs.get(FOLDER_ATTR), dataset)
            if check_stored is not None:
                check_stored(config)
            train = cls._training_split(config, data)
            splits = cls._splits(config, train)
            _check_same_classes(config, splits, study.user_attrs.get(CLASSES_ATTR))
            _check_same_files(config, train, study.user_attrs.get(FINGERPRINT_ATTR))
            if trials is not None and trials != config.trials:
                used = sum(1 for t in study.trials if _counts(t) and t.state.name != "RUNNING")
                if trials < used:
                    raise SearchError(f"--trials {trials} is fewer than the {used} trials this search "
                                      f"has already run; give at least {used} (the new total), or "
                                      "leave --trials out")
                config = dataclasses.replace(config, trials=trials).validate()
                # the folder as stored (typed), not as this process reads it
                study.set_user_attr(CONFIG_ATTR, dataclasses.replace(as_stored, trials=trials).to_dict())
        else:
            if study is None:
                study = optuna.create_study(study_name=name, storage=backend,
                                            direction=config.direction, load_if_exists=True)
            if stored is None:
                # The configuration last: a worker starting at the same moment that already
                # sees it must find round 0 too (it found no round and crashed).
                study.set_user_attr("round_0", [p.to_dict() for p in config.params])
                if is_folder(config.base.dataset):
                    study.set_user_attr(FOLDER_ATTR, locator(config.base.dataset))
                    study.set_user_attr(CLASSES_ATTR, list(splits[0][0].class_names))
                    if "fingerprint" in train.info:
                        study.set_user_attr(FINGERPRINT_ATTR, _recorded_fingerprint(train))
                study.set_user_attr(CONFIG_ATTR, config.to_dict())
            else:
                config = cls._joined(config, SearchConfig.from_dict(stored), label, name, trials,
                                     study.user_attrs.get(FOLDER_ATTR))
                _check_same_classes(config, splits, study.user_attrs.get(CLASSES_ATTR))
                _check_same_files(config, train, study.user_attrs.get(FINGERPRINT_ATTR))
        study.pruner = _pruner(config.pruner, config.folds or config.base.epochs)
        return cls(config, run_dir, study, label, splits)

    @staticmethod
    def _joined(config: SearchConfig, stored: SearchConfig, label: str, name: str,
                trials: int | None, recorded: str | None = None) -> SearchConfig:
        """The configuration a worker joining the stored search runs with: the stored one.
        Only the budget may differ: it is the whole study's, which ``--resume --trials N``
        may have changed since the command was first started; a budget this command was
        given (``trials``) that differs from it gets a warning. An image folder: where the
        folder the search ``recorded`` when it started is there, the worker must read that
        one (a same-named folder in another directory is not it), however it is written
        (``./photos``, its absolute path); elsewhere (another machine) the stored path as
        typed is read from the worker's directory, also when written another way there."""
        dataset, typed = config.base.dataset, stored.base.dataset
        if dataset not in LOADERS and typed not in LOADERS:
            here = recorded if recorded and Path(recorded).is_dir() else None
            given = locator(dataset)
            if here is not None and given != here:
                raise SearchError(f"the search {name!r} in {label} reads the image folder {here}, "
                                  f"and --dataset {dataset} is {given}: give --dataset "
                                  f"{here} (or run the command from where the search started)")
            if given == (here or locator(typed)):  # one folder, written another way
                stored = dataclasses.replace(stored, base=dataclasses.replace(stored.base, dataset=dataset))
        same_budget = dataclasses.replace(config, trials=stored.trials)
        if stored.to_dict() != same_budget.to_dict():
            differences = _differences(stored.to_dict(), same_budget.to_dict())  # not the budget
            raise SearchError(f"{label} already holds a different search named {name!r} "
                              f"({differences}); continue it with --resume or choose another "
                              "--name/--study-name")
        if trials is not None and trials != stored.trials:
            warnings.warn(f"joining the search {name!r}, whose budget is {stored.trials} trials (this "
                          f"command's is {trials}; --resume --trials N changes the budget)",
                          GlassnetWarning, stacklevel=user_stacklevel())
        return stored

    @staticmethod
    def _training_split(config: SearchConfig, data: dict[str, Dataset] | None) -> Dataset:
        """``data["train"]``, or the training split read from the configured data set."""
        return (data if data is not None else load_data(config.base, splits=("train",)))["train"]

    @staticmethod
    def _splits(config: SearchConfig, train: Dataset, check: bool = False) -> list[Split]:
        """The trials' validation splits (or folds) of the training split ``train``; with
        ``check``, first every parameter's values as a trial would train them (:func:`check_values`)."""
        if check:
            check_values(config, train)
        return validation_splits(config, train)

    # -- running trials --------------------------------------------------------------------
    def current_round(self) -> tuple[int, list[ParamSpec]]:
        attrs = self.study.user_attrs
        index = max(int(k.split("_")[1]) for k in attrs if k.startswith("round_"))
        return index, [ParamSpec.from_dict(p) for p in attrs[f"round_{index}"]]

    def fail_interrupted(self) -> list[int]:
        """Mark trials whose worker died as failed (they do not count toward the budget).

        A trial of this host is dead when its process is gone; a trial of another host when
        it has been running ten times as long as the median finished trial (at least 10 min);
        a trial nobody labelled when it is no longer a fresh claim (:data:`CLAIM_SECONDS`).
        """
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        patience = _patience(trials)
        host, now, failed = socket.gethostname(), datetime.datetime.now(), []
        for t in trials:
            if t.state != TrialState.RUNNING:
                continue
            if "pid" not in t.user_attrs:  # its worker died between asking and labelling it
                dead = not _fresh_claim(t, now)
            elif t.user_attrs.get("host") == host:
                # This process runs no trial while it checks: a trial under its own pid is a
                # dead worker's whose pid came back (a restarted container, pid 1 again).
                pid = t.user_attrs["pid"]
                dead = pid == os.getpid() or not _alive(pid)
            else:
                dead = (now - t.datetime_start).total_seconds() > patience
            if dead:
                self.study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                failed.append(t.number)
        return failed

    def retry_interrupted(self) -> list[int]:
        """Queue again, once each, the settings of this round's trials that an interruption cut
        short (Ctrl-C, a worker that died: failed without an error of their own), so that a
        search resumed after a crash still trains every setting it drew; returns their numbers.
        """
        from optuna.trial import TrialState

        index = self.current_round()[0]
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        queued = []
        for t in trials:
            if (t.state == TrialState.FAIL and t.params and t.number not in retried
                    and t.user_attrs.get("round") == index
                    and not {"error", "surplus"} & set(t.user_attrs)):
                self.study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
                queued.append(t.number)
        return queued

    def waiting_for(self, trial) -> str:
        """What a worker waits for while ``trial`` (running in another worker) finishes."""
        host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
        where = f"on {host}, process {pid}" if host is not None else "not yet labelled by its worker"
        since = trial.datetime_start
        text = f"waiting for trial {trial.number} ({where}, running since {since:%Y-%m-%d %H:%M:%S})"
        if host is not None and host != socket.gethostname():
            dead_at = since + datetime.timedelta(seconds=_patience(self.study.get_trials(deepcopy=False)))
            text += f"; if it has not finished by {dead_at:%Y-%m-%d %H:%M:%S}, its worker counts as dead"
        return text

    def run(self, on_trial: Callable[[TrialRecord], None] | None = None, poll: float = 1.0,
            on_wait: Callable[[str], None] | None = None) -> int:
        """Run trials until the study's budget is used up; returns how many this worker ran.

        A worker returns when every trial of the last round has finished, including those
        other workers run, so that its summary covers the whole study; ``on_wait`` is told
        (once per trial) what it waits for meanwhile.
        """
        self.fail_interrupted()
        self.retry_interrupted()
        ran, announced = 0, set()
        while True:
            index, specs = self.current_round()
            in_round = [t for t in self._trials() if t.user_attrs.get("round") == index and _counts(t)]
            if len(in_round) < self._round_budget(index):
                record = TrialRunner(self.config, self.run_dir, self.splits).run(
                    self.study, index, specs, within_budget=partial(self._within_budget, index=index))
                if record is None:  # another worker took the place: look again shortly
                    time.sleep(poll)
                    continue
                ran += 1
                if on_trial is not None:
                    on_trial(record)
            elif any(not t.state.is_finished() for t in in_round):
                for t in in_round:  # other workers are finishing this round's last trials
                    if not t.state.is_finished() and t.number not in announced and on_wait is not None:
                        announced.add(t.number)
                        on_wait(self.waiting_for(t))
                time.sleep(poll)
                if self.fail_interrupted():
                    self.retry_interrupted()
            elif index + 1 >= self.config.rounds:
                return ran
            else:
                results = [(t.params, _score(t, self.config)) for t in in_round if t.state.name == "COMPLETE"]
                self.study.set_user_attr(f"round_{index + 1}",
                                         [p.to_dict() for p in narrow(specs, results)])

    def _within_budget(self, number: int, index: int) -> bool:
        """Whether trial ``number``, just asked for round ``index``, has a place in the round.

        Two workers can both see the round's last free place and each ask for a trial; the
        earlier trial number keeps the place. A trial asked for in the last minute that has
        no round yet counts as a rival (its worker is about to set it; the later trial gives
        way and looks again); an older one was left by a worker that died in between."""
        from optuna.trial import TrialState

        now = datetime.datetime.now()

        def rival(t) -> bool:
            if "round" in t.user_attrs:
                return t.user_attrs["round"] == index
            return t.state == TrialState.RUNNING and _fresh_claim(t, now)

        earlier = [t for t in self._trials() if t.number < number and _counts(t) and rival(t)]
        return len(earlier) < self._round_budget(index)

    def _round_budget(self, index: int) -> int:
        """Trials round ``index`` may run (:meth:`SearchConfig.per_round`), given the trials
        that the rounds before it ran."""
        earlier_rounds = range(index)
        used = sum(1 for t in self._trials() if _counts(t) and t.user_attrs.get("round") in earlier_rounds)
        return self.config.per_round(index, used)

    def _trials(self) -> list:
        """The study's trials, without the surplus claims of :meth:`_within_budget`."""
        return [t for t in self.study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]

    # -- results ---------------------------------------------------------------------------
    def best_trial(self):
        """The complete trial with the best objective (ties: lower validation loss, earlier)."""
        best = self._best_or_none()
        if best is None:
            raise SearchError(f"no trial of {self.study.study_name!r} has completed yet")
        return best

    def _best_or_none(self):
        """:meth:`best_trial`, or None when no trial has completed."""
        complete = [t for t in self._trials() if t.state.name == "COMPLETE"]
        return max(complete, key=lambda t: (*_score(t, self.config), -t.number), default=None)

    def best_config(self) -> RunConfig:
        """The best trial's run, trained on all training data (train + validation) for the
        trial's best epoch (see :func:`~glassnet.search_config.final_config`)."""
        best = self.best_trial()
        config = final_config(self.config.base, best.params, best.user_attrs.get("best_epoch"))
        config.out = str(self.run_dir / "final")
        return config

    def rounds(self) -> list[dict[str, Any]]:
        """Each round as ``search.json`` holds it: its number (from 1), trials, ranges, best
        value, and ``narrowed``: whether its results narrowed the next round's ranges (False
        when fewer than :data:`NARROW_MIN` of its trials completed; None for the last round,
        which no round follows)."""
        attrs = self.study.user_attrs
        trials = self._trials()
        out = []
        for index in range(self.config.rounds):
            if f"round_{index}" not in attrs:
                break
            mine = [t for t in trials if t.user_attrs.get("round") == index]
            values = [t.value for t in mine if t.state.name == "COMPLETE"]
            best = max(values, key=self.config.rank) if values else None
            specs = [ParamSpec.from_dict(p) for p in attrs[f"round_{index}"]]
            followed = f"round_{index + 1}" in attrs  # narrow() made the next round from this one
            out.append({"round": index + 1, "trials": len(mine),
                        "ranges": {spec.name: spec.describe() for spec in specs},
                        "best_value": best, "narrowed": len(values) >= NARROW_MIN if followed else None})
        return out

    def trial_rows(self) -> list[dict[str, Any]]:
        from optuna.trial import TrialState

        rows = []
        for t in self._trials():
            value = t.value  # a pruned trial has none (a failed one neither): its score at its
            if t.state == TrialState.PRUNED:  # best epoch, as the live table shows it
                value = t.user_attrs.get(self.config.objective)
                if value is None and t.intermediate_values:  # stopped before any record
                    value = t.intermediate_values[max(t.intermediate_values)]
            round_index = t.user_attrs.get("round")
            rows.append({"number": t.number, "state": t.state.name.lower(), "value": value,
                         **{key: t.user_attrs.get(key) for key in SCORES},
                         "round": None if round_index is None else round_index + 1,  # from 1
                         "epochs": t.user_attrs.get("epochs"),
                         "best_epoch": t.user_attrs.get("best_epoch"), "params": dict(t.params),
                         "error": _failure(t)})
        return rows

    def summary(self, plot: bool = True) -> dict[str, Any]:
        """Best trial, rounds and all trials; writes ``search.json``, the scatter plot and the
        report. Without ``plot`` no new plot or report is made, but those already in the run
        folder are redrawn (as :meth:`train_final` rewrites the report), so that they never
        show fewer trials than ``search.json`` (a ``--resume --no-plot``).

        ``value`` is the objective (``objective``, labelled ``objective_label``); every trial
        also carries its validation loss, accuracy and balanced accuracy, all at its best
        epoch (``best_epoch``; means over the folds with ``--folds``), and a failed trial its
        reason (``error``). When no trial completed, ``best`` is None (the trials say why).
        """
        best = self._best_or_none()
        data = {"study": self.study.study_name, "storage": self.storage_label,
                # as the study stores it (an image folder as typed), not as this process reads it
                "config": self.study.user_attrs.get(CONFIG_ATTR, self.config.to_dict()),
                "objective": self.config.objective,
                "objective_label": self.config.objective_label,
                "validation": self.config.describe_validation(),
                "best": None if best is None else self._best_summary(best),
                "rounds": self.rounds(), "trials": self.trial_rows()}
        stored = self._stored_summary()
        final = stored.get("final") or stored.get("outdated_final")
        if best is not None and final and final.get("trial", best.number) == best.number:
            # another worker trained the best setting already: keep it (a null loss as NaN)
            data["final"] = {key: nan_for_null(value) for key, value in final.items()}
        elif final:  # final/ holds the model of a trial that is no longer the best
            data["outdated_final"] = {key: nan_for_null(value) for key, value in final.items()}
        if plot or (self.run_dir / PLOT_FILE).exists():
            from .report.search_plots import plot_search_scatter

            data["plot"] = str(plot_search_scatter(data["trials"], self.config.params,
                                                   self.run_dir / PLOT_FILE, data["objective_label"],
                                                   None if best is None else best.number))
        self._write(data, report=plot or self._has_report())
        return data

    def _best_summary(self, best) -> dict[str, Any]:
        """The best trial as ``search.json`` holds it, with the command that trains it."""
        return {"number": best.number, "value": best.value,
                **{key: best.user_attrs.get(key) for key in SCORES},
                "best_epoch": best.user_attrs.get("best_epoch"), "epochs": best.user_attrs.get("epochs"),
                "params": dict(best.params), "train_command": train_command(self.best_config())}

    def _write(self, data: dict[str, Any], report: bool) -> None:
        """``search.json`` and (with ``report``) the self-contained ``search_report.html``."""
        write_json(self.run_dir / SUMMARY_FILE, data)
        if report:
            from .report.search_plots import search_report_html

            write_text(self.run_dir / REPORT_FILE, search_report_html(data, self.config.params))

    def _has_report(self) -> bool:
        """Whether the run folder has a ``search_report.html``, which a new summary rewrites."""
        return (self.run_dir / REPORT_FILE).exists()

    def _stored_summary(self) -> dict[str, Any]:
        """The ``search.json`` this search wrote so far (this or another of its workers), or
        ``{}``: also when it is another search's (the folder was shared before open refused
        that), whose ``final`` is not this search's."""
        summary = _read_summary(self.run_dir)
        return summary if _same_search(summary, self.study.study_name, self.storage_label) else {}

    def train_final(self, verbose: int = 0) -> RunResult:
        """Train the best configuration on train + validation and evaluate it once on test."""
        config = self.best_config()
        result = train_run(config, verbose=verbose, data=load_data(config))
        data = self._stored_summary()
        if data:
            kept = {k: result.metrics[k] for k in ("train", "test", "epochs") if k in result.metrics}
            data["final"] = {"trial": self.best_trial().number, **kept}
            data.pop("outdated_final", None)
            self._write(data, report=self._has_report())
        return result


__all__ = ["Search", "SearchConfig", "TrialRecord", "apply_params", "open_storage", "train_command",
           "validation_balanced_accuracy"]
