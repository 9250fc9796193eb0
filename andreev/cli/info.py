"""``andreev info``: connect to a station's instruments and report them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from andreev.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, station_or_default

if TYPE_CHECKING:
    from andreev.config.station import StationConfig


def add_info(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``info`` command to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "info",
        help="connect to every instrument of a station file and print its state",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="station YAML (default: config/sim.yaml of the andreev project)",
    )
    p.set_defaults(handler="andreev.cli.info:main")


def _report(name: str, config: StationConfig) -> bool:
    """Open instrument ``name`` alone, print its identity and key settings; False when it
    does not answer or its settings cannot be read (one line saying so is printed)."""
    from andreev.instruments.station import close_station, describe_instrument, open_station

    try:
        station, _ = open_station(config, names=[name])
    except Exception as exc:  # report every instrument, then exit
        address = config.instruments[name].get("address", "?")
        print(f"{name}: NOT ANSWERING at {address} ({type(exc).__name__}: {exc})")
        return False
    try:
        for line in describe_instrument(name, station.components[name]):
            print(line)
    except Exception as exc:
        print(f"{name}: error while reading its settings ({type(exc).__name__}: {exc})")
        return False
    finally:
        close_station(station)
    return True


def main(args: argparse.Namespace) -> int:
    """``andreev info``: connect to each instrument, print identity and key settings,
    holding the station's lock (a run on the same station refuses meanwhile).

    Returns 2 for an invalid station file, 1 when an instrument does not answer (after
    one clear line per such instrument) or the station is in use, 0 otherwise.
    """
    from andreev.config.station import load_station_config
    from andreev.engine.station_lock import StationLock
    from andreev.errors import ConfigError, RunLockedError

    try:
        config = load_station_config(station_or_default(args.config))
    except ConfigError as exc:
        print(f"error: {exc}")
        return EXIT_CONFIG
    try:
        with StationLock(config.path, "andreev info"):
            failed = [name for name in config.instruments if not _report(name, config)]
    except RunLockedError as exc:
        print(f"error: {exc}")
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK
