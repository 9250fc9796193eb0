"""``andreev run`` and ``andreev demo``: run an experiment against a station.

The printing half of a run: the plan, the run file, a progress bar (from the engine's
events), how the run ended and how to continue it; and the exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from andreev.cli.common import DEFAULT_SIM_CONFIG

if TYPE_CHECKING:
    from andreev.engine.events import Event
    from andreev.procedures.runner import Prepared

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_ABORTED = 0, 1, 2, 130


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
    p.set_defaults(handler="andreev.cli.run:run_main")


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="start the simulated fridge in-process and run the demo experiment"
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.set_defaults(handler="andreev.cli.run:demo_main")


def _format_duration(seconds: float) -> str:
    from andreev.procedures.runner import format_duration

    return format_duration(seconds)


class Progress:
    """The run's progress bar with its ETA (wall time), and the current sweep's.

    On a terminal one line is redrawn in place; otherwise (a log, a pipe) one line is
    printed per finished sweep.
    """

    width = 30

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.first_done: int | None = None
        self.done, self.total, self.eta = 0, 0, 0.0
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def _bar(self, fraction: float) -> str:
        filled = int(self.width * fraction)
        return "#" * filled + "-" * (self.width - filled)

    def _line(self, sweep_fraction: float | None) -> str:
        text = (
            f"[{self._bar(self.done / self.total)}] {self.done}/{self.total} sweeps "
            f"({100 * self.done / self.total:.0f} %), ETA {_format_duration(self.eta)}"
        )
        if sweep_fraction is not None:
            text += f" | this sweep {100 * sweep_fraction:3.0f} %"
        return text

    def __call__(self, done: int, total: int, world_seconds: float) -> None:
        """A sweep finished: ``done`` of ``total``; it took ``world_seconds``."""
        if self.first_done is None:
            self.first_done = done - 1
        elapsed = time.monotonic() - self.started
        taken = done - self.first_done
        self.done, self.total = done, total
        self.eta = elapsed / taken * (total - done) if taken else 0.0
        end = "\n" if done == total or not self.live else ""
        print(("\r" if self.live else "") + self._line(None), end=end, file=self.stream, flush=True)

    def sweep_progress(self, points: int, total_points: int) -> None:
        """Points of the current sweep taken (redrawn on a terminal only)."""
        if self.live and self.total:
            print("\r" + self._line(points / total_points), end="", file=self.stream, flush=True)

    def on_event(self, event: Event) -> None:
        """An engine listener: finished sweeps move the bar, points the sweep's part."""
        from andreev.engine.events import PointProgress, SweepDone, SweepFailed

        if isinstance(event, SweepDone | SweepFailed):
            self(event.done, event.total, event.world_seconds)
        elif isinstance(event, PointProgress):
            self.sweep_progress(event.points, event.total_points)


class Reporter:
    """Prints what a run's user needs from the engine's events: the run file, the end,
    and how to continue a run that did not complete."""

    def __init__(self, station_path: Path, stream: IO[str] | None = None) -> None:
        self.station_path = station_path
        self.stream = stream or sys.stdout

    def __call__(self, event: Event) -> None:
        from andreev.engine.events import RunEnded, RunFileOpened

        if isinstance(event, RunFileOpened):
            print(f"run file: {event.path}", file=self.stream, flush=True)
        elif isinstance(event, RunEnded):
            print(f"run {event.exit_status}: {event.path}", file=self.stream, flush=True)
            if event.exit_status != "completed" and event.path is not None:
                print(
                    f"continue with: andreev run --resume {event.path} "
                    f"--config {self.station_path}",
                    file=self.stream,
                    flush=True,
                )


def exit_code(status: str) -> int:
    """The process exit status of a run that ended ``status``."""
    return {"completed": EXIT_OK, "dry-run": EXIT_OK, "aborted": EXIT_ABORTED}.get(
        status, EXIT_FAILED
    )


def run_and_report(
    prepared: Prepared,
    *,
    out_dir: Path,
    overrides: Any = None,
    show_progress: bool = True,
) -> Any:
    """Print the plan, run it with a progress bar and the reporter; the RunResult."""
    from andreev.procedures.runner import describe_plan, run_prepared

    for line in describe_plan(prepared.experiment, prepared.station):
        print(line, flush=True)
    listeners: list[Any] = [Reporter(prepared.station.path)]
    if show_progress:
        listeners.append(Progress().on_event)
    return run_prepared(prepared, out_dir=out_dir, overrides=overrides, listeners=listeners)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def run_main(args: argparse.Namespace) -> int:
    """``andreev run``."""
    from andreev.errors import ConfigError
    from andreev.procedures.runner import describe_plan, prepare

    _setup_logging()
    try:
        prepared = prepare(args.experiment, args.config, args.resume)
        if args.dry_run:
            for line in describe_plan(prepared.experiment, prepared.station):
                print(line)
            print("dry run: every value is within the safety limits; nothing was moved")
            return EXIT_OK
        result = run_and_report(prepared, out_dir=args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return exit_code(result.exit_status)


def find_config(relative: str) -> Path:
    """``relative`` (like ``config/sim.yaml``) in the working folder, else in the checkout
    this package was installed from."""
    from andreev.errors import ConfigError

    here = Path(relative)
    if here.exists():
        return here
    checkout = Path(__file__).resolve().parents[2] / relative
    if checkout.exists():
        return checkout
    raise ConfigError(relative, "(file)", "not found in the working folder or the checkout")


def sim_overrides(fridge: Any) -> dict[str, dict[str, str]]:
    """Addresses of a running SimFridge as ``open_station`` overrides."""
    host, port = fridge.addresses["stm"]
    return {
        "lockin": {"address": fridge.visa_address("lockin")},
        "bridge": {"address": fridge.visa_address("bridge")},
        "stm": {"address": f"{host}:{port}"},
    }


def demo_main(args: argparse.Namespace) -> int:
    """``andreev demo``: the simulated fridge in-process, then the demo experiment."""
    from andreev.errors import ConfigError
    from andreev.procedures.runner import prepare
    from andreev.sim import SimConfig, SimFridge, World

    _setup_logging()
    try:
        station_path = find_config("config/sim.yaml")
        prepared = prepare(find_config("config/experiments/demo.yaml"), station_path)
        sim_config = SimConfig.from_yaml(station_path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    world = World(sim_config)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        print(
            "simulated fridge: "
            + ", ".join(f"{name} {host}:{port}" for name, (host, port) in fridge.addresses.items())
        )
        started = time.monotonic()
        result = run_and_report(prepared, out_dir=args.out, overrides=sim_overrides(fridge))
        print(f"demo took {_format_duration(time.monotonic() - started)} (wall time)")
        if world.junction.crashes:
            print(f"WARNING: the simulated tip crashed {len(world.junction.crashes)} time(s)")
    if result.path is not None:
        print(f"data: {result.path}")
    return exit_code(result.exit_status)
