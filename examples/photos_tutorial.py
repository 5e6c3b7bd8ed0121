"""Your own photos: a folder of image files as a data set, a small convolutional network
trained on it with augmentation, predicting new files from Python and from the command
line, and export to ONNX checked against onnxruntime.

The "own photos" are ordinary PNG files the script writes from the CIFAR-10 files in the
shared data, sorted into one sub-folder per class (``my_photos/cat/``, ``my_photos/other/``)
exactly as you would sort your own JPEGs. ONNX export needs the extra
``pip install 'glassnet[onnx]'`` (onnx and onnxruntime).

Run:  python examples/photos_tutorial.py [--per-class 300] [--epochs 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import glassnet as gn
from glassnet import zoo
from glassnet.data import Dataset, cifar10, data_dir
from glassnet.data import load as load_data
from glassnet.data.augment import parse as parse_augment
from glassnet.data.unlabelled import load_images
from glassnet.io.onnx import export_onnx, run_onnx
from glassnet.metrics import class_probabilities
from glassnet.run_setup import channel_stats

CIFAR_CAT = 3  # CIFAR-10's class index of "cat"


def write_photos(folder: Path, batch_names: list[str], per_class: int) -> None:
    """Up to ``per_class`` PNG files each in ``folder/cat/`` and ``folder/other/``, taken in
    order from the CIFAR-10 batches ``batch_names`` and named ``<batch>_<index>.png``."""
    from PIL import Image

    kinds: dict[str, list[tuple[str, np.ndarray]]] = {"cat": [], "other": []}
    batches = cifar10.ensure_folder(data_dir())  # downloaded (checksummed) when missing
    for batch_name in batch_names:
        images, labels = cifar10.read_batch(batches / batch_name)  # never a plain pickle.load
        images = images.transpose(0, 2, 3, 1)  # (N, 32, 32, 3), as Pillow takes them
        for i, label in enumerate(labels):
            kind = kinds["cat" if label == CIFAR_CAT else "other"]
            if len(kind) < per_class:
                kind.append((f"{batch_name}_{i}.png", images[i]))
    for kind, files in kinds.items():
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for name, image in files:
            Image.fromarray(image).save(folder / kind / name)


# --8<-- [start:model]
def photo_cnn(train: Dataset) -> gn.Sequential:
    """The zoo's cnn-small for ``train``'s image shape and classes: a 5x5 stride-2 stem, two
    more 3x3 conv → batch norm → ReLU blocks with max-pooling between, global average
    pooling, dropout and one output (two classes: a sigmoid, in the loss)."""
    model = zoo.build("cnn-small", train.image_shape, train.num_classes, seed=0)
    # pixels / 255, then centred and scaled per channel with the training photos' mean and
    # std; saved with the model, so predict, the CLI and the ONNX file all apply the same
    model.set_preprocessing(scale=1 / 255, **channel_stats(train.x, scale=1 / 255))
    model.class_names = train.class_names
    model.compile(loss=zoo.loss_for(train.num_classes), optimizer=gn.optimizers.Adam(lr=2e-3))
    return model
# --8<-- [end:model]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=300, help="photos per class to learn from")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", type=Path, help="folder for the photos, the model and the ONNX file")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="glassnet-photos-"))
    write_photos(out / "my_photos", [f"data_batch_{i}" for i in range(1, 6)], args.per_class)
    write_photos(out / "new_photos", ["test_batch"], 3)

    # --8<-- [start:folder]
    data = load_data(str(out / "my_photos"), image_size=32, test_split=0.2, seed=0)
    train, test = data["train"], data["test"]     # uint8 (N, 3, 32, 32), stratified 80/20
    print(f"classes {train.class_names}; train {train.class_counts()}; test {test.class_counts()}")
    # --8<-- [end:folder]

    # --8<-- [start:train]
    model = photo_cnn(train)
    model.summary()
    augment = parse_augment("flip,crop")  # random mirror and shifted 32x32 crop per image
    model.fit(train.x, train.y, epochs=args.epochs, batch_size=32, augment=augment,
              lr_schedule=gn.schedules.OneCycle(args.epochs), verbose=2, log_every=5)
    print(f"test accuracy {model.evaluate(test.x, test.y)['accuracy']:.3f} "
          f"on {len(test)} held-out photos")
    model.training_summary["resize"] = "squash"  # how load_data fitted the photos: predict does the same
    model.save(str(out / "photos.glassnet"))
    # --8<-- [end:train]

    # --8<-- [start:predict]
    names, images = load_images([out / "new_photos"], image_size=32)  # uint8 (6, 3, 32, 32)
    probs = class_probabilities(model.predict(images))  # (6, 2): one column per class name
    p_cat = probs[:, model.class_names.index("cat")]
    for name, p in zip(names, p_cat, strict=True):
        print(f"{Path(name).relative_to(out / 'new_photos')!s:<24} p(cat) = {p:.3f}")
    # --8<-- [end:predict]

    # --8<-- [start:cli]
    command = [sys.executable, "-m", "glassnet", "predict", str(out / "photos.glassnet"),
               str(out / "new_photos")]
    print("$ glassnet predict photos.glassnet new_photos/")
    print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    # --8<-- [end:cli]

    # --8<-- [start:onnx]
    export_onnx(model, out / "photos.onnx")         # raw 0..255 pixels in, probabilities out
    onnx_probs = class_probabilities(run_onnx(out / "photos.onnx", images.astype(np.float32)))
    difference = float(np.abs(onnx_probs - probs).max())         # both (6, 2)
    same = bool(np.array_equal(onnx_probs.argmax(axis=1), probs.argmax(axis=1)))
    print(f"ONNX file {(out / 'photos.onnx').stat().st_size:,} bytes; onnxruntime vs glassnet: "
          f"max |difference| {difference:.1e}, same classes: {same}")
    np.testing.assert_allclose(onnx_probs, probs, rtol=0, atol=1e-5)
    # --8<-- [end:onnx]
    return {"p_cat": p_cat.tolist(), "onnx_difference": difference}


if __name__ == "__main__":
    main()
