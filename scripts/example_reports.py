"""Regenerate docs/examples/: train each example run, keep its report.html and a screenshot.

Run with ``make example-reports`` (or ``python scripts/example_reports.py [NAME ...]``).
Each example is a plain ``glassnet train`` command line; the report records it, so a
reader can rerun it. The screenshot is taken in headless Chromium, which also checks that
every image of the report loads and that the page makes no network request.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "examples"
RUNS = Path("runs") / "examples"

# name -> arguments of `glassnet train` (the output folder is added)
EXAMPLES: dict[str, list[str]] = {
    # the course's 4-layer network, exactly as `make demo` trains it
    "cats": ["--dataset", "cats", "--model", "mlp", "--hidden", "20,7,5", "--epochs", "3000",
             "--lr", "0.0075", "--batch-size", "full", "--seed", "1", "--dtype", "float64"],
    # the stronger CNN on the CIFAR-10 subset (issue 4's recipe; about 20 minutes on 2 cores)
    "cifar": ["--dataset", "cifar10", "--model", "cnn-bn", "--augment", "flip,crop",
              "--optimizer", "nesterov", "--momentum", "0.9", "--weight-decay", "5e-4",
              "--lr", "0.1", "--lr-schedule", "onecycle", "--batch-size", "128", "--epochs", "30",
              "--seed", "0"],
}

SCREENSHOT_WIDTH = 1200
SCREENSHOT_SCALE = 0.5  # halve the full-page screenshot to keep the repository small


def make_example(name: str, args: list[str], run_dir: Path | None = None) -> None:
    """Train example ``name`` (or take the finished run in ``run_dir``) and publish its report."""
    from glassnet.report.browser import inspect_page

    out = run_dir or ROOT / RUNS / name
    if run_dir is None:
        # relative to the repository (the command runs there): the published report shows
        # the command and run folder a reader types, not this machine's paths
        args = [*args, "--out", str(RUNS / name), "--overwrite", "--quiet"]  # a new run replaces the last
        command = [sys.executable, "-m", "glassnet", "train", *args]
        print("$ glassnet train " + " ".join(args), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    report = DOCS / f"{name}-report.html"
    shutil.copyfile(out / "report.html", report)
    shot = DOCS / f"{name}-report.png"
    check = inspect_page(report, screenshot=shot, width=SCREENSHOT_WIDTH)
    if check.requests or check.broken_images:
        raise SystemExit(f"{report}: network requests {check.requests}, broken images "
                         f"{check.broken_images}")
    with Image.open(shot) as img:
        small = img.convert("RGB").resize((round(img.width * SCREENSHOT_SCALE),
                                           round(img.height * SCREENSHOT_SCALE)), Image.LANCZOS)
    small.save(shot, optimize=True)
    print(f"wrote {report.relative_to(ROOT)} and {shot.relative_to(ROOT)} "
          f"({len(check.images)} images, all loaded, no network requests)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(EXAMPLES), help=f"of {list(EXAMPLES)}")
    parser.add_argument("--from-run", type=Path, default=None, metavar="RUN_DIR",
                        help="publish this finished run of the (single) example named instead "
                             "of training it again")
    args = parser.parse_args()
    if args.from_run is not None and len(args.names) != 1:
        raise SystemExit("--from-run takes exactly one example name")
    for name in args.names:
        if name not in EXAMPLES:
            raise SystemExit(f"unknown example {name!r}; choose from {list(EXAMPLES)}")
        make_example(name, EXAMPLES[name], args.from_run)


if __name__ == "__main__":
    main()
