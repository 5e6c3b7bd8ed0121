"""Model files and interop: the ``.glassnet`` format, checkpoints, ONNX export."""

from .format import load_model, save_model

__all__ = ["load_model", "save_model"]
