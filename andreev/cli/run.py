"""``andreev run`` and ``andreev demo``: run an experiment against a station.

The printing half of a run: every input checked before anything is connected or
written (the experiment file first, then ``-p`` overrides, the station, ``--out`` and
``--resume``, the limits, the static station checks), the plan, the station lock, the
run file, a progress line (from the engine's events) with log lines above it, how the
run ended and how to continue it, the station's ``notify:`` command; the exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from andreev.cli.common import (
    EXIT_ABORTED,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    project_root,
    station_or_default,
)
from andreev.cli.progress import OneLineFormatter, Progress, ProgressLogHandler
from andreev.cli.settling_view import SettlingView

if TYPE_CHECKING:
    from andreev.engine.events import Event
    from andreev.engine.station_lock import StationLock
    from andreev.procedures.runner import Prepared

__all__ = [
    "EXIT_ABORTED",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_OK",
    "Progress",
    "Reporter",
    "exit_code",
    "run_main",
]

#: signature of every HDF5 file (its first 8 bytes)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: loggers of the libraries under the drivers: to the run's log only, never the console
LIBRARY_LOGGERS = ("qcodes", "pyvisa", "pyvisa_py")


def add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run an experiment YAML against a station",
        description="Check every input, print the plan, then run it (--dry-run: check and "
        "print only; nothing is connected or written).",
    )
    p.add_argument(
        "experiment",
        type=Path,
        nargs="?",
        default=None,
        help="experiment YAML (config/experiments/*.yaml); omit with --resume",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="station YAML (default: config/sim.yaml of the andreev project, not of the "
        "working folder)",
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder")
    p.add_argument("--resume", type=Path, default=None, help="continue this cut run (HDF5)")
    p.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a parameter of the experiment for this run (checked like the file, stored "
        "in the run file); repeat for several",
    )
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


class Reporter:
    """Prints what a run's user needs from the engine's events: the run file, the end,
    and how to continue a run that did not complete.

    Args:
        station_path: the station file (for the ``--resume`` line).
        stream: where to print (stdout by default).
        on_file: called with the run file's path once it exists (the lock, the logs).
    """

    def __init__(
        self,
        station_path: Path,
        stream: IO[str] | None = None,
        on_file: Any = None,
    ) -> None:
        self.station_path = station_path
        self.stream = stream or sys.stdout
        self.on_file = on_file
        self.path: Path | None = None
        self.status: str | None = None
        self.done = self.total = 0

    def __call__(self, event: Event) -> None:
        from andreev.engine.events import RunEnded, RunFileOpened, SweepDone, SweepFailed

        if isinstance(event, RunFileOpened):
            self.path = event.path
            if self.on_file is not None:
                self.on_file(event.path)
            print(f"run file: {event.path}", file=self.stream, flush=True)
        elif isinstance(event, SweepDone | SweepFailed):
            self.done, self.total = event.done, event.total
        elif isinstance(event, RunEnded):
            self.status = event.exit_status
            print(f"run {event.exit_status}: {event.path}", file=self.stream, flush=True)
            if event.exit_status != "completed" and event.path is not None:
                print(self.resume_line(event.path), file=self.stream, flush=True)

    def resume_line(self, path: Path) -> str:
        """``continue with: andreev run --resume FILE --config STATION``."""
        return f"continue with: andreev run --resume {path} --config {self.station_path}"

    def summary(self, status: str) -> str:
        """One line for a notifier: status, file and sweeps done."""
        sweeps = f", {self.done}/{self.total} sweeps" if self.total else ""
        return f"andreev run {status}: {self.path or '(no run file)'}{sweeps}"


def exit_code(status: str) -> int:
    """The process exit status of a run that ended ``status``."""
    return {"completed": EXIT_OK, "dry-run": EXIT_OK, "aborted": EXIT_ABORTED}.get(
        status, EXIT_FAILED
    )


class _RunLogging:
    """While a run lasts: console log records above the progress line (warnings and
    up, the drivers' libraries left out); once the run file exists, the libraries'
    records (qcodes, pyvisa) go to its log only."""

    def __init__(self, progress: Progress | None) -> None:
        fmt = OneLineFormatter()
        self.console: logging.Handler = (
            ProgressLogHandler(progress) if progress else logging.StreamHandler(sys.stderr)
        )
        self.console.setLevel(logging.WARNING)
        self.console.setFormatter(fmt)
        self.console.addFilter(lambda record: not record.name.startswith(LIBRARY_LOGGERS))
        self.file: logging.Handler | None = None

    def __enter__(self) -> _RunLogging:
        logging.getLogger().addHandler(self.console)
        return self

    def run_file(self, path: Path) -> None:
        """Send the libraries' warnings to ``path``'s log from now on."""
        self.file = logging.FileHandler(path.with_suffix(".log"), encoding="utf-8")
        self.file.setLevel(logging.WARNING)
        self.file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).addHandler(self.file)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self.console)
        if self.file is not None:
            for name in LIBRARY_LOGGERS:
                logging.getLogger(name).removeHandler(self.file)
            self.file.close()


def run_and_report(
    prepared: Prepared,
    *,
    out_dir: Path,
    overrides: Any = None,
    show_progress: bool = True,
    lock: StationLock | None = None,
    args: argparse.Namespace | None = None,
) -> Any:
    """Print the plan, run it with a progress line and the reporter, run the station's
    ``notify:`` command at the end; the RunResult (an error is re-raised after the
    notifier, with the ``--resume`` line printed when a run file exists)."""
    from andreev.cli.notify import notify
    from andreev.procedures.runner import describe_plan, planned_wall_seconds, run_prepared

    for line in describe_plan(prepared.experiment, prepared.station):
        print(line, flush=True)
    progress = (
        Progress(planned_seconds=planned_wall_seconds(prepared.experiment, prepared.station))
        if show_progress
        else None
    )
    with _RunLogging(progress) as logs:

        def file_opened(path: Path) -> None:
            logs.run_file(path)
            if lock is not None:
                lock.update(run_file=path)
            if args is not None:
                args.run_file = path

        reporter = Reporter(prepared.station.path, on_file=file_opened)
        settling = SettlingView(write=progress.write_above if progress else None)
        listeners: list[Any] = [reporter, settling] + ([progress.on_event] if progress else [])
        try:
            result = run_prepared(
                prepared, out_dir=out_dir, overrides=overrides, listeners=listeners
            )
        except BaseException as exc:
            if progress is not None:
                progress.close()
            if reporter.path is not None:
                print(reporter.resume_line(reporter.path), flush=True)
            line = " ".join(str(exc).split()) or type(exc).__name__
            status = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
            notify(
                prepared.station.notify,
                reporter.path,
                status,
                f"{reporter.summary(status)}: {line}",
            )
            raise
        if progress is not None:
            progress.close()
        notify(
            prepared.station.notify,
            result.path,
            result.exit_status,
            reporter.summary(result.exit_status),
        )
    return result


def check_out_dir(out: Path) -> None:
    """``--out`` must be a folder (or not exist yet): ConfigError otherwise."""
    from andreev.errors import ConfigError

    if out.exists() and not out.is_dir():
        raise ConfigError(
            "(command line)", "--out", f"{out} is a file; give a folder for the run files"
        )


def check_resume_file(path: Path) -> None:
    """``--resume`` must name an existing, whole HDF5 file: ConfigError otherwise."""
    from andreev.errors import ConfigError

    if not path.exists():
        raise ConfigError(path, "--resume", "no such file; give the run file (.h5) to continue")
    if path.is_dir():
        raise ConfigError(path, "--resume", "is a folder; give the run file (.h5) to continue")
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        raise ConfigError(path, "--resume", f"cannot read: {exc.strerror or exc}") from exc
    if head != HDF5_SIGNATURE:
        raise ConfigError(path, "--resume", "not an HDF5 file; give an andreev run file (.h5)")
    from andreev.storage.superblock import truncation_problem

    if (cut := truncation_problem(path)) is not None:
        raise ConfigError(path, "--resume", cut)


def stored_exit_status(path: Path) -> str | None:
    """The exit status a run file records, or None when it cannot be read here (a file
    left by a killed writer: the resume itself recovers it and reports any problem)."""
    try:
        from andreev.storage.reader import open_read
        from andreev.storage.schema import text

        with open_read(path) as handle:
            return str(text(handle["entry/exit_status"][()]))
    except Exception:  # unreadable here: let the resume's own checks speak
        return None


def prepare_inputs(args: argparse.Namespace) -> Prepared:
    """Every input of ``andreev run`` checked, nothing connected or written: the
    experiment file first (or the file to resume), the ``-p`` overrides, the station,
    ``--out``, the limits and the static station checks."""
    from andreev.cli.overrides import apply_overrides, parse_assignments
    from andreev.cli.station_checks import check_outer_parameter
    from andreev.engine.lifecycle import refuse_live_writer
    from andreev.errors import ConfigError
    from andreev.procedures.experiment import load_experiment
    from andreev.procedures.runner import prepare

    assignments = parse_assignments(args.params)
    experiment: Any = None
    if args.resume is not None:
        if args.experiment is not None or assignments:
            raise ConfigError(
                "(command line)",
                "--resume",
                "continues the run file's own experiment: give no EXPERIMENT.yaml and no -p",
            )
        check_resume_file(args.resume)
        refuse_live_writer(args.resume)  # before the file is read
    elif args.experiment is None:
        raise ConfigError(
            "(command line)", "experiment", "give an EXPERIMENT.yaml, or --resume FILE"
        )
    else:
        experiment = apply_overrides(load_experiment(args.experiment), assignments)
    station = station_or_default(args.config)
    check_out_dir(args.out)
    prepared = prepare(experiment, station, args.resume)
    check_outer_parameter(prepared.experiment, prepared.station)
    return prepared


def connection_problem(exc: BaseException, prepared: Prepared) -> str:
    """One line for an instrument the run could not connect to: which one (found in the
    traceback of ``open_station``, else all are listed), its address and the error
    (without the context qcodes appends to its arguments: the driver's own first query,
    like ``SRAT ?``, is not what the user asked for)."""
    from andreev.engine.failures import one_line

    name = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "open_station":
            name = tb.tb_frame.f_locals.get("name")
        tb = tb.tb_next
    instruments = prepared.station.instruments
    names = [name] if name in instruments else list(instruments)
    where = ", ".join(f"{n} at {instruments[n].get('address', '?')}" for n in names)
    return (
        f"{prepared.station.path}: instruments: cannot connect to {where} "
        f"({one_line(exc)}); is the instrument on (or `andreev sim` running)?"
    )


def run_main(args: argparse.Namespace) -> int:
    """``andreev run``: refuse a bad input in one line (exit 2) before anything moves;
    otherwise print the plan and run under the station's lock."""
    from andreev.engine.station_lock import StationLock
    from andreev.procedures.runner import describe_plan

    prepared = prepare_inputs(args)
    if args.resume is not None and stored_exit_status(args.resume) == "completed":
        print(f"nothing to resume: {args.resume} completed; no instrument was touched")
        return EXIT_OK
    if args.dry_run:
        for line in describe_plan(prepared.experiment, prepared.station):
            print(line)
        print("dry run: every value is within the safety limits; nothing was moved")
        return EXIT_OK
    with StationLock(prepared.station.path, "andreev run") as lock:
        try:
            result = run_and_report(prepared, out_dir=args.out, lock=lock, args=args)
        except (ConnectionError, TimeoutError) as exc:
            if getattr(args, "run_file", None) is not None:
                raise
            print(f"error: {connection_problem(exc, prepared)}", file=sys.stderr, flush=True)
            return EXIT_FAILED
    return exit_code(result.exit_status)


def find_config(relative: str) -> Path:
    """``relative`` (like ``config/sim.yaml``) in the andreev project (never the working
    folder); ConfigError saying where it looked."""
    from andreev.errors import ConfigError

    path = project_root() / relative
    if path.is_file():
        return path
    raise ConfigError(relative, "(file)", f"not found: looked for {path}")


def demo_main(args: argparse.Namespace) -> int:
    """``andreev demo``: the simulated fridge in-process, then the demo experiment."""
    from andreev.engine.eta import format_duration
    from andreev.procedures.runner import prepare
    from andreev.sim import SimConfig, SimFridge, World

    station_path = find_config("config/sim.yaml")
    prepared = prepare(find_config("config/experiments/demo.yaml"), station_path)
    sim_config = SimConfig.from_yaml(station_path)
    check_out_dir(args.out)
    world = World(sim_config)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        print(
            "simulated fridge: "
            + ", ".join(f"{name} {host}:{port}" for name, (host, port) in fridge.addresses.items())
        )
        started = time.monotonic()
        result = run_and_report(
            prepared, out_dir=args.out, overrides=fridge.station_overrides(), args=args
        )
        print(f"demo took {format_duration(time.monotonic() - started)} (wall time)")
        if world.junction.crashes:
            print(f"WARNING: the simulated tip crashed {len(world.junction.crashes)} time(s)")
    if result.path is not None:
        print(f"data: {result.path}")
    return exit_code(result.exit_status)
