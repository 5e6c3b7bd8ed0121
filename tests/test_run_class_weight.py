"""``glassnet train --class-weight`` and ``extra["class_weight"]`` of a run: the weights
reach fit, the run's files record them per class, ``--resume`` keeps them, bad ones are
refused before anything of an earlier run is removed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import run_cli
from glassnet.cli import main
from glassnet.data import Dataset
from glassnet.errors import ConfigError, TrainingInterruptedError
from glassnet.io.checkpoint import StopRequest
from glassnet.io.format import load_model
from glassnet.report.text import class_weight_text
from glassnet.run_setup import class_weights_for, parse_class_weight
from glassnet.runs import RunConfig, resume_run, train_run
from glassnet.training.callbacks import Callback

CONFIG = dict(dataset="cats", model="mlp", hidden=[6], epochs=4, batch_size=32, lr=0.01,
              validation_split=0.2, seed=3, dtype="float64")


def _train(out, class_weight=None):
    extra = {"report": False, **({"class_weight": class_weight} if class_weight is not None else {})}
    return RunConfig(**CONFIG, out=str(out), extra=extra)


class StopAfter(Callback):
    def __init__(self, epoch: int, stop: StopRequest) -> None:
        self.epoch, self.stop = epoch, stop

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            self.stop.request()


def test_a_run_trains_with_its_class_weights_and_records_them(cats, tmp_path):
    plain = train_run(_train(tmp_path / "plain"), verbose=0, data=cats)
    weighted = train_run(_train(tmp_path / "w", "cat=3"), verbose=0, data=cats)
    assert weighted.history.history["loss"] != plain.history.history["loss"]
    # the same weights by index: the same run
    by_index = train_run(_train(tmp_path / "i", "1=3,0=1"), verbose=0, data=cats)
    assert by_index.history.to_dict() == weighted.history.to_dict()
    recorded = [["non-cat", 1.0], ["cat", 3.0]]
    assert weighted.metrics["class_weight"] == recorded
    assert json.loads((tmp_path / "w" / "metrics.json").read_text())["class_weight"] == recorded
    assert json.loads((tmp_path / "w" / "run.json").read_text())["config"]["extra"]["class_weight"] == "cat=3"
    assert load_model(tmp_path / "w" / "model.glassnet").training_summary["class_weight"] == recorded
    assert "class_weight" not in plain.metrics and "class_weight" not in plain.model.training_summary
    # the scores stay unweighted: evaluate's on the same weights
    assert weighted.metrics["validation"] == weighted.model.evaluate(*_validation(cats, weighted))


def _validation(cats, result):
    from glassnet.run_data import prepare_splits

    splits = prepare_splits(result.config, cats)
    return splits["validation"].x, splits["validation"].y


def test_balanced_weights_count_the_training_split(cats, tmp_path):
    from glassnet.run_data import prepare_splits

    result = train_run(_train(tmp_path, "balanced"), verbose=0, data=cats)
    train_y = prepare_splits(result.config, cats)["train"].y
    counts = np.bincount(train_y)
    expected = len(train_y) / (2 * counts)
    assert [w for _, w in result.metrics["class_weight"]] == pytest.approx(expected.tolist(), rel=1e-15)
    assert len(train_y) < len(cats["train"])  # the validation split was left out


def test_resume_goes_on_with_the_same_class_weights(cats, tmp_path):
    straight = train_run(_train(tmp_path / "a", "balanced"), verbose=0, data=cats)
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(_train(tmp_path / "b", "balanced"), callbacks=[StopAfter(1, stop)], verbose=0,
                  data=cats, stop=stop)
    resumed = resume_run(tmp_path / "b", verbose=0, data=cats)
    assert resumed.history.to_dict() == straight.history.to_dict()
    assert resumed.metrics["class_weight"] == straight.metrics["class_weight"]
    for key, value in straight.model.get_weights().items():
        np.testing.assert_array_equal(resumed.model.get_weights()[key], value, err_msg=key)


def test_an_unfinished_runs_checkpoint_records_its_class_weights(cats, tmp_path, capsys):
    """Its loss is the weighted one: glassnet info on the checkpoint says by which weights."""
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(_train(tmp_path, "cat=3"), callbacks=[StopAfter(0, stop)], verbose=0, data=cats, stop=stop)
    checkpoint = tmp_path / "checkpoint.glassnet"
    assert not (tmp_path / "model.glassnet").exists()
    assert load_model(checkpoint).training_summary["class_weight"] == [["non-cat", 1.0], ["cat", 3.0]]
    assert main(["info", str(checkpoint)]) == 0
    assert "  class weights: non-cat 1, cat 3, in the training loss only" in capsys.readouterr().out


def test_cli_class_weight_end_to_end_and_resume_refuses_another(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--hidden", "5", "--epochs", "1", "--quiet", "--out", str(out),
                     "--class-weight", "non-cat=0.5,cat=2")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["class_weight"] == [["non-cat", 0.5], ["cat", 2.0]]
    report = (out / "report.html").read_text()
    assert "class weights</td><td>non-cat 0.5, cat 2, in the training loss only" in report
    assert ("The training loss is weighted by the class weights; the validation loss is not (nor is "
            "any score), so the two curves are not directly comparable.") in report
    info = run_cli("info", str(out))
    assert "  class weights: non-cat 0.5, cat 2, in the training loss only" in info.stdout
    # --resume takes the run's own class weights: another is refused, as any training option
    result = run_cli("train", "--resume", str(out), "--class-weight", "balanced")
    assert result.returncode == 1 and "drop --class-weight" in result.stderr


@pytest.mark.parametrize("text, match", [
    ("dog=2", r"--class-weight dog=2: the data set has no class 'dog'; its classes are 0=non-cat, 1=cat"),
    ("2=1", r"no class '2'; its classes are 0=non-cat, 1=cat"),
    ("cat=2,1=3", r"class 'cat' is given twice \(by name and by index\)"),
    ("cat=0,non-cat=0", r"every training sample weight 0"),
    # only ASCII digits are an index: int() refuses "²" (isdigit's) and reads "١" as 1
    ("²=2", r"--class-weight ²=2: the data set has no class '²'; its classes are 0=non-cat, 1=cat"),
    ("١=2", r"the data set has no class '١'"),
    # finite, but infinite in the run's float32: refused before training, not in its middle
    ("cat=1e39", r"--class-weight cat=1e39: class_weight's weight 1e\+39 for class 'cat' is too large "
                 r"for the model's float32 \(at most 3.4e\+38\)"),
])
def test_class_weights_the_data_set_cannot_take_are_refused_before_a_run_is_replaced(cats, tmp_path,
                                                                                       text, match, capsys):
    (tmp_path / "history.json").write_text("{}")  # an earlier run's file: kept
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path), "--overwrite",
                 "--class-weight", text]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(match, err), err
    assert (tmp_path / "history.json").is_file()


@pytest.mark.parametrize("text, match", [
    ("cat", r"expected 'balanced', or NAME=WEIGHT pairs .* 'cat' is not"),
    ("cat=x", r"'cat=x' is not"),
    ("cat=-1", r"'cat=-1' is not"),
    ("cat=nan", r"'cat=nan' is not"),
    ("cat=inf", r"'cat=inf' is not"),
    ("=2", r"'=2' is not"),
    ("cat=1,,", r"'' is not"),
    ("cat=1,cat=2", r"class 'cat' is given twice"),
    ("non,cat=2", r"'non' is not; a class whose name holds a comma is given by its index$"),
])
def test_bad_class_weight_text_is_refused_at_once(text, match, tmp_path, capsys):
    with pytest.raises(ConfigError, match=match):
        parse_class_weight(text)
    assert main(["train", "--out", str(tmp_path / "r"), "--class-weight", text]) == 1
    assert f"--class-weight {text}:" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_names_come_before_indices_and_balanced_names_a_class_without_samples():
    train = Dataset(np.zeros((4, 1, 2, 2), np.uint8), np.array([0, 0, 1, 1]), ["1", "0", "empty"])
    config = RunConfig(extra={"class_weight": "0=3"})
    np.testing.assert_array_equal(class_weights_for(config, train), [1, 3, 1])  # the class named "0"
    with pytest.raises(ConfigError, match=r"--class-weight balanced: .* class 'empty' has none"):
        class_weights_for(RunConfig(extra={"class_weight": "balanced"}), train)
    assert class_weights_for(RunConfig(), train) is None


@pytest.mark.parametrize("text", ["0=2", "1=5,0=1", "01=2"])
def test_with_classes_named_by_numbers_a_number_that_is_no_name_is_refused(text):
    """Folders 1, 2, 3: "0=2" would weigh class "1" (index 0), and whoever writes "0=2,1=5"
    means indices while "1=5" alone is the class named 1: a number that is no name is
    refused rather than guessed at; one that is a name is that class."""
    train = Dataset(np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 1, 2]), ["1", "2", "3"])
    expected = (r"^--class-weight .*: '0?[0-9]' is not a class name, and the class names here are "
                r"numbers: give a class by its name .*; the classes are 0=1, 1=2, 2=3$")
    with pytest.raises(ConfigError, match=expected):
        class_weights_for(RunConfig(extra={"class_weight": text}), train)
    np.testing.assert_array_equal(class_weights_for(RunConfig(extra={"class_weight": "1=5,3=2"}), train),
                                  [5, 1, 2])  # names, as they are
    mixed = Dataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 1]), ["cat", "7"])
    with pytest.raises(ConfigError, match="the class names here are numbers"):
        class_weights_for(RunConfig(extra={"class_weight": "1=2"}), mixed)


def test_a_class_weight_piece_without_a_weight_lists_the_classes_once_they_are_known():
    train = Dataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 1]), ["non,cat", "cat"])
    with pytest.raises(ConfigError, match=r"'non' is not; a class whose name holds a comma is given by its "
                       r"index \(the classes are 0=non,cat, 1=cat\)$"):
        class_weights_for(RunConfig(extra={"class_weight": "non,cat=2"}), train)
    np.testing.assert_array_equal(class_weights_for(RunConfig(extra={"class_weight": "0=2"}), train), [2, 1])


def test_the_recorded_weights_are_shown_only_when_well_formed():
    assert class_weight_text([["a", 0.7636], ["b", 2]], "balanced") == \
        "a 0.764, b 2 (balanced), in the training loss only"
    for bad in (None, [], {"a": 1}, [["a"]], [["a", "1"]], [[1, 2.0]], [["a", True]]):
        assert class_weight_text(bad) is None


def test_a_saved_configuration_with_a_damaged_class_weight_is_named():
    with pytest.raises(ConfigError, match="class_weight = 5, which is neither a text nor a JSON object"):
        RunConfig.from_dict({"extra": {"class_weight": 5}})
