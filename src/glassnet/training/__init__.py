"""Training: the fit loop, History, callbacks and the progress display."""

from ..split import stratified_split
from .callbacks import Callback, CallbackList, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from .history import History
from .loop import batch_indices, fit
from .progress import ProgressBar

__all__ = ["Callback", "CallbackList", "EarlyStopping", "History", "ModelCheckpoint", "ProgressBar",
           "ReduceLROnPlateau", "batch_indices", "fit", "stratified_split"]
