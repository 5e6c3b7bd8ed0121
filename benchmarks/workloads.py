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


# -- CIFAR-10 workloads -----------------------------------------------------------------------
CIFAR_IMAGES = 1024  # images per repetition: enough for steady BLAS, short on 2 cores


def cifar_train(limit: int | None = CIFAR_IMAGES):
    from glassnet.data import load_cifar10

    data = load_cifar10(splits=("train",))["train"]
    return data if limit is None else data.subset(np.arange(limit))


def _glassnet_cifar(model_name: str, kind: str, batch_size: int, optimizer, **options):
    def build():
        from glassnet import zoo

        data = cifar_train(None if model_name == "mlp" else CIFAR_IMAGES)
        model = zoo.build(model_name, data.image_shape, 10, seed=0, **options)
        model.set_preprocessing(scale=1 / 255)
        model.compile(loss="categorical_crossentropy", optimizer=optimizer())
        runner = (glassnet_fit_runner(model, data.x, data.y, batch_size) if kind == "train"
                  else glassnet_predict_runner(model, data.x, batch_size))
        return runner, model_flops(model, training=kind == "train")

    return build


def _torch_cifar(net_fn, kind: str, batch_size: int, optimizer, limit: int | None = CIFAR_IMAGES):
    def build():
        import torch

        data = cifar_train(limit)
        net = net_fn()
        if kind == "infer":
            return torch_predict_runner(net, data.x, batch_size)
        return torch_fit_runner(net, torch.nn.CrossEntropyLoss(), optimizer(net.parameters()),
                                data.x, data.y, batch_size)

    return build


def _torch_reference(name: str):
    def make():
        import torch_reference

        return getattr(torch_reference, name)()

    return make


def _adam():
    import glassnet as gn

    return gn.optimizers.Adam(lr=1e-3)


def _torch_adam(params):
    import torch

    return torch.optim.Adam(params, lr=1e-3)


def _sgd_nesterov():
    import glassnet as gn

    return gn.optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def _torch_sgd_nesterov(params):
    import torch

    return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def _sgd():
    import glassnet as gn

    return gn.optimizers.SGD(lr=0.01)


def _torch_sgd(params):
    import torch

    return torch.optim.SGD(params, lr=0.01)


register(Workload("cifar-mlp", "mlp --hidden 100 on CIFAR-10 (5,000 images), batch 500", "train",
                  500, _glassnet_cifar("mlp", "train", 500, _sgd, hidden=(100,)),
                  _torch_cifar(lambda: torch_mlp(3072, (100,), 10, channels_last=True), "train",
                               500, _torch_sgd, limit=None)))
for _kind in ("train", "infer"):
    register(Workload(f"cnn-keras-{_kind}", f"cnn-keras on CIFAR-10, batch 128, {_kind}", _kind, 128,
                      _glassnet_cifar("cnn-keras", _kind, 128, _adam),
                      _torch_cifar(_torch_reference("cnn_keras"), _kind, 128, _torch_adam)))
    register(Workload(f"cnn-bn-{_kind}", f"cnn-bn on CIFAR-10, batch 128, {_kind}", _kind, 128,
                      _glassnet_cifar("cnn-bn", _kind, 128, _sgd_nesterov),
                      _torch_cifar(_torch_reference("cnn_bn"), _kind, 128, _torch_sgd_nesterov)))


# -- single layers: forward + backward on random data ---------------------------------------------
LAYER_REPS = 20


def _glassnet_layer(make_layer, shape):
    def build():
        rng = np.random.default_rng(0)
        layer = make_layer()
        layer.build(shape[1:], rng, "float32")
        x = rng.standard_normal(shape, dtype=np.float32)
        dy = rng.standard_normal((shape[0], *layer.output_shape), dtype=np.float32)

        def run() -> int:
            for _ in range(LAYER_REPS):
                layer.forward(x, training=True)
                layer.backward(dy)
            return LAYER_REPS * shape[0]

        return run, layer_flops(layer, training=True)

    return build


def _torch_layer(make_module, shape):
    def build():
        import torch

        module = make_module()
        x = torch.randn(shape, requires_grad=True)
        dy = torch.randn(module(x).shape)

        def run() -> int:
            for _ in range(LAYER_REPS):
                x.grad = None
                module(x).backward(dy)
            return LAYER_REPS * shape[0]

        return run

    return build


def _conv_pair(c_in, c_out, size):
    import glassnet.layers as L

    shape = (128, c_in, size, size)

    def torch_conv():
        import torch

        return torch.nn.Conv2d(c_in, c_out, 3, padding=1)

    return (_glassnet_layer(lambda: L.Conv2D(c_out, 3, padding="same"), shape),
            _torch_layer(torch_conv, shape))


def _pool_pair(channels, size):
    import glassnet.layers as L

    shape = (128, channels, size, size)

    def torch_pool():
        import torch

        return torch.nn.MaxPool2d(2)

    return (_glassnet_layer(lambda: L.MaxPool2D(2), shape), _torch_layer(torch_pool, shape))


for _c_in, _c_out, _size in ((3, 32, 32), (32, 64, 16)):
    _g, _t = _conv_pair(_c_in, _c_out, _size)
    register(Workload(f"conv{_c_in}-{_c_out}@{_size}", f"Conv2D 3x3 same, {_c_in}->{_c_out} "
                      f"channels, {_size}x{_size}, batch 128, forward+backward", "layer", 128, _g, _t))
_g, _t = _pool_pair(32, 32)
register(Workload("maxpool32@32", "MaxPool2D 2x2 on 32 channels, 32x32, batch 128, forward+backward",
                  "layer", 128, _g, _t))
