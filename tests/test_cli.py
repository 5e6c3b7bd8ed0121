"""The ``glassnet`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import cli_env, run_cli
from glassnet.cli import build_parser, main

COMMANDS = ["train", "evaluate", "predict", "gradcheck"]
ALL_COMMANDS = [*COMMANDS, "report", "info", "export", "search"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cats-small"
    result = run_cli("train", "--dataset", "cats", "--model", "mlp", "--hidden", "7",
                     "--epochs", "30", "--lr", "0.0075", "--batch-size", "full", "--seed", "1",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_the_run_files(trained_run):
    out, result = trained_run
    for name in ("model.glassnet", "history.json", "metrics.json", "run.json"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"train", "test", "epochs", "seconds", "seed"}
    assert set(metrics["train"]) == {"accuracy", "loss"}
    assert metrics["epochs"] == 30 and metrics["seed"] == 1
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 30
    from glassnet.backend import available_cores

    assert json.loads((out / "run.json").read_text())["threads"] == available_cores()  # the default
    assert "trained mlp on cats: 30 epochs" in result.stdout
    assert f"run files: {out}/" in result.stdout


def test_info_and_the_report_call_full_batch_training_full(trained_run, capsys):
    out, _ = trained_run
    assert main(["info", str(out / "model.glassnet")]) == 0
    assert ", batch size full" in capsys.readouterr().out
    assert "batch size full" in (out / "report.html").read_text()


def test_evaluate_refuses_folder_options_on_a_named_set(trained_run, capsys):
    assert main(["evaluate", str(trained_run[0] / "model.glassnet"), "--resize", "pad"]) == 1
    assert capsys.readouterr().err.startswith(
        "glassnet evaluate: error: --resize pad applies to image folders; the 'cats' set has")


def test_search_refuses_an_mlp_option_for_a_cnn_and_an_empty_hidden_size(tmp_path, capsys):
    base = ["search", "--param", "lr=log:1e-3:1e-1", "--out", str(tmp_path / "s")]
    assert main([*base, "--model", "cnn-bn", "--hidden", "5"]) == 1
    assert capsys.readouterr().err.strip() == ("glassnet search: error: model 'cnn-bn' does not take "
                                               "--hidden; search its options with --param NAME=SPEC: "
                                               "dropout")
    with pytest.raises(SystemExit) as info:  # not sizes at all: argparse's usage error
        main([*base, "--hidden", "20,,5"])
    assert info.value.code == 2
    assert ("argument --hidden: expected comma-separated positive integers up to 2,147,483,647 (e.g. "
            "20,7,5), got '20,,5'" in capsys.readouterr().err)
    assert not (tmp_path / "s").exists()


HUGE = "99999999999999999999999"


@pytest.mark.parametrize("command,option,expected", [
    ("train", "--epochs", "a positive integer up to 2,147,483,647"),
    ("train", "--seed", "an integer >= 0 up to 4,294,967,295"),  # the course's seeds end at 2**32
    ("train", "--image-size", "a positive integer up to 2,147,483,647"),
    ("train", "--hidden", "comma-separated positive integers up to 2,147,483,647"),
    ("train", "--batch-size", "a positive integer up to 2,147,483,647 or 'full'"),
    ("search", "--seed", "an integer >= 0 up to 4,294,967,295"),
])
def test_integers_too_large_for_numpy_are_usage_errors(tmp_path, capsys, command, option, expected):
    """They failed deep inside NumPy ("Maximum allowed dimension exceeded", the course's
    RandomState refusing seeds from 2**32 with a message about init streams)."""
    with pytest.raises(SystemExit) as info:
        main([command, "--out", str(tmp_path / "r"), option, HUGE])
    assert info.value.code == 2
    assert f"argument {option}: expected {expected}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_every_seed_the_course_takes_is_taken():
    from glassnet.cli.arguments import seed_int

    assert seed_int("4294967295") == 2**32 - 1 and seed_int("3000000000") == 3_000_000_000


def test_a_smoothing_window_wider_than_any_curve_averages_it_all():
    """--smooth 99999999999999999999999 overflowed NumPy's integers after the first trial."""
    from glassnet.search_scoring import smooth_curve

    curve = {"val_accuracy": [0.5, 0.7, 0.6]}
    np.testing.assert_allclose(smooth_curve(curve, int(HUGE))["val_accuracy"], [0.6, 0.6, 0.6])
    np.testing.assert_allclose(smooth_curve(curve, 3)["val_accuracy"], [0.6, 0.6, 0.65])


@pytest.mark.parametrize("value", ["0", "1", "-0.2", "one"])
def test_search_names_the_validation_split_flag(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["search", "--param", "lr=log:1e-3:1e-1", "--out", str(tmp_path / "s"),
              "--validation-split", value])
    assert info.value.code == 2
    assert (f"argument --validation-split: expected a number between 0 and 1, got '{value}'"
            in capsys.readouterr().err)


@pytest.mark.parametrize("option", [["--strict"], ["--resize", "crop"]])
def test_search_refuses_folder_options_on_a_named_set(tmp_path, capsys, option):
    # (they reached the printed train command, which train then refused)
    assert main(["search", "--param", "lr=log:1e-3:1e-1", "--out", str(tmp_path / "s"), *option]) == 1
    assert capsys.readouterr().err.startswith(f"glassnet search: error: {' '.join(option)} applies to "
                                              "image folders; the 'cats' set has fixed-size images")
    assert not (tmp_path / "s").exists()


def test_progress_is_one_line_per_step_when_not_a_terminal(trained_run):
    _, result = trained_run
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch")]
    assert lines, result.stderr
    assert "loss" in lines[-1] and "30/30" in lines[-1]
    assert "\r" not in result.stderr


def test_evaluate_json_matches_metrics_file(trained_run):
    out, _ = trained_run
    result = run_cli("evaluate", str(out / "model.glassnet"), "--dataset", "cats",
                     "--split", "test", "--json")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    recorded = json.loads((out / "metrics.json").read_text())["test"]
    assert evaluated["accuracy"] == pytest.approx(recorded["accuracy"])
    assert evaluated["loss"] == pytest.approx(recorded["loss"], rel=1e-5)


def test_predict_on_a_jpeg(trained_run, cats, tmp_path):
    out, _ = trained_run
    image = cats["test"].x[0].transpose(1, 2, 0)
    path = tmp_path / "photo.jpg"
    Image.fromarray(image).resize((200, 150)).save(path, quality=95)
    result = run_cli("predict", str(out / "model.glassnet"), str(path), "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    probs = entry["probabilities"]
    assert set(probs) == {"non-cat", "cat"}
    assert sum(probs.values()) == pytest.approx(1.0)


def test_predict_prints_one_line_per_file_whatever_its_name(trained_run, cats, tmp_path):
    out, _ = trained_run
    folder = tmp_path / "odd"
    folder.mkdir()
    image = Image.fromarray(cats["test"].x[0].transpose(1, 2, 0))
    image.save(folder / "two\nlines.png")
    image.save(os.fsencode(folder) + b"/caf\xe9.png")  # a Latin-1 name from an old zip
    (folder / "notes\n.txt").write_text("not an image")
    result = run_cli("predict", str(out / "model.glassnet"), str(folder))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{folder}/caf\\xe9.png: ")
    assert lines[1].startswith(f"{folder}/two\\nlines.png: ")
    assert f"skipped {folder}/notes\\n.txt: not an image file" in result.stderr
    as_json = run_cli("predict", str(out / "model.glassnet"), str(folder), "--json")
    as_json.stdout.encode("utf-8")  # well-formed text: no lone surrogate (jq would reject it)
    files = [r["file"] for r in json.loads(as_json.stdout)]
    assert files == [f"{folder}/caf\\xe9.png", f"{folder}/two\nlines.png"]  # JSON escapes the newline


@pytest.mark.parametrize("command,target,message", [
    ("evaluate", "photo.bmp", "--report {p}: give a file name ending in .html or .htm"),
    ("export", "model.txt", "--onnx {p}: give a file name ending in .onnx"),
    ("evaluate", "report.html", "--report {p} is the training run's own report; writing there would"),
])
def test_an_output_file_of_the_wrong_kind_or_the_runs_own_report_is_refused(command, target, message,
                                                                           trained_run, tmp_path, capsys):
    """A slip replaced a photo with a web page, or the training report with an evaluation's."""
    out, _ = trained_run
    path = out / target if target == "report.html" else tmp_path / target
    if not path.exists():
        path.write_text("precious")
    before = path.read_bytes()
    option = {"evaluate": "--report", "export": "--onnx"}[command]
    assert main([command, str(out), option, str(path)]) == 1
    assert message.format(p=path) in capsys.readouterr().err
    assert path.read_bytes() == before


def test_predict_takes_images_named_before_and_after_an_option(trained_run, cats, tmp_path, capsys):
    """`predict m a.png --top 2 b.png` said "unrecognized arguments: b.png"."""
    out, _ = trained_run
    for name in ("a.png", "b.png"):
        Image.fromarray(cats["test"].x[0].transpose(1, 2, 0)).save(tmp_path / name)
    assert main(["predict", str(out), str(tmp_path / "a.png"), "--top", "1", str(tmp_path / "b.png")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    with pytest.raises(SystemExit):  # an unknown option is still the parser's error
        main(["predict", str(out), str(tmp_path / "a.png"), "--topp", "1"])
    assert "unrecognized arguments: --topp" in capsys.readouterr().err


def test_predict_plots_each_images_probability_bars(trained_run, cats, tmp_path, capsys):
    """Your own photo with its class-probability bars, one PNG per image; two photos of the
    same name in two folders never overwrite each other."""
    out, _ = trained_run
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        Image.fromarray(cats["test"].x[1].transpose(1, 2, 0)).save(tmp_path / folder / "photo.jpg")
    images = [str(tmp_path / "a" / "photo.jpg"), str(tmp_path / "b" / "photo.jpg")]
    assert main(["predict", str(out), *images, "--plot", str(tmp_path / "plots")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(f" (plot: {tmp_path / 'plots' / 'photo-2.probabilities.png'})")
    assert lines[-1] == f"probability plots: {tmp_path / 'plots'}/ (2 written)"
    written = sorted((tmp_path / "plots").iterdir())
    assert [p.name for p in written] == ["photo-2.probabilities.png", "photo.probabilities.png"]
    assert all(Image.open(p).size[0] > 300 for p in written)  # a drawn figure, not a copy
    assert main(["predict", str(out), images[0], "--json", "--plot", str(tmp_path / "j")]) == 0
    assert json.loads(capsys.readouterr().out)[0]["plot"] == str(tmp_path / "j" / "photo.probabilities.png")
    # beside the photos: a photo is never written over, and a very long name is cut
    long_name = tmp_path / "a" / ("猫" * 80 + ".jpg")  # 244 bytes
    Image.fromarray(cats["test"].x[2].transpose(1, 2, 0)).save(long_name)
    before = (tmp_path / "a" / "photo.jpg").read_bytes()
    assert main(["predict", str(out), images[0], str(long_name), "--plot", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "photo.jpg").read_bytes() == before
    assert (tmp_path / "a" / ("猫" * 53 + ".probabilities.png")).is_file()
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    assert main(["predict", str(out), images[0], "--plot", str(tmp_path / "file")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"glassnet predict: error: --plot {tmp_path / 'file'} is a file, not a folder"
    inside = tmp_path / "a" / "plots"
    assert main(["predict", str(out), str(tmp_path / "a"), "--plot", str(inside)]) == 1
    assert capsys.readouterr().err.startswith(f"glassnet predict: error: --plot {inside} is inside the "
                                              f"image folder {tmp_path / 'a'}: the next predict")
    assert not (tmp_path / "a" / "plots").exists()
    assert main(["predict", str(out), str(tmp_path / "a"), "--plot", str(tmp_path / "a" / ".plots")]) == 0


def test_predict_plots_give_the_key_to_class_numbers_the_font_cannot_draw(trained_run, cats, tmp_path,
                                                                           capsys):
    """The plots number the classes (#0, #1) when a name cannot be drawn; the report says
    which is which, and so must predict, or its plots cannot be read."""
    from glassnet import load_model

    model = load_model(trained_run[0] / "model.glassnet")
    model.class_names = ["非猫", "猫"]
    model.save(tmp_path / "m.glassnet")
    Image.fromarray(cats["test"].x[1].transpose(1, 2, 0)).save(tmp_path / "photo.png")
    key = "the plotting font cannot draw these class names, so the plots number them: #0 = 非猫, #1 = 猫"
    predict = ["predict", str(tmp_path / "m.glassnet"), str(tmp_path / "photo.png"), "--plot"]
    assert main([*predict, str(tmp_path / "p")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == key
    assert main([*predict, str(tmp_path / "q"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["plot"] and err.strip() == key
    drawn = ["predict", str(trained_run[0]), str(tmp_path / "photo.png"), "--plot", str(tmp_path / "r")]
    assert main(drawn) == 0
    assert "cannot draw" not in capsys.readouterr().out  # "non-cat" and "cat" are drawn


@pytest.mark.parametrize("content, expected", [
    (b"this is not an image", "not an image"),
    (None, "truncated"),
])
def test_predict_bad_images_fail_in_one_line(trained_run, tmp_path, content, expected):
    out, _ = trained_run
    path = tmp_path / "bad.jpg"
    if content is None:  # a real JPEG cut in half
        Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path)
        content = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(content)
    result = run_cli("predict", str(out / "model.glassnet"), str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "resnet-9000", "--epochs", "1"], "unknown model"),
    (["train", "--dataset", "imagenet", "--epochs", "1"], "unknown dataset"),
    (["evaluate", "does-not-exist.glassnet", "--dataset", "cats"], "does-not-exist.glassnet"),
    (["train", "--hidden", "20,x", "--epochs", "1"], "--hidden"),
])
def test_user_errors_are_one_clear_line(args, message, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize("command", ["info", "predict", "evaluate", "export"])
def test_a_model_path_the_system_cannot_even_look_at_is_one_clear_line(command, trained_run, cats,
                                                                        tmp_path, capsys):
    """A name too long for the system was an OSError traceback from the parser."""
    args = {"predict": ["x.png"], "export": ["--onnx", str(tmp_path / "m.onnx")]}.get(command, [])
    assert main([command, str(tmp_path / ("a" * 300 + ".glassnet")), *args]) == 1
    err = capsys.readouterr().err
    assert "File name too long" in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["https://example.com/cat.jpg", "http://host/x.png"])
def test_predict_says_a_url_is_not_read(url, trained_run, capsys):
    """The URL was mangled to 'https:/example.com/cat.jpg: no such file'."""
    out, _ = trained_run
    assert main(["predict", str(out), url]) == 1
    err = capsys.readouterr().err
    assert f"error: {url}: a URL; images are read from files only: download it first" in err


def test_bad_option_values_are_rejected_by_the_parser():
    result = run_cli("train", "--epochs", "0")
    assert result.returncode == 2
    assert "--epochs" in result.stderr


@pytest.mark.parametrize("args, expected", [
    (["train", "--lr", "inf"], "--lr: expected a positive number, got 'inf'"),
    (["train", "--weight-decay", "inf"], "--weight-decay: expected a number >= 0, got 'inf'"),
    (["train", "--reg", "inf"], "--reg: expected a number >= 0, got 'inf'"),
    (["train", "--momentum", "1"], "--momentum: expected a number >= 0 and below 1, got '1'"),
    (["train", "--momentum", "inf"], "--momentum: expected a number >= 0 and below 1, got 'inf'"),
    (["train", "--dropout", "1"], "--dropout: expected a number >= 0 and below 1, got '1'"),
    (["train", "--lr-decay", "2"], "--lr-decay: expected a number above 0 and at most 1, got '2'"),
    (["train", "--seed", "-1"], "--seed: expected an integer >= 0, got '-1'"),
    (["search", "--seed", "-1"], "--seed: expected an integer >= 0, got '-1'"),
    (["evaluate", "m.glassnet", "--seed", "-1"], "--seed: expected an integer >= 0, got '-1'"),
])
def test_out_of_range_numbers_are_named_by_the_parser(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert f"glassnet {args[0]}: error: argument {expected}" in capsys.readouterr().err


@pytest.mark.parametrize("args,unknown", [
    (["search", "--quiet", "--trials", "1"], "--quiet"),  # was the hidden --quiet-summary
    (["train", "--epoch", "3"], "--epoch 3"), (["evaluate", "m.glassnet", "--spl", "test"], "--spl test"),
])
def test_options_are_taken_in_full_only(args, unknown, capsys):
    """argparse takes any unique prefix of an option: `search --quiet` (search has no --quiet)
    became the hidden --quiet-summary of its worker processes, a silent search that wrote
    no summary, no search.json and skipped --final, with exit code 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.endswith(f"unrecognized arguments: {unknown}\n")


def test_an_unknown_option_is_named_by_its_command_with_the_commands_usage(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochz", "3"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("usage: glassnet train ")
    assert err.endswith("glassnet train: error: unrecognized arguments: --epochz 3\n")


def test_an_infinite_initial_spread_is_refused_before_training(tmp_path, capsys):
    assert main(["train", "--init", "normal:inf", "--epochs", "1", "--out", str(tmp_path / "r")]) == 1
    assert "normal(std) needs a finite std > 0, got inf" in capsys.readouterr().err
    assert not (tmp_path / "r" / "model.glassnet").exists()


def test_gradcheck_passes():
    result = run_cli("gradcheck", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert report["checks"] and all(row["max_rel_error"] < 1e-6 for row in report["checks"])


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert f"usage: glassnet {command}" in result.stdout


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_help_shows_each_options_default_once(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert "(default: None)" not in text and "(default: [])" not in text
    assert "(default: False)" not in text  # on/off flags are off unless given
    # one way of stating a default: "(default: X)", never "[default: X]" or "(default X)"
    assert "[default" not in flat and not re.search(r"\(default [^:]", flat)
    for option in re.split(r"\n  (?=-)", text.split("options:", 1)[1]):
        assert option.count("default") <= 1, option
    if command == "train":
        assert "(default: 20,7,5, the course's" in flat
        assert "(default: 10)" in text  # --epochs: the defaults argparse shows are still there
        assert "learning-rate schedule: constant, step, exponential, inverse-time, cosine, onecycle" in flat
    if command in ("train", "search"):
        assert "or the path of an image folder with one subfolder per class" in flat


def test_top_level_help_and_version():
    result = run_cli("--help")
    assert result.returncode == 0 and all(c in result.stdout for c in COMMANDS)
    assert run_cli("--version").stdout.startswith("glassnet ")


def test_diverging_training_exits_1_and_keeps_the_last_good_model(tmp_path):
    out = tmp_path / "nan-run"
    result = run_cli("train", "--hidden", "7", "--epochs", "20", "--lr", "1e30", "--optimizer",
                     "adam", "--batch-size", "full", "--quiet", "--out", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the loss became nan at epoch 2, batch 1" in result.stderr
    # the first epoch's end weights gave that nan: the initial ones are the last good ones
    assert "keeps the initial weights, the last known to give a finite loss" in result.stderr
    assert "warning" not in result.stderr  # NumPy's overflow warnings: the guard handles them
    # the history ends where the kept weights do: the first epoch's update was dropped
    assert "0 epochs in" in result.stdout
    assert "stopped by a non-finite loss and kept the initial weights" in result.stdout
    assert (out / "model.glassnet").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 0 and np.isfinite(metrics["train"]["loss"])
    assert json.loads((out / "history.json").read_text())["epoch"] == []
    assert metrics["stopped"].startswith("the loss became nan at epoch 2, batch 1")
    assert "the loss became nan at epoch 2, batch 1" in (out / "report.html").read_text()


def test_a_run_whose_last_update_diverges_exits_1(tmp_path):
    result = run_cli("train", "--hidden", "4", "--epochs", "1", "--lr", "1e30", "--batch-size", "full",
                     "--seed", "1", "--quiet", "--out", str(tmp_path / "r"))
    assert result.returncode == 1, result.stdout
    assert "the last update of epoch 1 made the loss or the outputs non-finite" in result.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["train"]["loss"] is not None  # the initial weights', not NaN


def test_initial_weights_that_already_give_nan_are_named_as_such(tmp_path, capsys):
    args = ["train", "--epochs", "2", "--lr", "1e38", "--init", "normal:1e10", "--quiet",
            "--out", str(tmp_path / "run")]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert err.strip() == ("glassnet train: error: the loss became nan at epoch 1, batch 1; training "
                           "stopped and the model keeps the initial weights, which already give a "
                           "non-finite loss (try smaller initial weights); that model was saved to "
                           f"{tmp_path / 'run' / 'model.glassnet'}")
    assert "0 epochs in" in out and "stopped by a non-finite loss and kept the initial weights" in out


FILE_IN_THE_WAY = "{file} is a file, not a folder"


@pytest.mark.parametrize("args, message", [
    (["train", "--epochs", "1", "--out", "{file}"], "--out " + FILE_IN_THE_WAY),
    (["train", "--epochs", "1", "--out", "{file}/f/sub"], "--out {file}/f/sub: " + FILE_IN_THE_WAY),
    (["search", "--param", "lr=log:1e-3:1e-1", "--out", "{file}/s"], "--out {file}/s: " + FILE_IN_THE_WAY),
    (["evaluate", "{model}", "--report", "{dir}"], "--report {dir} is a folder; give the path of a file"),
    (["evaluate", "{model}", "--report", "{file}/r.html"], "--report {file}/r.html: " + FILE_IN_THE_WAY),
    (["export", "{model}", "--onnx", "{dir}"], "--onnx {dir} is a folder; give the path of a file"),
])
def test_unwritable_output_paths_are_one_clear_line_before_any_work(trained_run, tmp_path, capsys,
                                                                      args, message):
    names = {"file": tmp_path / "x.txt", "dir": tmp_path / "folder",
             "model": trained_run[0] / "model.glassnet"}
    names["file"].write_text("x")
    names["dir"].mkdir()
    assert main([a.format(**names) for a in args]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"glassnet {args[0]}: error: {message.format(**names)}")
    assert len(captured.err.splitlines()) == 1
    assert captured.out == ""  # refused before evaluating anything
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "x.txt"]


def test_an_output_folder_without_write_permission_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # (tests may run as root)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err.strip() == (f"glassnet train: error: --out {tmp_path / 'run'}: "
                                               f"no permission to write in {tmp_path}")


def test_running_out_of_memory_is_one_line_with_what_to_change(tmp_path, capsys, monkeypatch):
    """A batch whose activations do not fit: NumPy's MemoryError, not a traceback."""
    from glassnet.layers import Dense

    def no_memory(self, x, training=False):
        raise MemoryError("Unable to allocate 9.00 GiB for an array with shape (128, 18874368)")

    monkeypatch.setattr(Dense, "forward", no_memory)
    assert main(["train", "--dataset", "cats", "--epochs", "1", "--out", str(tmp_path / "run")]) == 1
    assert capsys.readouterr().err == (
        "glassnet train: error: out of memory: Unable to allocate 9.00 GiB for an array with shape "
        "(128, 18874368); a smaller --batch-size or --image-size needs less\n")
    # evaluate takes neither option: it is not advised
    (tmp_path / "m").mkdir()
    monkeypatch.undo()
    assert main(["train", "--dataset", "cats", "--epochs", "1", "--out", str(tmp_path / "m"),
                 "--overwrite", "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(Dense, "forward", no_memory)
    assert main(["evaluate", str(tmp_path / "m")]) == 1
    assert capsys.readouterr().err == ("glassnet evaluate: error: out of memory: Unable to allocate "
                                       "9.00 GiB for an array with shape (128, 18874368)\n")


@pytest.mark.parametrize("args", [
    ["train", "--epochs", "1", "--out", "{locked}/run"],
    ["search", "--param", "lr=log:1e-3:1e-1", "--trials", "1", "--out", "{locked}/s"],
    ["evaluate", "{model}", "--report", "{locked}/r.html"],
])
def test_a_folder_the_system_refuses_is_one_clear_line(trained_run, tmp_path, capsys, monkeypatch, args):
    """As root, the checks before any work pass for /sys or /proc, and mkdir fails there."""
    from pathlib import Path

    locked, mkdir = tmp_path / "locked", Path.mkdir

    def refusing_mkdir(self, *a, **kw):
        if str(self).startswith(str(locked)):
            raise PermissionError(1, "Operation not permitted", str(self))
        return mkdir(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", refusing_mkdir)
    names = {"locked": locked, "model": trained_run[0] / "model.glassnet"}
    assert main([a.format(**names) for a in args]) == 1
    err = capsys.readouterr().err
    assert re.fullmatch(rf"glassnet {args[0]}: error: could not create the folder "
                        rf"{re.escape(str(locked))}\S*: Operation not permitted\n", err), err


def test_a_file_the_system_refuses_is_one_clear_line_and_any_other_os_error_too(
        trained_run, tmp_path, capsys, monkeypatch):
    import tempfile

    from glassnet.cli import info

    report, model = tmp_path / "r.html", trained_run[0] / "model.glassnet"
    refuse = PermissionError(13, "Permission denied", str(tmp_path / ".r.html.x.tmp"))
    monkeypatch.setattr(tempfile, "mkstemp", lambda *a, **kw: (_ for _ in ()).throw(refuse))
    assert main(["evaluate", str(model), "--report", str(report)]) == 1
    assert capsys.readouterr().err.endswith(
        f"glassnet evaluate: error: could not write {report}: Permission denied; the previous "
        "file (if any) is unchanged\n")
    monkeypatch.undo()
    monkeypatch.setattr(info, "run", lambda args: open(tmp_path / "missing" / "f"))  # noqa: SIM115
    assert main(["info", str(model)]) == 1
    assert capsys.readouterr().err == (f"glassnet info: error: [Errno 2] No such file or directory: "
                                       f"'{tmp_path / 'missing' / 'f'}'\n")


@pytest.mark.parametrize("args", [["evaluate", "{model}", "--json"],
                                  ["predict", "{model}", "{image}", "--json"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(trained_run, cats, tmp_path, args):
    """`glassnet evaluate --json | head`: no BrokenPipeError traceback, exit code 1."""
    image = tmp_path / "cat.png"
    Image.fromarray(cats["test"].x[0].transpose(1, 2, 0)).save(image)
    args = [a.format(model=trained_run[0] / "model.glassnet", image=image) for a in args]
    process = subprocess.Popen([sys.executable, "-m", "glassnet", *args], env=cli_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # the reader is gone before the command prints anything
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 1
    assert stderr == ""


@pytest.mark.parametrize("flags,expected", [
    (["--optimizer", "adamw"], 0.01),  # AdamW's own default, PyTorch's
    (["--optimizer", "adamw", "--weight-decay", "0"], 0.0),  # an explicit 0 turns it off
    (["--optimizer", "sgd"], 0.0),
    (["--optimizer", "adam", "--weight-decay", "1e-4"], 1e-4),
])
def test_weight_decay_flag_reaches_the_optimizer(flags, expected):
    from glassnet.cli import build_parser
    from glassnet.cli.train import config_from_args
    from glassnet.run_setup import make_optimizer

    args = build_parser().parse_args(["train", *flags])
    assert make_optimizer(config_from_args(args)).weight_decay == expected


@pytest.mark.parametrize("args, option", [
    (["train", "--out", ""], "--out"),
    (["train", "--dataset", " "], "--dataset"),
    (["train", "--resume", ""], "--resume"),
    (["evaluate", ""], "model"),
    (["evaluate", "m.glassnet", "--report", ""], "--report"),
    (["predict", "m.glassnet", "a.jpg", ""], "images"),
    (["info", ""], "model"),
    (["export", "m.glassnet", "--onnx", ""], "--onnx"),
    (["report", ""], "RUN_DIR"),
])
def test_an_empty_path_is_refused_not_taken_as_the_current_folder(args, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert f"argument {option}: expected a path, got an empty one" in capsys.readouterr().err


def test_an_empty_data_set_name_is_refused_by_the_library():
    from glassnet.data import load
    from glassnet.errors import ConfigError

    with pytest.raises(ConfigError, match="the data set name is empty"):
        load("")


@pytest.mark.parametrize("option", ["--space", "--dataset", "--out"])
def test_search_refuses_empty_paths_too(option, capsys):
    with pytest.raises(SystemExit):
        main(["search", option, ""])
    assert f"argument {option}: expected a path, got an empty one" in capsys.readouterr().err


def test_configs_saved_before_weight_decay_could_be_zero_keep_their_meaning():
    from glassnet.run_setup import make_optimizer
    from glassnet.runs import RunConfig

    old = RunConfig.from_dict({"optimizer": "adamw", "weight_decay": 0.0})  # no config_version
    assert make_optimizer(old).weight_decay == 0.01  # what that run trained with
    explicit = RunConfig(optimizer="adamw", weight_decay=0.0)
    assert make_optimizer(RunConfig.from_dict(explicit.to_dict())).weight_decay == 0.0


def test_predict_and_evaluate_refuse_a_model_whose_outputs_are_not_probabilities(tmp_path, capsys):
    import glassnet as gn

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(3, 64, 64),
                          class_names=["non-cat", "cat"])
    model.save(tmp_path / "raw.glassnet")  # never compiled: raw scores
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(tmp_path / "raw.glassnet"), str(tmp_path / "x.png")]) == 1
    assert "outputs are raw scores, not probabilities" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "raw.glassnet")]) == 1
    assert "outputs are raw scores, not probabilities" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "raw.glassnet")]) == 0
    assert "output: raw scores; loss: None" in capsys.readouterr().out


def test_info_and_onnx_metadata_name_a_last_layer_softmax(tmp_path, capsys):
    import glassnet as gn
    from glassnet.io.onnx import metadata

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(3, activation="softmax")],
                          input_shape=(3, 8, 8), class_names=["a", "b", "c"])
    model.compile(gn.losses.get("categorical_crossentropy", from_logits=False), "sgd")
    model.save(tmp_path / "probs.glassnet")
    assert main(["info", str(tmp_path / "probs.glassnet")]) == 0
    assert "output: softmax; loss: categorical_crossentropy" in capsys.readouterr().out
    assert metadata(model)["output"] == "class probabilities (softmax), shape (N, C)"


def test_evaluate_on_a_named_set_reads_only_the_split_it_scores(tmp_path, data_root):
    import glassnet as gn

    (tmp_path / "data" / "catvnoncat").mkdir(parents=True)
    (tmp_path / "data" / "catvnoncat" / "test_catvnoncat.h5").symlink_to(
        data_root / "catvnoncat" / "test_catvnoncat.h5")  # no training file
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(3, 64, 64),
                          class_names=["non-cat", "cat"], preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    model.save(tmp_path / "m.glassnet")
    result = run_cli("evaluate", str(tmp_path / "m.glassnet"), "--json",
                     env={"GLASSNET_DATA": str(tmp_path / "data"), "GLASSNET_CATS_URL": "http://127.0.0.1:9/"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["samples"] == 50


@pytest.mark.parametrize("options,expected", [
    (["--lr", "0.003", "--lr-schedule", "cosine"], "lr 0.003 (cosine schedule)"),
    (["--lr-decay", "0.5"], "lr 0.01 (step schedule, x0.5 per epoch)"),
    ([], "lr 0.01, batch size")])
def test_info_shows_the_learning_rate_the_run_was_given(tmp_path, capsys, options, expected):
    out = tmp_path / "run"
    assert main(["train", "--hidden", "4", "--epochs", "3", "--quiet", "--out", str(out), *options]) == 0
    assert main(["info", str(out / "model.glassnet")]) == 0
    assert f"optimizer sgd {expected}" in capsys.readouterr().out


def test_info_shows_the_regularization_augmentation_and_early_stopping_of_a_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--hidden", "5", "--epochs", "30", "--lr", "0.5", "--reg", "0.01",
                 "--augment", "flip", "--early-stopping", "2", "--validation-split", "0.2",
                 "--threads", "1", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert ", L2 reg 0.01, augment flip, validation split 0.2" in text
    stopped = json.loads((out / "metrics.json").read_text())
    assert ("  early stopping on val_loss, patience 2: stopped after epoch "
            f"{stopped['early_stopped_after']}, weights of epoch {stopped['restored_epoch']}") in text
    assert main(["info", str(out), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["reg"] == 0.01 and described["training"]["augment"] == "flip"
    assert described["training"]["early_stopping"]["patience"] == 2


def test_info_says_when_early_stopping_did_not_stop(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--hidden", "4", "--epochs", "2", "--early-stopping", "5", "--validation-split",
                 "0.2", "--threads", "1", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  early stopping on val_loss, patience 5: did not stop early\n" in text
    assert "L2 reg" not in text and "augment" not in text


def test_info_shows_a_decayed_learning_rate_as_training_printed_it(tmp_path, capsys):
    """With 4 decimals the last epoch's lr 5e-05 read "lr 0.0001" (twice the real rate)."""
    out = tmp_path / "run"
    assert main(["train", "--hidden", "4", "--epochs", "3", "--quiet", "--out", str(out), "--lr",
                 "0.0002", "--lr-decay", "0.5"]) == 0
    capsys.readouterr()
    assert main(["info", str(out / "checkpoint.glassnet")]) == 0
    assert "last epoch: " in (text := capsys.readouterr().out) and "lr 5e-05" in text


def test_no_cache_reads_a_folder_without_the_cache_and_leaves_the_environment_as_it_was(
        tmp_path, monkeypatch, capsys):
    from test_data_folder import two_classes

    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("GLASSNET_IMAGE_CACHE", raising=False)
    photos = two_classes(tmp_path / "photos", n=4)
    train = ["train", "--dataset", str(photos), "--image-size", "8", "--hidden", "3", "--epochs", "1",
             "--quiet"]
    assert main([*train, "--no-cache", "--out", str(tmp_path / "a")]) == 0, capsys.readouterr().err
    assert not (tmp_path / "data" / "cache").exists()
    assert "GLASSNET_IMAGE_CACHE" not in os.environ  # set only while the command ran
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert " --no-cache " in run["config"]["extra"]["command"]  # the run records how it was made
    assert main([*train, "--out", str(tmp_path / "b")]) == 0  # without it: cached as before
    assert list((tmp_path / "data" / "cache").rglob("*.npy"))
    # --resume takes it, as it takes --device and --threads (this run is finished: nothing to resume)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "a"), "--no-cache", "--quiet"]) == 1
    assert "drop" not in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "a"), "--strict", "--quiet"]) == 1
    assert "drop --strict" in capsys.readouterr().err


def test_no_cache_is_refused_for_a_named_set_and_a_bad_switch_is_named(tmp_path, monkeypatch, capsys):
    assert main(["train", "--dataset", "cats", "--no-cache", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip() == (
        "glassnet train: error: --no-cache applies to image folders; the 'cats' set has fixed-size "
        "images, stored as arrays")
    monkeypatch.setenv("GLASSNET_IMAGE_CACHE", "maybe")
    assert main(["train", "--dataset", "cats", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.strip() == (
        "glassnet train: error: $GLASSNET_IMAGE_CACHE='maybe': expected on or off")
    assert not (tmp_path / "r").exists()


def test_search_passes_no_cache_to_its_workers_and_its_train_command():
    from glassnet.cli.search_workers import search_runtime_flags

    args = build_parser().parse_args(["search", "--no-cache", "--threads", "1"])
    assert search_runtime_flags(args) == ["--threads", "1", "--no-cache"]
    with pytest.raises(SystemExit):  # predict reads files one by one: there is no cache to skip
        build_parser().parse_args(["predict", "m.glassnet", "x.png", "--no-cache"])


def test_search_resume_refuses_no_cache_for_a_named_set(tmp_path, capsys):
    # check_folder_options leaves --resume alone (the data set is the stored one): without
    # this check the printed train command carried --no-cache with --dataset cats, which
    # train refuses
    out = str(tmp_path / "s")
    assert main(["search", "--dataset", "cats", "--hidden", "3", "--trials", "1",
                 "--epochs-per-trial", "1", "--param", "lr=log:1e-3:1e-1", "--no-plot",
                 "--out", out]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["search", "--resume", "--out", out, "--trials", "2", "--no-cache"]) == 1
    assert capsys.readouterr().err.strip() == (
        "glassnet search: error: --no-cache applies to image folders; the stored search's 'cats' "
        "set has fixed-size images, stored as arrays")
    assert len(json.loads((tmp_path / "s" / "search.json").read_text())["trials"]) == 1


def train_tiny_folder_run(tmp_path, monkeypatch, images_per_class: int = 4, *options: str):
    """A photo folder of two solid-colour classes (cached in a private data dir) and a tiny
    MLP trained on it in ``tmp_path/run``: ``(photos, run)``."""
    from test_data_folder import two_classes

    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    photos = two_classes(tmp_path / "photos", n=images_per_class)
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(photos), "--image-size", "8", "--hidden", "3", "--epochs", "1",
                 "--quiet", "--out", str(run), *options]) == 0
    return photos, run


def test_every_model_command_takes_the_run_directory_train_printed(tmp_path, monkeypatch, capsys):
    photos, run = train_tiny_folder_run(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["info", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["file"] == str(run / "model.glassnet")
    assert main(["evaluate", str(run), "--dataset", str(photos), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 8
    assert main(["predict", str(run), str(photos / "a" / "0.png"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["class"] == "a"
    assert main(["export", str(run), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").is_file()


def test_a_run_directory_without_a_model_yet_says_to_resume_and_any_other_folder_is_refused(
        tmp_path, capsys):
    unfinished = tmp_path / "my run"
    unfinished.mkdir()
    (unfinished / "checkpoint.glassnet").write_bytes(b"")
    for command in (["evaluate"], ["predict", "--json"], ["export", "--onnx", str(tmp_path / "m.onnx")]):
        args = [command[0], str(unfinished), *command[1:]] + (["x.png"] if command[0] == "predict" else [])
        assert main(args) == 1  # one line, not the usage text
        assert capsys.readouterr().err == (
            f"glassnet {command[0]}: error: {unfinished} holds no model.glassnet yet: its run has "
            f"not finished (it is still training, or it stopped); once it has stopped, continue it "
            f"with glassnet train --resume '{unfinished}', or give "
            f"'{unfinished / 'checkpoint.glassnet'}' to use its last saved weights\n")
    assert main(["info", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"glassnet info: error: {tmp_path} is a directory, not a model or checkpoint file")


def test_the_checkpoint_of_a_finished_run_is_said_not_to_be_its_model(tmp_path, monkeypatch, capsys):
    """A finished run keeps its checkpoint: evaluating, predicting from or exporting it gave
    the last epoch's weights where model.glassnet holds early stopping's best, silently."""
    _, run = train_tiny_folder_run(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["evaluate", str(run / "checkpoint.glassnet"), "--json"]) == 0
    assert (f"warning: {run / 'checkpoint.glassnet'} is the checkpoint of a finished run (the state "
            f"--resume continues from), with the weights of its last epoch; the run's model is "
            f"{run / 'model.glassnet'}") in capsys.readouterr().err
    assert main(["evaluate", str(run), "--json"]) == 0
    assert "is the checkpoint of a finished run" not in capsys.readouterr().err


def test_the_checkpoint_of_an_unfinished_run_is_not_said_to_be_a_finished_runs(tmp_path, monkeypatch,
                                                                               capsys):
    """Without a model.glassnet beside it the checkpoint is all the run has: no warning
    points to a model that is not there."""
    _, run = train_tiny_folder_run(tmp_path, monkeypatch)
    (run / "model.glassnet").unlink()  # as a run stopped before its end leaves it
    capsys.readouterr()
    assert main(["evaluate", str(run / "checkpoint.glassnet"), "--json"]) == 0
    assert "is the checkpoint of a finished run" not in capsys.readouterr().err


def test_info_of_an_unfinished_run_directory_describes_its_checkpoint(tmp_path, monkeypatch, capsys):
    _, run = train_tiny_folder_run(tmp_path, monkeypatch)
    (run / "model.glassnet").unlink()  # as a run stopped before its end leaves it
    capsys.readouterr()
    assert main(["info", str(run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["file"] == str(run / "checkpoint.glassnet") and info["kind"] == "checkpoint"
    assert main(["evaluate", str(run)]) == 1  # the commands that need a finished model say to resume
    assert ("its run has not finished (it is still training, or it stopped); once it has stopped, "
            f"continue it with glassnet train --resume {run}") in capsys.readouterr().err
    assert main(["evaluate", str(run / "checkpoint.glassnet"), "--json"]) == 0  # or take its weights
    assert json.loads(capsys.readouterr().out)["samples"] == 8  # on its folder, which it records:
    assert main(["info", str(run)]) == 0
    shown = capsys.readouterr().out
    # (its run record is there: resume would say the same)
    assert "checkpoint: 1 of 1 epoch(s) done, with the weights of the last; its training is complete: " \
           "nothing to resume; last epoch: loss " in shown
    assert main(["info", str(run)]) == 0
    # its model records the data and the epochs done so far
    assert re.search(rf"training: 1 epoch on {re.escape(str(run.parent / 'photos'))} in [0-9.]+s, "
                     r"images fitted by squash\n", capsys.readouterr().out)


def test_info_of_a_checkpoint_says_what_training_goes_on_with_when_the_file_records_it():
    from glassnet.cli.info import _checkpoint_text

    ck = {"epochs_done": 2, "last_epoch": {"loss": 0.5}, "run": {"epochs": 9, "batch_size": None},
          "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True}}
    assert _checkpoint_text(ck) == ("checkpoint: 2 of 9 epoch(s) done, with the weights of the last "
                                    "(glassnet train --resume continues it with optimizer sgd lr 0.05 "
                                    "(momentum 0.9, nesterov), batch size full); last epoch: loss 0.5000")
    # on a schedule, the run's lr and its schedule are what goes on, with the lr of the moment
    scheduled = {**ck, "run": {"epochs": 9, "batch_size": 16, "lr": 0.05, "lr_schedule": "cosine"},
                 "optimizer": {"name": "sgd", "lr": 0.0328321}}
    assert "continues it with optimizer sgd lr 0.05 on the cosine schedule (now 0.0328321), batch size 16)" \
        in _checkpoint_text(scheduled)
    decayed = {**scheduled, "run": {"epochs": 9, "lr": 0.05, "lr_schedule": None, "lr_decay": 0.9}}
    assert "with optimizer sgd lr 0.05 on the step schedule (now 0.0328321))" in _checkpoint_text(decayed)
    # a checkpoint that records neither (written by Python code of one's own) says only the rest
    assert _checkpoint_text({"epochs_done": 2, "last_epoch": {}, "run": None, "optimizer": None}) == (
        "checkpoint: 2 epoch(s) done, with the weights of the last (glassnet train --resume continues "
        "it)")


@pytest.mark.parametrize("state,finished,says", [
    ({"epochs_done": 9}, True, "9 of 9 epoch(s) done, with the weights of the last; its training is "
                               "complete: nothing to resume; last epoch: loss 0.5000"),
    ({"epochs_done": 4, "stopped_early": True}, True,
     "4 of 9 epoch(s) done, with the weights of the last; early stopping ended its training: "
     "nothing to resume"),
    ({"epochs_done": 0, "non_finite": "the loss became NaN in epoch 1"}, True,
     "0 of 9 epoch(s) done, with the initial weights; its training stopped because the loss became NaN in "
     "epoch 1, so --resume refuses it: start a new run"),
    ({"epochs_done": 4, "stopped_early": True}, False, "early stopping ended its training, and glassnet "
                                                       "train --resume writes the run's files"),
])
def test_info_of_a_checkpoint_whose_training_is_over_says_what_resume_does(state, finished, says):
    """It said "glassnet train --resume continues it" of runs that resume refuses: complete,
    stopped early, or stopped by a non-finite loss (and "the last" of no epoch at all)."""
    from glassnet.cli.info import _checkpoint_text

    ck = {"last_epoch": {"loss": 0.5} if state["epochs_done"] else {}, "run": {"epochs": 9},
          "optimizer": {"name": "sgd"}, "run_finished": finished, **state}
    text = _checkpoint_text(ck)
    assert text.startswith("checkpoint: ") and says in text and "continues it" not in text


def test_info_of_a_resumed_runs_checkpoint_gives_the_training_time_of_all_its_sessions(tmp_path, monkeypatch,
                                                                                       capsys):
    import glassnet.cli.info as info
    from glassnet.io.archive import read_archive

    _, run = train_tiny_folder_run(tmp_path, monkeypatch)
    described = info.describe(run / "checkpoint.glassnet")
    config, _ = read_archive(run / "checkpoint.glassnet", "checkpoint")
    seconds = config["checkpoint"]["seconds"]  # the run's: all its training sessions
    assert described["training"]["seconds"] == seconds == described["checkpoint"]["seconds"]


def test_a_bad_cache_switch_stops_only_the_commands_that_read_image_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GLASSNET_IMAGE_CACHE", "maybe")
    assert main(["gradcheck", "--json"]) == 0  # reads no folder: the variable is not its business
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 1
    assert "$GLASSNET_IMAGE_CACHE='maybe'" in capsys.readouterr().err
    assert build_parser().parse_args(["report", "runs/x", "--no-cache"]).no_cache is True


def test_predict_gives_the_same_answers_chunk_by_chunk(tmp_path, monkeypatch, capsys):
    from glassnet.data import unlabelled

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 5)
    capsys.readouterr()
    outputs = {}
    for chunk in (1024, 3):
        monkeypatch.setattr(unlabelled, "CHUNK_IMAGES", chunk)
        for mode in ([], ["--json"]):
            assert main(["predict", str(run), str(photos / "a" / "0.png"), str(photos), *mode]) == 0
            outputs[chunk, bool(mode)] = capsys.readouterr().out
    assert outputs[3, False] == outputs[1024, False] and len(outputs[3, False].splitlines()) == 10
    chunked, whole = json.loads(outputs[3, True]), json.loads(outputs[1024, True])
    assert [(r["file"], r["class"]) for r in chunked] == [(r["file"], r["class"]) for r in whole]
    for r, s in zip(chunked, whole, strict=True):  # another batch makes BLAS round differently
        assert r["probabilities"] == pytest.approx(s["probabilities"], abs=1e-6)


def test_predict_and_evaluate_size_their_chunks_and_batches_by_bytes(tmp_path, monkeypatch, capsys):
    import glassnet as gn
    from glassnet import inference
    from glassnet.data import unlabelled

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 5)
    batches = []
    preprocess = gn.Sequential.preprocess
    monkeypatch.setattr(gn.Sequential, "preprocess",
                        lambda self, x: batches.append(len(x)) or preprocess(self, x))
    # 8x8 RGB: 192 bytes of uint8 an image; the MLP's widest layer (Flatten) holds 2 * 192 float32
    monkeypatch.setattr(unlabelled, "CHUNK_BYTES", 3 * 192)
    monkeypatch.setattr(inference, "BATCH_BYTES", 2 * 2 * 192 * 4)
    assert main(["predict", str(run), str(photos)]) == 0
    assert batches == [2, 1, 2, 1, 2, 1, 1]  # chunks of 3, 3, 3 and 1 images, in batches of 2
    batches.clear()
    assert main(["evaluate", str(run), "--dataset", str(photos)]) == 0
    assert batches == [2, 2, 2, 2, 2]
    capsys.readouterr()


def test_evaluate_and_its_report_name_the_files_of_misclassified_images(tmp_path, monkeypatch, capsys):
    import shutil

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 4, "--epochs", "3")
    swapped = tmp_path / "swapped"  # b's images filed under a: those are misclassified
    shutil.copytree(photos / "a", swapped / "a")
    shutil.copy(photos / "b" / "0.png", swapped / "a" / "from-b.png")
    shutil.copytree(photos / "b", swapped / "b")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--dataset", str(swapped), "--json", "--report",
                 str(tmp_path / "eval.html")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["misclassified_files"] == ["a/from-b.png"]
    assert len(result["misclassified"]) == 1
    assert "a/from-b.png" in (tmp_path / "eval.html").read_text()


def test_predict_of_an_unreadable_named_file_says_what_to_do(tmp_path, monkeypatch, capsys):
    _, run = train_tiny_folder_run(tmp_path, monkeypatch, 2)
    (tmp_path / "notes.jpg").write_text("not an image")
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "notes.jpg")]) == 1
    err = capsys.readouterr().err
    assert "not an image file in a readable format" in err
    assert "name only readable images, or their folder" in err


def test_predict_answers_the_images_before_a_folder_without_images_then_says_so(tmp_path, monkeypatch,
                                                                                capsys):
    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 2)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("not an image")
    for folder, message in (("empty", "it holds no files"), ("notes", "none of its 1 file(s) is a "
                                                                      "readable image (todo.txt;")):
        capsys.readouterr()
        assert main(["predict", str(run), str(photos / "a"), str(tmp_path / folder), str(photos / "b")]) == 1
        out, err = capsys.readouterr()
        assert [line.split(":")[0] for line in out.splitlines()] == [str(photos / "a" / f"{i}.png")
                                                                     for i in range(2)]
        assert f"{tmp_path / folder}: no readable image in this folder: {message}" in err
        assert "name only readable images" not in err  # advice for a named file, not a folder
    (tmp_path / "bad.png").write_text("not an image")  # a named file still stops predict there
    assert main(["predict", str(run), str(photos / "a" / "0.png"), str(tmp_path / "bad.png"),
                 str(photos / "b")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{photos / 'a' / '0.png'}: ") and len(out.splitlines()) == 1
    assert "bad.png: not an image file" in err and "name only readable images, or their folder" in err


def test_evaluate_of_a_python_model_that_does_not_fit_the_cat_set_says_why_cats(tmp_path, capsys):
    """The shape error named cats/test without saying why cats was used."""
    import glassnet as gn

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(10)], input_shape=(3, 32, 32))
    model.compile("categorical_crossentropy")
    model.save(path := tmp_path / "python.glassnet")
    assert main(["evaluate", str(path), "--threads", "1"]) == 1
    assert capsys.readouterr().err.endswith(
        f"but cats/test has (3, 64, 64); {path} records no data set it was trained on (a model "
        "saved from Python), so the cat set was used: give --dataset\n")


def test_evaluate_says_why_cats_only_when_it_chose_the_cat_set_itself(tmp_path, capsys):
    """--dataset cats given, or a model recording the cat set: the shape error is the
    data set's alone (nothing was assumed)."""
    import glassnet as gn

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(10)], input_shape=(3, 32, 32))
    model.compile("categorical_crossentropy")
    model.save(path := tmp_path / "python.glassnet")
    assert main(["evaluate", str(path), "--dataset", "cats", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "but cats/test has (3, 64, 64)" in err and "records no data set" not in err
    model.training_summary["dataset"] = "cats"
    model.save(recorded := tmp_path / "recorded.glassnet")
    assert main(["evaluate", str(recorded), "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "but cats/test has (3, 64, 64)" in err and "records no data set" not in err


def test_predict_warns_that_it_assumes_squash_for_a_model_trained_in_python(tmp_path, capsys):
    import glassnet as gn
    from glassnet.data import unlabelled

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4))
    model.compile("categorical_crossentropy")
    model.save(tmp_path / "python.glassnet")
    Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / "b.png")
    assert main(["predict", str(tmp_path / "python.glassnet"), str(tmp_path / "a.png"),
                 str(tmp_path / "b.png")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "predict assumes squash (stretched)" in err
    assert "model.training_summary['resize'] = 'crop'" in err
    assert main(["predict", str(tmp_path / "python.glassnet"), str(tmp_path / "a.png"),
                 "--resize", "pad"]) == 0
    assert "warning" not in capsys.readouterr().err  # told: nothing assumed
    model.training_summary["resize"] = "crop"  # recorded as the warning says: used, no warning
    model.save(tmp_path / "recorded.glassnet")
    seen = []
    load_image = unlabelled.load_image
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(unlabelled, "load_image", lambda path, size, resize: seen.append(resize)
                      or load_image(path, size, resize))
        assert main(["predict", str(tmp_path / "recorded.glassnet"), str(tmp_path / "a.png")]) == 0
    assert seen == ["crop"] and "warning" not in capsys.readouterr().err
    model.training_summary["resize"] = "stretch"  # edited by hand, or a later glassnet's mode
    model.save(tmp_path / "unknown.glassnet")
    assert main(["predict", str(tmp_path / "unknown.glassnet"), str(tmp_path / "a.png")]) == 1
    assert ("the model file records an unknown resize mode 'stretch'; give --resize squash/crop/pad"
            in capsys.readouterr().err)
    # evaluate on an image folder assumes it too, and says so (it did not)
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / "photos" / name / "0.png")
    model.class_names = ["a", "b"]
    model.training_summary.pop("resize")
    model.save(tmp_path / "named.glassnet")
    assert main(["evaluate", str(tmp_path / "named.glassnet"), "--dataset", str(tmp_path / "photos"),
                 "--no-cache"]) == 0  # no cache entry in the shared data folder
    assert "evaluate assumes squash (stretched)" in capsys.readouterr().err


def test_evaluate_refuses_split_on_a_whole_folder_before_reading_it(tmp_path, monkeypatch, capsys):
    from glassnet.cli import evaluate as cli_evaluate

    def never(*args, **kwargs):
        raise AssertionError("the folder was read before the option was checked")

    monkeypatch.setattr(cli_evaluate, "load_dataset", never)
    monkeypatch.setattr(cli_evaluate, "load_model_file", lambda path: _tiny_image_model())
    (tmp_path / "photos" / "a").mkdir(parents=True)
    assert main(["evaluate", str(tmp_path / "m.glassnet"), "--dataset", str(tmp_path / "photos"),
                 "--split", "test"]) == 1
    assert "--split test: the image folder" in capsys.readouterr().err


def _tiny_image_model():
    import glassnet as gn

    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(2)], input_shape=(3, 4, 4))
    model.compile("categorical_crossentropy")
    return model


def test_evaluate_warns_when_its_test_images_include_the_training_images(tmp_path, monkeypatch, capsys):
    import shutil

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 4, "--test-split", "0.5", "--seed", "2")
    shutil.copytree(photos, tmp_path / "copy")  # the same files (copytree keeps their times)

    def warning(*options):
        capsys.readouterr()
        assert main(["evaluate", str(run), *options]) == 0
        return [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]

    assert warning("--dataset", str(photos), "--test-split", "0.5", "--seed", "2") == []
    copy = warning("--dataset", str(tmp_path / "copy"))
    assert len(copy) == 1 and (f"was trained on this folder (the same files as its training folder "
                               f"{photos.resolve()}) with --test-split 0.5 --seed 2: the whole folder "
                               "includes its training images") in copy[0]
    (tmp_path / "copy" / "a" / "0.png").touch()  # one file changed: another folder, nothing to say
    assert warning("--dataset", str(tmp_path / "copy")) == []
    assert warning("--dataset", str(photos), "--test-split", "0.5", "--seed", "2", "--split", "train") == []
    whole = warning("--dataset", str(photos))
    assert len(whole) == 1
    assert "with --test-split 0.5 --seed 2: the whole folder includes its training" in whole[0]
    assert warning() == []  # no --dataset: its own folder's test split, as recorded
    assert warning("--seed", "3") != []  # the recorded --test-split with another seed
    # its own folder named: the seed it was split with, as --seed's help says
    assert warning("--dataset", str(photos), "--test-split", "0.5") == []
    other = warning("--dataset", str(photos), "--test-split", "0.5", "--seed", "0")
    assert len(other) == 1
    assert "the test split of --test-split 0.5 --seed 0 holds images it was trained" in other[0]
    assert main(["info", str(run)]) == 0
    assert "test split 0.5 with seed 2" in capsys.readouterr().out


def test_evaluate_without_dataset_uses_the_data_the_model_was_trained_on(tmp_path, monkeypatch, capsys):
    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 4, "--test-split", "0.5", "--seed", "2")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dataset"], out["split"], out["samples"]) == (str(photos.resolve()), "test", 4)

    from glassnet.cli import evaluate as cli_evaluate

    asked = []

    def load_dataset(name, **kwargs):
        asked.append((name, kwargs["test_split"], kwargs["seed"]))
        raise cli_evaluate.ConfigError("stop here")

    monkeypatch.setattr(cli_evaluate, "load_dataset", load_dataset)
    for recorded, expected in [({"dataset": "cifar10"}, "cifar10"), ({}, "cats"),
                               ({"dataset": "gone/photos"}, "cats")]:
        model = _tiny_image_model()
        model.training_summary = recorded
        monkeypatch.setattr(cli_evaluate, "load_model_file", lambda path, model=model: model)
        assert main(["evaluate", "m.glassnet"]) == 1
        assert asked.pop() == (expected, None, 0)
    assert main(["evaluate", "m.glassnet", "--resize", "pad"]) == 1  # cats: no files to resize
    assert "--resize pad applies to image folders; the 'cats' set" in capsys.readouterr().err


def test_a_warning_is_printed_once_per_command_however_often_it_is_raised(monkeypatch, capsys):
    import warnings

    from glassnet.cli import gradcheck
    from glassnet.errors import GlassnetWarning

    def run(args):
        for text in ("skipped a.png: not an image file", "skipped a.png: not an image file", "other"):
            warnings.warn(text, GlassnetWarning, stacklevel=1)  # a folder read twice (search --final)
        return 0

    monkeypatch.setattr(gradcheck, "run", run)
    assert main(["gradcheck"]) == 0
    assert capsys.readouterr().err == ("glassnet gradcheck: warning: skipped a.png: not an image file\n"
                                       "glassnet gradcheck: warning: other\n")


def test_evaluate_tells_the_runs_validation_images_from_its_training_images(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--hidden", "4", "--epochs", "2", "--validation-split", "0.2", "--quiet",
                 "--out", str(run)]) == 0
    recorded = json.loads((run / "metrics.json").read_text())
    for split, samples in (("train", 168), ("validation", 41), ("test", 50)):
        capsys.readouterr()
        assert main(["evaluate", str(run), "--split", split, "--json"]) == 0
        scores = json.loads(capsys.readouterr().out)
        assert scores["samples"] == samples
        assert scores["accuracy"] == pytest.approx(recorded[split]["accuracy"], abs=1e-12)
    # another data set, or the same one read otherwise, has no such split of the run's
    assert main(["evaluate", str(run), "--split", "validation", "--dataset", "cifar10"]) == 1
    assert (f"--split validation: {run}/model.glassnet records no validation images held out of 'cifar10' "
            "(its run had no --validation-split, or it was trained on other data); choose --split train "
            "or test") in capsys.readouterr().err
    # nor does a run trained without --validation-split (it said the cat set has no such split)
    bare = tmp_path / "bare"
    assert main(["train", "--hidden", "4", "--epochs", "1", "--quiet", "--out", str(bare)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(bare), "--split", "validation"]) == 1
    assert "records no validation images held out of 'cats' (its run had no --validation-split" in \
        capsys.readouterr().err
    assert main(["evaluate", str(run), "--split", "foo"]) == 1  # names the run's validation split too
    assert "--split 'foo': choose one of test, train, validation" in capsys.readouterr().err


def test_an_unknown_option_before_the_command_is_glassnets_not_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--bogus", "train"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.endswith("glassnet: error: unrecognized arguments: --bogus\n")


def test_a_checkpoint_from_before_models_recorded_their_data_still_finds_it(tmp_path, monkeypatch, capsys):
    from glassnet.io.archive import read_archive, write_archive

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 4, "--test-split", "0.5", "--seed", "2")
    (run / "model.glassnet").unlink()
    checkpoint = run / "checkpoint.glassnet"
    config, arrays = read_archive(checkpoint)
    config["training"] = {}  # as checkpoints were written before: only the run's configuration
    write_archive(checkpoint, config, arrays)
    capsys.readouterr()
    assert main(["evaluate", str(checkpoint), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["dataset"], out["split"], out["samples"]) == (str(photos.resolve()), "test", 4)


def test_evaluate_warns_when_the_models_folder_has_changed_since_training(tmp_path, monkeypatch, capsys):
    from test_data_folder import save, solid

    photos, run = train_tiny_folder_run(tmp_path, monkeypatch, 6, "--test-split", "0.5", "--seed", "2")
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "has changed since" not in capsys.readouterr().err
    save(photos / "a" / "zzz_new.png", solid((10, 20, 30)))  # reshuffles class a's test split
    assert main(["evaluate", str(run)]) == 0
    assert (f"warning: {photos.resolve()} has changed since {run / 'model.glassnet'} was trained on it"
            in capsys.readouterr().err)


def test_info_of_a_checkpoint_shows_its_last_epoch(trained_run):
    from glassnet.cli.info import describe

    out, _ = trained_run
    history = json.loads((out / "history.json").read_text())
    last = describe(str(out / "checkpoint.glassnet"))["checkpoint"]["last_epoch"]
    assert last == {key: values[-1] for key, values in history.items() if key != "epoch"}
    assert last["loss"] != history["loss"][0]


def test_info_says_pixels_255_only_of_that_scale():
    from glassnet.cli.info import preprocessing_text

    divided = {"scale": 1 / 255, "mean": None, "std": None}
    assert preprocessing_text(divided) == "x * 0.00392157 (pixels / 255)"
    halved = {"scale": 0.5, "mean": [0.25], "std": None}
    assert preprocessing_text(halved) == "x * 0.5 - mean [0.25], per channel"


def test_predict_lists_tied_classes_in_the_models_order():
    """Two classes of the same probability: the first is the one the model predicts (argmax)."""
    from glassnet.cli.predict import _result

    result = _result("a.png", np.array([0.25, 0.5, 0.25]), ["x", "y", "z"], 3)
    assert [t["class"] for t in result["top"]] == ["y", "x", "z"]
    assert _result("a.png", np.array([0.5, 0.5]), ["x", "y"], 1)["class"] == "x"


def test_a_probability_plot_never_replaces_an_image_being_predicted(tmp_path, rng):
    """photo.png's plot is photo.probabilities.png, which may be another of the images."""
    from glassnet.cli.predict import PlotWriter

    image = tmp_path / "photo.probabilities.png"
    image.write_bytes(b"a photo")
    plots = PlotWriter(tmp_path, [str(tmp_path / "photo.png"), str(image)])
    path = plots.write(str(tmp_path / "photo.png"), rng.integers(0, 256, (3, 4, 4), dtype=np.uint8),
                       np.array([0.3, 0.7]), ["a", "b"])
    assert path == tmp_path / "photo-2.probabilities.png" and path.is_file()
    assert image.read_bytes() == b"a photo"


def test_an_output_file_is_checked_by_what_it_is_not_how_it_is_written(tmp_path):
    """REPORT.HTML is an .html file; the model file named another way is still the model."""
    from glassnet.cli.output import check_output_file
    from glassnet.errors import ConfigError

    page = tmp_path / "EVAL.HTML"
    assert check_output_file(page, "--report", suffixes=(".html",)) == page
    model = tmp_path / "m.html"
    model.write_text("a model")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ConfigError, match="is the model file itself"):
        check_output_file(tmp_path / "sub" / ".." / "m.html", "--report", model, suffixes=(".html",))


def test_an_environment_variable_set_before_a_command_is_put_back(monkeypatch):
    """--no-cache sets $GLASSNET_IMAGE_CACHE=off while the command runs: a value the user had
    set is theirs again afterwards, not removed."""
    from glassnet.cli.runtime import environment

    monkeypatch.setenv("GLASSNET_IMAGE_CACHE", "on")
    with environment("GLASSNET_IMAGE_CACHE", "off"):
        assert os.environ["GLASSNET_IMAGE_CACHE"] == "off"
    assert os.environ["GLASSNET_IMAGE_CACHE"] == "on"
