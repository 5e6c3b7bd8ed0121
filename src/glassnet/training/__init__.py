"""Training: the fit loop, History, callbacks and the progress display."""

from ..split import stratified_split
from .callbacks import Callback, CallbackList, EarlyStopping, LambdaCallback, ModelCheckpoint
from .csv_logger import CSVLogger
from .history import History
from .loop import batch_indices, fit
from .progress import ProgressBar
from .reduce_lr import ReduceLROnPlateau

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau", "batch_indices", "fit", "stratified_split"]
