"""compare_optimizers: same network, weights and batches for each optimizer; the example script."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from glassnet import Sequential, layers, optimizers
from glassnet.errors import ConfigError, ShapeError
from glassnet.training.compare import TUTORIAL_OPTIMIZERS, compare_optimizers, smoothed


def _problem(rng):
    y = np.arange(40) % 3
    return rng.standard_normal((40, 5)) + y[:, None], y


def _build():
    return Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], input_shape=(5,), seed=1,
                      dtype="float64")


def test_same_start_same_batches_different_optimizers(rng):
    x, y = _problem(rng)
    histories = compare_optimizers(_build, x, y, iterations=30, batch_size=8)
    assert list(histories) == list(TUTORIAL_OPTIMIZERS)
    firsts = {label: h["loss"][0] for label, h in histories.items()}
    assert len(set(firsts.values())) == 1  # same initial weights and first batch
    for h in histories.values():
        assert h.epoch == list(range(30)) and len(h["loss"]) == 30
    assert len({round(h["loss"][-1], 12) for h in histories.values()}) == 4
    again = compare_optimizers(_build, x, y, iterations=30, batch_size=8)
    for label in histories:
        assert again[label]["loss"] == histories[label]["loss"]


def test_a_single_optimizer_run_equals_training_by_hand(rng):
    x, y = _problem(rng)
    histories = compare_optimizers(_build, x, y, {"adam": {"name": "adam", "lr": 0.01}}, iterations=5,
                                   batch_size=40)
    model = _build()
    model.compile("categorical_crossentropy", optimizers.Adam(lr=0.01))
    by_hand = [model.train_step(x, y)[0] for _ in range(5)]  # full batch: order does not matter
    np.testing.assert_allclose(histories["adam"]["loss"], by_hand, rtol=1e-12)


def test_bad_arguments(rng):
    x, y = _problem(rng)
    with pytest.raises(ConfigError, match="instance keeps state"):
        compare_optimizers(_build, x, y, {"a": optimizers.SGD()})
    with pytest.raises(ConfigError, match="iterations must be a positive integer, got 0"):
        compare_optimizers(_build, x, y, iterations=0)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        compare_optimizers(_build, x, y, {"a": "sgdd"}, iterations=1)


def test_smoothed_is_a_trailing_mean():
    np.testing.assert_allclose(smoothed([1, 3, 5, 7], window=2), [1, 2, 4, 6])


def test_example_script_draws_the_plot(tmp_path):
    png = tmp_path / "opt.png"
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "optimizers.py"), "--iterations", "3",
                             "--batch-size", "8", "--out", str(png)], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for label in TUTORIAL_OPTIMIZERS:
        assert label in result.stdout


@pytest.mark.parametrize("change,match", [
    (lambda x, y: (x, y[:-5]), "40"),                     # was an IndexError
    (lambda x, y: (np.where(x > 1, np.nan, x), y), "NaN"),  # NaN losses
])
def test_inputs_and_labels_are_checked_as_fit_does(rng, change, match):
    x, y = change(*_problem(rng))
    with pytest.raises((ConfigError, ShapeError), match=match):
        compare_optimizers(_build, x, y, iterations=2, batch_size=8)


def test_soft_binary_labels_are_refused(rng):
    """0.5 labels trained a sigmoid output without a word."""
    x, _ = _problem(rng)

    def build():
        return Sequential([layers.Dense(1)], input_shape=(5,), seed=1, dtype="float64")

    with pytest.raises((ConfigError, ShapeError), match="0.5"):
        compare_optimizers(build, x, np.full(len(x), 0.5), iterations=2, batch_size=8,
                           loss="binary_crossentropy")
