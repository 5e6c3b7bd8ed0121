"""The course's cat network, reproduced exactly (slow: 3000 full-batch epochs)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cats_tutorial.py"


@pytest.mark.slow
def test_four_layer_cat_network_matches_the_course(data_root, capsys):
    main = runpy.run_path(str(EXAMPLE))["main"]
    result = main(["--epochs", "3000"])
    assert result["first_cost"] == pytest.approx(0.771749, abs=1e-5)
    assert result["final_cost"] < 0.08
    assert result["train_accuracy"] == pytest.approx(0.990, abs=0.003)
    assert result["test_accuracy"] == pytest.approx(0.82)


def test_first_cost_matches_the_course_after_a_few_epochs(data_root, capsys):
    main = runpy.run_path(str(EXAMPLE))["main"]
    result = main(["--epochs", "5"])
    assert result["first_cost"] == pytest.approx(0.771749, abs=1e-5)
    assert "misclassified test images" in capsys.readouterr().out
