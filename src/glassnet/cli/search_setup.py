"""What ``glassnet search``'s options ask for: the :class:`~glassnet.search_config.SearchConfig`
of a new search (its space, budget, validation and base run), and the ``--storage`` URL.

:mod:`glassnet.cli.search` (the subcommand: its parser, opening the search) turns the command
line into a search with these; :mod:`glassnet.cli.search_workers` starts the processes that
join it and :mod:`glassnet.cli.search_output` runs it and prints what it found.
"""

from __future__ import annotations

import argparse
import os

from ..errors import ConfigError
from ..run_setup import parse_class_weight
from ..runs import RunConfig
from ..search_config import SearchConfig, searchable_model_options
from ..search_space import load_space_file, parse_param
from .arguments import check_model_options


def config_from_args(args: argparse.Namespace) -> SearchConfig:
    """The search ``args`` ask for: the ``--param``/``--space`` space, the budget, sampler,
    strategy, pruner, objective and validation, and the base run every trial trains."""
    specs = [parse_param(text) for text in args.param]
    if args.space:
        specs = load_space_file(args.space) + specs
    if not args.resume:  # --resume compares --model and --hidden with the stored search instead
        options = ", ".join(sorted(searchable_model_options(args.model)))
        check_model_options(args.model, ["hidden"] if args.hidden is not None else [],
                            hint=f"search its options with --param NAME=SPEC: {options}" if options
                            else "it has no options")
    base = RunConfig(dataset=args.dataset, model=args.model,
                     hidden=args.hidden,
                     epochs=args.epochs_per_trial, batch_size=args.batch_size,
                     optimizer=args.optimizer, validation_split=_validation_split(args),
                     image_size=args.image_size, resize=args.resize, strict=args.strict,
                     test_split=args.test_split, seed=args.seed, dtype=args.dtype,
                     extra=_class_weight(args.class_weight))
    narrow = args.strategy == "narrow"
    return SearchConfig(base, specs, trials=args.trials or 30,
                        sampler=args.sampler or ("random" if narrow else "tpe"),
                        strategy=args.strategy, rounds=args.rounds or (3 if narrow else 1),
                        pruner=args.pruner, objective=args.objective, folds=args.folds,
                        smooth=args.smooth)


def _class_weight(text: str | None) -> dict[str, str]:
    """``--class-weight`` (its syntax checked now, its class names once the data is read) as
    the base run's ``extra``, where ``glassnet train`` keeps it too."""
    if text is None:
        return {}
    parse_class_weight(text)
    return {"class_weight": text}


def _validation_split(args: argparse.Namespace) -> float | None:
    """``--validation-split`` as given; 0.2 when neither it nor ``--folds`` is."""
    if args.validation_split is None and args.folds is None:
        return 0.2
    return args.validation_split


def storage_url(text: str | None) -> str | None:
    """``--storage`` as given, or for ``env:VAR`` the URL in the environment variable VAR."""
    if text is None or not text.startswith("env:"):
        return text
    name = text.removeprefix("env:")
    url = os.environ.get(name, "")
    if not url:
        raise ConfigError(f"--storage {text}: the environment variable {name or '(no name)'} is not set")
    return url
