"""``andreev sim``: serve the simulated fridge."""

from __future__ import annotations

import argparse
from pathlib import Path

from andreev.cli.common import DEFAULT_SIM_CONFIG


def add_sim(sub: argparse._SubParsersAction) -> None:
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
