"""The ``glassnet`` command: one module per subcommand.

This package is the only code that parses arguments, prints results and exits. Every
:class:`~glassnet.errors.GlassnetError` (and any ``OSError``: a file the system would not let
it read or write) becomes one line on stderr and exit code 1;
Ctrl-C exits with 130 (also while the subcommands and Matplotlib are imported, once
``import glassnet`` itself is done); a reader that closes the output early (``| head``) ends the
command quietly with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import GlassnetError

COMMAND_NAMES = ["train", "evaluate", "predict", "gradcheck", "report", "info", "export", "search"]


def build_parser() -> argparse.ArgumentParser:
    """The ``glassnet`` parser, with a subparser for each of :data:`COMMAND_NAMES`."""
    # The subcommands are imported here, not at the top, so that `console_main` is already
    # running (and catches Ctrl-C) while their imports happen (Matplotlib is left to the
    # commands that draw: building the parser must stay fast for --help, info, predict).
    from importlib import import_module

    from .arguments import HelpFormatter
    parser = argparse.ArgumentParser(
        prog="glassnet",
        description="glassnet: deep learning you can see through. Train, evaluate and use "
                    "image classifiers written from scratch in NumPy.",
        epilog="Run 'glassnet COMMAND --help' for a command's options. Data sets are read from "
               "$GLASSNET_DATA (default: ~/.cache/glassnet).",
    )
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_NAMES:
        import_module(f"{__name__}.{name}").add_parser(sub)
    for command in sub.choices.values():  # one place decides how every command shows defaults
        command.formatter_class = HelpFormatter
        # options in full only: argparse took `search --quiet` as the hidden --quiet-summary
        # (a silent worker: no summary, no search.json, no --final), and any prefix of an
        # option added later would change what an older command line means
        command.allow_abbrev = False
    parser.command_parsers = sub.choices  # type: ignore[attr-defined]  (for run_command's errors)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # a name's undecodable byte: an escape, not a traceback
        with contextlib.suppress(AttributeError, ValueError):  # a test's stand-in stream
            stream.reconfigure(errors="backslashreplace")
    try:
        try:
            return run_command(argv)
        finally:
            sys.stdout.flush()  # a closed pipe fails here, not at the interpreter's exit
    except BrokenPipeError:
        # The reader went away (`glassnet evaluate --json | head`): stop quietly, as the
        # Python docs advise ("Note on SIGPIPE"); stdout goes to devnull so that the
        # interpreter's final flush cannot fail again.
        with contextlib.suppress(OSError, ValueError):  # a captured stdout has no descriptor
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def run_command(argv: Sequence[str] | None) -> int:
    """Parse ``argv`` and run the command; a :class:`GlassnetError` becomes one line."""
    from .arguments import check_folder_options
    from .output import warnings_as_lines
    from .runtime import apply_runtime_options

    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in run reports
    if args.command == "predict":
        # argparse takes a list of positionals in one piece: images named after an option
        # (`predict m a.png --top 2 b.png`) come back as leftovers; they are images too
        args.images += [item for item in unknown if not item.startswith("-")]
        unknown = [item for item in unknown if item.startswith("-")]
    if unknown:  # said by the parser it belongs to: the command's ("glassnet train: error: ...")
        before = args.argv[:args.argv.index(args.command)] if args.command in args.argv else []
        owner = parser if set(unknown) & set(before) else parser.command_parsers[args.command]
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        device = apply_runtime_options(args)
        check_folder_options(args)
        with device, warnings_as_lines(args.command, progress=not getattr(args, "quiet", False)):
            return int(args.run(args) or 0)
    except GlassnetError as exc:
        print(f"glassnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # main ends quietly
    except MemoryError as exc:
        # NumPy's "Unable to allocate 9.0 GiB for an array with shape ..." (or CuPy's), in
        # a batch's activations: the user can act on it with smaller settings, where the
        # command has them
        options = [o for o in ("--batch-size", "--image-size")
                   if o in parser.command_parsers[args.command]._option_string_actions]
        advice = f"; a smaller {' or '.join(options)} needs less" if options else ""
        print(f"glassnet {args.command}: error: out of memory: {exc or 'no message'}{advice}",
              file=sys.stderr)
        return 1
    except OSError as exc:
        # The system refused something glassnet did not word itself (a file it could not
        # read or write, a full disk): still one line, since the user can act on it.
        print(f"glassnet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # A Ctrl-C reaches every process of the terminal's group: the worker processes that
        # `search --workers N` starts (marked --quiet-summary) leave the message to their parent.
        if not getattr(args, "quiet_summary", False):
            print(f"glassnet {args.command}: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """The console script: :func:`main`, plus a quiet exit 130 for a Ctrl-C that arrives
    before ``main``'s own handlers run (while the subcommands are being imported)."""
    try:
        code = main()
    except KeyboardInterrupt:
        print("glassnet: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
