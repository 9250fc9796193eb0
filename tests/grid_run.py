"""One small grid run on the simulated fridge, shared (session-scoped, ``grid_run`` in
``tests/conftest.py``) by the grid tests of procedures, storage and analysis.

6 × 5 points over a 60 × 50 nm frame turned by 15° around (200, −100) nm (the sim's gap
map varies on ~30 nm), a tunnelling (1 nA) and a contact (1 µA) spectrum at each, 121
bias points taken by the controller, a drift spectrum every 10 points: 60 sweeps, a few
seconds at speedup 5000. Under pytest-xdist the run is made once for all worker
processes (:func:`shared_grid_run`: a lock file in the session's shared temporary
folder); the other processes get the same file and a fresh ``World`` of the same seed
(its gap map, Δ(x, y), is the one the run was measured on).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge, World
from tests.conftest import make_world, station_file_for

SPEEDUP = 5000.0
SEED = 1234
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
    """Run :data:`GRID` on a fresh simulated fridge (seed :data:`SEED`) into ``folder``."""
    experiment = write_grid_experiment(folder)
    world = make_world(seed=SEED, speedup=SPEEDUP)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, folder, speedup=SPEEDUP)
        result = run_experiment(experiment, station, out_dir=folder)
    return GridRun(result.path, world, experiment, result.exit_status)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive OS lock on ``path`` (POSIX; elsewhere no lock)."""
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: the xdist workers may each make their own run
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shared_grid_run(base: Path) -> GridRun:
    """:func:`make_grid_run` once per test session, also across xdist worker processes:
    ``base`` is the session's temporary folder (``tmp_path_factory.getbasetemp()``)."""
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grid-run"
    root.mkdir(exist_ok=True)
    with _locked(root / "lock"):
        done = root / "done.json"
        if done.exists():
            info = json.loads(done.read_text())
            world = make_world(seed=SEED, speedup=SPEEDUP)
            return GridRun(Path(info["path"]), world, Path(info["experiment"]), info["status"])
        run = make_grid_run(root)
        info = {"path": str(run.path), "experiment": str(run.experiment), "status": run.exit_status}
        done.write_text(json.dumps(info))
        return run
