"""fit: schedules and lr in History, validation carved from training data, callbacks, verbose, NaN guard."""

import math
import warnings

import numpy as np
import pytest

from glassnet import Sequential, layers, load_model, schedules
from glassnet.data import Dataset
from glassnet.errors import ConfigError, GlassnetWarning, NonFiniteLossError, ShapeError
from glassnet.training import Callback, EarlyStopping, ModelCheckpoint


def _data(rng, n=60, d=4, classes=3):
    y = np.arange(n) % classes
    x = rng.standard_normal((n, d)) + y[:, None]
    return x, y


def _model(d=4, classes=3, seed=0, optimizer="sgd"):
    model = Sequential([layers.Dense(8, activation="relu"), layers.Dense(classes)], input_shape=(d,),
                       seed=seed, dtype="float64")
    model.compile("categorical_crossentropy", optimizer)
    return model


# -- schedules --------------------------------------------------------------------------
def test_step_decay_per_epoch_is_recorded_in_history(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0,
                        lr_schedule=schedules.StepDecay(every=1, factor=0.95))
    np.testing.assert_allclose(history["lr"], [0.1 * 0.95 ** e for e in range(5)], rtol=1e-15)


def test_a_second_fit_restarts_the_schedule_from_the_lr_the_user_set_last(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    step = schedules.StepDecay(every=1, factor=0.5)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, lr_schedule=step)
    again = model.fit(x, y, epochs=2, batch_size=16, verbose=0, lr_schedule=step)
    assert again["lr"] == [0.1, 0.05]  # untouched lr: the schedule starts over from its base
    model.optimizer.lr = 0.02  # the user's new choice is the new base
    changed = model.fit(x, y, epochs=2, batch_size=16, verbose=0, lr_schedule=step)
    assert changed["lr"] == [0.02, 0.01]
    resumed = model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0, lr_schedule=step)
    assert resumed["lr"][-2:] == [0.02 * 0.5 ** 2, 0.02 * 0.5 ** 3]  # continues epoch 2 of the same base


@pytest.mark.parametrize("schedule", [None, "step"])
def test_an_lr_the_user_sets_equal_to_the_schedules_last_is_the_users(rng, schedule):
    """0.1 halved twice is exactly 0.025: setting that was taken for the schedule's own lr,
    and the next fit went back to 0.1."""
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    step = schedules.StepDecay(every=1, factor=0.5)
    assert model.fit(x, y, epochs=3, batch_size=16, verbose=0, lr_schedule=step)["lr"] == [0.1, 0.05, 0.025]
    model.optimizer.lr = 0.025
    again = model.fit(x, y, epochs=2, batch_size=16, verbose=0, lr_schedule=step if schedule else None)
    assert again["lr"] == ([0.025, 0.0125] if schedule else [0.025, 0.025])


@pytest.mark.parametrize("none", [None, "constant"])
def test_a_fit_without_a_schedule_after_a_scheduled_one_trains_at_the_base_lr(rng, none):
    """lr_schedule=None kept training at the cosine schedule's last lr, "constant" at the base."""
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, lr_schedule="cosine")
    assert model.optimizer.lr < 0.05
    assert model.fit(x, y, epochs=2, batch_size=16, verbose=0, lr_schedule=none)["lr"] == [0.1, 0.1]
    model.optimizer.lr = 0.02  # the user's own choice stays
    assert model.fit(x, y, epochs=1, batch_size=16, verbose=0, lr_schedule=none)["lr"] == [0.02]


def _course_schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """The course's (Improving Deep Neural Networks, week 2) fixed-interval decay."""
    return learning_rate0 / (1 + decay_rate * np.floor(epoch_num / time_interval))


@pytest.mark.parametrize("rate,every", [(1.0, 1), (0.3, 100), (1.0, 1000)])
def test_inverse_time_decay_is_the_courses_decay(rate, every):
    """The course's decay had no schedule: StepDecay (the docs' counterpart) gives 0.2959 at
    epoch 200 where the course gives 0.3125 (lr 0.5, rate 0.3, every 100)."""
    ours = schedules.InverseTimeDecay(rate=rate, every=every)
    for epoch in [0, 1, 99, 100, 101, 200, 500, 999, 1000, 2500]:
        assert ours(epoch, 0.5) == _course_schedule_lr_decay(0.5, epoch, rate, every)
    assert schedules.InverseTimeDecay(0.3, 100)(200, 0.5) == 0.3125


def test_inverse_time_decay_by_name_in_fit_and_bad_options(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    history = model.fit(x, y, epochs=3, batch_size=20, verbose=0, lr_schedule="inverse-time")
    assert history["lr"] == [0.1, 0.05, 0.1 / 3]
    assert schedules.from_config(schedules.InverseTimeDecay(0.3, 100).get_config())(200, 0.5) == 0.3125
    with pytest.raises(ConfigError, match="inverse-time decay rate"):
        schedules.InverseTimeDecay(rate=-1)
    with pytest.raises(ConfigError, match="inverse-time decay 'every'"):
        schedules.InverseTimeDecay(every=0)


@pytest.mark.parametrize("every,factor", [(1, 0.95), (3, 0.5)])
def test_step_decay_matches_torch_steplr(torch, every, factor):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=every, gamma=factor)
    ours = schedules.StepDecay(every=every, factor=factor)
    for epoch in range(10):
        assert math.isclose(ours(epoch, 0.2), opt.param_groups[0]["lr"], rel_tol=1e-12)
        opt.step()
        sched.step()


def test_exponential_decay_matches_torch_exponentiallr(torch):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=math.exp(-0.2))
    ours = schedules.ExponentialDecay(rate=0.2)
    for epoch in range(10):
        assert math.isclose(ours(epoch, 0.3), opt.param_groups[0]["lr"], rel_tol=1e-12)
        opt.step()
        sched.step()


def test_cosine_decay_per_batch_matches_torch_cosineannealing(torch):
    epochs, steps = 4, 5
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps, eta_min=0.001)
    ours = schedules.CosineDecay(epochs=epochs, min_lr=0.001)
    for i in range(epochs * steps):
        assert math.isclose(ours(i / steps, 0.1), opt.param_groups[0]["lr"], rel_tol=1e-10)
        opt.step()
        sched.step()


def test_cosine_schedule_changes_lr_within_an_epoch(rng):
    x, y = _data(rng)
    model = _model()
    seen = []

    class Spy(Callback):
        def on_batch_end(self, batch, logs):
            seen.append(self.model.optimizer.lr)

    history = model.fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[Spy()],
                        lr_schedule=schedules.CosineDecay(epochs=2))
    assert len(set(seen)) == 6 and seen == sorted(seen, reverse=True)
    assert history["lr"] == [seen[2], seen[5]]


def test_onecycle_warms_up_then_anneals():
    s = schedules.OneCycle(epochs=10, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    assert math.isclose(s(0, 1.0), 1 / 25)
    assert math.isclose(s(3, 1.0), 1.0)
    assert math.isclose(s(10, 1.0), 1 / 25 / 1e4)


def test_cosine_and_onecycle_hold_their_final_lr_after_their_span():
    """A schedule shorter than the fit (warned about) trains the last epochs at its final lr;
    a cosine left to run on past its span climbs back up to the base lr."""
    cosine, onecycle = schedules.CosineDecay(epochs=4, min_lr=0.01), schedules.OneCycle(epochs=4)
    for t in (4, 5.5, 8, 12):
        assert math.isclose(cosine(t, 1.0), 0.01) and math.isclose(onecycle(t, 1.0), 1 / 25 / 1e4)


def test_unknown_schedule_is_a_clear_error(rng):
    with pytest.raises(ConfigError, match="unknown learning-rate schedule 'cosin'"):
        schedules.get("cosin")
    x, y = _data(rng)
    with pytest.raises(ConfigError, match="unknown learning-rate schedule"):
        _model().fit(x, y, epochs=1, verbose=0, lr_schedule="warmup")


@pytest.mark.parametrize("factory,match", [
    (lambda: schedules.StepDecay(every=0), "every"), (lambda: schedules.StepDecay(factor=1.5), "factor"),
    (lambda: schedules.ExponentialDecay(rate=-1), "rate"), (lambda: schedules.CosineDecay(0), "epochs"),
])
def test_bad_schedule_options(factory, match):
    with pytest.raises(ConfigError, match=match):
        factory()


# -- validation carved from the training data ------------------------------------------------
class _Recorder:
    """Wraps a model's train_step and evaluate to see which samples each one gets."""

    def __init__(self, model):
        self.train_sizes, self.val_inputs = [], []
        train_step, evaluate = model.train_step, model.evaluate

        def spy_train(xb, yb, **kwargs):
            self.train_sizes.append(len(xb))
            return train_step(xb, yb, **kwargs)

        def spy_eval(x, y, *args, **kwargs):
            self.val_inputs.append((np.array(x), np.array(y)))
            return evaluate(x, y, *args, **kwargs)

        model.train_step, model.evaluate = spy_train, spy_eval


def test_validation_split_is_carved_once_stratified_and_never_trained_on(rng):
    x, y = _data(rng, n=60)
    x[:, 0] = np.arange(60)  # tag each sample
    model = _model()
    rec = _Recorder(model)
    model.fit(x, y, epochs=3, batch_size=None, validation_split=0.2, verbose=0)
    assert len(rec.val_inputs) == 3
    first_x, first_y = rec.val_inputs[0]
    for vx, _ in rec.val_inputs[1:]:  # the same held-out samples every epoch
        np.testing.assert_array_equal(vx, first_x)
    assert np.bincount(first_y).tolist() == [4, 4, 4]  # 20% of each class
    assert rec.train_sizes == [48, 48, 48]


def test_validation_split_is_seeded(rng):
    x, y = _data(rng, n=60)
    x[:, 0] = np.arange(60)
    picked = []
    for seed in (1, 1, 2):
        model = _model(seed=seed)
        rec = _Recorder(model)
        model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)
        picked.append(sorted(rec.val_inputs[0][0][:, 0]))
    assert picked[0] == picked[1] and picked[0] != picked[2]
    model.fit(x, y, epochs=1, validation_split=0.2, verbose=0)  # a second fit call: the same split
    assert sorted(rec.val_inputs[-1][0][:, 0]) == picked[2]


def test_validation_data_overrides_validation_split(rng):
    x, y = _data(rng, n=30)
    xv, yv = _data(rng, n=9)
    model = _model()
    rec = _Recorder(model)
    history = model.fit(x, y, epochs=1, batch_size=None, validation_split=0.5,
                        validation_data=(xv, yv), verbose=0)
    np.testing.assert_array_equal(rec.val_inputs[0][0], xv)
    assert rec.train_sizes == [30]
    assert "val_loss" in history and "val_accuracy" in history


@pytest.mark.parametrize("bad", [1, -0.1, 1.5, "0.2", True])
def test_validation_split_outside_zero_one_is_an_error(rng, bad):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match="validation_split must be a number in"):
        _model().fit(x, y, epochs=1, validation_split=bad, verbose=0)


@pytest.mark.parametrize("none", [0, 0.0])
def test_validation_split_0_holds_nothing_out_as_in_keras(rng, none):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=1, validation_split=none, verbose=0)
    assert "val_loss" not in history.history


def test_validation_split_that_empties_a_class_is_an_error(rng):
    x, y = _data(rng, n=20)
    y[:] = 0
    y[0] = 1  # one sample of class 1: it cannot be on both sides
    model = Sequential([layers.Dense(1)], input_shape=(4,))
    model.compile("binary_crossentropy", "sgd")
    # A smaller fraction cannot help a class of one sample: the message says what does.
    with pytest.raises(ConfigError, match=r"leaves class 1 \(1 sample\(s\)\) with no training sample; "
                                          "every class needs at least 2 samples to be split"):
        model.fit(x, y, epochs=1, validation_split=0.3, verbose=0)
    y[1] = 1  # two: 0.3 holds out one, 0.9 would hold out both
    with pytest.raises(ConfigError, match=r"\(2 sample\(s\)\) .*; use a smaller fraction or more data"):
        model.fit(x, y, epochs=1, validation_split=0.9, verbose=0)


# -- EarlyStopping -------------------------------------------------------------------------
class _Scripted(Callback):
    """Overwrites a logged value with a script, so callbacks after it see chosen numbers."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs):
        logs[self.key] = self.values[epoch]


def _fit_scripted(rng, values, *callbacks, epochs=None):
    x, y = _data(rng)
    model = _model()
    snapshots = []

    class Snap(Callback):
        def on_epoch_end(self, epoch, logs):
            snapshots.append(self.model.get_weights())

    history = model.fit(x, y, epochs=epochs or len(values), batch_size=16, verbose=0,
                        callbacks=[_Scripted("score", values), Snap(), *callbacks])
    return model, history, snapshots


def test_early_stopping_waits_patience_epochs(rng):
    stop = EarlyStopping("score", patience=2, mode="min")
    _, history, _ = _fit_scripted(rng, [5, 4, 4.5, 4.2, 3, 2, 1], stop)
    assert len(history) == 4 and stop.stopped_epoch == 3 and stop.best_epoch == 1 and stop.best == 4


def test_early_stopping_min_delta_counts_small_gains_as_no_improvement(rng):
    stop = EarlyStopping("score", patience=1, min_delta=0.5, mode="min")
    _, history, _ = _fit_scripted(rng, [5, 4.8, 4.7, 1], stop)
    assert len(history) == 2 and stop.best == 5


def test_early_stopping_auto_mode_maximizes_accuracy(rng):
    stop = EarlyStopping("val_accuracy_scripted", patience=1)
    x, y = _data(rng)
    model = _model()
    model.fit(x, y, epochs=5, verbose=0,
              callbacks=[_Scripted("val_accuracy_scripted", [0.5, 0.7, 0.6, 0.9, 0.1]), stop])
    assert stop.tracker.maximize and stop.best == 0.7 and stop.stopped_epoch == 2


@pytest.mark.parametrize("values,best", [([3, 1, 2, 2, 2, 2], 1),   # stops early
                                         ([3, 1, 2, 2], 1)])          # reaches the last epoch
def test_restore_best_weights_early_or_at_the_end(rng, values, best):
    stop = EarlyStopping("score", patience=3, mode="min", restore_best_weights=True)
    model, history, snapshots = _fit_scripted(rng, values, stop)
    assert len(history) == min(len(values), best + 4)
    final = model.get_weights()
    for key, value in snapshots[best].items():
        np.testing.assert_array_equal(final[key], value)
    assert any(not np.array_equal(final[k], v) for k, v in snapshots[-1].items())
    assert stop.restored_epoch == best


@pytest.mark.parametrize("values", [[3, 2, 1], [math.nan, math.nan, math.nan]],
                         ids=["best-is-last", "never-finite"])
def test_restored_epoch_is_none_when_the_last_weights_stay(rng, values):
    stop = EarlyStopping("score", patience=5, mode="min", restore_best_weights=True)
    _fit_scripted(rng, values, stop)
    assert stop.restored_epoch is None


def test_without_restore_the_last_weights_stay(rng):
    stop = EarlyStopping("score", patience=5, mode="min")
    model, _, snapshots = _fit_scripted(rng, [3, 1, 2, 2], stop)
    for key, value in snapshots[-1].items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


def test_early_stopping_on_a_missing_key_says_what_is_logged(rng):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match="monitors 'val_loss'.*validation_split"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])


def _keras_stopped_epoch(values, patience, min_delta=0.0, baseline=None, start_from_epoch=0):
    """Keras 3's ``EarlyStopping.on_epoch_end`` for a quantity to minimize, transcribed: the
    epoch at which it stops training (``None``: it runs to the end)."""
    wait, best = 0, None

    def is_improvement(value, reference):
        return reference is None or value + min_delta < reference

    for epoch, value in enumerate(values):
        if epoch < start_from_epoch:
            continue
        wait += 1
        if is_improvement(value, best):
            best = value
            if baseline is None or is_improvement(value, baseline):
                wait = 0
            continue
        if wait >= patience and epoch > 0:
            return epoch
    return None


def test_early_stopping_baseline_and_start_from_epoch_stop_where_keras_does(rng):
    """Scripted values, so only the callbacks' counting differs; glassnet also lets the last
    epoch simply end (Keras would call it a stop)."""
    x, y = _data(rng, n=16)
    model = _model()
    draw = np.random.default_rng(5)
    compared = 0
    for _ in range(60):
        values = list(np.round(draw.uniform(0, 1, 12), 1))
        options = {"patience": int(draw.integers(0, 4)), "min_delta": float(draw.choice([0, 0.05])),
                   "baseline": draw.choice([None, 0.3, 0.6]), "start_from_epoch": int(draw.integers(0, 4))}
        stop = EarlyStopping("score", mode="min", **options)
        model.fit(x, y, epochs=len(values), batch_size=16, verbose=0,
                  callbacks=[_Scripted("score", values), stop])
        expected = _keras_stopped_epoch(values, **options)
        if expected == len(values) - 1:
            expected = None
        assert stop.stopped_epoch == expected, (values, options)
        compared += expected is not None
    assert compared > 20  # most runs stop: the comparison is not of runs that never do


def test_a_baseline_never_beaten_stops_after_patience_epochs(rng, capsys):
    stop = EarlyStopping("score", mode="min", patience=2, baseline=1.0, verbose=1)
    _, history, _ = _fit_scripted(rng, [3, 2.5, 2.6, 2.7, 0.5], stop)
    # improving epochs do not stop it, but count: the first one that does not improve does
    assert len(history) == 3 and stop.stopped_epoch == 2 and stop.best == 2.5
    assert "epoch 3: EarlyStopping stopped training (score had not beaten the baseline 1; best 2.5 " \
           "at epoch 2)" in capsys.readouterr().err
    warmed = EarlyStopping("score", mode="min", patience=0, start_from_epoch=3)
    _, history, _ = _fit_scripted(rng, [3, 4, 5, 6, 7, 5], warmed)  # epochs 0-2 are not watched
    assert warmed.best_epoch == 3 and warmed.stopped_epoch == 4


@pytest.mark.parametrize("kwargs,match", [({"patience": -1}, "patience"), ({"mode": "up"}, "mode"),
                                          ({"min_delta": -0.1}, "min_delta"),
                                          ({"baseline": "0.5"}, "baseline must be a finite number"),
                                          ({"baseline": math.inf}, "baseline"),
                                          ({"start_from_epoch": -1}, "start_from_epoch")])
def test_bad_early_stopping_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EarlyStopping(**kwargs)


def test_early_stopping_on_real_validation_loss_stops_and_restores(rng):
    """An over-parameterized net on noisy labels: val_loss turns up and training stops."""
    x = rng.standard_normal((80, 10))
    y = (x[:, 0] + rng.standard_normal(80) * 1.5 > 0).astype(int)
    model = Sequential([layers.Dense(64, activation="relu"), layers.Dense(1)], input_shape=(10,),
                       dtype="float64")
    model.compile("binary_crossentropy", "adam")
    model.optimizer.lr = 0.01
    stop = EarlyStopping(patience=5, restore_best_weights=True)
    history = model.fit(x, y, epochs=300, batch_size=16, validation_split=0.25, verbose=0, callbacks=[stop])
    assert len(history) < 300
    assert len(history) == stop.best_epoch + 6
    assert min(history["val_loss"]) == stop.best


class CountEpochs(Callback):
    def __init__(self):
        self.epochs = 0

    def on_epoch_end(self, epoch, logs):
        self.epochs += 1


@pytest.mark.parametrize("make,match", [
    (lambda tmp: ModelCheckpoint(tmp), "is a folder; give a file name"),
    (lambda tmp: ModelCheckpoint(tmp / "m-{accuracy:.2f}.glassnet"),
     r"uses accuracy, which training does not log"),
    (lambda tmp: EarlyStopping("accuracy"), r"monitors 'accuracy', which training does not log"),
], ids=["folder", "path field", "monitor"])
def test_callback_settings_that_can_only_fail_are_refused_before_the_first_epoch(make, match, rng, tmp_path):
    """They failed after the first epoch had trained (metrics=None: no accuracy is logged)."""
    x, y = _data(rng)
    model = Sequential([layers.Dense(3)], input_shape=(4,), dtype="float64")
    model.compile("categorical_crossentropy", "sgd", metrics=None)
    counter = CountEpochs()
    with pytest.raises(ConfigError, match=match):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[counter, make(tmp_path)])
    assert counter.epochs == 0


@pytest.mark.parametrize("bad", ["5", -1, 2.5, 0])
def test_log_every_must_be_a_positive_whole_number(bad, rng):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match="log_every must be a positive integer"):
        _model().fit(x, y, epochs=2, verbose=2, log_every=bad)


def test_verbose_early_stopping_says_when_it_stops_and_restores(rng, capsys):
    """Keras' EarlyStopping(verbose=1), which a Keras user writes, was a TypeError."""
    stop = EarlyStopping("score", patience=2, mode="min", restore_best_weights=True, verbose=1)
    _fit_scripted(rng, [5, 4, 4.5, 4.2, 3], stop)
    assert capsys.readouterr().err == (
        "epoch 4: EarlyStopping stopped training (score had not improved for 2 epochs; best 4 at "
        "epoch 2)\nEarlyStopping restored the weights of epoch 2, the best (score 4)\n")
    _fit_scripted(rng, [5, 4, 3], EarlyStopping("score", patience=2, mode="min", verbose=True))
    assert capsys.readouterr().err == ""  # it did not act
    for bad in (2, "yes"):
        with pytest.raises(ConfigError, match=f"EarlyStopping verbose must be 0 or 1, got {bad!r}"):
            EarlyStopping(verbose=bad)
        with pytest.raises(ConfigError, match=f"ModelCheckpoint verbose must be 0 or 1, got {bad!r}"):
            ModelCheckpoint("m.glassnet", verbose=bad)


@pytest.mark.parametrize("best_only,expected", [
    (True, ["epoch 1: score improved from inf to 3; ModelCheckpoint saved the model to {tmp}/m.glassnet",
            "epoch 2: score did not improve from 3",
            "epoch 3: score improved from 3 to 1.5; ModelCheckpoint saved the model to {tmp}/m.glassnet"]),
    (False, [f"epoch {n}: ModelCheckpoint saved the model to {{tmp}}/m.glassnet" for n in (1, 2, 3)]),
])
def test_verbose_model_checkpoint_says_what_it_saved(rng, tmp_path, capsys, best_only, expected):
    ckpt = ModelCheckpoint(tmp_path / "m.glassnet", monitor="score", mode="min",
                           save_best_only=best_only, verbose=1)
    _fit_scripted(rng, [3, 4, 1.5], ckpt)
    assert capsys.readouterr().err.splitlines() == [line.format(tmp=tmp_path) for line in expected]


# -- ModelCheckpoint --------------------------------------------------------------------------
def test_checkpoint_save_best_only(rng, tmp_path):
    ckpt = ModelCheckpoint(tmp_path / "m-{epoch:02d}.glassnet", monitor="score", mode="min",
                           save_best_only=True)
    model, _, _ = _fit_scripted(rng, [3, 2, 2.5, 1, 4], ckpt)
    assert [p.rsplit("/", 1)[1] for p in ckpt.saved] == ["m-01.glassnet", "m-02.glassnet", "m-04.glassnet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m-01.glassnet", "m-02.glassnet", "m-04.glassnet"]


def test_checkpoint_holds_the_best_epochs_weights(rng, tmp_path):
    path = tmp_path / "best.glassnet"
    ckpt = ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True)
    model, _, snapshots = _fit_scripted(rng, [3, 1, 2, 2.5], ckpt)
    saved = load_model(path).get_weights()
    for key, value in snapshots[1].items():
        np.testing.assert_array_equal(saved[key], value)
    assert (ckpt.best, ckpt.best_epoch) == (1, 1)  # Keras' ModelCheckpoint.best


def test_checkpoint_every_epoch_overwrites_atomically(rng, tmp_path, monkeypatch):
    path = tmp_path / "last.glassnet"
    ckpt = ModelCheckpoint(path, save_best_only=False)
    model, _, snapshots = _fit_scripted(rng, [1, 1], ckpt)
    assert ckpt.saved == [str(path), str(path)]
    good = path.read_bytes()
    from glassnet.io import archive

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(archive.np, "save", broken_save)  # fails halfway through writing the zip
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["last.glassnet"]  # no temporary left behind


def test_checkpoint_path_with_an_unknown_field_is_a_clear_error(rng, tmp_path):
    ckpt = ModelCheckpoint(tmp_path / "{val_acc}.glassnet", monitor="score", mode="min")
    with pytest.raises(ConfigError, match="cannot be filled in"):
        _fit_scripted(rng, [1], ckpt)


# -- verbose and the NaN guard ------------------------------------------------------------------
def test_verbose_levels(rng, capsys):
    x, y = _data(rng)
    _model().fit(x, y, epochs=3, verbose=0)
    assert capsys.readouterr().err == ""
    _model().fit(x, y, epochs=3, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 4 and all("val_loss" in line for line in lines)
    assert lines[0].startswith("epoch 1/3") and lines[-1].startswith("trained 3 epochs")
    with pytest.raises(ConfigError, match="verbose"):
        _model().fit(x, y, epochs=1, verbose=3)


def test_verbose_line_mode_prints_the_epoch_where_early_stopping_stopped(rng, capsys):
    x, y = _data(rng)
    stop = EarlyStopping("score", patience=1, mode="min")
    scores = _Scripted("score", [3, 2, 1, 1, 1] + [0] * 195)
    _model().fit(x, y, epochs=200, verbose=2, callbacks=[scores, stop])
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(" - ")[0] for line in lines[:-1]] == ["epoch 1/200", "epoch 2/200",
                                                            "epoch 4/200"]
    assert lines[-1].startswith("trained 4 epochs")


def test_nan_guard_restores_the_last_good_epoch(rng):
    x, y = _data(rng)
    model = _model()
    good = []

    class Explode(Callback):
        def on_epoch_end(self, epoch, logs):
            good.append(self.model.get_weights())
            if epoch == 1:
                self.model.optimizer.lr = 1e200

    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[Explode()])
    assert "epoch 3, batch" in str(info.value) and info.value.epoch == 3
    assert "keeps the weights from the end of epoch 2, the last known" in str(info.value)
    assert info.value.kept_epoch == 2
    for key, value in good[1].items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_after_the_nan_guard_the_optimizer_is_as_it_was_and_training_goes_on(rng, optimizer):
    x, y = _data(rng)
    model = _model(optimizer=optimizer)
    model.fit(x, y, epochs=2, batch_size=20, verbose=0)
    before = model.optimizer.state_dict()
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[PoisonAt(0)])
    after = model.optimizer.state_dict()
    assert after["steps"] == before["steps"] and after["arrays"].keys() == before["arrays"].keys()
    for key, value in before["arrays"].items():  # the diverged step's NaN moments are gone
        np.testing.assert_array_equal(after["arrays"][key], value)
    model.fit(x, y, epochs=2, batch_size=20, verbose=0)
    assert np.isfinite(model.predict(x)).all()


def test_a_last_update_that_diverges_is_caught_though_no_loss_saw_it(rng):
    x, y = _data(rng)
    model = Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], input_shape=(4,), seed=0)
    model.compile("categorical_crossentropy", "sgd")  # float32: lr * grad overflows
    model.fit(x, y, epochs=1, batch_size=None, verbose=0)
    start = model.get_weights()
    model.optimizer.lr = 1e300  # one full-batch step: the loss before it is finite, the weights after not
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=1, batch_size=None, verbose=0)
    assert str(info.value).startswith("the last update of epoch 1 made the loss or the outputs non-"
                                      "finite; training stopped and the model keeps the initial weights")
    assert info.value.kept_epoch == 0
    for key, value in start.items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


def test_a_last_update_that_makes_an_output_infinite_is_caught_though_the_loss_stays_finite(rng):
    """A logit of -inf for a class no sample of the batch has leaves the cross-entropy finite;
    the weights that give it have diverged all the same."""
    x, y = _data(rng)
    y %= 2  # no sample of class 2
    model = _model()
    start = model.get_weights()

    class InfiniteBias(Callback):
        def on_batch_end(self, batch, logs):
            if batch == 3:  # the last of 60 / 16
                self.model.layers[-1].params["b"][2] = -np.inf

    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[InfiniteBias()])
    assert "the last update of epoch 1 made the loss or the outputs non-finite" in str(info.value)
    assert info.value.kept_epoch == 0
    for key, value in start.items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


class LastBatchBlowsUp(schedules.Schedule):
    """A huge learning rate for the last batch of epoch 2 (of 3 batches): its update diverges,
    and no training loss sees it before the run ends."""

    per_batch = True

    def __call__(self, t, base):
        return 1e300 if abs(t - (1 + 2 / 3)) < 1e-9 else base


class StopAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            self.model.stop_training = True


class EveryBatchBlowsUp(schedules.Schedule):
    """Full batch: the one update of epoch 2 diverges."""

    per_batch = True

    def __call__(self, t, base):
        return 1e300 if t == 1 else base


@pytest.mark.parametrize("how", ["validation", "mini-batches, no validation", "full batch, no validation"])
def test_a_diverged_last_update_is_caught_when_a_callback_stops_the_run(how, rng, tmp_path):
    """The check after the last update ran only after the run's last epoch: a callback that
    stopped the run earlier (EarlyStopping takes a NaN val_loss for no improvement) left the
    diverged weights in the model without an error. It is caught before the callbacks see
    the epoch (they would save it), except in full-batch training without validation
    (a forward pass per epoch would cost a third of each), where it is caught after them."""
    x, y = _data(rng, n=64, d=5)
    model = _model(d=5)
    fit, schedule, stopper = {
        "validation": ({"validation_split": 0.25, "batch_size": 16}, LastBatchBlowsUp(),
                       EarlyStopping(patience=0)),
        "mini-batches, no validation": ({"batch_size": 22}, LastBatchBlowsUp(), StopAfter(1)),
        "full batch, no validation": ({"batch_size": None}, EveryBatchBlowsUp(), StopAfter(1)),
    }[how]
    keep = {}

    class KeepStart(Callback):
        def on_epoch_begin(self, epoch, logs):
            keep[epoch] = self.model.get_weights()

    saver = ModelCheckpoint(str(tmp_path / "every-{epoch}.glassnet"))
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=5, verbose=0, lr_schedule=schedule, callbacks=[KeepStart(), saver, stopper],
                  **fit)
    assert info.value.kept_epoch == 1 and "the last update of epoch 2" in str(info.value)
    assert len(model.history) == 1  # the epoch whose weights were dropped is not in it
    for key, value in keep[1].items():
        np.testing.assert_array_equal(model.get_weights()[key], value)
    assert np.isfinite(model.evaluate(x, y)["loss"])
    assert (tmp_path / "every-2.glassnet").exists() == how.startswith("full batch")


def test_a_model_file_written_during_fit_records_that_fit_so_far(rng, tmp_path):
    """The summary was set only when fit returned: ModelCheckpoint's files carried the
    previous fit's epochs and final loss (or none at all)."""
    x, y = _data(rng)
    model = _model()
    for run, epochs in (("first", 3), ("second", 2)):
        checkpoint = ModelCheckpoint(str(tmp_path / f"{run}-{{epoch}}.glassnet"))
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=[checkpoint])
    first, second = (load_model(str(tmp_path / name)).training_summary
                     for name in ("first-3.glassnet", "second-1.glassnet"))
    assert first["epochs"] == 3 and second["epochs"] == 1
    assert second["final"]["loss"] == model.history["loss"][0]
    assert model.training_summary["epochs"] == 2


class PoisonAt(Callback):
    """Puts a NaN into the first weight at the start of ``epoch`` (0-based)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs):
        if epoch == self.epoch:
            self.model.layers[0].params["W"][0, 0] = np.nan


class EndLogs(Callback):
    """Records what each on_train_end was given."""

    def __init__(self) -> None:
        self.ended: list[dict] = []

    def on_train_end(self, logs):
        self.ended.append(dict(logs))


def test_after_a_non_finite_loss_the_history_ends_at_the_kept_weights_and_callbacks_end(rng):
    """The NaN guard put back the weights of the end of epoch 2, but the history went on to
    epoch 3, and no callback's on_train_end ran (the progress bar stayed open, a checkpoint
    was left with the diverged weights)."""
    x, y = _data(rng)
    model, end = _model(), EndLogs()
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=6, batch_size=20, verbose=0, callbacks=[PoisonAt(3), end])
    assert info.value.kept_epoch == 2 and model.history["epoch"] == [0, 1]
    assert model.training_summary["epochs"] == 2
    # the last kept epoch's logs, as Keras gives on_train_end, and why training ended
    assert end.ended == [{**model.history.last(), "error": str(info.value), "kept_epoch": 2}]
    assert set(model.history.last()) == {"loss", "accuracy", "lr"}


class FailsAtTheEnd(Callback):
    def on_train_end(self, logs):
        raise RuntimeError("cannot write my log")


def test_a_callback_failing_at_the_end_does_not_hide_the_non_finite_loss(rng):
    """Its exception replaced the NonFiniteLossError, which the CLI catches to save the run;
    then it kept the callbacks after it from ending (EarlyStopping put back no weights)."""
    x, y = _data(rng)
    model = _model()
    stop = EarlyStopping("score", patience=10, mode="min", restore_best_weights=True)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=8, batch_size=20, verbose=0,
                  callbacks=[_Scripted("score", [3, 1, 2, 2, 2, 2, 2, 2]), FailsAtTheEnd(), stop,
                             PoisonAt(4)])
    assert stop.restored_epoch == 1 and info.value.kept_epoch == 2
    assert str(info.value).endswith("then EarlyStopping put back its best epoch's weights, the weights "
                                    "from the end of epoch 2; then FailsAtTheEnd's on_train_end failed: "
                                    "RuntimeError('cannot write my log')")


def test_a_non_finite_loss_error_a_callback_raises_is_passed_on_as_it_is(rng):
    """fit caught it as if its own guard had raised it, and failed on its kept_epoch None."""
    x, y = _data(rng)

    class Watchdog(Callback):
        def on_epoch_end(self, epoch, logs):
            raise NonFiniteLossError("my own check", epoch=epoch + 1, batch=0)

    model, end = _model(), EndLogs()
    with pytest.raises(NonFiniteLossError, match="^my own check$"):
        model.fit(x, y, epochs=3, batch_size=20, verbose=0, callbacks=[Watchdog(), end])
    assert end.ended == [] and len(model.history) == 1


def test_early_stopping_puts_back_its_best_weights_after_a_non_finite_loss(rng):
    """Keras runs on_train_end after TerminateOnNaN too: restore_best_weights still works."""
    x, y = _data(rng)
    model, best = _model(), []

    class KeepEpoch1(Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 1:
                best.append(self.model.get_weights())

    stop = EarlyStopping("score", patience=10, mode="min", restore_best_weights=True)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=8, batch_size=20, verbose=0,
                  callbacks=[_Scripted("score", [3, 1, 2, 2, 2, 2, 2, 2]), stop, KeepEpoch1(), PoisonAt(4)])
    assert stop.restored_epoch == 1 and info.value.kept_epoch == 2
    assert str(info.value).endswith("then EarlyStopping put back its best epoch's weights, "
                                    "the weights from the end of epoch 2")
    for key, value in best[0].items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


def test_early_stopping_keeps_the_guards_weights_when_its_best_epoch_is_not_before_them(rng):
    x, y = _data(rng)
    model = _model()
    stop = EarlyStopping("score", patience=10, mode="min", restore_best_weights=True)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=8, batch_size=20, verbose=0,
                  callbacks=[_Scripted("score", [3, 2, 1, 0, 5, 5, 5, 5]), stop, PoisonAt(4)])
    assert stop.best_epoch == 3 and stop.restored_epoch is None  # epoch 4's weights were not kept
    assert info.value.kept_epoch == 3 and "EarlyStopping" not in str(info.value)


def test_model_checkpoint_keeps_its_best_score_from_one_fit_to_the_next(rng, tmp_path):
    """It forgot its best at each fit, so a continued fit replaced the best file with a worse
    model (Keras keeps it)."""
    x, y = _data(rng)
    model = _model()
    saver = ModelCheckpoint(tmp_path / "best.glassnet", monitor="score", save_best_only=True, mode="min")
    scores = _Scripted("score", [2, 1, 5, 0.5])
    model.fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[scores, saver])
    model.fit(x, y, epochs=3, initial_epoch=2, batch_size=20, verbose=0, callbacks=[scores, saver])
    assert saver.saved == [str(tmp_path / "best.glassnet")] * 2 and saver.tracker.best == 1
    model.fit(x, y, epochs=4, initial_epoch=3, batch_size=20, verbose=0, callbacks=[scores, saver])
    assert len(saver.saved) == 3 and saver.tracker.best == 0.5


def test_a_model_checkpoint_accepts_only_the_saved_state_of_its_file_quantity_and_direction(tmp_path):
    """A resumed run matches savers to saved states this way: another quantity's best (or the
    other direction's) would keep a worse model from ever replacing the file."""
    path = tmp_path / "best.glassnet"
    mine = ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    assert mine.accepts_state(ModelCheckpoint(str(path), save_best_only=True).state_dict()["values"])
    for other in (ModelCheckpoint(tmp_path / "other.glassnet", save_best_only=True),
                  ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True),
                  ModelCheckpoint(path, monitor="val_loss", mode="max", save_best_only=True)):
        assert not mine.accepts_state(other.state_dict()["values"])


class Calls(Callback):
    def __init__(self, name: str, calls: list, call_order: int = 0) -> None:
        self.name, self.calls, self.call_order = name, calls, call_order

    def on_train_begin(self, logs):
        self.calls.append(("begin", self.name))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch", self.name))

    def on_train_end(self, logs):
        self.calls.append(("end", self.name))


def test_a_callback_that_keeps_the_run_state_runs_after_the_others_except_at_the_end(rng):
    """A Checkpointer listed first saved EarlyStopping's state of the epoch before, and on
    resume restored it before EarlyStopping's on_train_begin wiped it."""
    x, y = _data(rng)
    calls: list = []
    _model().fit(x, y, epochs=1, batch_size=20, verbose=0,
                 callbacks=[Calls("keeper", calls, call_order=1), Calls("a", calls), Calls("b", calls)])
    assert calls == [("begin", "a"), ("begin", "b"), ("begin", "keeper"),
                     ("epoch", "a"), ("epoch", "b"), ("epoch", "keeper"),
                     ("end", "keeper"), ("end", "a"), ("end", "b")]


@pytest.mark.parametrize("name,maximize", [
    ("val_loss", False), ("loss", False), ("val_accuracy", True), ("val_acc", True),
    ("val_balanced_accuracy", True), ("val_f1", True), ("val_auc", True), ("val_mae", False),
    ("val_top5", True), ("val_categorical_crossentropy", False), ("val_kld", False),
    ("val_cosine_similarity", True), ("val_similarity_loss", False)])
def test_mode_auto_reads_the_direction_from_the_name(name, maximize):
    """val_f1 (the README's own example of a logged value) was minimized: EarlyStopping kept
    the worst epoch's weights."""
    assert EarlyStopping(name).tracker.maximize is maximize
    assert ModelCheckpoint("best.glassnet", monitor=name).tracker.maximize is maximize


@pytest.mark.parametrize("name", ["score", "val_f1_mae", "val_thing"])
def test_mode_auto_refuses_a_name_that_gives_no_direction(name):
    for make in (lambda: EarlyStopping(name),
                 lambda: ModelCheckpoint("b.glassnet", monitor=name, save_best_only=True)):
        with pytest.raises(ConfigError, match=f"cannot tell from the name '{name}' whether higher "
                                              "or lower is better; give mode='max' or mode='min'"):
            make()
    assert EarlyStopping(name, mode="max").tracker.maximize


@pytest.mark.parametrize("name,meant", [("los", "loss"), ("val_acuracy", "val_accuracy"),
                                        ("valloss", "val_loss")])
def test_a_misspelt_monitor_gets_the_name_it_likely_meant(name, meant):
    with pytest.raises(ConfigError, match=rf"give mode='max' or mode='min' \(or did you mean '{meant}'\?\)$"):
        EarlyStopping(name)


def test_a_model_checkpoint_that_saves_every_epoch_needs_no_direction():
    """It does not compare values, but a name that says no direction was refused."""
    assert ModelCheckpoint("every.glassnet", monitor="val_score").tracker.maximize is False
    with pytest.raises(ConfigError, match="give mode='max' or mode='min'"):
        ModelCheckpoint("best.glassnet", monitor="val_score", save_best_only=True)


@pytest.mark.parametrize("make,match", [
    (lambda: EarlyStopping(restore_best_weights="False"),
     "EarlyStopping restore_best_weights must be True or False, got 'False'"),
    (lambda: ModelCheckpoint("a.glassnet", save_best_only="no"),
     "ModelCheckpoint save_best_only must be True or False, got 'no'"),
], ids=["restore_best_weights", "save_best_only"])
def test_callback_flags_must_be_true_or_false(make, match):
    """bool("False") is True: the string turned the option on, silently."""
    with pytest.raises(ConfigError, match=match):
        make()


def test_callback_options_after_the_first_are_keyword_only():
    """Keras' positional ModelCheckpoint(filepath, monitor, verbose) made verbose=1 its
    save_best_only; the first argument (a monitor, a file name) stays positional."""
    from glassnet.training import CSVLogger, ReduceLROnPlateau

    for make in (lambda: ModelCheckpoint("a.glassnet", "val_loss", 1),
                 lambda: EarlyStopping("val_loss", 0.0, 5), lambda: ReduceLROnPlateau("loss", 0.5),
                 lambda: CSVLogger("log.csv", ";")):
        with pytest.raises(TypeError, match="positional argument"):
            make()
    assert ModelCheckpoint("a.glassnet").path == "a.glassnet"
    assert EarlyStopping("loss").tracker.monitor == "loss"


def test_a_monitor_that_is_not_a_name_is_refused():
    with pytest.raises(ConfigError, match="monitor must be the name of a logged quantity"):
        EarlyStopping(None)


def test_after_the_nan_guard_a_later_fit_restarts_the_schedule_from_its_base(rng):
    x, y = _data(rng)
    model = _model()
    model.optimizer.lr = 0.1
    step = schedules.StepDecay(every=1, factor=0.5)
    with np.errstate(all="ignore"), pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=6, batch_size=10, verbose=0, lr_schedule=step, callbacks=[PoisonAt(3)])
    again = model.fit(x, y, epochs=2, batch_size=10, verbose=0, lr_schedule=step)
    assert again["lr"] == [0.1, 0.05]


def test_nan_guard_on_initial_weights_that_give_nan_says_so_without_numpy_warnings(rng):
    x, y = _data(rng)
    model = _model()
    model.layers[0].params["W"][0, 0] = np.inf  # inf * 0 and inf - inf: NaN from the start
    initial = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning from NumPy would fail the test
        with pytest.raises(NonFiniteLossError) as info:
            model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert info.value.epoch == 1 and info.value.batch == 1 and info.value.kept_epoch == 0
    assert "keeps the initial weights, which already give a non-finite loss" in str(info.value)
    for key, value in initial.items():
        np.testing.assert_array_equal(model.get_weights()[key], value)


def test_nan_guard_on_a_resumed_run_names_the_weights_it_resumed_from(rng):
    x, y = _data(rng)
    model = _model()
    model.layers[0].params["W"][0, 0] = np.inf
    with pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, epochs=4, batch_size=8, verbose=0, initial_epoch=2)
    assert info.value.epoch == 3 and info.value.kept_epoch == 2
    assert "keeps the weights from the end of epoch 2, the resumed ones" in str(info.value)


@pytest.mark.parametrize("name", ["cosine", "onecycle"])
def test_a_schedule_named_in_fit_spans_that_fits_epochs(rng, name):
    x, y = _data(rng)
    model = _model()
    history = model.fit(x, y, epochs=4, batch_size=60, verbose=0, lr_schedule=name)
    expected = schedules.get(name, epochs=4)
    assert history["lr"] == [expected(e, 0.01) for e in range(4)]


def test_no_callbacks_may_be_none(rng):
    x, y = _data(rng)
    assert len(_model().fit(x, y, epochs=2, verbose=0, callbacks=None)["loss"]) == 2


@pytest.mark.parametrize("kwargs,message", [
    ({"callbacks": [print]}, "callbacks must be glassnet.training.Callback objects, got <built-in"),
    ({"callbacks": [EarlyStopping, None]}, "callbacks must be glassnet.training.Callback objects"),
    ({"callbacks": EarlyStopping("loss")}, r"callbacks must be a list of callbacks; write "
                                           r"callbacks=\[EarlyStopping\(\.\.\.\)\]"),
    ({"validation_data": "val"}, r"validation_data must be a pair \(x_val, y_val\), got str"),
    ({"validation_data": (1, 2, 3)}, "validation_data must be a pair .*, got tuple of 3"),
])
def test_bad_callbacks_and_validation_data_are_named(rng, kwargs, message):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match=message):
        _model().fit(x, y, epochs=1, verbose=0, **kwargs)


def test_a_dataset_as_validation_data_is_told_to_give_its_arrays(rng):
    x, y = _data(rng)
    val = Dataset(x[:20], y[:20], ["a", "b", "c"])
    for given in (val, (val, None), [val.x, val]):
        with pytest.raises(ConfigError, match=r"write validation_data=\(val\.x, val\.y\)$"):
            _model().fit(x, y, epochs=1, verbose=0, validation_data=given)


# -- what a Keras user expects --------------------------------------------------------------
def test_patience_running_out_on_the_last_epoch_is_not_an_early_stop(rng):
    stop = EarlyStopping("score", patience=2, mode="min")
    _, history, _ = _fit_scripted(rng, [1, 2, 3], stop)  # no better score in epochs 2 and 3
    assert len(history) == 3 and stop.stopped_epoch is None and stop.wait == 2


def test_an_early_stopping_given_to_a_second_fit_starts_afresh(rng):
    """As in Keras: its best, count and stop of the first fit do not carry over, so a second
    fit whose scores are all worse than the first fit's best still trains while they improve."""
    stop = EarlyStopping("score", patience=1, mode="min")
    _, history, _ = _fit_scripted(rng, [1, 2, 3], stop)
    assert len(history) == 2 and stop.stopped_epoch == 1
    _, history, _ = _fit_scripted(rng, [5, 4, 3, 3], stop)
    assert len(history) == 4 and stop.stopped_epoch is None
    assert stop.best == 3 and stop.best_epoch == 2 and stop.wait == 1


def test_values_a_callback_logs_are_recorded_in_history(rng):
    _, history, _ = _fit_scripted(rng, [0.5, 0.25, 0.125])
    assert history["score"] == [0.5, 0.25, 0.125] and history["epoch"] == [0, 1, 2]
    assert "epoch" in history and "score" in history


def test_a_fit_that_does_not_continue_the_history_starts_a_new_one(rng):
    x, y = _data(rng)
    model = _model()
    first = model.fit(x, y, epochs=3, verbose=0)
    again = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)  # a resume: continues
    assert again is first and again["epoch"] == [0, 1, 2, 3, 4]
    redo = model.fit(x, y, epochs=4, initial_epoch=2, verbose=0)  # not right after epoch 4
    assert redo is not first and redo["epoch"] == [2, 3]
    gap = model.fit(x, y, epochs=7, initial_epoch=5, verbose=0)  # epoch 4 never trained after [2, 3]
    assert gap is not redo and gap["epoch"] == [5, 6]


def test_a_fit_after_one_a_callback_stopped_trains_all_its_epochs(rng):
    x, y = _data(rng)
    model = _model()
    assert len(model.fit(x, y, epochs=5, verbose=0, callbacks=[StopAfter(0)])) == 1
    assert model.stop_training
    assert len(model.fit(x, y, epochs=3, verbose=0)) == 3


def _order_trained_on(x, y, epochs, seed=0, **fit):
    """The samples of each epoch's batches in the order ``fit`` trained on them, by the sample
    number ``x[:, 0] * len(x)``."""
    model = _model(seed=seed)
    step, seen = model.train_step, []

    def recording(xb, yb, **kwargs):
        seen.append(np.rint(xb[:, 0] * len(x)).astype(int))
        return step(xb, yb, **kwargs)

    model.train_step = recording  # (one thread: fit calls the model's train_step)
    model.fit(x, y, epochs=epochs, verbose=0, **fit)
    per_epoch = len(seen) // epochs
    return [np.concatenate(seen[e * per_epoch:(e + 1) * per_epoch]) for e in range(epochs)]


def test_shuffle_draws_each_epochs_order_from_the_models_seed_and_false_keeps_the_data_order(rng):
    x, y = _data(rng, n=40)
    x[:, 0] = np.arange(40) / 40  # each sample's number
    for epoch in _order_trained_on(x, y, 2, batch_size=16, shuffle=False):
        np.testing.assert_array_equal(epoch, np.arange(40))
    first, second = _order_trained_on(x, y, 2, batch_size=16)
    for epoch in (first, second):  # every sample once an epoch, in a new order each epoch
        np.testing.assert_array_equal(np.sort(epoch), np.arange(40))
    assert not np.array_equal(first, np.arange(40)) and not np.array_equal(first, second)
    again = _order_trained_on(x, y, 2, batch_size=16)
    np.testing.assert_array_equal(np.concatenate(again), np.concatenate([first, second]))
    assert not np.array_equal(_order_trained_on(x, y, 1, seed=1, batch_size=16)[0], first)


@pytest.mark.parametrize("bad", [-2, 2.5, True])
def test_initial_epoch_must_be_an_integer_from_0(rng, bad):
    x, y = _data(rng)
    with pytest.raises(ConfigError, match=f"initial_epoch must be an integer >= 0, got {bad!r}"):
        _model().fit(x, y, epochs=3, initial_epoch=bad, verbose=0)


def test_nothing_to_train_says_so(rng, capsys):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=5, initial_epoch=5, verbose=2)
    assert len(history) == 0
    assert capsys.readouterr().err == "trained 0 epochs: initial_epoch 5 is not below epochs 5\n"


@pytest.mark.parametrize("schedule", [None, "cosine", "onecycle"])
def test_epochs_0_trains_nothing_as_in_keras(rng, capsys, schedule):
    x, y = _data(rng)
    model = _model()
    before = model.get_weights()
    assert len(model.fit(x, y, epochs=0, verbose=2, lr_schedule=schedule)) == 0
    assert capsys.readouterr().err == "trained 0 epochs: initial_epoch 0 is not below epochs 0\n"
    assert all(np.array_equal(before[k], w) for k, w in model.get_weights().items())
    model.optimizer.lr = 0.1
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, lr_schedule=schedules.StepDecay(1, 0.5))
    summary, lr = dict(model.training_summary), model.optimizer.lr
    model.fit(x, y, epochs=0, verbose=0)
    # nothing trained, nothing changed: a model saved next does not read as untrained
    assert model.training_summary == summary and summary["epochs"] == 2 and model.optimizer.lr == lr == 0.05
    with pytest.raises(ConfigError, match="epochs must be an integer >= 0, got -1"):
        model.fit(x, y, epochs=-1, verbose=0)


def test_an_early_stop_is_named_in_the_last_progress_line(rng, capsys):
    model = _model()
    x, y = _data(rng)
    stop = EarlyStopping("score", patience=1, mode="min")
    model.fit(x, y, epochs=6, batch_size=16, verbose=2,
              callbacks=[_Scripted("score", [1, 2, 3, 4, 5, 6]), stop])
    assert ", stopped early by a callback after epoch 2 of 6 - " in capsys.readouterr().err


def test_nan_in_the_data_is_named_before_training(rng):
    x, y = _data(rng)
    x[3, 1] = np.nan
    model = _model()
    with pytest.raises(ConfigError, match="x holds NaN or infinite values; clean the data first"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match="validation_data's x holds NaN"):
        model.fit(x[4:], y[4:], epochs=1, verbose=0, validation_data=(x[:4], y[:4]))


def test_bad_validation_data_is_named_as_the_validation_data(rng):
    """The checks of x and y said "the model expects inputs of shape (N, 4), got (5, 3)" or
    "x has 5 samples but y ...", as if fit's own x and y were wrong."""
    x, y = _data(rng)
    model = _model()
    with pytest.raises(ShapeError, match=r"^validation_data \(x_val, y_val\): the model expects inputs "
                                         r"of shape \(N, 4\), got \(5, 3\)"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:5, :3], y[:5]))
    with pytest.raises(ShapeError, match=r"^validation_data \(x_val, y_val\): x has 5 samples but y "
                                         r"has shape \(4,\)"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:5], y[:4]))


def test_monitor_mistakes_are_named_before_the_first_epoch(rng):
    x, y = _data(rng)
    model = _model()
    weights = model.get_weights()
    with pytest.raises(ConfigError, match=r"monitors 'val_loss', which training does not log \(validation "
                                          r"needs validation_split or validation_data\)"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])
    for key, value in weights.items():  # refused before any update
        np.testing.assert_array_equal(model.get_weights()[key], value)
    with pytest.raises(ConfigError, match=r"monitors 'val_acc', .*\(did you mean 'val_accuracy'\?\)"):
        model.fit(x, y, epochs=2, verbose=0, validation_split=0.2, callbacks=[EarlyStopping("val_acc")])
    with pytest.raises(ConfigError, match=r"uses val_loss, which training does not log"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint("{val_loss:.2f}.glassnet")])


def test_keras_hooks_glassnet_never_calls_are_named(rng):
    class KerasStyle(Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    x, y = _data(rng)
    with pytest.warns(GlassnetWarning, match="KerasStyle defines on_train_batch_end, which glassnet never "
                                             "calls; its hooks are on_train_begin, on_epoch_begin") as caught:
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[KerasStyle()])
    assert caught[0].filename == __file__  # the user's fit line, not glassnet's model.py


def test_keras_style_arguments_that_mean_the_same_are_accepted(rng):
    x, y = _data(rng)
    model = Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)], input_shape=(4,), seed=0)
    model.compile("categorical_crossentropy", "sgd", metrics=None)  # Keras' default
    assert model.metrics == []

    class BatchLogs(Callback):
        def on_batch_end(self, batch, logs):
            self.keys = sorted(logs)

    batch_logs = BatchLogs()
    history = model.fit(x, y, epochs=1, verbose=0, validation_split=np.float32(0.2),
                        callbacks=[EarlyStopping(patience=np.int64(2)), batch_logs])
    assert batch_logs.keys == ["loss"] and "accuracy" not in history  # the loss alone
    assert model.predict_classes(x[0]) == model.predict_classes(x[:1])[0]  # one sample, one index
    with pytest.raises(ConfigError, match="subclass Schedule and define __call__"):
        model.fit(x, y, epochs=1, verbose=0, lr_schedule=lambda epoch, lr: lr)
    with pytest.raises(ConfigError, match="the model is not built yet"):
        Sequential([layers.Dense(2)]).summary()


@pytest.mark.parametrize("make, message", [
    (lambda: schedules.OneCycle(10, div_factor=0),
     r"one-cycle div_factor must be a finite number > 0, got 0"),
    (lambda: schedules.OneCycle(10, final_div_factor=-1), r"final_div_factor must be a finite number > 0"),
    (lambda: schedules.OneCycle(10, pct_start="a"),
     r"one-cycle pct_start must be a number in \(0, 1\), got 'a'"),
    (lambda: schedules.OneCycle(0), r"one-cycle schedule epochs must be a positive integer, got 0"),
    (lambda: schedules.CosineDecay(10, min_lr="a"), r"cosine schedule min_lr must be a finite number >= 0"),
    (lambda: schedules.CosineDecay(10, min_lr=-0.1), r"min_lr must be a finite number >= 0, got -0.1"),
    (lambda: schedules.CosineDecay(True), r"cosine schedule epochs must be a positive integer, got True"),
    (lambda: schedules.ExponentialDecay(float("nan")),
     r"exponential decay rate must be a finite number >= 0"),
    (lambda: schedules.StepDecay(factor=True), r"decay factor must be a number in \(0, 1\], got True"),
    (lambda: schedules.StepDecay(every=0), r"step decay 'every' must be a positive integer, got 0"),
])
def test_schedule_arguments_that_cannot_work_are_clear_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_a_layer_checks_its_input_sizes_and_batch_norm_its_batch(rng):
    from glassnet.errors import ShapeError
    from glassnet.gradcheck import rel_error

    with pytest.raises(ShapeError, match=r"Dense needs input sizes > 0 \(without the batch axis\), "
                                         r"got \(0,\)"):
        layers.Dense(3, kernel_initializer="he_normal").build((0,), rng, np.float32)
    norm = layers.BatchNorm()
    norm.build((4,), rng, np.float64)
    with pytest.raises(ShapeError, match=r"BatchNorm was built for inputs \(N, 4\), got \(3, 5\)"):
        norm.forward(rng.standard_normal((3, 5)), training=True)
    with pytest.raises(ShapeError, match=r"rel_error compares arrays of one shape, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


class Note(Callback):
    def on_epoch_end(self, epoch, logs):
        logs["note"] = f"epoch {epoch} looked fine"
        logs["val_f1"] = 0.5


def test_a_callback_may_log_text_for_other_callbacks(rng):
    """fit crashed (ValueError: could not convert string to float) when a callback logged text."""
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[Note()])
    assert "note" not in history and history["val_f1"] == [0.5, 0.5]


class ArrayScores(Callback):
    def on_epoch_end(self, epoch, logs):
        logs["val_f1"] = np.mean(np.array([1.0, 0.0]), keepdims=True).reshape(())  # 0-d array
        logs["val_np"] = np.float32(0.25)
        logs["flag"] = np.bool_(True)


def test_numbers_a_callback_logs_as_one_value_arrays_are_recorded(rng):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=2, verbose=0, callbacks=[ArrayScores()])
    assert history["val_f1"] == [0.5, 0.5] and history["val_np"] == [0.25, 0.25]
    assert "flag" not in history


class OddValues(Callback):
    def on_epoch_end(self, epoch, logs):
        logs.update(complex_value=0.5 + 0.5j, numpy_complex=np.complex128(1), huge=10**400,
                    vector=np.array([0.5]), flag=np.array(True))


def test_values_a_callback_logs_that_are_not_real_numbers_are_passed_on_not_recorded(rng):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=1, verbose=2, callbacks=[OddValues()])
    assert not {"complex_value", "numpy_complex", "huge", "vector", "flag"} & set(history.history)


class TextInArrays(Callback):
    def on_epoch_end(self, epoch, logs):
        logs.update(phase=np.asarray("1e3"), flag=np.array(True, dtype=object), raw=np.array(b"2"))


def test_text_and_objects_in_arrays_are_not_recorded(rng):
    x, y = _data(rng)
    history = _model().fit(x, y, epochs=1, verbose=0, callbacks=[TextInArrays()])
    assert not {"phase", "flag", "raw"} & set(history.history)


# -- review fixes: schedules that cannot decay or do not span the fit, compile, labels -------
def test_a_min_lr_not_below_the_lr_is_refused_before_training(rng):
    """CosineDecay(3, min_lr=1.0) on lr 0.01 raised the lr 100-fold, called "decay"."""
    x, y = _data(rng)
    model = _model()
    weights = model.get_weights()
    for min_lr in (1.0, 0.01):
        with pytest.raises(ConfigError, match=r"min_lr=.* is not below the lr it decays from \(0.01\)"):
            model.fit(x, y, epochs=3, verbose=0, lr_schedule=schedules.CosineDecay(3, min_lr=min_lr))
    assert all(np.array_equal(weights[k], v) for k, v in model.get_weights().items())
    assert model.optimizer.lr == 0.01


def test_a_schedule_object_that_does_not_span_the_fit_is_warned_about(rng):
    """CosineDecay(2) on a 5-epoch fit trained epochs 2-4 at lr 0 without a word."""
    x, y = _data(rng)
    for schedule in (schedules.CosineDecay(2), schedules.OneCycle(8)):
        with pytest.warns(GlassnetWarning, match=f"spans {schedule.epochs} epochs but fit runs to epoch 5"):
            _model().fit(x, y, epochs=5, verbose=0, lr_schedule=schedule)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(x, y, epochs=5, verbose=0, lr_schedule=schedules.CosineDecay(5))
        _model().fit(x, y, epochs=2, verbose=0, lr_schedule="cosine")
        # a fit that trains no epoch (to end a finished run's callbacks): no span to warn about
        _model().fit(x, y, epochs=5, initial_epoch=5, verbose=0, lr_schedule=schedules.CosineDecay(2))


def test_a_schedule_of_the_users_own_is_not_warned_about_and_an_lr_of_0_is_named(rng):
    """A warm-up schedule with an `epochs` attribute got the span warning, with advice
    (lr_schedule='warmup') that failed; an lr of 0 got a min_lr error one could not act on."""

    class Warmup(schedules.Schedule):
        name = "warmup"

        def __init__(self, epochs=2):
            self.epochs = epochs

        def __call__(self, t, base_lr):
            return base_lr * min(1, (t + 1) / self.epochs)

    x, y = _data(rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _model().fit(x, y, epochs=4, verbose=0, lr_schedule=Warmup(2))
    model = _model()
    model.optimizer.lr = 0
    with pytest.raises(ConfigError, match="the cosine schedule scales the lr, which is 0: give the "
                                          "optimizer an lr > 0"):
        model.fit(x, y, epochs=2, verbose=0, lr_schedule="cosine")


def test_a_refused_compile_changes_nothing(rng):
    """A compile refused for its metric had already given the model a new optimizer: another
    model could then take over (and reset) the trained one."""
    x, y = _data(rng)
    first = _model(optimizer="adam")
    trained = first.optimizer
    first.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['f1'\]"):
        first.compile("categorical_crossentropy", "sgd", metrics=["f1"])
    assert first.optimizer is trained and trained.steps > 0
    with pytest.raises(ConfigError, match="already trains another model"):
        _model().compile("categorical_crossentropy", trained)


def test_compiling_with_a_new_optimizer_frees_the_old_one(rng):
    x, y = _data(rng)
    first = _model(optimizer="adam")
    old = first.optimizer
    first.fit(x, y, epochs=1, verbose=0)
    first.compile("categorical_crossentropy", "sgd")
    second = _model()
    second.compile("categorical_crossentropy", old)  # was "already trains another model"
    assert second.optimizer is old and old.steps == 0 and old.slots == {}  # first's moments stay behind
    with pytest.raises(ConfigError, match="already trains another model"):
        first.compile("categorical_crossentropy", old)


def test_acc_is_accuracy_and_fit_without_labels_says_so(rng):
    x, y = _data(rng, n=12)
    model = _model()
    model.compile("categorical_crossentropy", "sgd", metrics=["acc"])
    assert model.metrics == ["accuracy"]
    with pytest.raises(ConfigError, match="fit needs labels y"):
        model.fit(x, None, verbose=0)
    for call in ("fit", "evaluate", "train_on_batch", "test_on_batch"):
        with pytest.raises(ConfigError, match=rf"^{call} needs labels y: {call}\(x, y\)"):
            getattr(model, call)(x)  # a TypeError for the missing argument before


def test_a_dataset_given_whole_is_named_whatever_the_call():
    """``fit(data["train"])``: the hint to give its arrays, not "missing argument y"."""
    from glassnet.data.dataset import Dataset

    data = Dataset(np.zeros((4, 3), np.float32), np.array([0, 1, 0, 1]), ["a", "b"], "toy")
    model = Sequential([layers.Dense(1)], input_shape=(3,))
    model.compile("binary_crossentropy", "sgd")
    for call in (model.fit, model.evaluate, model.predict, model.train_on_batch, model.test_on_batch):
        with pytest.raises(ShapeError, match=r"give the arrays of a Dataset: fit\(data.x, data.y\)"):
            call(data)


def test_reset_goes_back_to_the_scheduled_base_lr_but_keeps_an_lr_set_since(rng):
    """``compile`` resets an optimizer moved to a new model: the lr a schedule left goes back
    to the base it scaled; an lr the user set after the scheduled fit stays (a mutant that
    always went back to the base passed every test)."""
    x, y = _data(rng)
    model = _model()
    model.fit(x, y, epochs=3, batch_size=20, verbose=0, lr_schedule=schedules.StepDecay(1, 0.5))
    optimizer = model.optimizer
    assert optimizer.lr == 0.0025  # the schedule's last lr
    optimizer.reset()
    assert optimizer.lr == 0.01  # the lr the schedule scaled
    model.fit(x, y, epochs=3, batch_size=20, verbose=0, lr_schedule=schedules.StepDecay(1, 0.5))
    optimizer.lr = 0.3  # the user's own, after the scheduled fit
    optimizer.reset()
    assert optimizer.lr == 0.3


def test_exponential_decay_steps_once_per_epoch_even_between_epochs():
    """Its formula is exp(-rate * floor(t)): any time inside an epoch (a call with the
    fractional time per-batch schedules get) has that epoch's rate, as ExponentialLR's."""
    ours = schedules.ExponentialDecay(rate=0.2)
    for t in (0.0, 0.5, 0.99):
        assert ours(t, 0.3) == 0.3
    assert math.isclose(ours(2.7, 0.3), 0.3 * math.exp(-0.4), rel_tol=1e-12)
