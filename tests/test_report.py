"""The run report (report.html), `glassnet report`, and `glassnet evaluate` with --json/--report."""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import glassnet as gn
from conftest import run_cli
from glassnet import metrics
from glassnet.report.text import summary_rows
from glassnet.runs import RunConfig, train_run

TRAIN_ARGS = ["train", "--hidden", "5", "--epochs", "4", "--batch-size", "64", "--validation-split",
              "0.2", "--lr-decay", "0.9", "--seed", "3", "--quiet"]


class PageParser(HTMLParser):
    """Collects tags, attribute values, image sources and tables (rows of cell text)."""

    def __init__(self):
        super().__init__()
        self.tags, self.urls, self.images, self.tables = set(), [], [], []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href", "action", "data")]
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse(path: Path) -> tuple[str, PageParser]:
    text = path.read_text()
    parser = PageParser()
    parser.feed(text)
    return text, parser


@pytest.fixture(scope="module")
def cat_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("runs") / "cats-small"
    result = run_cli(*TRAIN_ARGS, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'report.html'}" in result.stdout
    return out


def test_report_is_self_contained(cat_run):
    text, page = parse(cat_run / "report.html")
    assert len(page.images) == 4  # curves, confusion matrix, gallery, one prediction
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
            img.verify()
    assert all(url.startswith("data:") for url in page.urls)
    assert not re.search(r"https?://", text)
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "default-src 'none'" in text  # the CSP forbids any request


def test_report_summary_and_tables(cat_run, cats):
    text, page = parse(cat_run / "report.html")
    run = dict(row for row in page.tables[0] if len(row) == 2)
    assert run["command"] == "glassnet " + " ".join(TRAIN_ARGS + ["--out", str(cat_run)])
    assert run["sizes"] == "train 168, validation 41, test 50"
    assert run["seed"] == "3" and run["glassnet version"] == gn.__version__
    assert run["optimizer"] == "sgd" and "lr 0.01" in run["hyperparameters"]
    assert "batch size 64" in run["hyperparameters"] and "lr decay 0.9" in run["hyperparameters"]
    assert run["data set"].startswith("cats: images (3, 64, 64)")
    assert "resumed" not in run  # an unbroken run

    saved = json.loads((cat_run / "metrics.json").read_text())
    final = {row[0]: row[1:] for row in page.tables[1][1:]}
    for split in ("train", "validation", "test"):
        assert final[split] == [f"{saved[split]['loss']:.4f}", f"{saved[split]['accuracy']:.4f}"]

    model = gn.load_model(cat_run / "model.glassnet")
    rows, totals = summary_rows(model)
    assert page.tables[2][1:] == [*rows, ["Total", "", f"{totals['total']:,}"]]

    # per-class table and misclassified table, recomputed independently from the saved model
    y_pred = model.predict_classes(cats["test"].x)
    report = metrics.classification_report(cats["test"].y, y_pred, ["non-cat", "cat"])
    per_class = {row[0]: row[1:] for row in page.tables[3][1:]}
    for c in report["per_class"]:
        assert per_class[c["class"]] == [f"{c['precision']:.4f}", f"{c['recall']:.4f}",
                                         f"{c['f1']:.4f}", str(c["support"])]
    assert per_class["macro avg"][2] == f"{report['macro_avg']['f1']:.4f}"
    wrong = np.flatnonzero(y_pred != cats["test"].y)
    assert [row[0] for row in page.tables[4][1:]] == [f"#{i}" for i in wrong]
    assert f"{len(wrong)} of 50 images misclassified" in text


def test_glassnet_report_rebuilds_the_same_report(cat_run):
    original = (cat_run / "report.html").read_text()
    (cat_run / "report.html").unlink()
    result = run_cli("report", str(cat_run))
    assert result.returncode == 0, result.stderr
    rebuilt = (cat_run / "report.html").read_text()

    def strip_footer(text):
        return re.sub(r"<footer>.*</footer>", "", text)

    assert strip_footer(rebuilt) == strip_footer(original)


def test_glassnet_report_on_a_folder_that_is_not_a_run(tmp_path):
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"glassnet report: error: {str(tmp_path)!r} is not a run directory: "
                                     "it has no run.json (give the folder that 'glassnet train --out' "
                                     "wrote)")


def test_glassnet_report_on_a_file_names_its_folder(cat_run):
    result = run_cli("report", str(cat_run / "model.glassnet"))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"glassnet report: error: {str(cat_run / 'model.glassnet')!r} is a "
                                     "file; give the run directory that 'glassnet train --out' wrote "
                                     f"(it holds run.json), e.g. {str(cat_run)!r}")


def test_glassnet_report_on_a_file_outside_a_run_suggests_no_folder(tmp_path):
    """`glassnet report photos/img.png` suggested 'photos', which is no run either."""
    from glassnet.report.run_files import read_run

    (image := tmp_path / "img.png").write_bytes(b"not a run")
    with pytest.raises(gn.errors.ConfigError) as info:
        read_run(image)
    assert str(info.value) == (f"{str(image)!r} is a file; give the run directory that 'glassnet train "
                               "--out' wrote (it holds run.json)")


def test_evaluate_refuses_a_seed_it_would_ignore(cat_run):
    """--seed only chooses an image folder's --test-split: on the cat set it was ignored."""
    result = run_cli("evaluate", str(cat_run), "--seed", "3")
    assert result.returncode == 1
    assert ("--seed chooses the images of an image folder's --test-split; the data set 'cats' has a "
            "test split of its own: drop --seed") in result.stderr


def test_glassnet_report_on_a_search_or_fold_folder_says_where_the_runs_are(tmp_path):
    from glassnet.errors import ConfigError
    from glassnet.report.run_files import read_run

    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "search.journal").write_text("")
    with pytest.raises(ConfigError, match="it is a search's folder: each trial's run is in "
                                          "trials/NNNN/, and 'glassnet search --resume --out .* "
                                          "--final' trains its best configuration"):
        read_run(tmp_path / "search")  # no report yet (--no-plot, or the search is not over)
    (tmp_path / "search" / "search_report.html").write_text("")
    with pytest.raises(ConfigError, match="it is a search's folder: its report is search_report.html, "
                                          "each trial's run is in trials/NNNN/"):
        read_run(tmp_path / "search")
    for k in (1, 2):
        (tmp_path / "trial" / f"fold-{k}").mkdir(parents=True)
        (tmp_path / "trial" / f"fold-{k}" / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match="it holds a trial's run on each fold: give one of fold-1, fold-2"):
        read_run(tmp_path / "trial")


@pytest.mark.parametrize("command", [["evaluate", "SEARCH"], ["predict", "SEARCH", "x.png"],
                                     ["info", "SEARCH"], ["export", "SEARCH", "--onnx", "x.onnx"]])
def test_a_model_command_given_a_search_folder_says_where_its_model_is(tmp_path, capsys, command):
    """It said only "... is a directory, not a model file"; `glassnet report` says what a
    search's folder holds, and so do these now: its --final run, or how to train one."""
    from glassnet.cli import main

    search = tmp_path / "search"
    search.mkdir()
    (search / "search.json").write_text("{}")  # its study in a database: the command needs --storage
    (search / "search_report.html").write_text("")
    args = [str(search) if arg == "SEARCH" else arg for arg in command]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"glassnet {command[0]}: error: {search} is not a model file: it is a search's folder: its "
        f"report is search_report.html, each trial's run is in trials/NNNN/, and 'glassnet search "
        f"--resume --out {search} --final' (with the search's --storage) trains its best "
        f"configuration into {search / 'final'}\n")
    (search / "final").mkdir()
    assert main(args) == 1
    assert (f"and the run of its best configuration, which --final trained, is {search / 'final'}\n"
            in capsys.readouterr().err)


def test_evaluate_prints_table_and_json(cat_run, cats):
    model_file = str(cat_run / "model.glassnet")
    table = run_cli("evaluate", model_file)
    assert table.returncode == 0, table.stderr
    for needle in ("class", "precision", "recall", "f1-score", "support", "macro avg",
                   "rows: true / columns: predicted"):
        assert needle in table.stdout
    result = run_cli("evaluate", model_file, "--json")
    data = json.loads(result.stdout)
    saved = json.loads((cat_run / "metrics.json").read_text())["test"]
    assert data["loss"] == pytest.approx(saved["loss"], rel=1e-6)
    assert data["accuracy"] == pytest.approx(saved["accuracy"])
    assert data["samples"] == 50 and sum(map(sum, data["confusion_matrix"])) == 50
    assert [c["class"] for c in data["per_class"]] == ["non-cat", "cat"]
    assert set(data["macro_avg"]) == {"precision", "recall", "f1"} and "binary" in data
    y_pred = gn.load_model(model_file).predict_classes(cats["test"].x)
    assert data["misclassified"] == np.flatnonzero(y_pred != cats["test"].y).tolist()


def test_evaluate_writes_a_report(cat_run, tmp_path):
    out = tmp_path / "eval.html"
    result = run_cli("evaluate", str(cat_run / "model.glassnet"), "--split", "train", "--report", str(out))
    assert result.returncode == 0, result.stderr
    text, page = parse(out)
    assert len(page.images) == 3 and all(src.startswith("data:image/png") for src in page.images)
    # the run's own training images: its --validation-split 0.2 held 41 of the 209 out
    assert "Confusion matrix (cats/train, 168 images)" in text
    assert ["split", "train (--validation-split 0.2 --seed 3)"] in page.tables[0]
    assert 'id="warning"' not in text


def test_evaluate_refuses_to_write_over_any_runs_report(cat_run, tmp_path):
    """Only the evaluated model's own run was protected: another run's report.html was replaced."""
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "run.json").write_text("{}")
    (other / "report.html").write_text("the other run's report")
    result = run_cli("evaluate", str(cat_run / "model.glassnet"), "--report", str(other / "report.html"))
    assert result.returncode == 1
    assert f"--report {other / 'report.html'} is a training run's report; writing there would " \
           "replace it" in result.stderr
    assert (other / "report.html").read_text() == "the other run's report"
    result = run_cli("evaluate", str(cat_run / "model.glassnet"), "--report", str(cat_run / "report.html"))
    assert "is the training run's own report" in result.stderr
    search = tmp_path / "search"  # nor a search's page
    search.mkdir()
    (search / "search.json").write_text("{}")
    result = run_cli("evaluate", str(cat_run / "model.glassnet"), "--report",
                     str(search / "search_report.html"))
    assert result.returncode == 1 and "is a search's report; writing there would replace it" in result.stderr


def test_an_evaluation_page_shows_the_warnings_the_terminal_did(tmp_path):
    """A page that is mailed around must not present training images as an unseen test set."""
    out, env = _tiny_colour_run(tmp_path, "--test-split", "0.25")
    page_path = tmp_path / "eval.html"
    result = run_cli("evaluate", str(out), "--test-split", "0.5", "--report", str(page_path), env=env)
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "holds images it was trained on" in line)
    text, page = parse(page_path)
    assert 'id="warning"' in text and html_escape(warning.split("warning: ", 1)[1]) in text
    assert ["split", "test (--test-split 0.5 --seed 0)"] in page.tables[0]


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


@pytest.mark.filterwarnings("ignore::glassnet.errors.CollapsedModelWarning")  # 1-2 epochs of 2 units
def test_train_run_report_can_be_turned_off(tmp_path, cats):
    config = RunConfig(hidden=[2], epochs=1, out=str(tmp_path / "r"), extra={"report": False})
    train_run(config, verbose=0, data=cats)
    assert not (tmp_path / "r" / "report.html").exists()
    assert (tmp_path / "r" / "model.glassnet").exists()


@pytest.mark.filterwarnings("ignore::glassnet.errors.CollapsedModelWarning")  # 1 epoch of 2 units
def test_a_run_started_from_python_says_so_and_one_that_recorded_no_command_says_not_recorded(tmp_path,
                                                                                             cats):
    """A run without a recorded command was credited to the Python API, also when an older
    glassnet started it from the command line and recorded none."""
    from glassnet.report.run_report import write_run_report
    from glassnet.run_records import PYTHON_API_COMMAND

    out = tmp_path / "r"
    train_run(RunConfig(hidden=[2], epochs=1, out=str(out)), verbose=0, data={"train": cats["train"]})
    record = json.loads((out / "run.json").read_text())
    assert record["config"]["extra"]["command"] == PYTHON_API_COMMAND
    _, page = parse(out / "report.html")
    assert dict(r for r in page.tables[0] if len(r) == 2)["command"] == PYTHON_API_COMMAND
    del record["config"]["extra"]["command"]  # as an older glassnet wrote it
    (out / "run.json").write_text(json.dumps(record))
    write_run_report(out)
    _, page = parse(out / "report.html")
    assert dict(r for r in page.tables[0] if len(r) == 2)["command"] == "not recorded"


def test_report_lists_the_options_that_shape_the_model_and_its_training(tmp_path, cats):
    config = RunConfig(hidden=[4], epochs=2, validation_split=0.2, augment="flip",
                       out=str(tmp_path / "r"),
                       extra={"model_options": {"init": "he_normal", "dropout": 0.2, "batchnorm": True},
                              "normalize": True, "early_stopping": 3})
    train_run(config, verbose=0, data=cats)
    _, page = parse(tmp_path / "r" / "report.html")
    row = dict(r for r in page.tables[0] if len(r) == 2)["hyperparameters"]
    for shown in ("init he_normal", "dropout 0.2", "batchnorm,", "augment flip", "normalize",
                  "early stopping patience 3"):
        assert shown in row, (shown, row)
    assert "dampening" not in row  # an optimizer's settings at their defaults are not listed


@pytest.mark.filterwarnings("ignore::glassnet.errors.CollapsedModelWarning")  # 1-2 epochs of 2 units
@pytest.mark.parametrize("weight_decay, shown", [(None, "weight decay 0.01"), (0.0, None)])
def test_report_shows_the_weight_decay_the_optimizer_applied(tmp_path, cats, weight_decay, shown):
    config = RunConfig(hidden=[2], epochs=1, optimizer="adamw", weight_decay=weight_decay,
                       out=str(tmp_path / "r"))
    train_run(config, verbose=0, data={"train": cats["train"]})
    _, page = parse(tmp_path / "r" / "report.html")
    row = dict(r for r in page.tables[0] if len(r) == 2)["hyperparameters"]
    assert (shown in row) if shown else ("weight decay" not in row), row


@pytest.mark.filterwarnings("ignore::glassnet.errors.CollapsedModelWarning")  # 1-2 epochs of 2 units
def test_report_for_a_run_without_validation_or_test(tmp_path, cats):
    config = RunConfig(hidden=[2], epochs=2, out=str(tmp_path / "r"))
    train_run(config, verbose=0, data={"train": cats["train"]})
    text, page = parse(tmp_path / "r" / "report.html")
    assert "Confusion matrix (cats/train, 209 images)" in text
    assert "(Python API" in text  # no command line recorded
    assert "These are the training images" in text and "not how it does on new images" in text


def test_a_folder_trained_whole_is_reported_as_its_training_images(tmp_path, monkeypatch):
    from test_data_folder import two_classes

    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    photos = two_classes(tmp_path / "sub", n=4)
    config = RunConfig(dataset=str(photos), image_size=8, hidden=[3], epochs=1, out=str(tmp_path / "r"))
    train_run(config, verbose=0)
    text, _ = parse(tmp_path / "r" / "report.html")
    assert "Confusion matrix (sub/train, 8 images)" in text and "These are the training images" in text


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_report_of_a_run_that_diverged_in_its_first_epoch(tmp_path, cats):
    config = RunConfig(hidden=[7], epochs=2, lr=1e30, batch_size=16, out=str(tmp_path / "r"))
    result = train_run(config, verbose=0, data=cats)
    assert result.error is not None and len(result.history) == 0
    text, page = parse(tmp_path / "r" / "report.html")
    assert "No epoch was completed" in text
    assert len(page.images) == 3  # no curves; confusion matrix, gallery, one prediction


def test_a_run_with_non_finite_numbers_is_strict_json_and_still_reported(cat_run, tmp_path):
    import math
    import shutil

    from glassnet._files import write_json
    from glassnet.report.run_files import read_run

    run = Path(shutil.copytree(cat_run, tmp_path / "run"))
    history = json.loads((run / "history.json").read_text())
    history["val_loss"][1] = math.nan
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["test"]["loss"] = math.inf
    write_json(run / "history.json", history)
    write_json(run / "metrics.json", metrics)
    assert "NaN" not in (run / "history.json").read_text()
    assert '"loss": null' in (run / "metrics.json").read_text()

    files = read_run(run)
    assert math.isnan(files["history"]["val_loss"][1]) and math.isnan(files["metrics"]["test"]["loss"])
    assert files["history"]["val_loss"][0] == history["val_loss"][0]
    result = run_cli("report", str(run))
    assert result.returncode == 0, result.stderr
    assert "nan" in (run / "report.html").read_text()


def test_incomplete_or_damaged_run_folders_are_clear_errors(tmp_path):
    from glassnet.errors import ConfigError
    from glassnet.report.run_files import read_run

    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"history.json is missing; the run is incomplete"):
        read_run(tmp_path)
    (tmp_path / "history.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"history.json is not valid JSON"):
        read_run(tmp_path)
    (tmp_path / "history.json").write_text("[]")
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"history.json must hold a JSON object, not list"):
        read_run(tmp_path)
    (tmp_path / "history.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"run.json has no 'config' object"):
        read_run(tmp_path)
    (tmp_path / "run.json").write_text('{"config": {}}')
    # hand-edited numbers: a traceback in the plots or tables before
    for name, content, message in (
            ("history.json", '{"loss": ["x"]}', r"history.json: 'loss' must be a list of numbers"),
            ("history.json", '{"loss": 3}', r"history.json: 'loss' must be a list of numbers"),
            ("metrics.json", '{"test": {"accuracy": "x"}}',
             r"metrics.json: the metrics of 'test' must be numbers"),
            ("metrics.json", '{"seconds": "x"}',
             r"metrics.json: seconds = 'x', which is not a number or null")):
        (tmp_path / "history.json").write_text("{}")
        (tmp_path / "metrics.json").write_text("{}")
        (tmp_path / name).write_text(content)
        with pytest.raises(ConfigError, match=message + "; the run files are damaged"):
            read_run(tmp_path)


def test_report_on_a_finished_run_without_its_run_json_says_resume_rewrites_it(cat_run, tmp_path):
    """A finished run keeps its checkpoint: "its training was interrupted" was wrong."""
    import shutil

    from glassnet.errors import ConfigError
    from glassnet.report.run_files import read_run

    run = shutil.copytree(cat_run, tmp_path / "run")
    (run / "run.json").unlink()
    with pytest.raises(ConfigError, match="its run.json is missing; resuming writes the run's files "
                                          "again: glassnet train --resume "):
        read_run(run)


def test_glassnet_report_in_the_run_folder_names_the_run_and_takes_threads(cat_run):
    """`glassnet report .` made the page's title "glassnet run " and its folder "."."""
    result = run_cli("report", ".", "--threads", "1", cwd=cat_run)
    assert result.returncode == 0, result.stderr
    text, page = parse(cat_run / "report.html")
    assert f"<title>glassnet run {cat_run.name}</title>" in text
    assert ["run directory", str(cat_run.resolve())] in page.tables[0]


def test_evaluate_model_checks_label_count(cat_run, cats):
    from glassnet.errors import ShapeError
    from glassnet.report.evaluation import evaluate_model

    model = gn.load_model(cat_run / "model.glassnet")
    with pytest.raises(ShapeError, match="50 images but 49 labels"):
        evaluate_model(model, cats["test"].x, cats["test"].y[:-1])
    ev = evaluate_model(model, cats["test"].x, cats["test"].y)
    assert ev.loss == pytest.approx(json.loads((cat_run / "metrics.json").read_text())["test"]["loss"])
    np.testing.assert_allclose(ev.probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(ev.y_pred, model.predict_classes(cats["test"].x))


def test_count_puts_the_noun_in_the_right_form():
    from glassnet._text import count

    assert count(1, "epoch") == "1 epoch"
    assert count(3, "epoch") == "3 epochs" and count(0, "epoch") == "0 epochs"
    assert count("?", "epoch") == "? epochs"


# --- review fixes: a changed data set, grayscale runs, absent classes, many classes ---

def _colour_folder(root: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """An image folder of one colour per class (8x8 PNGs), easy to learn."""
    gen = np.random.default_rng(seed)
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        colour = np.array([(255 * ((k >> b) & 1)) for b in range(3)])
        for i in range(n):
            pixels = np.clip(colour + gen.normal(0, 30, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _tiny_colour_run(tmp_path: Path, *options: str) -> tuple[Path, dict[str, str]]:
    """``tmp_path/run``, one epoch on a folder of 8 red and 8 green images with ``options``,
    and the environment of its private data folder."""
    folder = _colour_folder(tmp_path / "photos", {"red": 8, "green": 8})
    out, env = tmp_path / "run", {"GLASSNET_DATA": str(tmp_path / "data")}
    result = run_cli("train", "--dataset", str(folder), "--image-size", "8", *options, "--hidden", "4",
                     "--epochs", "1", "--seed", "0", "--quiet", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    return out, env


def test_glassnet_report_says_when_the_data_set_changed_since_training(tmp_path):
    folder = _colour_folder(tmp_path / "photos", {"red": 20, "green": 20, "blue": 20})
    out = tmp_path / "run"
    env = {"GLASSNET_DATA": str(tmp_path / "data")}
    result = run_cli("train", "--dataset", str(folder), "--image-size", "8", "--test-split", "0.25",
                     "--hidden", "8", "--epochs", "1", "--lr", "0.0001", "--seed", "0", "--quiet",
                     "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "does not match" not in (out / "report.html").read_text()
    result = run_cli("report", str(out), env=env)  # the same data: no warning
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    saved = json.loads((out / "metrics.json").read_text())
    tampered = {**saved, "test": {**saved["test"], "accuracy": 1.0 - saved["test"]["accuracy"]}}
    (out / "metrics.json").write_text(json.dumps(tampered))  # as if the model file were replaced
    result = run_cli("report", str(out), env=env)
    assert "glassnet report: warning: photos/test gives accuracy" in result.stderr, result.stderr
    (out / "metrics.json").write_text(json.dumps(saved))
    # one image replaced by another of the same size: the split sizes cannot tell
    first, second = sorted((folder / "blue").iterdir())[:2]
    second.write_bytes(first.read_bytes())
    result = run_cli("report", str(out), env=env)
    assert ("glassnet report: warning: its image folder's files are not those it was trained on "
            "(added, removed or changed)") in result.stderr, result.stderr
    for name in ("red", "green"):  # the folder changes: other splits, other test images
        for path in sorted((folder / name).iterdir())[:12]:
            path.unlink()
    result = run_cli("report", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("glassnet report: warning: its splits had")
    assert "its splits had train 45, test 15 images and have train 27, test 9 now" in result.stderr
    text = (out / "report.html").read_text()
    assert "Warning: this report does not match the run" in text


def test_the_validation_split_has_one_name_in_the_report_and_in_evaluate(tmp_path):
    """The report said photos/held-out/validation, evaluate --split validation photos/validation."""
    out, env = _tiny_colour_run(tmp_path, "--validation-split", "0.25")
    assert "Confusion matrix (photos/validation, 4 images)" in (out / "report.html").read_text()
    result = run_cli("evaluate", str(out), "--split", "validation", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("photos/validation (4 images)")


def test_glassnet_report_rebuilds_a_grayscale_run(tmp_path, monkeypatch):
    from glassnet import data as gdata

    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))  # the folder's cache: never the shared data
    folder = _colour_folder(tmp_path / "photos", {"dark": 12, "light": 12})
    data = gdata.load(str(folder), image_size=8, color_mode="grayscale", test_split=0.25, seed=0)
    assert data["train"].x.shape[1] == 1
    out = tmp_path / "run"
    train_run(RunConfig(dataset=str(folder), image_size=8, test_split=0.25, hidden=[4], epochs=1,
                        out=str(out)), verbose=0, data=data)
    result = run_cli("report", str(out), env={"GLASSNET_DATA": str(tmp_path / "data")})
    assert result.returncode == 0, result.stderr
    assert "does not match" not in (out / "report.html").read_text()


def test_glassnet_report_on_a_missing_folder(tmp_path):
    result = run_cli("report", str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert result.stderr.strip() == (f"glassnet report: error: {str(tmp_path / 'nowhere')!r} does "
                                     "not exist; give the folder that 'glassnet train --out' wrote")


def test_a_class_with_no_image_and_no_prediction_has_no_scores_in_the_tables():
    from glassnet.report.text import classification_rows

    report = metrics.classification_report([0, 0, 2, 2], [0, 0, 2, 0], ["a", "b", "c"])
    rows = {row[0]: row[1:] for row in classification_rows(report)}
    assert rows["b"] == ["-", "-", "-", "0"]  # not 0.0000, which macro avg leaves out
    assert rows["a"][0] == "0.6667" and rows["c"] == ["1.0000", "0.5000", "0.6667", "2"]


def test_a_confusion_matrix_too_wide_for_the_terminal_lists_the_top_confusions():
    """55 classes made lines of 1,571 characters."""
    from glassnet.report.text import WIDEST_TABLE, confusion_table

    small = confusion_table([[2, 1], [0, 3]], ["cat", "dog"])
    assert small.splitlines()[0].split()[-2:] == ["cat", "dog"]  # the matrix itself
    n = 30
    matrix = np.eye(n, dtype=int) * 3
    matrix[0, 7], matrix[1, 9] = 2, 1
    names = [f"class_{k:02d}" for k in range(n)]
    wide = confusion_table(matrix.tolist(), names)
    lines = wide.splitlines()
    assert lines[:2] == ["The confusion matrix of 30 classes is too wide to print (--report draws it, "
                         "--json gives it);", "the most frequent confusions:"]
    assert max(map(len, lines)) <= WIDEST_TABLE
    assert lines[4].split() == ["class_00", "class_07", "2", "0.400"]
    assert lines[5].split() == ["class_01", "class_09", "1", "0.250"]
    assert confusion_table(np.eye(n, dtype=int).tolist(), names).endswith(
        "no image was confused with another class.")


def test_many_classes_get_a_table_of_the_most_frequent_confusions(rng):
    from glassnet.report.evaluation import Evaluation
    from glassnet.report.html import evaluation_sections

    n = 60
    y_true = np.repeat(np.arange(n), 3)
    y_pred = y_true.copy()
    y_pred[[0, 1, 5]] = [7, 7, 9]  # two of class 0 taken for 7, one of class 1 for 9
    probs = np.eye(n)[y_pred]
    names = [f"class_{k:03d}_golden_retriever_puppy" for k in range(n)]
    ev = Evaluation(rng.integers(0, 256, (len(y_true), 3, 4, 4), dtype=np.uint8), y_true, y_pred,
                    probs, names, None, "many/test")
    text = "".join(evaluation_sections(ev))
    assert "the most frequent confusions" in text
    page = PageParser()
    page.feed(text)
    confusions = next(t for t in page.tables if t[0][0] == "true class")
    assert confusions[1:] == [[names[0], names[7], "2", "0.667"], [names[1], names[9], "1", "0.333"]]
    assert "3 of 180 images misclassified (number under each image" in text


def _resumed_run(cats, out: Path, first_threads: int) -> dict[str, str]:
    """The report's run table of a 3-epoch run trained on ``first_threads`` threads, stopped
    (as by Ctrl-C) after epoch 1 and resumed on 1 thread."""
    import warnings

    from glassnet import backend
    from glassnet.errors import GlassnetWarning, TrainingInterruptedError
    from glassnet.io.checkpoint import StopRequest
    from glassnet.runs import resume_run
    from test_resume_data import StopAfterFirstEpoch

    stop = StopRequest()
    with backend.using_threads(first_threads), pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(hidden=[2], epochs=3, out=str(out)), [StopAfterFirstEpoch(stop)], verbose=0,
                  data=cats, stop=stop)
    with backend.using_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", GlassnetWarning)  # other threads: test_checkpoint tests it
        resume_run(out, verbose=0, data=cats)
    _, page = parse(out / "report.html")
    return dict(row for row in page.tables[0] if len(row) == 2)


@pytest.mark.parametrize("first_threads, resumed", [
    (2, "after epoch 1 (glassnet train --resume): epoch 1 ran on 2 threads, epochs 2-3 on 1 thread, "
        "so it rounds differently from an unbroken run of the command above"),
    (1, "after epoch 1 (glassnet train --resume): every epoch ran on 1 thread, so it continued "
        "exactly: an unbroken run of the command above on 1 thread gives the same numbers"),
], ids=["other-threads", "same-threads"])
def test_the_report_of_a_resumed_run_says_where_it_was_resumed_and_on_what(cats, tmp_path, first_threads,
                                                                          resumed):
    """It said nothing: the command shown, rerun unbroken, gave other numbers without a hint."""
    run = _resumed_run(cats, tmp_path / "r", first_threads)
    assert run["resumed"] == resumed
    assert list(run).index("resumed") == list(run).index("command") + 1


def test_glassnet_report_reads_a_run_json_without_sessions_and_refuses_damaged_ones(cat_run, tmp_path):
    """A run.json written before sessions were recorded is reported (as an unbroken run);
    damaged sessions are one clear error."""
    import shutil

    from glassnet._files import write_json

    run = Path(shutil.copytree(cat_run, tmp_path / "run"))
    saved = json.loads((run / "run.json").read_text())
    assert saved.pop("sessions")[0]["from_epoch"] == 0
    write_json(run / "run.json", saved)
    result = run_cli("report", str(run))
    assert result.returncode == 0, result.stderr
    assert "resumed" not in dict(row for row in parse(run / "report.html")[1].tables[0] if len(row) == 2)
    write_json(run / "run.json", {**saved, "sessions": [{"from_epoch": -1}]})
    result = run_cli("report", str(run))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "run.json: its training sessions are damaged (session 1 starts after no whole number" \
        in result.stderr


def test_evaluate_model_adds_the_l2_term_and_drops_file_names_that_are_not_one_per_image(rng):
    """The loss is model.evaluate's, L2 term included; files that are not one per image (an
    info["files"] of another subset) would name the wrong images, so there are none."""
    from glassnet.report.evaluation import evaluate_model

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(1, 2, 2), seed=0)
    model.compile(loss="categorical_crossentropy", reg=5.0)
    x, y = rng.integers(0, 256, (4, 1, 2, 2)).astype(np.float64), np.array([0, 1, 1, 0])
    ev = evaluate_model(model, x, y, files=["a.png", "b.png", "c.png"])
    assert model.regularization_loss() > 0.1
    assert ev.loss == pytest.approx(model.evaluate(x, y)["loss"], rel=1e-6)
    assert ev.files is None and "misclassified_files" not in ev.results()
    named = evaluate_model(model, x, y, files=["a.png", "b.png", "c.png", "d.png"])
    assert named.files == ["a.png", "b.png", "c.png", "d.png"]


def test_evaluate_model_names_the_classes_it_is_given_before_the_models(rng):
    from glassnet.report.evaluation import evaluate_model

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(1, 2, 2), seed=0,
                          class_names=["a", "b"])
    x, y = rng.integers(0, 256, (4, 1, 2, 2)).astype(np.float64), np.array([0, 1, 1, 0])
    assert evaluate_model(model, x, y).class_names == ["a", "b"]
    assert evaluate_model(model, x, y, class_names=["cat", "dog"]).class_names == ["cat", "dog"]


def test_the_misclassified_table_gives_each_images_two_probabilities_and_counts_the_rest(rng):
    from glassnet.report.evaluation import Evaluation
    from glassnet.report.html import evaluation_sections, misclassified_rows

    probs = np.array([[0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.6, 0.3, 0.1]])
    ev = Evaluation(rng.integers(0, 256, (3, 3, 4, 4), dtype=np.uint8), np.array([0, 2, 0]),
                    np.array([1, 0, 0]), probs, ["a", "b", "c"], 1.0, "abc/test", ["x.png", "y.png", "z.png"])
    assert misclassified_rows(ev, 10) == [["#0", "x.png", "a", "b", "0.700", "0.200"],
                                          ["#1", "y.png", "c", "a", "0.500", "0.400"]]
    assert "more.</p>" not in "".join(evaluation_sections(ev, max_table=2))  # every one is listed
    assert "<p>… and 1 more.</p>" in "".join(evaluation_sections(ev, max_table=1))


def test_the_curves_caption_names_the_lr_line_only_when_the_lr_changed():
    from glassnet.report.run_report import _curves_caption

    assert "Dashed" not in _curves_caption({"loss": [1.0, 0.5], "lr": [0.01, 0.01]})
    assert "Dashed: the learning rate" in _curves_caption({"loss": [1.0, 0.5], "lr": [0.01, 0.005]})


@pytest.mark.parametrize("apart, warned", [(1, False), (2, True)])
def test_the_report_tells_float_noise_from_a_changed_model_by_images_apart(apart, warned):
    """One image apart is float noise (a borderline image can flip); two are not."""
    import warnings

    from glassnet.report.evaluation import Evaluation
    from glassnet.report.run_report import _data_changed

    y = np.zeros(10, dtype=np.int64)
    ev = Evaluation(np.zeros((10, 1, 2, 2), np.uint8), y, y, np.eye(2)[y], ["a", "b"], 0.1, "ab/test")
    files = {"run": {"config": {"dataset": "ab"}}, "metrics": {"test": {"accuracy": 1 - apart / 10}}}
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(1, 2, 2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        changed = _data_changed(files, {"test": None}, "test", ev, model)
    assert (changed is not None) is warned and len(caught) == warned
    if warned:
        assert changed.startswith(f"ab/test gives accuracy 1.0000 now, but {1 - apart / 10:.4f} when the run")


def test_evaluate_writes_a_report_named_report_html_outside_a_run(tmp_path):
    """Only a run's (or a search's) own page is refused: report.html in a folder of notes,
    or search_report.html where no search is, is any other page."""
    from glassnet.cli.evaluate import check_not_the_runs_report

    check_not_the_runs_report(str(tmp_path / "report.html"), str(tmp_path / "model.glassnet"))
    check_not_the_runs_report(str(tmp_path / "search_report.html"), str(tmp_path / "model.glassnet"))
