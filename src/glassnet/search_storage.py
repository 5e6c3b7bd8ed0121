"""Where a hyperparameter search's study lives: Optuna storage, opened with clear errors.

By default a journal file ``runs/<name>/search.journal`` that any number of local worker
processes share safely (Optuna's own lock file beside it, a lock a killed worker left
removed, a record a killed worker left half-written cut off, a damaged journal named as
such); else any SQLAlchemy URL (``postgresql://...``) that workers on many machines join
(what to install for its driver, its password never shown). :class:`~glassnet.search.Search`
opens its study here; :mod:`glassnet.search_resume` checks that a stored study is the
search that was asked for.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ._files import make_folder
from .errors import GlassnetWarning, SearchError, require_extra, user_stacklevel
from .run_folders import SEARCH_FILE_NAMES

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.storages.journal import JournalFileSymlinkLock

STORAGE_FILE = SEARCH_FILE_NAMES[0]
JOURNAL_LOCK_SUFFIX = ".lock"  # Optuna's JournalFileSymlinkLock: <journal>.lock
#: seconds after which a journal lock is taken as a killed worker's and released (Optuna's
#: default, 30, made a search resumed after a SIGKILL mid-write wait half a minute); a live
#: worker holds the lock only while it appends a record, milliseconds
LOCK_GRACE_SECONDS = 10


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


def masked(url: str) -> str:
    """``url`` as messages show it: without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any unparsable URL is shown without its credentials
        return url.split("@")[-1]


def _journal_lock(journal: Path) -> JournalFileSymlinkLock:
    """Optuna's lock of ``journal`` (a symbolic link beside it), taken as a killed worker's
    and released after :data:`LOCK_GRACE_SECONDS`."""
    from optuna.storages.journal import JournalFileSymlinkLock

    return JournalFileSymlinkLock(str(journal), grace_period=LOCK_GRACE_SECONDS)


def _drop_partial_last_line(journal: Path) -> None:
    """Cut off a last line without its newline: the record a worker killed in the middle of a
    write left. Optuna skips it when reading, but the next write would join it to a new
    record, and from then on every read fails. Done under Optuna's own lock, so it is never
    a write still in progress."""
    if not _ends_mid_line(journal):  # the usual case: one byte read, no lock taken
        return
    lock = _journal_lock(journal)
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


def open_storage(url: str | None, run_dir: Path) -> BaseStorage:
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
            backend = JournalFileBackend(str(journal), lock_obj=_journal_lock(journal))
            return optuna.storages.JournalStorage(backend)
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
            raise SearchError(f"the storage {masked(url)} needs a database driver: {exc} "
                              f"({driver_advice(url)})") from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean "unusable"
            if _lost_the_schema_race(exc) and attempt < 2:
                time.sleep(0.5 + attempt)  # the tables now exist: open them
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SearchError(f"cannot open the storage {masked(url)}: {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _lost_the_schema_race(exc: Exception) -> bool:
    """Whether opening an RDB storage failed because another worker, started at the same
    moment on a new database, created Optuna's tables first: PostgreSQL says so as a
    duplicate key (``IntegrityError``) or, when both ran ``CREATE TABLE``, as a relation
    that "already exists" (``ProgrammingError``)."""
    name = type(exc).__name__
    return name == "IntegrityError" or (name == "ProgrammingError" and "already exists" in str(exc))


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
        raise SearchError(f"--workers {workers} cannot share the SQLite storage {masked(url)}: SQLite "
                          "locks under parallel writers. Leave out --storage (the journal file "
                          "runs/NAME/search.journal takes any number of local workers), use a "
                          "PostgreSQL URL, or run one worker")


def storage_file(storage: str | None, run_dir: Path) -> Path | None:
    """The file a search's storage lives in: the run folder's journal, or an SQLite URL's
    database (``sqlite:///runs/s.db``); ``None`` for a server's URL."""
    if storage is None:
        return run_dir / STORAGE_FILE
    scheme, _, rest = storage.partition(":///")
    if scheme.split("+", 1)[0] == "sqlite" and rest and rest != ":memory:":
        return Path(rest.split("?", 1)[0])
    return None
