"""Data augmentation on raw image batches ``(N, C, H, W)`` (uint8 or float), seeded.

Each augmentation is a function ``(batch, rng) -> new batch`` of the same shape and dtype
(the input is never changed); the training loop calls it on every training batch with
the model's training generator, so the same seed gives the same augmented batches.
Whole batches are handled at once: no loop over images.

- ``flip``: mirror each image left-right with probability 1/2.
- ``crop``: pad each side by ``padding`` pixels (reflection, as the CIFAR recipes do, or
  zeros) and cut a random ``H x W`` window, i.e. shift by up to ``padding`` pixels.
- ``jitter``: small random brightness and contrast changes per image (like torchvision's
  ``ColorJitter(brightness, contrast)``, but always brightness first and clipped only at
  the end, where torchvision clips between the two and picks their order at random):
  scale by ``b``, then blend with the image's mean grey by ``c``, with ``b, c`` uniform in
  ``[1 - 0.1, 1 + 0.1]``; uint8 stays in 0..255.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from .._checks import check_non_negative_int, check_rate
from ..errors import ConfigError

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _check_images(batch: np.ndarray) -> None:
    if not isinstance(batch, np.ndarray):  # a list, a GPU array: fit passes NumPy batches
        raise ConfigError(f"augmentation takes a NumPy array of images (N, C, H, W), got "
                          f"{type(batch).__name__}")
    if batch.ndim != 4:
        raise ConfigError(f"augmentation needs image batches (N, C, H, W), got shape {batch.shape}")


def random_flip(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror each image horizontally with probability 1/2; ``batch: (N, C, H, W)`` → a new
    array of the same shape."""
    _check_images(batch)
    flip = rng.random(len(batch)) < 0.5
    out = batch.copy()
    out[flip] = batch[flip, :, :, ::-1]
    return out


def random_crop(batch: np.ndarray, rng: np.random.Generator, padding: int = 4,
                mode: str = "reflect") -> np.ndarray:
    """Pad by ``padding`` (``"reflect"`` or ``"constant"`` zeros), then crop ``H x W`` at a
    random offset per image; ``batch: (N, C, H, W)`` → a new array of the same shape. One
    strided view of every possible window, one gather."""
    _check_images(batch)
    if mode not in ("reflect", "constant"):
        raise ConfigError(f"crop padding mode must be 'reflect' or 'constant', got {mode!r}")
    n, c, h, w = batch.shape
    p = check_non_negative_int(padding, "crop padding")
    if mode == "reflect" and (p >= h or p >= w):
        raise ConfigError(f"reflect padding {p} needs images larger than {p} pixels, got {h}x{w}")
    padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)), mode=mode)
    sn, sc, sh, sw = padded.strides
    windows = np.lib.stride_tricks.as_strided(
        padded, shape=(n, 2 * p + 1, 2 * p + 1, c, h, w), strides=(sn, sh, sw, sc, sh, sw),
        writeable=False)
    top, left = rng.integers(0, 2 * p + 1, size=(2, n))
    return windows[np.arange(n), top, left]


# ITU-R 601-2 luma weights: the grey that contrast blends towards (as torchvision).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def random_jitter(batch: np.ndarray, rng: np.random.Generator, brightness: float = 0.1,
                  contrast: float = 0.1) -> np.ndarray:
    """Per image ``x -> (b x - m) c + m`` with ``m`` the mean grey of ``b x``; ``b, c`` uniform in
    ``[1 - brightness, 1 + brightness]`` and ``[1 - contrast, 1 + contrast]``.

    ``batch: (N, C, H, W)``; uint8 batches are clipped to 0..255 and rounded, float ones are
    left unclipped (their range is the caller's). Grey is the luma of RGB, else the mean.
    """
    _check_images(batch)
    for name, amount in (("brightness", brightness), ("contrast", contrast)):
        check_rate(amount, f"jitter {name}")
    n = len(batch)
    # float32 for pixels; a float batch keeps its own precision (a float64 model's inputs)
    dtype = np.result_type(batch.dtype, np.float32) if batch.dtype.kind == "f" else np.float32
    b = rng.uniform(1 - brightness, 1 + brightness, (n, 1, 1, 1)).astype(dtype)
    c = rng.uniform(1 - contrast, 1 + contrast, (n, 1, 1, 1)).astype(dtype)
    x = batch.astype(dtype) * b
    grey = np.tensordot(x, LUMA, axes=([1], [0])) if x.shape[1] == 3 else x.mean(axis=1)
    mean = grey.mean(axis=(1, 2)).reshape(n, 1, 1, 1)
    x = (x - mean) * c + mean
    if batch.dtype == np.uint8:
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x.astype(batch.dtype, copy=False)


AUGMENTATIONS: dict[str, Augment] = {"flip": random_flip, "crop": random_crop, "jitter": random_jitter}


def compose(steps: Sequence[Augment]) -> Augment:
    """Apply ``steps`` in order."""

    def augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            batch = step(batch, rng)
        return batch

    return augment


def parse(spec: str | Sequence[str] | None, crop_padding: int = 4) -> Augment | None:
    """``"flip,crop"`` (or a list of names) → one augmentation function; ``None``, ``""`` or
    ``"none"`` → ``None``."""
    if spec is None:
        return None
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [name for name in names if name]
    if names == ["none"]:
        return None
    if "none" in names:
        raise ConfigError(f"augmentation 'none' means no augmentation: it cannot be combined "
                          f"with others, got {spec!r}")
    unknown = [name for name in names if name not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"unknown augmentation {', '.join(map(repr, unknown))}; "
                          f"choose from {sorted(AUGMENTATIONS)}, e.g. 'flip,crop,jitter'")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # flip,flip would flip back half the flipped images: surely a slip
        raise ConfigError(f"augmentation {', '.join(map(repr, twice))} given twice in {spec!r}")
    if not names:
        return None
    steps = [partial(random_crop, padding=crop_padding) if name == "crop" else AUGMENTATIONS[name]
             for name in names]
    return compose(steps)
