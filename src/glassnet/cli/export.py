"""``glassnet export``: write a saved model in another format (ONNX)."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from ..errors import require_extra
from .arguments import MODEL_HELP, Subcommands, model_file, path_text
from .common import load_model_file, require
from .output import check_output_file

if TYPE_CHECKING:
    from ..model import Sequential

#: --check: onnxruntime may differ from glassnet by this much, times the largest output (>= 1)
CHECK_TOLERANCE = 1e-5


def add_parser(sub: Subcommands) -> None:
    """Add the ``export`` command's parser to ``sub``."""
    p = sub.add_parser(
        "export", help="export a saved model to ONNX",
        description="Export a .glassnet model to ONNX (needs the extra: pip install "
                    "'glassnet[onnx]'). The graph takes raw values (pixels 0..255) as float32 "
                    "(N, C, H, W), applies the model's preprocessing itself and outputs class "
                    "probabilities (raw 'scores' for a model without an output activation); "
                    "class names and preprocessing are in its metadata.")
    p.add_argument("model", type=model_file, help=MODEL_HELP)
    p.add_argument("--onnx", type=path_text, required=True, metavar="OUT",
                   help="path of the ONNX file to write (ending in .onnx)")
    p.add_argument("--check", action="store_true",
                   help="also run the exported file with onnxruntime on random inputs and "
                        "compare with glassnet's predictions (within 1e-5, times the largest "
                        "output when that is above 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``glassnet export``: write the model as an ONNX file (``--check``: compared with
    onnxruntime first); returns the exit code."""
    from ..io.onnx import export_onnx

    check_output_file(args.onnx, "--onnx", args.model, suffixes=(".onnx",))
    if args.check:  # before anything is written: no file left behind by a check that cannot run
        require_extra("onnxruntime", "onnx")
    model = load_model_file(args.model)
    message = f"exported {args.model} to {args.onnx} (ONNX, checked with onnx.checker)"

    def compare_with_onnxruntime(data: bytes) -> float:
        """Before the file is written: one that fails never replaces a good one. Returns the
        largest difference."""
        worst, largest = max_difference(model, data)
        # NaN weights give NaN from both, whose difference would read "differs by nan"
        require(math.isfinite(largest), "the model's outputs are not finite (NaN or infinite) on "
                                        f"random inputs: its weights are probably damaged; {args.onnx} "
                                        "was not written")
        # float32 in the graph: a tolerance relative to the outputs' size, so that raw outputs
        # (logits in the hundreds) are held to the same precision as probabilities.
        tolerance = CHECK_TOLERANCE * max(1.0, largest)
        scale = f"{CHECK_TOLERANCE:g} times the largest output, {largest:.4g}" if largest > 1 else "absolute"
        require(worst <= tolerance, f"onnxruntime differs from glassnet by {worst:.2e}, more than "
                                    f"the tolerance {tolerance:.1e} ({scale}); {args.onnx} was not written")
        return worst

    worst = export_onnx(model, args.onnx, check=compare_with_onnxruntime if args.check else None)
    if args.check:
        message += f"; onnxruntime matches glassnet to {worst:.1e}"
    print(message)
    return 0


def max_difference(model: Sequential, onnx_model: str | bytes) -> tuple[float, float]:
    """Largest absolute difference of onnxruntime (running ``onnx_model``, a path or the
    file's bytes) and ``model.predict`` on 8 random inputs, and the largest absolute output
    of ``model.predict``."""
    import numpy as np

    from ..io.onnx import run_onnx

    x = np.random.default_rng(0).integers(0, 256, (8, *model.input_shape)).astype(np.float32)
    expected = model.predict(x)
    return float(np.abs(run_onnx(onnx_model, x) - expected).max()), float(np.abs(expected).max())
