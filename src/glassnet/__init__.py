"""glassnet: deep learning you can see through.

A from-scratch NumPy neural-network library for image classification: every layer has
an explicit ``forward`` and ``backward`` you can read next to the math.

    >>> import glassnet as gn
    >>> model = gn.Sequential([gn.layers.Dense(7, activation="relu"), gn.layers.Dense(1)],
    ...                       input_shape=(12288,), seed=1)
"""

__version__ = "0.1.0"

from . import initializers, layers, losses, metrics, optimizers, schedules
from .backend import get_device, get_threads, set_device, set_threads, to_numpy
from .errors import GlassnetError
from .gradcheck import check_layer, check_loss, check_model, rel_error
from .io.format import load_model, save_model
from .model import Sequential
from .training import Callback, History

__all__ = [
    "Callback",
    "GlassnetError",
    "History",
    "Sequential",
    "__version__",
    "check_layer",
    "check_loss",
    "check_model",
    "get_device",
    "get_threads",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "optimizers",
    "rel_error",
    "save_model",
    "schedules",
    "set_device",
    "set_threads",
    "to_numpy",
]
