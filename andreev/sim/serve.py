"""``andreev sim``: serve the simulated fridge until SIGINT or SIGTERM.

Prints one line per instrument, ``NAME HOST:PORT`` (``lockin``, ``bridge``, ``stm``), and
flushes, so a parent process can read the addresses (useful with ports 0).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

__all__ = ["main"]


def main(args: argparse.Namespace) -> int:
    """Run the simulator described by ``args.config`` (``args.speedup`` and ``args.seed``
    override the file); returns the exit status (0 after a clean stop, 2 on a bad config)."""
    from andreev.errors import ConfigError
    from andreev.sim.config import check_speedup
    from andreev.sim.fridge import INSTRUMENTS, SimFridge
    from andreev.sim.world import SimConfig, World

    try:
        config = SimConfig.from_yaml(args.config)
    except (OSError, ValueError, ConfigError) as exc:
        print(f"andreev sim: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "speedup", None) is not None:
        try:
            config.speedup = check_speedup(args.speedup, "(command line)", "--speedup")
        except ConfigError as exc:
            print(f"andreev sim: {exc}", file=sys.stderr)
            return 2
    if getattr(args, "seed", None) is not None:
        config.seed = int(args.seed)

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    signals = [signal.SIGINT]
    if hasattr(signal, "SIGTERM"):
        signals.append(signal.SIGTERM)
    if hasattr(signal, "SIGBREAK"):  # Windows console Ctrl-Break
        signals.append(signal.SIGBREAK)
    for sig in signals:
        previous[sig] = signal.signal(sig, _on_signal)

    world = World(config)
    fridge = SimFridge(world, ports=dict(config.ports))
    try:
        fridge.start()
    except OSError as exc:
        print(f"andreev sim: cannot start the servers: {exc}", file=sys.stderr)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 1
    try:
        for name in INSTRUMENTS:
            host, port = fridge.addresses[name]
            print(f"{name} {host}:{port}")
        sys.stdout.flush()
        # wake up regularly so signals are handled promptly on every platform
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        fridge.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
