"""Benchmark workloads: the same network and data in glassnet and in PyTorch.

Each workload builds, for one framework, a ``Runner`` whose ``run()`` does one
repetition (an epoch, or a fixed number of steps) and returns the images processed. The
PyTorch side mirrors glassnet's work step for step: uint8 batches converted to float32
and scaled each step, the same layer sizes, loss and optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Runner = Callable[[], int]


@dataclass
class Workload:
    name: str
    description: str
    kind: str  # "train" or "infer"
    batch_size: int | None  # None = full batch
    build_glassnet: Callable[[], tuple[Runner, float]]  # -> (runner, flops per image)
    build_torch: Callable[[], Runner]


WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    WORKLOADS[workload.name] = workload
    return workload


# -- data -------------------------------------------------------------------------------
def cats_train():
    from glassnet.data import load_cats

    return load_cats()["train"]


# -- FLOPs ----------------------------------------------------------------------------------
def layer_flops(layer, training: bool) -> float:
    """Multiply-adds x 2 per image for the layers that dominate (dense, conv); training
    adds the weight gradient and, except for the first trainable layer, the input gradient."""
    name = type(layer).__name__
    if name == "Dense":
        forward = 2.0 * layer.input_shape[0] * layer.units
    elif name == "Conv2D":
        f, c, kh, kw = layer.params["W"].shape
        forward = 2.0 * c * kh * kw * f * math.prod(layer.output_shape[1:])
    else:
        return 0.0
    if not training:
        return forward
    return forward * (3.0 if layer.input_grad else 2.0)


def model_flops(model, training: bool) -> float:
    return sum(layer_flops(layer, training) for layer in model.layers)


# -- glassnet and torch runners ------------------------------------------------------------------
def glassnet_fit_runner(model, x, y, batch_size, epochs_per_rep: int = 1) -> Runner:
    def run() -> int:
        model.fit(x, y, epochs=epochs_per_rep, batch_size=batch_size, verbose=0)
        return epochs_per_rep * len(x)

    return run


def glassnet_predict_runner(model, x, batch_size) -> Runner:
    def run() -> int:
        model.predict(x, batch_size=batch_size)
        return len(x)

    return run


def torch_fit_runner(net, loss_fn, optimizer, x, y, batch_size, epochs_per_rep: int = 1,
                     seed: int = 0) -> Runner:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(x))
    y = torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    size = batch_size or len(x)

    def run() -> int:
        # A full batch is the same every epoch: convert it once per call, as glassnet's
        # fit does.
        full = x.float().mul_(1 / 255) if batch_size is None else None
        net.train()
        for _ in range(epochs_per_rep):
            order = torch.randperm(len(x), generator=gen) if batch_size else torch.arange(len(x))
            for start in range(0, len(x), size):
                idx = order[start:start + size]
                xb = full if full is not None else x[idx].float().mul_(1 / 255)
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(xb), y[idx])
                loss.backward()
                optimizer.step()
                loss.item()
        return epochs_per_rep * len(x)

    return run


def torch_predict_runner(net, x, batch_size) -> Runner:
    import torch

    x = torch.from_numpy(np.ascontiguousarray(x))

    def run() -> int:
        net.eval()
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                net(x[start:start + batch_size].float().mul_(1 / 255)).numpy()
        return len(x)

    return run


def torch_mlp(input_features: int, hidden: tuple[int, ...], outputs: int, channels_last: bool):
    import torch

    layers: list = [Permute((0, 2, 3, 1))] if channels_last else []
    layers.append(torch.nn.Flatten())
    sizes = (input_features, *hidden)
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-1], outputs))
    return torch.nn.Sequential(*layers)


def Permute(dims):  # noqa: N802 - a layer factory, named like the torch modules beside it
    import torch

    class _Permute(torch.nn.Module):
        def forward(self, x):
            return x.permute(*dims)

    return _Permute()


# -- the workloads ---------------------------------------------------------------------------
EPOCHS_CATS = 50  # one repetition; a full-batch epoch on 209 images takes milliseconds


def _cats_mlp_glassnet():
    import glassnet as gn
    from glassnet import zoo

    data = cats_train()
    model = zoo.build("mlp", data.image_shape, 2, seed=1, hidden=(20, 7, 5))
    model.set_preprocessing(scale=1 / 255)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.0075))
    return (glassnet_fit_runner(model, data.x, data.y, None, EPOCHS_CATS),
            model_flops(model, training=True))


def _cats_mlp_torch():
    import torch

    data = cats_train()
    net = torch_mlp(12288, (20, 7, 5), 1, channels_last=True)
    loss = torch.nn.BCEWithLogitsLoss()
    y = data.y.astype(np.float32).reshape(-1, 1)
    # glassnet flattens the full batch once (it is the same array every epoch); the torch
    # equivalent of that is flattening once before training as the course does.
    x = np.ascontiguousarray(data.x.transpose(0, 2, 3, 1)).reshape(len(data.x), -1)
    net = torch.nn.Sequential(*list(net.children())[2:])
    return torch_fit_runner(net, loss, torch.optim.SGD(net.parameters(), lr=0.0075), x, y,
                            None, EPOCHS_CATS)


register(Workload("cats-mlp", "mlp --hidden 20,7,5 on the cat set, full batch (209 images)",
                  "train", None, _cats_mlp_glassnet, _cats_mlp_torch))
