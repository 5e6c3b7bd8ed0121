"""The worker processes of ``glassnet search --workers N``: ``N - 1`` more ``glassnet search
--resume`` processes that join the study this one opened, and the runtime options
(``--threads``, ``--device``, ``--no-cache``) passed on to them and to the printed ``glassnet
train`` command.

:mod:`glassnet.cli.search_output` starts them (and stops them on a Ctrl-C) while it runs the
search; :mod:`glassnet.cli.search` gives the runtime options to the command that continues
an interrupted search.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import TYPE_CHECKING

from ..data import LOADERS
from .runtime import runtime_flags, thread_count

if TYPE_CHECKING:  # for annotations: glassnet.search is imported when a search runs
    from ..search import Search

#: the environment variable through which --workers gives its workers the storage URL
STORAGE_VARIABLE = "GLASSNET_SEARCH_STORAGE"

#: how a worker process starts glassnet: not ``python -m glassnet``, which puts the current
#: folder first on ``sys.path``, so that a ``glassnet.py`` of the user's there would run
GLASSNET_COMMAND = (sys.executable, "-c",
                    "import sys; del sys.path[0]; from glassnet.cli import console_main; console_main()")


def spawn_workers(search: Search, args: argparse.Namespace) -> list[subprocess.Popen]:
    """Start ``--workers - 1`` more processes that resume (join) the same stored search."""
    command = [*GLASSNET_COMMAND, "search", "--resume", "--out", str(search.run_dir),
               "--study-name", search.study.study_name, "--no-plot", "--quiet-summary"]
    env = None
    if args.storage:  # through the environment: a URL on the command line shows its password in ps
        env = {**os.environ, STORAGE_VARIABLE: args.storage}
        command += ["--storage", f"env:{STORAGE_VARIABLE}"]
    if search.config.base.dataset not in LOADERS:  # the image folder where this process found it
        command.append(f"--dataset={search.config.base.dataset}")  # "=": a name may start with "-"
    # without --device each worker would fall back to $GLASSNET_DEVICE or the CPU
    command += search_runtime_flags(args)
    if not args.threads:  # without --workers it would take every core: give it its share
        command += ["--threads", str(thread_count(args))]
    return [subprocess.Popen(command, env=env) for _ in range(args.workers - 1)]


def search_runtime_flags(args: argparse.Namespace) -> list[str]:
    """``--threads``/``--device``/``--no-cache`` as given to this command: passed on to the
    worker processes and to the printed ``glassnet train`` command (they are not stored with
    the search, which may run on other machines)."""
    return runtime_flags(args) + (["--no-cache"] if args.no_cache else [])

