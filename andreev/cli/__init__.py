"""The ``andreev`` command line.

Each sub-command has a module here (``sim``, ``info``, ``run``, ``analysis``) that adds
its parser and, when the command runs, imports what it needs, so ``andreev --help``
stays fast (no qcodes, pyvisa, h5py or matplotlib at import time). Only this package
prints to the terminal or sets the exit status; the layers below raise or return.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from andreev import __version__
from andreev.cli import analysis, info, run, sim, watch

#: parser builders, in the order ``--help`` lists the commands
COMMANDS = (
    sim.add_sim,
    info.add_info,
    run.add_run,
    run.add_demo,
    analysis.add_analyze,
    analysis.add_plot,
    watch.add_watch,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``andreev`` command."""
    parser = argparse.ArgumentParser(
        prog="andreev",
        description="Point-contact (Andreev) spectroscopy in a dilution fridge, "
        "on real or simulated instruments.",
    )
    parser.add_argument("--version", action="version", version=f"andreev {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``andreev`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    module_name, func_name = args.handler.split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
