"""How fast and how exactly glassnet reads photos: JPEG decoding at reduced scale
(``glassnet.data.images.DRAFT_MARGIN``) against a full decode, and the decoded-image cache's
first and second load of a folder.

Usage (a private data directory, so that the cache is not written into the shared data):
    GLASSNET_DATA=/tmp/decode-bench python benchmarks/image_decode.py
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from glassnet.data import images  # noqa: E402
from glassnet.data.folder import image_folder  # noqa: E402


def best_ms(call, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="GLASSNET_DATA must name a private data directory: the "
                                            "image cache is written there.")
    parser.parse_args()
    if not os.environ.get("GLASSNET_DATA"):  # else the cache would go to ~/.cache/glassnet
        parser.error("set GLASSNET_DATA to a private data directory (the image cache is written "
                     "there), e.g. GLASSNET_DATA=/tmp/decode-bench")
    work = Path(tempfile.mkdtemp(prefix="glassnet-decode-"))
    try:
        measure(work)
    finally:  # 44 MB of generated photos
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path) -> None:
    """Print the decoding and cache timings for photos generated in ``work``."""
    rng = np.random.default_rng(0)
    # busy detail: a 24x32 noise image blown up to 1024x768, and a 12-megapixel photo
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).resize(
        (1024, 768), Image.BICUBIC).save(work / "pattern.jpg", quality=95)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).resize(
        (4000, 3000), Image.BICUBIC).save(work / "photo.jpg", quality=92)
    with Image.open(work / "pattern.jpg") as whole:
        whole.load()
        full = np.asarray(whole.resize((64, 48), Image.BILINEAR), float).transpose(2, 0, 1)
    default = images.DRAFT_MARGIN
    for margin in (1, default):
        images.DRAFT_MARGIN = margin
        difference = np.abs(images.load_image(work / "pattern.jpg", (48, 64)).astype(float) - full)
        ms = best_ms(lambda: images.load_image(work / "photo.jpg", (128, 128)))
        print(f"draft margin {margin}: pattern at 48x64 differs from a full decode by "
              f"{difference.mean():.2f} grey levels on average, {difference.max():.0f} at most; "
              f"12 MP photo to 128x128 in {ms:.1f} ms")
    images.DRAFT_MARGIN = default

    def full_decode():
        with Image.open(work / "photo.jpg") as whole:
            whole.load()
            whole.convert("RGB").resize((128, 128), Image.BILINEAR)

    print(f"full decode of the 12 MP photo, then resize: {best_ms(full_decode, 5):.1f} ms")
    for name, size, shape in (("small", 64, None), ("big", 128, (1024, 768))):
        for label in (0, 1):
            folder = work / name / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(100):
                image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
                if shape is not None:
                    image = image.resize(shape, Image.BICUBIC)
                image.save(folder / f"{i}.{'jpg' if shape else 'png'}", quality=92)
        load = functools.partial(image_folder, work / name, image_size=size)
        first, second = best_ms(load, 1), best_ms(load, 1)  # decoded, then from the cache
        kind = "64x64 PNGs" if shape is None else "1024x768 JPEGs"
        print(f"image_folder of 200 {kind} at {size}x{size}: first load {first:.0f} ms, "
              f"second (cache) {second:.1f} ms")


if __name__ == "__main__":
    main()
