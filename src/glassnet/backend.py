"""The array module, the default dtype and seeding.

Layers never import NumPy's random state or CuPy directly: they ask
:func:`array_module` for the module that owns an array, so the same code runs on
NumPy (CPU) and CuPy (GPU). Randomness only comes from ``numpy.random.Generator``
objects derived from one seed (:func:`make_rng`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

from ._checks import check_positive_int
from .errors import ConfigError, MissingExtraError, require_extra

Array = Any  # numpy.ndarray or cupy.ndarray
#: where initial weights are drawn from: a Generator, or the course's RandomState for a model
#: built with ``init_stream="legacy"`` (its weights drawn in the course's order)
RandomSource = np.random.Generator | np.random.RandomState
DTYPES = {"float32": np.float32, "float64": np.float64}
DEFAULT_DTYPE = "float32"

_device: str | None = None  # chosen on first use: set_device(), else $GLASSNET_DEVICE, else cpu
_threads = 1  # CPU threads a training step may split its batch over (set_threads)
_local = threading.local()  # using_threads: a setting for one thread (the fit that set it)


def resolve_dtype(dtype: Any = None) -> np.dtype:
    """Return the NumPy dtype for ``"float32"``/``"float64"`` (default float32)."""
    if dtype is None:
        dtype = DEFAULT_DTYPE
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(DTYPES[name])


def set_device(device: str) -> None:
    """Select ``"cpu"`` (NumPy) or ``"gpu"`` (CuPy, extra ``glassnet[gpu]``)."""
    global _device
    if device not in ("cpu", "gpu"):
        raise ConfigError(f"device must be 'cpu' or 'gpu', got {device!r}")
    if device == "gpu":
        _check_gpu(require_extra("cupy", "gpu"))
    _device = device


def _check_gpu(cupy: ModuleType) -> None:
    """A :class:`ConfigError` unless CUDA sees a GPU that runs CuPy's kernels. CuPy imports
    without a GPU, a driver or the CUDA libraries; its first allocation (or kernel) would
    then fail with a CUDA error deep inside a layer."""
    runtime = cupy.cuda.runtime
    try:
        count = runtime.getDeviceCount()
    except runtime.CUDARuntimeError as exc:  # no driver, a driver too old, no device
        raise ConfigError(f"no usable CUDA GPU: {exc}; use the device 'cpu'") from None
    if count == 0:
        raise ConfigError("no usable CUDA GPU: CUDA finds 0 devices; use the device 'cpu'")
    # A GPU and a driver, but CuPy's pip wheels also need the CUDA Toolkit's libraries (NVRTC
    # compiles its element-wise kernels, cuBLAS multiplies): one of each, tiny, now
    try:
        a = cupy.arange(4, dtype=cupy.float32).reshape(2, 2)
        float((a @ a * 2).sum())
    except Exception as exc:  # noqa: BLE001 - CuPy raises its own kinds (CompileException, CUBLASError)
        raise ConfigError(f"the CUDA GPU cannot run CuPy's kernels ({type(exc).__name__}: {exc}); is the "
                          "CUDA Toolkit (NVRTC, cuBLAS) installed where CuPy finds it? Use the device "
                          "'cpu'") from None


@contextlib.contextmanager
def using_device(device: str) -> Iterator[None]:
    """Run the ``with`` block on ``device``, then return to the device chosen before."""
    global _device
    previous = _device
    set_device(device)
    try:
        yield
    finally:
        _device = previous


def get_device() -> str:
    """The device new parameters are created on (``GLASSNET_DEVICE`` sets the start value)."""
    if _device is None:
        # Resolved lazily so that a bad $GLASSNET_DEVICE is a clear error where the device
        # is first needed, not an exception while importing glassnet.
        value = os.environ.get("GLASSNET_DEVICE") or "cpu"
        try:
            set_device(value)
        except (ConfigError, MissingExtraError) as exc:  # say where "tpu" or "gpu" came from
            raise type(exc)(f"$GLASSNET_DEVICE={value!r}: {exc}") from None
    return _device


def set_threads(threads: int) -> None:
    """Let training split each batch over ``threads`` CPU threads (default 1: no split).

    See :mod:`glassnet.training.shards`. BLAS's own threads are not set here (the CLI's
    ``--threads`` sets both; from Python use ``threadpoolctl.threadpool_limits``)."""
    global _threads
    _threads = check_positive_int(threads, "threads")


def get_threads() -> int:
    """The threads a training step may use: this thread's :func:`using_threads`, else
    :func:`set_threads` (1 unless set)."""
    return getattr(_local, "threads", None) or _threads


@contextlib.contextmanager
def using_threads(threads: int) -> Iterator[None]:
    """Train on ``threads`` threads inside the ``with`` block, in this Python thread only
    (two fits in two threads do not change each other's), then as before."""
    previous, _local.threads = getattr(_local, "threads", None), check_positive_int(threads, "threads")
    try:
        yield
    finally:
        _local.threads = previous


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def xp() -> ModuleType:
    """The array module of the current device: ``numpy`` or ``cupy``."""
    if get_device() == "gpu":
        import cupy

        return cupy
    return np


def array_module(a: Array) -> ModuleType:
    """The module that owns array ``a`` (``cupy`` for GPU arrays, else ``numpy``)."""
    if type(a).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def device_of(a: Array) -> str:
    """``"gpu"`` for a CuPy array, else ``"cpu"``: where ``a`` lives, whatever is current."""
    return "cpu" if array_module(a) is np else "gpu"


def to_device(a: Any, dtype: Any = None) -> Array:
    """Move ``a`` to the current device (a no-op on the CPU for NumPy arrays)."""
    return xp().asarray(a, dtype=dtype)


def to_device_of(a: Any, like: Array, dtype: Any = None) -> Array:
    """``a`` on the device that holds array ``like`` (the host for a NumPy array), copied
    between host and GPU only when it is elsewhere. A model's inputs go where its weights are,
    whatever the current device is by the time the model is used."""
    module = array_module(like)
    if module is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return module.asarray(a, dtype=dtype)


def to_device_of_weights(a: Any, weights: Iterable[Array]) -> Array:
    """``a`` on the device of ``weights`` (a model's or a layer's: they live on one device),
    or on the current device where there are none (a layer without weights follows it)."""
    for like in weights:
        return to_device_of(a, like)
    return to_device(a)


def as_array(a: Any) -> Array:
    """``a`` as an array: a NumPy or CuPy array as it is (on its device, uncopied), anything
    else (a list, a PyTorch CPU tensor) through ``np.asarray``. Checking for a ``shape``
    would let a tensor through, whose dtype NumPy cannot read."""
    if isinstance(a, np.ndarray) or array_module(a) is not np:
        return a
    if type(a).__module__.startswith("torch") and hasattr(a, "detach"):
        a = a.detach()  # a tensor that requires grad: NumPy may read it, not torch's graph
    return np.asarray(a)


def to_numpy(a: Any) -> np.ndarray:
    """A NumPy copy (or view) of ``a``, wherever it lives."""
    if hasattr(a, "get") and type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def make_rng(seed: int | None | np.random.Generator) -> np.random.Generator:
    """A ``numpy.random.Generator`` for ``seed`` (an existing Generator is returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(seed)

