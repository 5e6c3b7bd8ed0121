"""What every figure of glassnet shares: the Agg canvas (no display, no pyplot state), the
colours, PNG bytes and files, class names as figure text, and images as ``imshow`` takes them.

The figures of :mod:`~glassnet.report.plots`, :mod:`~glassnet.report.curves` and
:mod:`~glassnet.report.search_plots` are :class:`matplotlib.figure.Figure` objects made by
:func:`new_figure`; :func:`figure_png` turns one into PNG bytes and :func:`save_figure`
writes it atomically.
"""

from __future__ import annotations

import functools
import io
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._files import write_bytes
from .._text import printable
from ..errors import ShapeError

TRAIN_COLOR, VAL_COLOR, LR_COLOR = "#1f77b4", "#ff7f0e", "#7f7f7f"
OK_COLOR, WRONG_COLOR = "#2ca02c", "#d62728"


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas with constrained layout; ``width, height`` in inches."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes. Characters the font lacks (a data set's name in Chinese
    with DejaVu Sans) are drawn as boxes without a warning per character; class names are
    numbered instead (:func:`figure_labels`), and the HTML report and the text tables show
    every name as it is.

    The figure is laid out once before it is drawn into the PNG: constrained layout needs
    a second pass to settle around axes that hold an image (their aspect is fixed), and
    from the first alone a gallery of one row, or a long title over a narrow image,
    reached past the figure's edge and was cut off."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        fig.draw_without_rendering()
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def short_name(name: str, limit: int = 16) -> str:
    """A class name of at most ``limit`` characters for titles and tick labels: its start
    and its end around a "…" (``golden_…er_puppy``: names often differ only at the end)."""
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return name[:head] + "…" + name[-(limit - 1 - head):]


def short_names(names: Sequence[str], limit: int = 16) -> list[str]:
    """:func:`short_name` of each name; names that would look the same are lengthened
    (more of their start and end) until they differ, and kept whole if need be
    (``class_000_golden_retriever_puppy`` and ``class_003_golden_retriever_puppy`` become
    ``class_000…ver_puppy`` and ``class_003…ver_puppy``, not both ``class_0…r_puppy``)."""
    names = [str(name) for name in names]
    limits = [limit] * len(names)
    short = [short_name(name, limit) for name in names]
    while True:  # ends: each round lengthens every clashing name, and a whole name never clashes
        seen = Counter(short)
        clashing = [i for i, s in enumerate(short) if seen[s] > 1 and s != names[i]]
        if not clashing:
            return short
        for i in clashing:
            limits[i] += 1
            short[i] = short_name(names[i], limits[i])


def literal(text: str) -> str:
    """``text`` drawn as it is: matplotlib reads ``$...$`` as a formula (a class named
    ``price_$5_to_$10`` stopped the whole report; ``size_$x^2$`` showed a superscript)."""
    return str(text).replace("$", r"\$")


@functools.lru_cache(maxsize=1)
def _drawable_characters() -> frozenset[int]:
    """The code points the figures' font, with matplotlib's fallback fonts, can draw."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    prop = font_manager.FontProperties()
    try:  # the chain of fonts matplotlib falls back through (3.6+)
        paths = font_manager.fontManager._find_fonts_by_props(prop)
    except AttributeError:
        paths = [font_manager.findfont(prop)]
    return frozenset(point for path in paths for point in FT2Font(str(path)).get_charmap())


def drawable(names: Sequence[str]) -> bool:
    """Whether the figures can draw every character of ``names`` as :func:`figure_labels`
    writes them (a tab, a zero-width space written as ``\t``, ``\u200b``)."""
    points = _drawable_characters()
    return all(ord(ch) in points or ch == " " for name in names for ch in printable(str(name)))


def figure_labels(names: Sequence[str], limit: int = 16) -> list[str]:
    """The class names as figure text: :func:`short_names`, drawn literally; or the class
    numbers ``#0``, ``#1``, ... when the font cannot draw a name (Chinese names with DejaVu
    Sans: every name would be the same row of boxes, and a wrong prediction would read as
    right). The HTML report then lists which number is which class. Control and invisible
    characters are written as escapes (:func:`~glassnet._text.printable`): ``cat`` and
    ``cat\u200b`` are two classes and must not look the same."""
    names = [printable(str(name)) for name in names]
    if not drawable(names):
        return [f"#{i}" for i in range(len(names))]
    return [literal(label) for label in short_names(names, limit)]


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> None:
    """Write the figure as a PNG file, atomically."""
    write_bytes(path, figure_png(fig, dpi))


def image_for_display(image: np.ndarray) -> np.ndarray:
    """One image ``(C, H, W)`` (C = 1 or 3) → ``(H, W)`` or ``(H, W, 3)`` for ``imshow``.

    uint8 images are shown as they are; float images are scaled to [0, 1] by their range.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ShapeError(f"expected one image of shape (C, H, W) with C = 1 or 3, got {image.shape}")
    if image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        image = (image - low) / (high - low) if high > low else np.zeros_like(image, dtype=float)
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
