"""Every tutorial script in examples/ runs on the real data (short settings) and writes what
its documentation page shows: the output text and the plots."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = runpy.run_path(str(ROOT / "docs" / "build_tutorials.py"))

# What each tutorial's page includes, and a line of its output that proves it ran for real.
EXPECTED = {
    "cats": (["output.txt", "command.txt", "cost.png", "misclassified.png", "photo.png",
              "model.glassnet"], "Cost after iteration 0: 0.77174932842376"),
    "cats-two-layer": (["output.txt", "cost.png", "misclassified.png"], "dense_1"),
    "backprop": (["output.txt", "gradcheck_vs_h.png"], "two-layer net loss 1.30378789133"),
    "training": (["output.txt", "initializers.png", "optimizers.png", "regularized.png"],
                 "batchnorm_2 (BatchNorm)"),
    "cifar": (["output.txt", "curves.png", "confusion.png", "probabilities.png", "misclassified.png",
               "cnn.glassnet", "curves-cnn-bn.png", "cnn-bn.glassnet"], "cnn-bn        289,642"),
    "photos": (["output.txt", "photos.onnx", "photos.glassnet", "my_photos/cat/data_batch_1_9.png",
                "new_photos/cat/test_batch_0.png"], "same classes: True"),
    "search": (["output.txt", "cifar-search/search.json", "cifar-search/search_scatter.png",
                "cifar-search/final/model.glassnet"], "together: 6 trials, each run once: True"),
}


def test_every_tutorial_script_is_run_by_the_docs():
    """``examples/*_tutorial.py`` are the documentation's tutorials (other example scripts,
    such as the optimizer comparison, have tests of their own)."""
    scripts = {p.name for p in (ROOT / "examples").glob("*_tutorial.py")}
    run_by_docs = {script for script, _, _ in BUILD["TUTORIALS"].values()}
    assert scripts == run_by_docs
    assert set(EXPECTED) == set(BUILD["TUTORIALS"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_and_writes_its_page_material(name, data_root, tmp_path):
    if name in BUILD["NEEDS"]:
        module, extra = BUILD["NEEDS"][name]
        pytest.importorskip(module, reason=f"tutorial {name} needs the {extra} extra: "
                                           f"pip install -e '.[{extra}]'")
    BUILD["run"](name, quick=True, root=tmp_path)
    files, proof = EXPECTED[name]
    out = tmp_path / name
    for file in files:
        assert (out / file).is_file() and (out / file).stat().st_size > 0, file
    text = (out / "output.txt").read_text()
    # on failure, the lines that start like the proof (the whole output is too long to show)
    assert proof in text, [line for line in text.splitlines() if line.startswith(proof.split()[0])]
    assert str(tmp_path) not in text  # temporary paths are replaced by OUT
    assert not (data_root / "cache").exists()  # the tutorials' caches stay in private data dirs


def test_a_failing_tutorial_stops_the_build(tmp_path, monkeypatch):
    monkeypatch.setitem(BUILD["TUTORIALS"], "broken", ("backprop_tutorial.py", ["--no-such-option"], []))
    with pytest.raises(SystemExit, match="tutorial broken"):
        BUILD["run"]("broken", root=tmp_path)


def test_unknown_tutorial_names_are_refused():
    with pytest.raises(SystemExit, match="unknown tutorial"):
        BUILD["main"](["no-such-tutorial"])


@pytest.mark.parametrize("script,args,message", [
    ("optimizers.py", ["--out", "no-such-folder/x.png"], "the folder no-such-folder does not exist"),
    ("cat_recipes.py", ["--only", "gd,nope"], "unknown recipe nope; choose from gd, momentum"),
])
def test_example_scripts_refuse_bad_options_in_one_line(tmp_path, script, args, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_example_help_texts_are_whole_sentences():
    for path in sorted((ROOT / "examples").glob("*.py")):
        first_paragraph = runpy.run_path(str(path), run_name="not_main")["__doc__"].split("\n\n")[0]
        assert first_paragraph.rstrip().endswith((".", ")", ":")), path.name
