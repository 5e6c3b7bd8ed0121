"""Weight initializers: functions ``(shape, fan_in, fan_out, rng) -> ndarray (float64)``.

``fan_in`` and ``fan_out`` are given by the layer (for a conv kernel ``(F, C, KH, KW)``
they are ``C*KH*KW`` and ``F*KH*KW``). The result is cast to the model's dtype by the
layer. Names and variances follow Keras, but every normal initializer is untruncated
(Keras truncates at 2 standard deviations); ``lecun_normal`` is the tutorials'
``randn / sqrt(fan_in)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._checks import is_number
from .backend import RandomSource
from .errors import ConfigError

Initializer = Callable[[tuple[int, ...], int, int, RandomSource], np.ndarray]


def he_normal(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
    """He et al. (2015): ``N(0, 2 / fan_in)`` — for ReLU networks."""
    return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)


def lecun_normal(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
    """LeCun / the course's "1/sqrt(fan_in)": ``N(0, 1 / fan_in)``."""
    return rng.standard_normal(shape) / np.sqrt(fan_in)


def glorot_normal(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
    """Xavier/Glorot normal: ``N(0, 2 / (fan_in + fan_out))`` — for tanh/sigmoid networks."""
    return rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
    """Xavier/Glorot uniform: ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def normal(std: float = 0.01) -> Initializer:
    """``N(0, std**2)``, e.g. the course's ``randn * 0.01``."""
    if not (is_number(std) and 0 < std < math.inf):
        raise ConfigError(f"normal(std) needs a finite std > 0, got {std!r}")

    def init(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
        return rng.standard_normal(shape) * std

    init.__name__ = f"normal({std})"
    init.std = std  # type: ignore[attr-defined]
    return init


def zeros(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: RandomSource) -> np.ndarray:
    """All zeros (biases)."""
    return np.zeros(shape)


_NAMED = {
    "he_normal": he_normal,
    "lecun_normal": lecun_normal,
    "glorot_normal": glorot_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "zeros": zeros,
    # short names (after the full ones, so that name_of() saves the full name)
    "he": he_normal,
    "xavier": glorot_normal,
    "lecun": lecun_normal,
}


def get(spec: str | float | Initializer) -> Initializer:
    """Resolve a name (``"he_normal"``), ``"normal:0.01"``, a float std, or a callable."""
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):  # True is no std
        return normal(float(spec))
    if isinstance(spec, str):
        if spec in _NAMED:
            return _NAMED[spec]
        if spec == "normal" or spec.startswith("normal:"):
            std = spec.partition(":")[2]
            try:
                # "normal" alone is the course's 0.01; "normal:" promises a STD it lacks
                value = float(std) if spec != "normal" else 0.01
            except ValueError:
                raise ConfigError(f"initializer {spec!r}: STD in 'normal:STD' must be a number, "
                                  f"e.g. normal:0.01") from None
            return normal(value)  # which refuses std <= 0 in its own words
    raise ConfigError(
        f"unknown initializer {spec!r}; choose one of {sorted(_NAMED)} or 'normal:STD'"
    )


def name_of(init: Initializer) -> str | float:
    """A JSON-able name that :func:`get` turns back into ``init``."""
    for name, fn in _NAMED.items():
        if fn is init:
            return name
    if hasattr(init, "std"):
        return f"normal:{init.std}"
    raise ConfigError(f"initializer {init!r} cannot be saved; use a named one")
