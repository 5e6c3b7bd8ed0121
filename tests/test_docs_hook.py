"""The MkDocs hook that puts the running code and its checks into the documentation pages."""

from __future__ import annotations

import inspect
import logging
import runpy
from pathlib import Path

HOOK = runpy.run_path(str(Path(__file__).resolve().parents[1] / "docs" / "hooks" / "glassnet_docs.py"))


def test_code_marker_shows_the_source_file_with_its_line_numbers():
    from glassnet.layers.dense import Dense

    block = HOOK["code_block"]("glassnet.layers.dense.Dense.backward")
    lines, start = inspect.getsourcelines(Dense.backward)
    assert f'title="src/glassnet/layers/dense.py, lines {start}-{start + len(lines) - 1}"' in block
    assert "def backward(self, dy: Array) -> Array | None:" in block
    assert block.splitlines()[1].startswith("def backward")  # dedented, as the reader expects


def test_a_vanished_name_is_a_warning_that_fails_the_strict_build(caplog):
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.glassnet"):
        block = HOOK["code_block"]("glassnet.layers.dense.Dense.no_such_method")
    assert "missing" in block
    assert "no_such_method" in caplog.text


def test_markers_in_a_page_are_replaced():
    page = "text\n<!-- gradcheck: ReLU -->\nmore\n<!-- code: glassnet.functional.sigmoid -->\n"
    out = HOOK["on_page_markdown"](page, None, None, None)
    assert "<!--" not in out
    assert "| `ReLU` | `x` |" in out and "pass" in out
    assert "def sigmoid" in out


def test_gradcheck_cases_are_matched_by_layer_name_not_by_prefix():
    case_of = HOOK["_case_of"]
    assert case_of("Dense", "Dense") and case_of("Dense(relu)", "Dense")
    assert case_of("BatchNorm (N, D)", "BatchNorm")
    assert not case_of("Dense -> BatchNorm", "Dense")  # stacked checks go to the index table
    assert not case_of("LeakyReLU", "ReLU") and not case_of("ReLUX", "ReLU")


def test_optimizer_matches_torch_optim(torch):
    table = HOOK["torch_check"]("adam lr=0.01 betas=(0.8,0.99) weight_decay=0.01")
    assert "torch.optim.Adam" in table and "| pass |" in table
