"""Whether a search's trials can train, checked before they run: every parameter's values
alone and the values together (optimizer, schedule, callbacks, augmentation, batch size,
model), so that a search that cannot run is refused before its study exists and a trial
whose values cannot go together fails with the reason instead of aborting the search.
No Optuna here.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

from . import zoo
from .data import Dataset
from .data import augment as augment_mod
from .errors import ConfigError, GlassnetError, GlassnetWarning, user_stacklevel
from .run_setup import build_model, class_weights_for, make_callbacks, make_optimizer, make_schedule
from .runs import RunConfig
from .search_config import SearchConfig, apply_params
from .training.fit_checks import check_batch_size


def check_settings(config: RunConfig) -> None:
    """Make the optimizer, schedule, callbacks, augmentation and batch size of ``config`` as
    :func:`~glassnet.runs.train_run` would, without the model (cheap)."""
    make_optimizer(config)
    _check_training(config)


def _check_training(config: RunConfig) -> None:
    """The schedule, callbacks, augmentation and batch size of ``config``."""
    make_schedule(config)
    make_callbacks(config)
    augment_mod.parse(config.augment)
    check_batch_size(config.batch_size)


def check_run(config: RunConfig, train: Dataset) -> None:
    """Make what :func:`~glassnet.runs.train_run` makes of ``config`` for ``train`` (model,
    optimizer, schedule, callbacks, augmentation, batch size), without training."""
    model = build_model(config, train)
    model.compile(loss=zoo.loss_for(train.num_classes), optimizer=make_optimizer(config),
                  reg=config.reg)
    class_weights_for(config, train)  # a class the data set lacks: before any trial
    _check_training(config)


def trial_problem(base: RunConfig, params: dict[str, Any], train: Dataset | None = None) -> str | None:
    """Why a trial of ``base`` with the sampled ``params`` cannot train (the error it would
    fail with), or None; without ``train`` only :func:`check_settings` (no model) is checked."""
    try:
        config = apply_params(base, params)
        if train is not None:
            check_run(config, train)
        else:
            check_settings(config)
    except (GlassnetError, TypeError, ValueError) as exc:  # TypeError: e.g. a word for a number
        return str(exc)
    return None


def params_text(params: dict[str, Any]) -> str:
    """``"optimizer='adam', momentum=0.5"``: sampled values as a trial takes them."""
    return ", ".join(f"{name}={value!r}" for name, value in params.items())


def check_values(config: SearchConfig, train: Dataset) -> None:
    """The base run and every parameter's end points (every choice) as a trial would train
    them: a value the model or optimizer refuses (``dropout=float:0:2``) is an error before
    the study exists, not the failure of its first trial. Then the values together
    (:func:`check_combinations`)."""
    check_run(config.base, train)
    for spec in config.params:
        for value in spec.end_points():
            problem = trial_problem(config.base, {spec.name: value}, train)
            if problem is not None and not _fits_another_searched_value(config, spec, value, train):
                # a whole-number setting (batch_size, epochs) searched as a float
                hint = (f"; search whole numbers with int:{math.ceil(spec.low)}:{math.floor(spec.high)}"
                        if spec.kind in ("float", "log") and "integer" in problem else "")
                raise ConfigError(f"cannot search {spec.name}={spec.describe()}: a trial with "
                                  f"{spec.name}={value!r} fails: {problem}{hint}")
    check_combinations(config)


def _fits_another_searched_value(config: SearchConfig, spec: Any, value: Any, train: Dataset) -> bool:
    """Whether ``value`` trains with some end point of another searched parameter in place of
    the base run's: ``momentum=0.5`` with a searched ``optimizer=choice:sgd,momentum`` while
    ``--optimizer adam`` (never used then) is refused alone. Such a search goes on, and
    :func:`check_combinations` warns about the combinations that fail."""
    return any(trial_problem(config.base, {spec.name: value, other.name: other_value}, train) is None
               for other in config.params if other is not spec for other_value in other.end_points())


# The most combinations of end points that check_combinations tries, and the most distinct
# reasons its message names.
MAX_COMBINATIONS = 10_000
MAX_REASONS = 3


def _fewest_failing(base: RunConfig, params: dict[str, Any], problem: str) -> dict[str, Any]:
    """Of the ``params`` that fail with ``problem``, those that still fail with it without the
    others (left at the base run's values): ``{"optimizer": "adam", "momentum": 0.5}``, not
    the lr beside them (nor the values of another problem)."""
    kept = dict(params)
    for name in params:
        without = {key: value for key, value in kept.items() if key != name}
        if trial_problem(base, without) == problem:
            kept = without
    return kept


def check_combinations(config: SearchConfig) -> None:
    """Values that work alone may not work together (``optimizer=adam`` with a searched
    ``momentum``; ``lr_schedule=cosine`` with ``lr_decay``). Over the combinations of every
    parameter's end points (:data:`MAX_COMBINATIONS` at most): when none can train, the
    search is refused (ConfigError); when some cannot, a :class:`GlassnetWarning` says that
    such trials will fail (each is recorded as failed with its reason, and the search goes on)."""
    specs = config.params
    combinations = itertools.product(*(spec.end_points() for spec in specs))
    feasible, failures = False, {}  # each distinct reason, with the fewest values that cause it
    for values in itertools.islice(combinations, MAX_COMBINATIONS):
        params = {spec.name: value for spec, value in zip(specs, values, strict=True)}
        problem = trial_problem(config.base, params)
        if problem is None:
            feasible = True
        elif problem not in failures and len(failures) < MAX_REASONS:
            fewest = _fewest_failing(config.base, params, problem)
            failures[problem] = f"a trial with {params_text(fewest)} fails: {problem}"
        if feasible and len(failures) == MAX_REASONS:
            break
    if not failures:
        return
    failure = "; ".join(failures.values())
    if not feasible and math.prod(len(spec.end_points()) for spec in specs) <= MAX_COMBINATIONS:
        raise ConfigError(f"no trial of this search could train: no combination of the searched "
                          f"values works together ({failure}); drop or change one of these "
                          "parameters")
    warnings.warn(f"some trials of this search cannot train and will be recorded as failed "
                  f"(they count toward --trials): {failure}", GlassnetWarning, stacklevel=user_stacklevel())
