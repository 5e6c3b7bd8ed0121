"""Run every tutorial script in ``examples/`` and keep its output and plots for the site.

``make docs`` runs this before ``mkdocs build``: each tutorial runs with the settings its page
describes, on the real data (``$GLASSNET_DATA``, default ``../shared/data``), and writes into
``docs/tutorials/generated/<name>/``: ``output.txt`` (what it printed) and its plots. The
tutorial pages include those files, so a tutorial that was not run, or whose plot is missing,
fails the strict build. A script that fails stops the build with its output.

    python docs/build_tutorials.py            # all tutorials
    python docs/build_tutorials.py backprop   # only some (by name)
    python docs/build_tutorials.py --quick    # short settings (the tests use them)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "docs" / "tutorials" / "generated"

# name -> (script, arguments, arguments that shorten it for --quick); "{out}" is the
# tutorial's output folder.
TUTORIALS: dict[str, tuple[str, list[str], list[str]]] = {
    "cats": ("cats_tutorial.py", ["--epochs", "2500", "--out", "{out}", "--photo", "{out}/photo.png"],
             ["--epochs", "20"]),
    "cats-two-layer": ("cats_tutorial.py", ["--two-layer", "--epochs", "2500", "--out", "{out}"],
                       ["--epochs", "20"]),
    "backprop": ("backprop_tutorial.py", ["--out", "{out}"], []),
    "training": ("training_tutorial.py", ["--epochs", "240", "--out", "{out}"], ["--epochs", "6"]),
    "cifar": ("cifar_tutorial.py", ["--epochs", "3", "--limit", "2000", "--out", "{out}"],
              ["--epochs", "1", "--limit", "100"]),
    "photos": ("photos_tutorial.py", ["--per-class", "300", "--epochs", "30", "--out", "{out}"],
               ["--per-class", "20", "--epochs", "2"]),
    "search": ("search_tutorial.py", ["--trials", "24", "--epochs-per-trial", "8", "--out", "{out}"],
               ["--trials", "6", "--epochs-per-trial", "1"]),
}
# Tutorials that need an optional extra: (module, extra).
NEEDS = {"photos": ("onnxruntime", "onnx"), "search": ("optuna", "search")}


def data_dir() -> Path:
    return Path(os.environ.get("GLASSNET_DATA", ROOT.parent / "shared" / "data")).resolve()


def private_data_dir(parent: Path) -> Path:
    """A data directory under ``parent`` that shows the shared data sets through symlinks, so
    that what a tutorial writes there (the photos tutorial's image-folder cache) never lands
    in the shared data."""
    private = parent / "data"
    private.mkdir()
    for item in data_dir().iterdir():
        if item.name != "cache":
            (private / item.name).symlink_to(item)
    return private


def write_photo(path: Path) -> None:
    """A cat photo the cat network has never seen: the first cat of CIFAR-10's test batch,
    saved as an ordinary PNG file (32x32, so it is upscaled when read at 64x64)."""
    from PIL import Image

    from glassnet.data import cifar10  # its checked reader, never a plain pickle.load

    images, labels = cifar10.read_batch(cifar10.ensure_folder(data_dir()) / "test_batch")
    first_cat = int((labels == 3).nonzero()[0][0])  # CIFAR-10 class 3 is "cat"
    Image.fromarray(images[first_cat].transpose(1, 2, 0)).save(path)


def run(name: str, quick: bool = False, root: Path = GENERATED) -> float:
    """Run tutorial ``name``, writing into ``root/name``; returns the seconds it took."""
    script, args, quick_args = TUTORIALS[name]
    args = args + quick_args if quick else args  # argparse: the last value given wins
    out = root / name
    shutil.rmtree(out, ignore_errors=True)  # a fresh start: no files left from an older run
    out.mkdir(parents=True)
    if "{out}/photo.png" in args:
        write_photo(out / "photo.png")
    command = [sys.executable, str(ROOT / "examples" / script), *(a.format(out=out) for a in args)]
    with tempfile.TemporaryDirectory() as scratch:
        # a fresh matplotlib cache (MPLCONFIGDIR): a stale font list of the machine's made
        # matplotlib print "findfont: ..." lines into the pages' outputs
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": scratch,
               "GLASSNET_DATA": str(private_data_dir(Path(scratch))),
               "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # one stream, in order
        seconds = time.perf_counter() - started
    text = proc.stdout
    if proc.returncode != 0:
        sys.stderr.write(text)
        raise SystemExit(f"tutorial {name} ({script}) failed with exit code {proc.returncode}")
    shown = " ".join(["python", f"examples/{script}", *(a.format(out="OUT") for a in args)])
    (out / "command.txt").write_text(shown + "\n")
    (out / "output.txt").write_text(text.replace(str(out), "OUT").replace(str(ROOT) + "/", ""))
    return seconds


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if a != "--quick"] or list(TUTORIALS)
    unknown = [n for n in names if n not in TUTORIALS]
    if unknown:
        raise SystemExit(f"unknown tutorial(s) {unknown}; known: {list(TUTORIALS)}")
    for name in names:
        print(f"tutorial {name}: {run(name, quick):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
