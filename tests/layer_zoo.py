"""Models for file-format and export tests: together they use every layer class."""

from __future__ import annotations

import numpy as np

from glassnet import Sequential, layers


def perturbed(model: Sequential, seed: int = 0) -> Sequential:
    """Give every array (biases, running statistics too) distinct non-default values."""
    rng = np.random.default_rng(seed)
    model.set_weights({k: v + np.abs(rng.standard_normal(v.shape)) * 0.1
                       for k, v in model.get_weights().items()})
    return model


def dense_model(dtype: str = "float32") -> Sequential:
    """Every dense-side layer and activation, channels-last flattening, 1-D batch norm."""
    return Sequential([
        layers.Flatten(channels_last=True),
        layers.Dense(16, activation="relu"), layers.Dense(12, activation="tanh", use_bias=False),
        layers.BatchNorm(), layers.Dense(10, activation="sigmoid"), layers.Dropout(0.3),
        layers.Dense(9, activation="leaky_relu"), layers.LeakyReLU(0.2), layers.Dense(8), layers.ReLU(),
        layers.Dense(7), layers.Tanh(), layers.Dense(6), layers.Sigmoid(),
        layers.Dense(5, activation="softmax"), layers.Dense(4), layers.Softmax(), layers.Dense(3),
    ], input_shape=(3, 64, 64), seed=4, dtype=dtype)


def conv_model(input_shape: tuple[int, ...] = (3, 64, 64), classes: int = 3,
               dtype: str = "float32") -> Sequential:
    """Every image layer: padded, strided and fused-activation convolutions, pools with padding."""
    return Sequential([
        layers.Conv2D(6, 3, strides=2, padding="same", activation="relu"), layers.BatchNorm(),
        layers.MaxPool2D(3, strides=2, padding=1), layers.Conv2D(5, (3, 2), padding=(1, 0), use_bias=False),
        layers.Dropout(0.2), layers.AvgPool2D(2, padding=1), layers.Conv2D(4, 1, activation="tanh"),
        layers.MaxPool2D(2), layers.Flatten(), layers.Dense(8, activation="relu"),
        layers.Dense(classes),
    ], input_shape=input_shape, seed=5, dtype=dtype)


def conv_gap_model(input_shape: tuple[int, ...] = (3, 64, 64), dtype: str = "float32") -> Sequential:
    return Sequential([layers.Conv2D(8, 5, padding="same", activation="relu"), layers.AvgPool2D(2),
                       layers.GlobalAveragePooling2D(), layers.Dense(1)], input_shape=input_shape, seed=6,
                      dtype=dtype)


def layer_types(model: Sequential) -> set[str]:
    found = {type(layer).__name__ for layer in model.layers}
    return found | {type(layer.activation).__name__ for layer in model.layers
                    if getattr(layer, "activation", None) is not None}
