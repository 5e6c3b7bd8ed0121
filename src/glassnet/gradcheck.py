"""Finite-difference gradient checks for layers, losses and whole models.

Every analytic gradient in glassnet is compared with centered differences
``(f(x + h) - f(x - h)) / 2h`` in float64. For a layer, the scalar checked is
``f(x) = sum(forward(x) * dy)`` with a *random* upstream gradient ``dy`` (an all-ones
``dy`` would hide bugs in layers whose outputs sum to a constant, like batch norm), so
``df/dx`` must equal ``backward(dy)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import to_device, to_device_of_weights, to_numpy
from .errors import ConfigError, ShapeError
from .layers.base import check_grads_mirror_params


def rel_error(a: Any, b: Any) -> float:
    """CS231n's relative error ``max |a - b| / max(1e-8, |a| + |b|)`` (element-wise)."""
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        raise ShapeError(f"rel_error compares arrays of one shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


#: times the rounding noise estimate below which a centred difference cannot tell a gradient
#: from zero. Measured: a bias feeding a BatchNorm (true gradient 0) read at most 1.1e-11 over
#: 20 seeds, half of ``eps * |f| / h``; 10 times that leaves room for a few ulps of rounding,
#: and gradients below it are not measurable with this ``h`` anyway.
NOISE_FACTOR = 10


def finite_difference_noise(scale: float, h: float = 1e-5) -> float:
    """The smallest gradient centred differences with step ``h`` resolve in float64, for a
    function rounded to about ``eps * scale``: each of ``f(x + h)`` and ``f(x - h)`` is off
    by that much, and their difference is divided by ``2h``."""
    return NOISE_FACTOR * float(np.finfo(np.float64).eps) * max(float(scale), 1.0) / h


def gradient_error(analytic: Any, numeric: Any, noise: float) -> float:
    """:func:`rel_error`, except that entries where both gradients are within ``noise`` of
    zero agree. Why: a gradient that is exactly zero (a bias feeding a BatchNorm, whose
    output does not depend on it) is measured as rounding noise, about 1e-11, and
    ``rel_error`` divides that by its floor of 1e-8: 1e-3, a failed check of a correct layer."""
    a, n = to_numpy(analytic).astype(np.float64), to_numpy(numeric).astype(np.float64)
    both_zero = (np.abs(a) <= noise) & (np.abs(n) <= noise)
    return rel_error(np.where(both_zero, 0.0, a), np.where(both_zero, 0.0, n))


def numerical_gradient(f: Callable[[], float], x: Any, h: float = 1e-5) -> np.ndarray:
    """``df/dx`` by centered differences; ``f`` reads ``x`` (NumPy or CuPy, any layout), which
    is perturbed in place and restored. Returns a float64 NumPy array of ``x``'s shape."""
    grad = np.zeros(x.shape)
    # Index x element by element rather than through x.reshape(-1): that would be a copy,
    # not a view, for a non-contiguous x, and the perturbations would never reach x.
    for index in np.ndindex(*x.shape):
        old = x[index].item()  # a number: on CuPy, x[index] is a view that the next line changes
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def _random_states(layer: Any) -> list[tuple[Any, dict]]:
    """Every ``numpy.random.Generator`` a layer (or its sub-layers) holds, with its state."""
    found = []
    for value in vars(layer).values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, np.random.Generator):
                found.append((item, item.bit_generator.state))
            elif hasattr(item, "params") and hasattr(item, "forward"):
                found.extend(_random_states(item))
    return found


def _require_same(first: Any, second: Any, what: str) -> None:
    """Two evaluations at the same point must agree, or every finite difference measures
    noise: a layer drawing from ``np.random`` (which the check cannot replay) gave errors
    near 1 with no hint why."""
    if not np.array_equal(first, second, equal_nan=True):
        raise ConfigError(
            f"{what} gives different outputs for the same input on two runs, so its gradients "
            "cannot be checked: draw random numbers from a numpy.random.Generator kept on the "
            "layer (self.rng = child_generator(rng) in build, as Dropout does), which the check "
            "replays, not from np.random")


@contextmanager
def _left_as_found(layers: list[Any]) -> Iterator[None]:
    """Put back, on leaving, what the check's many training passes change in ``layers``:
    running statistics (BatchNorm's ``state``) and the generators' positions (dropout).
    A gradient check only looks at a model; ``predict`` afterwards must be unchanged."""
    saved = [(layer, {k: v.copy() for k, v in getattr(layer, "state", {}).items()}) for layer in layers]
    generators = [entry for layer in layers for entry in _random_states(layer)]
    try:
        yield
    finally:
        for layer, state in saved:
            for key, value in state.items():
                layer.state[key][...] = value
        for gen, position in generators:
            gen.bit_generator.state = position


def _poison_grads(layers: list[Any]) -> None:
    """Fill every ``grads`` array with NaN before the analytic ``backward``: the protocol is
    that ``backward`` *writes* them, and a ``backward`` that adds to them (``+=`` without
    zeroing first) would pass a check made right after zeroed gradients, then train on
    gradients that pile up from step to step. With NaN there, it shows as a NaN error."""
    for layer in layers:
        for grad in getattr(layer, "grads", {}).values():
            grad[...] = np.nan


class Stack:
    """Layers applied in order and checked as one function of ``x`` and all their params.

    Some bugs only show behind another layer: batch norm's ``dx`` must be right for a
    Dense or Conv layer before it to get its gradients. ``params``/``grads`` are keyed
    ``"i.key"`` like the model's. Not a registered layer (it is never saved). ``training``,
    when given, is the mode the layers always run in (``False``: BatchNorm's running
    statistics, as in a model's evaluation).
    """

    def __init__(self, *layers: Any, training: bool | None = None) -> None:
        self.layers = list(layers)
        self.training = training

    @property
    def built(self) -> bool:
        return all(layer.built for layer in self.layers)

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype

    @property
    def params(self) -> dict[str, Any]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @property
    def grads(self) -> dict[str, Any]:
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def build(self, input_shape: tuple[int, ...], rng: np.random.Generator, dtype: Any) -> tuple[int, ...]:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.build(shape, rng, dtype)
        return shape

    def forward(self, x: Any, training: bool = False) -> Any:
        training = training if self.training is None else self.training
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dy: Any) -> Any:
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def __repr__(self) -> str:
        return " -> ".join(type(layer).__name__ for layer in self.layers)


@dataclass
class CheckResult:
    """Max relative error per checked array (``"x"`` is the input gradient)."""

    name: str
    errors: dict[str, float]

    @property
    def worst(self) -> float:
        """The largest error; NaN if any is NaN (a NaN or infinite gradient), so that
        ``worst < tol`` fails (Python's ``max`` would skip a NaN that is not first)."""
        return float(np.max(list(self.errors.values()))) if self.errors else 0.0


def check_layer(layer: Any, input_shape: tuple[int, ...], batch: int = 3, seed: int = 0,
                h: float = 1e-5, training: bool = True, name: str | None = None) -> CheckResult:
    """Check ``backward`` of ``layer`` for inputs ``(batch, *input_shape)`` in float64.

    Randomness inside the layer (dropout masks) is replayed identically for every
    evaluation, so the layer is a fixed function of ``x`` during the check. Running
    statistics and generators are left as they were.
    """
    if not hasattr(layer, "grads"):  # a Sequential: its layers each have their own
        raise ConfigError(f"check_layer checks one layer, got {type(layer).__name__}; for a "
                          "model, use check_model(model, x, y)")
    rng = np.random.default_rng(seed)
    if not layer.built:
        layer.build(tuple(input_shape), rng, np.float64)
        check_grads_mirror_params(layer, type(layer).__name__)
    if layer.dtype != np.float64:
        raise ConfigError("gradient checks need a float64 layer (build it with dtype='float64')")
    x = to_device_of_weights(rng.standard_normal((batch, *input_shape)), layer.params.values())
    with _left_as_found(getattr(layer, "layers", [layer])):
        errors = _layer_errors(layer, x, rng, h, training)
    return CheckResult(name or type(layer).__name__, errors)


def _layer_errors(layer: Any, x: Any, rng: np.random.Generator, h: float,
                  training: bool) -> dict[str, float]:
    """The relative errors of :func:`check_layer`: ``dx`` and every parameter gradient."""
    states = _random_states(layer)

    def run(inp):
        for gen, state in states:
            gen.bit_generator.state = state
        return to_numpy(layer.forward(inp, training=training))

    first = run(x)
    _require_same(first, run(x), type(layer).__name__)
    dy = rng.standard_normal(first.shape)
    # A model's first trainable layer skips dx (input_grad False); the check needs it.
    skipped = [part for part in getattr(layer, "layers", [layer]) if not part.input_grad]
    for part in skipped:
        part.input_grad = True
    _poison_grads(getattr(layer, "layers", [layer]))
    try:
        dx = to_numpy(layer.backward(to_device_of_weights(dy, layer.params.values())))
    finally:
        for part in skipped:
            part.input_grad = False
    analytic = {"x": dx, **{k: to_numpy(g).copy() for k, g in layer.grads.items()}}
    # f = sum(y * dy): each term rounded on its own, the errors add up like a random walk
    terms = first * dy
    noise = finite_difference_noise(np.sqrt((terms ** 2).sum()) + abs(terms.sum()), h)
    def f() -> float:  # reads x and the parameters, which numerical_gradient perturbs
        return float((run(x) * dy).sum())

    return {key: gradient_error(analytic[key], numerical_gradient(f, array, h), noise)
            for key, array in {"x": x, **layer.params}.items()}



def check_loss(loss: Any, output: np.ndarray, y: np.ndarray, h: float = 1e-5,
               name: str | None = None, sample_weight: np.ndarray | None = None) -> CheckResult:
    """Check ``loss.backward()`` against finite differences of ``loss.forward(output, y,
    sample_weight)`` (``sample_weight: (N,)`` or ``None``)."""
    # on the current device: `glassnet gradcheck --device gpu` checks the losses' CuPy path too
    output = to_device(np.array(output, dtype=np.float64))
    value = loss.forward(output, y, sample_weight)
    analytic = to_numpy(loss.backward())
    numeric = numerical_gradient(lambda: loss.forward(output, y, sample_weight), output, h)
    noise = finite_difference_noise(abs(value), h)  # a mean of per-sample losses, all >= 0
    return CheckResult(name or repr(loss), {"output": gradient_error(analytic, numeric, noise)})


def check_model(model: Any, x: np.ndarray, y: np.ndarray, h: float = 1e-5) -> CheckResult:
    """Check every parameter gradient of a compiled float64 model (loss + L2 term) on a
    batch ``x: (N, *input_shape)`` with labels ``y: (N,)``.

    Dropout masks are replayed, so a model with dropout is a fixed function during the check;
    BatchNorm's running statistics and the dropout generators are left as they were.
    """
    if model.dtype != np.float64:
        raise ConfigError("gradient checks need dtype='float64'")
    model._require_compiled(need_optimizer=False)  # the loss is what is differentiated
    x, _ = model.check_input(x)  # builds a model given no input_shape, as fit would
    # the labels stay on the host: the loss checks them there and moves them to the outputs
    x, y = model.preprocess(x), to_numpy(y)
    states = [entry for layer in model.layers for entry in _random_states(layer)]

    def total_loss() -> float:
        for gen, state in states:  # the same dropout masks for every evaluation
            gen.bit_generator.state = state
        return model.loss.forward(model.forward(x, training=True), y) + model.regularization_loss()

    with _left_as_found(model.layers):
        loss = total_loss()
        _require_same(loss, total_loss(), model.name)
        _poison_grads(model.layers)
        model.backward(model.loss.backward())
        analytic = {name: to_numpy(g).copy() for name, _, g in model.parameters()}
        noise = finite_difference_noise(abs(loss), h)  # a mean of per-sample losses, all >= 0
        errors = {name: gradient_error(analytic[name], numerical_gradient(total_loss, p, h), noise)
                  for name, p, _ in model.parameters()}
    return CheckResult(model.name, errors)


# -- the standard checks run by `glassnet gradcheck` and the test suite -----------------
# One or more cases per layer class: (label, factory, input_shape). A test asserts that
# every registered layer class has at least one case, so a new layer cannot be forgotten.
def _layer_cases() -> list[tuple[str, Callable[[], Any], tuple[int, ...]]]:
    from . import layers as L

    return [
        ("Dense", lambda: L.Dense(4), (5,)),
        ("Dense(relu)", lambda: L.Dense(4, activation="relu"), (5,)),
        ("Dense(tanh, no bias)", lambda: L.Dense(3, activation="tanh", use_bias=False), (4,)),
        ("Dense(softmax)", lambda: L.Dense(3, activation="softmax"), (4,)),
        ("ReLU", L.ReLU, (6,)),
        ("LeakyReLU", lambda: L.LeakyReLU(0.1), (6,)),
        ("Sigmoid", L.Sigmoid, (6,)),
        ("Tanh", L.Tanh, (6,)),
        ("Softmax", L.Softmax, (5,)),
        ("Flatten", L.Flatten, (2, 3, 4)),
        ("Flatten(channels_last)", lambda: L.Flatten(channels_last=True), (2, 3, 4)),
        ("Dropout(0.5)", lambda: L.Dropout(0.5), (6,)),
        ("Dropout(0.3) on images", lambda: L.Dropout(0.3), (2, 3, 3)),
        ("BatchNorm (N, D)", L.BatchNorm, (4,)),
        ("BatchNorm (N, C, H, W)", L.BatchNorm, (2, 3, 3)),
        # backward after an inference pass: the running statistics are constants (saliency)
        ("BatchNorm (eval mode)", lambda: Stack(L.BatchNorm(), training=False), (2, 3, 3)),
        ("Dense -> BatchNorm", lambda: Stack(L.Dense(4, use_bias=False), L.BatchNorm()), (5,)),
        ("Dense -> BatchNorm -> ReLU -> Dropout",
         lambda: Stack(L.Dense(5, use_bias=False), L.BatchNorm(), L.ReLU(), L.Dropout(0.4)), (3,)),
    ]


LAYER_CASES: list[tuple[str, Callable[[], Any], tuple[int, ...]]] = []


def _window_layer_cases() -> list[tuple[str, Callable[[], Any], tuple[int, ...]]]:
    """Convolution and pooling: odd sizes, strides, asymmetric "same" padding, overlaps."""
    from . import layers
    from .layers import conv, pooling

    return [
        ("Conv2D(3x3, same)", lambda: conv.Conv2D(4, 3, padding="same"), (3, 5, 5)),
        ("Conv2D(3x2, stride 2, valid, no bias)",
         lambda: conv.Conv2D(3, (3, 2), strides=2, use_bias=False), (2, 7, 6)),
        ("Conv2D(same, stride 2, relu)",
         lambda: conv.Conv2D(3, 3, strides=2, padding="same", activation="relu"), (2, 6, 7)),
        ("Conv2D(pad (1, 2), stride (2, 1))",
         lambda: conv.Conv2D(2, (2, 3), strides=(2, 1), padding=(1, 2)), (2, 5, 4)),
        # each backward path of Conv2D (its docstring): F <= C at stride 1 unfolds dz, with
        # the fused ReLU's mask; a 1x1 kernel and an even "same" kernel take the other
        ("Conv2D(3x3, same, tanh)", lambda: conv.Conv2D(2, 3, padding="same", activation="tanh"),
         (2, 4, 4)),
        ("Conv2D(3x3, same, relu, F <= C)",
         lambda: conv.Conv2D(2, 3, padding="same", activation="relu"), (3, 4, 5)),
        ("Conv2D(1x1)", lambda: conv.Conv2D(3, 1), (4, 3, 3)),
        ("Conv2D(2x2, same)", lambda: conv.Conv2D(2, 2, padding="same"), (2, 5, 4)),
        ("MaxPool2D(2)", lambda: pooling.MaxPool2D(2), (2, 4, 6)),
        ("MaxPool2D(3, stride 2, pad 1)", lambda: pooling.MaxPool2D(3, 2, padding=1), (2, 5, 5)),
        ("MaxPool2D(2, stride 3)", lambda: pooling.MaxPool2D(2, 3), (2, 7, 7)),
        ("AvgPool2D(2)", lambda: pooling.AvgPool2D(2), (2, 4, 5)),
        ("AvgPool2D(3, stride 2, pad 1)", lambda: pooling.AvgPool2D(3, 2, padding=1), (2, 5, 6)),
        ("AvgPool2D(2, stride 3)", lambda: pooling.AvgPool2D(2, 3), (2, 7, 7)),
        ("GlobalAveragePooling2D", pooling.GlobalAveragePooling2D, (3, 4, 5)),
        ("Conv2D -> BatchNorm -> MaxPool2D",
         lambda: Stack(conv.Conv2D(3, 3, padding="same", use_bias=False), layers.BatchNorm(),
                       pooling.MaxPool2D(2)), (2, 4, 4)),
    ]


LAYER_CASES += _window_layer_cases()


def layer_cases() -> list[tuple[str, Callable[[], Any], tuple[int, ...]]]:
    """Every standard layer case: the built-in ones plus those added to ``LAYER_CASES``."""
    return _layer_cases() + LAYER_CASES


def loss_cases() -> list[tuple[str, Any, np.ndarray, np.ndarray]]:
    """Every standard loss case: ``(name, loss, outputs, labels)``, each loss from logits and
    from probabilities, with seeded outputs ``(N, 1)`` or ``(N, C)`` and labels ``(N,)``."""
    from . import losses

    rng = np.random.default_rng(0)
    return [
        ("BinaryCrossEntropy(logits)", losses.BinaryCrossEntropy(True),
         rng.standard_normal((6, 1)), rng.integers(0, 2, 6)),
        ("BinaryCrossEntropy(probs)", losses.BinaryCrossEntropy(False),
         rng.uniform(0.05, 0.95, (6, 1)), rng.integers(0, 2, 6)),
        ("CategoricalCrossEntropy(logits)", losses.CategoricalCrossEntropy(True),
         rng.standard_normal((5, 4)), rng.integers(0, 4, 5)),
        ("CategoricalCrossEntropy(probs)", losses.CategoricalCrossEntropy(False),
         rng.dirichlet(np.ones(4), 5), rng.integers(0, 4, 5)),
    ]


def weighted_loss_cases() -> list[tuple[str, Any, np.ndarray, np.ndarray, np.ndarray]]:
    """The loss cases again with per-sample weights ``w: (N,)`` (``fit``'s ``class_weight``;
    one of them 0): ``(name, loss, outputs, labels, w)``, ``"BinaryCrossEntropy(logits,
    weighted)"`` and so on."""
    rng = np.random.default_rng(1)
    cases = []
    for name, loss, output, y in loss_cases():
        weights = rng.uniform(0.2, 3.0, len(y))
        weights[0] = 0.0  # a class weighted 0 adds neither loss nor gradient
        cases.append((f"{name[:-1]}, weighted)", loss, output, y, weights))
    return cases


def run_standard_checks() -> list[tuple[str, str, float]]:
    """``(case, array, max relative error)`` for every standard layer and loss case (the
    losses with and without sample weights)."""
    rows = []
    for label, factory, shape in layer_cases():
        result = check_layer(factory(), shape, name=label)
        rows.extend((label, key, err) for key, err in result.errors.items())
    for label, loss, output, y, *weights in [*loss_cases(), *weighted_loss_cases()]:
        result = check_loss(loss, output, y, name=label, sample_weight=weights[0] if weights else None)
        rows.extend((label, key, err) for key, err in result.errors.items())
    return rows
