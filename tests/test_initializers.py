"""Weight initializers: Keras' variances (untruncated), the ``normal:STD`` spelling and its checks."""

import math

import numpy as np
import pytest

from glassnet import initializers
from glassnet.errors import ConfigError

FAN_IN, FAN_OUT = 50, 150


@pytest.mark.parametrize("spec,variance", [
    ("he_normal", 2 / FAN_IN),
    ("lecun_normal", 1 / FAN_IN),
    ("glorot_normal", 2 / (FAN_IN + FAN_OUT)),
    ("glorot_uniform", 6 / (FAN_IN + FAN_OUT) / 3),  # U(-a, a) has variance a^2 / 3
    ("normal", 0.01 ** 2),  # the course's randn * 0.01
    ("normal:0.3", 0.3 ** 2),
    (0.2, 0.2 ** 2),
])
def test_each_initializer_draws_zero_mean_weights_of_its_variance(spec, variance):
    """60,000 draws: the sample variance is within 3% (5 standard errors) of the formula, so
    a factor of 2 (2 / fan_in for 1 / fan_in, 6 for 3, fan_in alone for fan_in + fan_out) fails."""
    w = initializers.get(spec)((300, 200), FAN_IN, FAN_OUT, np.random.default_rng(0))
    assert w.shape == (300, 200)
    assert abs(w.mean()) < 0.03 * math.sqrt(variance)
    assert w.var() == pytest.approx(variance, rel=0.03)


def test_glorot_uniform_fills_exactly_its_interval():
    limit = math.sqrt(6 / (FAN_IN + FAN_OUT))
    w = initializers.glorot_uniform((300, 200), FAN_IN, FAN_OUT, np.random.default_rng(0))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.999 * limit


@pytest.mark.parametrize("spec,shown", [("normal:0", "0.0"), ("normal:-0.1", "-0.1"), (0.0, "0.0"),
                                        ("normal:inf", "inf")])
def test_a_normal_std_that_is_not_positive_and_finite_is_refused(spec, shown):
    """std 0 makes every weight 0: the units of a layer stay identical through training."""
    with pytest.raises(ConfigError, match=rf"normal\(std\) needs a finite std > 0, got {shown}$"):
        initializers.get(spec)


@pytest.mark.parametrize("spec", ["normal:", "normal:abc", "normal: "])
def test_normal_with_a_colon_needs_its_std(spec):
    """`--init normal:` (an unset variable after the colon) quietly drew with 0.01 and was
    recorded as "normal:"; plain "normal" is the course's 0.01."""
    with pytest.raises(ConfigError, match=r"STD in 'normal:STD' must be a number, e.g. normal:0.01"):
        initializers.get(spec)
    w = initializers.get("normal")((2000, 50), 2000, 50, np.random.default_rng(0))
    assert abs(w.std() - 0.01) < 1e-4
