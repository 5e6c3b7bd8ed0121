"""Your own photos: predict a folder of image files with a trained model, from Python and
from the command line, and export the model to ONNX for use outside glassnet.

The "own photos" here are ordinary PNG files the script writes from CIFAR-10's test batch
(cats and other animals the cat network has never seen); put your own JPEGs in their place.
The model is the course's two-layer cat network, trained for a short while on the cat set.
ONNX export needs the extra ``pip install 'glassnet[onnx]'`` (onnx and onnxruntime).

Run:  python examples/photos_tutorial.py [--epochs 600] [--out DIR]
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet.data import data_dir, load_cats
from glassnet.data.images import load_image
from glassnet.io.onnx import export_onnx, run_onnx


def write_photos(folder: Path, count: int = 6) -> list[Path]:
    """PNG files of CIFAR-10 test images (half cats, class 3), standing in for your photos."""
    from PIL import Image

    with open(data_dir() / "cifar-10-batches-py" / "test_batch", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    labels = np.asarray(batch[b"labels"])
    chosen = np.concatenate([np.flatnonzero(labels == 3)[:count // 2],
                             np.flatnonzero(labels != 3)[:count - count // 2]])
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in chosen:
        kind = "cat" if labels[i] == 3 else "other"
        paths.append(folder / f"{kind}_{i}.png")
        Image.fromarray(batch[b"data"][i].reshape(3, 32, 32).transpose(1, 2, 0)).save(paths[-1])
    return paths


def train_cat_model(epochs: int) -> gn.Sequential:
    data = load_cats()
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(7, activation="relu"), gn.layers.Dense(1)],
                          input_shape=(3, 64, 64), seed=1, preprocessing={"scale": 1 / 255},
                          class_names=data["train"].class_names)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(lr=1e-4))
    model.fit(data["train"].x, data["train"].y, epochs=epochs, batch_size=None, verbose=0)
    print(f"cat model: test accuracy {model.evaluate(data['test'].x, data['test'].y)['accuracy']:.2f}")
    return model


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--out", type=Path, help="folder for the photos, the model and the ONNX file")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="glassnet-photos-"))
    photos = write_photos(out / "photos")
    model = train_cat_model(args.epochs)
    model.save(str(out / "cats.glassnet"))

    # --8<-- [start:predict]
    images = np.stack([load_image(p, size=(64, 64)) for p in photos])  # uint8 (6, 3, 64, 64)
    p_cat = model.predict(images)[:, 0]
    for path, p in zip(photos, p_cat, strict=True):
        print(f"{path.name:<14} p(cat) = {p:.3f}  -> {model.class_names[int(p > 0.5)]}")
    # --8<-- [end:predict]

    # --8<-- [start:cli]
    command = [sys.executable, "-m", "glassnet", "predict", str(out / "cats.glassnet"), *map(str, photos)]
    print("$ glassnet predict cats.glassnet photos/*.png")
    print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    # --8<-- [end:cli]

    # --8<-- [start:onnx]
    export_onnx(model, out / "cats.onnx")           # raw 0..255 pixels in, probabilities out
    onnx_p = run_onnx(out / "cats.onnx", images.astype(np.float32))[:, 0]
    difference = float(np.abs(onnx_p - p_cat).max())
    print(f"ONNX file {(out / 'cats.onnx').stat().st_size:,} bytes; onnxruntime vs glassnet: "
          f"max |difference| {difference:.1e}")
    # --8<-- [end:onnx]
    assert difference < 1e-5
    return {"p_cat": p_cat.tolist(), "onnx_difference": difference}


if __name__ == "__main__":
    main()
