"""glassnet vs PyTorch on the Keras CIFAR-10 CNN (``cnn-keras``), in one run.

    PYTHONPATH=src GLASSNET_DATA=../shared/data python benchmarks/bench_cnn.py --threads 2

Each framework trains ``cnn-keras`` for one epoch on the CIFAR-10 training set in
``$GLASSNET_DATA`` (the 5,000-image subset: 4,000 after the 20% validation hold-out, as in
the acceptance recipe) at batch 128 with Adam, in its own child process (so that peak
memory is its own), both limited to the same number of threads. Repetitions alternate
glassnet / PyTorch (one each by default, ``--repeats N`` for more); with more than one,
the medians are reported. Printed (and with ``--write`` appended to
``benchmarks/RESULTS.md``): training images/second of each, the ratio, peak memory of
each (resident set size: the whole process and the growth during training), glassnet's
achieved GFLOP/s against a NumPy float32 matmul timed in the same child, and a per-layer
profile of where glassnet's time goes.

``--threads N`` sets BLAS's threads (and PyTorch's) only: glassnet's batches are not split
over threads here (``fit`` with ``threads=1``), unlike ``benchmarks/compare.py`` and
``glassnet train --threads N``, because the per-layer profile times the model's own layer
objects, which the split's replicas do not use. For glassnet's speed with split batches,
use ``compare.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


# -- helpers used inside the worker ---------------------------------------------------------
def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc), or the peak where /proc is absent."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    """NumPy float32 ``(size x size) @ (size x size)``: best of ``repeats``, in GFLOP/s."""
    return gemm_gflops(size, size, size, repeats)


def gemm_gflops(m: int, k: int, n: int, repeats: int = 5) -> float:
    """NumPy float32 ``(m x k) @ (k x n)``: best of ``repeats`` after a warm-up, in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * m * k * n / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def training_flops_per_image(model) -> float:
    """Multiply-adds of the conv and dense layers, x2 for FLOPs, x3 for forward + the two
    backward GEMMs (weights and inputs; x2 for the first layer, which needs no input grad)."""
    from glassnet import layers as L

    total = 0.0
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            c, (kh, kw) = layer.input_shape[0], layer.kernel_size
            macs = layer.filters * c * kh * kw * layer.output_shape[1] * layer.output_shape[2]
        elif isinstance(layer, L.Dense):
            macs = layer.input_shape[0] * layer.units
        else:
            continue
        total += 2 * macs * (3 if layer.input_grad else 2)
    return total


def load_train(validation_split: float = 0.2):
    from glassnet.data import load

    train = load("cifar10")["train"]
    train, _ = train.split(validation_split, seed=0)
    return train


def worker_glassnet(args) -> dict:
    from threadpoolctl import threadpool_limits

    from glassnet import optimizers, zoo

    threadpool_limits(args.threads)
    train = load_train()
    model = zoo.build("cnn-keras", train.image_shape, train.num_classes, seed=0)
    model.set_preprocessing(scale=1 / 255)
    model.compile(loss="categorical_crossentropy", optimizer=optimizers.get("adam", lr=1e-3))
    model.fit(train.x[:256], train.y[:256], epochs=1, batch_size=args.batch_size, verbose=0)  # warm-up
    base = rss_mb()
    seconds = _timed(lambda: model.fit(train.x, train.y, epochs=1, batch_size=args.batch_size, verbose=0))
    result = {"images_per_s": len(train) / seconds, "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base}
    flops = training_flops_per_image(model)
    result.update(gflops=flops * len(train) / seconds / 1e9, matmul_gflops=matmul_gflops(),
                  profile=layer_profile(model, train, args.batch_size))
    return result


#: The clock the profile reads (a name of its own, so that a test can replace it).
clock = time.perf_counter

#: The profile's row for fit's end-of-epoch check, which is not part of a training step.
CHECK = "check"


def layer_profile(model, train, batch_size: int, steps: int = 5) -> dict[str, float]:
    """Milliseconds per training step in each layer's forward/backward and the optimizer.

    ``fit`` runs ``steps`` batches of ``batch_size`` images, unsplit (``threads=1``: the
    wrappers time the model's own layers, which a split's replicas would bypass). Each
    part's time is divided by its own number of calls: ``fit`` ends the epoch with one more
    forward pass over the last batch (its finite-weights check, in inference mode), which is
    timed apart and left out of the per-step rows (also out of "other").
    """
    times: dict[str, float] = {}
    calls: dict[str, int] = {}

    def timed(key_of, fn):
        def wrapper(*args, **kwargs):
            start = clock()
            out = fn(*args, **kwargs)
            key = key_of(*args, **kwargs)
            times[key] = times.get(key, 0.0) + clock() - start
            calls[key] = calls.get(key, 0) + 1
            return out
        return wrapper

    def fixed(key):
        return lambda *args, **kwargs: key

    def forward_key(name):
        return lambda x, training=False: f"{name} forward" if training else CHECK

    for i, layer in enumerate(model.layers):
        name = f"{i}:{type(layer).__name__}"
        layer.forward = timed(forward_key(name), layer.forward)
        layer.backward = timed(fixed(f"{name} backward"), layer.backward)
    model.optimizer.step = timed(fixed("optimizer step"), model.optimizer.step)
    model.preprocess = timed(fixed("preprocess (uint8 -> float)"), model.preprocess)
    start = clock()
    model.fit(train.x[:batch_size * steps], train.y[:batch_size * steps], epochs=1,
              batch_size=batch_size, verbose=0, threads=1)
    total = clock() - start
    per_step = {k: 1000 * v / calls[k] for k, v in times.items() if k != CHECK}
    per_step["other (loss, loop)"] = 1000 * (total - sum(times.values())) / steps
    return dict(sorted(per_step.items(), key=lambda kv: -kv[1]))


def torch_cnn_keras(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


def torch_epoch(torch, model, opt, x, y, batch_size: int, rng) -> None:
    """One epoch as glassnet's loop runs it: shuffle, uint8 batch → float / 255, step."""
    model.train()
    order = rng.permutation(len(x))
    for i in range(0, len(x), batch_size):
        idx = order[i:i + batch_size]
        xb = torch.from_numpy(x[idx]).float().div_(255)
        yb = torch.from_numpy(y[idx])
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()


def worker_torch(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = load_train()
    model = torch_cnn_keras(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    torch_epoch(torch, model, opt, train.x[:256], train.y[:256], args.batch_size, rng)  # warm-up
    base = rss_mb()
    seconds = _timed(lambda: torch_epoch(torch, model, opt, train.x, train.y, args.batch_size, rng))
    return {"images_per_s": len(train) / seconds, "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base,
            "version": torch.__version__}


# -- the parent: interleaved repetitions, table ------------------------------------------------
def append_to_results(text: str, path: str | Path | None = None) -> None:
    """Append ``text`` to ``path`` (default ``benchmarks/RESULTS.md``) after a blank line,
    atomically (a crash mid-write leaves the file as it was)."""
    sys.path.insert(0, str(ROOT / "src"))
    from glassnet._files import write_text

    path = Path(path) if path is not None else ROOT / "benchmarks" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n\n"
    write_text(path, old.rstrip("\n") + "\n\n" + text)


def worker_failed(what: str, exit_code: int | None, stderr: str = "") -> SystemExit:
    """The error exit of a benchmark whose worker process for ``what`` (framework and
    workload) died: one line naming it, then the worker's error output if it was captured
    (otherwise the worker's traceback is already on the terminal, above)."""
    where = f":\n{stderr.rstrip()}" if stderr.strip() else " (its error output is above)"
    return SystemExit(f"error: the {what} worker failed (exit code {exit_code}){where}")


def run_worker(framework: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, __file__, "--worker", framework, "--threads", str(args.threads),
           "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise worker_failed(f"{framework} cnn-keras", out.returncode, out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarize(runs: dict[str, list[dict]], args) -> str:
    g, t = runs["glassnet"], runs["torch"]
    med = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    g_ips, t_ips = med(g, "images_per_s"), med(t, "images_per_s")
    ratio = g_ips / t_ips
    g_growth = med(g, "peak_rss_mb") - med(g, "base_rss_mb")
    t_growth = med(t, "peak_rss_mb") - med(t, "base_rss_mb")
    import numpy

    lines = [
        f"### cnn-keras, one epoch on the CIFAR-10 subset, batch {args.batch_size}, "
        f"{args.threads} thread(s)",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other jobs: load average "
        f"{os.getloadavg()[0]:.1f} at the end); Python {platform.python_version()}, NumPy "
        f"{numpy.__version__}, PyTorch {t[0]['version']}; "
        f"{args.repeats} interleaved repetition(s){', medians' if args.repeats > 1 else ''}; glassnet's "
        "batches not split (BLAS threads only).",
        "",
        "| | images/s (train) | ratio glassnet/PyTorch | peak RSS MiB | RSS growth in training MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| glassnet | {g_ips:.0f} | {ratio:.2f} | {med(g, 'peak_rss_mb'):.0f} | {g_growth:.0f} |",
        f"| PyTorch | {t_ips:.0f} | 1.00 | {med(t, 'peak_rss_mb'):.0f} | {t_growth:.0f} |",
        "",
        f"glassnet achieved {med(g, 'gflops'):.1f} GFLOP/s in conv/dense GEMM work; a NumPy float32 "
        f"2048x2048 matmul reaches {med(g, 'matmul_gflops'):.1f} GFLOP/s on the same threads "
        f"({med(g, 'gflops') / med(g, 'matmul_gflops'):.0%}). Per-repetition images/s: glassnet "
        f"{[round(r['images_per_s']) for r in g]}, PyTorch {[round(r['images_per_s']) for r in t]}.",
        "",
        "Where glassnet's time goes (ms per training step of 128 images, last repetition):",
        "",
        "| part | ms |",
        "| --- | ---: |",
        *[f"| {k} | {v:.1f} |" for k, v in g[-1]["profile"].items()],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n")[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2,
                        help="BLAS and PyTorch threads; glassnet's batches are not split")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved repetitions")
    parser.add_argument("--write", action="store_true", help="append the table to benchmarks/RESULTS.md")
    parser.add_argument("--worker", choices=["glassnet", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        fn = worker_glassnet if args.worker == "glassnet" else worker_torch
        print(json.dumps(fn(args)))
        return
    runs: dict[str, list[dict]] = {"glassnet": [], "torch": []}
    for _ in range(args.repeats):
        for framework in ("glassnet", "torch"):
            runs[framework].append(run_worker(framework, args))
    text = summarize(runs, args)
    print(text)
    if args.write:
        append_to_results(text)


if __name__ == "__main__":
    main()
