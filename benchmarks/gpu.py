"""glassnet on a GPU (CuPy) against glassnet on the CPU: issue 9's GPU acceptance in one run.

    PYTHONPATH=src python benchmarks/gpu.py [--reps 3] [--images 1024] [--steps 5] [--write]

Two measurements, each model built by the zoo with the same seed on both devices:

1. **Speed.** One epoch of ``cnn-keras`` (the acceptance workload) and ``cnn-bn`` training
   over ``--images`` images at batch 128 with Adam 1e-3, on the GPU and on the CPU (every
   batch split over ``--threads`` threads, default all cores, BLAS limited to the same),
   repetitions interleaved GPU, CPU, GPU, ...; the median images/s of each and the ratio
   GPU/CPU (target: at least 10 for ``cnn-keras``). ``fit`` reads each batch's loss on
   the host, which waits for the GPU, so an epoch's time includes all of its GPU work.
2. **Equality.** For ``mlp``, ``cnn-keras`` and ``cnn-bn``: the class probabilities of 128
   images from the same weights on both devices, and again after ``--steps`` training
   batches from the same start (the random draws, shuffling and dropout masks, come from
   the host, so both devices see the same batches and masks): the largest absolute
   difference (target: at most 1e-4). These batches train with SGD (lr 0.01, momentum
   0.9), not Adam: Adam's first steps move every weight by about ``lr * sign(g)``, so a
   gradient near zero that rounds to the other sign (any change of summation order does
   that, on one device too) moves a weight by ``2 * lr`` and says nothing about the GPU.

Data: the CIFAR-10 training set in ``$GLASSNET_DATA`` when its folder is there (nothing is
downloaded), else random uint8 images of CIFAR's shape with random labels (a GPU machine
may have neither the network nor the data; the speed does not depend on the pixels, and
equality is checked on the same images for both devices either way). The table says which
data it used. ``--write`` appends it to ``benchmarks/RESULTS.md``. Without CuPy or a usable
GPU it stops with glassnet's own one-line error, before measuring anything.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128
TOLERANCE = 1e-4
SPEED_MODELS = ("cnn-keras", "cnn-bn")
EQUALITY_MODELS = ("mlp", "cnn-keras", "cnn-bn")
TARGET_SPEEDUP = 10.0


def training_data(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """``x: (images, 3, 32, 32)`` uint8, ``y: (images,)`` and where they came from.

    CIFAR-10 only when its folder is already in the data directory: the loader would
    otherwise download 170 MB (or wait for a network that is not there) out of the GPU's
    time; the speed does not depend on the pixels."""
    from glassnet.data import cifar10, store
    from glassnet.errors import GlassnetError

    try:  # a damaged folder, or $GLASSNET_DATA naming a file: random images all the same
        if (store.data_dir() / cifar10.FOLDER).is_dir():
            train = cifar10.load_cifar10(splits=("train",))["train"]
            if len(train) >= images:
                return train.x[:images], train.y[:images], f"CIFAR-10 ({images} training images)"
    except GlassnetError:
        pass
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (images, 3, 32, 32), dtype=np.uint8)
    return x, rng.integers(0, 10, images), f"random uint8 images of CIFAR's shape ({images})"


def build(name: str, device: str, optimizer: str = "adam"):
    """Zoo model ``name`` for CIFAR's shape on ``device``: ``"adam"`` as the speed workloads
    train (lr 1e-3), ``"sgd"`` as the equality check does (lr 0.01, momentum 0.9)."""
    import glassnet as gn
    from glassnet import backend, zoo

    with backend.using_device(device):
        model = zoo.build(name, (3, 32, 32), 10, seed=0)
        model.set_preprocessing(scale=1 / 255)
        model.compile(loss="categorical_crossentropy",
                      optimizer=gn.optimizers.Adam(lr=1e-3) if optimizer == "adam"
                      else gn.optimizers.SGD(lr=0.01, momentum=0.9))
    return model


def on_cpu(threads: int, work: Callable[[], object]) -> object:
    """``work()`` on the CPU with ``threads`` threads for the batches and for BLAS."""
    from threadpoolctl import threadpool_limits

    from glassnet import backend

    with threadpool_limits(threads), backend.using_threads(threads):
        return work()


def epoch_speed(model, x: np.ndarray, y: np.ndarray) -> float:
    """Training images/s of one epoch of ``model`` over ``x`` at batch 128."""
    started = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)
    return len(x) / (time.perf_counter() - started)


def measure_speed(name: str, x: np.ndarray, y: np.ndarray, threads: int, reps: int) -> dict:
    """Median images/s of ``name`` on each device, repetitions interleaved after a warm-up."""
    gpu, cpu = build(name, "gpu"), build(name, "cpu")
    runs = {"gpu": lambda: epoch_speed(gpu, x, y),
            "cpu": lambda: on_cpu(threads, lambda: epoch_speed(cpu, x, y))}
    for run in runs.values():  # warm-up: CuPy's kernel compilation, first-touch allocations
        run()
    speeds: dict[str, list[float]] = {"gpu": [], "cpu": []}
    for _ in range(reps):
        for device, run in runs.items():
            speeds[device].append(run())
    gpu_speed, cpu_speed = (statistics.median(speeds[d]) for d in ("gpu", "cpu"))
    return {"model": name, "gpu": gpu_speed, "cpu": cpu_speed, "ratio": gpu_speed / cpu_speed,
            "gpu_runs": speeds["gpu"], "cpu_runs": speeds["cpu"]}


def measure_equality(name: str, x: np.ndarray, y: np.ndarray, steps: int) -> dict:
    """Largest |probability difference| GPU vs CPU, before and after ``steps`` batches."""
    models = {device: build(name, device, "sgd") for device in ("cpu", "gpu")}
    models["gpu"].set_weights(models["cpu"].get_weights())  # the same start, whatever the seed did
    probe = x[:BATCH]

    def difference() -> float:
        cpu, gpu = (models[d].predict(probe, batch_size=BATCH) for d in ("cpu", "gpu"))
        return float(np.max(np.abs(gpu - cpu)))

    before = difference()
    for model in models.values():
        model.fit(x[:steps * BATCH], y[:steps * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    return {"model": name, "before": before, "after": difference(), "steps": steps}


def gpu_name() -> str:
    """The GPU's name as CUDA gives it (``"GPU"`` where CUDA does not say, e.g. in tests)."""
    import cupy

    try:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    except (AttributeError, KeyError, TypeError):
        return "GPU"
    return name.decode() if isinstance(name, bytes) else str(name)


def versions() -> str:
    import cupy

    import glassnet

    return (f"glassnet {glassnet.__version__}, NumPy {np.__version__}, "
            f"CuPy {getattr(cupy, '__version__', 'unknown')}")


def markdown(speed: Sequence[dict], equality: Sequence[dict], data: str, args: argparse.Namespace,
             command: str) -> str:
    today = datetime.date.today().isoformat()
    lines = [f"### {today}: GPU against CPU, {gpu_name()} and {args.threads} CPU thread(s) "
             f"on {platform.node() or 'this machine'}", "",
             f"Command: `{command}`; {versions()}; data: {data}.", "",
             "| model, training, batch 128 | GPU img/s | CPU img/s | GPU/CPU | "
             f"≥ {TARGET_SPEEDUP:g}? | repetitions GPU; CPU |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for row in speed:
        met = "yes" if row["ratio"] >= TARGET_SPEEDUP else "no"
        runs = (", ".join(f"{s:,.0f}" for s in row["gpu_runs"]) + "; "
                + ", ".join(f"{s:,.0f}" for s in row["cpu_runs"]))
        lines.append(f"| {row['model']} | {row['gpu']:,.0f} | {row['cpu']:,.0f} | "
                     f"{row['ratio']:.1f} | {met if row['model'] == 'cnn-keras' else '-'} | {runs} |")
    lines += ["", f"| model | max abs difference of the probabilities, same weights | "
              f"after N training batches | N | ≤ {TOLERANCE:g}? |",
              "| --- | ---: | ---: | ---: | --- |"]
    for row in equality:
        met = "yes" if max(row["before"], row["after"]) <= TOLERANCE else "no"
        lines.append(f"| {row['model']} | {row['before']:.2e} | {row['after']:.2e} | "
                     f"{row['steps']} | {met} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from glassnet.backend import available_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024,
                        help="training images per epoch (default: 1024)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions (default: 3)")
    parser.add_argument("--steps", type=int, default=5,
                        help="training batches before the second equality check (default: 5)")
    parser.add_argument("--threads", type=int, default=available_cores(),
                        help="CPU threads for the CPU side (default: all cores)")
    parser.add_argument("--write", action="store_true", help="append the tables to benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    for option in ("images", "reps", "steps", "threads"):
        if getattr(args, option) < 1:
            parser.error(f"--{option} must be at least 1")
    if args.images < args.steps * BATCH:
        parser.error(f"--images must be at least --steps x {BATCH} = {args.steps * BATCH}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from glassnet import backend
    from glassnet.errors import GlassnetError

    args = parse_args(argv)
    try:
        with backend.using_device("gpu"):  # CuPy present and a GPU CUDA can use, or one line
            pass
    except GlassnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    x, y, data = training_data(args.images)
    speed = [measure_speed(name, x, y, args.threads, args.reps) for name in SPEED_MODELS]
    equality = [measure_equality(name, x, y, args.steps) for name in EQUALITY_MODELS]
    command = "python benchmarks/gpu.py " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    text = markdown(speed, equality, data, args, command.strip())
    print(text)
    if args.write:
        from bench_cnn import append_to_results

        append_to_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
