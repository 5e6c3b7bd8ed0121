"""What a hyperparameter search's study tells once trials ran: the best trial and the run
that trains its setting, each round's ranges and best value, every trial's row, the
``search.json`` summary with its scatter plot and HTML report, and the final model.

:class:`SearchResults` is the half of :class:`~glassnet.search.Search` that reads the
study (mixed into it): :mod:`glassnet.search` opens the study and runs the trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import nan_for_null, write_json, write_text
from .errors import SearchError
from .run_data import load_data
from .run_folders import SEARCH_FINAL, SEARCH_REPORT
from .runs import RunConfig, RunResult, train_run
from .search_config import SearchConfig, final_config, train_command
from .search_resume import CONFIG_ATTR, SUMMARY_FILE, read_summary, same_search
from .search_scoring import SCORES
from .search_space import NARROW_MIN, ParamSpec
from .search_trial import failure, score

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

PLOT_FILE = "search_scatter.png"
REPORT_FILE = SEARCH_REPORT


class SearchResults:
    """The results of a :class:`~glassnet.search.Search` (which provides these attributes)."""

    config: SearchConfig
    run_dir: Path
    study: Any
    storage_label: str

    def _trials(self) -> list:
        """The study's trials, without the surplus claims of
        :meth:`~glassnet.search.Search._within_budget`."""
        return [t for t in self.study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]

    # -- results ---------------------------------------------------------------------------
    def best_trial(self) -> FrozenTrial:
        """The complete trial with the best objective (ties: lower validation loss, earlier)."""
        best = self._best_or_none()
        if best is None:
            raise SearchError(f"no trial of {self.study.study_name!r} has completed yet")
        return best

    def _best_or_none(self):
        """:meth:`best_trial`, or None when no trial has completed."""
        complete = [t for t in self._trials() if t.state.name == "COMPLETE"]
        return max(complete, key=lambda t: (*score(t, self.config), -t.number), default=None)

    def best_config(self) -> RunConfig:
        """The best trial's run, trained on all training data (train + validation) for the
        trial's best epoch (see :func:`~glassnet.search_config.final_config`)."""
        best = self.best_trial()
        config = final_config(self.config.base, best.params, best.user_attrs.get("best_epoch"))
        config.out = str(self.run_dir / SEARCH_FINAL)
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
                         "error": failure(t)})
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
        summary = read_summary(self.run_dir)
        return summary if same_search(summary, self.study.study_name, self.storage_label) else {}

    def train_final(self, verbose: int = 0) -> RunResult:
        """Train the best configuration on train + validation and evaluate it once on test."""
        config = self.best_config()
        # what the run's report names as its command: this search, and what trains it again
        config.extra["search_final"] = {"search": str(self.run_dir), "trial": self.best_trial().number,
                                        "command": train_command(config)}
        result = train_run(config, verbose=verbose, data=load_data(config))
        data = self._stored_summary()
        if data:
            kept = {k: result.metrics[k] for k in ("train", "test", "epochs") if k in result.metrics}
            data["final"] = {"trial": self.best_trial().number, **kept}
            data.pop("outdated_final", None)
            self._write(data, report=self._has_report())
        return result
