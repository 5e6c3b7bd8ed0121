"""``History``: what happened in each epoch, Keras-style (``history.history["loss"]``)."""

from __future__ import annotations

from typing import Any


class History:
    """Per-epoch logs. ``history[key]`` is a list with one value per epoch run."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def last(self) -> dict[str, float]:
        return {k: v[-1] for k, v in self.history.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), **self.history}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        h = cls()
        h.epoch = [int(e) for e in data.get("epoch", [])]
        h.history = {k: [float(x) for x in v] for k, v in data.items() if k != "epoch"}
        return h
