"""Plain-text tables (model summary) shared by the API and the CLI."""

from __future__ import annotations

from typing import Any


def table(rows: list[list[str]], header: list[str], align: str | None = None) -> str:
    """A simple fixed-width table; ``align`` has one 'l' or 'r' per column."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = align or "l" * len(header)

    def fmt(row):
        cells = [str(c).ljust(w) if a == "l" else str(c).rjust(w)
                 for c, w, a in zip(row, widths, align, strict=True)]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(header))
    return "\n".join([fmt(header), rule, *(fmt(r) for r in rows)])


def model_summary(model: Any) -> str:
    """Keras-style summary: Layer (type) | Output Shape | Param #, then the totals."""
    rows = []
    for i, layer in enumerate(model.layers):
        name = layer.name or f"{type(layer).__name__.lower()}_{i}"
        shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")" if layer.built else "?"
        n_params = layer.count_params() + sum(int(v.size) for v in layer.state.values())
        rows.append([f"{name} ({type(layer).__name__})", shape, f"{n_params:,}"])
    trainable, frozen = model.count_params()
    body = table(rows, ["Layer (type)", "Output Shape", "Param #"], "llr")
    width = len(body.splitlines()[1])
    return "\n".join([
        f'Model: "{model.name}"',
        "=" * width,
        body,
        "=" * width,
        f"Total params: {trainable + frozen:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {frozen:,}",
    ])
