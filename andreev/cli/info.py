"""``andreev info``: connect to a station's instruments and report them."""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


#: reply timeout (s) of every instrument while ``info`` reads it, so that a silent one
#: costs at most about this plus the drivers' one short retry (~6 s) instead of the run's
#: longer deadlines (a silent Nanonis: 10 s + 2 s); ``info`` only reads quick settings
INFO_TIMEOUT = 4.0


def _info_overrides(config: StationConfig, name: str) -> dict[str, Any]:
    """The keyword arguments that bound ``name``'s reply timeout for ``info``: the file's
    ``init: timeout`` when it is shorter, else :data:`INFO_TIMEOUT`."""
    init = config.instruments[name].get("init") or {}
    given = init.get("timeout")
    if isinstance(given, (int, float)) and 0 < given < INFO_TIMEOUT:
        return {"timeout": float(given)}
    return {"timeout": INFO_TIMEOUT}


def _why(exc: BaseException) -> str:
    """``Type: message`` on one line (qcodes appends its context to ``args``: dropped)."""
    message = str(exc.args[0]) if exc.args else str(exc)
    return f"{type(exc).__name__}: {message.splitlines()[0] if message else ''}"


def _report(name: str, config: StationConfig) -> bool:
    """Open instrument ``name`` alone (with the reply timeout of :func:`_info_overrides`),
    print its identity and key settings; False when it does not answer or its settings
    cannot be read (one line saying so is printed)."""
    from andreev.instruments.station import close_station, describe_instrument, open_station

    address = config.instruments[name].get("address", "?")
    overrides = {name: _info_overrides(config, name)}
    try:
        station, _ = open_station(config, names=[name], overrides=overrides)
    except Exception as exc:  # report every instrument, then exit
        print(f"{name}: NOT ANSWERING at {address} ({_why(exc)})")
        return False
    try:
        lines = describe_instrument(name, station.components[name])
    except TimeoutError as exc:
        print(f"{name}: NOT ANSWERING at {address} ({_why(exc)})")
        return False
    except Exception as exc:
        print(f"{name}: error while reading its settings ({_why(exc)})")
        return False
    finally:
        close_station(station)
    for line in lines:
        print(line)
    return True


@contextlib.contextmanager
def _libraries_quiet() -> Iterator[None]:
    """The drivers' libraries (qcodes: "Snapshot: Could not update parameter …" for each
    parameter of a silent instrument) say nothing on the console while ``info`` runs:
    its one line per instrument says what matters."""
    from andreev.cli.run import LIBRARY_LOGGERS

    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(logger, logger.propagate) for logger in loggers]
    quiet = logging.NullHandler()
    for logger in loggers:
        logger.addHandler(quiet)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, propagate in saved:
            logger.removeHandler(quiet)
            logger.propagate = propagate


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
        with StationLock(config.path, "andreev info"), _libraries_quiet():
            failed = [name for name in config.instruments if not _report(name, config)]
    except RunLockedError as exc:
        print(f"error: {exc}")
        return EXIT_FAILED
    return EXIT_FAILED if failed else EXIT_OK
