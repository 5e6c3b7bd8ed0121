"""Checking values read back from JSON (model files, checkpoints, run configurations)
against the types glassnet writes there, so that a damaged or edited file is one clear
error instead of a ``TypeError`` deep inside the code that uses the value.

A *kind* is ``str``, ``int``, ``bool``, ``dict``, ``None`` (JSON null), ``NUMBER`` (an int
or a float), ``INTS`` (a list of integers, as a tuple is stored) or any other string,
which stands for itself (``"full"``: the literal value a batch size may take).
"""

from __future__ import annotations

from typing import Any

from ._checks import is_number

NUMBER, INTS = "<number>", "<ints>"
_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "an object",
          None: "null", NUMBER: "a number", INTS: "a list of integers"}


def is_number_or_none(value: Any) -> bool:
    """A number, or ``None`` (how strict JSON stores NaN and infinity)."""
    return value is None or is_number(value)


def has_kind(value: Any, kinds: tuple[Any, ...]) -> bool:
    """Whether ``value`` is one of ``kinds`` (see the module docstring)."""
    for kind in kinds:
        if kind is None or kind is bool:
            matches = value is None if kind is None else isinstance(value, bool)
        elif isinstance(value, bool):
            matches = False
        elif kind == NUMBER:
            matches = is_number(value)
        elif kind == INTS:
            matches = isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)
        elif isinstance(kind, str):
            matches = value == kind
        else:
            matches = isinstance(value, kind)
        if matches:
            return True
    return False


def kind_text(kinds: tuple[Any, ...]) -> str:
    """``"an integer, null or 'full'"``: what a value should have been."""
    names = [_NAMES.get(k, repr(k)) if not isinstance(k, str) or k in (NUMBER, INTS) else repr(k)
             for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def type_problem(data: dict[str, Any], types: dict[str, tuple[Any, ...]]) -> str | None:
    """``"epochs = 'x', which is not an integer"`` for the first key of ``data`` whose value
    is not of its kinds in ``types`` (keys not in ``types`` are not checked), else ``None``."""
    for key, kinds in types.items():
        if key in data and not has_kind(data[key], kinds):
            return f"{key} = {data[key]!r}, which is not {kind_text(kinds)}"
    return None


def holdout_problem(holdout: Any) -> str | None:
    """What is wrong with a search trial's record of its validation images (``None``: it is
    one): ``{"validation_split": F}`` with ``0 < F < 1``, or ``{"folds": K, "fold": k}``
    with ``K >= 2`` and ``1 <= k <= K``."""
    if isinstance(holdout, dict) and set(holdout) == {"validation_split"}:
        fraction = holdout["validation_split"]
        if is_number(fraction) and 0 < fraction < 1:
            return None
    elif isinstance(holdout, dict) and set(holdout) == {"folds", "fold"}:
        folds, fold = holdout["folds"], holdout["fold"]
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in (folds, fold))
        if whole and folds >= 2 and 1 <= fold <= folds:
            return None
    return f"an invalid holdout {holdout!r}"


def short_list(names: list[str], limit: int = 8) -> str:
    """``['a', 'b']``, or the first ``limit`` names and how many more (a hostile file may
    hold a million entries: the message stays one readable line)."""
    if len(names) <= limit:
        return repr(names)
    return f"{names[:limit]!r} and {len(names) - limit:,} more"
