"""Training steps split over threads (glassnet.training.shards): the same step as unsplit."""

import contextlib
import multiprocessing
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from glassnet import Sequential, backend, layers, optimizers
from glassnet.errors import ConfigError, NonFiniteLossError
from glassnet.inference import inference_forward
from glassnet.training import Callback, shards
from glassnet.training.shards import ShardedStep, shard_count, shard_slices, uses_shards


def _conv_net(seed=0, dtype="float64", first=None, bias=True):
    """Every layer kind whose training step the shards must reproduce: a kernel-regularized
    Conv2D, BatchNorm (whole-batch statistics), pooling, Dropout (masks), Dense. (A bias
    before a BatchNorm has a zero gradient: only rounding noise, which adaptive optimizers
    blow up to steps of 1e-8; ``bias=False`` leaves those biases out.)"""
    stack = [] if first is None else [first]
    stack += [
        layers.Conv2D(4, 3, padding="same", kernel_regularizer=0.01, use_bias=bias), layers.BatchNorm(),
        layers.ReLU(), layers.MaxPool2D(2), layers.Dropout(0.3), layers.Flatten(),
        layers.Dense(6, activation="tanh", use_bias=bias), layers.BatchNorm(), layers.Dropout(0.2),
        layers.Dense(3),
    ]
    model = Sequential(stack, input_shape=(2, 6, 6), seed=seed, dtype=dtype)
    model.compile("categorical_crossentropy", "sgd", reg=0.003)
    return model


def _batch(rng, n):
    return rng.standard_normal((n, 2, 6, 6)), np.arange(n) % 3


def _step_results(model, step, x, y):
    loss, out = step(x, y)
    grads = {name: g.copy() for name, _, g in model.parameters()}
    params = {name: p.copy() for name, p, _ in model.parameters()}
    state = {f"{i}.{k}": v.copy() for i, layer in enumerate(model.layers) for k, v in layer.state.items()}
    return loss, out, grads, params, state


@pytest.mark.parametrize("threads, n", [(2, 40), (3, 50), (4, 70)])
def test_a_split_step_is_the_unsplit_step(rng, threads, n):
    """Loss, outputs, gradients (L2 included), the updated weights, BatchNorm's running
    statistics and Dropout's masks: all as one unsplit step, in float64 to rounding;
    with shards of unequal sizes (50 = 16 + 17 + 17)."""
    x, y = _batch(rng, n)
    assert shard_count(threads, n) == threads
    plain, split = _conv_net(), _conv_net()
    expected = _step_results(plain, plain.train_step, x, y)
    got = _step_results(split, ShardedStep(split, threads), x, y)
    assert got[0] == pytest.approx(expected[0], rel=1e-12)
    for want, have in zip(expected[1:], got[1:], strict=True):
        if isinstance(want, dict):
            assert want.keys() == have.keys()
            for key in want:
                np.testing.assert_allclose(have[key], want[key], rtol=1e-10, atol=1e-13, err_msg=key)
        else:
            np.testing.assert_allclose(have, want, rtol=1e-10, atol=1e-13)


def test_fit_on_threads_matches_one_thread_and_repeats_to_the_last_digit(rng):
    x, y = _batch(rng, 90)
    histories, weights = [], []
    for threads in (1, 2, 2):
        model = _conv_net(seed=3)
        histories.append(model.fit(x, y, epochs=3, batch_size=45, verbose=0, threads=threads).history)
        weights.append(model.get_weights())
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-10)
    assert histories[1] == histories[2]  # the same split, summed in the same order: identical
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(weights[2][key], weights[1][key])


def test_a_split_step_with_sample_weights_is_the_unsplit_step(rng):
    """Each shard weighs its own rows (class_weight): loss, outputs, gradients, weights and
    state as one unsplit weighted step; the weights really count (not the unweighted step)."""
    x, y = _batch(rng, 50)
    w = np.array([0.5, 3.0, 1.0])[y]
    plain, split, unweighted = _conv_net(), _conv_net(), _conv_net()
    expected = _step_results(plain, lambda x, y: plain.train_step(x, y, sample_weight=w), x, y)
    got = _step_results(split, lambda x, y: ShardedStep(split, 3)(x, y, sample_weight=w), x, y)
    assert got[0] == pytest.approx(expected[0], rel=1e-12)
    for key in expected[2]:
        np.testing.assert_allclose(got[2][key], expected[2][key], rtol=1e-10, atol=1e-13, err_msg=key)
    assert _step_results(unweighted, ShardedStep(unweighted, 3), x, y)[0] != pytest.approx(expected[0])


def test_fit_with_class_weights_on_threads_matches_one_thread(rng):
    x, y = _batch(rng, 90)
    histories, weights = [], []
    for threads in (1, 2):
        model = _conv_net(seed=3)
        histories.append(model.fit(x, y, epochs=2, batch_size=45, verbose=0, threads=threads,
                                   class_weight={0: 0.2, 2: 4.0}).history)
        weights.append(model.get_weights())
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-10)
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-9, atol=1e-12)


def test_a_batchnorm_that_is_the_first_trainable_layer_splits_too(rng):
    """Its backward returns before the cross-shard sum (no input gradient): every shard
    does the same, so no shard waits for the others in vain."""
    x, y = _batch(rng, 40)
    plain, split = _conv_net(first=layers.BatchNorm()), _conv_net(first=layers.BatchNorm())
    expected = _step_results(plain, plain.train_step, x, y)
    got = _step_results(split, ShardedStep(split, 2), x, y)
    for key in expected[2]:
        np.testing.assert_allclose(got[2][key], expected[2][key], rtol=1e-10, atol=1e-13)


def test_small_batches_and_one_thread_are_not_split(rng, monkeypatch):
    model = _conv_net()
    assert not uses_shards(model, 1) and uses_shards(model, 2)
    assert shard_count(4, 2 * shards.MIN_SHARD - 1) == 1
    assert shard_count(4, 3 * shards.MIN_SHARD) == 3
    assert shard_slices(10, 3) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    calls = []
    monkeypatch.setattr(model, "train_step", lambda x, y, start=0: calls.append(len(x)) or (0.0, None))
    ShardedStep(model, 4)(*_batch(rng, 2 * shards.MIN_SHARD - 1))
    assert calls == [2 * shards.MIN_SHARD - 1]


def test_a_failing_shard_raises_its_own_error_and_releases_the_others(rng):
    """Shard 1 fails before BatchNorm's cross-shard sum; shard 0 would wait there forever
    if the failure did not release it."""
    model = _conv_net()
    step = ShardedStep(model, 2)

    class ShardError(RuntimeError):
        pass

    def fail(x, training=False):
        raise ShardError("shard 1 failed")

    step.replicas_for(2)[1].layers[0].forward = fail
    done = []
    worker = threading.Thread(target=lambda: done.append(pytest.raises(ShardError, step, *_batch(rng, 40))),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and done, "the step hung"


def test_the_nan_guard_works_on_a_split_step(rng):
    x, y = _batch(rng, 64)
    model = _conv_net(dtype="float32")
    model.optimizer.lr = 1e30
    with pytest.raises(NonFiniteLossError):
        model.fit(x, y, epochs=5, batch_size=64, verbose=0, threads=2)
    assert all(np.isfinite(w).all() for w in model.get_weights().values())


def test_fit_takes_its_threads_from_the_backend_unless_given(rng, monkeypatch):
    made = []
    real = ShardedStep.__init__
    monkeypatch.setattr(ShardedStep, "__init__", lambda self, m, t: made.append(t) or real(self, m, t))
    x, y = _batch(rng, 40)
    model = _conv_net()
    model.fit(x, y, epochs=1, batch_size=40, verbose=0)
    assert made == []  # default 1: unsplit
    with backend.using_threads(3):
        assert backend.get_threads() == 3
        model.fit(x, y, epochs=1, batch_size=40, verbose=0)
        model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2)
    assert backend.get_threads() == 1 and made == [3, 2]


def test_nested_using_threads_gives_the_outer_setting_back():
    with backend.using_threads(3):
        with backend.using_threads(2):
            assert backend.get_threads() == 2
        assert backend.get_threads() == 3
    assert backend.get_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_bad_thread_counts_are_refused(bad, rng):
    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        backend.set_threads(bad)
    with pytest.raises(ConfigError, match="threads"):
        _conv_net().fit(*_batch(rng, 40), verbose=0, threads=bad)


def _train_in_child(queue):
    rng = np.random.default_rng(0)
    model = _conv_net()
    model.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    queue.put("trained")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_process_gets_threads_of_its_own(rng):
    """The shards' thread pool is kept for the process; a forked child has none of its
    threads, so it must not inherit the pool (it would wait for them forever)."""
    _conv_net().fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    assert shards._pools
    assert _in_forked_child(_train_in_child) == "trained"


def _in_forked_child(target, *args) -> str:
    """What ``target(*args, queue)`` puts in its queue, run in a forked child (killed if it
    hangs: then the child's exit code fails the test)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=target, args=(*args, queue))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0
    return queue.get(timeout=5)


def test_predict_and_evaluate_split_over_threads_give_the_unsplit_results(rng):
    x, y = _batch(rng, 70)
    model = _conv_net()
    model.fit(x, y, epochs=2, batch_size=35, verbose=0)  # running statistics that are not 0/1
    expected = model.predict(x, batch_size=64), model.evaluate(x, y, batch_size=64)
    with backend.using_threads(3):
        got = model.predict(x, batch_size=64), model.evaluate(x, y, batch_size=64)
        assert shard_count(3, 64) == 3  # the first batch is split in three, the last (6) is not
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12)
    assert got[1] == pytest.approx(expected[1], rel=1e-12)


def test_inference_on_threads_drops_the_last_training_passs_caches_too(rng):
    """The replicas run the batch, not the model's own layers: their caches, from the last
    training step, must still go, or a backward after predict uses that stale batch."""
    x, y = _batch(rng, 40)
    model = _conv_net()
    model.train_step(x, y)
    with backend.using_threads(2):
        model.predict(x, batch_size=40)
    assert all(layer._cache is None for layer in model.layers)


def test_inference_on_threads_really_splits(rng, monkeypatch):
    seen = []
    model = _conv_net()
    with backend.using_threads(2):
        forward = inference_forward(model)
    for replica in forward.replicas_for(2):
        real = replica.forward
        monkeypatch.setattr(replica, "forward", lambda x, real=real: seen.append(len(x)) or real(x))
    forward(_batch(rng, 40)[0])
    assert sorted(seen) == [20, 20]


def test_replicas_and_worker_threads_only_as_many_as_a_batch_has_shards(rng):
    """A mistyped --threads 100000 copied the model 100000 times (16 GB) and started as many
    threads before the first step."""
    x, y = _batch(rng, 40)  # two shards of MIN_SHARD
    model = _conv_net()
    threads_before = threading.active_count()
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=100_000)
    model.predict(x, batch_size=40)
    assert len(model._shards["ShardedStep"].replicas) == 2
    assert threading.active_count() - threads_before <= 1  # one worker beside this thread
    from glassnet.training import shards

    assert shards._pools["shards"].count < 100  # as many as the most shards any step had
    with backend.using_threads(100_000):
        assert len(inference_forward(model).replicas) == 0  # made when a batch needs them
        model.predict(x, batch_size=40)
    assert len(model._shards["ShardedForward"].replicas) == 2


def test_replicas_are_kept_between_fits_and_made_again_when_the_model_changes(rng):
    x, y = _batch(rng, 40)
    model = _conv_net()
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2)
    step = model._shards["ShardedStep"]
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2)
    assert model._shards["ShardedStep"] is step
    model.layers[4].rate = 0.6  # a setting the replicas copied
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2)
    assert model._shards["ShardedStep"] is not step
    assert model._shards["ShardedStep"].replicas[1].layers[4].rate == 0.6
    step = model._shards["ShardedStep"]
    model.compile("categorical_crossentropy", "adam")  # a new loss object
    model.fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2)
    assert model._shards["ShardedStep"] is not step


def test_a_copy_of_a_model_starts_without_its_replicas(rng):
    import copy

    model = _conv_net()
    model.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    assert model._shards
    for twin in (copy.deepcopy(model), copy.copy(model)):
        assert twin._shards == {}
        twin.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optimizers.AdaGrad(0.05, lr_decay=0.01),
    lambda: optimizers.RMSProp(0.01, momentum=0.5, centered=True),
    lambda: optimizers.Adam(0.01, weight_decay=1e-3), lambda: optimizers.AdamW(0.01)])
def test_every_optimizer_updates_in_parts_as_in_one_step(rng, optimizer):
    """After the first step (whole: SGD's momentum starts as the first gradient) the update
    runs in one part per thread; the weights stay those of unsplit training."""
    x, y = _batch(rng, 96)
    weights = []
    for threads in (1, 3):
        model = _conv_net(bias=False)
        model.compile("categorical_crossentropy", optimizer())
        model.fit(x, y, epochs=2, batch_size=48, verbose=0, threads=threads)
        weights.append(model.get_weights())
        assert model.optimizer.steps == 4
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-8, atol=1e-11, err_msg=key)


def test_the_update_is_split_only_when_every_slot_exists():
    opt = optimizers.SGD(0.1, momentum=0.9)
    p, g = np.ones(5), np.full(5, 0.5)
    assert not opt.can_step_in_parts([("w", p, g)])
    opt.step([("w", p, g)])
    assert opt.can_step_in_parts([("w", p, g)])
    assert not opt.can_step_in_parts([("w", p, g), ("other", p, g)])
    assert not opt.can_step_in_parts([("w", np.ones((5, 2))[:, 0], g)])  # not contiguous
    expected = np.ones(5)
    twin = optimizers.SGD(0.1, momentum=0.9)
    twin.step([("w", expected, g)])
    twin.step([("w", expected, g)])
    opt.start_step()
    for part in range(3):
        opt.step_part([("w", p, g)], part, 3)
    np.testing.assert_array_equal(p, expected)


def test_the_command_line_trains_on_every_core_unless_told(monkeypatch):
    import argparse

    from glassnet.cli import runtime

    monkeypatch.setattr(backend, "available_cores", lambda: 6)
    seen = []
    for threads in (None, 2):
        args = argparse.Namespace(threads=threads, device="cpu")
        with runtime.apply_runtime_options(args):
            seen.append(backend.get_threads())
        if threads:  # the BLAS limit is kept for the command's process: not for the tests'
            args._thread_limit.restore_original_limits()
    assert seen == [6, 2] and backend.get_threads() == 1


# -- what a review found: concurrency, forks, memory, layers and optimizers of your own -------
def _dense_bn(seed):
    model = Sequential([layers.Dense(16), layers.BatchNorm(), layers.ReLU(), layers.Dense(3)],
                       input_shape=(8,), seed=seed)
    model.compile("categorical_crossentropy", "sgd")
    return model


def test_two_models_trained_at_once_from_two_threads_do_not_wait_for_each_other(rng, monkeypatch):
    """Both use the one pool of 2 workers (3 threads each). Without a lock per step, the
    calls a1, b1, a2, b2 reach the queue interleaved (forced here), the workers take a1 and
    b1, and each waits at its BatchNorm's barrier for a shard queued behind the other."""
    workers = shards._workers(2)
    gate, submit = threading.Barrier(2, timeout=2), workers.submit

    def interleaved_submit(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()
        return submit(*args, **kwargs)

    monkeypatch.setattr(workers, "submit", interleaved_submit)
    x, y = rng.standard_normal((96, 8)), np.arange(96) % 3
    done = []
    workers = [threading.Thread(daemon=True, target=lambda s=seed: done.append(
        _dense_bn(s).fit(x, y, epochs=1, batch_size=96, verbose=0, threads=3))) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(done) == 2, "the two fits waited for each other forever"


def _fit_again_in_child(model, queue):
    model.fit(*_batch(np.random.default_rng(1), 40), epochs=1, batch_size=40, verbose=0, threads=2)
    queue.put("trained")


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_can_train_the_model_its_parent_trained_on_threads(rng):
    model = _conv_net()
    model.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    assert _in_forked_child(_fit_again_in_child, model) == "trained"


def test_a_model_trained_on_threads_is_freed_as_soon_as_it_is_dropped(rng):
    """No reference cycle through its replicas: a search's hundred trials must not wait for
    the cycle collector to give their memory back."""
    import gc
    import weakref

    model = _conv_net()
    model.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    with backend.using_threads(2):
        model.predict(_batch(rng, 40)[0])
    assert set(model._shards) == {"ShardedStep", "ShardedForward"}
    gone = weakref.ref(model)
    gc.disable()
    try:
        del model
        assert gone() is None
    finally:
        gc.enable()


@pytest.fixture
def own_layers():
    """Two layer classes of a user's own, unregistered again afterwards (the tests that
    every layer class has a gradient check and an exporter see the registry)."""
    class ShardTestNoise(layers.Layer):
        """A random layer of a user's own (its generator named ``gen``, normal noise): not
        declared shardable, so never split."""

        stochastic = True

        def build(self, input_shape, rng, dtype):
            out = super().build(input_shape, rng, dtype)
            self.gen = layers.base.child_generator(rng)
            return out

        def forward(self, x, training=False):
            if training:
                self._remember()
                return x + 0.1 * self.gen.standard_normal(x.shape)
            return x

        def backward(self, dy):
            return dy


    class ShardTestDense(layers.Layer):
        """A user's dense layer whose backward assigns a gradient that is not contiguous."""

        shardable = True

        def compute_output_shape(self, input_shape):
            return (3,)

        def build(self, input_shape, rng, dtype):
            out = super().build(input_shape, rng, dtype)
            self.params = {"W": rng.standard_normal((input_shape[0], 3)).astype(dtype)}
            self._init_grads()
            return out

        def forward(self, x, training=False):
            if training:
                self._remember(x=x)
            return x @ self.params["W"]

        def backward(self, dy):
            self.grads["W"] = (dy.T @ self._recall()["x"]).T  # Fortran order
            return dy @ self.params["W"].T

    yield ShardTestNoise, ShardTestDense
    for cls in (ShardTestNoise, ShardTestDense):
        layers.LAYER_CLASSES.pop(cls.__name__, None)


@pytest.mark.parametrize("method", ["build", "forward", "backward"])
def test_a_subclass_that_overrides_build_forward_or_backward_must_say_it_is_shardable_again(method):
    """New math in any of the three (build may set up another generator or state) is not
    known to allow a split batch; overriding only something else keeps the parent's word."""
    classes = {
        "new": type(f"ShardTestOwn_{method}", (layers.Dropout,), {method: getattr(layers.Dropout, method)}),
        "declared": type(f"ShardTestDeclared_{method}", (layers.Dropout,),
                         {method: getattr(layers.Dropout, method), "shardable": True}),
        "config only": type(f"ShardTestConfig_{method}", (layers.Dropout,),
                            {"get_config": layers.Dropout.get_config}),
    }
    try:
        assert {key: cls.shardable for key, cls in classes.items()} == {
            "new": False, "declared": True, "config only": True}
    finally:
        for cls in classes.values():
            layers.LAYER_CLASSES.pop(cls.__name__, None)


def test_layers_of_your_own_are_split_only_when_they_say_so(rng, own_layers):
    ShardTestNoise, ShardTestDense = own_layers
    x, y = rng.standard_normal((64, 8)), np.arange(64) % 3
    noisy = Sequential([layers.Dense(16, activation="relu"), ShardTestNoise(), layers.Dense(3)],
                       input_shape=(8,))
    noisy.compile("categorical_crossentropy", "sgd")
    assert not uses_shards(noisy, 2)
    noisy.fit(x, y, epochs=1, batch_size=64, verbose=0, threads=2)  # unsplit, and it trains
    noisy.predict(x)
    assert noisy._shards == {}
    grads = []
    for threads in (1, 2):
        model = Sequential([ShardTestDense()], input_shape=(8,), seed=0, dtype="float64")
        model.compile("categorical_crossentropy", "sgd")
        assert uses_shards(model, threads) == (threads == 2)
        model.fit(x, y, epochs=1, batch_size=64, verbose=0, threads=threads)
        grads.append(model.layers[0].grads["W"].copy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)  # no shard's gradient lost


def test_a_callable_initializer_or_a_custom_optimizer_still_trains_on_threads(rng):
    class ClippedSGD(optimizers.SGD):  # not element-wise: it scales by the whole gradient's norm
        elementwise = False

        def update(self, name, p, g, slots):
            super().update(name, p, g / max(1.0, float(np.linalg.norm(g))), slots)

    x, y = _batch(rng, 64)
    model = Sequential([layers.Flatten(), layers.Dense(5, kernel_initializer=lambda s, i, o, r: r.normal(
        0, 0.1, s))], input_shape=(2, 6, 6), seed=0, dtype="float64")
    model.compile("categorical_crossentropy", ClippedSGD(0.1))
    assert not model.optimizer.can_step_in_parts(list(model.parameters()))
    model.fit(x, y % 5, epochs=2, batch_size=64, verbose=0, threads=2)
    assert model._shards  # split: the initializer did not stop it
    twin = Sequential([layers.Flatten(), layers.Dense(5, kernel_initializer=lambda s, i, o, r: r.normal(
        0, 0.1, s))], input_shape=(2, 6, 6), seed=0, dtype="float64")
    twin.compile("categorical_crossentropy", ClippedSGD(0.1))
    twin.fit(x, y % 5, epochs=2, batch_size=64, verbose=0, threads=1)
    for key, value in twin.get_weights().items():
        np.testing.assert_allclose(model.get_weights()[key], value, rtol=1e-10)


def test_inference_replicas_share_every_array_of_the_model(rng):
    model = _conv_net()
    model.fit(*_batch(rng, 40), epochs=1, batch_size=40, verbose=0, threads=2)
    with backend.using_threads(2):
        forward = inference_forward(model)
    for replica in forward.replicas:
        for mine, theirs in zip(model.layers, replica.layers, strict=True):
            for name in ("params", "grads", "state"):
                assert all(getattr(theirs, name)[k] is v for k, v in getattr(mine, name).items())


CTRL_C_DURING_A_SHARD = """
import signal, threading, time
# A process started in the background (a CI job run with "&") inherits an ignored SIGINT, and
# Python then installs no KeyboardInterrupt handler: this test is about that handler's Ctrl-C.
signal.signal(signal.SIGINT, signal.default_int_handler)
import numpy as np
from glassnet import Sequential, layers
from glassnet.training import shards

x, y = np.random.default_rng(0).standard_normal((64, 8)), np.arange(64) % 3
model = Sequential([layers.Dense(16, activation="relu"), layers.Dense(3)], input_shape=(8,))
model.compile("categorical_crossentropy", "sgd")
model.fit(x, y, epochs=1, batch_size=64, verbose=0, threads=2)
entered, ended, sent = threading.Event(), threading.Event(), threading.Event()
real = shards.ShardedStep._run

def interrupt():
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    sent.set()

def slow_run(replica, *args):
    if threading.current_thread() is threading.main_thread():
        return real(replica, *args)
    entered.set()
    threading.Timer(0.3, interrupt).start()
    sent.wait(30)  # the shard runs until the Ctrl-C has been sent
    time.sleep(0.5)
    try:
        return real(replica, *args)
    finally:
        ended.set()

shards.ShardedStep._run = staticmethod(slow_run)
try:
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, threads=2)
    print("no KeyboardInterrupt")
except KeyboardInterrupt:
    print("KeyboardInterrupt")
print("split", entered.is_set(), "ended", ended.is_set())
"""


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs POSIX signals")
def test_ctrl_c_while_a_shard_runs_stops_only_after_every_shard_has_ended():
    """The Ctrl-C comes while the worker's shard runs and the main thread, its own shard
    done, waits for it: the step must not return (and fit raise) before that shard ends.
    In a process of its own: run among the whole suite, the signal test was flaky (it did
    not raise in some full runs, never alone), and a process of its own is what a Ctrl-C
    reaches anyway. (Its "no KeyboardInterrupt" in a full run came from the run itself
    being started in the background, with SIGINT ignored: the child now restores the
    handler.)"""
    import subprocess
    import sys

    import glassnet

    src = str(Path(glassnet.__file__).parent.parent)
    result = subprocess.run([sys.executable, "-c", CTRL_C_DURING_A_SHARD], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": src})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["KeyboardInterrupt", "split True ended True"]


def test_fit_validates_on_its_own_threads(rng, monkeypatch):
    seen = []
    real = shards.sharded
    monkeypatch.setattr(shards, "sharded",
                        lambda m, kind, t: seen.append((kind.__name__, t)) or real(m, kind, t))
    x, y = _batch(rng, 40)
    _conv_net().fit(x, y, epochs=1, batch_size=40, verbose=0, threads=2, validation_data=(x, y))
    assert ("ShardedForward", 2) in seen and ("ShardedForward", 1) not in seen


# -- what a second review found ---------------------------------------------------------------
def _blas_threads():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_fits_on_different_threads_at_once_leave_blas_and_the_setting_as_they_were(rng):
    """The BLAS limit is process-wide and ``using_threads`` per thread: two fits (threads 2
    and 3, with validation) in two Python threads must leave both as they found them."""
    blas = _blas_threads()
    x, y = rng.standard_normal((128, 8)), np.arange(128) % 3
    for _ in range(3):  # the old failure was a race
        start = threading.Barrier(2)

        def train(threads, start=start):
            model = _dense_bn(threads)
            start.wait()
            model.fit(x, y, epochs=10, batch_size=64, verbose=0, threads=threads, validation_data=(x, y))

        workers = [threading.Thread(target=train, args=(t,), daemon=True) for t in (2, 3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert not any(w.is_alive() for w in workers)
        assert _blas_threads() == blas and backend.get_threads() == 1


def test_a_callback_that_changes_a_layer_during_fit_reaches_the_replicas(rng):
    class Anneal(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.layers[4].rate = 0.0 if epoch >= 1 else 0.3

    x, y = _batch(rng, 64)
    weights = []
    for threads in (1, 2):
        model = _conv_net(seed=2)
        model.fit(x, y, epochs=3, batch_size=64, verbose=0, threads=threads, callbacks=[Anneal()])
        weights.append(model.get_weights())
    for key in weights[0]:
        np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_subclasses_with_new_math_are_not_split_unless_they_say_so(rng):
    class ShardTestGaussianDropout(layers.Dropout):  # normal noise: not rng.random
        def forward(self, x, training=False):
            if not training:
                return x
            mask = self.rng.normal(1.0, 0.3, x.shape)
            self._remember(mask=mask)
            return x * mask

    class ClipNormSGD(optimizers.SGD):  # scales by the norm of every gradient together
        def step(self, params):
            params = list(params)
            norm = float(np.sqrt(sum((g * g).sum() for _, _, g in params)))
            for _, _, g in params:
                g *= min(1.0, 0.01 / norm)
            super().step(params)

    class OwnStep(Sequential):
        def train_step(self, x, y, start=0):
            return super().train_step(x, y, start)

    try:
        assert not ShardTestGaussianDropout.shardable and layers.Dropout.shardable
        assert not ClipNormSGD.elementwise and optimizers.AdamW.elementwise
        x, y = rng.standard_normal((64, 8)), np.arange(64) % 3
        noisy = Sequential([layers.Dense(8), ShardTestGaussianDropout(), layers.Dense(3)], input_shape=(8,))
        noisy.compile("categorical_crossentropy", "sgd")
        assert not uses_shards(noisy, 2)
        noisy.fit(x, y, epochs=1, batch_size=64, verbose=0, threads=2)
        own = OwnStep([layers.Dense(3)], input_shape=(8,))
        own.compile("categorical_crossentropy", "sgd")
        assert not uses_shards(own, 2)
        weights = []
        for threads in (1, 2):
            model = Sequential([layers.Dense(16, activation="relu"), layers.Dense(3)], input_shape=(8,),
                               seed=0, dtype="float64")
            model.compile("categorical_crossentropy", ClipNormSGD(1.0))
            model.fit(x, y, epochs=3, batch_size=64, verbose=0, threads=threads)
            weights.append(model.get_weights())
        for key in weights[0]:
            np.testing.assert_allclose(weights[1][key], weights[0][key], rtol=1e-9, err_msg=key)
    finally:
        layers.LAYER_CLASSES.pop("ShardTestGaussianDropout", None)


def test_a_model_used_inside_a_shard_runs_unsplit_there(rng):
    """A layer of one's own that runs another model (a frozen backbone) inside its forward:
    the inner predict must not wait for the threads its own shard holds."""
    backbone = Sequential([layers.Dense(16, activation="relu")], input_shape=(8,), seed=0)

    class ShardTestBackbone(layers.Layer):
        shardable = True

        def compute_output_shape(self, input_shape):
            return (16,)

        def forward(self, x, training=False):
            return backbone.predict_logits(x)

        def backward(self, dy):
            return None

    try:
        model = Sequential([ShardTestBackbone(), layers.Dense(3)], input_shape=(8,), seed=0)
        model.compile("categorical_crossentropy", "sgd")
        x, y = rng.standard_normal((128, 8)), np.arange(128) % 3
        done = []

        def use():
            with backend.using_threads(2):
                model.predict(x)
                model.fit(x, y, epochs=1, batch_size=128, verbose=0)
            done.append(True)

        worker = threading.Thread(target=use, daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert done, "a model used inside a shard waited forever"
    finally:
        layers.LAYER_CLASSES.pop("ShardTestBackbone", None)


def test_training_in_a_thread_that_outlives_the_main_thread_finishes(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train_in_thread.py"
    script.write_text("""
import threading, time
import numpy as np
from glassnet import Sequential, layers

def train():
    model = Sequential([layers.Dense(64, activation="relu"), layers.Dense(3)], input_shape=(32,))
    model.compile("categorical_crossentropy", "sgd")
    x, y = np.random.default_rng(0).standard_normal((512, 32)), np.arange(512) % 3
    model.fit(x, y, epochs=100, batch_size=64, verbose=0, threads=2)
    print("training finished")

threading.Thread(target=train).start()
time.sleep(0.2)
print("main thread done")
""")
    import glassnet

    src = str(Path(glassnet.__file__).parent.parent)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": src})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["main", "thread", "done", "training", "finished"]


def test_a_split_update_needs_no_more_scratch_space_than_a_whole_one(rng):
    x, y = rng.standard_normal((128, 8)), np.arange(128) % 3
    model = Sequential([layers.Dense(32, activation="relu"), layers.Dense(3)], input_shape=(8,))
    model.compile("categorical_crossentropy", "adam")
    for n in (128, 96, 80, 64):  # several shard counts
        model.fit(x[:n], y[:n], epochs=2, batch_size=None, verbose=0, threads=4)
    own = [b for b in model.optimizer._buffers.values() if b.base is None]  # not views of another
    assert sum(b.nbytes for b in own) == sum(p.nbytes for _, p, _ in model.parameters())
