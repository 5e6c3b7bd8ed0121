"""Is this the search that was recorded? The checks a search makes before it resumes a
stored study, joins one, or starts in a run folder that already holds one.

A search records itself in two places: its run folder's ``search.json`` (which study, in
which storage) and its study's attributes (its configuration, and for an image folder the
folder's absolute path, its classes and its fingerprint). Here: reading those records,
refusing another search's run folder or journal (with the options that continue that one),
finding the image folder from this process (it may have moved), refusing a folder with other
classes or changed files, and the configuration a joining worker runs with (the stored one:
only the budget may differ). The storage itself is :mod:`glassnet.search_storage`; the
:class:`~glassnet.search.Search` that makes these checks is :mod:`glassnet.search`.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import LOADERS, Dataset, locator
from .data.fingerprint import folder_change
from .errors import GlassnetWarning, SearchError, user_stacklevel
from .run_folders import SEARCH_FILE_NAMES
from .search_config import SearchConfig, resolved, setting_difference
from .search_scoring import Split
from .search_storage import STORAGE_FILE, open_storage

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

SUMMARY_FILE = SEARCH_FILE_NAMES[1]
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


def read_summary(run_dir: Path) -> dict[str, Any]:
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


def same_search(summary: dict[str, Any], study: str, label: str) -> bool:
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


def another_search(run_dir: Path, summary: dict[str, Any], study: str, label: str) -> SearchError:
    """The error for a search started in a folder that holds another search's results (they
    would be overwritten: its trials' run files, its search.json and its final model)."""
    return SearchError(f"the search {study!r} in {label} cannot run in {run_dir}: "
                       f"{_the_recorded_search(run_dir, summary, study, label)}, or give this one "
                       "another --name or --out (it would overwrite that one's trials and results)")


def check_journal_holds_no_other_search(run_dir: Path, study: str, label: str,
                                        own: bool) -> BaseStorage | None:
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


def nothing_to_resume(name: str, label: str, run_dir: Path, summary: dict[str, Any]) -> SearchError:
    """The error for ``--resume`` of a search that is not stored; when ``summary`` (the run
    folder's search.json) records another one, which, and how to continue it."""
    message = f"there is no search named {name!r} in {label} to resume"
    if not same_search(summary, name, label):
        return SearchError(f"{message}: {_the_recorded_search(run_dir, summary, name, label)}")
    return SearchError(f"{message}; start it without --resume")


def readable_here(config: SearchConfig, recorded: str | None, given: str | None = None) -> SearchConfig:
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


def check_same_classes(config: SearchConfig, splits: list[Split], recorded: list[str] | None) -> None:
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


def check_same_files(config: SearchConfig, train: Dataset, recorded: dict[str, Any] | None) -> None:
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


def recorded_fingerprint(train: Dataset) -> dict[str, Any]:
    """What the study keeps of the image folder's fingerprint: the signature of the images
    read, their count and what it is of (:func:`~glassnet.data.fingerprint.folder_change` reads it)."""
    fingerprint = train.info["fingerprint"]
    return {key: fingerprint[key] for key in ("signature", "files", "of") if key in fingerprint}


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


def joined_config(config: SearchConfig, stored: SearchConfig, label: str, name: str,
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
    # compared as the values the defaults stand for: --hidden 20,7,5 given or not, one search
    same_budget = resolved(dataclasses.replace(config, trials=stored.trials)).to_dict()
    if resolved(stored).to_dict() != same_budget:
        differences = _differences(resolved(stored).to_dict(), same_budget)  # not the budget
        raise SearchError(f"{label} already holds a different search named {name!r} "
                          f"({differences}); continue it with --resume or choose another "
                          "--name/--study-name")
    if trials is not None and trials != stored.trials:
        warnings.warn(f"joining the search {name!r}, whose budget is {stored.trials} trials (this "
                      f"command's is {trials}; --resume --trials N changes the budget)",
                      GlassnetWarning, stacklevel=user_stacklevel())
    return stored
