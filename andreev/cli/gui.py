"""``andreev gui [--config STATION]``: the window that drives a station (needs the ``gui``
extra): the experiment form, a queue, abort, resume, dry run, live panels and the log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from andreev.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, station_or_default
from andreev.cli.watch import MissingGui, prepare_window

EXIT_NO_GUI = 3
"""Exit status when the gui extra is missing (as ``andreev watch``)."""


def add_gui(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gui",
        help="a window to queue, run, abort and resume experiments on a station",
        description="Queue experiments from a form (the procedures' parameters), run them "
        "one after another into HDF5 run files, abort safely, resume cut runs, dry-run "
        "the plan, and watch the run live.",
    )
    p.add_argument(
        "--config", type=Path, default=None, help="station YAML (default: config/sim.yaml)"
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.add_argument(
        "--experiment", type=Path, default=None, metavar="YAML", help="fill the form from it"
    )
    p.add_argument("--start", action="store_true", help="queue the --experiment at once (it runs)")
    p.add_argument(
        "--screenshot", type=Path, default=None, metavar="PNG", help="save the window as PNG"
    )
    p.add_argument(
        "--after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close after SECONDS (with --screenshot: then save it; default 3 s); "
        "a run still going is stopped safely",
    )
    p.set_defaults(handler="andreev.cli.gui:gui_main")


def gui_main(args: argparse.Namespace) -> int:
    """``andreev gui``."""
    try:
        after = prepare_window("gui", args.screenshot, args.after)
    except MissingGui as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_GUI
    from andreev.errors import AndreevError, ConfigError
    from andreev.gui.window import run_gui

    try:
        saved = run_gui(
            station_or_default(args.config),
            out_dir=args.out,
            experiment=args.experiment,
            start=args.start,
            screenshot=args.screenshot,
            after=after,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except AndreevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if saved is not None:
        print(f"screenshot: {saved}")
    return EXIT_OK
