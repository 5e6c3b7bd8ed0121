"""A strict NumPy stand-in for CuPy, so that the GPU code path runs in every test run.

Installed as ``sys.modules["cupy"]`` by the ``fake_gpu`` fixture (tests/test_device_paths.py).
Its arrays are ``cupy.ndarray`` objects that wrap a NumPy array and behave as CuPy's do
where it matters for glassnet's device discipline:

- they refuse implicit conversion to NumPy (``np.asarray(a)``, ``np.array(a)``), as CuPy's
  do: only ``a.get()`` and ``cupy.asnumpy(a)`` copy them to the host;
- an operation that mixes them with a NumPy array (a 0-d one too; NumPy scalars are fine)
  is a ``TypeError``, as in CuPy, whether written ``a * host``, ``cupy.maximum(a, host)``
  or ``a[...] = host``;
- they are no index (CuPy's arrays have no ``__index__``: ``range(a.sum())`` fails);
- reductions return 0-d device arrays, not Python or NumPy scalars (``float(a.sum())``
  works; ``f"{a.sum():.3f}"`` is refused here although CuPy formats it through the host: a
  house rule, so that a value is converted where the code says so);
- ``copyto`` refuses a Python scalar as its source (CuPy 13.0-13.2 with NumPy 2 raise
  ``TypeError`` from ``numpy.can_cast`` there: pass ``dtype.type(value)``);
- only the CuPy 13 functions glassnet uses are in the module (an allowlist, also for NumPy
  functions called on device arrays), so a NumPy function that CuPy lacks (``errstate``,
  ``seterr``, ...) is missing here too; functions, array methods and ufuncs take only the
  keywords CuPy's take (``max`` has no ``initial``, ufuncs no ``where=``), ufuncs only as
  calls (no ``np.add.at``) and no list operands, arrays have only CuPy's attributes;
- an out-of-range integer-array index wraps around, as CuPy's does (NumPy raises): a
  check that relies on NumPy's IndexError is no check on a GPU;
- :func:`recording` lists the copies between host and device (a test of what a GPU
  would wait for);
- ``cuda.runtime.getDeviceCount`` counts one GPU (tests replace it with
  :func:`no_device_count` for a machine with CuPy but no usable GPU);
- NumPy functions given device arrays dispatch to this module (``__array_ufunc__`` and
  ``__array_function__``, as CuPy implements them) and return device arrays.

What this checks: that glassnet keeps a device computation on the device and converts
only at its edges, with the same functions CuPy provides. What it cannot check: CUDA (the
kernels, their speed, the GPU's rounding). The real CuPy tests run where a GPU is present.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as _np

__version__ = "0.0-fake"

# Functions that take host data on purpose: they are how data gets onto the device.
_FROM_HOST = {"asarray", "array", "ascontiguousarray", "asanyarray"}

_transfers: list[tuple[str, str, tuple[int, ...]]] | None = None  # while recording()


@contextlib.contextmanager
def recording() -> Iterator[list[tuple[str, str, tuple[int, ...]]]]:
    """Record every copy between host and device inside the ``with`` block, as
    ``("to device" | "to host", dtype name, shape)``: what a real GPU would wait for."""
    global _transfers
    _transfers = log = []
    try:
        yield log
    finally:
        _transfers = None


def _record(direction: str, array: _np.ndarray) -> None:
    if _transfers is not None:
        _transfers.append((direction, array.dtype.name, array.shape))


class ndarray:  # noqa: N801 - named as CuPy's class
    """A "device" array: a NumPy array that refuses to meet host arrays."""

    __slots__ = ("_a",)
    __hash__ = None  # type: ignore[assignment]  # arrays compare element-wise

    def __init__(self, array: _np.ndarray) -> None:
        self._a = array

    # -- conversion (explicit only) --------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> _np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self) -> _np.ndarray:
        _record("to host", self._a)
        return self._a.copy()

    def item(self) -> Any:
        _record("to host", self._a)
        return self._a.item()

    def tolist(self) -> Any:
        _record("to host", self._a)
        return self._a.tolist()

    def __float__(self) -> float:
        _record("to host", self._a)
        return float(self._a)

    def __int__(self) -> int:
        _record("to host", self._a)
        return int(self._a)

    def __bool__(self) -> bool:
        _record("to host", self._a)
        return bool(self._a)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (_wrap(row) for row in self._a)

    def __repr__(self) -> str:
        return f"fake-cupy {self._a!r}"

    def __format__(self, spec: str) -> str:
        if spec:
            raise TypeError(f"unsupported format string passed to cupy.ndarray.__format__: {spec!r}")
        return repr(self)

    # -- attributes and methods: NumPy's, on the wrapped array -----------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name not in ("__copy__", "__deepcopy__"):
            # NumPy's other protocols (__array_interface__, __array_struct__, the buffer)
            # would let np.asarray read the array without asking
            raise AttributeError(name)
        if name not in _CUPY_METHODS and name not in _CUPY_ATTRIBUTES:
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r} (strict stand-in)")
        if name == "flags":
            return _Flags(self._a.flags)
        value = getattr(self._a, name)
        if callable(value):
            allowed = _CUPY_METHODS[name]
            def method(*args: Any, **kwargs: Any) -> Any:
                unknown = set(kwargs) - allowed
                if unknown:
                    raise TypeError(f"cupy.ndarray.{name}() got unexpected keyword(s) {sorted(unknown)}")
                return _wrap(value(*_device_args(args, name), **_device_args(kwargs, name)))

            return method
        return _wrap(value)

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_wrapped(_index(key), self._a.shape)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_wrapped(_index(key), self._a.shape)] = _device_args(value, "__setitem__")

    # -- NumPy's protocols: ufuncs and functions on device arrays stay on the device --------
    def __array_ufunc__(self, ufunc: _np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            raise TypeError(f"strict stand-in: ufunc method {ufunc.__name__}.{method} on device arrays")
        unknown = set(kwargs) - {"out", "dtype", "casting"}
        if unknown:
            raise TypeError(f"strict stand-in: CuPy ufunc {ufunc.__name__} takes no {sorted(unknown)}")
        if any(isinstance(v, (list, tuple)) for v in inputs):
            raise TypeError(f"strict stand-in: CuPy ufunc {ufunc.__name__} takes no list/tuple operand")
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_device_args(inputs, ufunc.__name__),
                                        **_device_args(kwargs, ufunc.__name__))
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        if func.__name__ not in _CUPY_FUNCTIONS | {"as_strided", "copyto"}:
            return NotImplemented  # as CuPy for a function it lacks: NumPy raises TypeError
        return _wrap(func(*_device_args(args, func.__name__), **_device_args(kwargs, func.__name__)))


def _binary(ufunc: _np.ufunc, reflected: bool = False):
    if reflected:
        return lambda self, other: ufunc(other, self)
    return lambda self, other: ufunc(self, other)


def _in_place(ufunc: _np.ufunc):
    def operator(self, other):
        ufunc(self, other, out=(self,))
        return self

    return operator


for _name, _ufunc in {"add": _np.add, "sub": _np.subtract, "mul": _np.multiply,
                      "truediv": _np.true_divide, "floordiv": _np.floor_divide, "mod": _np.remainder,
                      "pow": _np.power, "matmul": _np.matmul, "and": _np.bitwise_and,
                      "or": _np.bitwise_or, "xor": _np.bitwise_xor}.items():
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
    setattr(ndarray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _in_place(_ufunc))
for _name, _ufunc in {"lt": _np.less, "le": _np.less_equal, "gt": _np.greater,
                      "ge": _np.greater_equal, "eq": _np.equal, "ne": _np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_ufunc))
for _name, _ufunc in {"neg": _np.negative, "pos": _np.positive, "abs": _np.absolute,
                      "invert": _np.invert}.items():
    setattr(ndarray, f"__{_name}__", lambda self, _u=_ufunc: _u(self))
ndarray.__module__ = "cupy"  # glassnet.backend.array_module tells devices apart by module


# -- moving between host and device ---------------------------------------------------------
def _wrap(value: Any) -> Any:
    """NumPy results as device arrays (NumPy scalars too: CuPy reductions give 0-d arrays)."""
    if isinstance(value, (_np.ndarray, _np.generic)):
        return ndarray(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _device_args(value: Any, where: str) -> Any:
    """Unwrap device arrays in (nested) arguments; a host array there is a TypeError."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _np.ndarray):  # 0-d too: CuPy takes NumPy scalars, not arrays
        raise TypeError(f"{where}: a NumPy array was mixed with CuPy arrays "
                        f"(shape {value.shape}); move it with cupy.asarray first")
    if isinstance(value, (tuple, list)):
        return type(value)(_device_args(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _device_args(v, where) for k, v in value.items()}
    return value


def _index(key: Any) -> Any:
    """Indices: device arrays, and host integer/bool arrays (CuPy copies those over)."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, _np.ndarray):
        _record("to device", key)
    return key._a if isinstance(key, ndarray) else key


def _wrapped(key: Any, shape: tuple[int, ...]) -> Any:
    """CuPy wraps out-of-bounds integer-array indices around instead of raising (docs: "CuPy
    handles out-of-bounds indices differently from NumPy ... wraps around them")."""
    parts = key if isinstance(key, tuple) else (key,)
    if any(p is Ellipsis or p is None for p in parts):
        return key
    out = tuple(_np.mod(p, shape[i]) if isinstance(p, _np.ndarray) and p.dtype.kind in "iu" else p
                for i, p in enumerate(parts))
    return out if isinstance(key, tuple) else out[0]


def asnumpy(a: Any) -> _np.ndarray:
    return a.get() if isinstance(a, ndarray) else _np.asarray(a)


def _function(name: str, func: Any):
    def call(*args: Any, **kwargs: Any) -> Any:
        unknown = set(kwargs) - _FUNCTION_KEYWORDS.get(name, set(kwargs))
        if unknown:
            raise TypeError(f"cupy.{name}() got unexpected keyword(s) {sorted(unknown)}")
        if name in _FROM_HOST and args and isinstance(args[0], ndarray):
            result = func(args[0]._a, *args[1:], **kwargs)  # on the device: no copy needed
            return args[0] if result is args[0]._a else ndarray(result)
        if name in _FROM_HOST:  # a transfer: the device array never shares host memory
            result = ndarray(_np.array(func(*args, **kwargs), copy=True))
            _record("to device", result._a)
            return result
        return _wrap(func(*_device_args(args, name), **_device_args(kwargs, name)))

    call.__name__ = name
    return call


# The CuPy 13 functions glassnet uses, each of which CuPy 13 has: the stand-in offers no
# other, so code that reaches for a NumPy function CuPy lacks (errstate: CuPy raises no
# floating-point warnings; apply_over_axes) fails here as on a GPU. A new one goes here once
# CuPy's documentation shows it (docs.cupy.dev, "API reference").
_CUPY_FUNCTIONS = {
    "abs", "arange", "array", "asanyarray", "asarray", "ascontiguousarray", "clip", "concatenate",
    "divide", "einsum", "empty", "empty_like", "exp", "full", "full_like", "isfinite", "isinf", "log",
    "log1p", "matmul", "maximum", "multiply", "sqrt", "stack", "tanh", "where", "zeros",
    "zeros_like",
}
# NumPy's classes that CuPy re-exports (its dtypes are NumPy's)
_NUMPY_CLASSES = (_np.dtype, _np.finfo, _np.iinfo)


def copyto(dst: ndarray, src: Any, **kwargs: Any) -> None:
    if type(src) in (bool, int, float, complex):  # not NumPy scalars (np.float64 is a float)
        raise TypeError(f"copyto: a Python {type(src).__name__} as the source fails in CuPy 13 "
                        "with NumPy 2 (numpy.can_cast); pass a NumPy scalar such as dtype.type(value)")
    _function("copyto", _np.copyto)(dst, src, **kwargs)


def __getattr__(name: str) -> Any:
    """``cupy.<name>``: NumPy's function of that name on device arrays, for the names in
    :data:`_CUPY_FUNCTIONS`; NumPy's dtypes and constants as they are."""
    value = getattr(_np, name, None)
    if name in _CUPY_FUNCTIONS:
        return _function(name, value)
    if value is not None and (not callable(value) or value in _NUMPY_CLASSES
                              or (isinstance(value, type) and issubclass(value, _np.generic))):
        return value
    raise AttributeError(f"module 'cupy' has no attribute {name!r} (the stand-in has only the CuPy "
                         "13 functions glassnet uses: add it to _CUPY_FUNCTIONS if CuPy 13 has it)")


class _Flags:
    """CuPy's flags: c_contiguous, f_contiguous, owndata only (no writeable, aligned...)."""

    def __init__(self, flags: Any) -> None:
        self.c_contiguous, self.f_contiguous, self.owndata = (
            flags.c_contiguous, flags.f_contiguous, flags.owndata)


_ANY = {"axis", "out", "keepdims"}
_CUPY_METHODS = {
    "all": _ANY, "any": _ANY, "max": _ANY, "min": _ANY,
    "argmax": {"axis", "out", "dtype", "keepdims"}, "argmin": {"axis", "out", "dtype", "keepdims"},
    "sum": {"axis", "dtype", "out", "keepdims"}, "prod": {"axis", "dtype", "out", "keepdims"},
    "mean": {"axis", "dtype", "out", "keepdims"},
    "var": {"axis", "dtype", "out", "ddof", "keepdims"}, "std": {"axis", "dtype", "out", "ddof", "keepdims"},
    "astype": {"dtype", "order", "casting", "subok", "copy"}, "clip": {"min", "max", "out"},
    "copy": {"order"}, "cumsum": {"axis", "dtype", "out"}, "dot": {"out"}, "fill": set(),
    "flatten": {"order"}, "ravel": {"order"}, "reshape": {"order"}, "item": set(), "tolist": set(),
    "get": {"stream", "order", "out", "blocking"}, "round": {"decimals", "out"}, "squeeze": {"axis"},
    "swapaxes": set(), "take": {"axis", "out"}, "transpose": set(), "view": {"dtype"},
    "nonzero": set(), "sort": {"axis", "kind"}, "argsort": {"axis", "kind"}, "repeat": {"axis"},
    "tobytes": {"order"}, "__copy__": set(), "__deepcopy__": set(),
}
_CUPY_ATTRIBUTES = {"shape", "dtype", "ndim", "size", "itemsize", "nbytes", "strides", "T", "flags",
                    "base", "real", "imag", "device", "flat"}

_FUNCTION_KEYWORDS = {
    "asarray": {"dtype", "order", "blocking"},
    "array": {"dtype", "copy", "order", "subok", "ndmin", "blocking"},
    "ascontiguousarray": {"dtype"}, "zeros": {"dtype", "order"}, "empty": {"dtype", "order"},
    "full": {"dtype", "order"}, "zeros_like": {"dtype", "order", "subok", "shape"},
    "empty_like": {"dtype", "order", "subok", "shape"}, "full_like": {"dtype", "order", "subok", "shape"},
    "arange": {"stop", "step", "dtype"}, "concatenate": {"axis", "out", "dtype", "casting"},
    "stack": {"axis", "out", "dtype", "casting"}, "where": set(), "clip": {"out"},
    "einsum": {"dtype", "optimize", "casting"}, "as_strided": {"shape", "strides"},
    "copyto": {"casting", "where"},
}


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
    as_strided=_function("as_strided", _np.lib.stride_tricks.as_strided)))


class _CUDARuntimeError(RuntimeError):
    pass


# One GPU. A test models a machine without a usable one by replacing getDeviceCount
# (CuPy imports there too; CUDA's runtime then raises CUDARuntimeError or counts 0).
cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(
    getDeviceCount=lambda: 1, CUDARuntimeError=_CUDARuntimeError))


def no_device_count(error: str | None) -> Any:
    """A ``getDeviceCount`` for a machine whose CUDA raises ``error``, or (None) finds 0 GPUs."""
    def count() -> int:
        if error is not None:
            raise _CUDARuntimeError(error)
        return 0

    return count
