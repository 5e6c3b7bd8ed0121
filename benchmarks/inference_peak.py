"""Peak memory of ``predict`` with ``batch_size="auto"``, against its activation budget.

``batch_size_for`` bounds a batch's largest layer input and output (``BATCH_BYTES``); the
layers' temporaries come on top. This measures how far on top, for a zoo model at one image
size, with ``tracemalloc`` (NumPy's allocations), over two batches of random images:

    PYTHONPATH=src python benchmarks/inference_peak.py cnn-bn 384
"""

from __future__ import annotations

import argparse
import tracemalloc

import numpy as np

from glassnet import zoo
from glassnet.inference import BATCH_BYTES, batch_size_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help=f"zoo model: {', '.join(zoo.names())}")
    parser.add_argument("size", type=int, help="square image size in pixels")
    args = parser.parse_args()
    model = zoo.build(args.model, (3, args.size, args.size), 10)
    n = batch_size_for(model)
    x = np.random.default_rng(0).integers(0, 256, (2 * n, 3, args.size, args.size), dtype=np.uint8)
    tracemalloc.start()
    model.predict(x)
    peak = tracemalloc.get_traced_memory()[1]
    print(f"{args.model} at {args.size}x{args.size}: batch {n}, peak {peak / 2**20:.0f} MiB = "
          f"{peak / BATCH_BYTES:.2f}x the {BATCH_BYTES // 2**20} MiB budget")


if __name__ == "__main__":
    main()
