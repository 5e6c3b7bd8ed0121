"""Optimizers that follow the ``torch.optim`` update formulas and defaults exactly, except
that :class:`SGD` defaults to ``lr=0.01`` (the course's scale; PyTorch: 0.001).

An optimizer updates parameters in place from their gradients:
``optimizer.step(model.parameters())`` with ``(name, param, grad)`` triples. Its
per-parameter state is keyed by those names (``"2.W"``) and saved with checkpoints via
:meth:`Optimizer.state_dict` / :meth:`Optimizer.load_state_dict`.

``weight_decay`` is PyTorch's: added to the gradient (``g += wd * p``), except in
:class:`AdamW` where it is decoupled (``p *= 1 - lr * wd``). For the CS231n-style L2
penalty that shows up in the loss, use the model's ``reg`` instead.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from ._checks import check_eps, check_flag, check_number, is_sequence, unknown_choice
from .backend import Array, array_module, to_device, to_device_of, to_numpy
from .errors import ConfigError, ShapeError
from .functional import part_slice

ParamTriple = tuple[str, Array, Array]


class Optimizer:
    """Base class: subclasses implement :meth:`update` for one parameter."""

    name = "optimizer"
    #: True when ``update`` treats each element on its own (every optimizer here), so that
    #: one step may run in parts (:meth:`step_part`); an optimizer of your own that is not
    #: (norm clipping, LARS) keeps the default and always steps whole, and so does a
    #: subclass that overrides ``update`` or ``step`` without saying so again.
    elementwise: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "elementwise" not in vars(cls) and {"update", "step", "start_step"} & set(vars(cls)):
            cls.elementwise = False

    def __init__(self, lr: float, weight_decay: float = 0.0, learning_rate: float | None = None) -> None:
        # learning_rate: Keras' name for lr; both, and different, would be two lrs. An lr
        # given by the caller is another object than the signature's default, even when it
        # equals it: SGD(0.01, learning_rate=0.1) is two lrs too.
        default = inspect.signature(type(self).__init__).parameters.get("lr")
        if learning_rate is not None:
            if default is not None and lr is not default.default and lr != learning_rate:
                raise ConfigError(f"give {type(self).__name__} either lr or learning_rate (its Keras "
                                  f"name), not both: got lr={lr!r} and learning_rate={learning_rate!r}")
            lr = learning_rate
        self.lr = check_number(lr, f"{type(self).__name__} lr", 0)  # 0 only later (a schedule's end)
        self.weight_decay = check_number(weight_decay, "weight_decay", 0, low_inclusive=True)
        self.steps = 0
        # Set by fit when a schedule drives lr: the lr it scales, and the lr it set last
        # (None once anything else sets lr: the user's lr, a new base).
        self.base_lr: float | None = None
        self.scheduled_lr: float | None = None
        self.schedule_running = False  # whether the fit that runs (or ran last) has a schedule
        self.owner: Any = None  # a weak reference to the model compiled with it (one model only)
        self.slots: dict[str, dict[str, Array]] = {}
        self._buffers: dict[str, Array] = {}  # scratch space per parameter, not state

    @property
    def lr(self) -> float:
        """The learning rate the next step uses. Checked whenever it is set (by a callback, a
        schedule, a checkpoint): a finite number >= 0, as a float; 0 is allowed because
        schedules end there, a negative lr would train uphill without a word."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", np.dtype(object)).kind in "iuf":
            value = value.item()  # a 0-d array, as a schedule computing with NumPy (or CuPy) returns
        self._lr = check_number(value, f"{type(self).__name__} lr", 0, low_inclusive=True)
        # An lr set here is no schedule's any more, even one equal to the schedule's last
        # (0.1 halved twice is exactly 0.025): the next fit starts from it. The fit loop
        # sets scheduled_lr again right after setting a schedule's lr.
        self.scheduled_lr = None

    @property
    def learning_rate(self) -> float:
        """:attr:`lr` under Keras' (2.11+) name, which callbacks such as ReduceLROnPlateau use."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = value

    def __getstate__(self) -> dict[str, Any]:
        # A copy (or pickle) is a new optimizer for the copy of the model: compile makes that
        # its owner (the original's weak reference would reset it once the original is gone).
        return {**self.__dict__, "owner": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "lr" in state:  # pickled before lr was a checked property
            state["_lr"] = state.pop("lr")
        self.__dict__.update(state)

    def reset(self) -> None:
        """Back to the state of a new optimizer: no steps, no moments (slots), and the lr a
        schedule scaled rather than the last one it set."""
        if self.base_lr is not None and self.lr == self.scheduled_lr:
            self.lr = self.base_lr
        self.steps, self.slots, self._buffers = 0, {}, {}
        self.base_lr = self.scheduled_lr = None

    def step(self, params: Iterable[ParamTriple]) -> None:
        """Apply one update to every ``(name, param, grad)``; ``param`` changes in place."""
        params = list(params)
        for name, p, g in params:  # all before any: a refused step changes nothing
            _check_shapes(name, p, g, self.slots.get(name, {}))
        self.start_step()
        for name, p, g in params:
            self.update(name, p, g, self.slots.setdefault(name, {}))

    def start_step(self) -> None:
        """Count a step (Adam's bias correction, AdaGrad's decay use the count)."""
        self.steps += 1

    # -- one step in parts, for training on several threads (training/shards.py) ----------
    def can_step_in_parts(self, params: list[ParamTriple]) -> bool:
        """Whether :meth:`step_part` may run: the update is :attr:`elementwise`, every
        parameter already has all the slots an update creates (SGD's momentum starts as the
        first gradient, so the first step is whole), and every array is contiguous (its flat
        view is the array itself)."""
        if not self.elementwise:
            return False
        wanted = self.slot_names()
        return all(wanted <= self.slots.get(name, {}).keys()
                   and all(a.flags.c_contiguous for a in (p, g, *self.slots.get(name, {}).values()))
                   for name, p, g in params)

    def step_part(self, params: list[ParamTriple], part: int, parts: int) -> None:
        """The update of one step on part ``part`` of ``parts`` equal parts of every flattened
        parameter, its gradient and its slots. The parts may run side by side, after one
        :meth:`start_step`: every update here is element-wise, so the parts together are
        exactly :meth:`step`."""
        for name, p, g in params:
            rows = part_slice(p.size, part, parts)
            slots = {key: a.reshape(-1)[rows] for key, a in self.slots.get(name, {}).items()}
            # Each part's scratch is its rows of the parameter's one scratch array (the parts
            # run at the same time, so they need separate space, but no more in all).
            key = f"{name}#{part}"
            self._buffers[key] = self._scratch(name, p).reshape(-1)[rows]
            self.update(key, p.reshape(-1)[rows], g.reshape(-1)[rows], slots)

    def update(self, name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
        """One step of the parameter ``name``: change ``p`` in place from its gradient ``g``
        (same shape as ``p``, or both flat parts of them when the step runs in parts) and
        its kept state ``slots`` (moments, each shaped as ``p``; created on the first step,
        then changed in place). Each subclass's formula is in its class docstring."""
        raise NotImplementedError

    def _scratch(self, name: str, p: Array) -> Array:
        """A work array shaped like ``p``, reused every step (not state: never saved)."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != p.shape or buffer.dtype != p.dtype:
            buffer = self._buffers[name] = array_module(p).empty_like(p)
        return buffer

    def _decayed(self, p: Array, g: Array) -> Array:
        """PyTorch's coupled weight decay: ``g + wd * p`` (a new array; ``g`` stays intact)."""
        return g + self.weight_decay * p if self.weight_decay else g

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "lr": self.lr, "weight_decay": self.weight_decay}

    def slot_names(self) -> set[str]:
        """The arrays this optimizer keeps per parameter once it has stepped (``{"m", "v"}``
        for Adam, none for plain SGD), found by one update of a scratch parameter."""
        probe, slots = copy.copy(self), {}
        probe.steps, probe.slots, probe._buffers = 1, {}, {}  # nothing of self's is touched
        probe.update("probe", np.zeros(1), np.zeros(1), slots)
        return set(slots)

    def state_dict(self) -> dict[str, Any]:
        """Step count and slot arrays (as NumPy), e.g. ``{"2.W/m": ...}``."""
        # copies: a saved state must not change when this optimizer takes further steps
        arrays = {f"{n}/{k}": to_numpy(v).copy() for n, s in self.slots.items() for k, v in s.items()}
        return {"config": self.get_config(), "steps": self.steps, "arrays": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`state_dict`. Each slot goes to the device of its parameter in
        the model this optimizer was compiled with (a model built on the GPU keeps training
        there whatever device is current), in that parameter's dtype (a float64 model's
        state given to a float32 one: its moments would have stayed float64), else to the
        current device as it is."""
        self.steps = int(state["steps"])
        self.lr = float(state["config"].get("lr", self.lr))
        self.slots = {}
        params = self._owner_params()
        for key, value in state["arrays"].items():
            name, _, slot = key.rpartition("/")
            # a copy: the state given must not change with later steps
            value = np.array(value, dtype=params[name].dtype if name in params else None)
            self.slots.setdefault(name, {})[slot] = (to_device_of(value, params[name]) if name in params
                                                     else to_device(value))

    def _owner_params(self) -> dict[str, Array]:
        """The parameters of the model compiled with this optimizer, by name (none without one)."""
        model = self.owner() if self.owner is not None else None
        return {} if model is None else {name: p for name, p, _ in model.parameters()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _check_shapes(name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
    """A gradient, and the moments kept from earlier steps, must match their parameter
    (a step called by hand with the wrong arrays would otherwise broadcast silently or end
    in NumPy's error)."""
    g_shape = g.shape if hasattr(g, "shape") else np.shape(g)  # np.shape refuses CuPy arrays
    if g_shape != p.shape:
        raise ShapeError(f"the gradient of {name!r} has shape {g_shape}, its parameter {p.shape}")
    for key, slot in slots.items():
        if slot.shape != p.shape:
            raise ShapeError(f"the optimizer's {key!r} for {name!r} has shape {slot.shape} from "
                             f"earlier steps, the parameter now {p.shape}: call reset() first")


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    ``g = grad + wd * p``; with momentum ``buf = g`` on the first step, then
    ``buf = momentum * buf + (1 - dampening) * g``; ``g = g + momentum * buf`` (Nesterov)
    or ``g = buf``; finally ``p -= lr * g``.
    """

    name = "sgd"
    elementwise = True

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 dampening: float = 0.0, weight_decay: float = 0.0, *,
                 learning_rate: float | None = None) -> None:
        super().__init__(lr, weight_decay, learning_rate)
        self.momentum = check_number(momentum, "momentum", 0, 1, low_inclusive=True)
        self.dampening = check_number(dampening, "dampening", 0, 1, True, True)
        self.nesterov = check_flag(nesterov, "nesterov")
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ConfigError("Nesterov momentum needs momentum > 0 and dampening = 0")

    def update(self, name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
        g = self._decayed(p, g)
        if self.momentum:
            if "momentum" not in slots:
                slots["momentum"] = g.copy()
            else:
                buf = slots["momentum"]
                buf *= self.momentum
                buf += (1 - self.dampening) * g
            buf = slots["momentum"]
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.lr * g

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "dampening": self.dampening}


class AdaGrad(Optimizer):
    """As ``torch.optim.Adagrad``: ``sum += g^2``; ``p -= clr * g / (sqrt(sum) + eps)``.

    ``clr = lr / (1 + (t - 1) * lr_decay)``; defaults ``eps=1e-10``, accumulator starts at
    ``initial_accumulator_value=0``.
    """

    name = "adagrad"
    elementwise = True

    def __init__(self, lr: float = 0.01, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 learning_rate: float | None = None) -> None:
        super().__init__(lr, weight_decay, learning_rate)
        self.lr_decay = check_number(lr_decay, "lr_decay", 0, low_inclusive=True)
        self.initial_accumulator_value = check_number(
            initial_accumulator_value, "initial_accumulator_value", 0, low_inclusive=True)
        self.eps = check_eps(eps, "eps")

    def update(self, name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
        g = self._decayed(p, g)
        if "sum" not in slots:
            slots["sum"] = array_module(p).full_like(p, self.initial_accumulator_value)
        acc = slots["sum"]
        acc += g * g
        clr = self.lr / (1 + (self.steps - 1) * self.lr_decay)
        p -= clr * g / (array_module(p).sqrt(acc) + self.eps)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lr_decay": self.lr_decay, "eps": self.eps,
                "initial_accumulator_value": self.initial_accumulator_value}


class RMSProp(Optimizer):
    """As ``torch.optim.RMSprop``: ``v = alpha v + (1 - alpha) g^2``, ``p -= lr g / (sqrt(v) + eps)``.

    ``centered`` subtracts the squared running mean of ``g`` inside the root; with
    ``momentum`` the step goes through a buffer ``buf = momentum buf + g / (sqrt(v) + eps)``.
    Defaults ``alpha=0.99``, ``eps=1e-8`` (PyTorch's).
    """

    name = "rmsprop"
    elementwise = True

    def __init__(self, lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0, *,
                 learning_rate: float | None = None) -> None:
        super().__init__(lr, weight_decay, learning_rate)
        self.alpha = check_number(alpha, "alpha", 0, 1, True, True)
        self.eps = check_eps(eps, "eps")
        self.momentum = check_number(momentum, "momentum", 0, 1, low_inclusive=True)
        self.centered = check_flag(centered, "centered")

    def update(self, name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
        xp = array_module(p)
        g = self._decayed(p, g)
        if "square_avg" not in slots:
            slots["square_avg"] = xp.zeros_like(p)
        sq = slots["square_avg"]
        sq *= self.alpha
        sq += (1 - self.alpha) * g * g
        if self.centered:
            slots.setdefault("grad_avg", xp.zeros_like(p))
            ga = slots["grad_avg"]
            ga *= self.alpha
            ga += (1 - self.alpha) * g
            # E[g^2] - E[g]^2 is a variance, >= 0 in exact arithmetic; rounding makes it slightly
            # negative when g hardly changes, and sqrt would give NaN (PyTorch's formula too).
            # An infinite E[g^2] (overflow) leaves an infinite variance (no step, as in PyTorch),
            # not the NaN of inf - inf, which is computed (quietly) and replaced.
            with np.errstate(invalid="ignore", over="ignore"):
                variance = sq - ga * ga
            avg = xp.sqrt(xp.where(xp.isinf(sq), sq, xp.maximum(variance, 0))) + self.eps
        else:
            avg = xp.sqrt(sq) + self.eps
        if self.momentum:
            buf = slots.setdefault("momentum", xp.zeros_like(p))
            buf *= self.momentum
            buf += g / avg
            p -= self.lr * buf
        else:
            p -= self.lr * g / avg

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha, "eps": self.eps,
                "momentum": self.momentum, "centered": self.centered}


class Adam(Optimizer):
    """As ``torch.optim.Adam``: ``m = b1 m + (1-b1) g``, ``v = b2 v + (1-b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.

    Defaults ``betas=(0.9, 0.999)``, ``eps=1e-8``; ``weight_decay`` is added to ``g``.
    """

    name = "adam"
    elementwise = True
    decoupled = False

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 learning_rate: float | None = None) -> None:
        super().__init__(lr, weight_decay, learning_rate)
        if not is_sequence(betas) or len(betas) != 2:
            raise ConfigError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (check_number(betas[0], "beta1", 0, 1, low_inclusive=True),
                      check_number(betas[1], "beta2", 0, 1, low_inclusive=True))
        self.eps = check_eps(eps, "eps")

    def update(self, name: str, p: Array, g: Array, slots: dict[str, Array]) -> None:
        xp = array_module(p)
        if self.decoupled:
            p *= 1 - self.lr * self.weight_decay
        else:
            g = self._decayed(p, g)
        b1, b2 = self.betas
        if "m" not in slots:
            slots["m"], slots["v"] = xp.zeros_like(p), xp.zeros_like(p)
        m, v = slots["m"], slots["v"]
        # Every pass writes into m, v, p or one scratch array: no new parameter-sized arrays.
        tmp = self._scratch(name, p)
        m *= b1
        m += xp.multiply(g, 1 - b1, out=tmp)            # m = b1 m + (1-b1) g
        v *= b2
        # (1-b2) g first, then times g (PyTorch's order): g*g alone overflows float32 from
        # |g| > 1.8e19, and v = inf would freeze the weight for good (its steps m/inf = 0)
        xp.multiply(g, 1 - b2, out=tmp)
        tmp *= g
        v += tmp                                        # v = b2 v + (1-b2) g^2
        bias1 = 1 - b1 ** self.steps
        bias2 = 1 - b2 ** self.steps
        denom = xp.divide(xp.sqrt(v, out=tmp), math.sqrt(bias2), out=tmp)
        denom += self.eps                                # sqrt(v) / sqrt(1 - b2^t) + eps
        p -= xp.multiply(xp.divide(m, denom, out=tmp), self.lr / bias1, out=tmp)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "betas": list(self.betas), "eps": self.eps}


class AdamW(Adam):
    """As ``torch.optim.AdamW``: Adam with decoupled weight decay ``p *= 1 - lr * wd``
    applied before the Adam step (default ``weight_decay=0.01``, PyTorch's)."""

    name = "adamw"
    decoupled = True

    def __init__(self, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01, *,
                 learning_rate: float | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, learning_rate=learning_rate)


#: the slots that sum or average squared gradients (AdaGrad's, RMSProp's, Adam's): never
#: negative, and a negative one (an edited checkpoint) would make the step's square root NaN
NON_NEGATIVE_SLOTS = frozenset({"sum", "square_avg", "v"})

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, AdaGrad, RMSProp, Adam, AdamW)
}
#: names for SGD with a preset momentum: the optimizer and the options the name stands for
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
}


def is_optimizer(spec: Any) -> bool:
    """Whether ``spec`` is an optimizer or the name of one (an alias included)."""
    return isinstance(spec, Optimizer) or (isinstance(spec, str) and (spec in OPTIMIZERS or spec in ALIASES))


def non_default_settings(config: dict[str, Any]) -> dict[str, Any]:
    """An optimizer's saved ``config`` (:meth:`Optimizer.get_config`) without its name, its lr
    and the settings at its class's defaults (an SGD with momentum and Nesterov would
    otherwise read as plain sgd, and every plain SGD would list "dampening 0"); for a name
    this version does not know, every setting."""
    try:
        defaults = get(config.get("name")).get_config()
    except (ConfigError, TypeError):
        defaults = {}
    return {key: value for key, value in config.items()
            if key not in ("name", "lr") and value is not None
            and not (key in defaults and value == defaults[key])}


def get(spec: str | Optimizer, **kwargs: Any) -> Optimizer:
    """An optimizer for a name (``"sgd"``, ``"adam"``, …) and keyword arguments, or an instance."""
    if isinstance(spec, Optimizer):
        return spec
    if not isinstance(spec, str) or spec not in {**OPTIMIZERS, **ALIASES}:
        raise unknown_choice(spec, "optimizer", Optimizer, sorted(OPTIMIZERS) + list(ALIASES))
    if spec in ALIASES:
        spec, preset = ALIASES[spec]
        kwargs = {**preset, **kwargs}
    try:
        return OPTIMIZERS[spec](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad option for optimizer {spec!r}: {exc}") from exc


def from_config(config: dict[str, Any]) -> Optimizer:
    """A new optimizer with the settings of ``config`` (:meth:`Optimizer.get_config`: ``name``
    and its settings); its state (moments, step count) starts empty."""
    config = dict(config)
    name = config.pop("name")
    if "betas" in config:
        config["betas"] = tuple(config["betas"])
    return get(name, **config)
