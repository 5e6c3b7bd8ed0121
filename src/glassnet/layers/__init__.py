"""Layers: each file holds one concept with its forward and backward pass."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import LAYER_CLASSES, Layer, layer_from_config
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .normalization import BatchNorm
from .pooling import AvgPool2D, GlobalAveragePooling2D, MaxPool2D
from .reshape import Flatten

__all__ = [
    "LAYER_CLASSES",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "get_activation",
    "layer_from_config",
]
