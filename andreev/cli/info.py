"""``andreev info``: connect to a station's instruments and report them."""

from __future__ import annotations

import argparse
from pathlib import Path

from andreev.cli.common import DEFAULT_SIM_CONFIG


def add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="connect to every instrument of a station file and print its state",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_SIM_CONFIG, help="station YAML")
    p.set_defaults(handler="andreev.instruments.station:info_main")
