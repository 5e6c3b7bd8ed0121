"""The course's cat network, reproduced exactly (slow: 2500 full-batch epochs)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cats_tutorial.py"


@pytest.mark.slow
def test_four_layer_cat_network_matches_the_course(data_root, capsys):
    """The course's published run: 2500 iterations, 'Cost after iteration 0:
    0.7717493284237686' ... 'Cost after iteration 2499: 0.088439943441702', train accuracy
    0.9856459330143539, test 0.8."""
    main = runpy.run_path(str(EXAMPLE))["main"]
    result = main([])
    assert result["first_cost"] == pytest.approx(0.7717493284237686, abs=1e-12)
    assert result["final_cost"] == pytest.approx(0.088439943441702, abs=1e-12)
    assert result["train_accuracy"] == pytest.approx(0.9856459330143539)
    assert result["test_accuracy"] == pytest.approx(0.80)
    printed = _printed_costs(capsys.readouterr().out)
    # the course's lines, to its 15th digit: the last one depends on the CPU's BLAS kernel
    # (0.08843994344170202 on an AMD EPYC without AVX-512, OpenBLAS's Haswell kernel)
    assert printed[100] == pytest.approx(0.6720534400822913, abs=1e-15)
    assert printed[2499] == pytest.approx(0.088439943441702, abs=1e-15)


def _printed_costs(out: str) -> dict[int, float]:
    """``{iteration: cost}`` from the script's "Cost after iteration N: C" lines."""
    return {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"^Cost after iteration (\d+): (\S+)$", out, re.M)}


def test_first_cost_matches_the_course_after_a_few_epochs(data_root, capsys):
    main = runpy.run_path(str(EXAMPLE))["main"]
    result = main(["--epochs", "5"])
    assert result["first_cost"] == pytest.approx(0.7717493284237686, abs=1e-12)
    assert "misclassified test images" in capsys.readouterr().out


@pytest.mark.slow
def test_float32_trains_the_course_network_like_float64(cats):
    """float32 (the default) on the course's recipe, against float64's 0.990 / 0.82."""
    import glassnet as gn

    model = runpy.run_path(str(EXAMPLE))["build"]((20, 7, 5))
    model = gn.Sequential.from_config({**model.get_config(), "dtype": "float32"})
    model.compile(loss="binary_crossentropy", optimizer=gn.optimizers.SGD(lr=0.0075))
    model.fit(cats["train"].x, cats["train"].y, epochs=3000, batch_size=None, verbose=0)
    train = model.evaluate(cats["train"].x, cats["train"].y)["accuracy"]
    test = model.evaluate(cats["test"].x, cats["test"].y)["accuracy"]
    assert abs(train - 0.990) <= 0.02
    # 50 test images: one image is 2 points. float32 ends with one to three of them on the
    # other side: which ones depends on the rounding, so on the CPU's BLAS kernel and on the
    # BLAS's threads (0.80 on AVX-512 hosts; 0.76 with one BLAS thread and 0.78 with two on
    # an AMD EPYC without AVX-512, session 24), while the training accuracy is float64's.
    assert abs(test - 0.82) <= 0.06


def test_two_layer_network_starts_from_the_course_two_layer_weights(data_root, capsys):
    """The course's two-layer net draws randn * 0.01 (not the L-layer net's randn / sqrt(n)):
    its published cost at iteration 0, 0.6930497356599888."""
    main = runpy.run_path(str(EXAMPLE))["main"]
    result = main(["--two-layer", "--epochs", "1"])
    assert result["first_cost"] == pytest.approx(0.6930497356599888, abs=1e-12)
