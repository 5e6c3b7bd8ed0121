"""glassnet against PyTorch 2.13 CPU: throughput, memory and GFLOP/s, in one run.

Each (workload, framework) pair lives in its own worker process, so that their memory
is measured apart; repetitions alternate between the two workers (interleaved), so that
noise from a shared machine hits both alike. Reported per workload: median images/s of
each, the ratio glassnet/PyTorch, the peak memory each training process added on top of
its set-up (data and model in place, before the first step), and glassnet's achieved
GFLOP/s as a fraction of a NumPy float32 matmul measured in the same run.

The peak is the kernel's high-water mark (``VmHWM``), reset after set-up on Linux (``5``
written to ``/proc/self/clear_refs``), so that a peak during set-up (loading the data) is
not counted as training's; where that is not possible, the peak of the worker's whole life
(``ru_maxrss``). The table says which was used.

Each glassnet repetition is one ``fit`` call (or ``predict``), so it includes fit's per-call
bookkeeping, which PyTorch's loop here does not do: the finite check of ``x``, the weight
snapshots of the non-finite-loss guard and the forward pass over the last batch at the
end of each epoch. The ratios are conservative by that much.

Usage:
    GLASSNET_DATA=../shared/data python benchmarks/compare.py [--workloads a,b] [--reps 5]
        [--threads 2] [--write benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_cnn import worker_failed  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

#: How the peak memory was read: the high-water mark reset after set-up, or the whole life's.
PEAK_SOURCES = {"VmHWM": "VmHWM, reset after set-up", "ru_maxrss": "ru_maxrss: the worker's whole life"}


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> str:
    """Set the kernel's peak-RSS mark (``VmHWM``) to the current RSS, where Linux allows;
    the source :func:`peak_rss_mib` is then to read: ``"VmHWM"`` or ``"ru_maxrss"``."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return "VmHWM" if _vm_hwm_mib() is not None else "ru_maxrss"
    except OSError:
        return "ru_maxrss"


def _vm_hwm_mib() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def peak_rss_mib(source: str = "ru_maxrss") -> float:
    """Peak resident set size in MiB: since the last :func:`reset_peak` (``"VmHWM"``) or
    over the whole process life (``"ru_maxrss"``)."""
    peak = _vm_hwm_mib() if source == "VmHWM" else None
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def limit_threads(threads: int) -> None:
    """The same threads for both frameworks: BLAS's and glassnet's training shards (as
    ``glassnet --threads`` sets them), torch's intra-op threads."""
    from threadpoolctl import threadpool_limits

    from glassnet import backend

    threadpool_limits(threads)
    backend.set_threads(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def worker(name: str, framework: str, threads: int, conn) -> None:
    """Set up one side of a workload, then run a repetition per request."""
    limit_threads(threads)
    workload = WORKLOADS[name]
    if framework == "glassnet":
        runner, flops = workload.build_glassnet()
    else:
        runner, flops = workload.build_torch(), 0.0
    baseline = rss_mib()
    source = reset_peak()  # a peak during set-up is not training's
    runner()  # warm-up: first-touch allocations, BLAS initialisation
    conn.send(("ready", flops))
    while conn.recv() == "rep":
        started = time.perf_counter()
        images = runner()
        conn.send(images / (time.perf_counter() - started))
    conn.send((max(peak_rss_mib(source) - baseline, 0.0), source))


def matmul_gflops(threads: int, n: int = 2048, reps: int = 5) -> float:
    """The machine's practical float32 GEMM speed through NumPy's BLAS."""
    import numpy as np

    limit_threads(threads)
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * n**3 / statistics.median(times) / 1e9


def receive(conn, process, what: str):
    """The next message from the worker for ``what``, or an error exit naming it when the
    worker died (its end of the pipe closed: EOF)."""
    try:
        return conn.recv()
    except (EOFError, ConnectionError):
        process.join(timeout=10)
        raise worker_failed(what, process.exitcode) from None


def compare(name: str, reps: int, threads: int) -> dict:
    ctx = mp.get_context("spawn")
    sides = {}
    for framework in ("glassnet", "torch"):
        parent, child = ctx.Pipe()
        # daemon: a worker still waiting when the other one failed must not keep us from exiting
        process = ctx.Process(target=worker, args=(name, framework, threads, child), daemon=True)
        process.start()
        child.close()  # the worker's end is the worker's: its exit must reach recv() as EOF
        side = {"conn": parent, "process": process, "what": f"{framework} {name}", "speeds": []}
        _, side["flops"] = receive(parent, process, side["what"])
        sides[framework] = side
    for _ in range(reps):
        for side in sides.values():  # interleaved: g, t, g, t, ...
            side["conn"].send("rep")
            side["speeds"].append(receive(side["conn"], side["process"], side["what"]))
    result = {"workload": name}
    for framework, side in sides.items():
        side["conn"].send("stop")
        result[f"{framework}_memory_mib"], result[f"{framework}_peak"] = receive(
            side["conn"], side["process"], side["what"])
        side["process"].join()
        result[f"{framework}_images_per_s"] = statistics.median(side["speeds"])
    result["ratio"] = result["glassnet_images_per_s"] / result["torch_images_per_s"]
    result["glassnet_gflops"] = sides["glassnet"]["flops"] * result["glassnet_images_per_s"] / 1e9
    result["memory_ratio"] = (result["glassnet_memory_mib"] / result["torch_memory_mib"]
                              if result["torch_memory_mib"] > 0 else float("nan"))
    return result


def peak_sources(results: list[dict]) -> str:
    """How the peaks in ``results`` were read, in words (one way, or each of those used)."""
    used = sorted({r[f"{side}_peak"] for r in results for side in ("glassnet", "torch")})
    return "; ".join(PEAK_SOURCES[source] for source in used)


def markdown(results: list[dict], gemm: float, args: argparse.Namespace) -> str:
    import numpy
    import torch

    import glassnet

    lines = [
        f"### {time.strftime('%Y-%m-%d')} on {platform.node()} ({os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}), {args.threads} threads",
        "",
        f"Command: `python benchmarks/compare.py --reps {args.reps} --threads {args.threads}"
        f" --workloads {','.join(r['workload'] for r in results)}`; glassnet {glassnet.__version__}, "
        f"NumPy {numpy.__version__}, PyTorch {torch.__version__}. NumPy float32 matmul "
        f"(2048²): {gemm:.1f} GFLOP/s. Memory: peak RSS ({peak_sources(results)}) minus the RSS after "
        "set-up. GFLOP/s: n/a for layers without GEMM work.",
        "",
        "| workload | glassnet img/s | PyTorch img/s | ratio | glassnet MiB | PyTorch MiB "
        "| memory ratio | glassnet GFLOP/s | of matmul |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        gflops = (f"{r['glassnet_gflops']:.1f} | {r['glassnet_gflops'] / gemm:.0%}" if r["glassnet_gflops"]
                  else "n/a | n/a")
        lines.append(
            f"| {r['workload']} | {r['glassnet_images_per_s']:,.0f} | {r['torch_images_per_s']:,.0f} "
            f"| {r['ratio']:.2f} | {r['glassnet_memory_mib']:.0f} | {r['torch_memory_mib']:.0f} "
            f"| {r['memory_ratio']:.2f} | {gflops} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated, from: {', '.join(WORKLOADS)}")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per framework")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS/torch threads")
    parser.add_argument("--write", metavar="MARKDOWN", help="append the table to this file (atomically)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.workloads.split(",") if n.strip()]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {sorted(WORKLOADS)}")
    gemm = matmul_gflops(args.threads)
    results = []
    for name in names:
        results.append(compare(name, args.reps, args.threads))
        r = results[-1]
        print(f"{name}: glassnet {r['glassnet_images_per_s']:,.0f} img/s, PyTorch "
              f"{r['torch_images_per_s']:,.0f} img/s, ratio {r['ratio']:.2f}; memory "
              f"{r['glassnet_memory_mib']:.0f} vs {r['torch_memory_mib']:.0f} MiB", flush=True)
    table = markdown(results, gemm, args)
    print(table)
    if args.write:
        from bench_cnn import append_to_results  # the one atomic append of the benchmarks

        append_to_results(table, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
