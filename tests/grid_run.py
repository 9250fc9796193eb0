"""One small grid run on the simulated fridge, shared (session-scoped, ``grid_run`` in
``tests/conftest.py``) by the grid tests of procedures, storage and analysis.

6 × 5 points over a 60 × 50 nm frame turned by 15° around (200, −100) nm (the sim's gap
map varies on ~30 nm), a tunnelling (1 nA) and a contact (1 µA) spectrum at each, 121
bias points taken by the controller, a drift spectrum every 10 points: 60 sweeps, a few
seconds at speedup 5000.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge, World
from tests.conftest import make_world, station_file_for

SPEEDUP = 5000.0
GRID: dict[str, Any] = {
    "procedure": "GridSeries",
    "name": "grid",
    "parameters": {
        "frame_x": 200e-9,
        "frame_y": -100e-9,
        "frame_width": 60e-9,
        "frame_height": 50e-9,
        "frame_angle": 15.0,
        "points_x": 6,
        "points_y": 5,
        "drift_every": 10,
        "ladder_start": 1e-9,
        "ladder_stop": 1e-6,
        "ladder_steps": 2,
        "setpoint_bias": 10e-3,
        "bias_points": 121,
        "sweep_mode": "controller",
        "lockin_time_constant": 0.001,
        "tip_settle": 0.2,
        "approach_settle": 0.1,
        "approach_steps_per_decade": 2,
    },
}


@dataclass
class GridRun:
    """The finished run file, the simulated world it was measured on, its experiment."""

    path: Path
    world: World
    experiment: Path
    exit_status: str


def write_grid_experiment(folder: Path, **changes: Any) -> Path:
    """:data:`GRID` with ``changes`` to its parameters, as ``folder/grid.yaml``."""
    data = {**GRID, "parameters": {**GRID["parameters"], **changes}}
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def make_grid_run(folder: Path) -> GridRun:
    """Run :data:`GRID` on a fresh simulated fridge (seed 1234) into ``folder``."""
    experiment = write_grid_experiment(folder)
    world = make_world(speedup=SPEEDUP)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, folder, speedup=SPEEDUP)
        result = run_experiment(experiment, station, out_dir=folder)
    return GridRun(result.path, world, experiment, result.exit_status)
