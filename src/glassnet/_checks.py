"""Checks of the arguments a user gives (a learning rate, a rate, a count): one clear
:class:`~glassnet.errors.ConfigError` that quotes the bad value, the same wording everywhere.

A bool is refused where a number is asked for (``True`` is an int in Python, but nobody
means 1 by it), and so are NaN and infinity (they would reach the arithmetic).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import ConfigError


def is_number(value: Any) -> bool:
    """An int or float (NumPy's too), not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def check_number(value: Any, what: str, low: float, high: float = math.inf,
                 low_inclusive: bool = False, high_inclusive: bool = False) -> float:
    """``value`` as a float if it lies between ``low`` and ``high`` (each end open unless
    ``*_inclusive``); NaN and infinity never do."""
    ok = (is_number(value) and math.isfinite(value)
          and (value >= low if low_inclusive else value > low)
          and (value <= high if high_inclusive else value < high))
    if not ok:
        if high == math.inf:
            wanted = f"a finite number {'>=' if low_inclusive else '>'} {low:g}"
        else:
            wanted = (f"a number in {'[' if low_inclusive else '('}{low:g}, "
                      f"{high:g}{']' if high_inclusive else ')'}")
        raise ConfigError(f"{what} must be {wanted}, got {value!r}")
    return float(value)


#: the smallest eps a layer or optimizer takes: float32's smallest normal number (1.2e-38).
#: Below it float32 loses digits (a subnormal), and below 1.4e-45 the eps is 0, so that
#: ``x / (v + eps)`` divides by zero where ``v`` is 0. The layer's or optimizer's dtype is
#: not known when eps is given, so the bound holds for float64 too.
SMALLEST_EPS = float(np.finfo(np.float32).tiny)


def check_eps(value: Any, what: str) -> float:
    """``eps``, the small number added to a denominator, as a float: finite and at least
    :data:`SMALLEST_EPS`, so that it is a normal float32 number, never 0."""
    if is_number(value) and 0 < value < SMALLEST_EPS:
        raise ConfigError(f"{what} must be at least {SMALLEST_EPS:.3g}, float32's smallest normal "
                          f"number (below it float32 loses digits, and below 1.4e-45 it is 0 and "
                          f"divides by zero), got {value!r}")
    return check_number(value, what, 0)


def unwrap_scalar(value: Any) -> Any:
    """A 0-d NumPy array (``np.array(3)``) as the number it holds; anything else as it is."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def is_sequence(value: Any) -> bool:
    """Whether ``value`` is a list, a tuple or a 1-D NumPy array (values computed with
    NumPy): what a pair of sizes (or Adam's betas) may come as. A 0-d array is a number."""
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1)


def check_positive_int(value: Any, what: str) -> int:
    """Validate a positive integer argument, quoting the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def check_non_negative_int(value: Any, what: str) -> int:
    """Validate an integer argument >= 0 (a count that may be zero), quoting the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{what} must be an integer >= 0, got {value!r}")
    return int(value)


#: the largest integer an option takes (epochs, sizes, seeds, counts): far beyond any real
#: use, and within what NumPy's sizes and the course's seeds (below 2**32) accept; larger
#: ones failed deep inside NumPy with its own errors
MAX_INT = 2**31 - 1


def parse_int_list(text: str, what: str) -> list[int]:
    """``"20,7,5"`` → ``[20, 7, 5]`` with a clear error for anything else."""
    try:
        values = [int(part) for part in text.split(",")]  # "20,,5" is a typo, not 20-5
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated positive integers, got {text!r}") from None
    if not values or any(v <= 0 or v > MAX_INT for v in values):
        raise ConfigError(f"{what} must be comma-separated positive integers (up to {MAX_INT:,}), "
                          f"got {text!r}")
    return values


def check_rate(value: Any, what: str) -> float:
    """A fraction in [0, 1): a dropout rate, a jitter amount."""
    return check_number(value, what, 0, 1, low_inclusive=True)


def check_flag(value: Any, what: str) -> bool:
    """A True/False option (NumPy's bool too): ``bool("no")`` would be True, silently."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def unknown_choice(spec: Any, what: str, base: type, choices: list[str]) -> ConfigError:
    """The error for a ``what`` (``"loss"``, ``"optimizer"``) given as ``spec``, neither one
    of the names ``choices`` nor a ``base`` instance. A ``base`` subclass (Keras' habit of
    naming the class) is told to create an instance; another library's object is named by
    its type, as its repr may span many lines (a PyTorch module's). A misspelt name is
    offered the names only: it may come from the command line, where an instance is no
    choice."""
    if isinstance(spec, type) and issubclass(spec, base):
        return ConfigError(f"the {what} {spec.__name__} is a class: create an instance: "
                           f"{spec.__name__}()")
    if isinstance(spec, str):
        return ConfigError(f"unknown {what} {spec!r}; choose one of {choices}")
    if spec is None or isinstance(spec, (int, float)):
        shown = repr(spec)
    else:
        cls = spec if isinstance(spec, type) else type(spec)
        name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
        shown = f"class {name}" if isinstance(spec, type) else f"a {name} object"
    return ConfigError(f"unknown {what} {shown}; choose one of {choices} or a glassnet "
                       f"{base.__name__} instance")


def require_labels(y: Any, call: str) -> None:
    """``call`` (``"fit"``, ``"evaluate"``) scores its outputs against labels: a missing
    ``y`` is named as such (the label check would speak of an array of shape ())."""
    if y is None:
        raise ConfigError(f"{call} needs labels y: {call}(x, y), y the class of each sample")
