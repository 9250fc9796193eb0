"""Serving the simulated fridge for ``andreev sim``: load its config, start the servers,
report their addresses, stop on SIGINT or SIGTERM.

Nothing here prints or exits: :mod:`andreev.cli.sim` prints the addresses this module
returns and turns errors into an exit status.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from andreev.config.rules import check_speedup

if TYPE_CHECKING:
    from andreev.sim.fridge import SimFridge
    from andreev.sim.world import SimConfig

__all__ = ["addresses", "load_config", "start", "stop_on_signals"]

#: where a command-line value "comes from" in a ConfigError
COMMAND_LINE = Path("(command line)")


def load_config(
    path: Path | str, *, speedup: float | None = None, seed: int | None = None
) -> SimConfig:
    """The simulator's config from the station/sim file ``path``; ``speedup`` (world s per
    wall s, within ``andreev.config.SPEEDUP_RANGE``) and ``seed`` override the file's.

    Raises ConfigError (or the ValueError/OSError of the file's loader) on a bad value.
    """
    from andreev.sim.world import SimConfig

    config = SimConfig.from_yaml(path)
    if speedup is not None:
        config.speedup = check_speedup(COMMAND_LINE, "--speedup", speedup)
    if seed is not None:
        config.seed = int(seed)
    return config


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT, SIGTERM (and Ctrl-Break on Windows) while in the block;
    the previous handlers are restored on leaving it."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    signals: list[signal.Signals] = [signal.SIGINT]
    if hasattr(signal, "SIGTERM"):
        signals.append(signal.SIGTERM)
    if hasattr(signal, "SIGBREAK"):  # Windows console Ctrl-Break
        signals.append(signal.SIGBREAK)
    for sig in signals:
        previous[sig] = signal.signal(sig, _on_signal)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start(config: SimConfig) -> SimFridge:
    """A started simulated fridge (its servers listening); OSError if a port is taken."""
    from andreev.sim.fridge import SimFridge
    from andreev.sim.world import World

    fridge = SimFridge(World(config), ports=dict(config.ports))
    fridge.start()
    return fridge


def addresses(fridge: SimFridge) -> dict[str, tuple[str, int]]:
    """(host, port) of each instrument, in the order lockin, bridge, stm."""
    from andreev.sim.fridge import INSTRUMENTS

    return {name: fridge.addresses[name] for name in INSTRUMENTS}
