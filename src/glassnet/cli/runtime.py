"""``--device`` and ``--threads``: the options of every command that runs a model, and the
context a command runs in (its device, its CPU threads, the image cache switched off by
``--no-cache``, a Ctrl-C that interrupts it even where SIGINT was ignored), undone when it ends.

:func:`apply_runtime_options` is entered by :func:`glassnet.cli.run_command` around every
command; ``search`` passes the options on to its workers (:func:`runtime_flags`) and gives
its ``--final`` training every core again (:func:`every_core_again`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..data import cache as cache_mod
from .arguments import positive_int


def add_runtime_options(parser: argparse.ArgumentParser, split: str | None = "each batch",
                        device: bool = True) -> None:
    """``--device`` and ``--threads``, shared by every command that runs a model; ``split``
    says what is split over the threads (``None``: nothing, only BLAS uses them); without
    ``device``, only ``--threads`` (a command that always runs on the CPU)."""
    if device:
        parser.add_argument("--device", choices=["cpu", "gpu"], default=None,
                            help="run on the CPU (NumPy) or a GPU (CuPy, extra glassnet[gpu]) "
                                 "(default: $GLASSNET_DEVICE, else cpu)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads: BLAS's" + (f", and {split} is split over them" if split else "")
                             + " (default: all cores)")


def runtime_flags(args: argparse.Namespace) -> list[str]:
    """``--threads``/``--device`` as given to this command, for a command it prints or starts
    (a resume, a search's workers): on other threads or another device the sums round
    differently."""
    return [*(["--threads", str(args.threads)] if args.threads else []),
            *(["--device", args.device] if args.device else [])]


def apply_runtime_options(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Limit BLAS threads as ``args`` asks, and return the context to run the command in: on
    ``--device`` if given, else ``$GLASSNET_DEVICE`` (checked now, so that a bad value is not
    blamed on a model file later) or the CPU. Commands without ``--device`` (info, export,
    report) run on the CPU: describing or converting a model needs no GPU, nor CuPy because
    ``$GLASSNET_DEVICE`` says gpu. The device chosen before is restored afterwards; so is
    ``$GLASSNET_IMAGE_CACHE``, set to ``off`` inside by ``--no-cache`` (in the environment,
    so that search's worker processes inherit it)."""
    from .. import backend

    if getattr(args, "threads", None) or getattr(args, "workers", 1) > 1:
        from threadpoolctl import threadpool_limits

        # Kept for the life of the process: the command is the process.
        args._thread_limit = threadpool_limits(thread_count(args))
    if hasattr(args, "no_cache"):  # a command that reads image folders: a bad
        cache_mod.enabled()         # $GLASSNET_IMAGE_CACHE is named before any work
    if getattr(args, "device", "cpu") is None:
        backend.get_device()
    return _runtime_context(args)


def thread_count(args: argparse.Namespace) -> int:
    """The CPU threads a command uses: ``--threads``, else every core, shared out among
    ``search --workers`` processes (each of N workers gets 1/N of the cores: the workers
    would otherwise all use every core and slow each other down)."""
    from .. import backend

    return args.threads or max(1, backend.available_cores() // getattr(args, "workers", 1))


@contextlib.contextmanager
def every_core_again(args: argparse.Namespace) -> Iterator[None]:
    """Inside: the CPU threads of the same command without ``--workers``: ``--threads``, else
    every core, for BLAS and for splitting batches. ``search --workers N`` without
    ``--threads`` gave this process 1/N of the cores; once its workers have ended, its
    ``--final`` model trains as the printed ``glassnet train`` command (which carries only a
    given ``--threads``) does, so that it rounds the same: how a batch is split over threads
    changes the last digits."""
    from .. import backend

    share = getattr(args, "_thread_limit", None)
    if args.threads or share is None:  # this process has those threads already
        yield
        return
    share.restore_original_limits()  # BLAS as a command without --workers leaves it
    del args._thread_limit  # for the rest of the process: the workers have ended
    with backend.using_threads(thread_count(argparse.Namespace(threads=None))):
        yield


@contextlib.contextmanager
def _runtime_context(args: argparse.Namespace) -> Iterator[None]:
    """The device, training-thread and image-cache settings of :func:`apply_runtime_options`,
    undone on exit."""
    from .. import backend

    with contextlib.ExitStack() as stack:
        if hasattr(args, "threads"):
            stack.enter_context(backend.using_threads(thread_count(args)))
        if getattr(args, "no_cache", False):
            stack.enter_context(environment(cache_mod.ENV, "off"))
        if not hasattr(args, "device"):
            stack.enter_context(backend.using_device("cpu"))
        elif args.device:
            stack.enter_context(backend.using_device(args.device))
        stack.enter_context(interruptible())
        yield


@contextlib.contextmanager
def on_sigint(handler: Callable[[int, Any], Any]) -> Iterator[None]:
    """``handler`` answers SIGINT (Ctrl-C, ``kill -INT``) inside; the handler before it
    afterwards. Signal handlers belong to the main thread: in another (a command run by
    ``glassnet.cli.main`` from a thread), nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def interruptible() -> contextlib.AbstractContextManager:
    """Inside, SIGINT raises ``KeyboardInterrupt`` (the command stops, says how to go on where
    it can, and exits with 130), also in a process that started with SIGINT ignored: a job a
    non-interactive shell starts in the background (``glassnet search … &`` in a script) does,
    and Python then installs no handler, so ``kill -INT`` was lost and the command ran to its
    end. (In a thread other than the main one, nothing changes: :func:`on_sigint`.)"""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return on_sigint(signal.default_int_handler)
    return contextlib.nullcontext()


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` inside, as it was (or unset) afterwards."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous
