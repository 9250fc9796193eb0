"""The ``andreev`` command line.

Each sub-command has a module here (``sim``, ``info``, ``run``, ``analysis``) that adds
its parser and, when the command runs, imports what it needs, so ``andreev --help``
stays fast (no qcodes, pyvisa, h5py or matplotlib at import time). Only this package
prints to the terminal or sets the exit status; the layers below raise or return.

Whatever goes wrong ends in one line on the terminal and a non-zero exit status, never
a traceback: an :class:`~andreev.errors.AndreevError` is its own message (file, key and
what is allowed); anything else is named by its type and message, and its full
traceback goes to the run's log when a run file exists, else to ``andreev-errors.log``
in the per-user state folder (``--debug`` prints it instead).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from andreev import __version__
from andreev.cli import analysis, export, gui, info, run, sim, status, watch
from andreev.cli.common import EXIT_ABORTED, EXIT_CONFIG, EXIT_FAILED, console_safe
from andreev.cli.suggest import did_you_mean

#: parser builders, in the order ``--help`` lists the commands
COMMANDS = (
    sim.add_sim,
    info.add_info,
    run.add_run,
    run.add_demo,
    analysis.add_analyze,
    analysis.add_plot,
    export.add_export,
    watch.add_watch,
    gui.add_gui,
    status.add_status,
    status.add_repair,
)


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: …)`` after every option that has a default worth showing (not None,
    False or an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, []) or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action) or ""


class UsageError(Exception):
    """A command line argparse refuses (one line, exit 2)."""


class _Parser(argparse.ArgumentParser):
    """Every (sub-)command's ``--help`` shows the defaults; a bad command line is one
    line (not argparse's usage block) and exit status 2."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str):  # type: ignore[no-untyped-def]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``andreev`` command."""
    parser = _Parser(
        prog="andreev",
        description="Point-contact (Andreev) spectroscopy in a dilution fridge, "
        "on real or simulated instruments.",
    )
    parser.add_argument("--version", action="version", version=f"andreev {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print the full traceback of an unexpected error"
    )
    sub: Any = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for add in COMMANDS:
        add(sub)
    return parser


def _error_log(args: argparse.Namespace, text: str) -> str:
    """Append ``text`` to the run's log (when a run file was opened) or the per-user error
    log; ``… in FILE``, or a reason it could not be written."""
    import time
    from pathlib import Path

    from andreev.engine.station_lock import state_dir

    run_file = getattr(args, "run_file", None)
    target = Path(run_file).with_suffix(".log") if run_file else state_dir() / "andreev-errors.log"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} andreev {sys.argv[1:]}\n")
            log.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        return f"could not write it to {target}: {exc.strerror or exc}; rerun with --debug"
    return f"in {target}"


def _crash_log(args: argparse.Namespace) -> str:
    """Write the current exception's traceback to the run's log or the per-user error
    log (:func:`_error_log`); where it went."""
    import traceback

    where = _error_log(args, traceback.format_exc())
    return f"full traceback {where}" if where.startswith("in ") else where


def _config_error_line(args: argparse.Namespace, exc: Exception) -> str:
    """The one line of a refused input; a refusal naming several problems (``details``)
    logs them all and says where."""
    details = getattr(exc, "details", ())
    if len(details) < 2:
        return f"error: {exc}"
    where = _error_log(args, "\n".join(details))
    return f"error: {exc}; all {len(details)} problems {where}"


def message(exc: BaseException) -> str:
    """An exception's message on one line, without the context qcodes appends to its
    arguments (``("lockin: …", "asking 'SRAT ?' to <SR830: lockin>", …)``)."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return " ".join(first.split())


def _dispatch(args: argparse.Namespace) -> int:
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    return int(handler(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``andreev`` console script; returns the exit status."""
    console_safe()
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(words)
    except UsageError as exc:
        hint = did_you_mean(parser, words, str(exc))
        print(f"error: {exc}{hint}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    from andreev.errors import AndreevError, ConfigError

    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(_config_error_line(args, exc), file=sys.stderr, flush=True)
        return EXIT_CONFIG
    except AndreevError as exc:
        print(f"error: {message(exc)}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("stopped (Ctrl-C)", file=sys.stderr, flush=True)
        return EXIT_ABORTED
    except Exception as exc:
        if args.debug:
            raise
        where = _crash_log(args)
        text = message(exc) or "(no message)"
        print(f"error: {type(exc).__name__}: {text} ({where})", file=sys.stderr, flush=True)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
