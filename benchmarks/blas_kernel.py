"""glassnet's speed under each OpenBLAS kernel (``OPENBLAS_CORETYPE``), in one run.

NumPy's OpenBLAS picks its GEMM kernel for the CPU when it loads; ``OPENBLAS_CORETYPE``,
read at that moment, overrides the choice. On an AMD Zen 4 (AVX-512) it picks the
``SkylakeX`` kernel, which on the machine of these benchmarks was slower than the AVX2
``Haswell`` one at the convolutions' GEMM shapes. This measures the difference on the
workloads of ``compare.py``: one worker process per kernel (each loads OpenBLAS with its
own ``OPENBLAS_CORETYPE``), repetitions alternating between them, median images/s of each
and its ratio to the first (OpenBLAS's own choice unless ``--kernels`` says otherwise):

    GLASSNET_DATA=../shared/data python benchmarks/blas_kernel.py --threads 1 \\
        --workloads cnn-keras-train,cnn-bn-train --kernels default,Haswell --reps 7

``default`` means the variable unset. PyTorch is not run: its MKL and oneDNN do not read
``OPENBLAS_CORETYPE``, so its speed in ``compare.py`` does not depend on this choice.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "src")]

from bench_cnn import worker_failed  # noqa: E402
from compare import limit_threads  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

#: The value of ``--kernels`` that leaves ``OPENBLAS_CORETYPE`` unset.
DEFAULT = "default"


def worker(name: str, threads: int) -> None:
    """Set up ``name``, say which kernel OpenBLAS loaded, then time one repetition per
    line read from stdin (images/s, one line each)."""
    limit_threads(threads)
    runner, _ = WORKLOADS[name].build_glassnet()
    runner()  # warm-up: first-touch allocations, BLAS initialisation
    kernels = {info.get("architecture") for info in threadpool_info()
               if info.get("internal_api") == "openblas"}
    print("ready", ",".join(sorted(k for k in kernels if k)) or "unknown", flush=True)
    for _ in sys.stdin:
        started = time.perf_counter()
        images = runner()
        print(images / (time.perf_counter() - started), flush=True)


def start(name: str, threads: int, kernel: str) -> tuple[subprocess.Popen, str]:
    """A worker for ``name`` whose OpenBLAS loads ``kernel``; with the kernel it reports."""
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    if kernel != DEFAULT:
        env["OPENBLAS_CORETYPE"] = kernel
    process = subprocess.Popen(
        [sys.executable, __file__, "--worker", name, "--threads", str(threads)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = process.stdout.readline().split()
    if not first or first[0] != "ready":
        process.kill()
        raise worker_failed(f"{kernel} {name}", process.wait())
    return process, first[1]


def measure(name: str, threads: int, kernels: list[str], reps: int) -> list[dict]:
    """Median images/s of ``name`` under each kernel, repetitions interleaved."""
    sides = []
    for kernel in kernels:
        process, loaded = start(name, threads, kernel)
        sides.append({"kernel": kernel, "loaded": loaded, "process": process, "speeds": []})
    for _ in range(reps):
        for side in sides:
            side["process"].stdin.write("rep\n")
            side["process"].stdin.flush()
            side["speeds"].append(float(side["process"].stdout.readline()))
    for side in sides:
        side["process"].stdin.close()
        side["process"].wait()
        side["median"] = statistics.median(side["speeds"])
    return sides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="cnn-keras-train,cnn-bn-train,conv32-64@16")
    parser.add_argument("--kernels", default=f"{DEFAULT},Haswell",
                        help="OPENBLAS_CORETYPE values, the first the reference "
                             f"({DEFAULT!r}: unset)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.threads)
        return
    kernels = args.kernels.split(",")
    names = args.workloads.split(",")
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    print(f"Command: `python benchmarks/blas_kernel.py --threads {args.threads} --reps {args.reps}"
          f" --workloads {args.workloads} --kernels {args.kernels}`\n")
    print("| workload | kernel asked | kernel loaded | img/s (median) | ratio | repetitions |")
    print("| --- | --- | --- | ---: | ---: | --- |")
    for name in names:
        sides = measure(name, args.threads, kernels, args.reps)
        for side in sides:
            reps = ", ".join(f"{s:,.0f}" for s in side["speeds"])
            print(f"| {name} | {side['kernel']} | {side['loaded']} | {side['median']:,.0f} | "
                  f"{side['median'] / sides[0]['median']:.2f} | {reps} |", flush=True)


if __name__ == "__main__":
    main()
