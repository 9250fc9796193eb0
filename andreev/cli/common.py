"""What the CLI's command modules share: the default station, exit codes, the console."""

from __future__ import annotations

import sys
from pathlib import Path

#: exit codes of every command: done, failed (an instrument, a run that did not
#: complete), a bad input (file, key, command-line value), stopped by the operator
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_ABORTED = 0, 1, 2, 130

#: the default station, relative to the project (the checkout andreev runs from), never
#: to the working folder
DEFAULT_STATION_NAME = "config/sim.yaml"


def project_root() -> Path:
    """The folder holding the ``andreev`` package (the project's checkout)."""
    import andreev

    return Path(andreev.__file__).resolve().parents[1]


def default_station() -> Path:
    """``config/sim.yaml`` of the project; ConfigError saying where it looked if absent."""
    from andreev.errors import ConfigError

    path = project_root() / DEFAULT_STATION_NAME
    if path.is_file():
        return path
    raise ConfigError(
        "(command line)",
        "--config",
        f"no station file given and the default {DEFAULT_STATION_NAME} is not at {path}; "
        "give one with --config STATION.yaml",
    )


def station_or_default(given: Path | None) -> Path:
    """The station file named with ``--config``, else :func:`default_station`."""
    return given if given is not None else default_station()


def console_safe() -> None:
    """Let any console print any text: characters it cannot show (Δ on a cp1252 Windows
    console) become ``?`` instead of ending the program."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):  # a detached or exotic stream: leave it
                pass
