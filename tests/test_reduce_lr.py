"""ReduceLROnPlateau: Keras' rules, checked on scripted values and against PyTorch's scheduler."""

import math
import types

import numpy as np
import pytest

from glassnet import optimizers, schedules
from glassnet.errors import ConfigError
from glassnet.training import ReduceLROnPlateau
from test_training_toolkit import _data, _model, _Scripted


def _lrs_after_each_epoch(values, reducer, lr=1.0, key="score", rng=None):
    """Fit for ``len(values)`` epochs with ``values`` logged as ``key``; the lr the next epoch
    trains at, after each epoch (the logged lr is the one the epoch trained at)."""
    x, y = _data(rng if rng is not None else np.random.default_rng(0))
    model = _model()
    model.optimizer.lr = lr
    history = model.fit(x, y, epochs=len(values), batch_size=16, verbose=0,
                        callbacks=[_Scripted(key, values), reducer])
    return [*history["lr"][1:], model.optimizer.lr]


def test_the_lr_drops_by_factor_after_patience_epochs_without_improvement():
    reducer = ReduceLROnPlateau("score", factor=0.5, patience=2, mode="min")
    lrs = _lrs_after_each_epoch([5, 4, 4, 4, 4, 4, 3, 3.5], reducer)
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert reducer.reductions == [(3, 1.0, 0.5), (5, 0.5, 0.25)]
    assert reducer.best == 3 and reducer.best_epoch == 6 and reducer.wait == 1


def test_a_gain_of_min_delta_or_less_is_no_improvement():
    values = [5, 4.95, 4.9, 4.85]  # 0.05 better each epoch; 4.85 is more than 0.1 below 5
    reducer = ReduceLROnPlateau("score", patience=1, mode="min", min_delta=0.1)
    assert _lrs_after_each_epoch(values, reducer) == pytest.approx([1, 0.1, 0.01, 0.01])
    assert reducer.best == 4.85
    assert _lrs_after_each_epoch(values, ReduceLROnPlateau("score", patience=1, mode="min")) == [1] * 4


def test_cooldown_as_keras_counts_it():
    """cooldown=2: the epoch after a reduction is not counted, the one after that is (its
    counter reaches 0 first), so a flat curve reduces every other epoch."""
    reducer = ReduceLROnPlateau("score", factor=0.5, patience=1, cooldown=2, mode="min")
    lrs = _lrs_after_each_epoch([1] * 7, reducer)
    assert [r[0] for r in reducer.reductions] == [1, 3, 5]
    assert lrs == [1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert reducer.cooldown_counter == 1


def test_the_lr_stops_at_min_lr_and_the_count_goes_on():
    reducer = ReduceLROnPlateau("score", factor=0.1, patience=1, min_lr=0.05, mode="min")
    lrs = _lrs_after_each_epoch([1] * 5, reducer)
    assert lrs == pytest.approx([1, 0.1, 0.05, 0.05, 0.05])
    assert len(reducer.reductions) == 2 and reducer.wait == 2  # Keras resets it only on a reduction


def test_auto_mode_maximizes_an_accuracy():
    reducer = ReduceLROnPlateau("val_accuracy_scripted", factor=0.5, patience=1)
    lrs = _lrs_after_each_epoch([0.5, 0.7, 0.6, 0.9, 0.9], reducer, key="val_accuracy_scripted")
    assert reducer.tracker.maximize and lrs == [1, 1, 0.5, 0.5, 0.25]


def _ours(values, lr, **options):
    """The lr after each of ``values`` (our callback, on a stand-in model)."""
    reducer = ReduceLROnPlateau("score", **options)
    reducer.set_model(types.SimpleNamespace(optimizer=optimizers.SGD(lr=lr)))
    reducer.on_train_begin({"logged": ["loss", "score", "lr"]})
    lrs = []
    for epoch, value in enumerate(values):
        reducer.on_epoch_end(epoch, {"score": value})
        lrs.append(reducer.model.optimizer.lr)
    return lrs


def _torchs(torch, values, lr, mode, factor, patience, min_delta, cooldown, min_lr):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=factor, patience=patience, threshold=min_delta, threshold_mode="abs",
        cooldown=cooldown, min_lr=min_lr, eps=0.0)  # its default 1e-8 stops below a change of 1e-8
    lrs = []
    for value in values:
        sched.step(value)
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("mode", ["min", "max"])
@pytest.mark.parametrize("patience,cooldown", [(0, 0), (1, 0), (3, 0), (2, 1), (2, 3), (4, 2)])
def test_same_lrs_as_torch_with_its_patience_and_cooldown_one_lower(torch, mode, patience, cooldown):
    """PyTorch reduces after more than ``patience`` bad epochs (Keras: at ``patience``), and
    its cooldown skips ``cooldown`` epochs (Keras: one fewer, its counter reaching 0 on the
    last); Keras' 0 acts as 1 for both. So Keras' (p, c) is PyTorch's (max(p-1, 0), max(c-1, 0)).
    (At min_lr PyTorch still restarts its count and cooldown, Keras not: the lr, stuck there,
    is the same.)"""
    rng = np.random.default_rng(patience * 10 + cooldown)
    for trial in range(20):
        steps = rng.choice([-0.3, -0.05, 0.0, 0.0, 0.02, 0.2], size=40)  # plateaus, small gains, ties
        values = list(np.round(np.cumsum(steps if mode == "min" else -steps), 6))
        options = dict(mode=mode, factor=0.5, min_delta=0.1, min_lr=0.01 * (trial % 2))
        ours = _ours(values, 0.8, patience=patience, cooldown=cooldown, **options)
        theirs = _torchs(torch, values, 0.8, patience=max(patience - 1, 0),
                         cooldown=max(cooldown - 1, 0), **options)
        assert ours == pytest.approx(theirs, rel=1e-12), (trial, values)
        assert min(ours) < 0.8  # the sequence did reduce the lr


@pytest.mark.parametrize("kwargs,match", [
    ({"factor": 1.0}, r"factor must be a number in \(0, 1\), got 1.0"),
    ({"factor": 0}, "factor"), ({"factor": 2}, "factor"),
    ({"patience": -1}, "patience must be an integer >= 0"), ({"patience": 1.5}, "patience"),
    ({"cooldown": -2}, "cooldown must be an integer >= 0"),
    ({"min_lr": -1e-3}, "min_lr must be a finite number >= 0"),
    ({"min_delta": -0.1}, "min_delta"), ({"mode": "up"}, "mode must be 'auto', 'min' or 'max'"),
    ({"monitor": "val_something"}, "cannot tell from the name"),
    ({"verbose": 2}, "verbose must be 0 or 1")])
def test_bad_options_are_clear_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ReduceLROnPlateau(**kwargs)


def test_a_monitor_fit_does_not_log_is_refused_before_training(rng):
    x, y = _data(rng)
    model = _model()
    with pytest.raises(ConfigError, match=r"ReduceLROnPlateau monitors 'val_loss', which training "
                                          r"does not log \(validation needs validation_split"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ReduceLROnPlateau()])
    assert len(model.history) == 0


@pytest.mark.parametrize("schedule", ["cosine", schedules.StepDecay(every=1, factor=0.5)])
def test_refused_with_an_lr_schedule_in_the_same_fit(rng, schedule):
    x, y = _data(rng)
    model = _model()
    with pytest.raises(ConfigError, match="ReduceLROnPlateau sets the lr, but this fit runs an "
                                          "lr_schedule.*use one or the other"):
        model.fit(x, y, epochs=2, verbose=0, lr_schedule=schedule,
                  callbacks=[ReduceLROnPlateau("loss")])


def test_a_later_fit_goes_on_at_the_reduced_lr(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.2
    reducer = ReduceLROnPlateau("score", patience=1, mode="min")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[_Scripted("score", [1, 1]), reducer])
    assert model.optimizer.lr == pytest.approx(0.02)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert history["lr"] == pytest.approx([0.02, 0.02])
    # a new fit starts the counters afresh (as Keras' does), the lr where it was
    model.fit(x, y, epochs=1, verbose=0, callbacks=[_Scripted("score", [1]), reducer])
    assert reducer.reductions == [] and model.optimizer.lr == pytest.approx(0.02)


def test_verbose_prints_a_line_for_each_reduction(rng, capsys):
    reducer = ReduceLROnPlateau("score", patience=2, mode="min", verbose=1)
    _lrs_after_each_epoch([3, 3, 3], reducer, lr=0.5)
    assert capsys.readouterr().err == ("epoch 3: ReduceLROnPlateau reduced the lr from 0.5 to 0.05 "
                                       "(score had not improved for 2 epochs)\n")


def test_the_state_round_trips_and_damage_is_a_value_error():
    reducer = ReduceLROnPlateau("score", factor=0.5, patience=1, cooldown=3, mode="min")
    _ours_model = types.SimpleNamespace(optimizer=optimizers.SGD(lr=1.0))
    reducer.set_model(_ours_model)
    for epoch, value in enumerate([2, 1, 1]):
        reducer.on_epoch_end(epoch, {"score": value})
    state = reducer.state_dict()
    copy = ReduceLROnPlateau("score", factor=0.5, patience=1, cooldown=3, mode="min")
    copy.load_state_dict(state)
    assert (copy.best, copy.best_epoch, copy.wait, copy.cooldown_counter, copy.reductions) == (
        1, 1, 0, 3, [(2, 1.0, 0.5)])
    for key, bad in (("reductions", [[0, "x", 0.1]]), ("cooldown_counter", -1), ("wait", None)):
        with pytest.raises(ValueError):
            copy.load_state_dict({"values": {**state["values"], key: bad}, "arrays": {}})
    assert math.isfinite(copy.best)


@pytest.mark.parametrize("record", [{}, {"lr_reduced_after": "5", "final_lr": 0.1},
                                    {"lr_reduced_after": [True], "final_lr": 0.1},
                                    {"lr_reduced_after": [5], "final_lr": "0.1"}])
def test_a_record_of_another_shape_says_nothing(record):
    """A summary or metrics.json edited by hand: info and the report leave the line out."""
    from glassnet.report.text import lr_reductions_text

    assert lr_reductions_text(record) is None


def test_one_reduction_is_said_in_the_singular():
    from glassnet.report.text import lr_reductions_text

    assert lr_reductions_text({"reduce_lr_monitor": "val_loss", "reduce_lr_patience": 1,
                               "lr_reduced_after": [3], "final_lr": 0.001}) == (
        "lr reduced 1 time on a val_loss plateau (patience 1), after epoch 3: final lr 0.001")


def test_a_reduced_lr_equal_to_an_earlier_schedules_last_is_kept_by_a_later_fit(rng):
    """StepDecay 0.1 then a reduction by 0.1 give the very float the schedule last set: the
    next fit took it for the schedule's lr and reset it to the schedule's base."""
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    model.fit(x, y, epochs=2, verbose=0, lr_schedule=schedules.StepDecay(every=1, factor=0.1))
    reducer = ReduceLROnPlateau("score", patience=1, mode="min")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[_Scripted("score", [1, 1]), reducer])
    reduced = model.optimizer.lr
    assert reduced == pytest.approx(0.01) and reducer.reductions == [(1, 0.1, reduced)]
    assert model.fit(x, y, epochs=1, verbose=0)["lr"] == [reduced]  # was 0.1, the schedule's base


def test_no_reduction_on_the_epoch_early_stopping_ends_training(rng):
    from glassnet.training import EarlyStopping

    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    reducer = ReduceLROnPlateau("score", patience=1, mode="min")
    stopper = EarlyStopping("score", patience=2, mode="min")
    model.fit(x, y, epochs=10, verbose=0,
              callbacks=[_Scripted("score", [3, 2, 2, 2, 2]), stopper, reducer])
    assert stopper.stopped_epoch == 3
    assert [r[0] for r in reducer.reductions] == [2]  # not 3, where training ended
    assert model.optimizer.lr == pytest.approx(0.01)


def test_reductions_undone_by_the_nan_guard_are_dropped(rng):
    from glassnet.errors import NonFiniteLossError
    from glassnet.training import Callback

    class PoisonAt3(Callback):
        def on_epoch_begin(self, epoch, logs):
            if epoch == 3:
                self.model.layers[0].params["W"][0, 0] = np.nan

    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    reducer = ReduceLROnPlateau("score", factor=0.5, patience=1, mode="min")
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=6, batch_size=20, verbose=0,
                  callbacks=[_Scripted("score", [1, 1, 1, 1, 1, 1]), PoisonAt3(), reducer])
    assert model.history["epoch"] == [0, 1]  # epoch 2's weights diverged on epoch 3's first batch
    assert reducer.reductions == [(1, 0.1, 0.05)]  # the one after epoch 2 was undone with them
    assert model.optimizer.lr == 0.05


def test_a_long_list_of_reduction_epochs_is_shortened():
    from glassnet.report.text import lr_reductions_text

    record = {"reduce_lr_monitor": "val_loss", "reduce_lr_patience": 3,
              "lr_reduced_after": list(range(4, 40, 3)), "final_lr": 1e-12}
    assert lr_reductions_text(record).startswith("lr reduced 12 times on")  # the count in full
    assert lr_reductions_text(record).endswith("after epochs 4, 7, 10, ..., 34 and 37: final lr 1e-12")
    eight = {**record, "lr_reduced_after": list(range(4, 28, 3))}  # MAX_LISTED_EPOCHS: all of them
    assert lr_reductions_text(eight).endswith("after epochs 4, 7, 10, 13, 16, 19, 22 and 25: final lr 1e-12")


def test_the_constant_schedule_the_cli_defaults_to_leaves_reductions_alone(rng, tmp_path):
    """``lr_schedule="constant"`` (``--lr-schedule constant``, named as the default in
    ``--help``) set the lr back every epoch, so it was refused beside ReduceLROnPlateau."""
    from glassnet.cli import main

    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.5
    reducer = ReduceLROnPlateau("score", patience=1, mode="min")
    history = model.fit(x, y, epochs=3, verbose=0, lr_schedule="constant",
                        callbacks=[_Scripted("score", [1, 1, 1]), reducer])
    assert history["lr"] == pytest.approx([0.5, 0.5, 0.05])
    assert main(["train", "--hidden", "4", "--epochs", "2", "--quiet", "--validation-split", "0.2",
                 "--reduce-lr", "1", "--lr-schedule", "constant", "--out", str(tmp_path / "r")]) == 0
