"""Small text helpers that the core (the progress lines, ``Sequential.summary``) and the
reports and CLI share."""

from __future__ import annotations

import unicodedata
from typing import Any


def count(n: Any, noun: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"? epochs"``: a number with its noun in the right form."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def logged_number(key: str, value: Any) -> str:
    """A logged number as the progress lines and ``glassnet info`` show it: a learning rate
    to 3 significant digits (4 decimals would show a decayed 5.11e-05 as 0.0001), every other
    metric as :func:`score_text`."""
    return f"{float(value):.3g}" if key == "lr" and value is not None else score_text(value)


def score_text(value: Any) -> str:
    """A loss or a score with 4 decimals; from a million up (a diverging run's loss) with 4
    significant digits, ``2.332e+27``, not 31 digits. ``None`` (JSON's null, as a file
    records NaN, or no loss at all) is ``n/a``."""
    if value is None:
        return "n/a"
    value = float(value)
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def batch_size_text(batch_size: int | None) -> str:
    """``"64"``, or ``"full"`` for full-batch training (``None``): as ``--batch-size`` takes it."""
    return "full" if batch_size is None else str(batch_size)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: 2 for wide characters (猫), 0 for combining marks
    and format characters (a zero-width joiner)."""
    return sum(0 if unicodedata.combining(ch) or (unicodedata.category(ch) == "Cf" and ch != "\u00ad")
               else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(rows: list[list[str]], header: list[str], align: str | None = None) -> str:
    """A simple fixed-width table; ``align`` has one 'l' or 'r' per column (aligned by
    :func:`display_width`, so class names in any script line up)."""
    # a class folder's name may hold a newline or Latin-1 bytes: each cell as one printable line
    header, rows = [printable(str(c)) for c in header], [[printable(str(c)) for c in r] for r in rows]
    widths = [max(display_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = align or "l" * len(header)

    def fmt(row):
        cells = []
        for cell, width, side in zip(row, widths, align, strict=True):
            pad = " " * (width - display_width(cell))
            cells.append(f"{cell}{pad}" if side == "l" else f"{pad}{cell}")
        return "  ".join(cells).rstrip()

    rule = "-" * display_width(fmt(header))
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


SUMMARY_HEADER = ["Layer (type)", "Output Shape", "Param #"]


def summary_rows(model: Any) -> tuple[list[list[str]], dict[str, int]]:
    """Rows ``[name (Type), output shape, parameter count]`` per layer and the totals
    ``{"total", "trainable", "non_trainable"}``."""
    rows = []
    for i, layer in enumerate(model.layers):
        name = layer.name or f"{type(layer).__name__.lower()}_{i}"
        shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")" if layer.built else "?"
        n_params = layer.count_params() + sum(int(v.size) for v in layer.state.values())
        rows.append([f"{name} ({type(layer).__name__})", shape, f"{n_params:,}"])
    trainable, frozen = model.count_params()
    return rows, {"total": trainable + frozen, "trainable": trainable, "non_trainable": frozen}


def model_summary(model: Any) -> str:
    """Keras-style summary: Layer (type) | Output Shape | Param #, then the totals."""
    rows, totals = summary_rows(model)
    body = table(rows, SUMMARY_HEADER, "llr")
    width = len(body.splitlines()[1])
    return "\n".join([
        f'Model: "{model.name}"',
        "=" * width,
        body,
        "=" * width,
        f"Total params: {totals['total']:,}",
        f"Trainable params: {totals['trainable']:,}",
        f"Non-trainable params: {totals['non_trainable']:,}",
        *filter(None, [image_shapes_note(model)]),
    ])


def image_shapes_note(model: Any) -> str | None:
    """Keras' table with PyTorch's layout: a model with image outputs says so, or
    ``(None, 16, 8, 8)`` would read as 8 channels to a Keras user."""
    if any(layer.built and len(layer.output_shape) == 3 for layer in model.layers):
        return "Image shapes are (None, channels, height, width)."
    return None


def well_formed(data: Any) -> Any:
    """``data`` with each string made valid Unicode: a file name's bytes that are not UTF-8
    (Latin-1 ``caf\xe9.png``, which Python holds as lone surrogates that JSON readers such as
    jq reject) become the text ``\xe9``, as :func:`printable` shows them."""
    if isinstance(data, str):
        surrogates = [ch for ch in data if 0xD800 <= ord(ch) <= 0xDFFF]
        if not surrogates:
            return data
        if all(0xDC80 <= ord(ch) <= 0xDCFF for ch in surrogates):  # bytes, by surrogateescape
            return data.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return data.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(data, dict):
        return {well_formed(key): well_formed(value) for key, value in data.items()}
    if isinstance(data, list):
        return [well_formed(value) for value in data]
    return data


# What breaks a line or a terminal: control characters (a newline, an escape sequence), the
# line and paragraph separators, and lone surrogates (a name's bytes that are not UTF-8);
# and the invisible format characters (bidirectional overrides can reverse the rest of a
# line; a zero-width space, word joiner or soft hyphen makes "cat\u2060" look like "cat"),
# except those a name needs: Persian's zero-width non-joiner, the joiner of emoji sequences
# and the tag characters of flag emoji.
_ESCAPED = frozenset({"Cc", "Zl", "Zp", "Cs", "Cf"})


def _kept_format_character(ch: str, text: str) -> bool:
    """ZWNJ and ZWJ anywhere; tag characters only in a name with a black flag (U+1F3F4),
    which they turn into a subdivision's flag (elsewhere they would hide text)."""
    return ch in "\u200c\u200d" or (0xE0020 <= ord(ch) <= 0xE007F and "\U0001f3f4" in text)


def printable(text: str) -> str:
    """``text`` (a file or class name) as one printable line: control characters (a newline
    in a name) written as escapes, and bytes that are not UTF-8 (Latin-1 ``caf\xe9.png``) as
    ``\xe9``; every other character as it is."""
    if text.isprintable():
        return text
    return "".join(ch if unicodedata.category(ch) not in _ESCAPED or _kept_format_character(ch, text)
                   else f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF  # surrogateescape
                   else ascii(ch)[1:-1] for ch in text)
