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
        largest difference of the outputs."""
        differences = max_differences(model, data)
        for what, (worst, largest) in differences.items():
            # NaN weights give NaN from both, whose difference would read "differs by nan"
            require(math.isfinite(largest), "the model's outputs are not finite (NaN or infinite) "
                                            f"on random inputs: its weights are probably damaged; "
                                            f"{args.onnx} was not written")
            # float32 in the graph: a tolerance relative to the values' size, so that raw
            # outputs (logits in the hundreds) are held to the same precision as probabilities.
            tolerance = CHECK_TOLERANCE * max(1.0, largest)
            scale = (f"{CHECK_TOLERANCE:g} times the largest value, {largest:.4g}" if largest > 1
                     else "absolute")
            require(worst <= tolerance, f"onnxruntime differs from glassnet by {worst:.2e} in the "
                                        f"{what}, more than the tolerance {tolerance:.1e} ({scale}); "
                                        f"{args.onnx} was not written")
        return differences["outputs"][0]

    worst = export_onnx(model, args.onnx, check=compare_with_onnxruntime if args.check else None)
    if args.check:
        message += f"; onnxruntime matches glassnet to {worst:.1e}"
    print(message)
    return 0


def max_differences(model: Sequential, onnx_model: bytes) -> dict[str, tuple[float, float]]:
    """On 8 random inputs, for ``"outputs"`` (``model.predict``) and ``"last layer's raw
    outputs"`` (``model.predict_logits``, before the final sigmoid or softmax, which a
    trained model saturates on noise: a wrong graph would pass on its outputs alone): the
    largest absolute difference of onnxruntime (running the file's bytes ``onnx_model``) and
    glassnet, and the largest absolute value of glassnet's."""
    import numpy as np

    from ..io.onnx import run_onnx_with_logits

    x = np.random.default_rng(0).integers(0, 256, (8, *model.input_shape)).astype(np.float32)
    got = run_onnx_with_logits(onnx_model, x)
    expected = (model.predict(x), model.predict_logits(x))
    return {what: (float(np.abs(g.reshape(e.shape) - e).max()), float(np.abs(e).max()))
            for what, g, e in zip(("outputs", "last layer's raw outputs"), got, expected, strict=True)}
