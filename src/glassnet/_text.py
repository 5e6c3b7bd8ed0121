"""Small text helpers that the core (the progress lines) and the reports and CLI share."""

from __future__ import annotations

from typing import Any


def count(n: Any, noun: str) -> str:
    """``"1 epoch"``, ``"3 epochs"``, ``"? epochs"``: a number with its noun in the right form."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
