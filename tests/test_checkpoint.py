"""Checkpoints and resume: bit-exact continuation, Ctrl-C on a real training process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli
from glassnet import load_model
from glassnet.errors import (
    ConfigError,
    GlassnetWarning,
    ModelFormatError,
    SaveError,
    TrainingInterruptedError,
    WeightMismatchError,
)
from glassnet.io.checkpoint import StopRequest, read_checkpoint, restore_training_state, save_checkpoint
from glassnet.io.checkpoint_file import CHECKPOINT_NAME, layer_generators
from glassnet.runs import RunConfig, resume_run, train_run
from glassnet.training.callbacks import Callback
from glassnet.training.model_checkpoint import ModelCheckpoint

# Batch norm (running statistics), dropout (its own generator), Adam (slots and step count),
# a per-batch schedule, augmentation (the training stream) and a validation split: every
# piece of state a resume must restore.
CONFIG = dict(dataset="cats", model="mlp", hidden=[8, 4], epochs=10, batch_size=32, lr=0.003,
              optimizer="adam", validation_split=0.2, seed=5, dtype="float64", lr_schedule="cosine",
              augment="flip,crop", extra={"model_options": {"batchnorm": True, "dropout": 0.2}})


class StopAt(Callback):
    """Stops training like a user would: cleanly after an epoch, or by Ctrl-C mid-epoch."""

    def __init__(self, epoch: int, batch: int | None, stop: StopRequest) -> None:
        self.stop_epoch, self.stop_batch, self.stop = epoch, batch, stop

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        if self.epoch == self.stop_epoch and batch == self.stop_batch:
            self.stop.request()

    def on_epoch_end(self, epoch, logs):
        if epoch == self.stop_epoch and self.stop_batch is None:
            self.stop.request()


@pytest.fixture(scope="module")
def straight(cats, tmp_path_factory):
    """10 epochs in one go (float64)."""
    out = tmp_path_factory.mktemp("straight")
    return train_run(RunConfig(**CONFIG, out=str(out)), verbose=0, data=cats)


@pytest.mark.parametrize("stop_epoch,stop_batch,message", [
    (3, None, "after epoch 4"), (4, 2, "during epoch 5 after batch 3"),
    (3, 5, "after epoch 4")],  # in the epoch's last batch (6 of 32 for 168 images): it is kept
    ids=["stop-after-epoch-4", "stop-in-epoch-5", "stop-in-the-last-batch-of-epoch-4"])
def test_resume_gives_the_same_weights_and_history_to_the_last_bit(straight, cats, tmp_path, stop_epoch,
                                                                   stop_batch, message):
    stop = StopRequest()
    config = RunConfig(**CONFIG, out=str(tmp_path))
    with pytest.raises(TrainingInterruptedError, match=message) as info:
        train_run(config, callbacks=[StopAt(stop_epoch, stop_batch, stop)], verbose=0, data=cats, stop=stop)
    assert info.value.epochs_done == 4
    saved = read_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert saved.epochs_done == 4 and saved.state["seconds"] > 0
    resumed = resume_run(tmp_path, verbose=0, data=cats)
    assert resumed.metrics["seconds"] > saved.state["seconds"]  # time of both sessions
    assert len(resumed.history) == 10
    assert resumed.history.to_dict() == straight.history.to_dict()
    expected, got = straight.model.get_weights(), resumed.model.get_weights()
    assert expected.keys() == got.keys()
    for key in expected:
        assert got[key].dtype == np.float64
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    a, b = straight.model.optimizer.state_dict(), resumed.model.optimizer.state_dict()
    assert a["steps"] == b["steps"]
    for key in a["arrays"]:
        np.testing.assert_array_equal(a["arrays"][key], b["arrays"][key])
    assert resumed.metrics["test"] == straight.metrics["test"]


def test_full_batch_stop_finishes_the_epoch_and_resumes_exactly(cats, tmp_path):
    """One batch per epoch: a stop request during the batch is honoured at the epoch's end."""
    config = {**CONFIG, "batch_size": None, "epochs": 6, "lr_schedule": None, "optimizer": "sgd",
              "momentum": 0.9, "lr": 0.01}
    straight = train_run(RunConfig(**config, out=str(tmp_path / "a")), verbose=0, data=cats)
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError, match="after epoch 3;") as info:
        train_run(RunConfig(**config, out=str(tmp_path / "b")), callbacks=[StopAt(2, 0, stop)],
                  verbose=0, data=cats, stop=stop)
    assert info.value.epochs_done == 3
    resumed = resume_run(tmp_path / "b", verbose=0, data=cats)
    assert resumed.history.to_dict() == straight.history.to_dict()
    for key, value in straight.model.get_weights().items():
        np.testing.assert_array_equal(resumed.model.get_weights()[key], value, err_msg=key)


def test_a_new_run_in_an_old_runs_folder_never_leaves_a_mix_of_both(cats, tmp_path):
    config = {**CONFIG, "epochs": 2, "extra": {}, "augment": None}
    train_run(RunConfig(**config, out=str(tmp_path)), verbose=0, data=cats)
    assert {"model.glassnet", "metrics.json", "report.html"} <= {p.name for p in tmp_path.iterdir()}
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**{**config, "lr": 0.01}, out=str(tmp_path)), callbacks=[StopAt(0, None, stop)],
                  verbose=0, data=cats, stop=stop)
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # the new run's, alone
    assert read_checkpoint(tmp_path / CHECKPOINT_NAME).run_config["lr"] == 0.01


@contextlib.contextmanager
def held_by_another_process(out: Path):
    """``out`` held by ``run_folders.training_into`` in another process (as a run training into it)
    for the duration of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from glassnet.run_folders import training_into\n"
         "with training_into(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_a_run_folder_another_process_trains_into_is_refused(tmp_path):
    """Two `train --out X` started together both exited 0 and one run's files were lost; an
    --overwrite or --resume of a run still going deleted or mixed its files."""
    from glassnet.run_folders import training_into

    out = tmp_path / "busy"
    with held_by_another_process(out):
        for extra in ([], ["--overwrite"]):
            result = run_cli("train", "--hidden", "3", "--epochs", "1", "--quiet", "--out", str(out), *extra)
            assert result.returncode == 1, result.stderr
            assert (f"glassnet train: error: {out} is being trained into by another glassnet run "
                    "right now (or its report is being written); wait for it to end, or train into "
                    "another folder") in result.stderr
        with pytest.raises(ConfigError, match="is being trained into by another glassnet run"), \
                training_into(out):
            pass
    with training_into(out), training_into(out):  # free again; one process may nest its holds
        pass


def test_report_refuses_a_run_folder_being_trained_into(tmp_path):
    """`report` took no lock: started before a `train --overwrite` of the folder, it wrote the
    old run's report beside the new run's checkpoint; on a run still training it said the
    training was interrupted and to --resume it, which was then refused."""
    out = tmp_path / "busy"
    (out / CHECKPOINT_NAME).parent.mkdir()
    (out / CHECKPOINT_NAME).write_bytes(b"a run's checkpoint, being written")
    with held_by_another_process(out):
        result = run_cli("report", str(out))
    assert result.returncode == 1, result.stderr
    assert result.stderr == (f"glassnet report: error: {out} is being trained into by another "
                             "glassnet run right now (or its report is being written); wait for it "
                             "to end (a run writes its report when it finishes)\n")
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT_NAME]


def test_a_run_cannot_start_into_a_folder_whose_report_is_being_written(straight, tmp_path, monkeypatch):
    """The other way round: a train (--overwrite) into the folder while report reads its files."""
    import threading

    from glassnet.report import run_report
    from glassnet.run_folders import training_into

    shutil.copytree(straight.out_dir, tmp_path / "run")
    refused = []

    def train_meanwhile(*args):
        def train():
            try:
                with training_into(tmp_path / "run"):
                    pass
            except ConfigError as exc:
                refused.append(str(exc))

        other = threading.Thread(target=train)
        other.start()
        other.join()
        return "<html></html>"

    monkeypatch.setattr(run_report, "run_report_html", train_meanwhile)
    run_report.write_run_report(tmp_path / "run")
    assert refused == [f"{tmp_path / 'run'} is being trained into by another glassnet run right now "
                       "(or its report is being written); wait for it to end, or train into another "
                       "folder"]


def test_the_same_run_folder_is_refused_to_another_thread(tmp_path):
    """Only processes were told apart: a second thread was let in, then failed with KeyError."""
    import threading

    from glassnet.run_folders import training_into

    entered, release, errors = threading.Event(), threading.Event(), []

    def hold():
        with training_into(tmp_path / "run"):
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(30)
        with pytest.raises(ConfigError, match="is being trained into by another glassnet run"), \
                training_into(tmp_path / "run"):
            pass
    except BaseException as exc:  # noqa: BLE001 - reported below, after the thread ends
        errors.append(exc)
    finally:
        release.set()
        holder.join()
    assert not errors, errors
    with training_into(tmp_path / "run"):  # free once the thread let go
        pass


@pytest.mark.parametrize("out", [["--out", "deep/er/run"], []], ids=["--out", "default"])
def test_a_run_that_fails_before_writing_leaves_no_empty_folder(tmp_path, out):
    """Not its folder, nor the parents made for it (runs/, deep/er/)."""
    result = run_cli("train", "--dataset", "cifar10", "--model", "mlp", "--epochs", "1", *out, cwd=tmp_path,
                     env={"GLASSNET_DATA": str(tmp_path / "no-data"),
                          "GLASSNET_CIFAR10_URL": "http://127.0.0.1:9/x"})
    assert result.returncode == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no-data"]


@pytest.mark.parametrize("claim", [False, True], ids=["--out", "default"])
def test_a_run_folder_that_cannot_be_made_leaves_no_parent_folders(tmp_path, monkeypatch, claim):
    """The parents made for it stayed (sub/a/b/ for --out sub/a/b/<480 bytes>, an empty runs/)."""
    from glassnet.run_folders import training_into

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SaveError, match="could not create the folder .*: File name too long"), \
            training_into(Path("runs" if claim else "sub/a/b") / ("d" * 480), claim=claim):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_default_run_folder_cuts_a_long_data_name(tmp_path, monkeypatch):
    """An image folder with a 240-byte name gave runs/ddd...-mlp-<time>, too long to be made
    (and runs/ddd...-mlp-search-<time> for a search)."""
    from glassnet.run_folders import default_folder_name, default_out_dir, training_into

    monkeypatch.chdir(tmp_path)
    (tmp_path / ("é" * 120)).mkdir()  # 240 bytes: cut on a character, not inside one
    base = default_out_dir(RunConfig(dataset=str(tmp_path / ("é" * 120)), model="cnn-small"))
    assert base.name.startswith("é" * 60 + "-cnn-small-") and len(os.fsencode(base.name)) < 160
    with training_into(base, claim=True) as first, training_into(base, claim=True) as second:
        assert first.is_dir() and second == base.with_name(base.name + "-2")
    search = default_folder_name(str(tmp_path / ("é" * 120)), "cnn-small", "search")
    assert search.startswith("é" * 60 + "-cnn-small-search-") and len(os.fsencode(search)) < 170


def test_default_run_folders_started_in_the_same_second_differ(tmp_path, monkeypatch):
    """Both runs took the folder of that second: one was refused (or lost its files)."""
    from glassnet.run_folders import default_out_dir, training_into

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("time.strftime", lambda fmt: "20261206-212302")
    base = default_out_dir(RunConfig(dataset="cats", model="mlp"))
    assert base == Path("runs/cats-mlp-20261206-212302")
    with training_into(base, claim=True) as first, training_into(base, claim=True) as second:
        assert (first, second) == (base, Path("runs/cats-mlp-20261206-212302-2"))
        assert first.is_dir() and second.is_dir()


def test_an_augmentation_the_images_cannot_take_is_refused_before_an_old_run_is_removed(tmp_path):
    """--augment crop on 4x4 images failed in the first batch, after --overwrite had removed
    the earlier run's files, and without naming --augment."""
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(3):
            image = Image.new("RGB", (4, 4), (60 * i, 90 if name == "a" else 0, 0))
            image.save(tmp_path / "photos" / name / f"{i}.png")
    out, env = tmp_path / "run", {"GLASSNET_DATA": str(tmp_path / "data")}
    common = ["train", "--dataset", str(tmp_path / "photos"), "--image-size", "4", "--hidden", "2",
              "--epochs", "1", "--quiet", "--out", str(out)]
    assert run_cli(*common, env=env).returncode == 0
    before = sorted(p.name for p in out.iterdir())
    result = run_cli(*common, "--augment", "flip,crop", "--overwrite", env=env)
    assert result.returncode == 1
    assert ("--augment flip,crop: reflect padding 4 needs images larger than 4 pixels, got 4x4 (the "
            "images are 4x4: a larger --image-size, or leave that augmentation out)") in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before  # the earlier run is still whole


def test_a_tilde_in_a_path_option_is_the_home_folder(tmp_path, monkeypatch):
    """`--out=~/runs/x` (the shell leaves that ~ alone) made a folder named ~ in the current one."""
    from glassnet.cli.arguments import path_text

    monkeypatch.setenv("HOME", str(tmp_path))
    assert path_text("~/runs/x") == str(tmp_path / "runs" / "x")
    assert path_text("cats") == "cats"


def test_cli_train_refuses_a_folder_holding_a_run_unless_overwrite(tmp_path):
    args = ["train", "--hidden", "3", "--epochs", "1", "--quiet", "--out", str(tmp_path)]
    assert run_cli(*args).returncode == 0
    again = run_cli(*args, "--lr", "0.02")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert f"--out {tmp_path} already holds a run (run.json, history.json" in again.stderr
    assert "add --overwrite to replace it" in again.stderr
    replaced = run_cli(*args, "--lr", "0.02", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert '"lr": 0.02' in (tmp_path / "run.json").read_text()


@pytest.mark.parametrize("files,hint", [
    ((CHECKPOINT_NAME, "model.glassnet", "history.json"), "continue it with --resume {out},"),
    ((CHECKPOINT_NAME, "model.glassnet", "run.json"),
     "add --overwrite to replace it; it has no report.html: glassnet report {out} writes it"),
], ids=["killed-writing-its-files", "killed-writing-its-report"])
def test_a_folder_refused_to_a_new_run_says_how_to_finish_the_run_in_it(tmp_path, files, hint):
    """A run killed after its model file (no run.json) was one --resume finishes, and one
    killed while writing report.html one that `glassnet report` finishes: neither was said."""
    from glassnet.cli.train import check_new_run_folder

    for name in files:
        (tmp_path / name).write_bytes(b"")
    with pytest.raises(ConfigError) as refused:
        check_new_run_folder(tmp_path, overwrite=False)
    assert hint.format(out=tmp_path) in str(refused.value)
    # a finished run (its run.json written) has nothing to resume: only its report is missing
    assert ("--resume" in str(refused.value)) is ("run.json" not in files)


def test_a_run_made_without_a_report_is_not_told_its_report_is_missing(tmp_path):
    """A search's trials are written with ``extra["report"] = False``: no report.html is
    missing there, and the refusal must not suggest one was lost."""
    from glassnet.cli.train import check_new_run_folder

    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    (tmp_path / "run.json").write_text(json.dumps({"config": {"extra": {"report": False}}}))
    with pytest.raises(ConfigError) as refused:
        check_new_run_folder(tmp_path, overwrite=False)
    assert "add --overwrite to replace it" in str(refused.value)
    assert "report.html" not in str(refused.value)
    check_new_run_folder(tmp_path, overwrite=True)


def test_a_new_run_removes_the_temporary_files_a_killed_run_left(tmp_path):
    """.checkpoint.glassnet.*.tmp of a run killed while checkpointing stayed for ever: the
    stale-file cleanup waits an hour, and only runs when that file is written again."""
    from glassnet.run_folders import clear_run_files

    for name in (f".{CHECKPOINT_NAME}.a1b2c3d4.tmp", ".run.json.e5f6g7h8.tmp", ".notes.txt.x.tmp",
                 CHECKPOINT_NAME):
        (tmp_path / name).write_bytes(b"x")
    clear_run_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [".notes.txt.x.tmp"]  # not a run's file


@pytest.mark.parametrize("fails", [2, 1], ids=["second-checkpoint", "first-checkpoint"])
def test_a_checkpoint_that_cannot_be_written_says_how_to_resume(tmp_path, monkeypatch, capsys, fails):
    """A full disk gave the error but not Ctrl-C's `resume with:` line, though the checkpoint
    written before was intact; with none written before there is nothing to resume."""
    from glassnet.cli import main
    from glassnet.io import checkpoint as checkpoint_mod

    writes, write = [], checkpoint_mod.write_archive

    def disk_full(path, *args):
        writes.append(path)
        if len(writes) == fails:
            raise SaveError(f"could not write {path}: No space left on device; the previous file "
                            "(if any) is unchanged")
        write(path, *args)

    monkeypatch.setattr(checkpoint_mod, "write_archive", disk_full)
    out = tmp_path / "run"
    code = main(["train", "--hidden", "3", "--epochs", "2", "--quiet", "--threads", "1",
                 "--out", str(out)])
    assert code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"glassnet train: error: could not write {out / CHECKPOINT_NAME}: No space "
                        "left on device; the previous file (if any) is unchanged")
    assert lines[1:] == ([f"resume with: glassnet train --resume {out} --threads 1"] if fails == 2 else [])


@pytest.mark.parametrize("left", [(CHECKPOINT_NAME,), (CHECKPOINT_NAME, "run.json")],
                         ids=["unfinished", "without-its-report"])
def test_a_write_failing_before_training_says_nothing_of_the_run_it_replaces(tmp_path, monkeypatch,
                                                                            capsys, left):
    """--overwrite of a folder whose old run could be resumed (or its report written): a full
    disk before the new run began training is no reason to go on with the old run."""
    from glassnet import runs
    from glassnet.cli import main

    for name in left:
        (tmp_path / name).write_bytes(b"")

    def disk_full(*args, **kwargs):
        raise SaveError("could not write the image cache: No space left on device")

    monkeypatch.setattr(runs, "load_data", disk_full)
    assert main(["train", "--hidden", "3", "--epochs", "1", "--quiet", "--overwrite", "--out",
                 str(tmp_path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "glassnet train: error: could not write the image cache: No space left on device"]


@pytest.mark.parametrize("aborted", ["write_run", "report"])
def test_a_ctrl_c_while_the_files_are_written_says_how_to_go_on(tmp_path, monkeypatch, capsys, aborted):
    """A second Ctrl-C once training is over aborts writing the run's files; the checkpoint
    (or the model and run record) written before are intact, and the lines say what to run."""
    from glassnet import runs
    from glassnet.cli import main
    from glassnet.report import run_report

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    if aborted == "write_run":
        monkeypatch.setattr(runs, "write_run", ctrl_c)
    else:
        monkeypatch.setattr(run_report, "write_run_report", ctrl_c)
    out = tmp_path / "run"
    code = main(["train", "--hidden", "3", "--epochs", "2", "--quiet", "--threads", "1",
                 "--out", str(out)])
    assert code == 130
    go_on = (f"resume with: glassnet train --resume {out} --threads 1" if aborted == "write_run"
             else f"write its report with: glassnet report {out}")
    assert capsys.readouterr().err.splitlines() == ["glassnet train: interrupted", go_on]


def test_after_a_failed_write_the_run_folder_says_what_is_left_to_do(tmp_path):
    """Resume an unfinished run, write the report of a finished one; nothing for a run that
    has its report."""
    from argparse import Namespace

    from glassnet.cli.train import how_to_go_on

    args = Namespace(threads=None, device=None)
    assert how_to_go_on(args, None) is None and how_to_go_on(args, tmp_path) is None
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"")
    assert how_to_go_on(args, tmp_path) == f"resume with: glassnet train --resume {tmp_path}"
    (tmp_path / "run.json").write_text("{}")
    assert how_to_go_on(args, tmp_path) == f"write its report with: glassnet report {tmp_path}"
    (tmp_path / "report.html").write_text("")
    assert how_to_go_on(args, tmp_path) is None


def test_resume_keeps_early_stopping_state(cats, tmp_path):
    """Patience counter, best value and best weights survive: the resumed run stops where the
    straight one did (epoch 4, best epoch 2) and ends with the same restored weights."""
    config = {**CONFIG, "lr": 0.0003, "augment": None, "extra": {**CONFIG["extra"], "early_stopping": 2}}
    straight = train_run(RunConfig(**config, out=str(tmp_path / "a")), verbose=0, data=cats)
    # stopped early, after the epoch the other run is interrupted at: the test needs that
    assert len(straight.history) == 4 and straight.early_stopping.best_epoch == 1
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "b")), callbacks=[StopAt(2, None, stop)],
                  verbose=0, data=cats, stop=stop)
    resumed = resume_run(tmp_path / "b", verbose=0, data=cats)
    assert resumed.history.to_dict() == straight.history.to_dict()
    for key, value in straight.model.get_weights().items():
        np.testing.assert_array_equal(resumed.model.get_weights()[key], value, err_msg=key)
    with pytest.raises(ConfigError, match="stopped early"):
        resume_run(tmp_path / "b", verbose=0, data=cats)
    # Its training over but its files never written (a second Ctrl-C while it evaluated):
    # --resume writes them, with the best epoch's weights put back as the straight run did.
    _only_the_checkpoint(tmp_path / "a", tmp_path / "c")
    with pytest.warns(GlassnetWarning, match="holds the run's whole training .4 epochs.; only its "
                                             "files were left to write"):
        finished = resume_run(tmp_path / "c", verbose=0, data=cats)
    _same_run(finished, straight)


@pytest.mark.parametrize("patience", [1, 2], ids=["after-a-reduction", "with-the-count-at-1"])
def test_resume_keeps_the_lr_reductions_state(cats, tmp_path, patience):
    """--reduce-lr: the reduced lr, best value, count and reductions survive a Ctrl-C after
    epoch 5, so the resumed run reduces where the straight one did (patience 1: after epochs
    3, 4, 5, 6 and 10, three before the stop; patience 2: after epochs 4 and 6, the count at 1
    at the stop)."""
    config = {**CONFIG, "lr": 0.03, "lr_schedule": None, "augment": None,
              "extra": {**CONFIG["extra"], "reduce_lr": patience, "reduce_lr_factor": 0.5}}
    straight = train_run(RunConfig(**config, out=str(tmp_path / "a")), verbose=0, data=cats)
    assert [e for e, _, _ in straight.reduce_lr.reductions] == ([2, 3, 4, 5, 9] if patience == 1 else [3, 5])
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "b")), callbacks=[StopAt(4, None, stop)],
                  verbose=0, data=cats, stop=stop)
    resumed = resume_run(tmp_path / "b", verbose=0, data=cats)
    _same_run(resumed, straight)
    assert resumed.reduce_lr.reductions == straight.reduce_lr.reductions
    assert resumed.metrics["lr_reduced_after"] == straight.metrics["lr_reduced_after"]
    assert resumed.metrics["final_lr"] == straight.metrics["final_lr"] == straight.model.optimizer.lr
    # its training over but its files never written: --resume writes what the straight run did
    _only_the_checkpoint(tmp_path / "a", tmp_path / "c")
    with pytest.warns(GlassnetWarning, match="only its files were left to write"):
        finished = resume_run(tmp_path / "c", verbose=0, data=cats)
    assert finished.metrics["lr_reduced_after"] == straight.metrics["lr_reduced_after"]
    assert finished.model.training_summary["reduce_lr"] == straight.model.training_summary["reduce_lr"]


def _only_the_checkpoint(run, copy) -> None:
    copy.mkdir()
    shutil.copy(run / CHECKPOINT_NAME, copy / CHECKPOINT_NAME)


def _same_run(finished, straight) -> None:
    assert finished.history.to_dict() == straight.history.to_dict()
    for key, value in straight.model.get_weights().items():
        np.testing.assert_array_equal(finished.model.get_weights()[key], value, err_msg=key)
    assert {k: v for k, v in finished.metrics.items() if k != "seconds"} == \
        {k: v for k, v in straight.metrics.items() if k != "seconds"}
    for name in ("model.glassnet", "run.json", "metrics.json", "history.json", "report.html"):
        assert (finished.out_dir / name).is_file(), name


@pytest.mark.parametrize("written", [(), ("model.glassnet",),
                                     ("model.glassnet", "history.json", "metrics.json")],
                         ids=["checkpoint", "model", "all-but-run.json"])
def test_a_run_whose_files_were_never_written_is_finished_by_resume(straight, cats, tmp_path, written):
    """A crash after the model file but before run.json left a folder that report called
    interrupted and resume called complete: run.json, written last, is what marks it done."""
    _only_the_checkpoint(straight.out_dir, tmp_path / "run")
    for name in written:
        shutil.copy(straight.out_dir / name, tmp_path / "run" / name)
    # what the kill left of the file being written: the resume, which holds the folder, removes it
    (tmp_path / "run" / f".{written[-1] if written else CHECKPOINT_NAME}.k1ll3d.tmp").write_bytes(b"x")
    with pytest.warns(GlassnetWarning, match="whole training .10 epochs."):
        finished = resume_run(tmp_path / "run", verbose=0, data=cats)
    _same_run(finished, straight)
    assert not list((tmp_path / "run").glob(".*.tmp"))
    with pytest.raises(ConfigError, match="already completed its 10 epochs; nothing to resume$"):
        resume_run(tmp_path / "run", verbose=0, data=cats)  # now it is done
    # killed while its report was written: the report is what is left to do, and says how
    (tmp_path / "run" / "report.html").unlink()
    with pytest.raises(ConfigError, match="already completed its 10 epochs; nothing to resume; it has no "
                                          "report.html: glassnet report .*run writes it$"):
        resume_run(tmp_path / "run", verbose=0, data=cats)


def test_a_run_that_diverged_checkpoints_the_kept_weights_and_is_not_resumed(cats, tmp_path):
    """Full-batch training without validation checks its weights only after the last epoch
    but was checkpointed every epoch: the checkpoint held diverged weights, and --resume went
    on from them and replaced the run's good model with one whose loss is NaN."""
    out = tmp_path / "run"
    config = RunConfig(dataset="cats", model="mlp", hidden=[8], epochs=6, batch_size=None, lr=1e38,
                       seed=1, out=str(out))
    with np.errstate(all="ignore"):
        result = train_run(config, verbose=0, data=cats)
    assert result.error is not None and result.error.kept_epoch == 0
    checkpoint = read_checkpoint(out / CHECKPOINT_NAME)
    assert checkpoint.epochs_done == 0 and checkpoint.state["non_finite"] == str(result.error)
    for key, value in result.model.get_weights().items():
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(checkpoint.arrays[key], value)
    model_file = (out / "model.glassnet").read_bytes()
    with pytest.raises(ConfigError, match=r"the run ended because the loss became nan at epoch 2, "
                                          r"batch 1; .* start a new run instead \(with a smaller --lr"):
        resume_run(out, verbose=0, data=cats)
    assert (out / "model.glassnet").read_bytes() == model_file
    _only_the_checkpoint(out, tmp_path / "copy")  # its files never written: resume writes them
    with pytest.warns(GlassnetWarning, match="the end of the run's training, which stopped because "
                                             "the loss became nan"):
        finished = resume_run(tmp_path / "copy", verbose=0, data=cats)
    assert finished.metrics["epochs"] == 0 and (tmp_path / "copy" / "run.json").is_file()
    assert finished.metrics["stopped"] == str(result.error) and finished.error.kept_epoch == 0


class ValLossScript(Callback):
    """Puts chosen numbers in val_loss, for the EarlyStopping after it."""

    def __init__(self, values) -> None:
        self.values = values

    def on_epoch_end(self, epoch, logs):
        logs["val_loss"] = self.values[epoch]


def test_finishing_the_files_of_a_diverged_run_names_the_weights_early_stopping_put_back(cats, tmp_path):
    """The error made up for such a run named the weights the NaN guard kept, not the best
    epoch's that EarlyStopping had put back (the model held those)."""
    out = tmp_path / "run"
    config = RunConfig(dataset="cats", model="mlp", hidden=[8], epochs=8, batch_size=32, seed=1, lr=0.01,
                       validation_split=0.2, extra={"early_stopping": 5}, out=str(out))
    script = ValLossScript([1.0, 0.5, 0.9, 0.95, 0.97, 0.99, 1.0, 1.0])
    with np.errstate(all="ignore"):
        first = train_run(config, [script, BlowUpAfter(4)], verbose=0, data=cats)
    assert first.error.kept_epoch == 2 and first.early_stopping.restored_epoch == 1
    (out / "run.json").unlink()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", GlassnetWarning)
        finished = resume_run(out, verbose=0, data=cats)
    assert (str(finished.error), finished.error.kept_epoch) == (str(first.error), 2)
    assert finished.metrics["stopped"] == first.metrics["stopped"]
    for key, value in first.model.get_weights().items():
        np.testing.assert_array_equal(finished.model.get_weights()[key], value)


class BlowUpAfter(Callback):
    """A learning rate that makes the next update diverge, after epoch ``epoch`` (1-based;
    0: from the first update on)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_begin(self, logs):
        if self.epoch == 0:
            self.model.optimizer.lr = 1e30

    def on_epoch_end(self, epoch, logs):
        if epoch + 1 == self.epoch:
            self.model.optimizer.lr = 1e30


def test_finishing_a_diverged_or_early_stopped_runs_files_keeps_how_it_ended(cats, tmp_path):
    """Writing the files of a run whose training was over rewrote its checkpoint as if
    training had simply paused: the next --resume trained again (and diverged again, or went
    on past its early stop); with the loss non-finite in the first epoch and early stopping,
    it failed on EarlyStopping attributes no fit had set."""
    base = dict(dataset="cats", model="mlp", hidden=[8], epochs=6, batch_size=32, seed=1,
                validation_split=0.2, extra={"early_stopping": 2})
    runs = {"diverged-late": dict(lr=0.01), "diverged-first": dict(lr=0.01),
            "stopped-early": dict(lr=0.03, epochs=30)}  # stops after epoch 6
    blow_up = {"diverged-late": [BlowUpAfter(2)], "diverged-first": [BlowUpAfter(0)], "stopped-early": []}
    for name, settings in runs.items():
        out = tmp_path / name
        with np.errstate(all="ignore"):
            first = train_run(RunConfig(**{**base, **settings}, out=str(out)), verbose=0, data=cats,
                              callbacks=blow_up[name])
        assert (first.error is not None) == name.startswith("diverged"), name
        assert first.error is None or (first.error.kept_epoch == 0) == (name == "diverged-first")
        assert (first.early_stopping.stopped_epoch is not None) == (name == "stopped-early")
        ended = read_checkpoint(out / CHECKPOINT_NAME).state
        (out / "run.json").unlink()  # as if it crashed before run.json
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", GlassnetWarning)
            resume_run(out, verbose=0, data=cats)
        now = read_checkpoint(out / CHECKPOINT_NAME).state
        assert (now["non_finite"], now["stopped_early"]) == (ended["non_finite"], ended["stopped_early"])
        assert now["sessions"] == ended["sessions"]
        with pytest.raises(ConfigError, match="ended because|stopped early"):
            resume_run(out, verbose=0, data=cats)


def test_a_checkpointer_keeps_the_last_epoch_of_a_full_batch_fit(tmp_path):
    """Without the run's epochs given, it never captured a full-batch fit's last epoch: the
    checkpoint (which also loads as a model) was up to 20 epochs old."""
    from glassnet.io.checkpoint import Checkpointer

    model, x, y = _small_model()
    model.fit(x, y, epochs=300, batch_size=None, verbose=0, callbacks=[Checkpointer(tmp_path / "c.glassnet")])
    assert read_checkpoint(tmp_path / "c.glassnet").epochs_done == 300


def test_a_checkpointer_refuses_a_fit_whose_history_does_not_start_at_its_first_epoch(tmp_path):
    """A fresh model fitted from initial_epoch=5 wrote "3 completed epochs" after epoch 8,
    and a resume repeated epochs 5-7."""
    from glassnet.io.checkpoint import Checkpointer

    model, x, y = _small_model()
    with pytest.raises(ConfigError, match=r"a Checkpointer needs the run's history from its first "
                                          r"epoch, but this fit starts at epoch 6 \(initial_epoch=5\) "
                                          "with 0 epochs of history"):
        model.fit(x, y, epochs=10, initial_epoch=5, batch_size=10, verbose=0,
                  callbacks=[Checkpointer(tmp_path / "c.glassnet")])


def test_a_checkpointer_listed_first_keeps_early_stoppings_state_of_the_same_epoch(tmp_path):
    """It ran before EarlyStopping, so it saved EarlyStopping's state of the epoch before."""
    from glassnet.io.checkpoint import Checkpointer
    from glassnet.training import EarlyStopping

    model, x, y = _small_model()
    stop = EarlyStopping("loss", patience=100)
    model.fit(x, y, epochs=4, batch_size=10, verbose=0,
              callbacks=[Checkpointer(tmp_path / "c.glassnet", overhead=0, callbacks=[stop]), stop])
    saved = read_checkpoint(tmp_path / "c.glassnet").state["callbacks"]
    assert [values["last_epoch"] for values in saved.values()] == [3]


def test_a_fit_a_callback_stops_is_checkpointed_at_its_last_epoch_however_seldom_it_writes(tmp_path):
    """Full-batch epochs are snapshotted only when a write is due; the epoch at which a
    callback stops the fit must be captured all the same, as stopped early."""
    from glassnet.io.checkpoint import Checkpointer

    class StopAfterThirdEpoch(Callback):
        def on_epoch_end(self, epoch, logs):
            self.model.stop_training = epoch == 2

    model, x, y = _small_model()
    model.fit(x, y, epochs=10, batch_size=20, verbose=0,  # one batch per epoch
              callbacks=[StopAfterThirdEpoch(), Checkpointer(tmp_path / "c.glassnet", overhead=1e9)])
    state = read_checkpoint(tmp_path / "c.glassnet").state
    assert (state["epochs_done"], state["stopped_early"]) == (3, True)


def _small_model():
    import glassnet as gn

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 5)), rng.integers(0, 2, 20)
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(5,), seed=0, dtype="float64")
    model.compile("binary_crossentropy", gn.optimizers.SGD(lr=0.1))
    return model, x, y


def test_checkpoint_restores_every_generator(straight, tmp_path):
    model = straight.model
    generators = layer_generators(model)
    dropouts = [i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Dropout"]
    assert set(generators) == {f"{i}.rng" for i in dropouts} and len(dropouts) == 2
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(model, path)
    streams = {"train_rng": model.train_rng, **generators}
    expected = {name: g.random(3) for name, g in streams.items()}
    for g in streams.values():
        g.random(100)
    restore_training_state(model, read_checkpoint(path))
    for name, g in streams.items():
        np.testing.assert_array_equal(g.random(3), expected[name], err_msg=name)
    model.layers[0].noise = np.random.default_rng(1)  # a generator the checkpoint does not know
    try:
        with pytest.raises(ModelFormatError,
                           match=r"generators \['4.rng', '8.rng'\] but the model has \['0.noise'"):
            restore_training_state(model, read_checkpoint(path))
    finally:
        del model.layers[0].noise


def test_generators_inside_nested_layers_are_found():
    from glassnet import Sequential, layers

    model = Sequential([layers.Dense(3, activation="relu")], input_shape=(4,))
    model.layers[0].activation.noise = np.random.default_rng(0)
    assert set(layer_generators(model)) == {"0.activation.noise"}


def test_checkpoint_is_a_loadable_model(straight):
    ckpt = straight.out_dir / CHECKPOINT_NAME
    model = load_model(ckpt)
    images = np.zeros((2, 3, 64, 64), np.uint8) + 100
    np.testing.assert_array_equal(model.predict(images), straight.model.predict(images))


def test_optimizer_state_of_the_wrong_shape_is_refused(straight, tmp_path):
    from test_io_format import npy_bytes, rewrite

    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(straight.model, path)
    rewrite(path, {"arrays/optimizer/1.W/m.npy": npy_bytes(np.zeros((3, 3)))})
    with pytest.raises(WeightMismatchError, match=r"'optimizer/1.W/m' has shape \(3, 3\)"):
        restore_training_state(straight.model, read_checkpoint(path))


def test_resume_errors(straight, tmp_path):
    with pytest.raises(ConfigError, match="has no checkpoint.glassnet"):
        resume_run(tmp_path)
    with pytest.raises(ConfigError, match="missing: no such run directory"):
        resume_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="has no checkpoint.glassnet"):
        resume_run(tmp_path / CHECKPOINT_NAME)  # named, but not there
    with pytest.raises(ConfigError, match="no run directory given"):
        resume_run("")  # an unset $RUN in a script: not the current directory
    with pytest.raises(ConfigError, match="model.glassnet is a file; give the run directory"):
        resume_run(straight.out_dir / "model.glassnet")
    with pytest.raises(ConfigError, match="model.glassnet: no such file; --resume takes the run "
                                          "directory that holds checkpoint.glassnet"):
        resume_run(tmp_path / "model.glassnet")  # an interrupted run has no model file yet
    with pytest.raises(ConfigError, match="already completed its 10 epochs"):
        resume_run(straight.out_dir / CHECKPOINT_NAME)  # the checkpoint itself names its run
    with pytest.raises(ConfigError, match="already completed its 10 epochs"):
        resume_run(straight.out_dir)
    straight.model.save(tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ModelFormatError, match="is a model file, not a training checkpoint"):
        resume_run(tmp_path)


def test_cli_resume_takes_no_other_training_option(tmp_path):
    result = run_cli("train", "--resume", str(tmp_path), "--lr", "0.5", "--epochs", "3")
    assert result.returncode == 1
    assert "drop --epochs, --lr" in result.stderr and result.stderr.count("\n") == 1
    # given with their default values they are still refused (abbreviated, --epo is unknown)
    result = run_cli("train", "--resume", str(tmp_path), "--seed", "0", "--epochs", "10",
                     "--quiet", "--threads", "1")
    assert result.returncode == 1
    assert "drop --epochs, --seed" in result.stderr and result.stderr.count("\n") == 1
    # folder options too, named as such (not as options of the default data set)
    result = run_cli("train", "--resume", str(tmp_path), "--resize", "crop", "--strict")
    assert result.returncode == 1 and "drop --resize, --strict" in result.stderr
    result = run_cli("train", "--resume", "")
    assert result.returncode == 2 and "argument --resume: expected a path, got an empty one" in result.stderr


def _start_training(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "glassnet", "train", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"training ended or stalled before the signal: {proc.communicate()}")
        time.sleep(0.05)


def test_ctrl_c_checkpoints_and_exits_130_then_resume_continues(tmp_path):
    out = tmp_path / "run"
    proc = _start_training("--dataset", "cats", "--model", "mlp", "--hidden", "7", "--epochs", "100000",
                           "--batch-size", "16", "--out", str(out), "--threads", "1")
    lines = []
    _wait_for(lambda: lines.append(proc.stderr.readline()) or "epoch 1/100000" in lines[-1], proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopping after the current batch" in stderr
    assert "\n\nglassnet train:" not in "".join(lines) + stderr  # no blank line in a log (a terminal's)
    # on the same threads: a plain --resume would run on all cores, round differently and warn
    assert f"resume with: glassnet train --resume {out} --threads 1\n" in stderr
    assert "Traceback" not in stderr
    first = read_checkpoint(out / CHECKPOINT_NAME)
    assert first.epochs_done >= 1 and first.run_config["epochs"] == 100000
    assert not (out / "model.glassnet").exists()  # nothing half-finished is written

    proc = _start_training("--resume", str(out))
    first_line = f"epoch {first.epochs_done + 1}/100000"  # the resumed run shows its first epoch
    _wait_for(lambda: lines.append(proc.stderr.readline()) or first_line in lines[-1], proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    second = read_checkpoint(out / CHECKPOINT_NAME)
    assert second.epochs_done > first.epochs_done
    history = second.state["history"]
    assert history["epoch"] == list(range(second.epochs_done))
    assert history["loss"][:first.epochs_done] == first.state["history"]["loss"]


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["checkpoint"].pop("rng"), "'rng' is missing or not an object; the file is damaged"),
    (lambda c: c["checkpoint"].update(epochs_done="10"), "'epochs_done' is missing or not an integer"),
    (lambda c: c["checkpoint"].update(epochs_done=7), "does not cover its 7 epochs"),
    (lambda c: c["checkpoint"]["history"]["loss"].pop(), "does not cover its 10 epochs"),
    (lambda c: c["checkpoint"]["history"].pop("epoch"), "does not cover its 10 epochs"),
    (lambda c: c["checkpoint"]["optimizer"].update(steps="many"), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["rng"].update(train_rng=[1, 2]), "generator states are damaged"),
    (lambda c: c["checkpoint"]["history"]["epoch"].__setitem__(0, "x"), "epochs that are not whole"),
    (lambda c: c["checkpoint"].update(seconds="long"), "training time is not a number"),
    (lambda c: c["checkpoint"].update(non_finite=1), "record of a non-finite loss is not text"),
    (lambda c: c["checkpoint"]["optimizer"]["config"].update(lr="fast"), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["optimizer"]["config"].update(lr=-1), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["optimizer"].update(base_lr=float("nan")), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["optimizer"].update(base_lr=-0.5), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["optimizer"]["config"].update(lr=float("inf")), "optimizer state is damaged"),
    (lambda c: c["checkpoint"].update(sessions={}), r"training sessions are damaged \(\{\} is not a list"),
    (lambda c: c["checkpoint"]["sessions"][0].update(from_epoch="x"),
     r"training sessions are damaged \(session 1 starts after no whole number of epochs"),
    (lambda c: c["checkpoint"]["sessions"][0].update(threads=0),
     r"training sessions are damaged \(session 1 has threads 0 and device 'cpu'\)"),
    (lambda c: c["checkpoint"]["sessions"].append({"from_epoch": 11, "threads": 1, "device": "cpu"}),
     r"start after epochs \[0, 11\], which is beyond its 10 epochs"),
    (lambda c: c["checkpoint"]["sessions"].extend([{"from_epoch": 5}, {"from_epoch": 3}]),
     r"start after epochs \[0, 5, 3\], which go back"),
])
def test_damaged_checkpoint_state_is_refused(straight, tmp_path, edit, message):
    from test_io_format import edit_config

    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(straight.model, path)
    edit_config(path, edit)
    with pytest.raises(ModelFormatError, match=message):
        read_checkpoint(path)


def test_a_generator_state_of_the_wrong_kind_is_refused(straight, tmp_path):
    from test_io_format import edit_config

    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(straight.model, path)
    edit_config(path, lambda c: c["checkpoint"]["rng"]["train_rng"].update(bit_generator="MT19937"))
    before = straight.model.get_weights()
    straight.model.set_weights({k: v + 1 for k, v in before.items()})
    changed = straight.model.get_weights()
    try:
        with pytest.raises(ModelFormatError, match="saved state of model.train_rng is invalid"):
            restore_training_state(straight.model, read_checkpoint(path))
        for key, value in straight.model.get_weights().items():  # nothing was half-restored
            np.testing.assert_array_equal(value, changed[key])
    finally:
        straight.model.set_weights(before)


def test_a_model_built_differently_is_refused(straight, tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(straight.model, path)
    model = straight.model
    before = model.preprocessing
    model.set_preprocessing(scale=1 / 255, mean=[0.5, 0.5, 0.5], std=[0.2, 0.2, 0.2])
    try:
        with pytest.raises(ModelFormatError, match=r"differs from the checkpointed one in .'preprocessing'."):
            restore_training_state(model, read_checkpoint(path))
    finally:
        model.set_preprocessing(**before)


def test_a_python_resume_with_a_validation_split_continues_exactly(cats, tmp_path):
    """fit's validation split is drawn from the model's seed, not from its training stream
    (which a restore advances): the resumed run holds out the same images and ends equal."""
    from glassnet import Sequential, layers

    x, y = cats["train"].x, cats["train"].y

    def build():
        model = Sequential([layers.Flatten(), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                            layers.Dense(1)], input_shape=(3, 64, 64), seed=3, dtype="float64",
                           preprocessing={"scale": 1 / 255})
        model.compile("binary_crossentropy", "adam")
        return model

    straight = build()
    straight.fit(x, y, epochs=4, batch_size=32, validation_split=0.2, verbose=0)
    first = build()
    first.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
    save_checkpoint(first, tmp_path / CHECKPOINT_NAME)
    resumed = build()
    done = restore_training_state(resumed, read_checkpoint(tmp_path / CHECKPOINT_NAME))
    resumed.fit(x, y, epochs=4, initial_epoch=done, batch_size=32, validation_split=0.2, verbose=0)
    assert resumed.history.history["val_loss"] == straight.history.history["val_loss"]
    for key, value in straight.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[key], value, err_msg=key)


def test_a_stop_at_an_epochs_end_still_prints_that_epochs_progress_line(cats, tmp_path, capsys):
    config = {**CONFIG, "batch_size": None, "epochs": 6, "lr_schedule": None, "augment": None}
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError, match="after epoch 3;") as info:
        train_run(RunConfig(**config, out=str(tmp_path)), callbacks=[StopAt(2, 0, stop)],
                  verbose=2, data=cats, stop=stop)
    assert (info.value.epoch, info.value.batch, info.value.epochs_done) == (3, 0, 3)
    printed = capsys.readouterr().err  # progress goes to stderr
    assert "epoch 3/6 - " in printed and "epoch 4/6" not in printed


class Phases(Callback):
    """Records ``stop.phase`` at the end of every batch."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop, self.seen = stop, []

    def on_batch_end(self, batch, logs):
        self.seen.append(self.stop.phase)


def test_a_stop_during_the_last_full_batch_epoch_lets_the_run_finish(cats, tmp_path):
    config = {**CONFIG, "batch_size": None, "epochs": 3, "lr_schedule": None, "augment": None}
    stop = StopRequest()
    phases = Phases(stop)
    result = train_run(RunConfig(**config, out=str(tmp_path)), callbacks=[StopAt(2, 0, stop), phases],
                       verbose=0, data=cats, stop=stop)
    assert len(result.history) == 3 and stop.phase == "finishing"
    assert phases.seen == ["training", "training", "last epoch"]  # what the Ctrl-C message says
    assert (tmp_path / "model.glassnet").is_file() and (tmp_path / "report.html").is_file()


def test_a_stop_during_the_runs_last_batch_says_the_run_finishes_and_it_does(cats, tmp_path):
    """The message said "stopping after the current batch and saving a checkpoint", and the run
    then finished normally (an epoch's last batch completes it)."""
    config = {**CONFIG, "epochs": 2, "lr_schedule": None, "augment": None}  # 6 batches an epoch
    stop = StopRequest()
    phases = Phases(stop)
    result = train_run(RunConfig(**config, out=str(tmp_path)), callbacks=[StopAt(1, 5, stop), phases],
                       verbose=0, data=cats, stop=stop)
    assert len(result.history) == 2 and (tmp_path / "model.glassnet").is_file()
    # seen after each batch, before the Checkpointer's turn: the last batch ran in "last epoch"
    assert phases.seen == ["training"] * 11 + ["last epoch"]


@pytest.mark.parametrize("phase,says", [
    ("training", "stopping after the current batch and saving a checkpoint"),
    ("last epoch", "finishing the last epoch, then the model file and the report"),
    ("finishing", "training is over, finishing the model file and the report")])
def test_the_first_ctrl_c_says_what_happens_next_and_the_second_aborts(phase, says, capfd):
    import signal

    from glassnet.cli.train import stop_on_ctrl_c

    stop = StopRequest()
    stop.phase = phase
    with stop_on_ctrl_c(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        # (stderr is captured here, not a terminal: no blank line before it in a log)
        assert capfd.readouterr().err == f"glassnet train: {says} (Ctrl-C again to abort at once)\n"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_while_the_data_loads_aborts_at_once(capfd):
    import signal

    from glassnet.cli.train import stop_on_ctrl_c

    stop = StopRequest()  # phase "starting": no epoch has begun, nothing to checkpoint
    with stop_on_ctrl_c(stop), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert not stop.requested and capfd.readouterr().err == ""


# -- tampered checkpoints: one clear error each ----------------------------------------------
@pytest.fixture(scope="module")
def interrupted(cats, tmp_path_factory):
    """A run with early stopping (a stateful callback), stopped after epoch 2 of 4."""
    out = tmp_path_factory.mktemp("interrupted")
    stop = StopRequest()
    config = RunConfig(**{**CONFIG, "epochs": 4, "augment": None,
                          "extra": {**CONFIG["extra"], "early_stopping": 3}}, out=str(out))
    with pytest.raises(TrainingInterruptedError):
        train_run(config, callbacks=[StopAt(1, None, stop)], verbose=0, data=cats, stop=stop)
    return out / CHECKPOINT_NAME


def tampered(source, tmp_path, edit=None, drop: str | None = None, arrays=None):
    """A copy of the checkpoint ``source`` in a new run folder, its config edited by
    ``edit(config)``, the array entry ``drop`` left out, or ``arrays`` (``name -> function
    of the array there``, or an array) put in."""
    import io
    import json
    import zipfile

    run = tmp_path / "run"
    run.mkdir()
    with zipfile.ZipFile(source) as zf:
        entries = {info.filename: zf.read(info) for info in zf.infolist()}
    config = json.loads(entries["config.json"])
    if edit is not None:
        edit(config)
    entries["config.json"] = json.dumps(config).encode()
    for name, change in (arrays or {}).items():
        entry = f"arrays/{name}.npy"
        value = change(np.load(io.BytesIO(entries[entry]))) if callable(change) else change
        buffer = io.BytesIO()
        np.save(buffer, value)
        entries[entry] = buffer.getvalue()
    with zipfile.ZipFile(run / CHECKPOINT_NAME, "w") as zf:
        for name, data in entries.items():
            if name != f"arrays/{drop}.npy":
                zf.writestr(name, data)
    return run


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["checkpoint"]["run"].update(epochs="x"), r"epochs = 'x', which is not an integer"),
    (lambda c: c["checkpoint"]["run"].update(epochs=1e9), r"epochs = 1000000000.0, which is not an integer"),
    (lambda c: c["checkpoint"]["run"].update(config_version="x"), "config_version = 'x'"),
    (lambda c: c["checkpoint"]["optimizer"].update(base_lr="x"), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["optimizer"].update(steps=-5), "optimizer state is damaged"),
    (lambda c: c["checkpoint"]["history"].update(loss=["a", "b"]),
     "history holds values that are not numbers"),
    (lambda c: c["checkpoint"].update(callbacks={"EarlyStopping.0": "x"}), "callback state is damaged"),
], ids=["epochs-text", "epochs-float", "config-version", "base-lr", "steps", "history", "callbacks"])
def test_a_tampered_checkpoint_is_one_clear_error(interrupted, tmp_path, cats, edit, message):
    run = tampered(interrupted, tmp_path, edit)
    with pytest.raises(ModelFormatError, match=message):
        resume_run(run, verbose=0, data=cats)
    result = run_cli("info", str(run / CHECKPOINT_NAME))
    assert "Traceback" not in result.stderr


def test_a_checkpoint_missing_an_optimizer_array_is_refused(interrupted, tmp_path, cats):
    run = tampered(interrupted, tmp_path, drop="optimizer/1.W/m")
    with pytest.raises(WeightMismatchError, match=r"optimizer arrays \['optimizer/1.W/m'\] are "
                                                  "missing; without them the run would not continue"):
        resume_run(run, verbose=0, data=cats)


@pytest.mark.parametrize("arrays,error,message", [
    ({"optimizer/1.W/v": lambda v: -v - 1}, ModelFormatError,  # the loss went NaN epochs later
     r"optimizer array 'optimizer/1.W/v' holds negative sums of squares, which no step leaves there"),
    ({"optimizer/1.W/m": lambda m: m * np.nan}, ModelFormatError, r"'optimizer/1.W/m' holds NaN"),
    ({"optimizer/1.W/extra": np.zeros(1)}, WeightMismatchError,  # taken silently
     r"optimizer array 'optimizer/1.W/extra' is none of the adam optimizer's: \['m', 'v'\]"),
], ids=["negative-v", "nan-m", "extra"])
def test_optimizer_arrays_a_step_cannot_leave_are_refused(interrupted, tmp_path, cats, arrays, error,
                                                          message):
    run = tampered(interrupted, tmp_path, arrays=arrays)
    with pytest.raises(error, match=message):
        resume_run(run, verbose=0, data=cats)


def _one_element(value):
    """A function that sets the first element of an array (one bad value among good ones)."""
    def change(array):
        array = array.copy()
        array.flat[0] = value
        return array
    return change


@pytest.mark.parametrize("optimizer,slot,value,message", [
    ("adagrad", "sum", -1.0, "negative sums of squares"),
    ("rmsprop", "square_avg", -1.0, "negative sums of squares"),
    ("adam", "v", -1.0, "negative sums of squares"),
    ("adam", "m", np.nan, "NaN"),
])
def test_one_impossible_optimizer_value_of_any_optimizer_is_refused(tmp_path, optimizer, slot, value,
                                                                   message):
    """Every optimizer's sum of squared gradients (AdaGrad's, RMSProp's, Adam's) is checked,
    and one bad element among good ones is enough."""
    import glassnet as gn

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 5)), rng.integers(0, 2, 20)
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(5,), seed=0, dtype="float64")
    model.compile("binary_crossentropy", optimizer)
    model.train_on_batch(x, y)
    save_checkpoint(model, source := tmp_path / CHECKPOINT_NAME)
    restore_training_state(model, read_checkpoint(source))  # as saved: taken
    run = tampered(source, tmp_path, arrays={f"optimizer/0.W/{slot}": _one_element(value)})
    with pytest.raises(ModelFormatError, match=rf"optimizer array 'optimizer/0.W/{slot}' holds {message}"):
        restore_training_state(model, read_checkpoint(run / CHECKPOINT_NAME))


def test_report_on_an_interrupted_run_says_how_to_resume(interrupted):
    from glassnet.report.run_files import read_run

    folder = interrupted.parent
    threads = read_checkpoint(interrupted).state["sessions"][-1]["threads"]
    with pytest.raises(ConfigError, match=re.escape(
            "its training was interrupted and the report is written when it finishes: glassnet "
            f"train --resume {shlex.quote(str(folder))} --threads {threads}")):  # as the run stopped
        read_run(folder)


@pytest.mark.parametrize("fold", ["", "fold-2"])
def test_report_on_an_interrupted_search_trial_says_to_continue_the_search(tmp_path, fold):
    """'train --resume' would finish a trial outside its study: the search is what continues it."""
    from glassnet.report.run_files import read_run

    search = tmp_path / "my search"
    trial = search / "trials" / "0003" / fold
    trial.mkdir(parents=True)
    (search / "search.json").write_text("{}")
    (trial / CHECKPOINT_NAME).write_bytes(b"")
    with pytest.raises(ConfigError) as caught:
        read_run(trial)
    assert "it is a search trial whose training was interrupted" in str(caught.value)
    assert f"glassnet search --resume --out '{search.resolve()}'" in str(caught.value)
    assert "train --resume" not in str(caught.value)
    # the same layout without a search beside it is an ordinary interrupted run
    (search / "search.json").unlink()
    with pytest.raises(ConfigError, match="glassnet train --resume "):
        read_run(trial)


def test_a_checkpoint_of_another_optimizer_says_so(tmp_path):
    from glassnet import Sequential, layers, optimizers

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 4)), np.arange(20) % 2

    def model(optimizer):
        m = Sequential([layers.Dense(3, activation="relu"), layers.Dense(1)], input_shape=(4,), seed=0)
        m.compile("binary_crossentropy", optimizer)
        return m

    trained = model(optimizers.SGD())
    trained.fit(x, y, epochs=1, batch_size=10, verbose=0)
    save_checkpoint(trained, tmp_path / "c.glassnet")
    checkpoint = read_checkpoint(tmp_path / "c.glassnet")
    with pytest.raises(ModelFormatError, match="the checkpoint's optimizer is 'sgd' but the run uses 'adam'"):
        restore_training_state(model(optimizers.Adam()), checkpoint)
    with pytest.raises(ModelFormatError, match="the checkpoint's sgd optimizer has momentum 0.0 but the "
                                               "run's has momentum 0.9"):
        restore_training_state(model(optimizers.SGD(momentum=0.9)), checkpoint)
    assert restore_training_state(model(optimizers.SGD(lr=0.5)), checkpoint) == 1  # lr: restored


class Score(Callback):
    """Logs a scripted ``score`` (and ``val_f1``) after each epoch, as a user's callback would."""

    def __init__(self, scores):
        self.scores = scores

    def on_epoch_end(self, epoch, logs):
        logs["score"] = self.scores[epoch]
        logs["val_f1"] = 0.5 + epoch / 100


def _scored_runs(cats, tmp_path, stop_after: int):
    """The same 4-epoch run straight through and stopped after epoch ``stop_after + 1``, then
    resumed; each with a best-only ModelCheckpoint on ``score``."""
    config = {**CONFIG, "epochs": 4, "augment": None}
    results = {}
    for name in ("straight", "resumed"):
        best = ModelCheckpoint(tmp_path / f"{name}-best.glassnet", monitor="score", mode="min",
                               save_best_only=True)
        callbacks = [Score([0.9, 0.5, 0.6, 0.7]), best]
        if name == "straight":
            results[name] = train_run(RunConfig(**config, out=str(tmp_path / name)), callbacks=callbacks,
                                      verbose=0, data=cats)
            continue
        stop = StopRequest()
        with pytest.raises(TrainingInterruptedError):
            train_run(RunConfig(**config, out=str(tmp_path / name)),
                      callbacks=[*callbacks, StopAt(stop_after, None, stop)], verbose=0, data=cats, stop=stop)
        again = ModelCheckpoint(tmp_path / f"{name}-best.glassnet", monitor="score", mode="min",
                                save_best_only=True)
        results[name] = resume_run(tmp_path / name, callbacks=[Score([0.9, 0.5, 0.6, 0.7]), again],
                                   verbose=0, data=cats)
    return results


def test_a_resumed_run_keeps_model_checkpoints_best_and_the_values_callbacks_logged(cats, tmp_path):
    """ModelCheckpoint's best score started afresh on resume (a worse epoch replaced the best
    file), and the values a callback added in the checkpointed epoch were lost (NaN)."""
    runs = _scored_runs(cats, tmp_path, stop_after=1)
    assert runs["resumed"].history.to_dict() == runs["straight"].history.to_dict()
    assert runs["resumed"].history["val_f1"] == [0.5, 0.51, 0.52, 0.53]
    best = {name: load_model(tmp_path / f"{name}-best.glassnet").get_weights() for name in runs}
    for key, value in best["straight"].items():
        np.testing.assert_array_equal(best["resumed"][key], value, err_msg=key)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["checkpoint"]["callbacks"].update({"EarlyStopping.0": {}}),
     r"the saved state of EarlyStopping.0 is damaged \(KeyError"),
    (lambda c: c["checkpoint"]["callbacks"]["EarlyStopping.0"].update(stopped_epoch="x"),
     r"EarlyStopping.0 is damaged .*stopped_epoch = 'x' is not an epoch"),
    (lambda c: c["checkpoint"]["rng"]["train_rng"]["state"].update(inc=-1), "model.train_rng is invalid"),
    (lambda c: c["checkpoint"]["run"].update(seed=-1), "seed = -1, which is negative"),
    (lambda c: c["checkpoint"]["run"]["extra"].update(model_options=[1]),
     "model_options = \\[1\\], which is not"),
], ids=["callback state empty", "stopped_epoch text", "generator overflow", "negative seed", "options list"])
def test_edited_checkpoint_fields_are_clear_errors_on_resume(edit, message, cats, tmp_path):
    """Each was a traceback (KeyError, TypeError after a whole run, OverflowError, ...)."""
    from test_io_format import edit_config

    config = {**CONFIG, "epochs": 3, "augment": None, "extra": {**CONFIG["extra"], "early_stopping": 2}}
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "run")), callbacks=[StopAt(0, None, stop)],
                  verbose=0, data=cats, stop=stop)
    edit_config(tmp_path / "run" / CHECKPOINT_NAME, edit)
    with pytest.raises((ModelFormatError, ConfigError), match=message):
        resume_run(tmp_path / "run", verbose=0, data=cats)


def test_resuming_on_other_threads_than_the_run_trained_on_warns(cats, tmp_path):
    """The numbers then differ from an unbroken run's by rounding; it went on silently."""
    from glassnet import backend

    config = {**CONFIG, "epochs": 3, "augment": None}
    stop = StopRequest()
    with backend.using_threads(2), pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "run")), callbacks=[StopAt(0, None, stop)],
                  verbose=0, data=cats, stop=stop)
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT_NAME).state["threads"] == 2
    with pytest.warns(GlassnetWarning, match=r"was trained with threads 2 and goes on with threads 1: "
                                             r"the rest of the run rounds differently"):
        resume_run(tmp_path / "run", verbose=0, data=cats)


def _stopped_after_epoch_1(cats, out, threads: int) -> None:
    """A 3-epoch run trained on ``threads`` threads and stopped (as by Ctrl-C) after epoch 1."""
    from glassnet import backend

    config = {**CONFIG, "epochs": 3, "augment": None}
    stop = StopRequest()
    with backend.using_threads(threads), pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(out)), callbacks=[StopAt(0, None, stop)], verbose=0,
                  data=cats, stop=stop)


def _resumed_on_1_thread(cats, out) -> None:
    from glassnet import backend

    with backend.using_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", GlassnetWarning)  # another thread count: tested above
        resume_run(out, verbose=0, data=cats)


def test_checkpoints_and_run_json_record_the_runs_training_sessions(cats, tmp_path):
    """A run interrupted on 2 threads and resumed on 1 recorded neither the resume nor
    that its epochs ran on different threads (its report could not say so)."""
    _stopped_after_epoch_1(cats, tmp_path / "run", threads=2)
    first = [{"from_epoch": 0, "threads": 2, "device": "cpu"}]
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT_NAME).state["sessions"] == first
    _resumed_on_1_thread(cats, tmp_path / "run")
    both = [*first, {"from_epoch": 1, "threads": 1, "device": "cpu"}]
    assert read_checkpoint(tmp_path / "run" / CHECKPOINT_NAME).state["sessions"] == both
    assert json.loads((tmp_path / "run" / "run.json").read_text())["sessions"] == both


@pytest.mark.parametrize("dropped", [["sessions"], ["sessions", "threads", "device"]],
                         ids=["with-threads", "without-threads"])
def test_a_checkpoint_without_sessions_resumes_as_one_session(cats, tmp_path, dropped):
    """Checkpoints written before sessions were recorded (and, older still, before threads
    and device were) still resume: their run counts as one session whose threads and device
    are not recorded (a checkpoint's are those of whichever session wrote it last: maybe a
    resume on other threads than the run began with, so the report must not say "exactly")."""
    first = {"from_epoch": 0, "threads": None, "device": None}
    from test_io_format import edit_config

    _stopped_after_epoch_1(cats, tmp_path / "run", threads=2)
    edit_config(tmp_path / "run" / CHECKPOINT_NAME, lambda c: [c["checkpoint"].pop(key) for key in dropped])
    _resumed_on_1_thread(cats, tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["sessions"] == [
        first, {"from_epoch": 1, "threads": 1, "device": "cpu"}]


def test_a_fit_that_starts_before_its_checkpoints_end_drops_the_sessions_it_retrains(tmp_path):
    """A Checkpointer given a checkpoint whose fit starts earlier (a fresh fit from Python)
    appended a session that went back, and its checkpoint could not be read again."""
    import glassnet as gn
    from glassnet.io.checkpoint import Checkpointer
    from test_io_format import edit_config

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 5)), rng.integers(0, 2, 20)
    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(5,), seed=0, dtype="float64")
    model.compile("binary_crossentropy", gn.optimizers.SGD(lr=0.1))
    model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    save_checkpoint(model, tmp_path / "a.glassnet")
    edit_config(tmp_path / "a.glassnet", lambda c: c["checkpoint"]["sessions"].append(
        {"from_epoch": 2, "threads": 7, "device": "cpu"}))
    resume = read_checkpoint(tmp_path / "a.glassnet")
    model.fit(x, y, epochs=1, batch_size=10, verbose=0,
              callbacks=[Checkpointer(tmp_path / "b.glassnet", resume=resume, overhead=0)])
    assert [s["from_epoch"] for s in read_checkpoint(tmp_path / "b.glassnet").state["sessions"]] == [0, 0]


def test_a_resumed_fit_adds_its_time_to_the_checkpoints(tmp_path):
    """The training time a checkpoint records is the run's: the resumed sessions' and this one's."""
    from glassnet.io.checkpoint import Checkpointer
    from test_io_format import edit_config

    model, x, y = _small_model()
    model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    save_checkpoint(model, tmp_path / "a.glassnet")
    edit_config(tmp_path / "a.glassnet", lambda c: c["checkpoint"].update(seconds=1000.0))
    resume = read_checkpoint(tmp_path / "a.glassnet")
    resumed, _, _ = _small_model()
    restore_training_state(resumed, resume)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=10, verbose=0,
                callbacks=[Checkpointer(tmp_path / "b.glassnet", resume=resume, overhead=0)])
    assert 1000 < read_checkpoint(tmp_path / "b.glassnet").state["seconds"] < 1100


def test_the_rounding_warning_leaves_out_threads_where_they_do_not_matter(monkeypatch):
    """On a GPU nothing is split over threads (running_on gives None): a CPU run resumed
    there changes its device, and only that is named."""
    from glassnet import run_resume
    from glassnet.io.checkpoint_file import Checkpoint

    monkeypatch.setattr(run_resume, "running_on", lambda: {"threads": None, "device": "cuda"})
    checkpoint = Checkpoint(Path("c.glassnet"), {}, {}, {"threads": 4, "device": "cpu"})
    with pytest.warns(GlassnetWarning, match=r"c\.glassnet was trained with device cpu and goes on "
                                             r"with device cuda: the rest of the run rounds"):
        run_resume.warn_if_the_rounding_changes(checkpoint)


def test_a_resume_without_the_callback_whose_state_the_checkpoint_holds_is_refused(tmp_path):
    """The run was trained with early stopping: going on without it silently drops its
    state (and the stop it would make), so the resume is refused, as the other way round is."""
    from glassnet.io.checkpoint import Checkpointer
    from glassnet.training import EarlyStopping

    model, x, y = _small_model()
    stop = EarlyStopping("loss", patience=100)
    model.fit(x, y, epochs=2, batch_size=10, verbose=0,
              callbacks=[stop, Checkpointer(tmp_path / "c.glassnet", overhead=0, callbacks=[stop])])
    resume = read_checkpoint(tmp_path / "c.glassnet")
    resumed, _, _ = _small_model()
    restore_training_state(resumed, resume)
    with pytest.raises(ModelFormatError, match=r"the checkpoint has callback state for "
                                               r"\['EarlyStopping.0'\] but the run has \[\]"):
        resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=10, verbose=0,
                    callbacks=[Checkpointer(tmp_path / "d.glassnet", resume=resume, overhead=0)])


def test_the_checkpoint_api_refuses_a_model_it_cannot_continue(straight, tmp_path):
    """A different reg was restored silently; an uncompiled model gave an AttributeError when
    saved and 'the model differs ... did the data change?' when restored into."""
    from glassnet.run_setup import make_optimizer

    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(straight.model, path)
    checkpoint = read_checkpoint(path)
    config = RunConfig(**CONFIG)

    def fresh(compiled=True, reg=0.0):
        model = straight.model.__class__.from_config(straight.model.get_config())
        if compiled:
            model.compile(loss=straight.model.loss, optimizer=make_optimizer(config), reg=reg)
        return model

    with pytest.raises(ModelFormatError, match=r"compiled with reg 0.5 but the checkpoint was trained "
                                               r"with reg 0.0"):
        restore_training_state(fresh(reg=0.5), checkpoint)
    with pytest.raises(ConfigError, match="compile the model first"):
        restore_training_state(fresh(compiled=False), checkpoint)
    with pytest.raises(ConfigError, match="compile the model first"):
        save_checkpoint(fresh(compiled=False), tmp_path / "x.glassnet")
    assert restore_training_state(fresh(), checkpoint) == 10


class HalveLr(Callback):
    """A user's ReduceLROnPlateau-like callback: halves the lr after each epoch (no schedule)."""

    def on_epoch_end(self, epoch, logs):
        self.model.optimizer.lr /= 2


@pytest.mark.parametrize("schedule", [None, "cosine"])
def test_a_resumed_run_keeps_the_lr_a_callback_set(cats, tmp_path, schedule):
    """Without a schedule the resumed fit went back to the base lr (0.01, 0.005, 0.01, 0.005
    instead of halving on); with one, it scaled the schedule from the callback's lr."""
    config = {**CONFIG, "epochs": 4, "augment": None, "lr_schedule": schedule, "lr": 0.01}
    straight = train_run(RunConfig(**config, out=str(tmp_path / "a")), callbacks=[HalveLr()], verbose=0,
                         data=cats)
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "b")), callbacks=[HalveLr(), StopAt(1, None, stop)],
                  verbose=0, data=cats, stop=stop)
    resumed = resume_run(tmp_path / "b", callbacks=[HalveLr()], verbose=0, data=cats)
    if schedule is None:
        assert straight.history["lr"] == [0.01, 0.005, 0.0025, 0.00125]
    assert resumed.history.to_dict() == straight.history.to_dict()
    for key, value in straight.model.get_weights().items():
        np.testing.assert_array_equal(resumed.model.get_weights()[key], value, err_msg=key)


def test_a_model_checkpoints_state_may_be_missing_or_left_behind_on_resume(cats, tmp_path):
    """Its state is saved since 2026-12-06: a checkpoint from before (without it) and a resume
    without the callback (the CLI's) were refused ("the run has ['EarlyStopping.0']")."""
    from test_io_format import edit_config

    config = {**CONFIG, "epochs": 3, "augment": None, "extra": {**CONFIG["extra"], "early_stopping": 2}}

    def saver():
        return ModelCheckpoint(tmp_path / "best.glassnet", monitor="val_loss", save_best_only=True)

    for run in ("older", "without"):
        stop = StopRequest()
        with pytest.raises(TrainingInterruptedError):
            train_run(RunConfig(**config, out=str(tmp_path / run)),
                      callbacks=[saver(), StopAt(0, None, stop)], verbose=0, data=cats, stop=stop)
    edit_config(tmp_path / "older" / CHECKPOINT_NAME,
                lambda c: c["checkpoint"]["callbacks"].pop("ModelCheckpoint.0"))
    assert len(resume_run(tmp_path / "older", callbacks=[saver()], verbose=0, data=cats).history) == 3
    with pytest.warns(GlassnetWarning, match=r"no saver of this run took the saved state of the "
                                             r"saver of .*best.glassnet on val_loss"):
        assert len(resume_run(tmp_path / "without", verbose=0, data=cats).history) == 3


def test_a_model_checkpoint_gets_only_its_own_saved_state(cats, tmp_path):
    """Savers' states are matched by position: resuming with one of two savers gave it the
    other's best score (val_loss's best taken as val_accuracy's)."""
    config = {**CONFIG, "epochs": 3, "augment": None}

    def saver(what):
        return ModelCheckpoint(tmp_path / f"best-{what}.glassnet", monitor=what, save_best_only=True)

    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "run")),
                  callbacks=[saver("val_loss"), saver("val_accuracy"), StopAt(0, None, stop)],
                  verbose=0, data=cats, stop=stop)
    accuracy = saver("val_accuracy")
    with pytest.warns(GlassnetWarning, match=r"no saver of this run took the saved state of the "
                                             r"saver of .*best-val_loss.glassnet on val_loss"):
        resumed = resume_run(tmp_path / "run", callbacks=[accuracy], verbose=0, data=cats)
    assert max(resumed.history["val_accuracy"]) == accuracy.tracker.best  # its own, kept
    assert not any("best-val_loss" in path for path in accuracy.saved)


def test_model_checkpoints_find_their_state_whatever_their_order_or_path_spelling(cats, tmp_path,
                                                                                   monkeypatch):
    """States went by position, and a path compared as typed: savers given in another order,
    or as a Path instead of a string, started afresh and saved worse models over the best."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    config = {**CONFIG, "epochs": 3, "augment": None}
    stop = StopRequest()
    first = [ModelCheckpoint("./loss.glassnet", monitor="val_loss", save_best_only=True),
             ModelCheckpoint("./acc.glassnet", monitor="val_accuracy", save_best_only=True)]
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "run")), callbacks=[*first, StopAt(1, None, stop)],
                  verbose=0, data=cats, stop=stop)
    again = [ModelCheckpoint(Path("acc.glassnet"), monitor="val_accuracy", save_best_only=True),
             ModelCheckpoint(tmp_path / "loss.glassnet", monitor="val_loss", save_best_only=True)]
    before = [first[1].tracker.best, first[0].tracker.best]
    for saver in again:
        saver.on_train_begin({})
    from glassnet.io.resume import restore_callbacks

    model = first[0].model
    restore_callbacks(model, read_checkpoint(tmp_path / "run" / CHECKPOINT_NAME), again)
    assert [saver.tracker.best for saver in again] == before


def tiny_model():
    """A compiled float64 model of 5 features that trains on :func:`tiny_data` in milliseconds."""
    import glassnet as gn

    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(1)], input_shape=(5,),
                          seed=0, dtype="float64")
    model.compile("binary_crossentropy", gn.optimizers.SGD(lr=0.1))
    return model


def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((40, 5)), rng.integers(0, 2, 40)


def assert_goes_on_alike(model, restored, epochs: int = 4) -> None:
    """``restored`` (from a checkpoint of ``model``) trains on as ``model`` does in memory."""
    x, y = tiny_data()
    for m in (model, restored):
        m.fit(x, y, epochs=epochs, initial_epoch=len(m.history), batch_size=10, verbose=0)
    assert restored.history["lr"] == model.history["lr"]
    for key, value in model.get_weights().items():
        np.testing.assert_array_equal(restored.get_weights()[key], value)


def test_a_checkpoint_saved_between_fits_resumes_as_the_model_would_go_on(tmp_path):
    """After a scheduled fit whose lr a callback changed, a checkpoint said "a schedule ran":
    restored, the next fit started again from the schedule's base; in memory it goes on from
    the callback's lr."""
    model, (x, y) = tiny_model(), tiny_data()
    model.fit(x, y, epochs=2, batch_size=10, lr_schedule="cosine", callbacks=[HalveLr()], verbose=0)
    save_checkpoint(model, tmp_path / "between.glassnet")
    restored = tiny_model()
    restore_training_state(restored, read_checkpoint(tmp_path / "between.glassnet"))
    assert_goes_on_alike(model, restored)


def test_an_older_checkpoint_saved_from_python_goes_on_from_its_schedules_base(tmp_path):
    """Checkpoints before 2026-12-06 did not record whether a schedule ran; one saved from
    Python has no run configuration to tell, so a schedule is assumed: the next fit starts
    from its base lr, as the model in memory does, not from the decayed lr it ended on."""
    from test_io_format import edit_config

    model, (x, y) = tiny_model(), tiny_data()
    model.fit(x, y, epochs=2, batch_size=10, lr_schedule="cosine", verbose=0)
    save_checkpoint(model, tmp_path / "older.glassnet")
    edit_config(tmp_path / "older.glassnet", lambda c: c["checkpoint"]["optimizer"].pop("schedule_running"))
    restored = tiny_model()
    restore_training_state(restored, read_checkpoint(tmp_path / "older.glassnet"))
    assert_goes_on_alike(model, restored)
    assert model.history["lr"][2:] == [0.1, 0.1]


def test_an_older_checkpoint_without_an_l2_strength_resumes(tmp_path):
    """Files recorded no 'reg' before it was saved: there is nothing to compare the run's with."""
    from test_io_format import edit_config

    model, (x, y) = tiny_model(), tiny_data()
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    save_checkpoint(model, tmp_path / "older.glassnet")
    edit_config(tmp_path / "older.glassnet", lambda c: c.pop("reg"))
    restored = tiny_model()
    assert restore_training_state(restored, read_checkpoint(tmp_path / "older.glassnet")) == 1
    assert_goes_on_alike(model, restored, epochs=2)


def test_a_resumed_run_records_the_lr_it_was_given(cats, tmp_path):
    """The model file of a resumed run recorded the lr a callback had set by then."""
    config = {**CONFIG, "epochs": 3, "augment": None, "lr_schedule": None, "lr": 0.01}
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**config, out=str(tmp_path / "run")),
                  callbacks=[HalveLr(), StopAt(1, None, stop)], verbose=0, data=cats, stop=stop)
    resumed = resume_run(tmp_path / "run", callbacks=[HalveLr()], verbose=0, data=cats)
    assert resumed.model.training_summary["optimizer"]["lr"] == 0.01


def test_a_resumed_run_records_the_lr_its_checkpoint_restores(cats, tmp_path):
    """A Python resume with another lr in its configuration trains on at the checkpoint's lr
    (the restore puts it back), and its model file claimed the configuration's."""
    config = {**CONFIG, "epochs": 2, "augment": None, "lr_schedule": None, "lr": 0.001}
    train_run(RunConfig(**config, out=str(tmp_path / "run")), verbose=0, data=cats)
    changed = RunConfig(**{**config, "epochs": 4, "lr": 0.5}, out=str(tmp_path / "run"))
    (tmp_path / "run" / "model.glassnet").unlink()  # as if its files had not been written
    result = train_run(changed, verbose=0, data=cats, resume=tmp_path / "run" / CHECKPOINT_NAME)
    assert result.history["lr"] == [0.001] * 4
    assert result.model.training_summary["optimizer"]["lr"] == 0.001


@pytest.mark.parametrize("make, message", [
    (lambda path: None, "checkpoint not found: {path}"),
    (lambda path: path.mkdir(), "{path} is a directory, not a checkpoint"),
    (lambda path: path.write_text("garbage"),
     r"{path} is not a glassnet checkpoint \(a .glassnet file is a zip archive"),
])
def test_a_file_that_is_no_checkpoint_is_called_a_checkpoint_not_a_model_file(tmp_path, make, message):
    """--resume's errors said "model file" of the checkpoint it could not read."""
    path = tmp_path / CHECKPOINT_NAME
    make(path)
    with pytest.raises(ModelFormatError, match=message.format(path=path)):
        read_checkpoint(path)


def test_train_runs_from_a_thread_other_than_the_main_one(tmp_path):
    """Only the main thread may set signal handlers: from another (a notebook's worker, a
    GUI), `glassnet.cli.main(["train", ...])` trains without its Ctrl-C handler, not with a
    ValueError, and leaves the process's handler as it was."""
    import signal
    import threading

    from glassnet.cli import main

    before = signal.getsignal(signal.SIGINT)
    codes = []
    worker = threading.Thread(target=lambda: codes.append(main(
        ["train", "--hidden", "3", "--epochs", "2", "--quiet", "--threads", "1",
         "--out", str(tmp_path / "run")])))
    worker.start()
    worker.join(120)
    assert codes == [0]
    assert (tmp_path / "run" / "model.glassnet").is_file()
    assert signal.getsignal(signal.SIGINT) is before
