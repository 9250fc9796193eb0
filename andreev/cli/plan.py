"""The plan a run prints before it starts (and the dry run prints instead of running).

It counts sweeps as the engine and the progress bar do: one sweep per (outer step,
setpoint), its directions included (:mod:`andreev.engine.eta`); a ladder is described
in the order it is walked; the duration ends in a wall-clock time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from andreev.config.station import StationConfig
    from andreev.procedures.experiment import Experiment


def planned_wall_seconds(experiment: Experiment, station: StationConfig) -> float:
    """The procedure's estimate of the run in wall seconds at the speedup: its waits
    (world s) over the speedup plus the instruments' requests (a calibrated cost per
    point, :meth:`~andreev.procedures.base.SweepProcedure.estimated_wall_duration`)."""
    return float(experiment.procedure.estimated_wall_duration(station.speedup))


def describe_plan(experiment: Experiment, station: StationConfig) -> list[str]:
    """Lines describing the grid of sweeps and the estimated duration."""
    from andreev.engine.eta import format_duration, wall_clock_at

    proc = experiment.procedure
    axis, setpoints, bias = proc.outer_axis(), proc.setpoints(), proc.bias_values()
    directions = proc.directions()
    world = float(proc.estimated_duration())
    steps = ", ".join(f"{v:g}" for v in axis.values[:12])
    steps += (" …" if len(axis.values) > 12 else "") + (f" {axis.unit}" if axis.unit else "")
    wall = planned_wall_seconds(experiment, station)
    speed = f" of world time at speedup {station.speedup:g}" if station.speedup != 1 else ""
    sweeps = len(axis.values) * len(setpoints)
    return [
        f"experiment {experiment.name}: {type(proc).__name__} ({experiment.path})",
        f"  outer   {axis.name}: {len(axis.values)} step(s) {steps}",
        f"  setpoints: {len(setpoints)} from {setpoints[0]:.3g} A to {setpoints[-1]:.3g} A "
        f"at V_set = {proc.setpoint_bias:g} V",
        f"  bias: {bias.size} points from {bias[0]:g} V to {bias[-1]:g} V, "
        f"{'/'.join(directions)}, {proc.sweep_mode} mode, "
        f"{proc.settle_time() * 1e3:.3g} ms settling per point",
        f"  sweeps: {sweeps} ({len(axis.values)} step(s) × {len(setpoints)} setpoint(s), "
        f"each {' + '.join(directions)})",
        f"  estimated duration: {format_duration(wall)} wall ({format_duration(world)}{speed}"
        f" + {format_duration(proc.talk_duration())} of requests), "
        f"ends about {wall_clock_at(wall)} if started now",
    ]
