import numpy as np
import pytest

from glassnet import functional as F


def test_sigmoid_is_stable_and_exact():
    z = np.array([-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        s = F.sigmoid(z)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[1:-1], 1 / (1 + np.exp(-z[1:-1])), rtol=1e-15)
    assert s[0] == 0.0 and s[-1] == 1.0


def test_sigmoid_keeps_float32():
    assert F.sigmoid(np.zeros(3, np.float32)).dtype == np.float32


def test_log_softmax_and_softmax_are_stable():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        log_p = F.log_softmax(z)
        p = F.softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_p), p)
    expected = z[1] - np.log(np.exp(z[1]).sum())
    np.testing.assert_allclose(log_p[1], expected)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax_normalise_along_the_axis_given(axis):
    z = np.random.default_rng(0).standard_normal((3, 4, 5)) * 3
    expected = np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(F.softmax(z, axis=axis), expected, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(z, axis=axis), np.log(expected), rtol=1e-12, atol=1e-12)


def test_softplus_matches_definition_and_never_overflows():
    z = np.linspace(-20, 20, 41)
    np.testing.assert_allclose(F.softplus(z), np.log1p(np.exp(z)), rtol=1e-12)
    with np.errstate(over="raise"):
        np.testing.assert_array_equal(F.softplus(np.array([-1e4, 1e4])), [0.0, 1e4])


def test_log_sigmoid_matches_definition():
    z = np.linspace(-20, 20, 41)
    np.testing.assert_allclose(F.log_sigmoid(z), np.log(1 / (1 + np.exp(-z))), rtol=1e-7)
    assert np.isfinite(F.log_sigmoid(np.array([-1e4, 1e4]))).all()


def test_one_hot():
    out = F.one_hot(np.array([2, 0, 1]), 3)
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1]])


def test_numerical_gradient_perturbs_a_non_contiguous_array_in_place():
    """``x.reshape(-1)`` of a transposed array is a copy; the check must still move ``x``."""
    from glassnet.gradcheck import numerical_gradient

    base = np.arange(6, dtype=np.float64).reshape(2, 3)
    x = base.T  # (3, 2), not C-contiguous
    weights = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    grad = numerical_gradient(lambda: float((x * weights).sum()), x)
    np.testing.assert_allclose(grad, weights, rtol=1e-7)
    np.testing.assert_array_equal(base, np.arange(6).reshape(2, 3))  # restored


def test_sigmoid_of_integers_is_a_probability_not_an_integer():
    # sigmoid(0) is 0.5: casting back to the input's integer dtype gave 0
    s = F.sigmoid(np.array([-3, 0, 1, 3]))
    assert s.dtype == np.float64
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-np.array([-3.0, 0.0, 1.0, 3.0]))), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int64, np.bool_])
@pytest.mark.parametrize("name", ["sigmoid", "softplus", "log_sigmoid", "softmax", "log_softmax"])
def test_integer_and_bool_inputs_give_what_their_float64_values_give(name, dtype):
    """In an unsigned or narrow integer dtype ``-abs(z)`` and ``z - max(z)`` wrap around
    (uint8 0 - 2 is 254): softmax of uint8 [0, 1, 2] was [nan, nan, 0] and softplus inf."""
    z = np.array([[0, 1, 2], [1, 0, 0]]).astype(dtype)
    if dtype == np.int8:
        z = np.array([[-100, 100, 0], [-3, 4, 127]], dtype)
    result = getattr(F, name)(z)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, getattr(F, name)(z.astype(np.float64)), rtol=1e-15)


def test_leaky_relu_of_integers_is_alpha_times_them_in_float64():
    from glassnet import layers

    leaky = layers.LeakyReLU(0.5)
    np.testing.assert_array_equal(leaky.forward(np.array([[-4, 1, 2]]), training=True), [[-2.0, 1.0, 2.0]])
    np.testing.assert_array_equal(leaky.backward(np.array([[3, 3, 3]])), [[1.5, 3.0, 3.0]])


@pytest.mark.parametrize("m,p", [(64, 288), (288, 64), (32, 32)])
def test_matmul_bt_is_a_times_b_transposed_whichever_operand_is_taller(m, p):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, 50)), rng.standard_normal((p, 50))
    product = F.matmul_bt(a, b)
    assert product.shape == (m, p)
    np.testing.assert_allclose(product, a @ b.T, rtol=1e-12, atol=1e-12)
