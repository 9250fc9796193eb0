"""Run an experiment against a station: checks, plan, then the engine.

What happens, in order:

1. The experiment and station files are validated; every value of the plan is checked
   against the station's safety limits (:func:`prepare`). Any problem stops here,
   before anything is connected (a dry run stops here too).
2. :func:`run_experiment` hands the procedure to the engine
   (:func:`andreev.engine.lifecycle.run_plan`): the instruments are opened, the run file
   is created (or re-opened with ``resume``) with a log file next to it, the
   :class:`~andreev.engine.run_engine.RunEngine` walks the grid and leaves the
   instruments safe on every exit path, and the exit status (``completed``,
   ``incomplete``, ``aborted``, ``failed``) is written into the file.

Nothing here prints: the CLI (``andreev.cli.run``) listens to the engine's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from andreev.config import ConfigError
from andreev.engine.eta import format_duration, wall_clock_at
from andreev.engine.events import Listener
from andreev.engine.lifecycle import RunInfo, RunResult, run_plan
from andreev.engine.plan import OuterAxis
from andreev.engine.stop import StopFlag
from andreev.errors import LimitError
from andreev.instruments.station import StationConfig, load_station_config
from andreev.procedures._driver_checks import station_facts
from andreev.procedures.base import NO_OUTER, POINT_WALL_COST, SweepProcedure
from andreev.procedures.experiment import Experiment, experiment_from_text, load_experiment
from andreev.procedures.transport import TransportRT, describe_transport, run_transport

__all__ = [
    "LimitError",
    "Prepared",
    "RunResult",
    "check_limits",
    "describe_plan",
    "estimate_line",
    "format_duration",
    "prepare",
    "run_experiment",
    "run_prepared",
]


@dataclass
class Prepared:
    """A validated experiment, its station and the run file to resume (if any)."""

    experiment: Experiment
    station: StationConfig
    resume: Path | None = None


def check_limits(experiment: Experiment, station: StationConfig) -> None:
    """Raise LimitError for the plan values outside the safety limits: one line naming
    the first in full and the keys of the others; all of them in ``details``."""
    facts = station_facts(station)
    problems = experiment.procedure.limit_problems(station.safety, facts)
    if not problems:
        return
    others = [f"parameters.{p.key}" for p in problems[1:]]
    more = f" (and {len(others)} more: {', '.join(others)})" if others else ""
    error = LimitError(
        experiment.path,
        f"parameters.{problems[0].key}",
        problems[0].message + more + f" [limits from {station.path}]",
    )
    error.details = tuple(f"{experiment.path}: parameters.{p.key}: {p.message}" for p in problems)
    raise error


def planned_wall_seconds(experiment: Experiment, station: StationConfig) -> float:
    """The procedure's estimate of the run in wall seconds at the station's speedup: its
    waits (world s) over the speedup plus the instruments' requests (a calibrated cost
    per point, :meth:`~andreev.procedures.base.SweepProcedure.estimated_wall_duration`)."""
    return float(experiment.procedure.estimated_wall_duration(station.speedup))


def _outer_line(axis: OuterAxis) -> str:
    """The plan's outer stepper: its values, a grid's frame (nm) and visiting order, or
    none (a ladder or a spectrum alone)."""
    grid = axis.grid
    if grid is not None:
        width, height = (float(np.ptp(v)) * 1e9 for v in (grid.x, grid.y))
        cx, cy = (c * 1e9 for c in grid.centre)
        drift = f", drift check every {grid.drift_every}" if grid.drift_every else ""
        return (
            f"  outer   grid: {grid.x.size} × {grid.y.size} points spanning {width:g} × "
            f"{height:g} nm around ({cx:g}, {cy:g}) nm, angle {grid.angle:g}°, "
            f"serpentine{drift}"
        )
    if axis.name == NO_OUTER and len(axis.values) == 1:
        return "  outer   none (a single step)"
    steps = ", ".join(f"{v:g}" for v in axis.values[:12])
    steps += (" …" if len(axis.values) > 12 else "") + (f" {axis.unit}" if axis.unit else "")
    return f"  outer   {axis.name}: {len(axis.values)} step(s) {steps}"


def describe_plan(experiment: Experiment, station: StationConfig) -> list[str]:
    """Lines describing the plan (what ``andreev run``, its dry run and the GUI show):
    the grid of sweeps, counted as the engine and the progress count them — one sweep per
    (outer step, setpoint), its directions included —, the setpoints in the order they
    are walked, and the duration ending in a wall-clock time."""
    proc = experiment.procedure
    if isinstance(proc, TransportRT):  # R(T), not a grid of sweeps
        return describe_transport(proc, experiment.name, experiment.path)
    axis, setpoints, bias = proc.outer_axis(), proc.setpoints(), proc.bias_values()
    directions = proc.directions()
    return [
        f"experiment {experiment.name}: {type(proc).__name__} ({experiment.path})",
        _outer_line(axis),
        f"  setpoints: {len(setpoints)} from {setpoints[0]:.3g} A to {setpoints[-1]:.3g} A "
        f"at V_set = {proc.setpoint_bias:g} V",
        f"  bias: {bias.size} points from {bias[0]:g} V to {bias[-1]:g} V, "
        f"{'/'.join(directions)}, {proc.sweep_mode} mode, "
        f"{proc.settle_time() * 1e3:.3g} ms settling per point",
        f"  sweeps: {len(axis.values) * len(setpoints)} ({len(axis.values)} step(s) × "
        f"{len(setpoints)} setpoint(s), each {' + '.join(directions)})",
        estimate_line(proc, station.speedup),
    ]


def estimate_line(proc: SweepProcedure, speedup: float) -> str:
    """``estimated duration: <wall> wall (<world> of waits [at speedup S] + <talk> of
    requests …), ends about HH:MM``: the plan's duration with the instruments' cost per
    point, and when it would end if started now."""
    world = proc.estimated_duration()
    talk = proc.talk_duration()
    wall = proc.estimated_wall_duration(speedup)
    waits = f"{format_duration(world)} of world time" + (
        f" = {format_duration(world / speedup)} at speedup {speedup:g}" if speedup != 1 else ""
    )
    per_point = POINT_WALL_COST[str(proc.sweep_mode)]
    return (
        f"  estimated duration: {format_duration(wall)} wall ({waits}, + "
        f"{format_duration(talk)} of requests: {proc.points()} points × "
        f"{per_point * 1e3:.3g} ms and the sweeps' fixed cost), "
        f"ends about {wall_clock_at(wall)} if started now"
    )


def prepare(
    experiment: Experiment | Path | str | None,
    station_config: StationConfig | Path | str,
    resume: Path | str | None = None,
) -> Prepared:
    """Read and validate the station and the experiment (from ``resume``'s run file
    when given) and check every plan value against the safety limits; nothing is
    connected.

    Raises:
        ConfigError: a file is wrong; LimitError: a value is outside a limit.
    """
    from andreev import storage

    station = (
        station_config
        if isinstance(station_config, StationConfig)
        else load_station_config(station_config)
    )
    resume_path = None if resume is None else Path(resume)
    if resume_path is not None:
        experiment = experiment_from_text(storage.read_config_yaml(resume_path), resume_path)
    elif experiment is None:
        raise ConfigError(
            "(command line)", "experiment", "give an EXPERIMENT.yaml, or --resume FILE"
        )
    elif not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    check_limits(experiment, station)
    return Prepared(experiment, station, resume_path)


def run_experiment(
    experiment: Experiment | Path | str | None,
    station_config: StationConfig | Path | str,
    *,
    out_dir: Path | str = "data",
    resume: Path | str | None = None,
    dry_run: bool = False,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stop: StopFlag | None = None,
    listeners: Iterable[Listener] = (),
) -> RunResult:
    """Check ``experiment`` against the station, then run it with the engine.

    With ``resume`` the experiment stored in that run file is continued (``experiment``
    may be None). ``listeners`` receive the engine's events. With ``dry_run`` nothing is
    connected: the result's status is "dry-run".

    Raises:
        ConfigError/LimitError before anything moves when a file or a limit is wrong.
    """
    prepared = prepare(experiment, station_config, resume)
    if dry_run:
        return RunResult(None, "dry-run")
    return run_prepared(
        prepared, out_dir=out_dir, overrides=overrides, stop=stop, listeners=listeners
    )


def run_prepared(
    prepared: Prepared,
    *,
    out_dir: Path | str = "data",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stop: StopFlag | None = None,
    listeners: Iterable[Listener] = (),
) -> RunResult:
    """Run a checked experiment with the engine (see :func:`run_experiment`)."""
    exp, station = prepared.experiment, prepared.station
    if isinstance(exp.procedure, TransportRT):  # its own runner (issue 12)
        named = {"name": exp.name, "text": exp.text}
        return run_transport(
            exp.procedure, station, named, out_dir=out_dir, resume=prepared.resume,
            overrides=overrides, stop=stop, listeners=listeners,
        )  # fmt: skip
    info = RunInfo(
        name=exp.name,
        text=exp.text,
        procedure=type(exp.procedure).__name__,
        extra={"station_yaml": station.text, "station_file": station.file_for_runs()},
    )
    return run_plan(
        exp.procedure,
        station,
        info,
        out_dir=out_dir,
        resume=prepared.resume,
        overrides=overrides,
        stop=stop,
        listeners=listeners,
    )
