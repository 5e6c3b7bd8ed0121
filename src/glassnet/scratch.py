"""Scratch memory: temporary arrays that reuse the same memory call after call.

Why: a convolution works on its batch a few images at a time (``layers/conv.py``), and
each group needs a padded copy of its images, their unfolded columns and the GEMM's
output: a few MiB, made and thrown away dozens of times per layer and step. A fresh
array lands on memory the CPU's caches do not hold yet; the same memory reused stays in
the caches from one group (and one layer) to the next, and writing it is faster.

Each thread has its own scratch (the shards of a split batch run in several threads,
``training/shards.py``), one buffer per *slot*: a name such as ``"cols"`` for one kind of
temporary. An array from :func:`scratch` is valid until the next request for the same slot
in the same thread, so it is only for a value that is used up at once (copied into a result
or reduced), never for one that is returned or kept. On a GPU it is a fresh array (CuPy has
its own memory pool). The buffers live as long as their thread: about 10 MiB per thread
for the zoo's CIFAR models (``cnn-keras``, ``cnn-bn``, batch 128), at most
``MAX_SCRATCH_BYTES`` per slot.
"""

from __future__ import annotations

import math
import threading
from types import ModuleType
from typing import Any

import numpy as np

from .backend import Array

#: The largest buffer kept per slot and thread: twice a convolution's group of images
#: (``layers.conv.GROUP_BYTES``). A larger request (one large photo's unfolded columns) gets
#: a fresh array, so that a long-lived process does not keep that memory forever.
MAX_SCRATCH_BYTES = 8 * 2**20

_local = threading.local()


def scratch(xp: ModuleType, slot: str, shape: tuple[int, ...], dtype: Any) -> Array:
    """An uninitialised array of ``shape`` and ``dtype`` on ``xp``'s device, in this thread's
    buffer for ``slot`` (valid until the next request for ``slot`` in this thread)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if xp is not np or nbytes > MAX_SCRATCH_BYTES:
        return xp.empty(shape, dtype=dtype)
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(slot)
    if buffer is None or buffer.nbytes < nbytes:
        # 64-byte aligned (a cache line; NumPy only promises 16), whatever the dtype
        raw = np.empty(nbytes + 64, dtype=np.uint8)
        buffer = buffers[slot] = raw[-raw.ctypes.data % 64:][:nbytes]
    return buffer[:nbytes].view(dtype).reshape(shape)
