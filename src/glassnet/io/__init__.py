"""Model files and interop: the ``.glassnet`` format, checkpoints, ONNX export (``io.onnx``)."""

from .checkpoint import Checkpointer
from .checkpoint_file import read_checkpoint, save_checkpoint
from .format import load_model, save_model
from .resume import restore_training_state

__all__ = ["Checkpointer", "load_model", "read_checkpoint", "restore_training_state", "save_checkpoint",
           "save_model"]
