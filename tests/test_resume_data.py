"""Resuming a run on an image folder refuses a folder whose files changed since the checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli
from glassnet.errors import ConfigError, DataError, ModelFormatError, TrainingInterruptedError
from glassnet.io.checkpoint import StopRequest, read_checkpoint, restore_training_state
from glassnet.io.checkpoint_file import CHECKPOINT_NAME
from glassnet.runs import RunConfig, resume_run, train_run
from glassnet.training.callbacks import Callback
from test_data_folder import save, solid, two_classes


@pytest.fixture(autouse=True)
def data_env(tmp_path, monkeypatch) -> dict[str, str]:
    """The image cache goes to a private data directory (never the shared data)."""
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    return {"GLASSNET_DATA": str(tmp_path / "data")}


class StopAfterFirstEpoch(Callback):
    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def on_epoch_end(self, epoch, logs):
        self.stop.request()  # as Ctrl-C would: the checkpoint keeps the completed epoch


def interrupted_run(root: Path, out: Path) -> Path:
    """A 3-epoch run on ``root`` stopped after its first epoch; returns the run directory."""
    config = RunConfig(dataset=str(root), model="mlp", hidden=[4], epochs=3, batch_size=4,
                       image_size=6, out=str(out))
    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(config, [StopAfterFirstEpoch(stop)], verbose=0, stop=stop)
    return out


@pytest.fixture
def photos(tmp_path) -> Path:
    return two_classes(tmp_path / "photos", n=4)


def test_the_checkpoint_records_the_folder_and_an_unchanged_folder_resumes(photos, tmp_path):
    run = interrupted_run(photos, tmp_path / "run")
    data = read_checkpoint(run / CHECKPOINT_NAME).state["data"]
    assert data["root"] == str(photos.resolve()) and data["files"] == 8 and len(data["signature"]) == 64
    resumed = resume_run(run, verbose=0)
    assert len(resumed.history) == 3


@pytest.mark.parametrize("change, counts", [
    (lambda root: (root / "a" / "0.png").unlink(), "8 images then, 7 now"),
    (lambda root: save(root / "b" / "extra.png", solid((1, 2, 3))), "8 images then, 9 now"),
    (lambda root: os.utime(root / "a" / "1.png", ns=(10**18, 10**18)), "8 images then, 8 now"),
], ids=["image-deleted", "image-added", "image-modified"])
def test_a_changed_folder_is_refused_and_named(photos, tmp_path, change, counts):
    run = interrupted_run(photos, tmp_path / "run")
    before = (run / CHECKPOINT_NAME).read_bytes()
    change(photos)
    with pytest.raises(DataError, match=rf"the data set {photos.resolve()} changed since the "
                                        rf"checkpoint was written \({counts};"):
        resume_run(run, verbose=0)
    assert (run / CHECKPOINT_NAME).read_bytes() == before  # nothing was resumed or rewritten


def test_cli_resume_names_the_changed_folder_in_one_line(photos, tmp_path, data_env):
    run = interrupted_run(photos, tmp_path / "run")
    (photos / "b" / "3.png").unlink()
    result = run_cli("train", "--resume", str(run), env=data_env)
    assert result.returncode == 1, result.stderr
    assert f"the data set {photos.resolve()} changed since the checkpoint" in result.stderr
    assert "8 images then, 7 now" in result.stderr and result.stderr.count("\n") == 1


def test_a_moved_folder_resumes_and_reports_from_its_new_place(photos, tmp_path, data_env):
    """After the image folder moved, --resume and report said only '<folder>: no such
    folder', and --resume refused --dataset: nothing but moving it back would do."""
    run = interrupted_run(photos, tmp_path / "run")
    moved = photos.rename(tmp_path / "moved")
    result = run_cli("train", "--resume", str(run), env=data_env)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert (f"the run trained on the image folder {photos.resolve()}, which is no longer there: give "
            "its new place with --dataset") in result.stderr
    result = run_cli("train", "--resume", str(run), "--dataset", str(moved), "--quiet", env=data_env)
    assert result.returncode == 0, result.stderr
    assert "3 epochs" in result.stdout
    report = run_cli("report", str(run), env=data_env)  # the run recorded the new place
    assert report.returncode == 0, report.stderr
    moved.rename(tmp_path / "again")
    report = run_cli("report", str(run), env=data_env)
    assert report.returncode == 1 and "give its new place with --dataset" in report.stderr
    report = run_cli("report", str(run), "--dataset", str(tmp_path / "again"), env=data_env)
    assert report.returncode == 0, report.stderr


def test_a_moved_folder_must_hold_the_runs_images(photos, tmp_path, data_env):
    run = interrupted_run(photos, tmp_path / "run")
    other = two_classes(tmp_path / "other", n=5)
    result = run_cli("train", "--resume", str(run), "--dataset", str(other), env=data_env)
    assert result.returncode == 1 and "changed since the checkpoint was written (8 images then, 10 now" \
        in result.stderr
    assert run_cli("train", "--resume", str(run), "--quiet", env=data_env).returncode == 0
    # report: another folder of the same classes wrote a report of other images, under the
    # run's name, with at most an accuracy warning
    report = run_cli("report", str(run), "--dataset", str(other), env=data_env)
    assert report.returncode == 1 and report.stderr.count("\n") == 1
    assert (f"{other} holds other files than the run's image folder did (names, sizes or "
            "modification times differ; a copy must keep the times, as cp -a does): a report on it "
            "would not describe the run") in report.stderr
    # the run's own folder, changed since, named with --dataset: the warning it gets without
    save(photos / "b" / "extra.png", solid((1, 2, 3)))
    same = run_cli("report", str(run), "--dataset", str(photos), env=data_env)
    assert same.returncode == 0 and "has changed since training" in same.stderr, same.stderr


def test_dataset_on_resume_of_a_run_on_a_named_set_is_refused(cats, tmp_path):
    from test_checkpoint import CONFIG, StopAt

    stop = StopRequest()
    with pytest.raises(TrainingInterruptedError):
        train_run(RunConfig(**{**CONFIG, "epochs": 3}, out=str(tmp_path / "run")),
                  callbacks=[StopAt(0, None, stop)], verbose=0, data=cats, stop=stop)
    with pytest.raises(ConfigError, match="--dataset gives the new place of a run's image folder, but "
                                          "this run trained on the data set 'cats': drop --dataset"):
        resume_run(tmp_path / "run", verbose=0, dataset="elsewhere/photos")


def test_checkpoints_without_a_fingerprint_still_resume(photos, tmp_path):
    """Named sets record none (they are checksummed downloads), nor did older checkpoints."""
    from test_io_format import edit_config

    run = interrupted_run(photos, tmp_path / "run")
    edit_config(run / CHECKPOINT_NAME, lambda c: c["checkpoint"].pop("data"))
    (photos / "a" / "0.png").unlink()
    assert len(resume_run(run, verbose=0).history) == 3


@pytest.mark.parametrize("damage", [{"signature": 7}, {"files": "8"}])
def test_a_damaged_fingerprint_is_refused(photos, tmp_path, damage):
    from test_io_format import edit_config

    run = interrupted_run(photos, tmp_path / "run")
    edit_config(run / CHECKPOINT_NAME, lambda c: c["checkpoint"]["data"].update(damage))
    with pytest.raises(ModelFormatError, match="data set fingerprint is damaged"):
        read_checkpoint(run / CHECKPOINT_NAME)


def test_the_model_is_untouched_when_the_data_changed(photos, tmp_path):
    run = interrupted_run(photos, tmp_path / "run")
    resumed = resume_run(run, verbose=0)
    weights = resumed.model.get_weights()
    other = {"root": "elsewhere", "signature": "0" * 64, "files": 1}
    with pytest.raises(DataError, match="1 now"):
        restore_training_state(resumed.model, read_checkpoint(run / CHECKPOINT_NAME), other)
    for key, value in resumed.model.get_weights().items():
        assert (value == weights[key]).all(), key


def _denying(load_image, denied: str):
    """``load_image`` that the system refuses for the file ``denied`` (``"a/2.png"``: class
    folder and name), as it would a file without read permission (root reads any file)."""
    from glassnet.errors import UnreadableFileError

    def load(path, *args, **kwargs):
        if Path(path).as_posix().endswith("/" + denied):
            raise UnreadableFileError(f"cannot read the file (Permission denied): {path}")
        return load_image(path, *args, **kwargs)

    return load


def test_a_file_unreadable_in_training_and_readable_now_is_a_changed_folder(photos, tmp_path, monkeypatch):
    """The splits are drawn from the images read: a file the system would not let glassnet
    read then (never cached) and can read now shifts them, though names, sizes and times
    are the same."""
    import warnings

    from glassnet.data import decoding

    real = decoding.load_image
    monkeypatch.setattr(decoding, "load_image", _denying(real, "a/2.png"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skipped file's warning
        run = interrupted_run(photos, tmp_path / "run")
    monkeypatch.setattr(decoding, "load_image", real)
    with pytest.raises(DataError, match=r"changed since the checkpoint was written \(7 images then, "
                                        r"8 now; .* or became readable or unreadable\)"):
        resume_run(run, verbose=0)


@pytest.mark.parametrize("of", ["every file listed", "the images read"])
def test_a_run_fingerprinted_before_2026_12_06_resumes_and_evaluates_without_a_false_change(
        photos, tmp_path, monkeypatch, capsys, of):
    """Fingerprints were of every file listed (a stray notes.txt too), then for a few hours
    of the images read without saying so; now they are of the images read, marked. A run
    recorded either old way must still resume, and evaluate must not warn that its folder
    changed."""
    import warnings

    from glassnet.cli import main
    from glassnet.data import cache, folder

    def unmarked(root, files, used):
        counted = files if of == "every file listed" else [f for f in files if f[0] in set(used)]
        return {"root": str(root), "signature": cache.signature(counted), "files": len(counted)}

    (photos / "a" / "notes.txt").write_text("my photos")
    monkeypatch.setattr(folder, "folder_fingerprint", unmarked)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes.txt is skipped with a warning
        run = interrupted_run(photos, tmp_path / "run")
    monkeypatch.undo()
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        assert len(resume_run(run, verbose=0).history) == 3
    assert main(["evaluate", str(run)]) == 0
    assert "has changed since" not in capsys.readouterr().err
    (photos / "b" / "0.png").unlink()  # a real change is still seen, counted as files
    assert main(["evaluate", str(run)]) == 0
    assert "has changed since" in capsys.readouterr().err


def test_a_file_readable_in_training_and_unreadable_now_is_a_changed_folder_to_evaluate(
        photos, tmp_path, monkeypatch, capsys):
    """The model records that its folder's signature is of the images read: without that
    mark, a signature of every image (all were read) also matched every file listed now, and
    a file that can no longer be read (its splits shifted) went unnoticed."""
    from glassnet.cli import main
    from glassnet.data import decoding

    config = RunConfig(dataset=str(photos), model="mlp", hidden=[4], epochs=1, batch_size=4,
                       image_size=6, out=str(tmp_path / "run"))
    run = train_run(config, verbose=0).out_dir
    assert main(["evaluate", str(run), "--no-cache"]) == 0
    assert "has changed since" not in capsys.readouterr().err
    real = decoding.load_image
    monkeypatch.setattr(decoding, "load_image", _denying(real, "a/2.png"))
    assert main(["evaluate", str(run), "--no-cache"]) == 0
    assert f"{photos} has changed since {run / 'model.glassnet'} was trained on it" in capsys.readouterr().err


def test_a_change_to_an_unmarked_fingerprint_counts_the_files_listed_now(photos):
    """A fingerprint recorded before 2026-12-06 counted every file listed (notes.txt too):
    the change it reports counts the files listed now, not the images read ("9 files then,
    7 now" for one deleted image would say two went)."""
    import warnings

    from glassnet.data import cache, image_folder
    from glassnet.data.fingerprint import folder_change

    (photos / "a" / "notes.txt").write_text("my photos")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes.txt is skipped with a warning
        then = image_folder(photos, 6, cache=False).info["fingerprint"]
        (photos / "b" / "0.png").unlink()
        now = image_folder(photos, 6, cache=False).info["fingerprint"]
    recorded = {"root": then["root"], **then["listed"]}  # as written before 2026-12-06: no "of"
    assert recorded["files"] == 9 and cache.signature([]) != recorded["signature"]
    assert folder_change(recorded, now).startswith("9 files then, 8 now;")
