"""Layers: each file holds one concept with its forward and backward pass."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import LAYER_CLASSES, Layer, layer_from_config
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNorm
from .reshape import Flatten

__all__ = [
    "LAYER_CLASSES",
    "BatchNorm",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
    "layer_from_config",
]
