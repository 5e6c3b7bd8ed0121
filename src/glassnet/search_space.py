"""Search spaces for the hyperparameter search: parameter specs, TOML files, narrowing.

A parameter is written ``NAME=KIND:ARGS`` on the command line or as a key of the
``[params]`` table of a TOML file::

    lr = "log:1e-5:1e-1"              # log-uniform in [1e-5, 1e-1]
    weight_decay = "log:1e-8:1e-2"
    dropout = "float:0:0.5"            # uniform
    batch_size = "int:16:128"          # integer, uniform
    hidden = "choice:50,100,200"       # one of the values ("20-7-5" is three layers)
    batchnorm = "choice:true,false"
    momentum = { kind = "float", low = 0.5, high = 0.99 }   # the same as a table

This module needs no Optuna: :meth:`ParamSpec.distribution` imports it lazily.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._checks import MAX_INT
from .errors import ConfigError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

KINDS = ("log", "float", "int", "choice")
#: the widest log range, 200 decades: its plot's log axis draws it (matplotlib's ticks
#: overflow float64 for 1e-300..1e300, after the trials had run; nor did (high / low) ** 0.03)
LOG_BOUNDS = (1e-100, 1e100)
#: Fewest completed trials a round narrows the ranges from: one trial spans no range.
NARROW_MIN = 2
Choice = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: a range ``[low, high]`` (log, float, int) or ``choices``."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Choice, ...] = ()
    # For a choice narrowed by a round: every value of the original choice. Optuna needs the
    # same set of choices in every trial of a study; the round draws only from ``choices``.
    domain: tuple[Choice, ...] = ()

    @property
    def all_choices(self) -> tuple[Choice, ...]:
        """The values Optuna knows this choice by (its original choices)."""
        return self.domain or self.choices

    @property
    def narrowed(self) -> bool:
        """A choice of which a round kept only some values."""
        return self.kind == "choice" and bool(self.domain) and self.choices != self.domain

    @property
    def log(self) -> bool:
        return self.kind == "log"

    def end_points(self) -> tuple[Choice, ...]:
        """The values that bound what a trial may draw: every choice, or the range's ends."""
        if self.kind == "choice":
            return self.all_choices
        if self.kind == "int":
            return int(self.low), int(self.high)
        return self.low, self.high

    def describe(self) -> str:
        """The spec in command-line form, e.g. ``log:1e-05:0.1``, that ``--param`` reads back
        as this very range: every digit of a narrowed bound (six could leave out the best
        trial's value), and a range narrowed to one value as ``choice:VALUE`` (``int:31:31``
        would be an empty range)."""
        if self.kind == "choice":
            return "choice:" + ",".join(str(c) for c in self.choices)
        low, high = (int(v) for v in (self.low, self.high)) if self.kind == "int" else (self.low, self.high)
        if low == high:
            return f"choice:{exact_text(low)}"
        return f"{self.kind}:{exact_text(low)}:{exact_text(high)}"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            data = {"name": self.name, "kind": self.kind, "choices": list(self.choices)}
            return {**data, "domain": list(self.domain)} if self.narrowed else data
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParamSpec:
        return cls(data["name"], data["kind"], data.get("low"), data.get("high"),
                   tuple(data.get("choices", ())), tuple(data.get("domain", ())))

    def distribution(self) -> BaseDistribution:
        """The matching ``optuna.distributions`` object."""
        from optuna import distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(self.all_choices)
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high))
        return d.FloatDistribution(self.low, self.high, log=self.log)


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"bad parameter spec {spec!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"bad parameter spec {spec!r}: {text!r} is not a finite number")
    return value


def _shown(value: Any) -> str:
    """A value from a space file as the user wrote it, with its type: ``the boolean true``,
    ``the string '8,4'``, ``the list [8, 4]``."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    kinds = {str: "string", int: "number", float: "number", list: "list", tuple: "list", dict: "table"}
    kind = next((name for cls, name in kinds.items() if isinstance(value, cls)), type(value).__name__)
    return f"the {kind} {value!r}"


def _bound(value: Any, key: str, kind: str, source: str) -> float:
    """``low`` or ``high`` of a range: a number. Text is refused: a table in a space file
    writes numbers (``low = 1e-4``), and :func:`parse_spec` reads the command line's text
    into numbers first, with its own message."""
    if value is None:
        raise ConfigError(f"bad parameter spec {source!r}: a {kind} range needs '{key}' "
                          f"(and '{'high' if key == 'low' else 'low'}'), e.g. {kind}:LOW:HIGH")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"bad parameter spec {source!r}: '{key}' must be a number "
                          f"(e.g. {key} = 1e-4), got {_shown(value)}")
    return _number(repr(value), source)


def _choice(text: str) -> Choice:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def make_spec(name: str, kind: str, low: Any = None, high: Any = None,
              choices: Sequence[Any] = (), source: str | None = None) -> ParamSpec:
    """A validated :class:`ParamSpec`; ``source`` is quoted in errors (default: the spec)."""
    name = name.strip().replace("-", "_")
    source = source or f"{name}={kind}"
    if not name.isidentifier():
        raise ConfigError(f"bad parameter spec {source!r}: {name!r} is not a parameter name")
    if kind not in KINDS:
        raise ConfigError(f"bad parameter spec {source!r}: unknown kind {kind!r}; "
                          f"use one of {', '.join(KINDS)}")
    if kind == "choice":
        if not isinstance(choices, (list, tuple)):
            raise ConfigError(f"bad parameter spec {source!r}: 'choices' must be a list of values, "
                              f"e.g. choices = [8, 4] (or the string \"choice:8,4\"), got "
                              f"{_shown(choices)}")
        values = tuple(_choice(str(c).strip()) if isinstance(c, str) else c for c in choices)
        if not values or any(v == "" for v in values):
            raise ConfigError(f"bad parameter spec {source!r}: give choices as choice:a,b,c")
        if any(not isinstance(v, (bool, int, float, str)) for v in values):
            raise ConfigError(f"bad parameter spec {source!r}: choices must be numbers, words, "
                              "true or false")
        comma = next((v for v in values if isinstance(v, str) and "," in v), None)
        if comma is not None:  # shown (and stored) as choice:a,b,c, it would be two choices
            raise ConfigError(f"bad parameter spec {source!r}: a choice cannot hold a comma, got "
                              f"{comma!r} (layer sizes are written 8-4)")
        if len(set(values)) != len(values):
            raise ConfigError(f"bad parameter spec {source!r}: repeated choices")
        _refuse_huge_integers(values, source)
        return ParamSpec(name, kind, choices=values)
    lo, hi = _bound(low, "low", kind, source), _bound(high, "high", kind, source)
    if lo >= hi:
        raise ConfigError(f"bad parameter spec {source!r}: the range is empty "
                          f"(low {lo:g} >= high {hi:g})")
    if kind == "log" and lo <= 0:
        raise ConfigError(f"bad parameter spec {source!r}: a log range needs low > 0, got {lo:g}")
    if kind == "log" and (lo < LOG_BOUNDS[0] or hi > LOG_BOUNDS[1]):
        raise ConfigError(f"bad parameter spec {source!r}: a log range lies within "
                          f"{LOG_BOUNDS[0]:g}..{LOG_BOUNDS[1]:g}, got {lo:g}..{hi:g}")
    if kind == "int" and (lo != int(lo) or hi != int(hi)):
        raise ConfigError(f"bad parameter spec {source!r}: int bounds must be whole numbers")
    if kind == "int":
        _refuse_huge_integers((int(lo), int(hi)), source)
    return ParamSpec(name, kind, lo, hi)


def _refuse_huge_integers(values: Iterable[Any], source: str) -> None:
    """Integers (sizes, counts) at most :data:`~glassnet._checks.MAX_INT`, as the options of
    ``glassnet train`` take them: a larger layer size failed inside NumPy ("Maximum allowed
    dimension exceeded"), naming neither the parameter nor the limit."""
    huge = next((v for v in values if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT),
                None)
    if huge is not None:
        raise ConfigError(f"bad parameter spec {source!r}: integers are at most {MAX_INT:,} in size, "
                          f"got {huge}")


def parse_spec(name: str, text: str) -> ParamSpec:
    """``parse_spec("lr", "log:1e-5:1e-1")``; see the module docstring for the kinds."""
    source = f"{name}={text}"
    kind, _, rest = text.strip().partition(":")
    if kind == "choice":
        return make_spec(name, kind, choices=rest.split(","), source=source)
    if kind not in KINDS:
        return make_spec(name, kind, source=source)  # which names the kinds there are
    parts = rest.split(":")
    if len(parts) != 2:
        raise ConfigError(f"bad parameter spec {source!r}: expected {kind}:LOW:HIGH")
    return make_spec(name, kind, *(_number(part, source) for part in parts), source=source)


def parse_param(text: str) -> ParamSpec:
    """``"lr=log:1e-5:1e-1"`` → ``ParamSpec("lr", "log", 1e-5, 0.1)``."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ConfigError(f"bad parameter spec {text!r}: expected NAME=KIND:ARGS, "
                          "e.g. lr=log:1e-5:1e-1 or hidden=choice:50,100,200")
    return parse_spec(name, spec)


def _spec_from_toml(name: str, value: Any, path: Path) -> ParamSpec:
    if isinstance(value, str):
        return parse_spec(name, value)
    if isinstance(value, dict):
        unknown = set(value) - {"kind", "low", "high", "choices"}
        if unknown or "kind" not in value:
            stray = f" ({', '.join(map(repr, sorted(unknown)))} is not one of them)" if unknown else ""
            raise ConfigError(f"{path}: parameter {name!r} needs 'kind' and 'low'/'high' or "
                              f"'choices', got keys {sorted(value)}{stray}")
        wanted = ("choices",) if value["kind"] == "choice" else ("low", "high")
        if value["kind"] in KINDS and set(value) != {"kind", *wanted}:
            raise ConfigError(f"{path}: parameter {name!r} of kind {value['kind']!r} takes "
                              f"{' and '.join(repr(key) for key in wanted)}, got keys {sorted(value)}")
        return make_spec(name, value["kind"], value.get("low"), value.get("high"),
                         value.get("choices", ()), source=f"{name} in {path}")
    raise ConfigError(f"{path}: parameter {name!r} must be a string like \"log:1e-5:1e-1\" "
                      f"or a table, got {_shown(value)}")


def load_space_file(path: str | Path) -> list[ParamSpec]:
    """Read the ``[params]`` table of a TOML search-space file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser as the package tomli
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ConfigError("search-space files need tomli on Python 3.10: pip install "
                              "'glassnet[search]' (or give the parameters with --param)") from None
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"search-space file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        hint = " (search spaces are TOML only, not YAML)" if Path(path).suffix in (".yaml", ".yml") else ""
        raise ConfigError(f"search-space file {path} is not readable TOML{hint}: {exc}") from None
    if set(data) == {"params"} and data["params"] == {}:
        raise ConfigError(f"{path}: the [params] table is empty; give a line per parameter, "
                          'e.g. lr = "log:1e-4:1e-1"')
    if set(data) != {"params"} or not isinstance(data["params"], dict):
        raise ConfigError(f"{path}: expected one [params] table with a line per parameter, "
                          f"got {sorted(data) or 'nothing'}")
    return [_spec_from_toml(name, value, path) for name, value in data["params"].items()]


def check_unique(specs: Iterable[ParamSpec]) -> list[ParamSpec]:
    """``specs`` as a list, or a :class:`ConfigError` when a parameter is named twice or none
    is given."""
    specs = list(specs)
    names = [s.name for s in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"parameter(s) {repeated} given more than once")
    if not specs:
        raise ConfigError("nothing to search: give --param NAME=KIND:ARGS or --space FILE")
    return specs


def narrow(specs: Sequence[ParamSpec], results: Sequence[tuple[dict[str, Any], Any]],
           fraction: float = 0.25) -> list[ParamSpec]:
    """Shrink each range to the span of the best ``fraction`` of ``results`` (at least
    :data:`NARROW_MIN`).

    ``results`` holds ``(params, score)`` pairs, higher scores (numbers or tuples) are
    better; equal scores keep their order. Ranges become the min..max of the best trials'
    values (for log ranges that is the same span in log space); a choice keeps the values
    the best trials used, in their original order, and remembers all its values as
    ``domain`` (an Optuna study needs the same choices in every trial, so the round's
    sampler draws from the kept ones). With fewer than :data:`NARROW_MIN` results the ranges
    stay as they are.
    """
    if len(results) < NARROW_MIN:
        return list(specs)
    ranked = sorted(results, key=lambda r: r[1], reverse=True)
    best = ranked[:max(NARROW_MIN, math.ceil(fraction * len(ranked)))]
    narrowed = []
    for spec in specs:
        values = [params[spec.name] for params, _ in best if spec.name in params]
        if not values:
            narrowed.append(spec)
        elif spec.kind == "choice":
            kept = tuple(c for c in spec.all_choices if c in values)
            narrowed.append(ParamSpec(spec.name, "choice", choices=kept, domain=spec.all_choices))
        else:
            narrowed.append(ParamSpec(spec.name, spec.kind, float(min(values)), float(max(values))))
    return narrowed


def exact_text(value: float) -> str:
    """``value`` in as few digits as read back exactly (``1e-05``, ``0.0024561914851``; an
    int in all its digits)."""
    if isinstance(value, int):
        return str(value)
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))
