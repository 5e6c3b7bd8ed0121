"""``glassnet evaluate``: loss and accuracy of a saved model on a data set split."""

from __future__ import annotations

import argparse

from ..data import is_folder
from ..data import load as load_dataset
from ..errors import ConfigError
from ..io.format import load_model
from ..runs import check_compatible
from .common import add_folder_options, fmt_metrics, print_json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="evaluate a saved model on a data set",
        description="Evaluate a .glassnet model on one split of a data set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="path of a .glassnet model file")
    p.add_argument("--dataset", default="cats",
                   help="data set name, or the path of an image folder (one subfolder per class)")
    p.add_argument("--split", default=None,
                   help="which split: train or test (default test; a whole folder for image folders)")
    add_folder_options(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    size = args.image_size
    if size is None and is_folder(args.dataset) and len(model.input_shape) == 3:
        size = tuple(model.input_shape[1:])
    splits = load_dataset(args.dataset, image_size=size, resize=args.resize, strict=args.strict)
    args.split = args.split or ("test" if "test" in splits else "train")
    if args.split not in splits:
        raise ConfigError(f"data set {args.dataset!r} has no split {args.split!r}; "
                          f"it has {sorted(splits)}")
    dataset = splits[args.split]
    check_compatible(model, dataset)
    results = model.evaluate(dataset.x, dataset.y)
    if args.json:
        print_json({"dataset": args.dataset, "split": args.split, "samples": len(dataset),
                    **results})
    else:
        print(f"{args.dataset}/{args.split} ({len(dataset)} images): {fmt_metrics(results)}")
    return 0
