"""``History``: what happened in each epoch, Keras-style (``history.history["loss"]``)."""

from __future__ import annotations

import math
import weakref
from typing import Any


class History:
    """Per-epoch logs. ``history[key]`` is a list with one value per epoch run (``NaN`` for
    an epoch that did not log it); ``history["epoch"]`` the epochs, counted from 0. As Keras'
    History, ``params`` holds the last fit's ``{"verbose", "epochs", "steps"}`` and ``model``
    the model it trained (empty and ``None`` for a history read from a file)."""

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.params: dict[str, Any] = {}
        self._model: weakref.ref | None = None

    @property
    def model(self) -> Any:
        """The model the last fit trained, while it exists: held by a weak reference, so
        that a model dropped is freed at once (its threads with it), not when Python's
        cycle collector comes by (``model.history.model`` is the model)."""
        return self._model() if self._model is not None else None

    @model.setter
    def model(self, model: Any) -> None:
        self._model = None if model is None else weakref.ref(model)

    def __getstate__(self) -> dict[str, Any]:
        # a weak reference cannot be pickled, and would tie a copy to the original model
        return {**self.__dict__, "_model": None}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for values in self.history.values():
            values.append(math.nan)  # a key this epoch does not log stays NaN
        self.add_late(logs)

    def add_late(self, logs: dict[str, float]) -> None:
        """Record the last epoch's ``logs`` as the callbacks left them: values they added
        (``val_f1``; a key new to the history gets ``NaN`` for the epochs before) and values
        they changed, as Keras' History, which runs after them, has it (and as a CSVLogger
        after them writes it). Values that are not numbers (a callback's note) are not
        recorded."""
        for key, value in _numbers(logs).items():
            if key not in self.history:
                self.history[key] = [math.nan] * (len(self.epoch) - 1) + [float(value)]
            else:
                self.history[key][-1] = float(value)

    def drop_last(self) -> None:
        """Forget the last epoch (its weights were not kept)."""
        self.epoch.pop()
        for values in self.history.values():
            values.pop()

    def cut(self, epochs: int) -> None:
        """Forget every epoch from ``epochs`` (counted from 0) on: the model kept the weights
        it had after ``epochs`` epochs (the NaN guard put them back)."""
        while self.epoch and self.epoch[-1] >= epochs:
            self.drop_last()

    def __getitem__(self, key: str) -> list[float]:
        return list(self.epoch) if key == "epoch" else self.history[key]

    def __contains__(self, key: str) -> bool:
        return key == "epoch" or key in self.history

    def continues_at(self, epoch: int) -> bool:
        """Whether ``epoch`` follows the last epoch recorded (a resumed run goes on here)."""
        return bool(self.epoch) and self.epoch[-1] == epoch - 1

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
        # null is how JSON files (history.json) write NaN
        h.history = {k: [math.nan if x is None else float(x) for x in v] for k, v in data.items()
                     if k != "epoch"}
        return h


def _numbers(logs: dict[str, Any]) -> dict[str, float]:
    """The numeric values of ``logs`` (a callback may log text for the others to read)."""
    return {key: float(value) for key, value in logs.items() if is_logged_number(value)}


def is_logged_number(value: Any) -> bool:
    """A real number a callback logged: an int or float, or a 0-d array or tensor of them (a
    NumPy, CuPy or PyTorch reduction); not text, ``None``, a bool or a complex number."""
    if isinstance(value, (str, bytes, bool, complex)) or value is None:  # NumPy's: by dtype below
        return False
    dtype = getattr(value, "dtype", None)
    if getattr(value, "ndim", 0) != 0:
        return False
    if getattr(dtype, "kind", "f") not in "iuf":  # NumPy (CuPy) arrays: bool, complex, text, objects
        return False
    if "bool" in str(dtype) or "complex" in str(dtype):  # a PyTorch tensor's dtype has no kind
        return False
    try:
        float(value)  # NaN and infinity are numbers too
    except Exception:  # noqa: BLE001 - whatever float() of a foreign object raises: not a number
        return False
    return True
