"""One trial of a hyperparameter search: sample its parameters, train it on every
validation split (fold), score it at its best epoch, tell the study; and what the study's
record of a trial tells the search's workers (whether it counts toward the budget, why it
failed, how it ranks, whether a running one's worker is still alive).

:class:`TrialRunner` does it for a :class:`~glassnet.search.Search`; the scoring itself
(curves, folds, best epoch) is :mod:`glassnet.search_scoring`.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import socket
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._files import write_json
from .errors import CollapsedModelWarning
from .runs import RunConfig, train_run
from .search_checks import trial_problem
from .search_config import SearchConfig, apply_params
from .search_scoring import BestEpoch, Curve, CurveRecorder, Split, best_epoch, mean_curve, smooth_curve
from .search_space import ParamSpec

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

CURVE_FILE = "validation.json"  # in each trial's folder: its mean validation curve


@dataclass
class TrialRecord:
    """One finished trial, as the live table shows it."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    epochs: int
    round: int
    note: str = ""
    val_loss: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None


def _sampler(name: str, seed: int, specs: list[ParamSpec] = ()):
    import optuna

    if name == "random":
        return _random_sampler(seed, {spec.name: spec.choices for spec in specs if spec.narrowed})
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)


def _random_sampler(seed: int, kept: dict[str, tuple]):
    """Optuna's random sampler, except that a narrowed choice draws only from the values its
    round kept (``kept``: name -> values), while the study still knows the choice by all its
    values. (The class is made here because Optuna, an optional extra, is imported only
    when used.)"""
    import optuna

    class KeptChoicesSampler(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, param_name, param_distribution):
            if param_name in kept:
                return kept[param_name][int(draw.integers(len(kept[param_name])))]
            return super().sample_independent(study, trial, param_name, param_distribution)

    draw = np.random.default_rng(seed)
    return KeptChoicesSampler(seed=seed)


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: the same draws whichever worker runs it."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _report(trial, steps: int, step: int, value: float) -> bool:
    """Give the pruner ``value`` at ``step`` of ``steps`` (epochs, or folds); True when it
    prunes the trial. Never at the last step: that trial has trained all it would, so it is
    complete (a pruned trial is left out of the best trial and of narrowing)."""
    trial.report(value, step=step)
    return step < steps and trial.should_prune()


@dataclass
class _Outcome:
    """What a trial's training runs ended with: one curve per run, and how they ended."""

    curves: list[Curve]
    state: str = "complete"  # or "pruned", "failed"
    note: str = ""
    error: str | None = None


def _suggest(trial, spec: ParamSpec) -> Any:
    if spec.kind == "choice":
        return trial.suggest_categorical(spec.name, list(spec.all_choices))
    if spec.kind == "int":
        return trial.suggest_int(spec.name, int(spec.low), int(spec.high))
    return trial.suggest_float(spec.name, spec.low, spec.high, log=spec.log)


@dataclass
class TrialRunner:
    """Runs trials of a search: ``config``, the run folder and the validation ``splits``."""

    config: SearchConfig
    run_dir: Path
    splits: list[Split]

    def run(self, study: Study, index: int, specs: list[ParamSpec],
            within_budget: Callable[[int], bool] | None = None) -> TrialRecord | None:
        """Ask ``study`` for a trial of round ``index``, train and score it, tell the result.

        ``within_budget(number)`` is asked once the trial exists: when it says no (another
        worker claimed the round's last place first), the trial is closed as a ``surplus``
        claim that counts nowhere, and ``None`` is returned."""
        from optuna.trial import TrialState

        trial = study.ask()
        for key, value in (("round", index), ("host", socket.gethostname()), ("pid", os.getpid())):
            trial.set_user_attr(key, value)
        if within_budget is not None and not within_budget(trial.number):
            trial.set_user_attr("surplus", True)
            study.tell(trial, state=TrialState.FAIL)
            return None
        study.sampler = _sampler(self.config.sampler, trial_seed(self.config.base.seed, trial.number), specs)
        params = {spec.name: _suggest(trial, spec) for spec in specs}
        problem = trial_problem(self.config.base, params, self.splits[0][0])
        if problem is not None:  # values that cannot go together (adam with a momentum)
            trial.set_user_attr("error", problem)
            trial.set_user_attr("epochs", 0)
            study.tell(trial, state=TrialState.FAIL)
            return TrialRecord(trial.number, "failed", None, params, 0, index, f"cannot train: {problem}")
        try:
            outcome = self._train(trial, apply_params(self.config.base, params))
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                trial.set_user_attr("error", str(exc))
            study.tell(trial, state=TrialState.FAIL)
            raise
        curve = mean_curve(outcome.curves)
        best = self._record(trial, curve, len(outcome.curves))
        record = TrialRecord(trial.number, outcome.state, None, params, len(curve["val_loss"]), index,
                             outcome.note)
        if best is not None:
            record.value, record.val_loss = best.scores[self.config.objective], best.scores["val_loss"]
            record.scores, record.best_epoch = best.scores, best.epoch
        if outcome.error is not None:
            trial.set_user_attr("error", outcome.error)
            study.tell(trial, state=TrialState.FAIL)
            record.value = None  # a failed trial has no score, in the live table as in search.json
        elif outcome.state == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, record.value)
        return record

    def _train(self, trial, config: RunConfig) -> _Outcome:
        """Train ``config`` on each validation split (fold) in turn, reporting to the pruner.

        One split: the objective after every epoch. K folds: after each fold, the trial's
        score so far (the best epoch of the mean curve of the folds done).
        """
        outcome, folds = _Outcome([]), len(self.splits)
        objective = self.config.objective

        def report_epoch(epoch: int, curve: Curve) -> bool:
            # the score the trial is ranked by, its best (smoothed) epoch so far, not this
            # epoch's: a leading trial whose curve dipped for an epoch was pruned
            return _report(trial, config.epochs, epoch, self._best(mean_curve([curve])).scores[objective])

        for k, (train, validation) in enumerate(self.splits):
            recorder = CurveRecorder(validation, report=report_epoch if folds == 1 else None)
            with warnings.catch_warnings():
                # a search tries bad settings on purpose: a collapsed model's score says so
                warnings.simplefilter("ignore", CollapsedModelWarning)
                result = train_run(self._run_config(config, trial.number, k), callbacks=[recorder],
                                   verbose=0, data={"train": train, "validation": validation})
            outcome.curves.append(recorder.curve)
            where = f" of fold {k + 1}" if folds > 1 else ""
            if result.error is not None:
                outcome.state, outcome.error = "failed", str(result.error)
                outcome.note = f"non-finite loss at epoch {result.error.epoch}{where}"
                break
            if recorder.stopped_at is not None:
                outcome.state, outcome.note = "pruned", f"stopped after epoch {recorder.stopped_at}"
                break
            if folds > 1:
                so_far = self._best(mean_curve(outcome.curves))
                if _report(trial, folds, k + 1, so_far.scores[objective]):
                    outcome.state, outcome.note = "pruned", f"stopped after fold {k + 1} of {folds}"
                    break
        return outcome

    def _run_config(self, config: RunConfig, number: int, fold: int) -> RunConfig:
        """The trial's run on split ``fold``: ``trials/NNNN/`` (``trials/NNNN/fold-K/`` with folds)."""
        run = dataclasses.replace(config, validation_split=None, extra=dict(config.extra))
        out = self.run_dir / "trials" / f"{number:04d}"
        run.out = str(out / f"fold-{fold + 1}" if self.config.folds else out)
        run.extra["report"] = False  # a trial's files are for the search; no HTML report each
        run.extra["search_trial"] = {"number": number, "search": str(self.run_dir)}  # for `glassnet report`
        run.extra["validation"] = (f"fold {fold + 1} of {self.config.folds}" if self.config.folds
                                   else f"validation split {self.config.base.validation_split:g}")
        # how the validation data was carved, so that `glassnet report` makes it again
        run.extra["holdout"] = ({"folds": self.config.folds, "fold": fold + 1} if self.config.folds
                                else {"validation_split": self.config.base.validation_split})
        return run

    def _best(self, curve: dict[str, np.ndarray]) -> BestEpoch:
        """The best epoch of a (mean) curve, after ``--smooth``."""
        return best_epoch(smooth_curve(curve, self.config.smooth), self.config.objective,
                          self.config.direction == "maximize")

    def _record(self, trial, curve: dict[str, np.ndarray], folds_done: int) -> BestEpoch | None:
        """Store the trial's scores at the best epoch of its mean ``curve`` (user attributes)
        and the curve itself (``trials/NNNN/validation.json``); returns the best epoch, or
        None when not one epoch was completed."""
        epochs = len(curve["val_loss"])
        trial.set_user_attr("epochs", epochs)
        if not epochs:
            return None
        best = self._best(curve)
        for key, value in (*best.scores.items(), ("best_epoch", best.epoch), ("folds_done", folds_done)):
            trial.set_user_attr(key, value)
        write_json(self.run_dir / "trials" / f"{trial.number:04d}" / CURVE_FILE, {
            "objective": self.config.objective, "validation": self.config.describe_validation(),
            "folds_done": folds_done, "smooth": self.config.smooth, "best_epoch": best.epoch,
            "best": best.scores,
            "mean": {key: values.tolist() for key, values in curve.items()}})
        return best


# -- a trial as the study records it: what the search's workers read of it ---------------
# A trial without a round this many seconds after it was asked for is an orphan (its worker
# died between asking and labelling it), no longer a rival for a round's last place.
CLAIM_SECONDS = 60.0


def counts(trial: FrozenTrial) -> bool:
    """Trials that use up the budget: all but those a crashed worker left behind."""
    from optuna.trial import TrialState

    return trial.state != TrialState.FAIL or "error" in trial.user_attrs


def failure(trial: FrozenTrial) -> str | None:
    """Why a failed trial failed (None for any other): its error, or its worker's end."""
    if trial.state.name != "FAIL":
        return None
    return trial.user_attrs.get("error", "interrupted: its worker stopped before the trial ended")


def score(trial: FrozenTrial, config: SearchConfig) -> tuple[float, float]:
    """How trials rank (higher is better): the objective, ties broken by the lower validation loss."""
    return config.rank(trial.value), -trial.user_attrs.get("val_loss", math.inf)


def worker_patience(trials: Iterable[FrozenTrial]) -> float:
    """Seconds after which a running trial of another host counts as dead: ten times the
    median finished trial's, at least 10 minutes."""
    durations = sorted(t.duration.total_seconds() for t in trials
                       if t.state.name == "COMPLETE" and t.duration is not None)
    return max(600.0, 10 * durations[len(durations) // 2]) if durations else 600.0


def fresh_claim(trial: FrozenTrial, now: datetime.datetime) -> bool:
    """Whether ``trial`` was asked for less than :data:`CLAIM_SECONDS` ago; ``abs`` because
    another machine's clock may be ahead of this one."""
    start = trial.datetime_start
    return start is not None and abs((now - start).total_seconds()) < CLAIM_SECONDS


def unlabelled_claim(trial: FrozenTrial, now: datetime.datetime) -> bool:
    """Whether ``trial`` is a :func:`fresh_claim` still running without a round: another
    worker has just asked for it and is about to label it (an older one is a dead worker's)."""
    from optuna.trial import TrialState

    return "round" not in trial.user_attrs and trial.state == TrialState.RUNNING and fresh_claim(trial, now)


def alive(pid: Any) -> bool:
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
