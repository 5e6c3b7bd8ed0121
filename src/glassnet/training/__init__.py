"""Training: the fit loop, History, callbacks and the progress display."""

from .callbacks import Callback, CallbackList
from .history import History
from .loop import batch_indices, fit
from .progress import ProgressBar
from .split import stratified_split

__all__ = ["Callback", "CallbackList", "History", "ProgressBar", "batch_indices", "fit",
           "stratified_split"]
