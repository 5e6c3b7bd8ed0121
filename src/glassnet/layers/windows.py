"""The geometry of a sliding window, shared by :class:`~glassnet.layers.Conv2D` and the
pools: kernel and stride pairs, padding (``"valid"``, ``"same"``, PyTorch-style numbers)
as ``(top, bottom, left, right)``, and the output size, with clear errors for a window that
cannot fit. The arithmetic itself (``output_size``, ``same_padding``) is in
:mod:`glassnet.functional`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._checks import check_positive_int, is_sequence, unwrap_scalar
from ..errors import ConfigError, ShapeError

#: padding as ``(top, bottom, left, right)``
Pads = tuple[int, int, int, int]


def to_pair(value: Any, what: str) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; ``(3, 2)`` stays; anything else is a :class:`ConfigError`."""
    value = unwrap_scalar(value)
    if is_sequence(value):
        if len(value) != 2:
            raise ConfigError(f"{what} must be an integer or a pair of integers, got {value!r}")
        return check_positive_int(value[0], what), check_positive_int(value[1], what)
    size = check_positive_int(value, what)
    return size, size


def resolve_padding(padding: Any, input_hw: tuple[int, int], kernel: tuple[int, int],
                    stride: tuple[int, int], what: str, allow_same: bool = True) -> Pads:
    """``"valid"`` (none), ``"same"`` (Keras: output ``ceil(size / stride)``; refused unless
    ``allow_same``: pools refuse it), an int or an ``(ph, pw)`` pair (that many zeros on each
    side) → ``(top, bottom, left, right)``."""
    if isinstance(padding, str) and padding == "valid":
        return (0, 0, 0, 0)
    if isinstance(padding, str) and padding == "same" and allow_same:
        top, bottom = F.same_padding(input_hw[0], kernel[0], stride[0])
        left, right = F.same_padding(input_hw[1], kernel[1], stride[1])
        return (top, bottom, left, right)
    padding = unwrap_scalar(padding)
    if is_sequence(padding) and len(padding) == 2:
        values = tuple(padding)
    else:
        values = (padding, padding)
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in values):
        choices = "'valid', 'same'," if allow_same else "'valid',"
        raise ConfigError(f"{what} padding must be {choices} an integer >= 0 or a pair, got {padding!r}")
    ph, pw = (int(v) for v in values)
    return (ph, ph, pw, pw)


def padding_config(padding: Any) -> str | int | list[int]:
    """``padding`` as :func:`resolve_padding` accepted it, in JSON's types for the config:
    a pair as a list of ints (NumPy integers would not save)."""
    if isinstance(padding, str):
        return padding
    if is_sequence(padding):
        return [int(v) for v in padding]
    return int(padding)


def window_output_shape(layer: str, input_shape: tuple[int, ...], kernel: tuple[int, int],
                        stride: tuple[int, int], pads: Pads) -> tuple[int, int]:
    """``(OH, OW)`` for an image input ``(C, H, W)``; clear errors for anything that cannot fit."""
    if len(input_shape) != 3:
        raise ShapeError(f"{layer} expects images (N, C, H, W), got inputs of shape "
                         f"(N, {', '.join(map(str, input_shape))})")
    _, h, w = input_shape
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if kernel[0] > hp or kernel[1] > wp:
        raise ShapeError(f"{layer}: kernel {kernel[0]}x{kernel[1]} is larger than the padded "
                         f"input {hp}x{wp} (input {h}x{w}, padding {pads})")
    return F.output_size(hp, kernel[0], stride[0]), F.output_size(wp, kernel[1], stride[1])
