"""Optimizers against torch.optim: 100 steps on a small random problem, float64, 1e-10 relative
after every step."""

import copy
import pickle

import numpy as np
import pytest

from glassnet import optimizers
from glassnet.errors import ConfigError, ShapeError
from glassnet.gradcheck import rel_error

# (our name, our kwargs, torch class name, torch kwargs); weight decay is added per test
CASES = [
    ("sgd", {"lr": 0.05}, "SGD", {"lr": 0.05}),
    ("sgd momentum", {"lr": 0.05, "momentum": 0.9}, "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("sgd momentum dampening", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, "SGD",
     {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    ("sgd nesterov", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, "SGD",
     {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("adagrad", {"lr": 0.1}, "Adagrad", {"lr": 0.1}),
    ("adagrad lr_decay accumulator", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1},
     "Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("rmsprop", {"lr": 0.01}, "RMSprop", {"lr": 0.01}),
    ("rmsprop centered momentum", {"lr": 0.005, "momentum": 0.9, "centered": True, "alpha": 0.9},
     "RMSprop", {"lr": 0.005, "momentum": 0.9, "centered": True, "alpha": 0.9}),
    ("adam", {"lr": 0.01}, "Adam", {"lr": 0.01}),
    ("adam betas eps", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}, "Adam",
     {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("adamw", {"lr": 0.01}, "AdamW", {"lr": 0.01}),
]
NAMES = {"sgd": "sgd", "adagrad": "adagrad", "rmsprop": "rmsprop", "adam": "adam", "adamw": "adamw"}


def _problem(torch, rng):
    """A small smooth non-quadratic loss of two parameter arrays (softplus + quartic)."""
    X = torch.tensor(rng.standard_normal((16, 5)))
    T = torch.tensor(rng.standard_normal((16, 3)))

    def loss(W, b):
        z = X @ W + b
        return (torch.nn.functional.softplus(z) * T).mean() + 0.05 * (W ** 4).sum() + 0.1 * (b ** 2).sum()

    return loss, {"0.W": rng.standard_normal((5, 3)) * 0.5, "0.b": rng.standard_normal(3) * 0.1}


@pytest.mark.parametrize("weight_decay", [0.0, 0.05], ids=["no_wd", "wd"])
@pytest.mark.parametrize("label,ours_kw,torch_name,torch_kw", CASES, ids=[c[0] for c in CASES])
def test_100_steps_equal_torch(torch, label, ours_kw, torch_name, torch_kw, weight_decay):
    rng = np.random.default_rng(7)
    loss_fn, init = _problem(torch, rng)
    ours = optimizers.get(NAMES[label.split()[0]], **ours_kw, weight_decay=weight_decay)
    params = {k: v.copy() for k, v in init.items()}
    theirs = [torch.tensor(init["0.W"], requires_grad=True), torch.tensor(init["0.b"], requires_grad=True)]
    topt = getattr(torch.optim, torch_name)(theirs, **torch_kw, weight_decay=weight_decay)
    for step in range(100):
        # our gradient: PyTorch's autograd at our current parameters
        W, b = (torch.tensor(params[k], requires_grad=True) for k in ("0.W", "0.b"))
        loss_fn(W, b).backward()
        ours.step([("0.W", params["0.W"], W.grad.numpy()), ("0.b", params["0.b"], b.grad.numpy())])
        topt.zero_grad()
        loss_fn(*theirs).backward()
        topt.step()
        for ours_p, their_p in zip(params.values(), theirs, strict=True):
            assert rel_error(ours_p, their_p.detach().numpy()) < 1e-10, f"step {step + 1}"
            # Near a minimum RMSProp moves like sign descent, which is chaotic: a last-bit
            # difference (a fused multiply-add on one CPU and not another) would grow to 1e-9
            # over 100 steps. Continuing both from the same parameters compares the update
            # formulas and the optimizer state, which is what this test is about.
            ours_p[...] = their_p.detach().numpy()
    moved = rel_error(params["0.W"], init["0.W"])
    assert moved > 1e-3, "the parameters should have moved"


def test_gradients_are_not_modified(rng):
    for name in ("sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw"):
        opt = optimizers.get(name, lr=0.1, weight_decay=0.1)
        p, g = rng.standard_normal(4), rng.standard_normal(4)
        before = g.copy()
        opt.step([("p", p, g)])
        opt.step([("p", p, g)])
        np.testing.assert_array_equal(g, before)


@pytest.mark.parametrize("ours,torch_name,keys", [
    ("adagrad", "Adagrad", ["lr", "lr_decay", "eps", "initial_accumulator_value", "weight_decay"]),
    ("rmsprop", "RMSprop", ["lr", "alpha", "eps", "momentum", "centered", "weight_decay"]),
    ("adam", "Adam", ["lr", "betas", "eps", "weight_decay"]),
    ("adamw", "AdamW", ["lr", "betas", "eps", "weight_decay"]),
    ("sgd", "SGD", ["momentum", "dampening", "nesterov", "weight_decay"]),
])
def test_defaults_are_torchs(torch, ours, torch_name, keys):
    config = optimizers.get(ours).get_config()
    defaults = getattr(torch.optim, torch_name)([torch.zeros(1, requires_grad=True)]).defaults
    for key in keys:
        mine = tuple(config[key]) if key == "betas" else config[key]
        assert mine == defaults[key], key


def test_state_dict_round_trip_continues_identically(rng):
    a = optimizers.Adam(lr=0.01)
    p1, g = rng.standard_normal(5), rng.standard_normal(5)
    a.step([("p", p1, g)])
    b = optimizers.Adam()
    b.load_state_dict(a.state_dict())
    p2 = p1.copy()
    a.step([("p", p1, g)])
    b.step([("p", p2, g)])
    np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("source,target", [("float64", "float32"), ("float32", "float64")])
def test_a_loaded_state_takes_the_dtype_of_the_models_parameters(source, target, rng):
    """A float64 model's Adam state given to a float32 model's optimizer: its moments stayed
    float64 (and a float32 state stayed float32 in a float64 model, rounding its steps)."""
    from glassnet import Sequential, layers

    x, y = rng.standard_normal((16, 3)), np.arange(16) % 2
    models = {}
    for dtype in (source, target):
        models[dtype] = Sequential([layers.Dense(4), layers.BatchNorm(), layers.Dense(2)],
                                   input_shape=(3,), dtype=dtype)
        models[dtype].compile("categorical_crossentropy", optimizers.Adam())
        models[dtype].fit(x, y, epochs=1, batch_size=8, verbose=0)
    models[target].optimizer.load_state_dict(models[source].optimizer.state_dict())
    slots = models[target].optimizer.slots
    assert slots and {a.dtype for slot in slots.values() for a in slot.values()} == {np.dtype(target)}
    models[target].fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(w.dtype == np.dtype(target) for w in models[target].get_weights().values())


@pytest.mark.parametrize("name", sorted(NAMES))
def test_a_step_by_hand_with_misshaped_arrays_is_a_clear_error(name, rng):
    opt = optimizers.get(name, momentum=0.9) if name == "sgd" else optimizers.get(name)
    p = rng.standard_normal((3, 2))
    before = p.copy()
    with pytest.raises(ShapeError, match=r"gradient of '0.W' has shape \(2, 3\), its parameter \(3, 2\)"):
        opt.step([("0.W", p, rng.standard_normal((2, 3)))])
    with pytest.raises(ShapeError, match=r"gradient of '0.W' has shape \(2,\)"):
        opt.step([("0.W", p, [1.0, 2.0])])  # a list would have broadcast over the rows
    with pytest.raises(ShapeError, match="gradient of '0.b'"):  # the first parameter untouched too
        opt.step([("0.W", p, rng.standard_normal((3, 2))), ("0.b", p[0], rng.standard_normal(3))])
    np.testing.assert_array_equal(p, before)
    assert opt.steps == 0 and not any(opt.slots.values())
    opt.step([("0.W", p, rng.standard_normal((3, 2)))])
    q = rng.standard_normal(4)  # another array under the same name: the moments do not fit it
    with pytest.raises(ShapeError, match=r"for '0.W' has shape \(3, 2\) from earlier steps, the "
                                         r"parameter now \(4,\): call reset\(\) first"):
        opt.step([("0.W", q, rng.standard_normal(4))])
    opt.reset()
    opt.step([("0.W", q, rng.standard_normal(4))])


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ConfigError) as info:
        optimizers.get("adamm")
    # a name may come from the command line, where an Optimizer instance is no choice
    assert str(info.value) == ("unknown optimizer 'adamm'; choose one of ['adagrad', 'adam', "
                               "'adamw', 'rmsprop', 'sgd', 'momentum', 'nesterov']")
    with pytest.raises(ConfigError, match=r"unknown optimizer 3; .* or a glassnet Optimizer instance$"):
        optimizers.get(3)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), "0.1"])
def test_non_positive_lr_is_a_clear_error(name, lr):
    with pytest.raises(ConfigError, match="lr must be a finite number > 0, got"):
        optimizers.get(name, lr=lr)


@pytest.mark.parametrize("kwargs,match", [
    ({"momentum": 1.5}, "momentum"), ({"weight_decay": -1}, "weight_decay"),
    ({"nesterov": True}, "Nesterov"), ({"momentu": 0.9}, "bad option"),
])
def test_bad_sgd_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        optimizers.get("sgd", **kwargs)


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adam", "adamw"])
def test_an_eps_that_is_zero_in_float32_is_refused(name):
    """1e-50 is 0 in float32: Adam's first step on a zero gradient was 0 / 0 (NaN)."""
    with pytest.raises(ConfigError, match=r"eps must be at least 1.18e-38, float32's smallest normal "
                                          r"number \(below it float32 loses digits, and below 1.4e-45 "
                                          r"it is 0 and divides by zero\), got 1e-50"):
        optimizers.get(name, eps=1e-50)
    with pytest.raises(ConfigError, match="eps must be a finite number > 0, got 0"):
        optimizers.get(name, eps=0)
    assert optimizers.get(name, eps=1.2e-38).eps == 1.2e-38


def test_bad_adam_betas():
    with pytest.raises(ConfigError, match="betas"):
        optimizers.Adam(betas=0.9)
    with pytest.raises(ConfigError, match="beta2"):
        optimizers.Adam(betas=(0.9, 1.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_centered_rmsprop_stays_finite_when_the_gradient_hardly_changes(dtype):
    """E[g^2] - E[g]^2 tends to 0 for a steady gradient; rounding made it negative (NaN)."""
    optimizer = optimizers.RMSProp(lr=1e-9, centered=True)
    p = np.linspace(-1, 1, 101).astype(dtype)
    g = np.linspace(0.01, 3, 101).astype(dtype)
    with np.errstate(invalid="raise"):
        for _ in range(3000):
            optimizer.step([("w", p, g)])
    assert np.isfinite(p).all()


def test_the_courses_and_cs231ns_momentum_are_sgd_with_these_settings(rng):
    """docs/optimizers/sgd.md: the course's ``v = b v + (1 - b) g; p -= a v`` is exactly
    ``SGD(lr=a * (1 - b), momentum=b)``, first step included; CS231n's ``v = m v - lr g;
    p += v`` is exactly ``SGD(lr, momentum=m)``."""
    alpha, beta, lr, mu = 0.05, 0.9, 0.05, 0.9
    start = rng.standard_normal(5)
    course, cs231n = start.copy(), start.copy()
    v_course, v_cs231n = np.zeros(5), np.zeros(5)
    ours_course, ours_cs231n = start.copy(), start.copy()
    as_course = optimizers.SGD(lr=alpha * (1 - beta), momentum=beta)
    as_cs231n = optimizers.SGD(lr=lr, momentum=mu)

    def grad(p):  # a gradient that is not linear in p
        return 2 * p + np.sin(3 * p)

    for _ in range(20):
        g = grad(course)
        v_course = beta * v_course + (1 - beta) * g
        course -= alpha * v_course
        g = grad(cs231n)
        v_cs231n = mu * v_cs231n - lr * g
        cs231n += v_cs231n
        as_course.step([("p", ours_course, grad(ours_course))])
        as_cs231n.step([("p", ours_cs231n, grad(ours_cs231n))])
        np.testing.assert_allclose(ours_course, course, rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours_cs231n, cs231n, rtol=0, atol=1e-13)


@pytest.mark.parametrize("bad", [-1.0, float("inf"), "0.05", None])
def test_an_lr_set_later_is_checked_too(bad):
    """A callback's model.optimizer.lr = -1.0 trained uphill, "0.05" failed deep in NumPy."""
    opt = optimizers.Adam()
    with pytest.raises(ConfigError, match=r"Adam lr must be a finite number >= 0, got"):
        opt.lr = bad
    with pytest.raises(ConfigError, match="lr must be"):
        opt.learning_rate = bad
    assert opt.lr == 0.001


def test_lr_and_learning_rate_together_and_lr_as_a_0d_array_and_an_old_pickle():
    with pytest.raises(ConfigError, match="give SGD either lr or learning_rate .its Keras name., not both"):
        optimizers.SGD(0.5, learning_rate=0.1)
    with pytest.raises(ConfigError, match="not both: got lr=0.01 and learning_rate=0.1"):
        optimizers.SGD(0.01, learning_rate=0.1)  # lr given at its default value is still given
    with pytest.raises(ConfigError, match="not both: got lr=0.001 and learning_rate=0.1"):
        optimizers.AdamW(lr=0.001, learning_rate=0.1)
    assert optimizers.AdamW(learning_rate=0.1).lr == 0.1  # through Adam's __init__ as well
    with pytest.raises(ConfigError, match="not both"):
        optimizers.get("adam", lr=0.3, learning_rate=0.2)
    # the same lr under both names is one lr, not a conflict
    assert optimizers.SGD(0.5, learning_rate=0.5).lr == 0.5
    assert optimizers.get("adam", lr=0.3, learning_rate=0.3).lr == 0.3
    opt = optimizers.Adam(0.01)
    opt.lr = np.array(0.005)  # what a schedule computing with NumPy returns: refused before
    assert opt.lr == 0.005 and type(opt.lr) is float
    old_layout = opt.__getstate__()
    old_layout["lr"] = old_layout.pop("_lr")  # an optimizer pickled before lr was a property
    revived = optimizers.Adam.__new__(optimizers.Adam)
    revived.__setstate__(old_layout)
    assert revived.lr == 0.005


def test_lr_may_reach_zero_and_learning_rate_is_its_keras_name(rng):
    opt = optimizers.SGD(learning_rate=0.1)
    assert opt.lr == opt.learning_rate == 0.1
    opt.learning_rate = np.float32(0.5)
    assert opt.lr == 0.5 and type(opt.lr) is float
    opt.lr = 0  # a schedule's end
    p = rng.standard_normal(3)
    before = p.copy()
    opt.step([("p", p, np.ones(3))])
    np.testing.assert_array_equal(p, before)
    copied = pickle.loads(pickle.dumps(opt))
    assert copied.lr == 0.0 and copy.deepcopy(opt).learning_rate == 0.0
    for name in optimizers.OPTIMIZERS:
        assert optimizers.get(name, learning_rate=0.25).lr == 0.25
    loaded = optimizers.SGD()
    loaded.load_state_dict(optimizers.SGD(lr=0.3).state_dict())
    assert loaded.lr == 0.3


@pytest.mark.parametrize("make", [
    lambda flag: optimizers.RMSProp(centered=flag),
    lambda flag: optimizers.SGD(momentum=0.9, nesterov=flag),
])
def test_flags_take_only_a_bool(make):
    """bool("no") and bool("False") are True: such a string turned the option on."""
    for bad in ["no", "False", 0, None]:
        with pytest.raises(ConfigError, match=r"must be True or False, got"):
            make(bad)
    for flag in [np.bool_(True), False]:
        opt = make(flag)
        assert getattr(opt, "centered", getattr(opt, "nesterov", None)) is bool(flag)


@pytest.mark.parametrize("name,torch_name,options,gradient", [
    ("adam", "Adam", {}, 3e19),  # g*g alone overflows float32 (v = inf froze the weight for good)
    ("adamw", "AdamW", {}, 3e19),
    ("rmsprop", "RMSprop", {"centered": True}, 1e30),  # E[g^2] - E[g]^2 was inf - inf = NaN
])
def test_float32_gradients_near_the_range_limit_behave_as_in_torch(torch, name, torch_name, options,
                                                                    gradient):
    ours = optimizers.get(name, lr=0.01, **options)
    p = np.array([1.0, -1.0], np.float32)
    theirs = torch.tensor(p.copy(), requires_grad=True)
    their_opt = getattr(torch.optim, torch_name)([theirs], lr=0.01, **options)
    for g in [gradient, gradient, *[1.0] * 3]:  # then ordinary gradients
        grad = np.array([g, -g], np.float32)
        # Adam's (1-b2) g^2 fits float32: no overflow; RMSProp's E[g^2] of 1e30 is inf in
        # both, but no NaN may come of it
        with np.errstate(over="raise" if name.startswith("adam") else "ignore", invalid="raise"):
            ours.step([("p", p, grad)])
        theirs.grad = torch.tensor(grad)
        their_opt.step()
        assert np.isfinite(p).all()
        np.testing.assert_allclose(p, theirs.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("betas,expected", [(np.array([0.8, 0.99]), (0.8, 0.99)),
                                            ([0.9, 0.999], (0.9, 0.999))])
def test_adam_betas_may_be_any_pair_and_are_kept_as_floats(betas, expected):
    adam = optimizers.Adam(betas=betas)
    assert adam.betas == expected and all(type(b) is float for b in adam.betas)
    for wrong in (np.array([0.9, 0.99, 0.5]), np.array(0.9)):
        with pytest.raises(ConfigError, match="betas must be a pair"):
            optimizers.Adam(betas=wrong)
