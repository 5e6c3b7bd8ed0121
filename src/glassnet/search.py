"""Hyperparameter search on Optuna (the optional extra ``glassnet[search]``).

Each trial samples parameters, trains the run's model for a few epochs on the training
split with :func:`glassnet.runs.train_run` and scores it on validation data carved from
the training split; the test split is not even loaded. The validation accuracy of every
epoch goes to an Optuna pruner that stops hopeless trials early.

Two strategies: ``plain`` (one Optuna sampler, TPE or random, over the whole budget) and
``narrow`` (the classic recipe: sample at random, shrink each range to the span of the
best quarter of the round's trials, repeat for ``rounds`` rounds; every round's ranges are
stored in the study). Studies live in Optuna storage: by default a journal file
``runs/<name>/search.journal`` that any number of local worker processes share safely,
or any SQLAlchemy URL (``postgresql://...``) that workers on many machines join.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import math
import os
import shlex
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import zoo
from ._files import write_json
from .data import Dataset
from .data import load as load_dataset
from .errors import ConfigError, SearchError, require_extra
from .runs import RunConfig, RunResult, parse_int_list, train_run
from .search_space import ParamSpec, check_unique, narrow
from .training.callbacks import Callback

STORAGE_FILE = "search.journal"
SUMMARY_FILE = "search.json"
PLOT_FILE = "search_scatter.png"
CONFIG_ATTR = "glassnet_search"
SAMPLERS = ("tpe", "random")
STRATEGIES = ("plain", "narrow")
PRUNERS = ("median", "halving", "none")
# RunConfig fields a search may not vary: they define the problem, not the model's settings.
FIXED_FIELDS = {"dataset", "model", "epochs", "seed", "dtype", "out", "extra", "validation_split"}


@dataclass
class SearchConfig:
    """What to search: the base run (``base.epochs`` = epochs per trial), the space, the budget."""

    base: RunConfig
    params: list[ParamSpec]
    trials: int = 30
    sampler: str = "tpe"
    strategy: str = "plain"
    rounds: int = 1
    pruner: str = "median"

    def validate(self) -> SearchConfig:
        check_unique(self.params)
        for name, value, allowed in (("sampler", self.sampler, SAMPLERS),
                                     ("strategy", self.strategy, STRATEGIES),
                                     ("pruner", self.pruner, PRUNERS)):
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        if self.strategy == "narrow" and self.sampler != "random":
            raise ConfigError("--strategy narrow samples at random inside each round's ranges; "
                              f"it cannot use --sampler {self.sampler}")
        if self.rounds < 1 or (self.strategy == "plain" and self.rounds != 1):
            raise ConfigError(f"--rounds {self.rounds} needs --strategy narrow (plain is one round)")
        if self.trials < self.rounds:
            raise ConfigError(f"--trials {self.trials} is fewer than --rounds {self.rounds}")
        if self.base.validation_split is None:
            raise ConfigError("a search scores trials on validation data: give a validation split")
        searchable = (set(RunConfig.__dataclass_fields__) - FIXED_FIELDS) | zoo.option_names(self.base.model)
        for spec in self.params:
            if spec.name not in searchable:
                raise ConfigError(f"cannot search {spec.name!r}: model {self.base.model!r} and the "
                                  f"training run take {', '.join(sorted(searchable))}")
        return self

    def per_round(self, round_index: int) -> int:
        """Trials in round ``round_index``: the budget split evenly, the remainder first."""
        base, extra = divmod(self.trials, self.rounds)
        return base + (round_index < extra)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["base"] = self.base.to_dict()
        data["params"] = [p.to_dict() for p in self.params]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        data = dict(data)
        data["base"] = RunConfig.from_dict(data["base"])
        data["params"] = [ParamSpec.from_dict(p) for p in data["params"]]
        return cls(**data)


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


def apply_params(base: RunConfig, params: dict[str, Any]) -> RunConfig:
    """A copy of ``base`` with the sampled ``params`` set (model options go to the zoo)."""
    config = dataclasses.replace(base, extra=copy.deepcopy(base.extra))
    options = config.extra.setdefault("model_options", {})
    for name, value in params.items():
        if name == "hidden":
            config.hidden = [value] if isinstance(value, int) else parse_int_list(
                str(value).replace("-", ","), "hidden")
        elif name in RunConfig.__dataclass_fields__:
            setattr(config, name, value)
        else:
            options[name] = value
    if not options:
        config.extra.pop("model_options")
    return config


def train_command(config: RunConfig) -> str:
    """The ``glassnet train`` command line that trains ``config``."""
    args = ["glassnet", "train", "--dataset", config.dataset, "--model", config.model]
    if config.hidden:
        args += ["--hidden", ",".join(str(h) for h in config.hidden)]
    args += ["--epochs", str(config.epochs),
             "--batch-size", "full" if config.batch_size is None else str(config.batch_size),
             "--optimizer", config.optimizer, "--lr", f"{config.lr:.6g}"]
    options = {name: getattr(config, name) for name in
               ("momentum", "weight_decay", "reg", "lr_decay", "lr_schedule", "validation_split")}
    options.update(config.extra.get("model_options", {}))
    for name, value in options.items():
        if value not in (None, 0, 0.0, ""):
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            args += [f"--{name.replace('_', '-')}", text]
    args += ["--seed", str(config.seed), "--dtype", config.dtype]
    if config.out:
        args += ["--out", str(config.out)]
    return shlex.join(args)


def _masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any unparsable URL is shown without its credentials
        return url.split("@")[-1]


def open_storage(url: str | None, run_dir: Path):
    """The journal file in ``run_dir`` (``url=None``) or an RDB storage at a SQLAlchemy URL."""
    optuna = require_extra("optuna", "search")
    if url is None:
        from optuna.storages.journal import JournalFileBackend

        run_dir.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / STORAGE_FILE)))
    if "://" not in url:
        raise SearchError(f"--storage must be a database URL such as "
                          f"postgresql://user:password@host:5432/db, got {url!r}")
    kwargs = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except ImportError as exc:
            raise SearchError(f"the storage {_masked(url)} needs a database driver: {exc} "
                              "(PostgreSQL: pip install 'psycopg[binary]' for postgresql:// or "
                              "postgresql+psycopg://, psycopg2-binary for postgresql+psycopg2://)") from None
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises many kinds; all mean "unusable"
            if type(exc).__name__ == "IntegrityError" and attempt < 2:
                time.sleep(0.5 + attempt)  # workers started together both created the tables
                continue
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SearchError(f"cannot open the storage {_masked(url)}: {reason}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _pruner(name: str, epochs: int):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 4))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _sampler(name: str, seed: int):
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)


def trial_seed(seed: int, number: int) -> int:
    """The sampler's seed for trial ``number``: the same draws whichever worker runs it."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


def _counts(trial) -> bool:
    """Trials that use up the budget: all but those a crashed worker left behind."""
    from optuna.trial import TrialState

    return trial.state != TrialState.FAIL or "error" in trial.user_attrs


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return False
    except PermissionError:
        return True
    return True


class _Reporter(Callback):
    """Reports each epoch's validation accuracy to the trial; stops training when pruned."""

    def __init__(self, trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        self.trial.report(float(logs["val_accuracy"]), step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True


def _suggest(trial, spec: ParamSpec) -> Any:
    if spec.kind == "choice":
        return trial.suggest_categorical(spec.name, list(spec.choices))
    if spec.kind == "int":
        return trial.suggest_int(spec.name, int(spec.low), int(spec.high))
    return trial.suggest_float(spec.name, spec.low, spec.high, log=spec.log)


@dataclass
class Search:
    """An opened study: :meth:`run` works on it, :meth:`summary` and :meth:`train_final` read it."""

    config: SearchConfig
    run_dir: Path
    study: Any
    storage_label: str
    data: dict[str, Dataset] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, config: SearchConfig | None, run_dir: str | Path, storage: str | None = None,
             study_name: str | None = None, resume: bool = False,
             trials: int | None = None) -> Search:
        """Create the study, join it (same search) or, with ``resume``, continue the stored one.

        With ``resume`` the stored configuration is used (``config`` may be None) and
        ``trials`` raises or lowers the budget.
        """
        run_dir = Path(run_dir)
        name = study_name or run_dir.name
        optuna = require_extra("optuna", "search")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        backend = open_storage(storage, run_dir)
        label = _masked(storage) if storage else str(run_dir / STORAGE_FILE)
        try:
            study = optuna.load_study(study_name=name, storage=backend)
        except KeyError:
            study = None
        stored = study.user_attrs.get(CONFIG_ATTR) if study is not None else None
        if resume:
            if stored is None:
                raise SearchError(f"there is no search named {name!r} in {label} to resume; "
                                  "start it without --resume")
            config = SearchConfig.from_dict(stored)
            if trials is not None and trials != config.trials:
                config.trials = trials
                study.set_user_attr(CONFIG_ATTR, config.validate().to_dict())
        else:
            if config is None:
                raise SearchError("give the search to run (or --resume an existing one)")
            config.validate()
            if study is None:
                study = optuna.create_study(study_name=name, storage=backend, direction="maximize",
                                            load_if_exists=True)
            if stored is None:
                study.set_user_attr(CONFIG_ATTR, config.to_dict())
                study.set_user_attr("round_0", [p.to_dict() for p in config.params])
            elif stored != config.to_dict():
                raise SearchError(f"{label} already holds a different search named {name!r}; "
                                  "continue it with --resume or choose another --name/--study-name")
        study.pruner = _pruner(config.pruner, config.base.epochs)
        return cls(config, run_dir, study, label)

    # -- running trials --------------------------------------------------------------------
    def current_round(self) -> tuple[int, list[ParamSpec]]:
        attrs = self.study.user_attrs
        index = max(int(k.split("_")[1]) for k in attrs if k.startswith("round_"))
        return index, [ParamSpec.from_dict(p) for p in attrs[f"round_{index}"]]

    def fail_interrupted(self) -> list[int]:
        """Mark trials whose worker died as failed (they do not count toward the budget).

        A trial of this host is dead when its process is gone; a trial of another host when
        it has been running ten times as long as the median finished trial (at least 10 min).
        """
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        durations = sorted(t.duration.total_seconds() for t in trials
                           if t.state == TrialState.COMPLETE and t.duration is not None)
        patience = max(600.0, 10 * durations[len(durations) // 2]) if durations else 600.0
        host, now, failed = socket.gethostname(), datetime.datetime.now(), []
        for t in trials:
            if t.state != TrialState.RUNNING or "pid" not in t.user_attrs:
                continue
            if t.user_attrs.get("host") == host:
                dead = not _alive(t.user_attrs["pid"])
            else:
                dead = (now - t.datetime_start).total_seconds() > patience
            if dead:
                self.study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
                failed.append(t.number)
        return failed

    def run(self, on_trial: Callable[[TrialRecord], None] | None = None, poll: float = 1.0) -> int:
        """Run trials until the study's budget is used up; returns how many this worker ran.

        A worker returns when every trial of the last round has finished, including those
        other workers run, so that its summary covers the whole study.
        """
        if self.data is None:
            self.data = load_dataset(self.config.base.dataset, splits=("train",))
        self.fail_interrupted()
        ran = 0
        while True:
            index, specs = self.current_round()
            in_round = [t for t in self.study.get_trials(deepcopy=False)
                        if t.user_attrs.get("round") == index and _counts(t)]
            if len(in_round) < self.config.per_round(index):
                record = self._one_trial(index, specs)
                ran += 1
                if on_trial is not None:
                    on_trial(record)
            elif any(not t.state.is_finished() for t in in_round):
                time.sleep(poll)  # other workers are finishing this round's last trials
                self.fail_interrupted()
            elif index + 1 >= self.config.rounds:
                return ran
            else:
                results = [(t.params, t.value) for t in in_round if t.state.name == "COMPLETE"]
                self.study.set_user_attr(f"round_{index + 1}",
                                         [p.to_dict() for p in narrow(specs, results)])

    def _one_trial(self, index: int, specs: list[ParamSpec]) -> TrialRecord:
        from optuna.trial import TrialState

        trial = self.study.ask()
        for key, value in (("round", index), ("host", socket.gethostname()), ("pid", os.getpid())):
            trial.set_user_attr(key, value)
        self.study.sampler = _sampler(self.config.sampler, trial_seed(self.config.base.seed, trial.number))
        params = {spec.name: _suggest(trial, spec) for spec in specs}
        config = apply_params(self.config.base, params)
        config.out = str(self.run_dir / "trials" / f"{trial.number:04d}")
        reporter = _Reporter(trial)
        try:
            result = train_run(config, callbacks=[reporter], verbose=0, data=self.data)
        except BaseException as exc:
            if not isinstance(exc, KeyboardInterrupt):
                trial.set_user_attr("error", str(exc))
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        validation = result.metrics["validation"]
        trial.set_user_attr("val_loss", validation["loss"])
        trial.set_user_attr("epochs", result.metrics["epochs"])
        record = TrialRecord(trial.number, "complete", validation["accuracy"], params,
                             result.metrics["epochs"], index, val_loss=validation["loss"])
        if result.error is not None:
            trial.set_user_attr("error", str(result.error))
            self.study.tell(trial, state=TrialState.FAIL)
            record.state, record.note = "failed", f"non-finite loss at epoch {result.error.epoch}"
        elif reporter.pruned_at is not None:
            self.study.tell(trial, state=TrialState.PRUNED)
            record.state, record.note = "pruned", f"stopped after epoch {reporter.pruned_at}"
        else:
            self.study.tell(trial, validation["accuracy"])
        return record

    # -- results ---------------------------------------------------------------------------
    def best_trial(self):
        """The complete trial with the highest validation accuracy (ties: lower val loss, earlier)."""
        complete = [t for t in self.study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        if not complete:
            raise SearchError(f"no trial of {self.study.study_name!r} has completed yet")
        return max(complete, key=lambda t: (t.value, -t.user_attrs.get("val_loss", math.inf), -t.number))

    def best_config(self) -> RunConfig:
        """The best trial's run, trained on all training data (train + validation)."""
        config = apply_params(self.config.base, self.best_trial().params)
        config.validation_split = None
        config.out = str(self.run_dir / "final")
        return config

    def rounds(self) -> list[dict[str, Any]]:
        attrs = self.study.user_attrs
        trials = self.study.get_trials(deepcopy=False)
        out = []
        for index in range(self.config.rounds):
            if f"round_{index}" not in attrs:
                break
            mine = [t for t in trials if t.user_attrs.get("round") == index]
            values = [t.value for t in mine if t.state.name == "COMPLETE"]
            specs = [ParamSpec.from_dict(p) for p in attrs[f"round_{index}"]]
            out.append({"round": index + 1, "trials": len(mine),
                        "ranges": {spec.name: spec.describe() for spec in specs},
                        "best_val_accuracy": max(values) if values else None})
        return out

    def trial_rows(self) -> list[dict[str, Any]]:
        rows = []
        for t in self.study.get_trials(deepcopy=False):
            value = t.value if t.value is not None else (
                t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
            rows.append({"number": t.number, "state": t.state.name.lower(), "val_accuracy": value,
                         "val_loss": t.user_attrs.get("val_loss"), "round": t.user_attrs.get("round"),
                         "epochs": t.user_attrs.get("epochs"), "params": dict(t.params)})
        return rows

    def summary(self, plot: bool = True) -> dict[str, Any]:
        """Best trial, rounds and all trials; writes ``search.json`` and the scatter plot."""
        best = self.best_trial()
        best_config = self.best_config()
        data = {"study": self.study.study_name, "storage": self.storage_label,
                "config": self.config.to_dict(),
                "best": {"number": best.number, "val_accuracy": best.value,
                         "val_loss": best.user_attrs.get("val_loss"), "params": dict(best.params),
                         "train_command": train_command(best_config)},
                "rounds": self.rounds(), "trials": self.trial_rows()}
        if plot:
            from .report.search_plots import plot_search_scatter

            data["plot"] = str(plot_search_scatter(data["trials"], self.config.params,
                                                   self.run_dir / PLOT_FILE))
        write_json(self.run_dir / SUMMARY_FILE, data)
        return data

    def train_final(self, verbose: int = 0) -> RunResult:
        """Train the best configuration on train + validation and evaluate it once on test."""
        config = self.best_config()
        result = train_run(config, verbose=verbose, data=load_dataset(config.dataset))
        summary_path = self.run_dir / SUMMARY_FILE
        if summary_path.exists():
            import json

            data = json.loads(summary_path.read_text())
            data["final"] = {k: result.metrics[k] for k in ("train", "test", "epochs") if k in result.metrics}
            write_json(summary_path, data)
        return result


__all__ = ["Search", "SearchConfig", "TrialRecord", "apply_params", "open_storage", "train_command"]
