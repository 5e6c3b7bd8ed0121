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
stored in the study). Studies live in Optuna storage (:mod:`glassnet.search_storage`): by
default a journal file ``runs/<name>/search.journal`` that any number of local worker
processes share safely, or any SQLAlchemy URL (``postgresql://...``) that workers on many
machines join.

Here :class:`Search` opens a study (a new one, or a stored one to join or resume, after the
checks of :mod:`glassnet.search_resume`) and runs its trials with any number of workers;
what the study tells afterwards (best trial, ``search.json``, report, final model) is
:mod:`glassnet.search_results`.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import Dataset, is_folder, locator
from .errors import SearchError, require_extra
from .run_data import load_data
from .run_folders import check_outside_the_data, previous_run_files
from .search_checks import check_values
from .search_config import SearchConfig, apply_params, train_command
from .search_results import SearchResults
from .search_resume import (
    CLASSES_ATTR,
    CONFIG_ATTR,
    FINGERPRINT_ATTR,
    FOLDER_ATTR,
    another_search,
    check_journal_holds_no_other_search,
    check_same_classes,
    check_same_files,
    joined_config,
    nothing_to_resume,
    read_summary,
    readable_here,
    recorded_fingerprint,
    same_search,
)
from .search_scoring import Split, validation_balanced_accuracy, validation_splits
from .search_space import ParamSpec, narrow
from .search_storage import STORAGE_FILE, damaged_journal, masked, open_storage, storage_file
from .search_trial import (
    TrialRecord,
    TrialRunner,
    alive,
    counts,
    fresh_claim,
    score,
    unlabelled_claim,
    worker_patience,
)

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def _pruner(name: str, steps: int):
    """The pruner for trials that report ``steps`` times (once per epoch, or per fold)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, steps // 4))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


@dataclass
class Search(SearchResults):
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
        found it is now (:func:`~glassnet.search_resume.readable_here`).
        """
        run_dir = Path(run_dir)
        name = study_name or run_dir.name
        optuna = require_extra("optuna", "search")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        label = masked(storage) if storage else str(run_dir / STORAGE_FILE)
        summary = read_summary(run_dir)
        stored_file = storage_file(storage, run_dir)
        if resume and stored_file is not None and not stored_file.is_file():
            # before opening the journal (or an SQLite URL's file) would create it
            raise nothing_to_resume(name, label, run_dir, summary)
        journal = None
        if not resume:
            if config is None:
                raise SearchError("give the search to run (or --resume an existing one)")
            if not same_search(summary, name, label):  # before the storage or a journal is opened
                raise another_search(run_dir, summary, name, label)
            check_outside_the_data(config.base.dataset, run_dir)  # before its folder is made
            training_files = previous_run_files(run_dir)
            if training_files:  # its summary and report would mix with a training run's files
                raise SearchError(f"{run_dir} holds a training run ({', '.join(training_files)}); give "
                                  "the search another --out (or --name)")
            train = cls._training_split(config.validate(), data)
            splits = cls._splits(config, train, check=True)
            journal = check_journal_holds_no_other_search(run_dir, name, label, own=storage is None)
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
                raise nothing_to_resume(name, label, run_dir, summary)
            if not same_search(summary, name, label):
                raise another_search(run_dir, summary, name, label)
            as_stored = SearchConfig.from_dict(stored)
            config = readable_here(as_stored, study.user_attrs.get(FOLDER_ATTR), dataset)
            if check_stored is not None:
                check_stored(config)
            train = cls._training_split(config, data)
            splits = cls._splits(config, train)
            check_same_classes(config, splits, study.user_attrs.get(CLASSES_ATTR))
            check_same_files(config, train, study.user_attrs.get(FINGERPRINT_ATTR))
            if trials is not None and trials != config.trials:
                used = sum(1 for t in study.trials if counts(t) and t.state.name != "RUNNING")
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
                        study.set_user_attr(FINGERPRINT_ATTR, recorded_fingerprint(train))
                study.set_user_attr(CONFIG_ATTR, config.to_dict())
            else:
                config = joined_config(config, SearchConfig.from_dict(stored), label, name, trials,
                                       study.user_attrs.get(FOLDER_ATTR))
                check_same_classes(config, splits, study.user_attrs.get(CLASSES_ATTR))
                check_same_files(config, train, study.user_attrs.get(FINGERPRINT_ATTR))
        study.pruner = _pruner(config.pruner, config.folds or config.base.epochs)
        return cls(config, run_dir, study, label, splits)

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
        a trial nobody labelled when it is no longer a fresh claim
        (:data:`~glassnet.search_trial.CLAIM_SECONDS`).
        """
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        patience = worker_patience(trials)
        host, now, failed = socket.gethostname(), datetime.datetime.now(), []
        for t in trials:
            if t.state != TrialState.RUNNING:
                continue
            if "pid" not in t.user_attrs:  # its worker died between asking and labelling it
                dead = not fresh_claim(t, now)
            elif t.user_attrs.get("host") == host:
                # This process runs no trial while it checks: a trial under its own pid is a
                # dead worker's whose pid came back (a restarted container, pid 1 again).
                pid = t.user_attrs["pid"]
                dead = pid == os.getpid() or not alive(pid)
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

    def waiting_for(self, trial: FrozenTrial) -> str:
        """What a worker waits for while ``trial`` (running in another worker) finishes."""
        host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
        where = f"on {host}, process {pid}" if host is not None else "not yet labelled by its worker"
        since = trial.datetime_start
        text = f"waiting for trial {trial.number} ({where}, running since {since:%Y-%m-%d %H:%M:%S})"
        if host is not None and host != socket.gethostname():
            patience = worker_patience(self.study.get_trials(deepcopy=False))
            dead_at = since + datetime.timedelta(seconds=patience)
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
            in_round = [t for t in self._trials() if t.user_attrs.get("round") == index and counts(t)]
            # a trial another worker has just asked for and not labelled yet holds a place too:
            # asking meanwhile made a surplus trial every poll (60 of them for a dead worker's)
            claims = self._unlabelled_claims()
            if len(in_round) + len(claims) < self._round_budget(index):
                record = TrialRunner(self.config, self.run_dir, self.splits).run(
                    self.study, index, specs, within_budget=partial(self._within_budget, index=index))
                if record is None:  # another worker took the place: look again shortly
                    time.sleep(poll)
                    continue
                ran += 1
                if on_trial is not None:
                    on_trial(record)
            elif claims or any(not t.state.is_finished() for t in in_round):
                for t in [*in_round, *claims]:  # other workers are finishing this round's last trials
                    if not t.state.is_finished() and t.number not in announced and on_wait is not None:
                        announced.add(t.number)
                        on_wait(self.waiting_for(t))
                time.sleep(poll)
                if self.fail_interrupted():
                    self.retry_interrupted()
            elif index + 1 >= self.config.rounds:
                return ran
            else:
                results = [(t.params, score(t, self.config)) for t in in_round if t.state.name == "COMPLETE"]
                self.study.set_user_attr(f"round_{index + 1}",
                                         [p.to_dict() for p in narrow(specs, results)])

    def _unlabelled_claims(self) -> list[FrozenTrial]:
        """Running trials asked for within :data:`~glassnet.search_trial.CLAIM_SECONDS` that
        no worker has labelled with a round yet (older ones are a dead worker's:
        :meth:`fail_interrupted` fails them)."""
        now = datetime.datetime.now()
        return [t for t in self._trials() if unlabelled_claim(t, now)]

    def _within_budget(self, number: int, index: int) -> bool:
        """Whether trial ``number``, just asked for round ``index``, has a place in the round.

        Two workers can both see the round's last free place and each ask for a trial; the
        earlier trial number keeps the place. A trial asked for in the last minute that has
        no round yet counts as a rival (its worker is about to set it; the later trial gives
        way and looks again); an older one was left by a worker that died in between."""
        now = datetime.datetime.now()

        def rival(t) -> bool:
            if "round" in t.user_attrs:
                return t.user_attrs["round"] == index
            return unlabelled_claim(t, now)

        earlier = [t for t in self._trials() if t.number < number and counts(t) and rival(t)]
        return len(earlier) < self._round_budget(index)

    def _round_budget(self, index: int) -> int:
        """Trials round ``index`` may run (:meth:`SearchConfig.per_round`), given the trials
        that the rounds before it ran."""
        earlier_rounds = range(index)
        used = sum(1 for t in self._trials() if counts(t) and t.user_attrs.get("round") in earlier_rounds)
        return self.config.per_round(index, used)


__all__ = ["Search", "SearchConfig", "TrialRecord", "apply_params", "open_storage", "train_command",
           "validation_balanced_accuracy"]
