"""`glassnet train` toolkit options: --init, --batchnorm, --dropout, --early-stopping, --reduce-lr,
optimizer and schedule flags, and the clear one-line errors for bad values."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import cli_env, run_cli
from glassnet import layers, load_model, zoo
from glassnet.cli import main
from glassnet.errors import ConfigError

QUICK = ["train", "--dataset", "cats", "--hidden", "4", "--epochs", "1", "--quiet"]


@pytest.mark.parametrize("extra,message", [
    (["--optimizer", "adamm"], "unknown optimizer 'adamm'"),
    (["--lr-schedule", "warmup"], "unknown learning-rate schedule 'warmup'"),
    (["--early-stopping", "3"], "--early-stopping 3 watches the validation loss: add --validation-split"),
    (["--early-stopping", "0"], "--early-stopping 0 watches the validation loss"),  # 0: valid patience
    (["--reduce-lr", "3"], "--reduce-lr 3 watches the validation loss: add --validation-split"),
    (["--reduce-lr", "3", "--validation-split", "0.2", "--lr-decay", "0.9"],
     "--reduce-lr 3 lowers the lr when val_loss stalls, but --lr-decay sets the lr every epoch, "
     "undoing it: give one or the other"),
    (["--reduce-lr", "3", "--validation-split", "0.2", "--lr-schedule", "cosine"],
     "but --lr-schedule cosine sets the lr every epoch"),
    (["--reduce-lr-factor", "0.5"], "--reduce-lr-factor 0.5 is the factor of --reduce-lr: add --reduce-lr"),
    (["--init", "kaiming"], "unknown initializer 'kaiming'"),
    (["--init", "normal:-1"], "--init normal:-1: normal(std) needs a finite std > 0, got -1.0"),
    (["--init", "normal:big"], "initializer 'normal:big': STD in 'normal:STD' must be a number"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum applies to sgd"),
    (["--model", "cnn-small"],
     "model 'cnn-small' does not take --hidden; of the model options it takes --dropout"),
    (["--model", "cnn-keras", "--init", "he"],
     "model 'cnn-keras' does not take --init or --hidden; it has no options to set from the command line"),
    (["--resize", "crop"], "--resize crop applies to image folders; the 'cats' set has fixed-size images"),
    (["--dataset", "cifar10", "--strict"], "--strict applies to image folders; the 'cifar10' set has"),
])
def test_bad_values_are_one_clear_line(tmp_path, capsys, extra, message):
    assert main([*QUICK, "--out", str(tmp_path / "run"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("glassnet train: error: ") and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


@pytest.mark.parametrize("flag,value,expected", [("--lr", "0", "a positive"), ("--lr", "-0.1", "a positive"),
                                                  ("--early-stopping", "-1", "an integer >= 0"),
                                                  ("--reduce-lr", "0", "a positive integer"),
                                                  ("--reduce-lr-factor", "1", "a number between 0 and 1"),
                                                  # the flags' own names, not the library's arguments
                                                  ("--dropout", "1.0", "a number >= 0 and below 1"),
                                                  ("--dropout", "-0.2", "a number >= 0 and below 1"),
                                                  ("--validation-split", "1.5", "a number between 0 and 1"),
                                                  ("--validation-split", "0", "a number between 0 and 1"),
                                                  # not sizes at all: a usage error too (it was exit 1)
                                                  ("--hidden", "20,x", "comma-separated positive "
                                                   "integers up to 2,147,483,647 (e.g. 20,7,5), got '20,x'"),
                                                  ("--hidden", "20,,5", "comma-separated positive"),
                                                  ("--hidden", "20,0,5", "comma-separated positive")])
def test_numbers_out_of_range_are_rejected_by_the_parser(capsys, flag, value, expected):
    with pytest.raises(SystemExit) as info:
        main([*QUICK, flag, value])
    assert info.value.code == 2
    assert f"argument {flag}: expected {expected}" in capsys.readouterr().err


def test_train_with_toolkit_options(tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", "cats", "--hidden", "16,8", "--batchnorm", "--dropout", "0.2",
                     "--init", "he", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "32",
                     "--epochs", "4", "--lr-decay", "0.95", "--validation-split", "0.2",
                     "--early-stopping", "2", "--seed", "3", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    history = json.loads((out / "history.json").read_text())
    assert history["lr"] == pytest.approx([0.001 * 0.95 ** e for e in range(len(history["lr"]))])
    assert "val_loss" in history and "val_accuracy" in history
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["extra"]["model_options"] == {"init": "he", "dropout": 0.2, "batchnorm": True}
    assert config["extra"]["early_stopping"] == 2
    assert config["extra"]["command"].startswith("glassnet train --dataset cats")
    model = load_model(out / "model.glassnet")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "BatchNorm", "ReLU", "Dropout", "Dense", "BatchNorm", "ReLU",
                     "Dropout", "Dense"]
    assert model.layers[1].get_config()["kernel_initializer"] == "he_normal"
    assert model.layers[2].state["running_var"].shape == (16,)


def test_early_stopping_says_it_stopped_and_which_epoch_the_metrics_are_of(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cats", "--hidden", "7", "--epochs", "40", "--lr", "0.05",
                 "--validation-split", "0.2", "--early-stopping", "3", "--quiet", "--out", str(out)]) == 0
    val_loss = json.loads((out / "history.json").read_text())["val_loss"]
    epochs, best = len(val_loss), int(np.argmin(val_loss)) + 1
    assert epochs < 40 and best == epochs - 3  # this setting does stop early on the cat set
    summary = capsys.readouterr().out.splitlines()[0]
    assert summary.startswith(f"trained mlp on cats: {epochs} epochs in ")
    assert (f"s, stopped early (no better val_loss for 3 epochs) and restored the best epoch's "
            f"weights (epoch {best}); evaluated after training: train: ") in summary
    metrics = json.loads((out / "metrics.json").read_text())  # recorded for the report
    assert (metrics["early_stopped_after"], metrics["restored_epoch"]) == (epochs, best)
    assert (metrics["early_stopping_monitor"], metrics["early_stopping_patience"]) == ("val_loss", 3)
    page = (out / "report.html").read_text()
    assert (f"stopped after epoch {epochs} (val_loss had not improved for 3 epochs); the scores are "
            f"of epoch {best}&#x27;s weights (the best val_loss, restored)") in page
    assert f"Dotted: epoch {best}, whose weights early stopping restored" in page
    assert main(["info", str(out)]) == 0  # the new keys are not taken for a split's scores
    shown = capsys.readouterr().out
    assert "restored_epoch" not in shown and "early_stopped_after" not in shown


def test_early_stopping_0_says_it_waited_one_epoch(tmp_path, capsys):
    """Patience 0 stops at the first epoch without a better val_loss (as Keras): the summary
    and the report said "no better val_loss for 0 epochs"."""
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cats", "--hidden", "7", "--epochs", "50", "--lr", "0.5",
                 "--validation-split", "0.2", "--early-stopping", "0", "--quiet", "--out", str(out)]) == 0
    val_loss = json.loads((out / "history.json").read_text())["val_loss"]
    epochs = len(val_loss)
    assert epochs < 50 and int(np.argmin(val_loss)) + 1 == epochs - 1  # this setting does stop
    assert "stopped early (no better val_loss for 1 epoch)" in capsys.readouterr().out
    assert f"stopped after epoch {epochs} (val_loss had not improved for 1 epoch)" in (
        out / "report.html").read_text()


def test_reduce_lr_lowers_the_lr_on_a_val_loss_plateau_and_says_so(tmp_path, capsys):
    """The cat set's val_loss stalls after epoch 3 at this lr: 4 reductions by 10 in 12 epochs."""
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cats", "--hidden", "7", "--normalize", "--epochs", "12",
                 "--lr", "0.05", "--validation-split", "0.2", "--reduce-lr", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    history = json.loads((out / "history.json").read_text())
    assert history["lr"] == pytest.approx([0.05] * 5 + [0.005] * 2 + [5e-4] * 2 + [5e-5] * 2 + [5e-6])
    # the progress lines stay whole, with a line for each reduction before its epoch's
    lines = captured.err.splitlines()
    assert lines[lines.index("epoch 5: ReduceLROnPlateau reduced the lr from 0.05 to 0.005 (val_loss had "
                             "not improved for 2 epochs)") + 1].startswith("epoch 5/12 - ")
    assert sum("ReduceLROnPlateau reduced" in line for line in lines) == 4
    assert "s, reduced the lr 4 times (to 5e-06); evaluated after training: " in captured.out
    assert json.loads((out / "run.json").read_text())["config"]["extra"]["reduce_lr"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lr_reduced_after"] == [5, 7, 9, 11] and metrics["final_lr"] == pytest.approx(5e-6)
    said = ("lr reduced 4 times on a val_loss plateau (patience 2, factor 0.1), after epochs 5, 7, 9 "
            "and 11: final lr 5e-06")
    page = (out / "report.html").read_text()
    assert said in page and "reduce lr patience 2, reduce lr factor 0.1" in page
    assert main(["info", str(out)]) == 0
    assert f"  {said}\n" in capsys.readouterr().out


def test_reduce_lr_that_never_acts_says_so_and_quiet_prints_no_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*QUICK, "--validation-split", "0.2", "--reduce-lr", "5", "--reduce-lr-factor", "0.5",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "ReduceLROnPlateau" not in captured.err and "reduced the lr" not in captured.out
    assert json.loads((out / "run.json").read_text())["config"]["extra"]["reduce_lr_factor"] == 0.5
    assert ("lr never reduced on a val_loss plateau (patience 5, factor 0.5): it stayed 0.01"
            in (out / "report.html").read_text())


# -- zoo mlp -------------------------------------------------------------------------------------
def test_mlp_default_structure_is_unchanged():
    model = zoo.build("mlp", (3, 8, 8), 2)
    assert [type(layer).__name__ for layer in model.layers] == ["Flatten", "Dense", "Dense", "Dense", "Dense"]


def test_mlp_multiclass_with_batchnorm_and_dropout():
    model = zoo.build("mlp", (3, 8, 8), 10, hidden=(32,), batchnorm=True, dropout=0.5, init="xavier")
    dense, bn, act, drop, out = model.layers[1:]
    assert isinstance(bn, layers.BatchNorm) and isinstance(act, layers.ReLU)
    assert drop.rate == 0.5 and not dense.use_bias and out.units == 10
    assert dense.get_config()["kernel_initializer"] == "glorot_normal"


def test_mlp_rejects_a_bad_dropout_rate():
    with pytest.raises(ConfigError, match=r"Dropout rate must be a number in \[0, 1\), got 1"):
        zoo.build("mlp", (4,), 3, dropout=1)


def test_normalize_saves_the_training_sets_channel_statistics(tmp_path, cats):
    out = tmp_path / "run"
    assert main([*QUICK, "--normalize", "--validation-split", "0.2", "--out", str(out)]) == 0
    model = load_model(out / "model.glassnet")
    train, _ = cats["train"].split(0.2, seed=0)  # statistics of the training part only
    x = train.x.astype(np.float64) / 255
    np.testing.assert_allclose(model.preprocessing["mean"], x.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(model.preprocessing["std"], x.std(axis=(0, 2, 3)), rtol=1e-10)
    batch = model.preprocess(train.x)
    np.testing.assert_allclose(batch.mean(axis=(0, 2, 3)), 0, atol=1e-4)
    np.testing.assert_allclose(batch.std(axis=(0, 2, 3)), 1, rtol=1e-4)


def test_json_output_is_strict_json(capsys):
    import math

    from glassnet.cli.output import print_json

    print_json({"test": {"loss": math.nan, "accuracy": 0.5}, "rel_error": math.inf})
    assert json.loads(capsys.readouterr().out, parse_constant=lambda c: 1 / 0) == {
        "test": {"loss": None, "accuracy": 0.5}, "rel_error": None}


def test_ctrl_c_is_reported_once_for_a_search_with_workers(monkeypatch, capsys):
    import glassnet.cli.search as search_cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_cli, "run", interrupted)
    assert main(["search", "--quiet-summary"]) == 130  # a worker process: its parent reports
    assert capsys.readouterr().err == ""
    assert main(["search"]) == 130
    assert capsys.readouterr().err == "glassnet search: interrupted\n"


def test_ctrl_c_while_the_subcommands_are_imported_exits_130_without_a_traceback(
        monkeypatch, capsys):
    import importlib

    import glassnet.cli as cli

    def interrupted_import(name, *args):
        raise KeyboardInterrupt  # as if Ctrl-C landed inside Matplotlib's import

    monkeypatch.setattr(importlib, "import_module", interrupted_import)
    monkeypatch.setattr(sys, "argv", ["glassnet", "train", "--dataset", "cats"])
    with pytest.raises(SystemExit) as stop:
        cli.console_main()
    assert stop.value.code == 130
    assert capsys.readouterr().err == "glassnet: interrupted\n"


def test_a_subcommand_is_not_imported_before_the_console_script_runs():
    code = ("import sys, glassnet.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('glassnet.cli.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), check=True)
    assert result.stdout.strip() == "[]"


def test_building_the_parser_imports_no_heavy_dependency():
    # `glassnet --help`, `info`, `predict` ... build every subcommand's parser: Matplotlib
    # (about half a second) and the other heavy packages are imported only by the commands
    # that use them.
    heavy = ("matplotlib", "h5py", "PIL", "optuna", "onnx", "onnxruntime", "cupy", "selenium")
    code = ("import sys; from glassnet.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), check=True)
    assert result.stdout.strip() == "[]"


def test_the_early_stopping_clause_counts_one_epoch_in_the_singular():
    from types import SimpleNamespace

    from glassnet.cli.train import kept_weights
    from glassnet.training import EarlyStopping

    stopper = EarlyStopping(patience=1)
    stopper.stopped_epoch, stopper.restored_epoch = 4, None
    result = SimpleNamespace(error=None, early_stopping=stopper)
    assert kept_weights(result) == ", stopped early (no better val_loss for 1 epoch)"


def test_a_bool_is_no_initializer_std():
    """initializers.get(True) was normal(1.0): a bool passed the number check."""
    from glassnet import initializers
    from glassnet.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown initializer True"):
        initializers.get(True)
    assert initializers.get(0.5) is not None


def test_info_shows_the_optimizer_settings_that_are_not_its_defaults(tmp_path, capsys):
    """A Nesterov SGD with weight decay read as "optimizer sgd lr 0.01"."""
    from glassnet.cli import main

    out = tmp_path / "run"
    assert main(["train", "--hidden", "2", "--epochs", "1", "--quiet", "--optimizer", "nesterov",
                 "--weight-decay", "0.1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "optimizer sgd lr 0.01 (weight decay 0.1, momentum 0.9, nesterov), batch size" in shown


def test_options_at_the_edge_of_what_they_take_are_accepted():
    """--momentum is RMSProp's too (not only the SGDs'), --lr-decay may name its schedule
    (--lr-schedule step) and be 1 (the lr left as it is)."""
    from glassnet.cli.arguments import decay_factor
    from glassnet.run_setup import make_optimizer, make_schedule
    from glassnet.runs import RunConfig
    from glassnet.schedules import StepDecay

    assert make_optimizer(RunConfig(optimizer="rmsprop", momentum=0.5)).momentum == 0.5
    schedule = make_schedule(RunConfig(lr_decay=0.5, lr_schedule="step"))
    assert isinstance(schedule, StepDecay) and (schedule.every, schedule.factor) == (1, 0.5)
    assert decay_factor("1") == 1.0


def test_normalize_leaves_a_channel_of_one_value_unscaled():
    """A channel of one value (a blue of 200 in every image) has std 0 but for rounding:
    200 / 255 averaged left 1e-16, and --normalize divided by that, making the channel's
    inputs 5e8 (training diverged at once)."""
    from glassnet.data import Dataset
    from glassnet.run_setup import build_model
    from glassnet.runs import RunConfig

    x = np.random.default_rng(0).integers(0, 256, (209, 3, 4, 4)).astype(np.uint8)
    x[:, 2] = 200
    train = Dataset(x, np.arange(209) % 2, ["a", "b"], "blue/train")
    model = build_model(RunConfig(hidden=[2], extra={"normalize": True}), train)
    assert model.preprocessing["std"][2] == 1.0
    assert model.preprocessing["std"][0] == pytest.approx(x[:, 0].std() / 255)
    inputs = np.asarray(model.preprocess(x[:8]))
    assert np.abs(inputs[:, 2]).max() < 1e-6 and np.abs(inputs).max() < 3
