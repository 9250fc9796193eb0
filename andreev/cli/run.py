"""``andreev run`` and ``andreev demo``: run an experiment against a station."""

from __future__ import annotations

import argparse
from pathlib import Path

from andreev.cli.common import DEFAULT_SIM_CONFIG


def add_run(sub: argparse._SubParsersAction) -> None:
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


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="start the simulated fridge in-process and run the demo experiment"
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.set_defaults(handler="andreev.procedures.runner:demo_main")
