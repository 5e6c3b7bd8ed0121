"""Training: the fit loop, History, callbacks and the progress display."""

from ..split import stratified_split
from .callbacks import Callback, CallbackList, CSVLogger, EarlyStopping, LambdaCallback, ModelCheckpoint
from .history import History
from .loop import batch_indices, fit
from .progress import ProgressBar

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "ModelCheckpoint", "ProgressBar", "batch_indices", "fit", "stratified_split"]
