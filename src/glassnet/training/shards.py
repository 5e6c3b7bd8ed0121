"""Data-parallel training steps on the CPU: one batch split over several threads.

Why: NumPy runs every element-wise pass (the convolutions' im2col copies, pooling, ReLU,
dropout masks, BatchNorm) on one core; only the matrix products use BLAS's threads. A
framework such as PyTorch runs those passes on every core too. Here the batch is cut into
``k`` shards, and each shard's forward and backward runs in its own thread (NumPy releases
the GIL inside its loops), each with single-threaded BLAS, so every pass uses every core.

How, with the same result as one unsplit step (to float rounding):

- Each shard runs on a *replica* of the model: its own layer objects (caches, gradients),
  but the very same parameter arrays, which the optimizer then updates once.
- The loss of the batch is the mean over all ``N`` samples, so shard ``k`` back-propagates
  its loss gradient times ``n_k / N``, and the batch's gradients are the shards' gradients
  summed (in shard order: the same sum every run); the L2 term is added once. Sample
  weights (``class_weight``) change nothing here: each shard gets its rows of them, and a
  weighted loss is still divided by the number of samples (``sum_i w_i l_i / N``).
- Dropout's masks are the very numbers one unsplit step would draw from the layer's own
  generator: each shard draws its rows of them (:class:`RowsOfDraws`).
- BatchNorm needs statistics over the whole batch: its replicas sum their per-channel sums
  across shards (:class:`ShardSums`) before normalizing, and again in backward.

Replica 0 also shares the model's gradient and state arrays (BatchNorm's running
statistics), so those are the model's own after the step.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend
from ..backend import Array, array_module
from ..functional import part_slice

if TYPE_CHECKING:
    from ..model import Sequential

#: Fewest samples per shard: below this the per-layer overhead of a shard outweighs the gain.
MIN_SHARD = 16


def shard_count(threads: int, batch: int) -> int:
    """How many shards a batch of ``batch`` samples is split into on ``threads`` threads."""
    return max(1, min(threads, batch // MIN_SHARD))


def shard_slices(n: int, shards: int) -> list[slice]:
    """``shards`` consecutive slices of ``n`` samples, sizes differing by at most one."""
    return [part_slice(n, k, shards) for k in range(shards)]


class ShardSums:
    """Sums an array over all shards; every shard gets the same total (added in shard order).

    Each shard posts its part and waits for the others (a barrier); a second barrier keeps
    a fast shard from posting its next part before every shard has read this total.
    """

    def __init__(self, shards: int) -> None:
        self.parts: list[Any] = [None] * shards
        self.barrier = threading.Barrier(shards)

    def for_shard(self, k: int) -> Callable[[Array], Array]:
        """The ``total(part) -> sum over shards`` function shard ``k``'s layers call."""
        def total(part: Any) -> Any:
            self.parts[k] = part
            self.barrier.wait()
            result = self.parts[0]
            for other in self.parts[1:]:
                result = result + other
            self.barrier.wait()
            return result
        return total

    def abort(self) -> None:
        """Release the other shards (they raise ``BrokenBarrierError``) when one has failed."""
        self.barrier.abort()


class RowsOfDraws:
    """Stands in for a stochastic layer's generator in one shard: ``random(shape)`` returns
    exactly this shard's rows of what ``rng.random((N, ...))`` would draw for the whole batch.

    Each shard draws its own rows, side by side with the others: a copy of ``rng`` is
    advanced past the rows before them (a PCG64 generator jumps ahead in constant time,
    one step per number), and after the step ``rng`` itself moves past the whole batch
    (:meth:`ShardedStep._prepare` keeps a list of what to advance).
    """

    def __init__(self, rng: np.random.Generator, rows: slice, drawn: list[int]) -> None:
        self.rng, self.rows, self.drawn = rng, rows, drawn

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        per_row = math.prod(shape[1:])
        own = np.random.Generator(type(self.rng.bit_generator)())
        own.bit_generator.state = self.rng.bit_generator.state
        own.bit_generator.advance(self.rows.start * per_row)
        if self.rows.start == 0:
            self.drawn.append(per_row)  # the first shard notes how far the batch went
        return own.random((self.rows.stop - self.rows.start, *shape[1:]))


class _Shards:
    """Replicas of a model and the threads to run them on."""

    def __init__(self, model, threads: int) -> None:
        from threadpoolctl import ThreadpoolController

        # A weak reference: the model keeps this object (model._shards), not the reverse,
        # so that a model no longer used is freed at once, not by the cycle collector.
        self._model = weakref.ref(model)
        self.threads = threads
        self.replicas: list = []
        self._making = threading.Lock()  # two threads predicting with one model at once
        self.blas = ThreadpoolController()
        self.signature = _signature(model)

    def replicas_for(self, shards: int) -> list:
        """The first ``shards`` replicas, each made when first needed: a batch has at most
        one shard per :data:`MIN_SHARD` samples, however many threads were asked for (a
        mistyped ``--threads 100000`` must not copy the model 100000 times)."""
        with self._making:
            while len(self.replicas) < shards:
                self.replicas.append(self.new_replica(len(self.replicas)))
            return self.replicas[:shards]

    def new_replica(self, k: int) -> Any:
        raise NotImplementedError

    @property
    def model(self):
        return self._model()

    def run(self, calls: list[tuple[Any, ...]], abort=lambda: None) -> list[Any]:
        """``[fn(*args) for fn, *args in calls]``: the first call in this thread, the others on
        the worker threads, all with single-threaded BLAS (the shards themselves keep the
        cores busy) and this thread's NumPy error handling. Returns once every call has
        ended, even after a failure or a Ctrl-C (``abort()`` then releases shards waiting
        for each other), and raises the first error (not the ``BrokenBarrierError`` of the
        shards it released)."""
        errstate = np.geterr()
        results, errors, jobs = [], [], []
        # One split step at a time in the process: two (two models trained from two threads)
        # could each hold a worker waiting for the other, and the BLAS limit is process-wide.
        with _RUN_LOCK, self.blas.limit(limits=1, user_api="blas"):
            workers = _workers(len(calls) - 1)
            try:
                jobs += [workers.submit(_with_errstate, errstate, *call) for call in calls[1:]]
                fn, *args = calls[0]
                with _in_shard():
                    results.append(fn(*args))
            except BaseException as exc:
                errors.append(exc)
                abort()
            for job in jobs:
                _wait(job, results, errors, abort)
        if errors:
            raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
        return results


def _wait(job: _Job, results: list, errors: list, abort) -> None:
    """Add ``job``'s result to ``results`` or its error to ``errors``. A Ctrl-C while waiting
    is an error too, but the job is still running: release it (``abort``) and wait on."""
    while True:
        try:
            results.append(job.result())
            return
        except BaseException as exc:
            errors.append(exc)
            if job.done():
                return
            abort()


class ShardedStep(_Shards):
    """``step(x, y, start) -> (loss, outputs)``: :meth:`Sequential.train_step`, with the
    batch split over ``threads`` threads (batches too small for two shards run unsplit)."""

    def new_replica(self, k: int) -> Any:
        # replica 0 trains the model's own gradient and state arrays; the others their own
        return _replica(self.model, ("params", "grads", "state") if k == 0 else ("params",))

    def __call__(self, x: Array, y: Array, start: int = 0,
                 sample_weight: Array | None = None) -> tuple[float, Array]:
        model, n = self.model, len(x)
        shards = shard_count(self.threads, n)
        if shards < 2:
            # weights only when given, as the fit loop passes them
            return model.train_step(x, y, start, **({} if sample_weight is None
                                                    else {"sample_weight": sample_weight}))
        parts = shard_slices(n, shards)
        replicas = self.replicas_for(shards)
        sums = ShardSums(shards)
        to_advance = self._prepare(replicas, parts, sums)
        results = self.run([(self._run, replica, x[rows], y[rows], start, n, sums,
                             None if sample_weight is None else sample_weight[rows])
                            for replica, rows in zip(replicas, parts, strict=True)], abort=sums.abort)
        for rng, drawn in to_advance:  # as if each layer had drawn for the whole batch
            rng.bit_generator.advance(n * sum(drawn))
        loss = sum(part_loss for part_loss, _ in results) + model.regularization_loss()
        self.run([(self._add_up_gradients, replicas, k) for k in range(shards)])
        model.add_regularization_gradients()
        self._update(model.optimizer, list(model.parameters()), shards)
        return loss, array_module(x).concatenate([out for _, out in results])

    def _update(self, optimizer, params: list, parts: int) -> None:
        """The optimizer's step, in ``parts`` parts side by side when it can be split."""
        if not optimizer.can_step_in_parts(params):
            optimizer.step(params)
            return
        optimizer.start_step()
        self.run([(optimizer.step_part, params, k, parts) for k in range(parts)])

    @staticmethod
    def _run(replica, x: Array, y: Array, start: int, batch: int, sums: ShardSums,
             sample_weight: Array | None = None) -> tuple[float, Array]:
        """One shard's forward and backward; its loss weighted by its share of the batch (and
        each sample's by its ``sample_weight``, the shard's rows of the batch's)."""
        try:
            out = replica.forward(x, training=True, start=start)
            share = len(x) / batch
            loss = replica.loss.forward(out, y, sample_weight) * share
            d_out = replica.loss.backward()
            replica.backward(d_out * d_out.dtype.type(share), regularize=False)
            return loss, out
        except BaseException:
            sums.abort()  # the other shards may be waiting for this one's sums
            raise

    def _prepare(self, replicas: list, parts: list[slice], sums: ShardSums) -> list:
        """Give each shard's stochastic layers their rows of this step's random numbers, and
        its BatchNorm layers the cross-shard sum. Returns ``(rng, drawn)`` pairs: after the
        step, each ``rng`` must advance by ``N`` times every row size in ``drawn``."""
        to_advance = []
        for i, layer in enumerate(self.model.layers):
            if layer.stochastic:
                drawn: list[int] = []
                to_advance.append((layer.rng, drawn))
                for replica, rows in zip(replicas, parts, strict=True):
                    replica.layers[i].rng = RowsOfDraws(layer.rng, rows, drawn)
            if hasattr(layer, "shard_sum"):
                for k, replica in enumerate(replicas):
                    replica.layers[i].shard_sum = sums.for_shard(k)
        return to_advance

    @staticmethod
    def _add_up_gradients(replicas: list, part: int) -> None:
        """Replica 0's gradients (the model's own arrays) += every other replica's, on part
        ``part`` of ``len(replicas)`` equal parts of each flattened gradient (a gradient that
        is not contiguous, so has no flat view, is added whole, by part 0)."""
        for layers in zip(*(replica.layers for replica in replicas), strict=True):
            for key, grad in layers[0].grads.items():
                others = [layer.grads[key] for layer in layers[1:]]
                if all(g.flags.c_contiguous for g in (grad, *others)):
                    rows = part_slice(grad.size, part, len(replicas))
                    for other in others:
                        grad.reshape(-1)[rows] += other.reshape(-1)[rows]
                elif part == 0:
                    for other in others:
                        grad += other


class ShardedForward(_Shards):
    """``forward(x) -> outputs``: :meth:`Sequential.forward` for inference (predict and
    evaluate), with the batch split over ``threads`` threads. Nothing is summed across
    samples, so the outputs are the unsplit ones."""

    def new_replica(self, k: int) -> Any:
        # inference writes none of the model's arrays: the replicas share them all
        return _replica(self.model, ("params", "grads", "state"))

    def __call__(self, x: Array) -> Array:
        shards = shard_count(self.threads, len(x))
        if shards < 2:
            return self.model.forward(x)
        parts = shard_slices(len(x), shards)
        outputs = self.run([(replica.forward, x[rows])
                            for replica, rows in zip(self.replicas_for(shards), parts, strict=True)])
        return array_module(x).concatenate(outputs)


def _with_errstate(errstate: dict[str, str], fn, *args: Any) -> Any:
    """``fn(*args)`` under the caller's NumPy error handling (``np.geterr()``): it is per
    thread in NumPy 2, and a worker thread would otherwise warn where the caller is silent."""
    with np.errstate(**errstate):
        return fn(*args)


class _Job:
    """A call handed to a worker thread: :meth:`result` waits for it (or raises its error)."""

    def __init__(self, fn, args: tuple) -> None:
        self.fn, self.args, self.ended = fn, args, threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:
            self.error = exc
        self.ended.set()

    def done(self) -> bool:
        return self.ended.is_set()

    def result(self) -> Any:
        self.ended.wait()
        if self.error is not None:
            raise self.error
        return self.value


class _Workers:
    """Daemon threads that run :class:`_Job` s. Not a ``ThreadPoolExecutor``: that refuses work
    once the main thread has ended (a script that trains in a thread it does not join), and
    the interpreter waits for its threads at exit."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.count = 0

    def grow_to(self, count: int) -> None:
        """At least ``count`` threads: one split step runs at a time (``_RUN_LOCK``), so the
        most shards any step had is as many as ever work at once."""
        for i in range(self.count, count):
            threading.Thread(target=self._work, name=f"glassnet-shard-{i}", daemon=True).start()
        self.count = max(self.count, count)

    def _work(self) -> None:
        _inside.shard = True  # a split model used inside a shard runs unsplit (no nested split)
        while True:
            self.jobs.get().run()

    def submit(self, fn, *args: Any) -> _Job:
        job = _Job(fn, args)
        self.jobs.put(job)
        return job


_RUN_LOCK = threading.Lock()
_inside = threading.local()  # .shard: this thread is running a shard's work
_pools: dict[str, _Workers] = {}
if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads
    os.register_at_fork(after_in_child=_pools.clear)


def _workers(count: int) -> _Workers:
    """The process's worker threads, at least ``count`` of them. Kept between ``fit`` calls:
    new threads would first have to fault in fresh memory for their arrays (measured: the
    first epoch after creating them ran 10-20% slower). Looked up at every use, so that a
    forked child makes its own."""
    pool = _pools.setdefault("shards", _Workers())
    pool.grow_to(count)
    return pool


@contextlib.contextmanager
def _in_shard() -> Iterator[None]:
    """Marks the calling thread as running a shard (see :func:`uses_shards`)."""
    before = getattr(_inside, "shard", False)
    _inside.shard = True
    try:
        yield
    finally:
        _inside.shard = before


def _replica(model, shared: tuple[str, ...]):
    """A copy of ``model`` for one shard: new layer objects, but the very same arrays as
    ``model``'s layers for the ``shared`` dicts (``"params"``, ``"grads"``, ``"state"``).

    ``deepcopy``'s memo maps the id of each object already copied to its copy; entering the
    shared dicts and arrays there as their own "copies" makes the replica use them as they are."""
    keep: dict[int, Any] = {}
    for layer in model.layers:
        for d in (getattr(layer, name) for name in shared):
            keep[id(d)] = d
            keep.update({id(a): a for a in d.values()})
        keep[id(layer._cache)] = None  # the previous step's cache is not needed
    replica = copy.copy(model)
    replica.layers = copy.deepcopy(model.layers, keep)
    replica.loss = copy.deepcopy(model.loss)
    return replica


def _signature(model) -> list:
    """What replicas copy or share: the loss object (itself, not its id, which a new loss
    could reuse), each layer's dicts of arrays and its settings (a Dropout rate changed by a
    callback must reach the replicas)."""
    return [model.loss, *((id(layer.params), id(layer.grads), id(layer.state), _settings(layer))
                          for layer in model.layers)]


def _settings(layer) -> dict[str, Any]:
    """A layer's public plain settings (rate, momentum, strides, input_grad, ...) and those
    of the layers it holds (a fused activation), as a replica copied them."""
    plain = (bool, int, float, str, tuple, list, type(None))
    return {key: _settings(value) if hasattr(value, "params") else value
            for key, value in vars(layer).items()
            if not key.startswith("_") and (isinstance(value, plain) or hasattr(value, "params"))}


def sharded(model: Sequential, kind: type[_Shards], threads: int) -> Any:
    """``model``'s :class:`ShardedStep` or :class:`ShardedForward` for ``threads`` threads, or
    ``None`` where splitting does not apply (:func:`uses_shards`). Kept on the model between
    calls (fit called once per epoch, predict per chunk of images): the first steps of new
    replicas measured 10-30% slower. Made again when the model's arrays or loss changed."""
    if not uses_shards(model, threads):
        return None
    cached = model._shards.get(kind.__name__)
    if cached is None or cached.threads != threads or cached.signature != _signature(model):
        cached = model._shards[kind.__name__] = kind(model, threads)
    return cached


def uses_shards(model: Sequential, threads: int) -> bool:
    """Whether a batch may be split over ``threads`` threads: more than one, on the CPU (a
    GPU runs the whole batch in parallel already), not already inside a shard, the model's
    own ``train_step``, every layer :attr:`~glassnet.layers.Layer.shardable`,
    and every random layer's generator a PCG64 (which can jump ahead by a count of numbers;
    every layer gets one from its model's seed)."""
    from ..model import Sequential

    if threads < 2 or backend.get_device() != "cpu" or getattr(_inside, "shard", False):
        return False  # (inside a shard: a model used by a layer runs unsplit)
    if type(model).train_step is not Sequential.train_step:
        return False  # a subclass's own step would be bypassed
    if any(array_module(p) is not np for _, p, _ in model.parameters()):
        return False  # built on the GPU, used after set_device("cpu")
    return all(layer.shardable and (not layer.stochastic or isinstance(
        getattr(getattr(layer, "rng", None), "bit_generator", None), np.random.PCG64))
        for layer in model.layers)
