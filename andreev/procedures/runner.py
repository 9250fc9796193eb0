"""Run an experiment against a station: checks, plan, run file, safe stop, resume.

What happens, in order:

1. The experiment and station files are validated; every value of the plan is checked
   against the station's safety limits. Any problem stops here, before anything is
   connected (``--dry-run`` stops here too, after printing the plan and its duration).
2. The instruments are opened; the run file is created (or re-opened with
   ``--resume``); a log file is written next to it.
3. The procedure walks its grid. Each sweep is flushed and fsynced when taken.
4. On every exit path — the end, an error, Ctrl-C, SIGTERM — the instruments are put
   in the safe state (bias back to V_set, setpoint back to the tunnelling value,
   feedback on, heater to the safe range) and the exit status (``completed``,
   ``aborted``, ``failed``) is written into the file.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from andreev.config import ConfigError
from andreev.instruments.station import StationConfig, load_station_config
from andreev.procedures.experiment import (
    Experiment,
    experiment_from_text,
    load_experiment,
)
from andreev.procedures.rig import Aborted

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("andreev.run")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_ABORTED = 0, 1, 2, 130


class LimitError(ConfigError):
    """The experiment asks for something outside the station's safety limits."""


@dataclass
class RunResult:
    """Where the run went and how it ended."""

    path: Path | None
    exit_status: str


def format_duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12.3 s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def check_limits(experiment: Experiment, station: StationConfig) -> None:
    """Raise LimitError listing every plan value outside the safety limits."""
    extra = {name: dict(sec.get("init") or {}) for name, sec in station.instruments.items()}
    problems = experiment.procedure.limit_problems(station.safety, extra)
    if problems:
        lines = [f"{experiment.path}: parameters.{p.key}: {p.message}" for p in problems]
        raise LimitError(
            experiment.path,
            f"parameters.{problems[0].key}",
            problems[0].message
            + (
                f" (and {len(problems) - 1} more:\n  " + "\n  ".join(lines[1:]) + ")"
                if len(problems) > 1
                else ""
            )
            + f" [limits from {station.path}]",
        )


def describe_plan(experiment: Experiment, station: StationConfig) -> list[str]:
    """Lines describing the grid of sweeps and the estimated duration."""
    proc = experiment.procedure
    axis = proc.outer_axis()
    setpoints = proc.setpoints()
    bias = proc.bias_values()
    world = proc.estimated_duration()
    lines = [
        f"experiment {experiment.name}: {type(proc).__name__} ({experiment.path})",
        f"  outer   {axis.name}: {len(axis.values)} step(s) "
        + (
            ", ".join(f"{v:g}" for v in axis.values[:12])
            + (" …" if len(axis.values) > 12 else "")
            + (f" {axis.unit}" if axis.unit else "")
        ),
        f"  setpoints: {len(setpoints)} from {setpoints.min():.3g} A to {setpoints.max():.3g} A "
        f"at V_set = {proc.setpoint_bias:g} V",
        f"  bias: {bias.size} points from {bias[0]:g} V to {bias[-1]:g} V, "
        f"{'/'.join(proc.directions())}, {proc.sweep_mode} mode, "
        f"{proc.settle_time() * 1e3:.3g} ms settling per point",
        f"  sweeps: {len(axis.values) * len(setpoints) * len(proc.directions())}",
        f"  estimated duration: {format_duration(world)}"
        + (
            f" of world time = {format_duration(world / station.speedup)} at speedup "
            f"{station.speedup:g}"
            if station.speedup != 1
            else ""
        ),
    ]
    return lines


class StopFlag:
    """Set by Ctrl-C / SIGTERM (or a GUI button); a second Ctrl-C raises KeyboardInterrupt.

    Installed only in the main thread; elsewhere it is a plain flag.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        #: set while the instruments are being made safe: signals are then only logged,
        #: so a second Ctrl-C cannot cut the safe state short
        self.shutting_down = False

    def set(self, reason: str = "stop requested") -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    __call__ = is_set

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Catch SIGINT and SIGTERM while the run lasts (portable: SIGTERM where it exists)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            name = signal.Signals(signum).name
            if self.shutting_down:
                log.warning("%s received while making the instruments safe: finishing that", name)
                self.set(name)
                return
            if self.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            log.warning("%s received: stopping after the current point", name)
            self.set(name)

        previous = {}
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, handler)
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


class Progress:
    """The run's progress bar with its ETA (wall time), and the current sweep's.

    On a terminal one line is redrawn in place; otherwise (a log, a pipe) one line is
    printed per finished sweep.
    """

    width = 30

    def __init__(self, stream: Any = None) -> None:
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
            f"({100 * self.done / self.total:.0f} %), ETA {format_duration(self.eta)}"
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


def snapshot_json(station: Any) -> str:
    """The station snapshot (every setting of every instrument) as JSON text."""
    return json.dumps(station.snapshot(update=False), default=str, indent=1)


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Send andreev's log records to ``path`` while the run lasts."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("andreev")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def _new_run_path(out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{name}-{stamp}.h5"
    n = 1
    while path.exists():
        path = out_dir / f"{name}-{stamp}-{n}.h5"
        n += 1
    return path


def run_experiment(
    experiment: Experiment | Path | str | None,
    station_config: StationConfig | Path | str,
    *,
    out_dir: Path | str = "data",
    resume: Path | str | None = None,
    dry_run: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stop: StopFlag | None = None,
    show_progress: bool = True,
    progress: Any = None,
    echo: Any = print,
) -> RunResult:
    """Run ``experiment`` on the station; see the module docstring for the sequence.

    With ``resume`` the experiment stored in that run file is continued (``experiment``
    may be None). ``progress(done, total, seconds)`` replaces the printed progress bar.
    Raises ConfigError/LimitError before anything moves when a file or a
    limit is wrong.
    """
    from andreev import storage

    station = (
        station_config
        if isinstance(station_config, StationConfig)
        else load_station_config(station_config)
    )
    if resume is not None:
        resume = Path(resume)
        stored = storage.read_config_yaml(resume)
        experiment = experiment_from_text(stored, resume)
    elif not isinstance(experiment, Experiment):
        if experiment is None:
            raise ConfigError(
                "(command line)", "experiment", "give an EXPERIMENT.yaml, or --resume FILE"
            )
        experiment = load_experiment(experiment)
    check_limits(experiment, station)
    for line in describe_plan(experiment, station):
        echo(line)
    if dry_run:
        echo("dry run: every value is within the safety limits; nothing was moved")
        return RunResult(None, "dry-run")

    from andreev.instruments.station import close_station, open_station
    from andreev.procedures.rig import Rig

    proc = experiment.procedure
    stop = stop or StopFlag()
    qc_station, _ = open_station(station, overrides=overrides)
    exit_status = "failed"
    path: Path | None = None
    book = None
    try:
        rig = Rig.from_station(qc_station, station.safety, station.clock())
        if resume is not None:
            path = resume
            book = storage.RunWriter.open(path)
            check_same_grid(proc, book, path)
        else:
            path = _new_run_path(Path(out_dir), experiment.name)
            axis = proc.outer_axis()
            book = storage.RunWriter.create(
                path,
                outer_name=axis.name,
                outer_values=axis.values,
                outer_unit=axis.unit,
                extra_outer_coords=axis.extra or None,
                setpoints=proc.setpoints(),
                bias=proc.bias_values(),
                directions=proc.directions(),
                setpoint_bias=float(proc.setpoint_bias),
                v_mod_rms=float(proc.modulation_rms),
                config_yaml=experiment.text,
                snapshot=json.loads(snapshot_json(qc_station)),
                extra_attrs={
                    "experiment_name": experiment.name,
                    "procedure": type(proc).__name__,
                    "station_yaml": station.text,
                },
            )
        echo(f"run file: {path}")
        with log_to_file(path.with_suffix(".log")), stop.installed():
            proc.rig, proc.book = rig, book
            proc.should_stop = stop.is_set
            proc.emit = lambda topic, record: log.debug("%s: %s", topic, record)
            proc.progress = progress or (Progress() if show_progress else None)
            try:
                log.info("run started: %s", path)
                proc.startup()
                proc.execute()
                unfinished = book.first_unfinished()
                exit_status = "completed" if unfinished is None else "incomplete"
                if unfinished is not None:
                    log.warning("run ended with unfinished sweeps, first at %s", unfinished)
            except (Aborted, KeyboardInterrupt):
                exit_status = "aborted"
                log.warning("run aborted (%s)", stop.reason or "interrupt")
            except Exception:
                exit_status = "failed"
                log.exception("run failed")
                raise
            finally:
                stop.shutting_down = True
                try:
                    proc.shutdown()
                    log.info("instruments in the safe state")
                except BaseException:
                    log.exception("could not reach the safe state")
                    exit_status = "failed"
    finally:
        if book is not None:
            book.close(exit_status)
        close_station(qc_station)
    echo(f"run {exit_status}: {path}")
    if exit_status != "completed" and path is not None:
        echo(f"continue with: andreev run --resume {path} --config {station.path}")
    return RunResult(path, exit_status)


def check_same_grid(proc: Any, book: Any, path: Path) -> None:
    """Refuse to resume when the procedure rebuilt from the stored experiment does not
    lay out the same grid as the file (another software version, say): its sweeps would
    land at the wrong indices."""
    import numpy as np

    axis = proc.outer_axis()
    mismatched = [
        name
        for name, mine, theirs in (
            ("outer axis", axis.values, book.outer_values),
            ("setpoints", proc.setpoints(), book.setpoints),
            ("bias", proc.bias_values(), book.bias),
        )
        if np.shape(mine) != np.shape(theirs) or not np.allclose(mine, theirs, rtol=1e-9)
    ]
    if tuple(proc.directions()) != tuple(book.directions):
        mismatched.append("directions")
    if mismatched:
        raise ConfigError(
            path,
            "(resume)",
            f"the stored experiment no longer gives the file's grid ({', '.join(mismatched)} "
            "differ); resume with the software version that started the run",
        )


def _exit_code(status: str) -> int:
    return {"completed": EXIT_OK, "dry-run": EXIT_OK, "aborted": EXIT_ABORTED}.get(
        status, EXIT_FAILED
    )


def run_main(args: argparse.Namespace) -> int:
    """``andreev run``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run_experiment(
            args.experiment,
            args.config,
            out_dir=args.out,
            resume=args.resume,
            dry_run=args.dry_run,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return _exit_code(result.exit_status)


def find_config(relative: str) -> Path:
    """``relative`` (like ``config/sim.yaml``) in the working folder, else in the checkout
    this package was installed from."""
    here = Path(relative)
    if here.exists():
        return here
    checkout = Path(__file__).resolve().parents[2] / relative
    if checkout.exists():
        return checkout
    raise ConfigError(relative, "(file)", "not found in the working folder or the checkout")


def demo_main(args: argparse.Namespace) -> int:
    """``andreev demo``: the simulated fridge in-process, then the demo experiment."""
    from andreev.sim import SimConfig, SimFridge, World

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        station = load_station_config(find_config("config/sim.yaml"))
        experiment = load_experiment(find_config("config/experiments/demo.yaml"))
        sim_config = SimConfig.from_yaml(station.path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    world = World(sim_config)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        print(
            "simulated fridge: "
            + ", ".join(f"{name} {host}:{port}" for name, (host, port) in fridge.addresses.items())
        )
        overrides = sim_overrides(fridge)
        started = time.monotonic()
        result = run_experiment(experiment, station, out_dir=args.out, overrides=overrides)
        print(f"demo took {format_duration(time.monotonic() - started)} (wall time)")
        if world.junction.crashes:
            print(f"WARNING: the simulated tip crashed {len(world.junction.crashes)} time(s)")
    if result.path is not None:
        print(f"data: {result.path}")
    return _exit_code(result.exit_status)


def sim_overrides(fridge: Any) -> dict[str, dict[str, str]]:
    """Addresses of a running SimFridge as ``open_station`` overrides."""
    host, port = fridge.addresses["stm"]
    return {
        "lockin": {"address": fridge.visa_address("lockin")},
        "bridge": {"address": fridge.visa_address("bridge")},
        "stm": {"address": f"{host}:{port}"},
    }
