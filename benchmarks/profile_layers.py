"""Where a zoo CNN's training time goes: milliseconds per step in each layer's forward and
backward pass and in the optimizer, on the CIFAR-10 subset (batch 128).

Usage:
    GLASSNET_DATA=../shared/data python benchmarks/profile_layers.py --model cnn-bn [--threads 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import workloads  # noqa: E402
from bench_cnn import gemm_gflops, layer_profile  # noqa: E402

OPTIMIZERS = {"cnn-bn": workloads._sgd_nesterov, "cnn-keras": workloads._adam}

# (M, K, N) of one group's forward GEMM W2 @ cols in cnn-bn's convolutions, and a square one.
GEMM_SHAPES = {
    "conv 32->64 at 16x16": (64, 288, 14 * 16 * 18),
    "conv 32->32 at 32x32": (32, 288, 11 * 32 * 34),
    "conv 128->128 at 8x8": (128, 1152, 14 * 8 * 10),
    "square 2048": (2048, 2048, 2048),
}


def gemm_rates(repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of NumPy's float32 matmul for :data:`GEMM_SHAPES` (best of ``repeats``)."""
    return {f"{name}: {m}x{k} @ {k}x{n}": gemm_gflops(m, k, n, repeats)
            for name, (m, k, n) in GEMM_SHAPES.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(OPTIMIZERS), default="cnn-bn")
    parser.add_argument("--threads", type=int, default=2)
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
    print(f"{args.model}, {args.threads} thread(s): {len(data.x) / seconds:.0f} images/s "
          f"(one epoch of {len(data.x)} images), peak RSS {peak:.0f} MiB")
    print("ms per training step of 128 images:")
    for part, ms in layer_profile(model, data, 128, steps=args.steps).items():
        print(f"  {part:34s} {ms:7.1f}")
    print("NumPy float32 GEMM speed for the convolutions' shapes (GFLOP/s):")
    for shape, rate in gemm_rates().items():
        print(f"  {shape:50s} {rate:6.1f}")


if __name__ == "__main__":
    main()
