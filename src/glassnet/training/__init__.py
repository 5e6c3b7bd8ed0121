"""Training: the fit loop, History, callbacks and the progress display."""

from ..split import stratified_split
from .callbacks import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .loop import batch_indices, fit
from .model_checkpoint import ModelCheckpoint
from .progress import ProgressBar
from .reduce_lr import ReduceLROnPlateau

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "ModelCheckpoint", "ProgressBar", "ReduceLROnPlateau", "batch_indices", "fit", "stratified_split"]
