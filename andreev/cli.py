"""The ``andreev`` command line: sim, info, run, demo, analyze, plot.

Each sub-command lives in the module that owns its job; this file only parses
arguments and imports that module when the command runs, so ``andreev --help``
stays fast (no qcodes, pyvisa, h5py or matplotlib at import time).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from andreev import __version__

DEFAULT_SIM_CONFIG = Path("config/sim.yaml")


def _add_sim(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="serve the simulated fridge (lock-in, bridge, STM) on 127.0.0.1",
        description="Start the three simulated instruments and print one line per "
        "instrument, NAME HOST:PORT; serve until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_SIM_CONFIG, help="station/sim YAML")
    p.add_argument("--speedup", type=float, default=None, help="world seconds per wall second")
    p.add_argument("--seed", type=int, default=None, help="noise seed")
    p.set_defaults(handler="andreev.sim.serve:main")


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="connect to every instrument of a station file and print its state",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_SIM_CONFIG, help="station YAML")
    p.set_defaults(handler="andreev.instruments.station:info_main")


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an experiment YAML against a station")
    p.add_argument(
        "experiment",
        type=Path,
        nargs="?",
        default=None,
        help="experiment YAML (config/experiments/*.yaml); omit with --resume",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_SIM_CONFIG, help="station YAML")
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.add_argument("--resume", type=Path, default=None, help="continue this cut run (HDF5)")
    p.add_argument(
        "--dry-run", action="store_true", help="check every step and print the plan; move nothing"
    )
    p.set_defaults(handler="andreev.procedures.runner:run_main")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="start the simulated fridge in-process and run the demo experiment"
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.set_defaults(handler="andreev.procedures.runner:demo_main")


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="fit the gaps of a run; results into the file and a CSV")
    p.add_argument("run", type=Path, help="run HDF5 file")
    p.set_defaults(handler="andreev.analysis.report:analyze_main")


def _add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="write the standard figures of a run as PNG")
    p.add_argument("run", type=Path, help="run HDF5 file")
    p.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    p.set_defaults(handler="andreev.analysis.figures:plot_main")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``andreev`` command."""
    parser = argparse.ArgumentParser(
        prog="andreev",
        description="Point-contact (Andreev) spectroscopy in a dilution fridge, "
        "on real or simulated instruments.",
    )
    parser.add_argument("--version", action="version", version=f"andreev {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_sim, _add_info, _add_run, _add_demo, _add_analyze, _add_plot):
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
