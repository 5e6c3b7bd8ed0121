"""Hyperparameter search: studies, workers, storage, pruning, narrowing, and errors."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, cli_env, run_cli

optuna = pytest.importorskip("optuna", reason="Optuna is not installed: `make test` installs the "
                                              "test extra, which includes glassnet[search]")

from glassnet import zoo  # noqa: E402
from glassnet.cli import main  # noqa: E402
from glassnet.errors import ConfigError, GlassnetWarning, SearchError  # noqa: E402
from glassnet.runs import RunConfig  # noqa: E402
from glassnet.search import Search, SearchConfig, apply_params, train_command  # noqa: E402
from glassnet.search_config import searchable_model_options  # noqa: E402
from glassnet.search_space import parse_param  # noqa: E402

POSTGRES = ROOT / ".ci" / "postgres.sh"
# A quick search: the course's two-layer net, two epochs per trial.
QUICK = ["--dataset", "cats", "--model", "mlp", "--hidden", "7", "--epochs-per-trial", "2",
         "--optimizer", "sgd", "--param", "lr=log:1e-4:1e-1", "--param", "weight_decay=log:1e-6:1e-2"]


def quick_config(trials: int = 4, **kwargs) -> SearchConfig:
    base = RunConfig(model="mlp", hidden=[7], epochs=2, batch_size=64, validation_split=0.2)
    params = [parse_param("lr=log:1e-4:1e-1"), parse_param("weight_decay=log:1e-6:1e-2")]
    return SearchConfig(base, params, trials=trials, **kwargs)


@pytest.fixture
def cat_train(cats):
    return {"train": cats["train"]}


def test_apply_params_and_train_command():
    base = RunConfig(model="mlp", hidden=[20, 7, 5], epochs=5, optimizer="adam", validation_split=0.2)
    config = apply_params(base, {"lr": 0.003, "weight_decay": 1e-4, "hidden": "50-20", "init": "he_normal"})
    assert (config.lr, config.weight_decay, config.hidden) == (0.003, 1e-4, [50, 20])
    assert config.extra == {"model_options": {"init": "he_normal"}} and base.extra == {}
    assert apply_params(base, {"hidden": 100}).hidden == [100]
    command = train_command(config)
    assert command.startswith("glassnet train --dataset cats --model mlp --hidden 50,20 --epochs 5")
    assert "--lr 0.003 --weight-decay 0.0001" in command and "--init he_normal" in command
    flags = apply_params(base, {"batchnorm": True, "dropout": 0.25})
    assert "--batchnorm --dropout 0.25 --seed" in train_command(flags)
    # Every digit: a learning rate rounded to six digits trains a different model.
    exact = apply_params(base, {"lr": 0.018023562801011424, "weight_decay": 0.0018917493877833834})
    assert "--lr 0.018023562801011424 --weight-decay 0.0018917493877833834" in train_command(exact)
    # A searched 0 is written where train's default is not 0 (momentum: the optimizer's 0.9)
    zero = train_command(apply_params(base, {"momentum": 0.0, "weight_decay": 0.0}))
    assert "--momentum 0.0" in zero and "--weight-decay 0.0" in zero  # adamw's default is 0.01
    # Augmentation and normalization reach the command; a dash joins augmentations in a choice
    augmented = apply_params(base, {"augment": "flip-crop"})
    augmented.extra["normalize"] = True
    assert augmented.augment == "flip,crop"
    assert "--augment flip,crop" in train_command(augmented) and "--normalize" in train_command(augmented)
    assert apply_params(base, {"augment": "none"}).augment is None
    # a base that lowers the lr on a plateau (Python API) trains so in the command too
    plateau = apply_params(base, {})
    plateau.extra.update(reduce_lr=3, reduce_lr_factor=0.5)
    assert "--reduce-lr 3 --reduce-lr-factor 0.5 --seed" in train_command(plateau)


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "narrow", "sampler": "tpe", "rounds": 2}, "cannot use --sampler tpe"),
    ({"rounds": 3}, "--rounds 3 needs --strategy narrow"),
    ({"strategy": "narrow", "sampler": "random", "rounds": 3, "trials": 5},
     "--strategy narrow needs at least 2 trials a round (each range shrinks to the span of a round's "
     "best trials): --trials 5 is too few for --rounds 3; give --trials 6 or more, or fewer --rounds"),
    ({"strategy": "narrow", "sampler": "random", "rounds": 5, "trials": 4},
     "--trials 4 is too few for --rounds 5"),
    ({"sampler": "grid"}, "unknown sampler 'grid'"),
    ({"objective": "test_accuracy"}, "unknown objective 'test_accuracy'; choose one of val_balanced_acc"),
])
def test_search_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        quick_config(**kwargs).validate()


def test_unknown_parameter_names_the_searchable_ones():
    config = quick_config()
    config.params.append(parse_param("colour=float:0:1"))
    with pytest.raises(ConfigError, match="cannot search 'colour'.*lr.*weight_decay"):
        config.validate()


@pytest.mark.parametrize("name", ["normalize", "early_stopping", "reduce_lr", "reduce_lr_factor"])
def test_a_train_option_a_search_does_not_vary_is_named_as_such(name):
    """It said "neither model 'mlp' nor the training run takes it", though train has the flag."""
    config = quick_config()
    config.params.append(parse_param(f"{name}=int:1:3"))
    with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')} is a 'glassnet train' option "
                                          "that a search does not vary"):
        config.validate()


@pytest.mark.parametrize("spec, message", [
    ("batchnorm=choice:yes,no", "cannot search batchnorm=choice:yes,no: it is on or off; use "
                                "batchnorm=choice:true,false"),
    ("batchnorm=choice:1,0", "it is on or off"),
    ("lr_decay=choice:true", "cannot search lr_decay=choice:True: true and false are not values of lr_decay"),
    ("dropout=choice:0.1,false", "true and false are not values of dropout"),
])
def test_on_off_options_take_true_and_false_and_no_other_option_does(spec, message):
    config = quick_config()
    config.params.append(parse_param(spec))
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.validate()
    ok = quick_config()
    ok.params.append(parse_param("batchnorm=choice:true,false"))
    ok.validate()


@pytest.mark.parametrize("name", ["epochs", "seed", "validation_split"])
def test_fixed_settings_are_named_as_fixed_not_as_unknown(name):
    config = quick_config()
    config.params.append(parse_param(f"{name}=int:1:3"))
    with pytest.raises(ConfigError, match=f"cannot search '{name}': it is fixed for the whole search"):
        config.validate()


def test_hidden_is_searchable_only_for_models_with_hidden_layers():
    from glassnet.search_config import searchable_names

    assert "hidden" in searchable_names("mlp") and "hidden" not in searchable_names("cnn-small")
    config = quick_config()
    config.base.model, config.base.hidden = "cnn-small", None
    config.params.append(parse_param("hidden=choice:5,7"))
    with pytest.raises(ConfigError, match="cannot search 'hidden': neither model 'cnn-small'"):
        config.validate()


@pytest.mark.parametrize("model, name", [("mlp", "activation"), ("cnn-bn", "widths"),
                                         ("cnn-small", "widths")])
def test_model_options_without_a_train_flag_cannot_be_searched(model, name):
    """The best trial is printed as a `glassnet train` command: a model option train has no
    flag for (`--activation`, `--widths`) would make that command unrunnable."""
    config = quick_config()
    config.base.model, config.base.hidden = model, None
    config.params.append(parse_param(f"{name}=choice:relu,tanh"))
    with pytest.raises(ConfigError, match=f"cannot search '{name}': 'glassnet train' has no flag for it"):
        config.validate()


@pytest.mark.parametrize("model", zoo.names())
def test_every_searchable_model_option_reaches_a_runnable_train_command(model):
    from glassnet.cli import build_parser

    values = {"hidden": "8-4", "init": "he", "batchnorm": True, "dropout": 0.25}
    options = searchable_model_options(model)
    assert options <= set(values), "a searchable model option without a train flag"
    config = apply_params(RunConfig(model=model), {name: values[name] for name in options})
    command = shlex.split(train_command(config))
    args = build_parser().parse_args(command[1:])  # argparse exits on an unknown flag
    assert args.model == model and (args.dropout == 0.25) == ("dropout" in options)


@pytest.mark.parametrize("name", ["image_size", "resize", "strict", "test_split"])
def test_what_the_data_is_cannot_be_searched(name):
    config = quick_config()
    config.params.append(parse_param(f"{name}=choice:1,2"))
    with pytest.raises(ConfigError, match=f"cannot search '{name}'"):
        config.validate()


@pytest.mark.filterwarnings("ignore::glassnet.errors.CollapsedModelWarning")  # a 2-epoch final model
def test_search_writes_summary_plot_and_trains_the_best(tmp_path, cat_train):
    search = Search.open(quick_config(trials=4), tmp_path / "s1", data=cat_train)
    rows = []
    assert search.run(on_trial=rows.append) == 4
    assert sorted(r.number for r in rows) == [0, 1, 2, 3]
    assert all(r.state == "complete" and r.epochs == 2 for r in rows)
    summary = search.summary()
    best = max(rows, key=lambda r: (r.value, -r.val_loss, -r.number))
    assert summary["best"]["number"] == best.number
    assert summary["best"]["params"] == pytest.approx(best.params)
    assert json.loads((tmp_path / "s1" / "search.json").read_text())["best"] == summary["best"]
    assert (tmp_path / "s1" / "search_scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "s1" / "trials" / "0000" / "history.json").is_file()
    assert not (tmp_path / "s1" / "trials" / "0000" / "report.html").exists()
    page = (tmp_path / "s1" / "search_report.html").read_text()
    assert "Best trial" in page and "data:image/png;base64," in page and "Final model" not in page
    assert "<footer>Made by glassnet " in page  # the version and time, as the run reports say
    # Every trial saw the same validation split of the training images only.
    metrics = json.loads((tmp_path / "s1" / "trials" / "0001" / "metrics.json").read_text())
    assert "test" not in metrics and metrics["validation"]
    final = search.train_final()
    assert summary["best"]["best_epoch"] in (1, 2) and summary["best"]["epochs"] == 2
    assert final.metrics["epochs"] == summary["best"]["best_epoch"]  # the best trial's best epoch
    assert "test" in final.metrics and "validation" not in final.metrics
    assert final.out_dir == tmp_path / "s1" / "final"
    assert json.loads((tmp_path / "s1" / "search.json").read_text())["final"]["test"] == final.metrics["test"]
    assert "Final model" in (tmp_path / "s1" / "search_report.html").read_text()
    # its own report names the search, not "(Python API: glassnet.runs.train_run)"
    from glassnet.report.html import esc
    from glassnet.search import train_command

    report = (final.out_dir / "report.html").read_text()
    assert (esc(f"glassnet search --final in {tmp_path / 's1'}: trial {best.number}'s configuration on "
                f"all training data; trained again by {train_command(search.best_config())}") in report)


def test_the_report_of_a_trial_shows_its_train_and_validation_splits(tmp_path, cat_train):
    from glassnet.run_data import prepare_splits

    search = Search.open(quick_config(trials=1), tmp_path / "t", data=cat_train)
    search.run()
    folder = tmp_path / "t" / "trials" / "0000"
    run = json.loads((folder / "run.json").read_text())["config"]
    assert run["extra"]["holdout"] == {"validation_split": 0.2} and run["validation_split"] is None
    # `glassnet report` makes the trial's split again: the images the trial was validated on
    splits = prepare_splits(RunConfig.from_dict(run))
    (train, validation), = search.splits
    assert splits["test"] is None
    assert np.array_equal(splits["validation"].x, validation.x) and np.array_equal(splits["train"].y, train.y)
    assert main(["report", str(folder)]) == 0
    page = (folder / "report.html").read_text()
    accuracy = json.loads((folder / "metrics.json").read_text())["validation"]["accuracy"]
    assert f"mlp on cats: validation accuracy {accuracy:.4f}" in page
    assert f"sizes</td><td>train {len(train)}, validation {len(validation)}</td>" in page
    assert "validated on validation split 0.2" in page and "test accuracy" not in page
    assert f"trial 0 of the search in {tmp_path / 't'} (glassnet search)" in page  # not "Python API"
    assert "the search scores this trial at its best epoch (search.json); this page shows the " \
           "weights of its last epoch, 2" in page


def test_same_seed_same_trials(tmp_path, cat_train):
    values = []
    for name in ("a", "b"):
        search = Search.open(quick_config(trials=3, sampler="random"), tmp_path / name, data=cat_train)
        search.run()
        values.append([(t.params, t.value) for t in search.study.trials])
    assert values[0] == values[1]
    assert len({params["lr"] for params, _ in values[0]}) == 3  # each trial draws its own


class PruneAtEpoch2(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= 2


def test_pruned_trials_stop_early_and_report_every_epoch(tmp_path, cat_train):
    config = quick_config(trials=2, objective="val_accuracy")
    config.base.epochs = 6
    search = Search.open(config, tmp_path / "p", data=cat_train)
    search.study.pruner = PruneAtEpoch2()
    rows = []
    search.run(on_trial=rows.append)
    assert [r.state for r in rows] == ["pruned", "pruned"]
    assert [r.epochs for r in rows] == [2, 2] and "stopped after epoch 2" in rows[0].note
    for trial in search.study.trials:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert sorted(trial.intermediate_values) == [1, 2]
        history = json.loads((tmp_path / "p" / "trials" / f"{trial.number:04d}" / "history.json").read_text())
        # the pruner sees what the trial is ranked by: its best epoch so far, not the last one
        running_best = [max(history["val_accuracy"][:k]) for k in (1, 2)]
        assert running_best == [trial.intermediate_values[1], trial.intermediate_values[2]]
    with pytest.raises(SearchError, match="no trial .* has completed"):
        search.best_trial()


def test_the_pruner_is_shown_the_best_epoch_so_far_not_a_dip(tmp_path, cat_train, monkeypatch):
    """A leading trial whose curve dipped for an epoch was pruned, though it is ranked by its
    best epoch: the search's best trial was then one that answers one class for all."""
    from glassnet import search_scoring

    dips = iter([0.9, 0.5, 0.6] * 2)  # val_balanced_accuracy of each epoch, scripted
    monkeypatch.setattr(search_scoring, "validation_balanced_accuracy", lambda model, validation: next(dips))
    config = quick_config(trials=2, objective="val_balanced_accuracy", pruner="none")
    config.base.epochs = 3
    search = Search.open(config, tmp_path / "dip", data=cat_train)
    search.run(on_trial=lambda row: None)
    for trial in search.study.trials:
        assert trial.intermediate_values == {1: 0.9, 2: 0.9, 3: 0.9} and trial.value == 0.9


def test_a_trial_is_never_pruned_at_its_last_epoch(tmp_path, cat_train):
    """It was: with --epochs-per-trial 1 fully trained trials showed as "pruned (stopped after
    epoch 1)" and were left out of the best trial and of narrowing."""
    search = Search.open(quick_config(trials=2), tmp_path / "last", data=cat_train)
    search.study.pruner = PruneAtEpoch2()  # would prune at epoch 2, the last
    rows = []
    search.run(on_trial=rows.append)
    assert [(r.state, r.epochs, r.note) for r in rows] == [("complete", 2, "")] * 2
    assert all(sorted(t.intermediate_values) == [1, 2] for t in search.study.trials)  # still reported
    assert search.best_trial().number in (0, 1)


def test_narrow_strategy_shrinks_ranges_per_round(tmp_path, cat_train):
    config = quick_config(trials=8, strategy="narrow", sampler="random", rounds=2, pruner="none")
    search = Search.open(config, tmp_path / "n", data=cat_train)
    search.run()
    attrs = search.study.user_attrs
    first, second = attrs["round_0"], attrs["round_1"]
    rounds = [t.user_attrs["round"] for t in search.study.trials]
    assert rounds == [0] * 4 + [1] * 4
    # ranked by validation accuracy, ties by the lower validation loss
    complete = sorted(search.study.trials[:4], key=lambda t: (-t.value, t.user_attrs["val_loss"]))
    for old, new in zip(first, second, strict=True):
        assert old["low"] <= new["low"] <= new["high"] <= old["high"]
        best_two = [t.params[new["name"]] for t in complete[:2]]
        assert (new["low"], new["high"]) == pytest.approx((min(best_two), max(best_two)))
    for trial in search.study.trials[4:]:
        for spec in second:
            assert spec["low"] <= trial.params[spec["name"]] <= spec["high"]
    summary = search.summary(plot=False)
    assert [r["trials"] for r in summary["rounds"]] == [4, 4]
    assert summary["rounds"][0]["ranges"] == {"lr": "log:0.0001:0.1", "weight_decay": "log:1e-06:0.01"}
    assert [r["narrowed"] for r in summary["rounds"]] == [True, None]  # the last narrows nothing


class PruneTheFirstRound(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return trial.user_attrs["round"] == 0


def test_a_round_with_fewer_than_two_completed_trials_says_that_it_did_not_narrow(
        tmp_path, monkeypatch, capsys):
    """It printed the same ranges for every round without saying why."""
    monkeypatch.setattr("glassnet.search._pruner", lambda name, steps: PruneTheFirstRound())
    assert main(["search", *QUICK, "--strategy", "narrow", "--rounds", "2", "--trials", "4",
                 "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    ranges = "ranges lr=log:0.0001:0.1, weight_decay=log:1e-06:0.01"
    assert f"\nround 1: 2 trials, {ranges} (not narrowed: fewer than 2 completed trials)\n" in out
    assert re.search(rf"^round 2: 2 trials, {re.escape(ranges)}, best 0\.\d{{4}}$", out, re.M)
    rounds = json.loads((tmp_path / "n" / "search.json").read_text())["rounds"]
    assert [r["narrowed"] for r in rounds] == [False, None]
    page = (tmp_path / "n" / "search_report.html").read_text()
    assert "<th>narrowed the next</th>" in page
    assert "<td>no: fewer than 2 completed trials</td>" in page


# -- the objective ---------------------------------------------------------------------------

def _validation(config: SearchConfig, cat_train):
    from glassnet.run_data import prepare_splits

    return prepare_splits(config.base, cat_train)["validation"]


def test_default_objective_is_the_validation_balanced_accuracy(tmp_path, cat_train):
    from glassnet.io.format import load_model
    from glassnet.metrics import balanced_accuracy

    config = quick_config(trials=3, sampler="random", pruner="none")
    assert config.objective == "val_balanced_accuracy" and config.direction == "maximize"
    search = Search.open(config, tmp_path / "b", data=cat_train)
    search.run()
    validation = _validation(config, cat_train)
    for trial in search.study.trials:
        folder = tmp_path / "b" / "trials" / f"{trial.number:04d}"
        model = load_model(folder / "model.glassnet")  # the last epoch's
        predicted = model.predict(validation.x).reshape(-1) > 0.5
        expected = balanced_accuracy(validation.y, predicted.astype(int))
        scores = json.loads((folder / "validation.json").read_text())["mean"]["val_balanced_accuracy"]
        assert scores[-1] == pytest.approx(expected)
        # reported after every epoch: the best so far, which the trial is ranked by
        assert [trial.intermediate_values[k] for k in (1, 2)] == [scores[0], max(scores)]
        # The trial scores at its best epoch, and records every score there.
        best = trial.user_attrs["best_epoch"]
        assert trial.value == max(trial.intermediate_values.values()) == trial.intermediate_values[best]
        assert trial.user_attrs["val_balanced_accuracy"] == trial.value
        history = json.loads((folder / "history.json").read_text())
        assert trial.user_attrs["val_accuracy"] == history["val_accuracy"][best - 1]
        assert trial.user_attrs["val_loss"] == history["val_loss"][best - 1]
        curve = json.loads((folder / "validation.json").read_text())
        assert curve["best_epoch"] == best and curve["mean"]["val_loss"] == history["val_loss"]
    summary = search.summary(plot=False)
    assert summary["objective"] == "val_balanced_accuracy"
    assert summary["best"]["value"] == max(t.value for t in search.study.trials)
    assert {"value", "val_balanced_accuracy", "val_accuracy", "val_loss"} <= set(summary["trials"][0])


def test_a_constant_answer_scores_one_half_however_common_the_class(cat_train):
    from glassnet.run_setup import build_model
    from glassnet.search import validation_balanced_accuracy

    validation = _validation(quick_config(), cat_train)
    model = build_model(quick_config().base, cat_train["train"])
    last = [layer for layer in model.layers if layer.params][-1]
    for answer, bias in ((1, 5.0), (0, -5.0)):  # zero weights: the output is the bias alone
        for value in last.params.values():
            value[...] = bias if value.ndim == 1 else 0.0
        assert (model.predict(validation.x) > 0.5).all() == bool(answer)
        assert validation_balanced_accuracy(model, validation) == 0.5
    assert 0.6 < np.mean(validation.y == 0) < 0.7  # yet "non-cat" is right on 27 of 41 images


def test_narrow_strategy_with_a_choice_parameter_runs_every_round(tmp_path, cat_train):
    config = quick_config(trials=4, strategy="narrow", sampler="random", rounds=2, pruner="none")
    config.params.append(parse_param("hidden=choice:5,7"))
    search = Search.open(config, tmp_path / "c", data=cat_train)
    search.run()
    assert [t.state for t in search.study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    assert {t.params["hidden"] for t in search.study.trials} <= {5, 7}


def test_a_narrowed_round_draws_only_the_choices_the_best_trials_used(tmp_path, cat_train):
    config = quick_config(trials=12, strategy="narrow", sampler="random", rounds=2, pruner="none")
    config.params.append(parse_param("hidden=choice:3,4,5,6,7,8"))
    search = Search.open(config, tmp_path / "k", data=cat_train)
    search.run()
    kept = next(p for p in search.study.user_attrs["round_1"] if p["name"] == "hidden")
    assert kept["domain"] == [3, 4, 5, 6, 7, 8] and len(kept["choices"]) <= 2
    round_2 = [t for t in search.study.trials if t.user_attrs["round"] == 1]
    assert len(round_2) == 6 and {t.params["hidden"] for t in round_2} <= set(kept["choices"])
    summary = search.summary(plot=False)
    assert summary["rounds"][1]["ranges"]["hidden"] == "choice:" + ",".join(map(str, kept["choices"]))


def test_val_loss_objective_minimizes(tmp_path, cat_train):
    config = quick_config(trials=4, strategy="narrow", sampler="random", rounds=2, pruner="none",
                          objective="val_loss")
    search = Search.open(config, tmp_path / "l", data=cat_train)
    search.run()
    assert search.study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = search.study.trials
    assert [t.value for t in trials] == [t.user_attrs["val_loss"] for t in trials]
    assert search.best_trial().value == min(t.value for t in trials)
    best_two = sorted(trials[:2], key=lambda t: t.value)
    lr_range = search.study.user_attrs["round_1"][0]
    assert (lr_range["low"], lr_range["high"]) == pytest.approx(sorted(t.params["lr"] for t in best_two))
    assert search.summary(plot=False)["rounds"][0]["best_value"] == min(t.value for t in trials[:2])


def test_searches_stored_before_the_objective_option_ranked_by_accuracy():
    stored = quick_config().to_dict()
    del stored["objective"]
    assert SearchConfig.from_dict(stored).objective == "val_accuracy"


def test_cli_objective_option(tmp_path):
    result = run_cli("search", *QUICK, "--trials", "2", "--objective", "val_loss", "--name", "o",
                     "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\s*trial\s+round\s+val_loss\s+state", result.stdout, re.M)
    assert "objective val_loss (minimize)" in result.stdout
    assert re.search(r"^best: trial \d, validation loss \d\.\d{4} \(validation balanced accuracy",
                     result.stdout, re.M)


def test_resume_continues_after_a_crash(tmp_path, cat_train):
    search = Search.open(quick_config(trials=3), tmp_path / "r", data=cat_train)
    search.run()
    # A worker that died mid-trial leaves a RUNNING trial behind.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = search.study.ask()
    for key, value in (("round", 0), ("host", socket.gethostname()), ("pid", int(dead.stdout))):
        orphan.set_user_attr(key, value)
    # the same command with another --trials joins: the budget is the study's (--resume sets it)
    with pytest.warns(GlassnetWarning, match=r"joining the search 'r', whose budget is 3 trials \(this "
                                             r"command's is 5; --resume --trials N changes the budget\)"):
        joined = Search.open(quick_config(trials=5), tmp_path / "r", trials=5, data=cat_train)
    assert joined.config.trials == 3 and joined.study.user_attrs["glassnet_search"]["trials"] == 3
    other = quick_config(trials=3)
    other.params[0] = parse_param("lr=log:1e-3:1e-1")
    other.base.epochs, other.base.batch_size, other.base.seed = 4, None, 7
    # named by the options that set them, as the options write their values
    with pytest.raises(SearchError, match=r"different search named 'r' \(--epochs-per-trial: stored 2, "
                                          r"given 4; --batch-size: "
                                          r"stored \d+, given full; --seed: stored \d+, given 7; "
                                          r"--param: stored "
                                          r"lr=log:0\.0001:0\.1 weight_decay=.*, given lr=log:0\.001:0\.1 "):
        Search.open(other, tmp_path / "r", data=cat_train)
    resumed = Search.open(None, tmp_path / "r", resume=True, trials=5, data=cat_train)
    assert resumed.config.trials == 5 and resumed.config.params == search.config.params
    assert resumed.run() == 2
    states = [t.state.name for t in resumed.study.trials]
    assert states == ["COMPLETE"] * 3 + ["FAIL"] + ["COMPLETE"] * 2


def test_a_worker_that_joins_without_trials_keeps_the_budget_without_a_warning(tmp_path, capsys):
    """It warned "whose budget is 2 trials (this command's is 30 …)": 30 is the default of
    --trials, which this command was not given."""
    command = ["search", *QUICK, "--no-plot", "--out", str(tmp_path / "j")]
    assert main([*command, "--trials", "2"]) == 0
    capsys.readouterr()
    assert main(command) == 0  # joins the finished study: nothing left to run
    assert "budget" not in capsys.readouterr().err
    assert main([*command, "--trials", "2"]) == 0  # the budget it has: nothing to warn about
    assert "budget" not in capsys.readouterr().err
    assert main([*command, "--trials", "3"]) == 0
    assert "whose budget is 2 trials (this command's is 3;" in capsys.readouterr().err


def test_resume_with_a_bigger_budget_reaches_it_after_the_rounds_closed(tmp_path, cat_train):
    config = quick_config(trials=4, strategy="narrow", sampler="random", rounds=2, pruner="none")
    Search.open(config, tmp_path / "more", data=cat_train).run()
    resumed = Search.open(None, tmp_path / "more", resume=True, trials=7, data=cat_train)
    assert resumed.run() == 3  # both rounds had closed: the last one takes the rest
    assert [r["trials"] for r in resumed.summary(plot=False)["rounds"]] == [2, 5]
    assert len(resumed.study.trials) == 7


def test_a_round_budget_is_what_the_closed_rounds_left_split_over_the_open_ones():
    config = quick_config(trials=10, strategy="narrow", sampler="random", rounds=3)
    assert [config.per_round(0, 0), config.per_round(1, 4), config.per_round(2, 7)] == [4, 3, 3]
    config.trials = 16  # resumed with a bigger budget after round 1 closed with 4 trials
    assert [config.per_round(1, 4), config.per_round(2, 10)] == [6, 6]
    config.trials = 3  # ... or a smaller one than the closed rounds used
    assert config.per_round(2, 7) == 0


def test_resume_refuses_settings_that_differ_from_the_stored_search(tmp_path, cat_train, capsys):
    Search.open(quick_config(trials=2), tmp_path / "r", data=cat_train).run()
    resume = ["search", "--out", str(tmp_path / "r"), "--resume", "--no-plot"]
    assert main([*resume, "--trials", "5", "--objective", "val_loss", "--epochs-per-trial=5",
                 "--batch-size", "full", "--seed", "0"]) == 1
    assert capsys.readouterr().err == (
        "glassnet search: error: --resume continues the stored search with its own settings, and these "
        "options differ from them (--epochs-per-trial: stored 2, given 5; --batch-size: stored 64, given "
        "full; --objective: stored val_balanced_accuracy, given val_loss); leave them out to use the "
        "stored values, or start a new search under another --name\n")
    assert main([*resume, "--strict"]) == 1
    assert "(--strict: stored off, given on)" in capsys.readouterr().err
    # another model is named as a changed setting, not answered with --param advice
    assert main([*resume, "--model", "cnn-small", "--hidden", "5"]) == 1
    assert "(--model: stored mlp, given cnn-small; --hidden: stored 7, given 5)" in capsys.readouterr().err
    stored = Search.open(None, tmp_path / "r", resume=True)
    assert stored.config.trials == 2 and len(stored.study.trials) == 2  # nothing changed or ran
    # The stored values given again (and options left out) continue the search.
    assert main([*resume, "--trials", "3", "--objective", "val_balanced_accuracy", "--hidden", "7",
                 "--epochs-per-trial", "2", "--dataset", "cats"]) == 0
    assert len(Search.open(None, tmp_path / "r", resume=True).study.trials) == 3
    capsys.readouterr()
    assert main(resume) == 0  # nothing left: the empty table says why
    assert "(no trial left to run: the budget of 3 trials is used up; --resume with a bigger " \
           "--trials runs more)" in capsys.readouterr().out


def test_an_option_given_with_its_default_value_is_the_same_search(tmp_path, capsys):
    """A search started with --hidden 20,7,5 (mlp's default) was "a different search" to the
    same command without it ("--hidden: stored 20,7,5, given not set"), and the reverse; and
    a plain search refused --resume --rounds 3 with "stored 1", rounds it never had."""
    command = ["search", "--dataset", "cats", "--epochs-per-trial", "1", "--trials", "1",
               "--param", "lr=log:1e-3:1e-1", "--no-plot"]
    for name, first, again in (("given", ["--hidden", "20,7,5"], []),
                               ("default", [], ["--hidden", "20,7,5"])):
        out = ["--out", str(tmp_path / name)]
        assert main([*command, *out, *first]) == 0
        assert main([*command, *out, *again]) == 0, capsys.readouterr().err  # joins it
        assert main(["search", *out, "--resume", "--no-plot", *again]) == 0, capsys.readouterr().err
    capsys.readouterr()
    resume = ["search", "--out", str(tmp_path / "default"), "--resume", "--no-plot"]
    assert main([*resume, "--hidden", "10"]) == 1  # another value: named as the value it is
    assert "(--hidden: stored 20,7,5, given 10)" in capsys.readouterr().err
    assert main([*resume, "--rounds", "3"]) == 1
    assert ("(--rounds 3: the stored search's strategy is plain, of one round, and --rounds needs "
            "--strategy narrow)") in capsys.readouterr().err
    assert main([*resume, "--rounds", "1"]) == 0


def test_an_image_folders_default_size_is_the_same_search_as_128(tmp_path):
    """The same for --image-size: an image folder's default is 128."""
    from glassnet.search_resume import joined_config

    folder = str(tmp_path / "photos")
    stored, given = quick_config(), quick_config()
    stored.base.dataset = given.base.dataset = folder
    given.base.image_size = 128
    assert joined_config(given, stored, "the journal", "s", None).base.image_size is None  # the stored one
    given.base.image_size = 64
    with pytest.raises(SearchError, match=r"\(--image-size: stored 128, given 64\)"):
        joined_config(given, stored, "the journal", "s", None)
    # a named data set has no image size to default to; a model without hidden sizes none either
    from glassnet.search_config import resolved

    named = quick_config()
    named.base.model, named.base.hidden = "cnn-small", None
    assert (resolved(named).base.image_size, resolved(named).base.hidden) == (None, None)
    assert stored.base.image_size is None  # what is stored stays as it was given


def test_resume_without_a_search(tmp_path):
    with pytest.raises(SearchError, match="no search named 'nothing' .* to resume; start it without"):
        Search.open(None, tmp_path / "nothing", resume=True)


def _searched(folder: Path, cat_train, **kwargs) -> Search:
    """A one-trial search run in ``folder`` and its summary written."""
    search = Search.open(quick_config(trials=1), folder, data=cat_train, **kwargs)
    search.run()
    search.summary(plot=False)
    return search


def test_a_search_in_a_folder_that_holds_another_search_is_refused(tmp_path, cat_train, capsys):
    """Another study (or storage) in the same folder overwrote the first one's trials, and its
    search.json showed the new best trial with the old one's final test score."""
    from glassnet.search_storage import open_storage

    folder = tmp_path / "sn2"
    _searched(folder, cat_train, study_name="A")
    journal, trial = folder / "search.journal", (folder / "trials" / "0000" / "history.json").read_text()
    with pytest.raises(SearchError) as info:
        Search.open(quick_config(trials=1), folder, data=cat_train)
    assert str(info.value) == (
        f"the search 'sn2' in {journal} cannot run in {folder}: {folder / 'search.json'} records the "
        f"search 'A' in {journal}; continue it with --resume --study-name A, or give this one another "
        "--name or --out (it would overwrite that one's trials and results)")
    database = tmp_path / "other.db"
    with pytest.raises(SearchError, match=rf"the search 'A' in sqlite:///{re.escape(str(database))} cannot "
                                          rf"run in .*records the search 'A' in {re.escape(str(journal))}; "
                                          "continue it with --resume without --storage, or give"):
        Search.open(quick_config(trials=1), folder, storage=f"sqlite:///{database}", study_name="A",
                    data=cat_train)
    assert not database.exists()  # refused before anything was opened or written
    assert optuna.get_all_study_names(open_storage(None, folder)) == ["A"]
    assert (folder / "trials" / "0000" / "history.json").read_text() == trial
    # the command line: one line, exit code 1
    assert main(["search", *QUICK, "--trials", "1", "--seed", "7", "--no-plot", "--out", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "records the search 'A'" in err
    # the same search, its journal named by a relative path, joins it
    joined = Search.open(quick_config(trials=1), Path(os.path.relpath(folder)), study_name="A",
                         data=cat_train)
    assert joined.study.study_name == "A"


def test_a_search_in_a_folder_whose_journal_holds_another_search_is_refused(tmp_path, cat_train):
    """A search stopped before it wrote search.json left only its journal; another study
    started in that folder (or the same name in a database) overwrote its trials' files."""
    from glassnet.search_storage import open_storage

    folder = tmp_path / "sj"
    _searched(folder, cat_train, study_name="A")
    (folder / "search.json").unlink()  # as if stopped before the summary
    journal, trial = folder / "search.journal", (folder / "trials" / "0000" / "history.json").read_text()
    with pytest.raises(SearchError) as info:
        Search.open(quick_config(trials=1), folder, study_name="B", data=cat_train)
    assert str(info.value) == (
        f"the search 'B' in {journal} cannot run in {folder}: its journal {journal} holds the search "
        "'A', which has written no search.json yet (it stopped early, or is still running); continue "
        "it with --resume --study-name A, or give this one another --name or --out (it would "
        "overwrite that one's trials)")
    database = tmp_path / "other.db"
    with pytest.raises(SearchError, match=r"holds the search 'A', .* continue it with --resume "
                                          r"without --storage, or give"):
        Search.open(quick_config(trials=1), folder, storage=f"sqlite:///{database}", study_name="A",
                    data=cat_train)
    assert not database.exists()  # refused before the database was opened
    assert optuna.get_all_study_names(open_storage(None, folder)) == ["A"]
    assert (folder / "trials" / "0000" / "history.json").read_text() == trial
    # the same study in the same journal is a worker joining it (or the same command again)
    assert Search.open(quick_config(trials=1), folder, study_name="A", data=cat_train).study.study_name == "A"
    # a study stopped before it stored its settings cannot be resumed: start it again
    optuna.create_study(study_name="C", storage=open_storage(None, folder))
    (folder / "search.journal").write_text("".join(  # only C left: drop A's records
        line for line in (folder / "search.journal").read_text().splitlines(keepends=True)[-1:]))
    with pytest.raises(SearchError, match=r"holds the search 'C', .*it stopped before it stored its "
                                          r"settings: start it again with --study-name C, or give"):
        Search.open(quick_config(trials=1), folder, study_name="D", data=cat_train)


def test_resume_says_which_search_the_folder_records(tmp_path, cat_train):
    """It said "there is no search named 'sn1' in runs/sn1/search.journal" although search.json
    recorded the study 'other' there."""
    folder = tmp_path / "sn1"
    _searched(folder, cat_train, study_name="other")
    with pytest.raises(SearchError) as info:
        Search.open(None, folder, resume=True)
    journal = folder / "search.journal"
    assert str(info.value) == (f"there is no search named 'sn1' in {journal} to resume: "
                               f"{folder / 'search.json'} records the search 'other' in {journal}; "
                               "continue it with --resume --study-name other")
    # a study that is stored, in a folder whose search.json is another study's: refused too
    Search.open(quick_config(trials=1), tmp_path / "b", study_name="B", data=cat_train).run()
    (tmp_path / "b" / "search.journal").replace(folder / "search.journal")  # holds B alone now
    with pytest.raises(SearchError, match="the search 'B' .* cannot run in .* records the search 'other'"):
        Search.open(None, folder, study_name="B", resume=True)


def test_a_summary_keeps_only_its_own_searchs_final_result(tmp_path, cat_train):
    """search.json written by another study in the folder: its final result is not this one's."""
    folder = tmp_path / "f"
    search = _searched(folder, cat_train)
    stored = json.loads((folder / "search.json").read_text())
    stored["final"] = {"trial": search.best_trial().number, "test": {"accuracy": 0.5}}
    for key, value in (("study", "other"), ("storage", "sqlite:///other.db")):
        (folder / "search.json").write_text(json.dumps({**stored, key: value}))
        summary = search.summary(plot=False)
        assert "final" not in summary and "outdated_final" not in summary
    (folder / "search.json").write_text(json.dumps(stored))
    assert search.summary(plot=False)["final"]["test"] == {"accuracy": 0.5}  # its own: kept


@pytest.mark.parametrize("content, problem", [("{", "Expecting property name"), ("[]", "not a JSON object")])
def test_a_damaged_search_json_is_a_clear_error(tmp_path, cat_train, content, problem):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "search.json").write_text(content)
    with pytest.raises(SearchError, match=rf"search.json is damaged \({problem}.*\): remove it, and the "
                                          "search writes it again from its storage"):
        Search.open(quick_config(trials=1), tmp_path / "d", data=cat_train)


# -- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--param", "lr=log:1e-5"], "bad parameter spec 'lr=log:1e-5': expected log:LOW:HIGH"),
    (["--param", "lr=log:0.1:0.001"], "the range is empty (low 0.1 >= high 0.001)"),
    (["--param", "lr"], "bad parameter spec 'lr': expected NAME=KIND:ARGS"),
    (["--param", "lr=log:1e-3:1", "--storage", "runs.db"], "--storage must be a database URL"),
    (["--param", "lr=log:1e-3:1", "--storage", "postgresql://someone:s3cret@127.0.0.1:1/nodb"],
     "cannot open the storage postgresql://someone:***@127.0.0.1:1/nodb"),
    (["--param", "lr=log:1e-3:1", "--storage", "sqlite:////nonexistent-dir/x/search.db"],
     "cannot open the storage sqlite:////nonexistent-dir/x/search.db"),
    (["--resume"], "there is no search named 'e' in "),
    (["--resume", "--param", "lr=log:1e-3:1"], "--resume continues the stored search space"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    result = run_cli("search", "--out", str(tmp_path / "e"), *args, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("glassnet search: error: "), result.stderr
    assert message in lines[0]
    assert "s3cret" not in result.stderr + result.stdout


def test_cli_search_with_a_space_file_and_final(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('[params]\nlr = "log:1e-3:1e-1"\n'
                     'weight_decay = { kind = "log", low = 1e-6, high = 1e-2 }\n')
    result = run_cli("search", "--hidden", "7", "--epochs-per-trial", "2", "--trials", "3",
                     "--space", str(space), "--name", "cli", "--final", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^\s*trial\s+round\s+val_bal_acc\s+state\s+epochs\s+best_ep\s+params$", out, re.M)
    assert "objective val_balanced_accuracy (maximize)" in out
    assert re.search(r"^best: trial \d+, validation balanced accuracy 0\.\d{4} \(validation accuracy "
                     r"0\.\d{4}, loss \d\.\d{4}\) at epoch [12] of 2, lr=", out, re.M)
    assert len(re.findall(r"^\s+\d+\s+1\s+0\.\d{4}\s+complete\s+2\s+[12]\s+lr=", out, re.M)) == 3
    assert "scatter plot: runs/cli/search_scatter.png" in out
    command = re.search(r"train it on train\+validation: (glassnet train .*)$", out, re.M).group(1)
    assert command.endswith("--out runs/cli/final --overwrite")
    best_epoch = re.search(r"at epoch (\d) of 2", out).group(1)
    assert f"--epochs {best_epoch} " in command
    assert re.search(rf"final: trained on {best_epoch} epochs?; train: .*; test: loss \d\.\d+, "
                     r"accuracy \d\.\d+", out)
    summary = json.loads((tmp_path / "runs" / "cli" / "search.json").read_text())
    assert summary["final"]["test"]["accuracy"] >= 0 and summary["best"]["train_command"] == command
    # The printed command, run as printed after --final, trains what --final trained (and
    # replaces that run: --overwrite).
    retrain = run_cli(*command.split()[1:], "--quiet", cwd=tmp_path)
    assert retrain.returncode == 0, retrain.stderr
    again = json.loads((tmp_path / "runs" / "cli" / "final" / "metrics.json").read_text())
    assert again["test"] == pytest.approx(summary["final"]["test"])


def test_a_study_joined_by_name_gets_a_run_folder_of_that_name(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = run_cli("search", *QUICK, "--trials", "2", "--storage", storage, "--study-name", "joint",
                    cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli("search", "--resume", "--trials", "3", "--storage", storage,
                    "--study-name", "joint", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["joint"]
    assert len(json.loads((tmp_path / "runs" / "joint" / "search.json").read_text())["trials"]) == 3


def test_a_later_summary_keeps_the_final_result_of_the_same_best_trial(tmp_path, cat_train):
    search = Search.open(quick_config(trials=2), tmp_path / "f", data=cat_train)
    search.run()
    search.summary(plot=False)
    stored = json.loads((tmp_path / "f" / "search.json").read_text())
    stored["final"] = {"trial": search.best_trial().number, "test": {"accuracy": 0.5, "loss": None}}
    (tmp_path / "f" / "search.json").write_text(json.dumps(stored))  # a diverged loss: null
    # another worker finishing later writes the summary (and its report) again: the final
    # result stays, its null loss read back as NaN
    final = search.summary(plot=True)["final"]["test"]
    assert final["accuracy"] == 0.5 and math.isnan(final["loss"])
    assert "nan" in (tmp_path / "f" / "search_report.html").read_text()
    stored["final"]["trial"] = search.best_trial().number + 1  # a different best: outdated
    (tmp_path / "f" / "search.json").write_text(json.dumps(stored))
    summary = search.summary(plot=False)
    assert "final" not in summary and summary["outdated_final"]["trial"] == search.best_trial().number + 1
    assert search.summary(plot=False)["outdated_final"] == summary["outdated_final"]  # kept as it is
    # the report says so too (only the command line did)
    search.summary(plot=True)
    page = (tmp_path / "f" / "search_report.html").read_text()
    assert (f"final/ holds the final model of trial {search.best_trial().number + 1}, which is no longer "
            f"the best: <code>glassnet search --resume --final</code> trains trial "
            f"{search.best_trial().number}'s there.") in page


def test_the_cli_says_when_final_holds_a_trial_that_is_no_longer_the_best(tmp_path, cat_train, capsys):
    search = Search.open(quick_config(trials=2), tmp_path / "f", data=cat_train)
    search.run()
    stored = search.summary(plot=False)
    stored["final"] = {"trial": search.best_trial().number + 1, "test": {"accuracy": 0.5}}
    (tmp_path / "f" / "search.json").write_text(json.dumps(stored))  # as a resume that found a new best
    assert main(["search", "--out", str(tmp_path / "f"), "--resume", "--no-plot"]) == 0
    assert (f"glassnet search: warning: {tmp_path / 'f' / 'final'} holds the final model of trial "
            f"{search.best_trial().number + 1}, which is no longer the best: add --final (with --resume) "
            f"to train trial {search.best_trial().number}'s there") in capsys.readouterr().err


def _unreadable_test_split(tmp_path: Path, data_root: Path) -> Path:
    """A data directory whose training file is the real one and whose test file cannot be read
    by anyone (root included): in its place is a directory with mode 000."""
    root = tmp_path / "data"
    (root / "catvnoncat").mkdir(parents=True)
    (root / "catvnoncat" / "train_catvnoncat.h5").symlink_to(data_root / "catvnoncat" / "train_catvnoncat.h5")
    blocked = root / "catvnoncat" / "test_catvnoncat.h5"
    blocked.mkdir(mode=0)
    return root


def test_search_never_reads_the_test_split(tmp_path, data_root):
    env = {"GLASSNET_DATA": str(_unreadable_test_split(tmp_path, data_root))}
    result = run_cli("search", *QUICK, "--trials", "2", "--name", "blind", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "best: trial" in result.stdout
    # The guard is real: --final, which must read the test split, fails on it.
    final = run_cli("search", *QUICK, "--trials", "2", "--name", "blind", "--final", cwd=tmp_path, env=env)
    assert final.returncode == 1
    assert "test_catvnoncat.h5" in final.stderr and "Traceback" not in final.stderr


def _start_workers(tmp_path: Path, extra: list[list[str]],
                   trials: int = 6) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # Ten epochs a trial, so that neither worker can finish the study before the other starts.
    procs = [subprocess.Popen([sys.executable, "-m", "glassnet", "search", *QUICK, "--trials", str(trials),
                               "--epochs-per-trial", "10", "--no-plot", *args], cwd=tmp_path, env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for args in extra]
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=600)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    finally:  # a worker stuck on a broken lock fails the test, and is not left running
        for proc in procs:
            proc.kill()
            proc.wait()
    return results


def _check_shared(results, study, trials: int = 6) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers))) and trials <= len(numbers) <= trials + 1
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2, "both workers ran trials"
    ran = [re.findall(r"^\s+(\d+)\s+1\s", r.stdout, re.M) for r in results]
    assert not set(ran[0]) & set(ran[1]), "a trial number was run twice"
    # Both workers may claim the last place at once: the later claim is closed as a surplus
    # that is never run or printed (the "+ 1" above).
    run_numbers = [t.number for t in study.trials if not t.user_attrs.get("surplus")]
    assert len(run_numbers) == trials
    assert sorted(int(n) for n in ran[0] + ran[1]) == run_numbers
    best = {re.search(r"^best: trial (\d+),", r.stdout, re.M).group(1) for r in results}
    assert len(best) == 1, f"the workers disagree on the best trial: {best}"


@pytest.mark.slow
def test_two_workers_share_a_journal_study(tmp_path):
    results = _start_workers(tmp_path, [["--name", "shared"], ["--name", "shared"]])
    search = Search.open(None, tmp_path / "runs" / "shared", resume=True)
    _check_shared(results, search.study)


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (started and stopped by .ci/postgres.sh).

    Skipped when PostgreSQL is not installed, unless GLASSNET_REQUIRE_POSTGRES=1 (CI sets it
    after `.ci/postgres.sh install`), which turns the skip into a failure.
    """
    started = subprocess.run(["bash", str(POSTGRES), "start"], capture_output=True, text=True)
    if started.returncode != 0:
        message = f"PostgreSQL could not start: {started.stderr.strip()}"
        if os.environ.get("GLASSNET_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message + " (install it with .ci/postgres.sh install)")
    directory, url = started.stdout.split()
    yield url
    subprocess.run(["bash", str(POSTGRES), "stop", directory], check=True)


@pytest.mark.slow
def test_two_workers_share_a_postgres_study(tmp_path, postgres_url):
    # Two "machines": separate run directories, one study in the database.
    machines = [["--out", out, "--storage", postgres_url, "--study-name", "pg"]
                for out in ("machine1", "machine2")]
    results = _start_workers(tmp_path, machines)
    search = Search.open(None, tmp_path / "machine1", storage=postgres_url, study_name="pg", resume=True)
    assert search.storage_label == postgres_url
    _check_shared(results, search.study)
    for machine in ("machine1", "machine2"):
        assert (tmp_path / machine / "search.json").is_file()
    assert not (tmp_path / "machine1" / "search.journal").exists()


def test_cli_workers_flag_runs_local_processes(tmp_path):
    result = run_cli("search", *QUICK, "--trials", "6", "--epochs-per-trial", "10", "--workers", "2",
                     "--name", "w", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    search = Search.open(None, tmp_path / "runs" / "w", resume=True)
    assert len({t.user_attrs["pid"] for t in search.study.trials}) == 2
    assert [t.number for t in search.study.trials] == list(range(len(search.study.trials)))


def test_missing_optuna_names_the_extra(monkeypatch, tmp_path):
    from glassnet.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "optuna", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'glassnet\[search\]'"):
        Search.open(quick_config(), tmp_path / "x")


@pytest.mark.parametrize("args, message", [
    (["--param", "dropout=float:0:2"],
     "cannot search dropout=float:0:2: a trial with dropout=2.0 fails: Dropout rate must be a number in"),
    (["--param", "hidden=choice:50,abc"],
     "cannot search hidden=choice:50,abc: a trial with hidden='abc' fails: a hidden choice is a "
     "positive layer size, or several joined with '-' (hidden=choice:50,20-7-5: one layer of 50, or "
     "three), got 'abc'"),
    (["--param", "hidden=choice:50,20-x"], "a trial with hidden='20-x' fails: a hidden choice is"),
    (["--param", "batch_size=int:0:64"], "a trial with batch_size=0 fails: batch_size must be a positive"),
    (["--param", "lr=log:1e-3:1e-1", "--optimizer", "adamm"], "unknown optimizer 'adamm'"),
    (["--param", "lrr=log:1e-3:1e-1"], "cannot search 'lrr'"),
    ([], "nothing to search: give --param"),
    (["--resume"], "there is no search named 'e' in"),
])
def test_a_search_that_cannot_run_is_refused_before_it_writes_anything(tmp_path, capsys, args, message):
    assert main(["search", "--out", str(tmp_path / "e"), "--epochs-per-trial", "1", *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("glassnet search: error: ") and len(err.splitlines()) == 1, err
    assert message in err
    assert not (tmp_path / "e").exists()  # no run folder, no search.journal


@pytest.mark.parametrize("params, message", [
    (["optimizer=choice:adam,adagrad", "momentum=float:0.5:0.9"],
     "a trial with optimizer='adam', momentum=0.5 fails: --momentum applies to sgd/momentum/"),
    (["lr_schedule=choice:cosine", "lr_decay=float:0.5:0.9"],
     "a trial with lr_schedule='cosine', lr_decay=0.5 fails: --lr-decay 0.5 makes the lr a step "
     "schedule (x0.5 every epoch): give it alone or with --lr-schedule step; --lr-schedule cosine "
     "is another schedule"),
])
def test_values_that_can_never_train_together_are_refused_up_front(tmp_path, cat_train, params, message):
    config = quick_config()
    config.params += [parse_param(text) for text in params]
    with pytest.raises(ConfigError) as info:
        Search.open(config, tmp_path / "never", data=cat_train)
    assert str(info.value).startswith("no trial of this search could train: no combination of the "
                                      "searched values works together (")
    assert message in str(info.value)
    assert not (tmp_path / "never").exists()


def test_the_warning_names_each_reason_with_only_the_values_that_cause_it():
    from glassnet.errors import GlassnetWarning
    from glassnet.search_checks import check_combinations

    config = quick_config()
    config.params += [parse_param(text) for text in ("optimizer=choice:adam,sgd", "momentum=float:0:0.9",
                                                     "lr_schedule=choice:cosine,step",
                                                     "lr_decay=float:0.1:0.9")]
    with pytest.warns(GlassnetWarning) as caught:
        check_combinations(config)
    message = str(caught[0].message)
    assert ": a trial with optimizer='adam', momentum=0.0 fails: --momentum applies to" in message
    assert ("; a trial with lr_schedule='cosine', lr_decay=0.1 fails: --lr-decay 0.1 makes the lr a "
            "step schedule (x0.1 every epoch)") in message


def test_a_search_too_big_to_try_every_combination_is_warned_about_not_refused(monkeypatch):
    """Only a search whose every combination was tried is known to have none that trains:
    past MAX_COMBINATIONS the untried ones might, so it goes on, with a warning."""
    from glassnet import search_checks

    config = quick_config()
    config.params = [parse_param("optimizer=choice:adam"), parse_param("momentum=float:0.5:0.9")]
    with pytest.raises(ConfigError, match="no trial of this search could train"):
        search_checks.check_combinations(config)  # 2 combinations, both tried
    monkeypatch.setattr(search_checks, "MAX_COMBINATIONS", 1)
    with pytest.warns(GlassnetWarning, match="some trials of this search cannot train"):
        search_checks.check_combinations(config)


def test_a_trial_whose_values_cannot_go_together_fails_with_its_reason_and_the_search_goes_on(
        tmp_path, cat_train):
    from glassnet.errors import GlassnetWarning

    config = quick_config(trials=4, sampler="random")
    config.params += [parse_param("optimizer=choice:adam,sgd"), parse_param("momentum=float:0.5:0.9")]
    with pytest.warns(GlassnetWarning, match=r"some trials of this search cannot train .* a trial "
                                             r"with .*optimizer='adam', momentum=0\.5 fails"):
        search = Search.open(config, tmp_path / "mixed", data=cat_train)
    records = []
    assert search.run(on_trial=records.append) == 4  # the search went on after a failure
    states = {r.params["optimizer"]: r.state for r in records}
    assert states == {"adam": "failed", "sgd": "complete"}, "the seed no longer draws both optimizers"
    reason = "--momentum applies to sgd/momentum/nesterov/rmsprop, not 'adam'"
    for record in records:
        assert (record.note == f"cannot train: {reason}") == (record.state == "failed")
    rows = search.summary(plot=False)["trials"]
    assert all(row["error"] == (reason if row["params"]["optimizer"] == "adam" else None) for row in rows)
    assert search.best_trial().params["optimizer"] == "sgd"
    failed = [r.number for r in records if r.state == "failed"]
    assert not any((tmp_path / "mixed" / "trials" / f"{n:04d}").exists() for n in failed)


def test_cli_shows_why_a_trial_could_not_train_and_goes_on(tmp_path):
    result = run_cli("search", *QUICK, "--epochs-per-trial", "1", "--sampler", "random", "--trials", "4",
                     "--param", "optimizer=choice:adam,sgd", "--param", "momentum=float:0.5:0.9",
                     "--name", "mixed", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("glassnet search: warning: some trials of this search cannot train")
    assert re.search(r"^\s+\d+\s+1\s+-\s+failed\s+0\s+-\s+.*optimizer=adam momentum=0\.\d+  \(cannot "
                     r"train: --momentum applies to sgd/momentum/nesterov/rmsprop, not 'adam'\)$",
                     result.stdout, re.M), result.stdout
    assert re.search(r"^\s+\d+\s+1\s+0\.\d{4}\s+complete\s+1\s+1\s+.*optimizer=sgd", result.stdout, re.M)
    assert "best: trial" in result.stdout and "--optimizer sgd" in result.stdout


@pytest.mark.parametrize("resume", [[], ["--resume"]])
@pytest.mark.parametrize("url", ["sqlite:///{}", "sqlite+pysqlite:///{}"])
def test_several_workers_on_a_sqlite_storage_are_refused_up_front(tmp_path, capsys, url, resume):
    database = tmp_path / "study.db"
    args = resume or ["--param", "lr=log:1e-3:1e-1"]
    assert main(["search", *args, "--out", str(tmp_path / "e"), "--storage", url.format(database),
                 "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert err == (f"glassnet search: error: --workers 2 cannot share the SQLite storage "
                   f"{url.format(database)}: SQLite locks under parallel writers. Leave out --storage "
                   "(the journal file runs/NAME/search.journal takes any number of local workers), use "
                   "a PostgreSQL URL, or run one worker\n")
    assert not database.exists() and not (tmp_path / "e").exists()


def test_a_refused_range_can_be_fixed_and_run_under_the_same_name(tmp_path, cat_train):
    bad, good = quick_config(), quick_config(trials=1)
    bad.params.append(parse_param("dropout=float:0:2"))
    good.params.append(parse_param("dropout=float:0:0.5"))
    with pytest.raises(ConfigError, match=re.escape("a trial with dropout=2.0 fails")):
        Search.open(bad, tmp_path / "s", data=cat_train)
    assert Search.open(good, tmp_path / "s", data=cat_train).run() == 1


def test_resume_needs_a_name(tmp_path):
    result = run_cli("search", "--resume", cwd=tmp_path)
    assert result.returncode == 1 and "--resume continues a stored search: give its --name" in result.stderr


@pytest.mark.parametrize("holdout", [[], ["--folds", "2"]], ids=["split", "folds"])
def test_evaluate_on_a_trials_model_uses_the_trials_own_validation_images(tmp_path, capsys, holdout):
    """A trial's model did not record how its validation images were held out: --split
    validation was refused and --split train gave all 209 training images, not the trial's."""
    out = tmp_path / "s"
    assert main(["search", *QUICK, "--trials", "1", "--out", str(out), "--no-plot", *holdout]) == 0
    trial = out / "trials" / "0000" / ("fold-2" if holdout else "")
    recorded = json.loads((trial / "metrics.json").read_text())
    capsys.readouterr()
    for split in ("validation", "train"):
        assert main(["evaluate", str(trial), "--split", split, "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["split"] == split and got["samples"] < 209
        assert (got["loss"], got["accuracy"]) == (recorded[split]["loss"], recorded[split]["accuracy"])
    page = tmp_path / "validation.html"
    assert main(["evaluate", str(trial), "--split", "validation", "--report", str(page)]) == 0
    held = "fold 2 of --folds 2" if holdout else "--validation-split 0.2"
    assert f"<td>validation ({held} --seed 0)</td>" in page.read_text()
    capsys.readouterr()
    assert main(["info", str(trial)]) == 0
    assert (", a search trial validated on fold 2 of 2" if holdout
            else ", a search trial with validation split 0.2") in capsys.readouterr().out


def test_more_workers_than_the_cores_can_hold_are_refused(tmp_path, monkeypatch, capsys):
    from glassnet import backend

    monkeypatch.setattr(backend, "available_cores", lambda: 2)
    assert main(["search", *QUICK, "--workers", "9", "--out", str(tmp_path / "w")]) == 1
    assert ("--workers 9 is more than 4 per CPU core (2 here): they would only wait for each other"
            in capsys.readouterr().err)
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", "a/b", "..", ""])
def test_a_search_name_is_one_folder_under_runs(tmp_path, monkeypatch, capsys, name):
    """--name ../../escape wrote the search outside runs/, and an empty one fell back to
    an automatic name."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--param", "lr=log:1e-3:1e-1", "--name", name])
    assert exit_info.value.code == 2
    assert re.search(r"--name: expected a name(, got an empty one| for a folder under runs/, got .*: "
                     r"give a folder's path with --out)", capsys.readouterr().err)
    assert main(["search", "--param", "lr=log:1e-3:1e-1", "--study-name", "team/a"]) == 1
    assert ("--study-name 'team/a' cannot be the run folder's name as well (runs/NAME: no '/', not '.' "
            "or '..'): give --name or --out too") in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_worker_that_loses_the_race_for_the_last_place_runs_no_extra_trial(tmp_path, cat_train):
    """Two workers can both see one free place and ask for a trial; the later trial number
    gives way (a 'surplus' claim that counts nowhere), so a round never exceeds its budget."""
    from glassnet.search_trial import TrialRunner

    search = Search.open(quick_config(trials=1), tmp_path / "race", data=cat_train)
    rival = search.study.ask()  # another worker's claim, before it has labelled its round
    assert not search._within_budget(rival.number + 1, 0)
    rival.set_user_attr("round", 0)
    assert not search._within_budget(rival.number + 1, 0)
    assert search._within_budget(rival.number, 0)  # the earliest claim keeps its place
    index, specs = search.current_round()
    runner = TrialRunner(search.config, search.run_dir, search.splits)
    assert runner.run(search.study, index, specs, within_budget=lambda number: False) is None
    surplus = [t for t in search.study.trials if t.user_attrs.get("surplus")]
    assert len(surplus) == 1 and surplus[0].state.name == "FAIL"
    assert [row["number"] for row in search.trial_rows()] == [rival.number]


def test_an_unlabelled_claim_expires_instead_of_blocking_the_round(tmp_path, cat_train, monkeypatch):
    """A worker that died between asking for a trial and labelling it leaves a RUNNING trial
    with no round and no pid: a rival only while fresh, then failed like any orphan."""
    import glassnet.search_trial as search_trial

    search = Search.open(quick_config(trials=1), tmp_path / "orphan", data=cat_train)
    orphan = search.study.ask()
    assert not search._within_budget(orphan.number + 1, 0)
    assert search.fail_interrupted() == []  # still fresh: its worker may be about to label it
    monkeypatch.setattr(search_trial, "CLAIM_SECONDS", 0.0)
    assert search._within_budget(orphan.number + 1, 0)
    assert search.fail_interrupted() == [orphan.number]


def test_a_dead_workers_unlabelled_claim_is_waited_out_without_surplus_trials(tmp_path, cat_train,
                                                                             monkeypatch):
    """While the claim was fresh, the next worker asked for a trial every poll and gave each
    way to it: a resumed search made 60 surplus trials (numbers jumping from 3 to 64)."""
    import glassnet.search_trial as search_trial

    monkeypatch.setattr(search_trial, "CLAIM_SECONDS", 1.5)
    search = Search.open(quick_config(trials=2), tmp_path / "orphan", data=cat_train)
    orphan = search.study.ask()  # its worker died before labelling it
    waits = []
    assert search.run(poll=0.1, on_wait=waits.append) == 2
    surplus = [t.number for t in search.study.trials if t.user_attrs.get("surplus")]
    assert surplus == [] and [t.number for t in search.study.trials] == [orphan.number, 1, 2]
    assert search.study.trials[orphan.number].state == optuna.trial.TrialState.FAIL
    assert waits and "not yet labelled by its worker" in waits[0]


def test_a_trial_whose_loss_diverges_after_its_first_epoch_has_no_score(tmp_path, cat_train, monkeypatch):
    """A trial that completed an epoch before its loss became non-finite failed: the live
    table shows no score for it (the best epoch's it had), as search.json does."""
    from glassnet.search_trial import TrialRunner, _Outcome

    def diverges_in_epoch_2(self, trial, config):
        one_epoch = {"val_balanced_accuracy": [0.7], "val_accuracy": [0.75], "val_loss": [0.6]}
        return _Outcome([one_epoch], "failed", "non-finite loss at epoch 2", "the loss became nan at epoch 2")

    monkeypatch.setattr(TrialRunner, "_train", diverges_in_epoch_2)
    search = Search.open(quick_config(trials=1), tmp_path / "d", data=cat_train)
    records = []
    search.run(on_trial=records.append)
    (record,) = records
    assert (record.state, record.value, record.epochs, record.best_epoch) == ("failed", None, 1, 1)
    assert [(row["state"], row["value"]) for row in search.trial_rows()] == [("fail", None)]


def test_another_hosts_running_trial_counts_as_dead_after_ten_times_the_median_trial():
    from types import SimpleNamespace

    from glassnet.search_trial import worker_patience

    def trial(state, seconds):
        return SimpleNamespace(state=SimpleNamespace(name=state),
                               duration=None if seconds is None else datetime.timedelta(seconds=seconds))

    done = [trial("COMPLETE", seconds) for seconds in (300, 100, 7200)]  # one slow outlier
    # the median finished trial's 300 s, not the slowest's: failed and running ones do not count
    assert worker_patience([*done, trial("RUNNING", None), trial("FAIL", 90000)]) == 3000.0
    assert worker_patience([trial("COMPLETE", 20)]) == worker_patience([]) == 600.0  # 10 min at least


def test_a_claim_is_fresh_for_a_minute_either_side_of_this_machines_clock():
    """A claim stamped by a machine whose clock is ahead is fresh for a minute, as any; one
    stamped an hour ahead is not, or an orphan of that machine would block its round for an hour."""
    from types import SimpleNamespace

    from glassnet.search_trial import fresh_claim

    now = datetime.datetime(2026, 12, 7, 12, 0, 0)

    def claim(seconds):
        start = None if seconds is None else now + datetime.timedelta(seconds=seconds)
        return SimpleNamespace(datetime_start=start)

    assert fresh_claim(claim(-30), now) and fresh_claim(claim(30), now)
    assert not fresh_claim(claim(-90), now) and not fresh_claim(claim(3600), now)
    assert not fresh_claim(claim(None), now)


def test_a_failed_trial_has_no_score_and_a_pruned_one_its_last(tmp_path, cat_train):
    from optuna.trial import TrialState

    search = Search.open(quick_config(trials=2), tmp_path / "states", data=cat_train)
    for state, score in ((TrialState.FAIL, 0.61), (TrialState.PRUNED, 0.55)):
        trial = search.study.ask()
        trial.report(score, 0)
        search.study.tell(trial, state=state)
    rows = search.trial_rows()
    assert [(r["state"], r["value"]) for r in rows] == [("fail", None), ("pruned", 0.55)]


def test_a_search_in_which_every_trial_failed_writes_its_results_with_the_reasons(tmp_path, cat_train):
    config = quick_config(trials=2)
    config.params[0] = parse_param("lr=log:1e20:1e30")  # the loss overflows in the first epoch
    search = Search.open(config, tmp_path / "nan", data=cat_train)
    search.run()
    summary = search.summary()
    assert summary["best"] is None
    assert [row["state"] for row in summary["trials"]] == ["fail", "fail"]
    assert all(row["error"].startswith("the loss became nan at epoch 1") for row in summary["trials"])
    assert json.loads((tmp_path / "nan" / "search.json").read_text())["trials"] == summary["trials"]
    page = (tmp_path / "nan" / "search_report.html").read_text()
    assert "no trial succeeded (2 trials: 2 failed); the trials below say why" in page
    assert "the loss became nan at epoch 1" in page


def test_no_trial_succeeded_counts_the_states():
    from glassnet.report.text import no_trial_succeeded

    rows = [{"state": state} for state in ("fail", "pruned", "fail", "running")]
    assert no_trial_succeeded(rows) == "no trial succeeded (4 trials: 2 failed, 1 pruned, 1 still running)"
    assert no_trial_succeeded([]) == "no trial succeeded (0 trials)"


def test_cli_says_clearly_that_no_trial_succeeded(tmp_path):
    result = run_cli("search", *QUICK[:-4], "--param", "lr=log:1e20:1e30", "--trials", "2", "--name", "nan",
                     "--no-plot", "--final", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "glassnet search: error: no trial succeeded (2 trials: 2 failed): there is no best configuration "
        "to print or train (--final skipped); each trial's reason is in the table above and in "
        "runs/nan/search.json")
    assert "summary: runs/nan/search.json" in result.stdout and "not completed" not in result.stdout
    assert len(re.findall(r"failed\s+0\s+-\s+.*\(non-finite loss at epoch 1\)$", result.stdout, re.M)) == 2
    assert json.loads((tmp_path / "runs" / "nan" / "search.json").read_text())["best"] is None
    assert not (tmp_path / "runs" / "nan" / "final").exists()


def test_spawned_workers_get_the_storage_threads_and_device(monkeypatch, tmp_path):
    import argparse
    import types

    from glassnet.cli import search_workers

    started = []
    monkeypatch.setattr(search_workers.subprocess, "Popen",
                        lambda command, env=None: started.append((command, env)))
    # an image folder as this process found it (a resumed search's may have moved: --dataset)
    search = types.SimpleNamespace(run_dir=tmp_path, study=types.SimpleNamespace(study_name="s"),
                                   config=types.SimpleNamespace(base=types.SimpleNamespace(dataset="/d/photos")))
    url = "postgresql://me:s3cret@127.0.0.1/db"
    args = argparse.Namespace(storage=url, threads=1, device="gpu", workers=3, no_cache=True)
    search_workers.spawn_workers(search, args)
    assert len(started) == 2
    command, env = started[0]
    assert "--dataset=/d/photos" in command  # one argument: a folder's name may start with "-"
    # the URL through the environment: on the command line, ps showed its password
    assert not any("s3cret" in part for part in command) and env["GLASSNET_SEARCH_STORAGE"] == url
    for flag, value in (("--storage", "env:GLASSNET_SEARCH_STORAGE"), ("--threads", "1"),
                        ("--device", "gpu")):
        assert command[command.index(flag) + 1] == value
    assert command[-1] == "--no-cache"


def test_without_threads_each_worker_gets_its_share_of_the_cores(monkeypatch, tmp_path):
    import argparse
    import types

    from glassnet import backend
    from glassnet.cli import runtime, search_workers

    monkeypatch.setattr(backend, "available_cores", lambda: 8)
    started = []
    monkeypatch.setattr(search_workers.subprocess, "Popen", lambda command, env=None: started.append(command))
    search = types.SimpleNamespace(run_dir=tmp_path, study=types.SimpleNamespace(study_name="s"),
                                   config=types.SimpleNamespace(base=types.SimpleNamespace(dataset="cats")))
    args = argparse.Namespace(storage=None, threads=None, device=None, workers=3, no_cache=False)
    search_workers.spawn_workers(search, args)
    assert [c[c.index("--threads") + 1] for c in started] == ["2", "2"]
    assert not any(arg.startswith("--dataset") for arg in started[0])  # a named set: nothing to find
    assert runtime.thread_count(args) == 2
    assert search_workers.search_runtime_flags(args) == []  # the printed train command may use every core
    assert runtime.thread_count(argparse.Namespace(threads=None)) == 8
    assert runtime.thread_count(argparse.Namespace(threads=None, workers=16)) == 1
    assert runtime.thread_count(argparse.Namespace(threads=5, workers=4)) == 5


def test_the_final_model_of_a_search_with_workers_trains_as_the_printed_command(
        tmp_path, monkeypatch, capsys):
    """With --workers 2 and no --threads, --final trained on this process's share of the
    cores (2 of 4 here) and the printed command, without --threads, on all 4: a batch split
    over other threads rounds differently, so the two histories differed."""
    from glassnet import backend
    from glassnet.cli import search_output

    monkeypatch.setattr(backend, "available_cores", lambda: 4)
    monkeypatch.setattr(search_output, "spawn_workers", lambda search, args: [])  # this one runs all
    monkeypatch.chdir(tmp_path)
    assert main(["search", *QUICK, "--trials", "1", "--workers", "2", "--final", "--no-plot",
                 "--name", "w"]) == 0
    out = capsys.readouterr().out
    command = re.search(r"train it on train\+validation: glassnet (train .*)$", out, re.M).group(1)
    assert "--threads" not in command
    final = tmp_path / "runs" / "w" / "final"
    history = (final / "history.json").read_text()
    assert json.loads((final / "run.json").read_text())["threads"] == 4
    assert main([*shlex.split(command), "--quiet"]) == 0  # replaces final/ (--overwrite)
    assert (final / "history.json").read_text() == history  # to the last digit


def test_a_process_signal_0_may_not_reach_is_alive(monkeypatch):
    """A worker of another user on this host (a shared study): signal 0 is refused with
    EPERM, which means the process exists, so its running trial is not a dead worker's."""
    from glassnet import search_trial

    def refused(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(search_trial.os, "kill", refused)
    assert search_trial.alive(1)  # not our child: waitid says nothing, signal 0 decides


def test_a_dead_worker_is_seen_as_dead_before_it_is_reaped():
    """A --workers child that dies stays a zombie until the parent waits for it, and signal 0
    still reaches a zombie: its running trial must count as interrupted all the same."""
    import time

    from glassnet.search_trial import alive

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not alive(child.pid)
    assert child.wait() == 0  # not reaped by the check: the parent still gets the exit code
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert alive(running.pid)
    finally:
        running.kill()
        running.wait()
    assert alive(os.getpid()) and not alive("not a pid")


def test_a_lock_left_by_a_killed_search_does_not_hang_the_next_one(tmp_path, monkeypatch):
    """Optuna's journal lock is a symbolic link to the journal; a relative one (as glassnet
    made before) points nowhere, and a killed process's dead link made Optuna spin for ever."""
    from glassnet.errors import GlassnetWarning
    from glassnet.search_storage import open_storage

    monkeypatch.chdir(tmp_path)
    run_dir = Path("runs") / "killed"
    run_dir.mkdir(parents=True)
    dead = run_dir / "search.journal.lock"
    dead.symlink_to("runs/killed/search.journal")  # relative: resolves to nothing

    def hung(*_):
        raise TimeoutError("the journal lock was never acquired")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(30)  # the bug hangs for ever: fail instead
    try:
        with pytest.warns(GlassnetWarning, match="removed the lock .* that a killed search left behind"):
            storage = open_storage(None, run_dir)
        assert not dead.is_symlink()
        study = optuna.create_study(storage=storage, study_name="s")
        study.enqueue_trial({"x": 1.0})  # writes to the journal, taking the lock
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert len(study.trials) == 1 and not dead.is_symlink()  # released again


def test_a_live_looking_lock_of_a_killed_worker_is_released_in_seconds(tmp_path):
    """A worker killed (SIGKILL) while it appended a record leaves a lock that links to the
    journal, as a live one does: the next process waited Optuna's 30 s grace period."""
    import time
    import warnings

    from glassnet.search_storage import LOCK_GRACE_SECONDS, open_storage

    storage = open_storage(None, tmp_path)
    optuna.create_study(storage=storage, study_name="s")
    (tmp_path / "search.journal.lock").symlink_to((tmp_path / "search.journal").resolve())
    storage = open_storage(None, tmp_path)
    study = optuna.load_study(storage=storage, study_name="s")
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "Forcibly releasing the lock file"
        study.enqueue_trial({"x": 1.0})  # takes the lock: waits for the grace period
    assert LOCK_GRACE_SECONDS <= time.monotonic() - started < 25
    assert len(study.trials) == 1


def test_a_partial_record_under_a_killed_workers_lock_is_cut_after_the_grace_period(tmp_path,
                                                                                    monkeypatch):
    """The cut of a half-written last record waits for the journal lock: a killed worker's
    lock, which links to the journal as a live one does, is released after glassnet's grace
    period, not Optuna's 30 s."""
    import time
    import warnings

    from glassnet import search_storage
    from glassnet.search_storage import open_storage

    monkeypatch.setattr(search_storage, "LOCK_GRACE_SECONDS", 3)  # read when the lock is made
    optuna.create_study(storage=open_storage(None, tmp_path), study_name="s")
    journal = tmp_path / "search.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 0, "worker_id"')  # killed mid-write
    (tmp_path / "search.journal.lock").symlink_to(journal.resolve())
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "Forcibly releasing the lock file"
        storage = open_storage(None, tmp_path)
    assert 3 <= time.monotonic() - started < 15
    assert journal.read_bytes() == whole
    assert optuna.load_study(storage=storage, study_name="s").trials == []


def test_resume_may_lower_the_budget_but_not_below_the_trials_run(tmp_path, cat_train):
    class StopError(Exception):
        pass

    def stop_after_the_third(record):
        if record.number == 2:
            raise StopError

    search = Search.open(quick_config(trials=4, sampler="random"), tmp_path / "s", data=cat_train)
    with pytest.raises(StopError):  # stopped with 3 of its 4 trials run: --trials 3 is the least
        search.run(on_trial=stop_after_the_third)
    with pytest.raises(SearchError, match="--trials 2 is fewer than the 3 trials this search has "
                                          r"already run; give at least 3 \(the new total\)"):
        Search.open(None, tmp_path / "s", resume=True, trials=2, data=cat_train)
    rows = Search.open(None, tmp_path / "s", resume=True, trials=3, data=cat_train).trial_rows()
    assert [row["round"] for row in rows] == [1, 1, 1]  # rounds count from 1, as everywhere else


def test_a_pruned_trials_value_is_its_best_epochs_score(tmp_path, cat_train):
    config = quick_config(trials=3, sampler="random", objective="val_loss")
    config = dataclasses.replace(config, base=dataclasses.replace(config.base, epochs=6))
    search = Search.open(config, tmp_path / "p", data=cat_train)
    search.study.pruner = PruneAtEpoch2()
    search.run()
    rows, trials = search.trial_rows(), search.study.trials
    assert [row["state"] for row in rows] == ["pruned"] * 3
    for row, trial in zip(rows, trials, strict=True):  # as the live table shows it
        assert row["value"] == row["val_loss"] == min(trial.intermediate_values.values())


def test_a_sigint_to_the_first_process_alone_stops_its_workers(monkeypatch, tmp_path):
    from glassnet.cli import search_output

    class Worker:
        signals: list[int] = []

        def send_signal(self, sig):
            self.signals.append(sig)

        def wait(self):
            return 130

    def interrupted(self, on_trial=None, on_wait=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_output, "spawn_workers", lambda search, args: [Worker()])
    monkeypatch.setattr(Search, "run", interrupted)
    assert main(["search", *QUICK, "--trials", "2", "--workers", "2", "--out", str(tmp_path / "w")]) == 130
    assert Worker.signals == [signal.SIGINT]


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
def test_a_worker_process_that_failed_fails_the_search(monkeypatch, tmp_path, capsys):
    """The results are printed (the worker's unfinished trials were failed and trained again),
    but the command exits with 1 and says which exit code the worker had."""
    from glassnet.cli import search_output

    class Crashed:
        def wait(self):
            return 3

    monkeypatch.setattr(search_output, "spawn_workers", lambda search, args: [Crashed()])
    assert main(["search", *QUICK, "--trials", "1", "--workers", "2", "--no-plot",
                 "--out", str(tmp_path / "w")]) == 1
    captured = capsys.readouterr()
    assert "best: trial 0" in captured.out
    assert "glassnet search: error: 1 worker process(es) failed (exit code(s) 3)" in captured.err


def test_a_search_started_with_sigint_ignored_still_stops_on_sigint(tmp_path):
    """A job that a non-interactive shell starts in the background (`glassnet search … &` in
    a script) inherits an ignored SIGINT, and Python then raises no KeyboardInterrupt: a
    `kill -INT` was lost and every trial ran to its end, with exit code 0."""
    out = tmp_path / "bg"
    proc = subprocess.Popen(
        [sys.executable, "-m", "glassnet", "search", *QUICK, "--epochs-per-trial", "100000",
         "--trials", "1", "--no-plot", "--threads", "1", "--out", str(out)],
        env=cli_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        header = ""
        while "params" not in header:  # the table's header: the trial starts right after it
            header = proc.stdout.readline()
            assert header or proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert f"continue with: glassnet search --resume --out {out} --no-plot --threads 1\n" in stderr


def test_a_yaml_search_space_gets_a_hint(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text("lr:\n  kind: log\n  low: 1e-4\n  high: 1e-1\n")
    assert main(["search", "--dataset", "cats", "--space", str(space), "--out", str(tmp_path / "y")]) == 1
    assert "is not readable TOML (search spaces are TOML only, not YAML)" in capsys.readouterr().err


def test_the_scatter_plot_separates_equal_trials_and_stars_the_best():
    from glassnet.report.search_plots import search_scatter_figure

    spec = parse_param("batch_size=choice:16,32,64")
    rows = [{"number": n, "state": "complete", "round": 1, "params": {"batch_size": b}, "value": v}
            for n, b, v in ((0, 32, 0.7), (3, 16, 0.5), (5, 16, 0.5))]
    fig = search_scatter_figure(rows, [spec], "validation balanced accuracy", best=0)
    ax = fig.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    same = points[points[:, 1] == 0.5]
    assert len(same) == 2 and same[0, 0] != same[1, 0]  # trials 3 and 5 do not hide each other
    assert all(abs(x - 0) < 0.2 for x in same[:, 0])  # ... and stay by their choice (16: index 0)
    star = [c for c in ax.collections if c.get_label() == "best: trial 0"]
    assert len(star) == 1 and star[0].get_offsets()[0][1] == 0.7
    assert fig._suptitle.get_text() == "hyperparameter search: 3 of 3 trials"
    failed = [*rows, {"number": 6, "state": "failed", "round": 1, "params": {"batch_size": 64},
                      "value": None}]
    title = search_scatter_figure(failed, [spec], "validation balanced accuracy", best=0)._suptitle.get_text()
    assert title == "hyperparameter search: 3 of 4 trials (1 failed or unscored, not drawn)"  # was "4 trials"


@pytest.mark.parametrize("param,labels", [
    ("lr=log:0.002:0.008", "many"),    # no power of ten inside: the axis had no numbers at all
    ("lr=log:1e-5:1e-1", "decades"),   # decades only, never crowded
])
def test_a_log_axis_always_has_numbers_on_it(param, labels):
    from glassnet.report.figures import figure_png
    from glassnet.report.search_plots import search_scatter_figure

    spec = parse_param(param)
    rows = [{"number": n, "state": "complete", "round": 1, "value": 0.5,
             "params": {"lr": spec.low * (spec.high / spec.low) ** (n / 3)}} for n in range(4)]
    fig = search_scatter_figure(rows, [spec], "validation accuracy", best=0)
    figure_png(fig)
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    shown = [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_xticklabels(minor=True))
             if t.get_text() and low <= t.get_position()[0] <= high]
    assert len(shown) >= 2 if labels == "many" else len(shown) == 5, shown


@pytest.mark.parametrize("param", ["lr=log:1e-100:1e100", "reg=log:1e-100:1", "lr=log:1e-5:1e-1"])
def test_a_log_axis_spans_the_range_whatever_its_width(param):
    """The axis was padded by (high / low) ** 0.03, which overflows for 1e-300..1e300 (limits
    0 and inf: matplotlib's error after the trials had run, and no search.json); such a
    range is refused now (see the spec errors), and the widest one allowed is drawn."""
    from glassnet.report.figures import figure_png
    from glassnet.report.search_plots import search_scatter_figure

    spec = parse_param(param)
    rows = [{"number": n, "state": "complete", "round": 1, "value": 0.5,
             "params": {spec.name: value}} for n, value in enumerate((spec.low, spec.high))]
    fig = search_scatter_figure(rows, [spec], "validation accuracy", best=0)
    figure_png(fig)
    low, high = fig.axes[0].get_xlim()
    assert 0 < low <= spec.low and spec.high <= high < math.inf
    assert (low, high) != (spec.low, spec.high) or param == "lr=log:1e-100:1e100"  # padded


@pytest.mark.parametrize(("params", "size", "shown"), [(1, (4.2, 3.6), 1), (2, (8.4, 3.6), 2),
                                                     (3, (8.4, 7.2), 3), (4, (8.4, 7.2), 4)])
def test_the_scatter_plot_puts_two_panels_a_row(params, size, shown):
    """Four panels side by side were shrunk to the report's width until their labels were tiny."""
    from glassnet.report.search_plots import search_scatter_figure

    specs = [parse_param(f"p{k}=float:0:1") for k in range(params)]
    rows = [{"number": n, "state": "complete", "round": 1, "value": 0.5 + n / 10,
             "params": {spec.name: n / 3 for spec in specs}} for n in range(3)]
    fig = search_scatter_figure(rows, specs, "validation accuracy", best=2)
    assert tuple(fig.get_size_inches()) == pytest.approx(size)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in visible] == [f"p{k} (float)" for k in range(shown)]


def test_resuming_from_an_sqlite_file_that_is_not_there_creates_none(tmp_path):
    """A mistyped SQLite URL on --resume gave the right error but left a new database behind."""
    database = tmp_path / "typo.db"
    with pytest.raises(SearchError, match="there is no search named 'r' in"):
        Search.open(None, tmp_path / "r", storage=f"sqlite:///{database}", resume=True)
    assert not database.exists()


def test_a_whole_number_setting_searched_as_a_float_says_to_use_int(cat_train):
    from glassnet.search_checks import check_values

    config = quick_config()
    config.params = [parse_param("batch_size=float:8:64")]
    with pytest.raises(ConfigError, match=r"got 8\.0; search whole numbers with int:8:64$"):
        check_values(config, cat_train["train"])
    config.params = [parse_param("batch_size=float:7.5:2000000")]  # every digit, inside the range
    with pytest.raises(ConfigError, match=r"got 7\.5; search whole numbers with int:8:2000000$"):
        check_values(config, cat_train["train"])


def test_a_trial_left_under_this_processs_own_pid_is_a_dead_workers(tmp_path, cat_train):
    """A restarted container gets the same host name and, often, the same pid (1): the
    trial its dead worker left running must not keep this worker waiting for ever."""
    search = Search.open(quick_config(trials=2), tmp_path / "r", data=cat_train)
    search.run()
    orphan = search.study.ask()
    for key, value in (("round", 0), ("host", socket.gethostname()), ("pid", os.getpid())):
        orphan.set_user_attr(key, value)
    resumed = Search.open(None, tmp_path / "r", resume=True, trials=3, data=cat_train)
    assert resumed.fail_interrupted() == [orphan.number]


def test_a_worker_waiting_for_another_hosts_trial_says_which_and_until_when(tmp_path, cat_train):
    """--resume waited up to ten minutes for a trial of a host that had gone (a container
    restarted under a new name) without a word."""
    search = Search.open(quick_config(trials=2), tmp_path / "r", data=cat_train)
    search.run()
    elsewhere = search.study.ask()
    for key, value in (("round", 0), ("host", "old-container"), ("pid", 7)):
        elsewhere.set_user_attr(key, value)
    resumed = Search.open(None, tmp_path / "r", resume=True, trials=3, data=cat_train)
    said: list[str] = []

    def finish_it(text):  # as the other worker would, once
        said.append(text)
        resumed.study.tell(elsewhere.number, 0.5)

    assert resumed.run(on_wait=finish_it, poll=0.01) == 0
    start = resumed.study.trials[elsewhere.number].datetime_start
    assert said == [f"waiting for trial {elsewhere.number} (on old-container, process 7, running since "
                    f"{start:%Y-%m-%d %H:%M:%S}); if it has not finished by "
                    f"{start + datetime.timedelta(minutes=10):%Y-%m-%d %H:%M:%S}, its worker counts as dead"]


def test_a_search_and_a_training_run_do_not_share_a_folder(tmp_path, cat_train, cats):
    """Each command refused only its own kind of folder: their files ended up interleaved."""
    from glassnet.runs import RunConfig, train_run

    search = Search.open(quick_config(trials=1), tmp_path / "s", data=cat_train)
    search.run()
    with pytest.raises(ConfigError, match=f"--out {tmp_path / 's'} holds a search .search.journal"):
        train_run(RunConfig(dataset="cats", hidden=[4], epochs=1, out=str(tmp_path / "s")), verbose=0,
                  data=cats)
    train_run(RunConfig(dataset="cats", hidden=[4], epochs=1, out=str(tmp_path / "t")), verbose=0, data=cats)
    with pytest.raises(SearchError, match=f"{tmp_path / 't'} holds a training run .run.json, "
                                          "history.json, metrics.json, model.glassnet"):
        Search.open(quick_config(trials=1), tmp_path / "t", data=cat_train)
    assert not (tmp_path / "t" / "search.journal").exists()


def test_storage_may_come_from_the_environment(monkeypatch):
    """--storage env:VAR: how --workers hands its workers the URL, and a user may too."""
    from glassnet.cli.search_setup import storage_url

    monkeypatch.setenv("MY_STUDY_DB", "postgresql://me:s3cret@127.0.0.1/db")
    assert storage_url("env:MY_STUDY_DB") == "postgresql://me:s3cret@127.0.0.1/db"
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db"
    assert storage_url(None) is None
    monkeypatch.delenv("MY_STUDY_DB")
    with pytest.raises(ConfigError, match="--storage env:MY_STUDY_DB: the environment variable "
                                          "MY_STUDY_DB is not set"):
        storage_url("env:MY_STUDY_DB")


def test_a_trial_cut_short_is_trained_again_with_its_settings_on_resume(tmp_path, cat_train, monkeypatch):
    """A search stopped by Ctrl-C in a trial (or whose worker died) drew new settings in its
    place on resume: the cut trial's were never tried, whatever their promise."""
    from glassnet.search_trial import TrialRunner

    train = TrialRunner._train
    calls = []

    def ctrl_c_in_the_second(self, trial, config):
        calls.append(trial.number)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return train(self, trial, config)

    monkeypatch.setattr(TrialRunner, "_train", ctrl_c_in_the_second)
    search = Search.open(quick_config(trials=3, sampler="random"), tmp_path / "r", data=cat_train)
    with pytest.raises(KeyboardInterrupt):
        search.run()
    cut = search.study.trials[1]
    assert cut.state.name == "FAIL" and cut.params
    monkeypatch.setattr(TrialRunner, "_train", train)
    resumed = Search.open(None, tmp_path / "r", resume=True, data=cat_train)
    assert resumed.run() == 2
    again = [t for t in resumed.study.trials if t.user_attrs.get("retry_of") == cut.number]
    assert len(again) == 1 and again[0].params == cut.params and again[0].state.name == "COMPLETE"
    assert resumed.retry_interrupted() == []  # once: it is not queued a second time


def test_a_damaged_journal_is_one_clear_error_and_a_cut_off_last_line_is_dropped(tmp_path, cat_train):
    search = Search.open(quick_config(trials=2), tmp_path / "r", data=cat_train)
    search.run()
    journal = tmp_path / "r" / "search.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"op_code": 5, "worker_id": "x", "trial')  # a write cut off
    resumed = Search.open(None, tmp_path / "r", resume=True, trials=3, data=cat_train)
    after = journal.read_bytes()  # the partial record is gone: new ones start on a line of their own
    assert after.startswith(whole) and b'"worker_id": "x"' not in after
    assert resumed.run() == 1
    assert len(Search.open(None, tmp_path / "r", resume=True, data=cat_train).study.trials) == 3
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join([lines[0], b"{not json", *lines[1:]]))  # damage inside
    with pytest.raises(SearchError, match=r"search.journal is damaged \(.*\): a record in it is not "
                                          r"valid; restore it from a copy"):
        Search.open(None, tmp_path / "r", resume=True, data=cat_train)


def test_a_value_that_trains_with_a_searched_optimizer_is_not_refused_for_the_unused_base_one(cat_train):
    from glassnet.search_checks import check_values

    config = quick_config()
    config.base.optimizer = "adam"  # never used: the optimizer is searched
    config.params = [parse_param("optimizer=choice:sgd,momentum"), parse_param("momentum=float:0.5:0.9")]
    check_values(config, cat_train["train"])  # was: "--momentum applies to ... not 'adam'"
    config.params = [parse_param("momentum=float:0.5:0.9")]
    with pytest.raises(ConfigError, match="cannot search momentum=float:0.5:0.9"):
        check_values(config, cat_train["train"])


def test_a_search_joined_in_its_folder_reads_the_journal_once(tmp_path, cat_train, monkeypatch):
    """The check that the journal holds no other search opened it, then the search opened
    it again: each opening replays the whole journal."""
    import glassnet.search as search_module
    import glassnet.search_resume as search_resume

    Search.open(quick_config(trials=1), tmp_path / "s", data=cat_train).run()
    opened, real = [], search_module.open_storage
    for module in (search_module, search_resume):  # the two that open storage
        monkeypatch.setattr(module, "open_storage", lambda *args: opened.append(args) or real(*args))
    joined = Search.open(quick_config(trials=1), tmp_path / "s", data=cat_train)
    assert len(opened) == 1 and len(joined.study.trials) == 1


def test_a_worker_joins_with_the_image_folder_written_another_way(tmp_path, monkeypatch):
    """The study stores the folder as typed ("photos"); "./photos" or its absolute path from
    the same directory is the same folder (the one the search recorded when it started). On
    the machine that has the recorded folder, a same-named folder elsewhere is refused (it
    trained the search on other images); without it (another machine), the typed path is
    read from the worker's directory, in any spelling."""
    from glassnet.search_resume import joined_config

    (tmp_path / "photos").mkdir()
    (tmp_path / "other" / "photos").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # where the search started

    def with_folder(dataset):
        config = quick_config()
        return dataclasses.replace(config, base=dataclasses.replace(config.base, dataset=dataset))

    stored, recorded = with_folder("photos"), str(tmp_path / "photos")
    for written in ("./photos", str(tmp_path / "photos")):
        joined = joined_config(with_folder(written), stored, "the journal", "s", None, recorded)
        assert joined.base.dataset == written and joined.trials == stored.trials
    elsewhere = str(tmp_path / "other" / "photos")
    with pytest.raises(SearchError, match=f"reads the image folder {re.escape(recorded)}, and --dataset"):
        joined_config(with_folder(elsewhere), stored, "the journal", "s", None, recorded)
    monkeypatch.chdir(tmp_path / "other")  # another machine: the recorded folder is not there
    gone = str(tmp_path / "gone" / "photos")
    joined = joined_config(with_folder("./photos"), stored, "the journal", "s", None, gone)
    assert joined.base.dataset == "./photos"
    with pytest.raises(SearchError, match="already holds a different search"):
        joined_config(with_folder(recorded), stored, "the journal", "s", None, gone)  # not this photos


def _tiny_folder(root: Path, images: int = 6) -> Path:
    """A folder of two classes of ``images`` 8x8 PNGs each (random pixels, seeded), and one
    file that is not an image (``cat/notes.txt``, skipped with a warning)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(images):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image\n")
    return root


# One epoch of a 4-unit mlp on a tiny folder (_tiny_folder), read without the image cache.
TINY = ["--model", "mlp", "--hidden", "4", "--epochs-per-trial", "1", "--image-size", "8",
        "--param", "lr=log:1e-3:1e-1", "--no-cache", "--no-plot"]


def test_a_resumed_or_joined_search_refuses_an_image_folder_whose_files_changed(tmp_path, capsys):
    """It compared only the class names: a search resumed after images were added trained its
    later trials on other images than its earlier ones, without a word. A moved folder with
    the same files still resumes (--dataset NEW), and a search stored before the fingerprint
    was recorded is not checked."""
    from glassnet.search_resume import FINGERPRINT_ATTR
    from glassnet.search_storage import open_storage

    photos = _tiny_folder(tmp_path / "photos")
    out = ["--out", str(tmp_path / "s")]
    assert main(["search", "--dataset", str(photos), *TINY, *out, "--trials", "1"]) == 0
    capsys.readouterr()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(photos / "dog" / "new.png")
    changed = ("the image folder .*photos changed since the search started \\(12 images then, 13 now; "
               "a file was added, removed")
    assert main(["search", *out, "--resume", "--trials", "2", "--no-cache"]) == 1
    assert re.search(changed, capsys.readouterr().err)
    assert main(["search", "--dataset", str(photos), *TINY, *out, "--trials", "1"]) == 1  # a joining worker
    assert re.search(changed, capsys.readouterr().err)
    (photos / "dog" / "new.png").unlink()
    moved = photos.rename(tmp_path / "moved")
    assert main(["search", *out, "--resume", "--trials", "2", "--no-cache", "--dataset", str(moved)]) == 0
    assert len(json.loads((tmp_path / "s" / "search.json").read_text())["trials"]) == 2
    Image.new("RGB", (8, 8)).save(moved / "dog" / "new.png")
    older = optuna.load_study(study_name="s", storage=open_storage(None, tmp_path / "s"))
    older.set_user_attr(FINGERPRINT_ATTR, None)  # as a search stored before the record
    assert main(["search", *out, "--resume", "--trials", "2", "--no-cache", "--dataset", str(moved)]) == 0


def test_searches_without_a_name_started_in_the_same_second_get_folders_of_their_own(
        tmp_path, monkeypatch, capsys):
    """Both got runs/<data>-<model>-search-<time> and mixed their trials in one study."""
    import time

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20261206-120000")
    for _ in range(2):
        assert main(["search", *QUICK, "--trials", "1", "--no-plot"]) == 0
    first = tmp_path / "runs" / "cats-mlp-search-20261206-120000"
    second = first.with_name(f"{first.name}-2")
    assert json.loads((first / "search.json").read_text())["study"] == first.name
    assert json.loads((second / "search.json").read_text())["study"] == second.name
    assert len(json.loads((second / "search.json").read_text())["trials"]) == 1
    # a search that cannot start leaves no claimed folder behind
    assert main(["search", *QUICK, "--trials", "1", "--param", "dropout=float:0:2"]) == 1
    assert "dropout" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [first.name, second.name]


def test_a_resume_with_no_plot_updates_the_report_and_the_plot_it_finds(tmp_path, capsys):
    """--resume --no-plot left the earlier report and plot, which showed fewer trials than
    search.json."""
    command = ["search", *QUICK, "--out", str(tmp_path / "p")]
    assert main([*command, "--trials", "1"]) == 0
    report, plot = tmp_path / "p" / "search_report.html", tmp_path / "p" / "search_scatter.png"
    before = report.read_text(), plot.stat().st_mtime_ns, plot.read_bytes()
    assert main(["search", "--out", str(tmp_path / "p"), "--resume", "--trials", "2", "--no-plot"]) == 0
    assert "scatter plot: " in capsys.readouterr().out  # said: they were redrawn
    assert report.read_text() != before[0]
    assert (plot.stat().st_mtime_ns, plot.read_bytes()) != before[1:]


def test_worker_processes_do_not_repeat_the_image_folders_warnings(tmp_path, capsys):
    """Every worker of --workers N repeated the skipped files in the middle of the live
    table, after its parent had shown them; --strict still makes them an error there."""
    photos = _tiny_folder(tmp_path / "photos")
    command = ["search", "--dataset", str(photos), *TINY, "--trials", "1"]
    assert main([*command, "--out", str(tmp_path / "a")]) == 0
    assert "skipped" in capsys.readouterr().err  # the first process shows them
    assert main([*command, "--out", str(tmp_path / "b"), "--quiet-summary"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main([*command, "--out", str(tmp_path / "c"), "--quiet-summary", "--strict"]) == 1
    assert "notes.txt" in capsys.readouterr().err


def test_a_ctrl_c_prints_the_command_that_continues_the_search(monkeypatch, tmp_path, capsys):
    """It printed only "glassnet search: interrupted"; a worker process stays silent."""
    def interrupted(self, on_trial=None, on_wait=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Search, "run", interrupted)
    out = str(tmp_path / "c")
    assert main(["search", *QUICK, "--trials", "2", "--out", out, "--study-name", "s c", "--final",
                 "--threads", "1"]) == 130
    err = capsys.readouterr().err
    assert err.endswith(f"glassnet search: interrupted\ncontinue with: glassnet search --resume --out {out} "
                        "--study-name 's c' --final --threads 1\n")
    assert main(["search", "--out", out, "--study-name", "s c", "--resume", "--quiet-summary"]) == 130
    assert capsys.readouterr().err == ""


def test_the_continue_command_keeps_a_moved_folders_place():
    """After `--resume --dataset NEW` (the folder moved), the printed command left --dataset out,
    and running it was refused: the study still records the old place."""
    from types import SimpleNamespace

    from glassnet.cli.search import add_parser, continue_command

    search = SimpleNamespace(run_dir=Path("runs/s2"), study=SimpleNamespace(study_name="s2"),
                             storage_label="runs/s2/search.journal")
    args = _parsed(add_parser, ["search", "--resume", "--name", "s2", "--threads", "1"])
    assert continue_command(search, args, None, "/tmp/photos now") == (
        "glassnet search --resume --out runs/s2 '--dataset=/tmp/photos now' --threads 1")
    assert "--dataset" not in continue_command(search, args, None)
    # a folder named otherwise than its study: --resume --out alone would look for another study
    elsewhere = SimpleNamespace(run_dir=Path("runs/elsewhere"), study=SimpleNamespace(study_name="s2"),
                                storage_label="runs/elsewhere/search.journal")
    args = _parsed(add_parser, ["search", "--resume", "--name", "s2", "--out", "runs/elsewhere"])
    assert continue_command(elsewhere, args, None) == (
        "glassnet search --resume --out runs/elsewhere --study-name s2")


def _parsed(add_parser, argv: list[str]):
    import argparse

    commands = argparse.ArgumentParser().add_subparsers()
    add_parser(commands)
    return commands.choices["search"].parse_args(argv[1:])


@pytest.mark.parametrize("error_name, message, retried", [
    ("IntegrityError", 'duplicate key value violates unique constraint "pg_type_typname_nsp_index"', True),
    ("ProgrammingError", '(psycopg.errors.DuplicateTable) relation "studies" already exists', True),
    ("ProgrammingError", 'permission denied for schema public', False),
    ("OperationalError", 'connection refused', False),
])
def test_a_worker_that_loses_the_race_to_create_the_tables_opens_them(monkeypatch, tmp_path, error_name,
                                                                       message, retried):
    """Two workers started together on a new PostgreSQL database both create Optuna's
    tables; the second one's CREATE TABLE fails ("relation ... already exists", seen in CI)
    or its insert does (a duplicate key): it opens the tables the first one made. Any other
    error is the user's to see."""
    import optuna

    from glassnet import search_storage

    error = type(error_name, (Exception,), {})
    calls = []

    def storage(url, engine_kwargs):
        calls.append(url)
        if len(calls) == 1:
            raise error(message)
        return "opened"

    monkeypatch.setattr(optuna.storages, "RDBStorage", storage)
    monkeypatch.setattr(search_storage.time, "sleep", lambda seconds: None)
    url = "postgresql://u@127.0.0.1:1/db"
    if retried:
        assert search_storage.open_storage(url, tmp_path) == "opened" and len(calls) == 2
    else:
        with pytest.raises(SearchError, match=rf"^cannot open the storage .*: {re.escape(message)}$"):
            search_storage.open_storage(url, tmp_path)
        assert len(calls) == 1


def test_storage_driver_advice_names_the_driver_sqlalchemy_picks():
    """SQLAlchemy 2.0 (what pip installs on Python 3.10) reads postgresql:// as psycopg2, 2.1
    as psycopg 3: advising psycopg for both sent 3.10 users in a circle."""
    from sqlalchemy.engine import make_url

    from glassnet.search_storage import POSTGRES_DRIVERS, driver_advice

    picked = make_url("postgresql://u:p@h/d").get_dialect().driver
    assert driver_advice("postgresql://u:p@h/d").startswith(
        f"this URL uses the driver {picked}: pip install {POSTGRES_DRIVERS[picked]}, or write postgresql+")
    assert "pip install psycopg2-binary" in driver_advice("postgresql+psycopg2://u@h/d")
    assert driver_advice("nosuchdb://x").startswith("PostgreSQL: pip install 'psycopg[binary]'")


def test_search_workers_run_the_installed_glassnet_not_a_glassnet_py_in_the_folder(tmp_path):
    """``python -m glassnet`` puts the current folder first on sys.path: a user's glassnet.py
    there ran in place of the workers (and the search went on with one process)."""
    from glassnet import __version__
    from glassnet.cli.search_workers import GLASSNET_COMMAND

    (tmp_path / "glassnet.py").write_text('print("the user\'s own glassnet.py")\n')
    result = subprocess.run([*GLASSNET_COMMAND, "--version"], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(__version__) and "user's own" not in result.stdout


def test_a_search_trial_may_early_stop_and_reduce_the_lr_on_its_validation_data():
    """A trial gets its validation data with its data (``validation_split`` None, the split
    named in ``extra["validation"]``): ``--reduce-lr``/``--early-stopping`` in a search's base
    were accepted, then every trial failed with "add --validation-split"."""
    from glassnet.run_setup import make_callbacks
    from glassnet.runs import RunConfig

    trial = RunConfig(validation_split=None, extra={"reduce_lr": 2, "early_stopping": 3,
                                                    "validation": "validation split 0.2"})
    assert [type(cb).__name__ for cb in make_callbacks(trial)] == ["EarlyStopping", "ReduceLROnPlateau"]
    with pytest.raises(ConfigError, match="--reduce-lr 2 watches the validation loss"):
        make_callbacks(RunConfig(extra={"reduce_lr": 2}))


def test_a_search_trains_every_trial_with_its_class_weight(tmp_path, cat_train, capsys):
    """--class-weight: each trial (and the printed train command) trains with it, the search
    stores it (--resume refuses another), a class the data set lacks fails before any trial."""
    out = tmp_path / "cw"
    assert main(["search", *QUICK, "--trials", "2", "--no-plot", "--out", str(out),
                 "--class-weight", "cat=3"]) == 0
    for trial in ("0000", "0001"):
        metrics = json.loads((out / "trials" / trial / "metrics.json").read_text())
        assert metrics["class_weight"] == [["non-cat", 1.0], ["cat", 3.0]]
    command = json.loads((out / "search.json").read_text())["best"]["train_command"]
    assert "--class-weight cat=3" in command
    capsys.readouterr()
    assert main(["search", "--out", str(out), "--resume", "--no-plot", "--class-weight", "balanced"]) == 1
    assert "(--class-weight: stored cat=3, given balanced)" in capsys.readouterr().err
    assert main(["search", *QUICK, "--trials", "1", "--no-plot", "--out", str(tmp_path / "bad"),
                 "--class-weight", "dog=2"]) == 1
    assert "--class-weight dog=2: the data set has no class 'dog'" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "trials").exists()


def test_the_train_command_carries_the_class_weight():
    config = RunConfig(extra={"class_weight": "non-cat=0.5,cat=2"})
    assert "--class-weight non-cat=0.5,cat=2" in train_command(config)
    assert "--class-weight" not in train_command(RunConfig())


def test_a_class_weight_written_another_way_is_the_same_search(tmp_path, cat_train, capsys):
    """Pairs in another order, spaces, 1 or 1.0: the same weights, so --resume accepts them;
    other weights are refused."""
    out = tmp_path / "cw"
    assert main(["search", *QUICK, "--trials", "1", "--no-plot", "--out", str(out),
                 "--class-weight", "non-cat=1,cat=3"]) == 0
    assert main(["search", "--out", str(out), "--resume", "--no-plot", "--trials", "2",
                 "--class-weight", "cat=3.0, non-cat=1"]) == 0
    assert main(["search", "--out", str(out), "--resume", "--no-plot", "--trials", "3",
                 "--class-weight", "cat=3"]) == 0  # a class not named weighs 1
    capsys.readouterr()
    assert main(["search", "--out", str(out), "--resume", "--no-plot",
                 "--class-weight", "cat=3.5,non-cat=1"]) == 1
    assert "(--class-weight: stored cat=3, given cat=3.5)" in capsys.readouterr().err


def test_the_file_of_an_sqlite_url_leaves_out_its_query(tmp_path):
    """``sqlite:///s.db?timeout=30`` lives in s.db: a resume checks that file exists before
    opening the storage, and a query left in its name made every such resume "nothing to resume"."""
    from glassnet.search_storage import STORAGE_FILE, storage_file

    assert storage_file(f"sqlite:///{tmp_path}/s.db?timeout=30", tmp_path / "r") == tmp_path / "s.db"
    assert storage_file(None, tmp_path / "r") == tmp_path / "r" / STORAGE_FILE
    assert storage_file("sqlite:///:memory:", tmp_path) is None
    assert storage_file("postgresql://user@host/db", tmp_path) is None
