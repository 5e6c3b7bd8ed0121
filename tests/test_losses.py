import json

import numpy as np
import pytest

from glassnet import gradcheck, losses
from glassnet.errors import ConfigError, ShapeError


@pytest.mark.parametrize("label,loss,output,y", gradcheck.loss_cases(),
                         ids=[c[0] for c in gradcheck.loss_cases()])
def test_loss_matches_finite_differences(label, loss, output, y):
    assert gradcheck.check_loss(loss, output, y).worst < 1e-7


def test_bce_from_logits_matches_torch(torch, rng):
    z = rng.standard_normal((8, 1)) * 5
    y = rng.integers(0, 2, 8)
    loss = losses.BinaryCrossEntropy()
    value = loss.forward(z, y)
    grad = loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    target = torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, target)
    tl.backward()
    assert abs(value - tl.item()) / abs(tl.item()) < 1e-12
    assert gradcheck.rel_error(grad, tz.grad.numpy()) < 1e-10


def test_bce_from_probabilities_matches_torch(torch, rng):
    p = rng.uniform(0.01, 0.99, (8, 1))
    y = rng.integers(0, 2, 8)
    loss = losses.BinaryCrossEntropy(from_logits=False)
    value = loss.forward(p, y)
    grad = loss.backward()
    tp = torch.tensor(p, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(y, dtype=torch.float64).reshape(-1, 1))
    tl.backward()
    assert abs(value - tl.item()) / tl.item() < 1e-12
    assert gradcheck.rel_error(grad, tp.grad.numpy()) < 1e-10


@pytest.mark.parametrize("one_hot", [False, True])
def test_cross_entropy_from_logits_matches_torch(torch, rng, one_hot):
    z = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6)
    target = np.eye(4)[y] if one_hot else y
    loss = losses.CategoricalCrossEntropy()
    value = loss.forward(z, target)
    grad = loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(y))
    tl.backward()
    assert abs(value - tl.item()) / tl.item() < 1e-12
    assert gradcheck.rel_error(grad, tz.grad.numpy()) < 1e-10


@pytest.mark.parametrize("rows", ["soft", "unnormalised"])
def test_cross_entropy_with_soft_targets_matches_torch(torch, rng, rows):
    z = rng.standard_normal((6, 4)) * 3
    y = rng.dirichlet(np.ones(4), 6) if rows == "soft" else rng.random((6, 4))
    loss = losses.CategoricalCrossEntropy()
    value = loss.forward(z, y)
    grad = loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.tensor(y))
    tl.backward()
    assert abs(value - tl.item()) / tl.item() < 1e-12
    assert gradcheck.rel_error(grad, tz.grad.numpy()) < 1e-10


def test_cross_entropy_from_probabilities_matches_torch(torch, rng):
    p = rng.dirichlet(np.ones(4), 6)
    y = rng.integers(0, 4, 6)
    loss = losses.CategoricalCrossEntropy(from_logits=False)
    value = loss.forward(p, y)
    grad = loss.backward()
    tp = torch.tensor(p, requires_grad=True)
    tl = torch.nn.functional.nll_loss(torch.log(tp), torch.tensor(y))
    tl.backward()
    assert abs(value - tl.item()) / tl.item() < 1e-12
    assert gradcheck.rel_error(grad, tp.grad.numpy()) < 1e-10


def test_losses_never_take_log_of_zero():
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        bce = losses.BinaryCrossEntropy(from_logits=False)
        assert np.isfinite(bce.forward(np.array([[0.0], [1.0]]), np.array([1, 0])))
        assert np.all(np.isfinite(bce.backward()))
        assert np.isfinite(losses.BinaryCrossEntropy().forward(np.array([[1e4], [-1e4]]),
                                                               np.array([0, 1])))
        cce = losses.CategoricalCrossEntropy(from_logits=False)
        assert np.isfinite(cce.forward(np.array([[1.0, 0.0]]), np.array([1])))
        assert np.isfinite(losses.CategoricalCrossEntropy().forward(
            np.array([[1e4, -1e4]]), np.array([1])))


def test_label_shape_mismatch_is_a_clear_error():
    with pytest.raises(ShapeError, match="labels have shape"):
        losses.BinaryCrossEntropy().forward(np.zeros((4, 1)), np.zeros(3))
    # labels as a list: the message read y_true.shape (AttributeError)
    with pytest.raises(ShapeError, match=r"labels have shape \(3,\) but the outputs have 4 rows"):
        losses.BinaryCrossEntropy().forward(np.zeros((4, 1)), [0, 1, 0])
    with pytest.raises(ShapeError, match=r"labels must be integers in \[0, 2\]"):
        losses.CategoricalCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ShapeError, match="categorical_crossentropy"):
        losses.BinaryCrossEntropy().forward(np.zeros((4, 3)), np.zeros(4))


@pytest.mark.parametrize("loss,output,labels", [
    (losses.BinaryCrossEntropy(), np.zeros((0, 1)), np.zeros(0)),
    (losses.BinaryCrossEntropy(from_logits=False), np.zeros(0), np.zeros(0)),
    (losses.CategoricalCrossEntropy(), np.zeros((0, 3)), np.zeros(0, int)),
    (losses.CategoricalCrossEntropy(from_logits=False), np.zeros((0, 3)), np.zeros((0, 3))),
])
def test_an_empty_batch_is_a_clear_error_not_a_nan_loss(loss, output, labels):
    with pytest.raises(ShapeError, match=r"the batch holds no samples .*a mean loss over none is undefined"):
        loss.forward(output, labels)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_cross_entropy_is_finite_for_logits_spread_wider_than_the_dtype(dtype, torch):
    """z - max(z) overflowed to -inf, and 0 * -inf made the loss NaN (PyTorch gives 0)."""
    big = np.finfo(dtype).max
    z = np.array([[big, -big, 0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # -inf is the exact log p
        assert losses.CategoricalCrossEntropy().forward(z, np.array([0])) == 0.0
        assert losses.CategoricalCrossEntropy().forward(z[:, [1, 0, 2]], np.array([1])) == 0.0


def test_bce_from_logits_keeps_float32_precision_for_confident_right_answers(torch, rng):
    """The small log1p term was added before the large terms cancelled: relative error 1e-3."""
    z = rng.uniform(8, 16, (1000, 1)).astype(np.float32)
    y = np.ones(1000)
    ours = losses.BinaryCrossEntropy().forward(z, y)
    exact = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(z, dtype=torch.float64), torch.ones(1000, 1, dtype=torch.float64)).item()
    assert abs(ours - exact) / exact < 1e-5


@pytest.mark.parametrize("loss,y,match", [
    (losses.CategoricalCrossEntropy(), [0.5, 2.9, 1.2],
     r"integers in \[0, 2\], got range \[0.5, 2.9\] with fractions"),
    (losses.CategoricalCrossEntropy(), [-0.5, 0, 1], r"integers in \[0, 2\]"),
    (losses.CategoricalCrossEntropy(), [np.nan, 0, 1], r"integers in \[0, 2\]"),
    (losses.BinaryCrossEntropy(), [2, 0, 1], r"probabilities in \[0, 1\].*got range \[0, 2\]"),
    (losses.BinaryCrossEntropy(), [-1, 0, 1], r"probabilities in \[0, 1\]"),
    (losses.BinaryCrossEntropy(), [np.nan, 0, 1], r"probabilities in \[0, 1\]"),
])
def test_labels_a_loss_cannot_mean_are_refused_when_the_loss_is_used_directly(loss, y, match):
    """Sequential checks labels before the loss sees them; a loss called on its own (as the
    README suggests for soft targets) truncated 2.9 to class 2 and took 2 as a BCE target."""
    outputs = np.zeros((3, 3)) if isinstance(loss, losses.CategoricalCrossEntropy) else np.zeros((3, 1))
    with pytest.raises(ShapeError, match=match):
        loss.forward(outputs, np.array(y))


def test_soft_binary_targets_are_still_taken():
    assert np.isfinite(losses.BinaryCrossEntropy().forward(np.zeros((2, 1)), np.array([0.3, 1.0])))


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name", ["binary_crossentropy", "categorical_crossentropy"])
def test_a_loss_config_round_trips_and_from_logits_defaults_to_true(name, from_logits):
    loss = losses.get(name, from_logits=from_logits)
    again = losses.from_config(json.loads(json.dumps(loss.get_config())))
    assert type(again) is type(loss) and again.from_logits is from_logits
    assert losses.from_config({"name": name}).from_logits is True  # compile's default


def test_unknown_loss_name():
    with pytest.raises(ConfigError, match="unknown loss 'mse'"):
        losses.get("mse")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_probabilities_are_clipped_so_that_no_log_0_occurs_in_any_float_dtype(dtype):
    # 1 - 1e-7 rounds to 1 in float16: the clip must use float16's own epsilon there
    with np.errstate(all="raise"):  # any divide-by-zero or overflow fails the test
        bce = losses.BinaryCrossEntropy(from_logits=False)
        loss = bce.forward(np.array([[0.0], [1.0]], dtype=dtype), np.array([1, 0]))
        grad = bce.backward()
        cce = losses.CategoricalCrossEntropy(from_logits=False)
        loss2 = cce.forward(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype), np.array([1, 0]))
        grad2 = cce.backward()
    assert np.isfinite([loss, loss2]).all() and np.isfinite(grad).all() and np.isfinite(grad2).all()
    assert loss > 5 and loss2 > 5  # confidently wrong: a large but finite loss
    if dtype != "float16":  # float32/float64 keep the 1e-7 clip
        assert loss == pytest.approx(-np.log(1e-7), rel=1e-2)


@pytest.mark.parametrize("loss,outputs,labels", [
    (losses.BinaryCrossEntropy(), [[3.4e38], [-3.4e38]], [0, 1]),
    (losses.CategoricalCrossEntropy(), [[3.4e38, -3.4e38], [-3.4e38, 3.4e38]], [1, 0]),
])
def test_a_loss_beyond_float32s_range_is_inf_without_a_warning(loss, outputs, labels):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the NaN guard handles an infinite loss: no NumPy noise
        assert loss.forward(np.array(outputs, np.float32), np.array(labels)) == np.inf


# -- sample weights (fit's class_weight) ---------------------------------------------------

WEIGHTS = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])


@pytest.mark.parametrize("label,loss,output,y", gradcheck.loss_cases(),
                         ids=[c[0] for c in gradcheck.loss_cases()])
@pytest.mark.parametrize("one_hot", [False, True])
def test_weighted_loss_matches_finite_differences(label, loss, output, y, one_hot):
    w = WEIGHTS[:len(y)]
    if one_hot and output.shape[1] > 1:
        y = np.eye(output.shape[1])[y]
    assert gradcheck.check_loss(loss, output, y, sample_weight=w).worst < 1e-7


def _torch_weighted(torch, loss, output, y):
    """PyTorch's per-sample losses (reduction="none") and their function of ``output``."""
    t = torch.tensor(output, requires_grad=True)
    fn = torch.nn.functional
    if isinstance(loss, losses.BinaryCrossEntropy):
        target = torch.tensor(y, dtype=torch.float64).reshape(-1, 1)
        per = (fn.binary_cross_entropy_with_logits(t, target, reduction="none") if loss.from_logits
               else fn.binary_cross_entropy(t, target, reduction="none")).reshape(-1)
    else:
        per = (fn.cross_entropy(t, torch.tensor(y), reduction="none") if loss.from_logits
               else fn.nll_loss(torch.log(t), torch.tensor(y), reduction="none"))
    return t, per


@pytest.mark.parametrize("label,loss,output,y", gradcheck.loss_cases(),
                         ids=[c[0] for c in gradcheck.loss_cases()])
@pytest.mark.parametrize("one_hot", [False, True])
def test_weighted_loss_matches_torch_sum_over_batch_size(torch, label, loss, output, y, one_hot):
    """``(w * l).mean()`` of PyTorch's per-sample losses: Keras' "sum over batch size", not
    divided by the sum of the weights."""
    w = WEIGHTS[:len(y)]
    labels = np.eye(output.shape[1])[y] if one_hot and output.shape[1] > 1 else y
    value = loss.forward(output, labels, w)
    grad = loss.backward()
    t, per = _torch_weighted(torch, loss, output, y)
    tl = (torch.tensor(w) * per).mean()
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-12)
    assert gradcheck.rel_error(grad, t.grad.numpy()) < 1e-10


@pytest.mark.parametrize("label,loss,output,y", gradcheck.loss_cases(),
                         ids=[c[0] for c in gradcheck.loss_cases()])
def test_without_weights_the_loss_is_bit_for_bit_unweighted(label, loss, output, y):
    """``sample_weight=None`` is the plain mean exactly; weights of 1 give it to rounding."""
    output = output.astype(np.float32)
    plain = loss.forward(output, y)
    plain_grad = loss.backward()
    assert loss.forward(output, y, None) == plain
    assert np.array_equal(loss.backward(), plain_grad)
    assert loss.forward(output, y, np.ones(len(y))) == pytest.approx(plain, rel=1e-6)


@pytest.mark.parametrize("weights, match", [
    (np.ones(3), r"shape \(3,\).*expected \(6,\)"),
    (np.ones((6, 1)), r"shape \(6, 1\)"),
    (np.array([1, 1, -1, 1, 1, 1.0]), "finite and >= 0"),
    (np.array([1, 1, np.nan, 1, 1, 1.0]), "finite and >= 0"),
    (np.array([1, 1, np.inf, 1, 1, 1.0]), "finite and >= 0"),
    (np.array(list("abcdef")), "numbers"),
])
def test_bad_sample_weights_are_refused(weights, match):
    for loss, output in ((losses.BinaryCrossEntropy(), np.zeros((6, 1))),
                         (losses.CategoricalCrossEntropy(), np.zeros((6, 3)))):
        with pytest.raises(ShapeError, match=match):
            loss.forward(output, np.zeros(6, dtype=int), weights)


def test_the_weighted_loss_checks_catch_a_backward_that_drops_the_weights(monkeypatch):
    """The standard table's weighted cases (glassnet gradcheck) fail for a gradient that
    forgets the sample weights, while the unweighted ones cannot see it."""
    from glassnet import losses

    for cls in (losses.BinaryCrossEntropy, losses.CategoricalCrossEntropy):
        def unweighted(self, real=cls.backward):
            self._cache = {**self._cache, "w": None}
            return real(self)

        monkeypatch.setattr(cls, "backward", unweighted)
    for label, loss, output, y, weights in gradcheck.weighted_loss_cases():
        assert not gradcheck.check_loss(loss, output, y, sample_weight=weights).worst < 1e-6, label
    for label, loss, output, y in gradcheck.loss_cases():
        assert gradcheck.check_loss(loss, output, y).worst < 1e-6, label


def test_the_loss_check_sees_the_small_gradients_of_confident_predictions(monkeypatch):
    """Confident, correct logits (+-12) have gradients of about 1e-6, well above the
    differences' rounding noise: a backward that rounds them to 0 must fail the check."""
    loss = losses.BinaryCrossEntropy()
    y = np.array([0, 1, 1, 0])
    output = np.where(y == 1, 12.0, -12.0)[:, None]
    assert gradcheck.check_loss(loss, output, y).worst < 1e-7
    real = losses.BinaryCrossEntropy.backward

    def rounded(self):
        grad = real(self)
        return np.where(np.abs(grad) < 1e-4, 0.0, grad)

    monkeypatch.setattr(losses.BinaryCrossEntropy, "backward", rounded)
    assert not gradcheck.check_loss(loss, output, y).worst < 1e-6
