"""Progress output: lines when not a terminal, a bar with time left on one, --quiet."""

import io
import os

import numpy as np
import pytest

import glassnet as gn
from conftest import run_cli
from glassnet.errors import ConfigError
from glassnet.training.progress import ProgressBar, format_duration


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def _model():
    model = gn.Sequential([gn.layers.Dense(4, activation="relu"), gn.layers.Dense(1)],
                          input_shape=(6,), seed=0)
    model.compile("binary_crossentropy", "sgd")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def _fit_with(stream, epochs=3, batch_size=8, log_every=None):
    x, y = _data()
    model = _model()
    steps = -(-30 // (batch_size or 30))
    bar = ProgressBar(epochs, steps=steps, verbose=1, stream=stream, log_every=log_every)
    model.fit(x[:30], y[:30], epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[bar],
              validation_data=(x[30:], y[30:]))
    return stream.getvalue()


def test_not_a_terminal_gives_one_line_per_epoch_and_a_summary():
    lines = _fit_with(io.StringIO()).splitlines()
    assert [line.split(" - ")[0] for line in lines[:3]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert all(f" {key} " in line for line in lines[:3])
    assert all(" - left " in line for line in lines[:2])  # time left, except on the last epoch
    assert lines[3].startswith("trained 3 epochs in ")
    assert len(lines) == 4 and "\r" not in "".join(lines)


def test_many_epochs_print_every_nth_line():
    lines = _fit_with(io.StringIO(), epochs=10, batch_size=None, log_every=4).splitlines()
    assert [line.split(" - ")[0] for line in lines[:-1]] == ["epoch 1/10", "epoch 4/10", "epoch 8/10",
                                                             "epoch 10/10"]


def test_terminal_gets_a_bar_with_metrics_and_time_left():
    out = _fit_with(FakeTerminal())
    assert "epoch 3/3" in out and "batch" in out and "\r" in out
    assert "val_loss" in out and "val_accuracy" in out and "left 0:0" in out
    assert out.rstrip().splitlines()[-1].startswith("trained 3 epochs")


def test_on_a_terminal_each_epochs_bar_gives_way_to_the_epochs_full_line():
    """As in Keras: the line each epoch leaves on screen holds every value (tqdm cut the bar's
    line at the terminal's edge, mid-number, and it stayed so in the scroll-back)."""
    out = _fit_with(FakeTerminal())
    lines = [line for line in out.replace("\r", "\n").splitlines() if line.startswith("epoch 1/3 - ")]
    assert len(lines) == 1
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "left"):
        assert f" - {key} " in lines[0]


@pytest.mark.parametrize("columns", [40, 80, 100, 200])
def test_a_bars_values_are_cut_whole_to_the_terminals_width(columns):
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    import struct

    from glassnet._text import display_width
    from glassnet.training.progress import MIN_BAR_COLUMNS, fitting_values, new_bar

    text = "loss 2.3253 - accuracy 0.1340 - val_loss 2.2048 - val_accuracy 0.1916 - lr 0.01 - left 1:02:03"
    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        with os.fdopen(follower, "w", closefd=False) as terminal:
            bar = new_bar(terminal, 3000, "epoch 12/100", "batch", initial=1350)
            shown = fitting_values(bar, text)
            bar.set_postfix_str(shown, refresh=False)
            line = str(bar)
            bar.close()
    finally:
        os.close(leader)
        os.close(follower)
    assert shown in ("", text) or text.startswith(shown + " - ")  # whole values only
    assert display_width(line) <= columns
    if columns >= 80:  # (40 columns cannot hold even the bar's counts: tqdm cuts those)
        assert line.endswith(f", {shown}]")
        assert len(line.split("|")[1]) >= MIN_BAR_COLUMNS  # the bar keeps some width
    expected = {40: "", 80: "loss 2.3253", 100: "loss 2.3253 - accuracy 0.1340", 200: text}
    assert shown == expected[columns]


def test_format_duration():
    assert [format_duration(s) for s in (0, 7.4, 754, 3723)] == ["0:00", "0:07", "12:34", "1:02:03"]


def test_quiet_train_prints_no_progress(tmp_path, data_root):
    result = run_cli("train", "--hidden", "3", "--epochs", "2", "--out", str(tmp_path / "run"),
                     "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("trained mlp on cats: 2 epochs")
    loud = run_cli("train", "--hidden", "3", "--epochs", "2", "--out", str(tmp_path / "run2"))
    assert "epoch 2/2" in loud.stderr and "trained 2 epochs" in loud.stderr


def test_evaluate_and_predict_are_silent_unless_verbose_as_in_keras(capsys):
    x, y = _data()
    model = _model()
    model.evaluate(x, y, batch_size=16)
    model.predict(x, batch_size=16)
    assert capsys.readouterr().err == ""  # the library prints only when asked
    results = model.evaluate(x, y, batch_size=16, verbose=2)
    line = capsys.readouterr().err
    assert line.startswith("evaluate: 3/3 batches, 40 samples in ") and line.count("\n") == 1
    assert f"loss {results['loss']:.4f}" in line and f"accuracy {results['accuracy']:.4f}" in line
    for call in (model.predict, model.predict_logits, model.predict_classes):
        call(x, batch_size=None, verbose="auto")  # Keras' default: 1, a line when not a terminal
        assert capsys.readouterr().err.startswith("predict: 1/1 batches, 40 samples in ")
    model.predict(x, verbose=False)
    assert capsys.readouterr().err == ""


def test_evaluate_verbose_1_on_a_terminal_is_a_bar_ending_with_the_metrics(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr("sys.stderr", terminal)
    x, y = _data()
    _model().evaluate(x, y, batch_size=8, verbose=1)
    out = terminal.getvalue()
    assert "evaluate" in out and "5/5" in out and "\r" in out and "loss " in out


@pytest.mark.parametrize("verbose", [3, -1, 1.5, "yes", None])
def test_a_bad_verbose_is_named(verbose):
    x, y = _data()
    for call in (lambda: _model().predict(x, verbose=verbose),
                 lambda: _model().evaluate(x, y, verbose=verbose),
                 lambda: _model().fit(x, y, epochs=1, verbose=verbose)):
        with pytest.raises(ConfigError, match=r"verbose must be 0, 1, 2 or 'auto', got "):
            call()


@pytest.mark.parametrize("rows,columns,bars", [(24, 0, False), (0, 150, False), (24, 80, True)])
def test_a_terminal_of_zero_columns_or_rows_gets_lines_not_empty_bars(rows, columns, bars):
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    import struct

    from glassnet.training.progress import shows_bars

    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        with os.fdopen(follower, "w", closefd=False) as terminal:
            assert shows_bars(terminal) is bars
            assert ProgressBar(3, 2, verbose=1, stream=terminal).use_bar is bars
    finally:
        os.close(leader)
        os.close(follower)
    assert shows_bars(io.StringIO()) is False and shows_bars(FakeTerminal()) is True


def test_values_a_callback_logs_are_shown_after_fits_own():
    from glassnet.training.progress import format_logs

    logs = {"val_f1": 0.5, "loss": 0.25, "lr": 0.001, "note": "text", "flag": True}
    assert format_logs(logs) == "loss 0.2500 - lr 0.001 - val_f1 0.5000"


def _download_notices(monkeypatch, stream, total, warn_at=None, progress=True, downloads=1) -> str:
    """What the command line shows of a 100-chunk download's log records (a warning in the
    middle when ``warn_at``; ``downloads`` of them, one after the other), as ``glassnet train``
    does."""
    import sys
    import warnings

    from glassnet.cli.output import warnings_as_lines
    from glassnet.data import store
    from glassnet.errors import GlassnetWarning

    monkeypatch.setattr(sys, "stderr", stream)
    monkeypatch.setattr(store, "PROGRESS_SECONDS", 0)
    with warnings_as_lines("train", progress):
        for _ in range(downloads):
            store.LOG.info("downloading URL to PATH")
            progress = store._Progress("big.tar.gz", total)
            for i in range(100):
                progress.add(1_700_000)
                if i == warn_at:
                    warnings.warn("something odd", GlassnetWarning, stacklevel=1)
            progress.done()
        store.LOG.debug("other debug detail")
    return stream.getvalue()


def test_a_download_shows_a_few_progress_lines_in_a_log(monkeypatch):
    text = _download_notices(monkeypatch, io.StringIO(), total=170_000_000)
    assert text.splitlines() == [
        "glassnet train: downloading URL to PATH",
        "glassnet train: big.tar.gz: 42.5 of 170.0 MB (25%)",
        "glassnet train: big.tar.gz: 85.0 of 170.0 MB (50%)",
        "glassnet train: big.tar.gz: 127.5 of 170.0 MB (75%)",
        "glassnet train: big.tar.gz: 170.0 of 170.0 MB (100%)"]
    unknown = _download_notices(monkeypatch, io.StringIO(), total=None)  # no Content-Length
    assert unknown.splitlines()[1:] == ["glassnet train: big.tar.gz: 170.0 MB"]
    quiet = _download_notices(monkeypatch, io.StringIO(), total=170_000_000, progress=False)  # --quiet
    assert quiet.splitlines() == ["glassnet train: downloading URL to PATH"]
    # a second download (the cat set's test file after its training file) counts its quarters afresh
    two = _download_notices(monkeypatch, io.StringIO(), total=170_000_000, downloads=2)
    assert two.splitlines() == text.splitlines() * 2


def test_a_download_redraws_one_progress_line_on_a_terminal(monkeypatch):
    text = _download_notices(monkeypatch, FakeTerminal(), total=170_000_000, warn_at=49)
    lines = text.split("\n")
    assert lines[0] == "glassnet train: downloading URL to PATH"
    assert lines[1].count("\r") == 50 and lines[1].endswith("85.0 of 170.0 MB (50%)\033[K")
    assert lines[2] == "glassnet train: warning: something odd"  # on a line of its own
    assert lines[3].count("\r") == 51 and lines[3].endswith("170.0 of 170.0 MB (100%)\033[K")
    assert lines[4:] == [""]  # the finished download's line is ended
