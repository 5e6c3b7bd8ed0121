"""CSVLogger (Keras' CSV format, append and resume, atomic rewrites) and LambdaCallback."""

import csv
import math

import numpy as np
import pytest

from glassnet import Sequential, layers
from glassnet.errors import (
    ConfigError,
    GlassnetWarning,
    NonFiniteLossError,
    SaveError,
    TrainingInterruptedError,
)
from glassnet.io.checkpoint import StopRequest
from glassnet.runs import RunConfig, resume_run, train_run
from glassnet.training import Callback, CSVLogger, LambdaCallback


def _data(rng, n=60, d=4, classes=3):
    y = np.arange(n) % classes
    x = rng.standard_normal((n, d)) + y[:, None]
    return x, y


def _model():
    model = Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], input_shape=(4,),
                       seed=0, dtype="float64")
    model.compile("categorical_crossentropy", "sgd")
    return model


def _read(path, separator=","):
    with open(path, newline="") as handle:
        return list(csv.reader(handle, delimiter=separator))


def _assert_log_is_history(path, history):
    """The file's header is ``epoch`` and the history's names sorted; its cells read back
    as the history's values, to the last bit."""
    header, *rows = _read(path)
    assert header == ["epoch", *sorted(history.history)]
    assert [int(row[0]) for row in rows] == history["epoch"]
    for i, key in enumerate(header[1:], start=1):
        np.testing.assert_array_equal([float(row[i]) for row in rows], history[key], err_msg=key)


class Logs(Callback):
    """Adds ``per_epoch[epoch]`` (a dict) to the logs at the end of each epoch."""

    def __init__(self, per_epoch):
        self.per_epoch = per_epoch

    def on_epoch_end(self, epoch, logs):
        logs.update(self.per_epoch[epoch])


# -- CSVLogger -----------------------------------------------------------------------------
def test_csv_log_holds_the_history_in_full_precision(rng, tmp_path):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    history = _model().fit(x, y, epochs=3, batch_size=16, verbose=0, validation_data=(x, y),
                           callbacks=[CSVLogger(path)])
    _assert_log_is_history(path, history)
    assert _read(path)[0] == ["epoch", "accuracy", "loss", "lr", "val_accuracy", "val_loss"]


def test_csv_log_writes_nan_and_a_name_logged_late_gets_its_own_column(rng, tmp_path):
    """A non-finite number is written as Keras writes it; val_f1, first logged at epoch 2,
    gets a column (NA before) instead of being dropped or shifting the others."""
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    logs = Logs([{"score": math.nan, "note": "a;b"}, {"score": math.inf, "note": "a;b", "val_f1": 0.25},
                 {"score": 0.5, "note": "a;b", "val_f1": 0.5}])
    _model().fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[logs, CSVLogger(path, separator=";")])
    header, *rows = _read(path, ";")
    assert header == ["epoch", "accuracy", "loss", "lr", "note", "score", "val_f1"]
    assert [row[4:] for row in rows] == [["a;b", "nan", "NA"], ["a;b", "inf", "0.25"], ["a;b", "0.5", "0.5"]]


def test_csv_log_append_continues_a_later_fit_without_a_second_header(rng, tmp_path):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[CSVLogger(path, append=True)])
    history = model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0,
                        callbacks=[CSVLogger(path, append=True)])
    _assert_log_is_history(path, history)  # epochs 0-3, one header
    # a fit from epoch 0 is a new training: appended after it, as in Keras
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert [row[0] for row in _read(path)] == ["epoch", "0", "1", "2", "3", "0"]
    # without append the file is replaced
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path)])
    assert [row[0] for row in _read(path)] == ["epoch", "0"]


def test_csv_log_append_replaces_the_rows_a_crashed_run_left_after_its_checkpoint(rng, tmp_path):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[CSVLogger(path, append=True)])
    with open(path, "a") as handle:  # epochs 2 and 3 of a run that died before its checkpoint
        handle.write("2,0.1,0.1,0.1\n3,0.2,0.2,0.2\n")
    history = model.fit(x, y, epochs=3, initial_epoch=2, batch_size=16, verbose=0,
                        callbacks=[CSVLogger(path, append=True)])
    _assert_log_is_history(path, history)


def test_resume_run_with_an_appending_csv_log_gives_one_row_per_epoch(cats, tmp_path):
    config = RunConfig(dataset="cats", model="mlp", hidden=[4], epochs=4, batch_size=64, lr=0.003,
                       validation_split=0.2, seed=5, dtype="float64", out=str(tmp_path / "run"))
    path = tmp_path / "log.csv"
    stop = StopRequest()
    stopper = LambdaCallback(on_epoch_end=lambda epoch, logs: epoch == 1 and stop.request())
    with pytest.raises(TrainingInterruptedError):
        train_run(config, callbacks=[CSVLogger(path, append=True), stopper], verbose=0, data=cats, stop=stop)
    assert [row[0] for row in _read(path)] == ["epoch", "0", "1"]
    resumed = resume_run(tmp_path / "run", callbacks=[CSVLogger(path, append=True)], verbose=0, data=cats)
    _assert_log_is_history(path, resumed.history)


def test_csv_log_without_append_warns_that_a_continued_fit_replaces_it(rng, tmp_path):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path)])
    with pytest.warns(GlassnetWarning, match="append=True to continue"):
        model.fit(x, y, epochs=2, initial_epoch=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path)])


@pytest.mark.parametrize("content,match", [
    ("epoch,accuracy,loss,lr,val_accuracy,val_loss\n", "are not what this fit logs"),
    ("epoch,loss\n0,1.0\n", "are not what this fit logs"),
    ("epoch;accuracy;loss;lr\n", "not a CSV log with separator ','"),
    ("epoch,accuracy,loss,lr\n0,0.5,1.0,0.01\n1,0.5\n", "line 3 is not an epoch's row"),
    (b"\xff\xfe", "cannot append"),
], ids=["validation-columns", "missing-columns", "other-separator", "half-a-row", "not-text"])
def test_appending_to_a_file_that_is_not_this_fits_log_is_an_error_before_training(rng, tmp_path,
                                                                                    content, match):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    model = _model()
    with pytest.raises(ConfigError, match=match):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert model.history is None or len(model.history) == 0


def test_a_failed_csv_write_keeps_the_previous_file(rng, tmp_path, monkeypatch):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[CSVLogger(path, append=True)])
    good = path.read_bytes()
    from glassnet import _files

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_files.os, "fsync", disk_full)  # after the new rows were written out
    with pytest.raises(SaveError, match="No space left on device"):
        model.fit(x, y, epochs=3, initial_epoch=2, batch_size=16, verbose=0,
                  callbacks=[CSVLogger(path, append=True)])
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporary left behind


class PoisonAt3(Callback):
    def on_epoch_begin(self, epoch, logs):
        if epoch == 3:
            self.model.layers[0].params["W"][0, 0] = np.nan


def test_a_value_a_callback_changes_is_what_the_history_and_a_later_csv_log_record(rng, tmp_path):
    """Keras' History runs after every callback: a value one of them changes (here ``loss``,
    scaled) is recorded as changed, so the history and a CSVLogger after it agree."""
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    seen = []
    scale = LambdaCallback(on_epoch_end=lambda epoch, logs: (seen.append(logs["loss"]),
                                                              logs.update(loss=logs["loss"] * 10)))
    history = _model().fit(x, y, epochs=3, batch_size=20, verbose=0,
                           callbacks=[scale, CSVLogger(path)])
    assert history["loss"] == [10 * loss for loss in seen]
    _assert_log_is_history(path, history)


def test_after_a_non_finite_loss_the_csv_log_ends_where_the_history_does(rng, tmp_path):
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=6, batch_size=20, verbose=0, callbacks=[PoisonAt3(), CSVLogger(path)])
    assert model.history["epoch"] == [0, 1]  # the weights of epoch 2 diverged on epoch 3's first batch
    _assert_log_is_history(path, model.history)


def test_after_a_non_finite_loss_an_appended_log_keeps_the_earlier_fits_rows(rng, tmp_path):
    """Only this fit's rows of the epochs whose weights were not kept go: the earlier fit's
    rows of the same epoch numbers stay."""
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _model()
    model.fit(x, y, epochs=4, batch_size=20, verbose=0, callbacks=[CSVLogger(path)])
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=6, batch_size=20, verbose=0,
                  callbacks=[PoisonAt3(), CSVLogger(path, append=True)])
    assert [row[0] for row in _read(path)[1:]] == ["0", "1", "2", "3", "0", "1"]


@pytest.mark.parametrize("kwargs,match", [
    ({"filename": ""}, "filename must be a file name"),
    ({"filename": 3}, "filename must be a file name"),
    ({"filename": "a.csv", "separator": ", "}, "separator must be one character"),
    ({"filename": "a.csv", "separator": '"'}, "separator must be one character"),
    ({"filename": "a.csv", "append": "yes"}, "append must be True or False"),
])
def test_bad_csv_logger_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        CSVLogger(**kwargs)


def test_a_csv_log_in_place_of_a_folder_is_refused_before_training(rng, tmp_path):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match="is a folder; give a file name"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(tmp_path)])


# -- LambdaCallback ------------------------------------------------------------------------
def test_lambda_callback_calls_each_function_at_its_hook_with_its_arguments(rng):
    x, y = _data(rng, n=40)
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs["epochs"])),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_end=lambda logs: calls.append(("train_end", logs["loss"])))
    model = _model()
    history = model.fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[cb])
    batch = ["accuracy", "loss"]
    assert calls == [("train_begin", 2),
                     ("epoch_begin", 0), ("batch_end", 0, batch), ("batch_end", 1, batch),
                     ("epoch_end", 0, history["loss"][0]),
                     ("epoch_begin", 1), ("batch_end", 0, batch), ("batch_end", 1, batch),
                     ("epoch_end", 1, history["loss"][1]), ("train_end", history["loss"][1])]


def test_lambda_callback_may_stop_training_through_its_model(rng):
    x, y = _data(rng)
    cb = LambdaCallback()
    cb.on_epoch_end = lambda epoch, logs: setattr(cb.model, "stop_training", True)
    assert len(_model().fit(x, y, epochs=5, verbose=0, callbacks=[cb])) == 1


@pytest.mark.parametrize("hook", ["on_train_batch_end", "on_batch_begin"])
def test_lambda_callback_refuses_a_hook_glassnet_never_calls(hook):
    with pytest.raises(ConfigError, match=f"got {hook}, which glassnet never calls; its hooks are "
                                          "on_train_begin, on_epoch_begin, on_batch_end"):
        LambdaCallback(**{hook: print})


def test_lambda_callback_refuses_what_is_not_a_function():
    with pytest.raises(ConfigError, match="on_epoch_end must be a function, got 'print'"):
        LambdaCallback(on_epoch_end="print")
    with pytest.raises(TypeError):  # Keras' positional order is not glassnet's
        LambdaCallback(print)


def test_a_replaced_log_is_replaced_when_training_begins(rng, tmp_path):
    """A new fit that stopped in its first epoch (a NaN, a Ctrl-C) left the previous run's
    rows in a file it was to replace; and a file that cannot be written failed only after
    an epoch had trained."""
    x, y = _data(rng)
    path = tmp_path / "log.csv"
    _model().fit(x, y, epochs=3, verbose=0, callbacks=[CSVLogger(path)])
    assert len(_read(path)) == 1 + 3  # the header and three epochs

    class PoisonAtOnce(Callback):
        def on_epoch_begin(self, epoch, logs):
            self.model.layers[0].params["W"][0, 0] = np.nan

    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        _model().fit(x, y, epochs=3, verbose=0, callbacks=[PoisonAtOnce(), CSVLogger(path)])
    assert path.read_text() == "epoch,accuracy,loss,lr\n"
    (tmp_path / "a-file").write_text("")
    model = _model()
    with pytest.raises(SaveError, match="could not (write|create)"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[CSVLogger(tmp_path / "a-file" / "log.csv")])
    assert model.history is None or len(model.history) == 0  # before the first epoch


def test_the_callbacks_moved_to_files_of_their_own_still_import_from_callbacks():
    """The tutorial imported EarlyStopping from glassnet.training.callbacks until the Keras
    callbacks moved to files of their own (2026-12-07); that import keeps working."""
    import glassnet.training as training
    from glassnet.training import callbacks
    from glassnet.training.callbacks import EarlyStopping, LambdaCallback, ModelCheckpoint

    assert (EarlyStopping, ModelCheckpoint, LambdaCallback) == (
        training.EarlyStopping, training.ModelCheckpoint, training.LambdaCallback)
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchCallback'"):
        callbacks.NoSuchCallback  # noqa: B018


def test_callbacks_and_the_history_hold_the_fits_settings_and_model_as_in_keras(rng):
    x, y = _data(rng, n=40)
    seen = []
    cb = LambdaCallback(on_train_begin=lambda logs: seen.append(dict(cb.params)))
    model = _model()
    assert cb.params == {} and model.history is None
    history = model.fit(x, y, epochs=3, batch_size=15, verbose=0, callbacks=[cb])
    assert seen == [{"verbose": 0, "epochs": 3, "steps": 3}]  # 40 images in batches of 15
    assert history.params == seen[0] and history.model is model
    # a later fit that continues the history records its own settings
    later = model.fit(x, y, epochs=5, initial_epoch=3, batch_size=40, verbose=0, callbacks=[cb])
    assert later is history and len(history) == 5
    assert history.params == {"verbose": 0, "epochs": 5, "steps": 1} == cb.params
    # a weak reference (a dropped model is freed at once): a copy's or pickle's is not kept
    import copy
    import pickle

    assert copy.deepcopy(model).history.model is None
    assert pickle.loads(pickle.dumps(history)).params == history.params
    # a CallbackList of one's own, made as before params existed, gives its callbacks none
    from glassnet.training import CallbackList

    CallbackList([mine := LambdaCallback()], model)
    assert mine.model is model and mine.params == {}
