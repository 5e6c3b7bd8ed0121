"""``LambdaCallback``: a callback made of functions given as keyword arguments, as Keras'
callback of that name (the quickest way to hook into :func:`~glassnet.training.fit`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .callbacks import Callback


class LambdaCallback(Callback):
    """A callback made of functions, as Keras' ``LambdaCallback``: each one given is called
    at its hook with glassnet's arguments, ``on_train_begin(logs)``,
    ``on_epoch_begin(epoch, logs)``, ``on_batch_end(batch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.

    The functions are keyword arguments only (Keras' order of them differs). A Keras hook
    glassnet never calls (``on_batch_begin``, ``on_train_batch_end``...) is an error.
    """

    def __init__(self, *, on_train_begin: Callable[..., Any] | None = None,
                 on_epoch_begin: Callable[..., Any] | None = None,
                 on_batch_end: Callable[..., Any] | None = None,
                 on_epoch_end: Callable[..., Any] | None = None,
                 on_train_end: Callable[..., Any] | None = None, **others: Any) -> None:
        if others:
            raise ConfigError(f"LambdaCallback got {', '.join(sorted(others))}, which glassnet never "
                              f"calls; its hooks are {', '.join(self.HOOKS)} (on_batch_end is Keras' "
                              "on_train_batch_end)")
        given = {"on_train_begin": on_train_begin, "on_epoch_begin": on_epoch_begin,
                 "on_batch_end": on_batch_end, "on_epoch_end": on_epoch_end, "on_train_end": on_train_end}
        for hook, function in given.items():
            if function is not None and not callable(function):
                raise ConfigError(f"LambdaCallback {hook} must be a function, got {function!r}")
            if function is not None:  # it replaces the method that does nothing
                setattr(self, hook, function)
