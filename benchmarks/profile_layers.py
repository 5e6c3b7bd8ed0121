"""Where a zoo CNN's training time goes: milliseconds per step in each layer's forward and
backward pass and in the optimizer, on the CIFAR-10 subset (batch 128).

Usage:
    GLASSNET_DATA=../shared/data python benchmarks/profile_layers.py --model cnn-bn [--threads 2]

``--threads N`` sets BLAS's threads only: the batches are not split over threads (as
``glassnet train --threads N`` and ``benchmarks/compare.py`` split them), because the
per-layer timing wraps the model's own layers, which the split's replicas do not use. The
images/s printed are those of unsplit training.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import workloads  # noqa: E402
from bench_cnn import gemm_gflops, layer_profile  # noqa: E402

OPTIMIZERS = {"cnn-bn": workloads._sgd_nesterov, "cnn-keras": workloads._adam}

SQUARE = 2048  # a square GEMM for comparison: the machine's best case


def gemm_shapes(model, batch_size: int = 128) -> dict[str, tuple[int, int, int]]:
    """``(M, K, N)`` of the first (largest) group's forward GEMM ``W2 @ cols`` of each
    distinct convolution in ``model``, from the layer's own grouping of a batch of
    ``batch_size`` (:meth:`Conv2D._forward_groups`), and a square one."""
    from glassnet import layers as L

    shapes = {}
    for layer in model.layers:
        if not isinstance(layer, L.Conv2D):
            continue
        (c, h, w), (kh, kw) = layer.input_shape, layer.kernel_size
        batch = np.empty((batch_size, c, h, w), dtype=layer.params["W"].dtype)  # never written
        group = layer._forward_groups(batch)[0]
        images = len(range(batch_size)[group])
        shapes[f"conv {c}->{layer.filters} at {h}x{w}"] = (
            layer.filters, c * kh * kw, images * layer.output_shape[1] * layer._unfolded_width())
    shapes[f"square {SQUARE}"] = (SQUARE, SQUARE, SQUARE)
    return shapes


def gemm_rates(model, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of NumPy's float32 matmul for :func:`gemm_shapes` (best of ``repeats``)."""
    return {f"{name}: {m}x{k} @ {k}x{n}": gemm_gflops(m, k, n, repeats)
            for name, (m, k, n) in gemm_shapes(model).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(OPTIMIZERS), default="cnn-bn")
    parser.add_argument("--threads", type=int, default=2,
                        help="BLAS threads (default 2); the batches are not split over threads")
    parser.add_argument("--images", type=int, default=1280, help="images in the timed epoch")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from glassnet import zoo

    threadpool_limits(args.threads)
    data = workloads.cifar_train(args.images)
    model = zoo.build(args.model, data.image_shape, 10, seed=0)
    model.set_preprocessing(scale=1 / 255)
    model.compile(loss="categorical_crossentropy", optimizer=OPTIMIZERS[args.model]())
    model.fit(data.x[:256], data.y[:256], epochs=1, batch_size=128, verbose=0)  # warm-up
    started = time.perf_counter()
    model.fit(data.x, data.y, epochs=1, batch_size=128, verbose=0)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.model}, {args.threads} BLAS thread(s), batches not split: "
          f"{len(data.x) / seconds:.0f} images/s (one epoch of {len(data.x)} images), "
          f"peak RSS {peak:.0f} MiB")
    print("ms per training step of 128 images:")
    for part, ms in layer_profile(model, data, 128, steps=args.steps).items():
        print(f"  {part:34s} {ms:7.1f}")
    print("NumPy float32 GEMM speed for the convolutions' shapes (GFLOP/s):")
    for shape, rate in gemm_rates(model).items():
        print(f"  {shape:50s} {rate:6.1f}")


if __name__ == "__main__":
    main()
