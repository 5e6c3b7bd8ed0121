"""k-fold cross-validated searches: the folds, the mean curve, the best epoch, the final run."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from conftest import ROOT, run_cli
from glassnet.errors import ConfigError
from glassnet.runs import RunConfig
from glassnet.search_config import SearchConfig, final_config
from glassnet.search_scoring import best_epoch, mean_curve, smooth_curve, validation_splits
from glassnet.search_space import parse_param
from glassnet.split import stratified_folds

# -- the folds -------------------------------------------------------------------------------


def test_stratified_folds_cover_the_data_once_and_keep_the_class_mix():
    y = np.array([0] * 23 + [1] * 9 + [2] * 5)
    folds = stratified_folds(y, 4, np.random.default_rng(0))
    assert len(folds) == 4
    together = np.concatenate(folds)
    assert sorted(together) == list(range(len(y)))  # disjoint and complete
    assert all(list(f) == sorted(f) for f in folds)
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for cls in (0, 1, 2):
        counts = [int(np.sum(y[f] == cls)) for f in folds]
        assert max(counts) - min(counts) <= 1 and min(counts) >= 1


def test_stratified_folds_are_seeded():
    y = np.arange(40) % 2
    same = [stratified_folds(y, 5, np.random.default_rng(3)) for _ in range(2)]
    other = stratified_folds(y, 5, np.random.default_rng(4))
    assert all(np.array_equal(a, b) for a, b in zip(*same, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(same[0], other, strict=True))


@pytest.mark.parametrize("folds", [1, 0, -3, 2.5, True, "5"])
def test_fewer_than_two_folds_is_an_error(folds):
    with pytest.raises(ConfigError, match=re.escape(f"folds must be an integer of at least 2 "
                                                    f"(each fold is validated by a model trained "
                                                    f"on the others), got {folds!r}")):
        stratified_folds(np.arange(10) % 2, folds, np.random.default_rng(0))


def test_more_folds_than_samples_of_a_class_names_the_rarest_class(cats):
    for folds in (80, 500):  # 500: non-cat (137, listed first) is short too, but cat sets the limit
        with pytest.raises(ConfigError, match=f"folds {folds} needs at least {folds} samples of every "
                                              "class, but class 'cat' has 72; use at most 72 folds"):
            cats["train"].folds(folds)
    with pytest.raises(ConfigError, match="class 1 has 2"):
        stratified_folds(np.array([0, 0, 0, 1, 1]), 3, np.random.default_rng(0))
    # fewer folds cannot help a class of one sample: the message says what can
    with pytest.raises(ConfigError, match=r"class 1 has 1; add samples to it \(2 folds are the fewest\)"):
        stratified_folds(np.array([0, 0, 0, 1]), 2, np.random.default_rng(0))


def test_dataset_folds_pair_the_rest_with_each_fold(cats):
    train = cats["train"]
    pairs = train.folds(5, seed=1)
    assert [len(fold) for _, fold in pairs] == [42, 42, 42, 42, 41]
    for rest, fold in pairs:
        assert len(rest) + len(fold) == len(train)
        assert not {x.tobytes() for x in rest.x} & {x.tobytes() for x in fold.x}
        assert 14 <= fold.class_counts()["cat"] <= 15  # 72 cats in 209 images
    assert [fold.name for _, fold in pairs][:2] == ["cats/train/fold-1-of-5", "cats/train/fold-2-of-5"]


# -- the search's configuration ---------------------------------------------------------------

def cv_config(trials: int = 2, folds: int | None = 3, epochs: int = 3, **kwargs) -> SearchConfig:
    base = RunConfig(model="mlp", hidden=[7], epochs=epochs, batch_size=64, seed=1,
                     validation_split=None if folds else 0.2)
    params = [parse_param("lr=log:1e-3:1e-1"), parse_param("weight_decay=log:1e-6:1e-2")]
    return SearchConfig(base, params, trials=trials, folds=folds, **kwargs)


@pytest.mark.parametrize("change, message", [
    ({"folds": 1}, "--folds must be an integer of at least 2"),
    ({"folds": 0}, "--folds must be an integer of at least 2"),
    ({"validation_split": 0.2}, "--folds 3 validates every trial on each fold of the training split in "
                                "turn; leave out --validation-split"),
    ({"folds": None, "validation_split": None}, "give a validation split or a number of folds"),
])
def test_search_config_validation_errors(change, message):
    config = cv_config()
    config.folds = change.get("folds", config.folds)
    config.base.validation_split = change.get("validation_split", config.base.validation_split)
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.validate()


def test_labels_and_stored_searches_without_folds():
    config = cv_config(folds=5)
    assert config.objective_label == "validation balanced accuracy (mean of 5 folds)"
    assert config.describe_validation() == "5 stratified folds of the training split"
    assert SearchConfig.from_dict(config.to_dict()) == config
    single = cv_config(folds=None)
    assert single.objective_label == "validation balanced accuracy"
    assert single.describe_validation() == "a 0.2 validation split"
    stored = single.to_dict()
    del stored["folds"], stored["smooth"]  # a search stored before --folds and --smooth existed
    assert SearchConfig.from_dict(stored) == single


def test_validation_splits_one_split_or_k_folds(cats):
    train = cats["train"]
    single = validation_splits(cv_config(folds=None), train)
    assert len(single) == 1 and (len(single[0][0]), len(single[0][1])) == (168, 41)
    folds = validation_splits(cv_config(folds=4), train)
    assert len(folds) == 4 and sum(len(fold) for _, fold in folds) == len(train)


# -- the curve and its best epoch --------------------------------------------------------------

def curve(bal, loss, acc=None, array=False):
    values = {"val_balanced_accuracy": bal, "val_accuracy": acc or bal, "val_loss": loss}
    return {k: np.asarray(v) for k, v in values.items()} if array else values


def test_mean_curve_averages_epoch_by_epoch():
    mean = mean_curve([curve([0.5, 0.6, 0.7], [1.0, 0.8, 0.6]), curve([0.7, 0.6, 0.9], [0.8, 0.8, 0.4])])
    assert mean["val_balanced_accuracy"] == pytest.approx([0.6, 0.6, 0.8])
    assert mean["val_loss"] == pytest.approx([0.9, 0.8, 0.5])
    short = mean_curve([curve([0.5, 0.6], [1.0, 0.8]), curve([0.7], [0.8])])
    assert short["val_loss"] == pytest.approx([0.9])


def test_best_epoch_ties_go_to_the_lower_loss_then_the_earlier_epoch():
    values = curve([0.5, 0.8, 0.7, 0.8, 0.8], [0.9, 0.7, 0.6, 0.5, 0.5], array=True)
    best = best_epoch(values, "val_balanced_accuracy", maximize=True)
    assert best.epoch == 4 and best.scores == {"val_balanced_accuracy": 0.8, "val_accuracy": 0.8,
                                               "val_loss": 0.5}
    assert best_epoch(values, "val_loss", maximize=False).epoch == 4
    nan = curve([0.6, float("nan")], [0.7, float("nan")], array=True)
    assert best_epoch(nan, "val_balanced_accuracy", maximize=True).epoch == 1
    assert best_epoch(nan, "val_loss", maximize=False).epoch == 1


def test_smoothing_keeps_one_lucky_epoch_from_winning():
    # A curve that swings from epoch to epoch: its single best epoch (2) is a spike.
    values = curve([0.3, 0.9, 0.4, 0.6, 0.7, 0.7, 0.7, 0.6], [1.0] * 8, array=True)
    assert best_epoch(values, "val_balanced_accuracy", maximize=True).epoch == 2
    smooth = smooth_curve(values, 3)
    assert smooth["val_balanced_accuracy"] == pytest.approx(
        [0.6, 1.6 / 3, 1.9 / 3, 1.7 / 3, 2 / 3, 0.7, 2 / 3, 0.65])  # ends: the part of the window inside
    best = best_epoch(smooth, "val_balanced_accuracy", maximize=True)
    assert best.epoch == 6 and best.scores["val_balanced_accuracy"] == pytest.approx(0.7)
    assert smooth_curve(values, 1) is values


def test_an_even_window_reaches_one_epoch_further_back_than_forward():
    """Epoch i of a window of 4 averages epochs i-2 to i+1, as NumPy's "same" convolution
    centres it, cut off at the ends."""
    values = curve([1.0, 2.0, 4.0, 8.0, 16.0], [1.0] * 5, array=True)
    smooth = smooth_curve(values, 4)
    assert smooth["val_balanced_accuracy"] == pytest.approx([1.5, 7 / 3, 15 / 4, 30 / 4, 28 / 3])
    assert smooth_curve(values, 2)["val_balanced_accuracy"] == pytest.approx([1.0, 1.5, 3.0, 6.0, 12.0])


def test_a_window_longer_than_the_curve_averages_the_whole_curve():
    # A 3-epoch trial (or one pruned early) smoothed over 10 epochs: 3 values, never 10.
    values = curve([0.2, 0.5, 0.8], [1.0] * 3, array=True)
    smooth = smooth_curve(values, 10)
    assert smooth["val_balanced_accuracy"] == pytest.approx([0.5, 0.5, 0.5])
    assert best_epoch(smooth, "val_balanced_accuracy", maximize=True).epoch <= 3


def test_a_window_holding_a_nan_smooths_to_nan():
    """As the mean of the window would: a NaN epoch (a loss gone non-finite) is never
    averaged away as if it were 0, so the epochs around it cannot win."""
    values = curve([0.2, float("nan"), 0.8, 0.6, 0.4], [1.0] * 5, array=True)
    smooth = smooth_curve(values, 3)["val_balanced_accuracy"]
    assert np.isnan(smooth[:3]).all()
    assert smooth[3:] == pytest.approx([0.6, 0.5])
    assert best_epoch(smooth_curve(values, 3), "val_balanced_accuracy", maximize=True).epoch == 4


@pytest.mark.parametrize("smooth", [0, -1, 2.5, True])
def test_smooth_must_be_a_positive_whole_number(smooth):
    with pytest.raises(ConfigError, match=re.escape(f"--smooth must be a whole number of epochs, at "
                                                    f"least 1, got {smooth!r}")):
        cv_config(smooth=smooth).validate()


def test_a_smoothing_window_longer_than_a_trial_is_refused():
    """--epochs-per-trial 20 --smooth 41 gave every epoch the same score, so every trial's
    best epoch was 1 and --final trained one epoch."""
    cv_config(epochs=3, smooth=3).validate()
    with pytest.raises(ConfigError, match=r"^--smooth 4 is longer than a trial \(--epochs-per-trial 3\): "
                                          "every epoch would average nearly the whole curve; give "
                                          "--smooth 3 or less$"):
        cv_config(epochs=3, smooth=4).validate()


def test_final_config_trains_the_best_epoch_on_all_training_data():
    base = RunConfig(model="mlp", epochs=2500, batch_size=None, validation_split=None, seed=1)
    config = final_config(base, {"lr": 0.01}, best_epoch=1234)
    assert (config.epochs, config.lr, config.validation_split) == (1234, 0.01, None)
    assert final_config(base, {"lr": 0.01}, best_epoch=None).epochs == 2500  # stored before best_epoch
    # A cosine schedule stopped at epoch 1234 of 1234 is not the trial's cosine of 2500 cut short.
    assert final_config(base, {"lr": 0.01, "lr_schedule": "cosine"}, best_epoch=1234).epochs == 2500
    assert base.epochs == 2500


# -- cross-validated searches -------------------------------------------------------------------

@pytest.fixture
def optuna():
    return pytest.importorskip("optuna", reason="Optuna is not installed: `make test` installs the "
                                                "test extra, which includes glassnet[search]")


def test_each_trial_trains_one_model_per_fold_and_scores_their_mean_curve(tmp_path, cats, optuna):
    from glassnet.report.run_report import run_report_html
    from glassnet.search import Search

    search = Search.open(cv_config(trials=2, sampler="random", pruner="none"), tmp_path / "cv",
                         data={"train": cats["train"]})
    rows = []
    assert search.run(on_trial=rows.append) == 2
    for trial, row in zip(search.study.trials, rows, strict=True):
        folder = tmp_path / "cv" / "trials" / f"{trial.number:04d}"
        histories = [json.loads((folder / f"fold-{k}" / "history.json").read_text()) for k in (1, 2, 3)]
        assert not (folder / "model.glassnet").exists() and not (folder / "fold-4").exists()
        for k in (1, 2, 3):
            metrics = json.loads((folder / f"fold-{k}" / "metrics.json").read_text())
            assert "test" not in metrics and metrics["validation"]
            run = json.loads((folder / f"fold-{k}" / "run.json").read_text())["config"]
            assert run["extra"]["validation"] == f"fold {k} of 3" and run["validation_split"] is None
            # the report of a fold's run evaluates it on its own fold, not on the test split
            report = run_report_html(folder / f"fold-{k}")
            assert f"mlp on cats: validation accuracy {metrics['validation']['accuracy']:.4f}" in report
            assert re.search(r"sizes</td><td>train \d+, validation \d+</td>", report)
            assert "test" not in re.search(r"sizes</td><td>([^<]*)", report).group(1)
        mean_accuracy = np.mean([h["val_accuracy"] for h in histories], axis=0)
        saved = json.loads((folder / "validation.json").read_text())
        assert saved["mean"]["val_accuracy"] == pytest.approx(mean_accuracy)
        assert saved["folds_done"] == 3 and saved["validation"] == "3 stratified folds of the training split"
        bal = saved["mean"]["val_balanced_accuracy"]
        best = trial.user_attrs["best_epoch"]
        assert trial.value == max(bal) == bal[best - 1] == row.value
        assert trial.user_attrs["val_accuracy"] == pytest.approx(mean_accuracy[best - 1])
        assert (row.best_epoch, row.epochs, trial.user_attrs["epochs"]) == (best, 3, 3)
        assert sorted(trial.intermediate_values) == [1, 2, 3]  # the score so far, after each fold
        assert trial.intermediate_values[3] == trial.value
    summary = search.summary(plot=False)
    assert summary["objective_label"] == "validation balanced accuracy (mean of 3 folds)"
    assert summary["best"]["best_epoch"] == search.best_trial().user_attrs["best_epoch"]
    final = search.train_final()
    assert final.metrics["epochs"] == summary["best"]["best_epoch"] and "test" in final.metrics
    assert f"--epochs {summary['best']['best_epoch']} " in summary["best"]["train_command"]


def test_the_pruner_sees_the_score_so_far_after_each_fold(tmp_path, cats, optuna):
    from glassnet.search import Search

    class PruneAfterFirstStep(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return trial.last_step is not None and trial.last_step >= 1

    search = Search.open(cv_config(trials=2, sampler="random"), tmp_path / "p",
                         data={"train": cats["train"]})
    search.study.pruner = PruneAfterFirstStep()
    rows = []
    search.run(on_trial=rows.append)
    assert [r.state for r in rows] == ["pruned", "pruned"]
    assert rows[0].note == "stopped after fold 1 of 3" and rows[0].epochs == 3
    for trial in search.study.trials:
        folder = tmp_path / "p" / "trials" / f"{trial.number:04d}"
        assert (folder / "fold-1").is_dir() and not (folder / "fold-2").exists()
        curve_1 = json.loads((folder / "validation.json").read_text())["mean"]["val_balanced_accuracy"]
        assert trial.intermediate_values == {1: max(curve_1)}
        assert trial.state == optuna.trial.TrialState.PRUNED


def test_median_pruner_waits_for_the_first_fold(optuna):
    from glassnet.search import _pruner

    assert _pruner("median", 5)._n_warmup_steps == 1
    assert _pruner("median", 2500)._n_warmup_steps == 625


# -- the command line ----------------------------------------------------------------------------

CV = ["--dataset", "cats", "--model", "mlp", "--hidden", "7", "--epochs-per-trial", "2",
      "--param", "lr=log:1e-3:1e-1", "--trials", "2", "--no-plot"]


@pytest.mark.parametrize("args, message", [
    (["--folds", "1"], "argument --folds: expected an integer >= 2, got '1'"),
    (["--folds", "-2"], "argument --folds: expected an integer >= 2, got '-2'"),
    (["--folds", "abc"], "argument --folds: expected an integer >= 2, got 'abc'"),  # was "invalid int value"
    (["--smooth", "0"], "argument --smooth: expected a positive integer, got '0'"),
    (["--study-name", ""], "argument --study-name: expected a name, got an empty one (an unset shell "
                           "variable?)"),  # was taken as not given
])
def test_cli_fold_smoothing_and_study_name_usage_errors(args, message, capsys):
    """Like every other number option: argparse's exit code 2, the option, the value and what it
    takes (exit code 1, and "invalid int value" for a word, before)."""
    from glassnet.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["search", *CV, *args])
    assert exit_info.value.code == 2 and capsys.readouterr().err.endswith(f"error: {message}\n")


@pytest.mark.parametrize("args, message", [
    (["--folds", "100"], "--folds 100 needs at least 100 samples of every class, but class 'cat' has 72; "
                         "use at most 72 folds"),
    (["--folds", "3", "--validation-split", "0.2"], "leave out --validation-split"),
])
def test_cli_fold_errors_are_one_line_and_leave_no_study(tmp_path, args, message, optuna):
    result = run_cli("search", *CV, "--name", "bad", *args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet search: error: "), result.stderr
    assert message in lines[0]
    again = run_cli("search", *CV, "--name", "bad", "--folds", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the same name with good folds starts afresh


def test_cli_cross_validated_search(tmp_path, optuna):
    result = run_cli("search", *CV, "--folds", "2", "--smooth", "2", "--name", "cv", "--final", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert ("2 epochs each, scored on 2 stratified folds of the training split (curves smoothed over "
            "2 epochs), sampler tpe") in out
    assert len(re.findall(r"^\s+\d+\s+1\s+0\.\d{4}\s+complete\s+2\s+[12]\s+lr=", out, re.M)) == 2
    best = re.search(r"^best: trial \d, validation balanced accuracy \(mean of 2 folds\) 0\.\d{4} "
                     r"\(validation accuracy 0\.\d{4}, loss \d\.\d{4}\) at epoch ([12]) of 2, lr=", out, re.M)
    assert best, out
    assert re.search(rf"^final: trained on {best.group(1)} epochs?; train: .*; test: ", out, re.M)
    summary = json.loads((tmp_path / "runs" / "cv" / "search.json").read_text())
    assert summary["config"]["folds"] == 2 and summary["config"]["base"]["validation_split"] is None
    assert summary["config"]["smooth"] == 2
    trial = summary["best"]["number"]
    saved = json.loads((tmp_path / "runs" / "cv" / "trials" / f"{trial:04d}" / "validation.json").read_text())
    smoothed = smooth_curve({k: np.asarray(v) for k, v in saved["mean"].items()}, 2)
    assert summary["best"]["value"] == pytest.approx(max(smoothed["val_balanced_accuracy"]))


# -- the recorded cat search ---------------------------------------------------------------------

# The final model of the README's search E (5 folds, 30 trials, about 70 minutes), as the
# search now prints its command (every digit); --final trained it: train 1.000, test 0.78.
SEARCH_E_FINAL = ("glassnet train --dataset cats --model mlp --hidden 20,7,5 --epochs 2168 --batch-size full "
                  "--optimizer sgd --lr 0.018023562801011424 --weight-decay 0.0018917493877833834 "
                  "--seed 1 --dtype float64")


@pytest.mark.slow
def test_the_recorded_cat_search_final_model_scores_as_recorded(tmp_path):
    """The whole search takes too long for a test; its final model (about 30 s) does not."""
    assert SEARCH_E_FINAL in (ROOT / "README.md").read_text()
    result = run_cli(*SEARCH_E_FINAL.split()[1:], "--out", str(tmp_path / "final"), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "final" / "metrics.json").read_text())
    assert metrics["epochs"] == 2168 and metrics["train"]["accuracy"] == 1.0
    assert metrics["test"]["accuracy"] == pytest.approx(0.78)
    assert metrics["test"]["loss"] == pytest.approx(0.891208373, abs=1e-6)
