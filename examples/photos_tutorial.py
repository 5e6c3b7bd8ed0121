"""Your own photos: a folder of image files as a data set, augmentation, predicting new
files from Python and from the command line, and export to ONNX.

The "own photos" are ordinary PNG files the script writes from the CIFAR-10 files in the
shared data, sorted into one sub-folder per class (``my_photos/cat/``, ``my_photos/other/``)
exactly as you would sort your own JPEGs. ONNX export needs the extra
``pip install 'glassnet[onnx]'`` (onnx and onnxruntime).

Run:  python examples/photos_tutorial.py [--per-class 200] [--epochs 40] [--out DIR]
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
from glassnet.data import data_dir
from glassnet.data import load as load_data
from glassnet.data.augment import parse as parse_augment
from glassnet.data.images import load_image
from glassnet.io.onnx import export_onnx, run_onnx
from glassnet.metrics import class_probabilities


def write_photos(folder: Path, batch_name: str, per_class: int) -> list[Path]:
    """``folder/cat/*.png`` and ``folder/other/*.png`` from one CIFAR-10 batch (class 3 = cat)."""
    from PIL import Image

    with open(data_dir() / "cifar-10-batches-py" / batch_name, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    labels = np.asarray(batch[b"labels"])
    paths = []
    for kind, indices in (("cat", np.flatnonzero(labels == 3)), ("other", np.flatnonzero(labels != 3))):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in indices[:per_class]:
            paths.append(folder / kind / f"{batch_name}_{i}.png")
            Image.fromarray(batch[b"data"][i].reshape(3, 32, 32).transpose(1, 2, 0)).save(paths[-1])
    return paths


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=200, help="training images per class")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, help="folder for the photos, the model and the ONNX file")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="glassnet-photos-"))
    write_photos(out / "my_photos", "data_batch_1", args.per_class)
    new_photos = write_photos(out / "new_photos", "test_batch", 3)

    # --8<-- [start:folder]
    data = load_data(str(out / "my_photos"), image_size=32, test_split=0.2, seed=0)
    train, test = data["train"], data["test"]     # uint8 (N, 3, 32, 32), stratified 80/20
    print(f"classes {train.class_names}; train {train.class_counts()}; test {test.class_counts()}")
    # --8<-- [end:folder]

    # --8<-- [start:train]
    # pixels / 255, then centred and scaled per channel; saved with the model, so predict,
    # the CLI and the ONNX file all apply the same
    scaling = {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    model = gn.Sequential([gn.layers.Flatten(),
                           gn.layers.Dense(64, activation="relu", kernel_initializer="he_normal"),
                           gn.layers.Dense(1, kernel_initializer="he_normal")],
                          input_shape=train.image_shape, seed=0, preprocessing=scaling,
                          class_names=train.class_names)
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.Adam(lr=1e-4))
    flips = parse_augment("flip")   # a random horizontal flip of each training image
    model.fit(train.x, train.y, epochs=args.epochs, batch_size=32, augment=flips, verbose=0)
    print(f"test accuracy {model.evaluate(test.x, test.y)['accuracy']:.2f} on {len(test)} held-out photos")
    model.save(str(out / "photos.glassnet"))
    # --8<-- [end:train]

    # --8<-- [start:predict]
    images = np.stack([load_image(p, size=(32, 32)) for p in new_photos])  # uint8 (6, 3, 32, 32)
    probs = class_probabilities(model.predict(images))  # (6, 2): one column per class name
    p_cat = probs[:, model.class_names.index("cat")]
    for path, p in zip(new_photos, p_cat, strict=True):
        print(f"{path.parent.name}/{path.name:<18} p(cat) = {p:.3f}")
    # --8<-- [end:predict]

    # --8<-- [start:cli]
    command = [sys.executable, "-m", "glassnet", "predict", str(out / "photos.glassnet"),
               str(out / "new_photos")]
    print("$ glassnet predict photos.glassnet new_photos/")
    print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    # --8<-- [end:cli]

    # --8<-- [start:onnx]
    export_onnx(model, out / "photos.onnx")           # raw 0..255 pixels in, probabilities out
    onnx_p = run_onnx(out / "photos.onnx", images.astype(np.float32))[:, 0]
    difference = float(np.abs(onnx_p - model.predict(images)[:, 0]).max())
    print(f"ONNX file {(out / 'photos.onnx').stat().st_size:,} bytes; onnxruntime vs glassnet: "
          f"max |difference| {difference:.1e}")
    # --8<-- [end:onnx]
    assert difference < 1e-5
    return {"p_cat": p_cat.tolist(), "onnx_difference": difference}


if __name__ == "__main__":
    main()
