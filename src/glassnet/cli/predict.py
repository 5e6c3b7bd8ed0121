"""``glassnet predict``: classify image files with a saved model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .._text import printable
from ..data.listing import listed_within
from ..data.unlabelled import iter_images
from ..errors import ConfigError, ShapeError
from ..metrics import class_probabilities
from ..run_data import model_color_mode
from .arguments import MODEL_HELP, Subcommands, add_folder_options, model_file, path_text, positive_int
from .common import load_model_file, model_resize, no_class_text, require_probabilities
from .output import check_output_folder, print_json
from .runtime import add_runtime_options


def add_parser(sub: Subcommands) -> None:
    """Add the ``predict`` command's parser to ``sub``."""
    p = sub.add_parser(
        "predict", help="classify your own images",
        description="Load each image with Pillow (JPEG, PNG, BMP, GIF, WebP or TIFF; EXIF "
                    "orientation applied), "
                    "convert it to RGB (grayscale for a one-channel model), resize it to the "
                    "model's input size (as it was trained: --resize), apply the model's "
                    "preprocessing and print the class probabilities. Folders are searched "
                    "recursively; files in them that are not readable images are skipped "
                    "with a warning.")
    p.add_argument("model", type=model_file, help=MODEL_HELP)
    p.add_argument("images", type=path_text, nargs="+", help="image files and folders of images")
    p.add_argument("--top", type=positive_int, default=1, help="show the K most likely classes")
    add_folder_options(p, image_size=False, for_model=True, cache=False)
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--plot", type=path_text, metavar="FOLDER",
                   help="also save each image, as the model sees it, beside its class-probability "
                        "bars (the ten most likely classes) as a PNG in FOLDER, named after the "
                        "image (photo.jpg: photo.probabilities.png); not inside a folder of images "
                        "being predicted, nor inside the model's training folder")
    add_runtime_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``glassnet predict``: print the most likely classes of each image (``--json``: as a
    list; ``--plot``: also a probability plot per image); returns the exit code."""
    model = load_model_file(args.model)
    require_probabilities(model, args.model)
    plots = (PlotWriter(_plot_folder(args.plot, args.images, model.training_summary.get("folder")),
                        args.images) if args.plot else None)
    if len(model.input_shape) != 3 or model.input_shape[0] not in (1, 3):
        raise ShapeError(f"this model takes inputs of shape {model.input_shape}, not images "
                         "(channels, height, width)")
    # Chunk by chunk (iter_images): a folder of 100,000 photos is predicted in bounded memory
    # and its first lines come out at once; --json collects the (small) results for one list.
    chunks = iter_images(args.images, model.input_shape[1:], model_resize(args, model, "predict"),
                         model_color_mode(model), strict=args.strict)
    results, unanswered = [], 0
    for files, images in chunks:
        probs = class_probabilities(model.predict(images))
        names = model.class_names or [str(i) for i in range(probs.shape[1])]
        chunk = [_result(path, row, names, args.top) for path, row in zip(files, probs, strict=True)]
        unanswered += sum(r["class"] is None for r in chunk)
        if plots is not None:
            for result, image, row in zip(chunk, images, probs, strict=True):
                if result["class"] is not None:  # NaN bars would be an empty plot
                    result["plot"] = str(plots.write(result["file"], image, row, names))
        if args.json:
            results += chunk
            continue
        for r in chunk:
            print(f"{printable(r['file'])}: {_answer_text(r)}", flush=True)
    if args.json:
        print_json(results)
    elif plots is not None:
        print(f"probability plots: {printable(str(plots.folder))}/ ({plots.written} written)")
    if plots is not None and (key := plots.numbered_classes(model.class_names)):
        print(key, file=sys.stderr if args.json else sys.stdout)  # --json's output stays JSON
    if unanswered:
        # A script reading the output must not take a broken model's answers for answers.
        print(f"glassnet predict: error: {no_class_text(unanswered)}", file=sys.stderr)
        return 1
    return 0


#: bytes of an image's name kept in its plot's name (file names hold 255 bytes; the plot adds
#: a number and ".probabilities.png", the atomic write a temporary prefix and suffix)
PLOT_STEM_BYTES = 160


class PlotWriter:
    """Writes each image's probability bars (:func:`glassnet.report.plots.plot_probabilities`)
    into ``folder`` as ``<image name>.probabilities.png`` (a name no photo has: a photo
    beside the plots is never written over); two images of the same name (from two folders)
    get ``photo.probabilities.png`` and ``photo-2.probabilities.png``, and an image named
    on the command line is never replaced by a plot."""

    def __init__(self, folder: Path, images: list[str]) -> None:
        self.folder, self.written, self._taken = folder, 0, set()
        self._inputs = {Path(item).resolve() for item in images}

    def numbered_classes(self, names: list[str] | None) -> str | None:
        """The key to the plots' class numbers when the plotting font cannot draw the class
        names (the figures then write ``#0``, ``#1``, ...: :func:`~glassnet.report.figures.figure_labels`);
        ``None`` when the names are drawn, or no plot was written."""
        from ..report import figures

        if not self.written or not names or figures.drawable(names):
            return None
        key = ", ".join(f"{label} = {printable(name)}"
                        for label, name in zip(figures.figure_labels(names), names, strict=True))
        return f"the plotting font cannot draw these class names, so the plots number them: {key}"

    def write(self, file: str, image: np.ndarray, probs: np.ndarray, names: list[str]) -> Path:
        """``image: (C, H, W)`` uint8 as the model sees it; ``probs: (classes,)``."""
        from .._files import cut_to_bytes, make_folder
        from ..report import figures, plots  # only with --plot: they import matplotlib

        stem, number = cut_to_bytes(Path(file).stem or "image", PLOT_STEM_BYTES), 1
        while True:
            name = f"{stem}{'' if number == 1 else f'-{number}'}.probabilities.png"
            if name not in self._taken and (self.folder / name).resolve() not in self._inputs:
                break
            number += 1
        self._taken.add(name)
        path = make_folder(self.folder) / name
        figures.save_figure(plots.plot_probabilities(image, probs, names, image_name=Path(file).name), path)
        self.written += 1
        return path


def _plot_folder(folder: str, images: list[str], training_folder: str | None) -> Path:
    """``--plot``'s folder, checked before any image is read: never a folder of images being
    predicted, nor inside one (the next ``predict`` of it would read the plots as photos),
    nor inside the model's training folder (they would become training images of a class),
    unless hidden (``.plots/``: listings skip it), as ``train`` allows a hidden run folder."""
    path = check_output_folder(folder, "--plot")
    for item in images:
        if Path(item).expanduser().is_dir() and listed_within(path, item):
            raise ConfigError(f"--plot {folder} is inside the image folder {item}: the next predict "
                              "of that folder would read the plots as images; give a folder outside it "
                              "(or a hidden one, .plots)")
    trained_on = training_folder is not None and Path(training_folder).is_dir()
    if trained_on and listed_within(path, training_folder):
        raise ConfigError(f"--plot {folder} is inside the model's training folder {training_folder}: "
                          "training, evaluate and report would read the plots as images of a class; "
                          "give a folder outside it (or a hidden one, .plots)")
    return path


def _answer_text(result: dict) -> str:
    """A result's line after the file name: the top classes and probabilities, its plot."""
    if result["class"] is None:
        return "no class (the model's outputs are NaN)"
    top = ", ".join(f"{printable(t['class'])} {t['probability']:.2f}" for t in result["top"])
    return top + (f" (plot: {printable(result['plot'])})" if "plot" in result else "")


def _result(path: str, row: np.ndarray, names: list[str], top: int) -> dict:
    """One file's prediction: its most likely class, the ``top`` most likely, all of them;
    ``row: (classes,)``. A row with a NaN has no class: ``class`` and ``top`` are empty
    (the NaN would sort anywhere and name a class the model never chose)."""
    if np.isnan(row).any():
        return {"file": path, "class": None, "probability": None, "top": [],
                "probabilities": dict.fromkeys(names)}
    order = np.argsort(-row, kind="stable")[:top]
    return {"file": path, "class": names[order[0]], "probability": float(row[order[0]]),
            "top": [{"class": names[i], "probability": float(row[i])} for i in order],
            "probabilities": dict(zip(names, map(float, row), strict=True))}
