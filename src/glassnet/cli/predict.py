"""``glassnet predict``: classify image files with a saved model."""

from __future__ import annotations

import argparse

import numpy as np

from ..data.images import load_image
from ..errors import ShapeError
from ..io.format import load_model
from ..metrics import class_probabilities
from .common import add_runtime_options, positive_int, print_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict", help="classify your own images",
        description="Load each image with Pillow (any format), convert it to RGB, resize it "
                    "to the model's input size, apply the model's preprocessing and print "
                    "the predicted class and its probability.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="path of a .glassnet model file")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--top", type=positive_int, default=1, help="show the K most likely classes")
    p.add_argument("--resize", choices=["squash", "crop", "pad"], default="squash",
                   help="how to fit images to the model's input size")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_runtime_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    if len(model.input_shape) != 3 or model.input_shape[0] != 3:
        raise ShapeError(f"this model takes inputs of shape {model.input_shape}, not RGB images")
    size = model.input_shape[1:]
    images = np.stack([load_image(path, size, args.resize) for path in args.images])
    probs = class_probabilities(model.predict(images))
    names = model.class_names or [str(i) for i in range(probs.shape[1])]
    results = []
    for path, row in zip(args.images, probs, strict=True):
        order = np.argsort(-row, kind="stable")[:args.top]
        results.append({"file": path, "class": names[order[0]],
                        "probability": float(row[order[0]]),
                        "top": [{"class": names[i], "probability": float(row[i])} for i in order],
                        "probabilities": dict(zip(names, map(float, row), strict=True))})
    if args.json:
        print_json(results)
    else:
        for r in results:
            top = ", ".join(f"{t['class']} {t['probability']:.2f}" for t in r["top"])
            print(f"{r['file']}: {top}")
    return 0
