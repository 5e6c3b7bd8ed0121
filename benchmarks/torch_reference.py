"""The PyTorch side of the CIFAR-10 acceptance recipes, for accuracy comparisons.

    PYTHONPATH=src GLASSNET_DATA=../shared/data python benchmarks/torch_reference.py \\
        --model cnn-bn --epochs 30 --threads 1

Same data (glassnet's CIFAR-10 loader), same augmentation functions (glassnet's flip and
reflect-padded crop, seeded), same architecture and recipe as ``glassnet train``:

- ``cnn-keras``: Adam 1e-3, batch 128, 20% stratified validation hold-out.
- ``cnn-bn``: six 3x3 conv-BN-ReLU layers (32/32/64/64/128/128), max-pools after the
  2nd and 4th, global average pooling, dropout 0.3; SGD Nesterov momentum 0.9, weight
  decay 5e-4, one-cycle learning rate peaking at 0.1 (momentum not cycled, as in
  glassnet), batch 128, flips and crops.

Prints one JSON line: test accuracy, epochs, seconds, images/second.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn

from glassnet.data import augment, load


def cnn_keras() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


def cnn_bn(widths=(32, 64, 128), dropout: float = 0.3) -> nn.Module:
    layers: list[nn.Module] = []
    channels = 3
    for i, width in enumerate(widths):
        if i:
            layers.append(nn.MaxPool2d(2))
        for _ in range(2):
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU()]
            channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                         nn.Linear(channels, 10))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            out = model(torch.from_numpy(x[i:i + 500]).float().div_(255))
            correct += int((out.argmax(1).numpy() == y[i:i + 500]).sum())
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["cnn-keras", "cnn-bn"], default="cnn-bn")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load("cifar10")
    train, test = data["train"], data["test"]
    if args.model == "cnn-keras":
        train, _ = train.split(0.2, seed=args.seed)
        model = cnn_keras()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        sched, aug = None, None
    else:
        model = cnn_bn()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        steps = args.epochs * -(-len(train) // 128)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps,
                                                    cycle_momentum=False)  # as glassnet
        aug = augment.parse("flip,crop")
    start = time.perf_counter()
    for _ in range(args.epochs):
        model.train()
        order = rng.permutation(len(train))
        for i in range(0, len(train), 128):
            idx = order[i:i + 128]
            xb = train.x[idx] if aug is None else aug(train.x[idx], rng)
            out = model(torch.from_numpy(np.ascontiguousarray(xb)).float().div_(255))
            loss = nn.functional.cross_entropy(out, torch.from_numpy(train.y[idx]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
    seconds = time.perf_counter() - start
    print(json.dumps({"model": args.model, "epochs": args.epochs, "seed": args.seed,
                      "threads": args.threads, "test_accuracy": accuracy(model, test.x, test.y),
                      "seconds": round(seconds, 1),
                      "train_images_per_s": round(args.epochs * len(train) / seconds, 1)}))


if __name__ == "__main__":
    main()
