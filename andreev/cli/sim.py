"""``andreev sim``: serve the simulated fridge."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from andreev.cli.common import station_or_default


def add_sim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sim`` command to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "sim",
        help="serve the simulated fridge (lock-in, bridge, STM) on 127.0.0.1",
        description="Start the three simulated instruments and print one line per "
        "instrument, NAME HOST:PORT; serve until Ctrl-C or SIGTERM.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="station/sim YAML (default: config/sim.yaml of the andreev project)",
    )
    p.add_argument("--speedup", type=float, default=None, help="world seconds per wall second")
    p.add_argument("--seed", type=int, default=None, help="noise seed")
    p.set_defaults(handler="andreev.cli.sim:main")


def main(args: argparse.Namespace) -> int:
    """Run the simulator described by ``args.config`` (``args.speedup`` and ``args.seed``
    override the file) until SIGINT or SIGTERM.

    Prints one line per instrument, ``NAME HOST:PORT`` (``lockin``, ``bridge``, ``stm``),
    and flushes, so a parent process can read the addresses (useful with ports 0).
    Returns 0 after a clean stop, 2 on a bad config, 1 when the servers cannot start.
    """
    from andreev.errors import AndreevError
    from andreev.sim import serve

    try:
        config = serve.load_config(
            station_or_default(args.config),
            speedup=getattr(args, "speedup", None),
            seed=getattr(args, "seed", None),
        )
    except (AndreevError, OSError, ValueError) as exc:
        print(f"andreev sim: {exc}", file=sys.stderr)
        return 2
    with serve.stop_on_signals() as stop:
        try:
            fridge = serve.start(config)
        except OSError as exc:
            print(f"andreev sim: cannot start the servers: {exc}", file=sys.stderr)
            return 1
        try:
            for name, (host, port) in serve.addresses(fridge).items():
                print(f"{name} {host}:{port}")
            sys.stdout.flush()
            # wake up regularly so signals are handled promptly on every platform
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            fridge.stop()
    return 0
