"""Layers: each file holds one concept with its forward and backward pass."""

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, get_activation
from .base import LAYER_CLASSES, Layer, layer_from_config
from .dense import Dense
from .reshape import Flatten

__all__ = [
    "LAYER_CLASSES",
    "Dense",
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
