"""Fixtures shared across the suite: a simulated fridge on loopback ports and a
station file that points at it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from andreev.sim import SimConfig, SimFridge, World

# Property tests explore new examples on every developer run; in CI (``.ci/run`` sets
# CI=1) they draw the same examples every time, so a landing cannot hinge on one draw.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
SIM_STATION = ROOT / "config" / "sim.yaml"
EXPERIMENTS = ROOT / "config" / "experiments"


def make_world(seed: int = 1234, speedup: float = 1000.0) -> World:
    """A World from config/sim.yaml with the given seed and speedup."""
    config = SimConfig.from_yaml(SIM_STATION)
    config.seed = seed
    config.speedup = speedup
    return World(config)


def station_file_for(fridge: SimFridge, folder: Path, speedup: float = 1000.0) -> Path:
    """config/sim.yaml with the addresses of ``fridge`` (ports chosen by the OS)."""
    return fridge.write_station(SIM_STATION, folder / "station.yaml", speedup)


@pytest.fixture
def sim_fridge() -> Iterator[SimFridge]:
    """A started simulated fridge (speedup 1000, seed 1234) on ports chosen by the OS."""
    with SimFridge(make_world(), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        yield fridge


@pytest.fixture
def sim_station(sim_fridge: SimFridge, tmp_path: Path) -> Path:
    """A station file pointing at ``sim_fridge``."""
    return station_file_for(sim_fridge, tmp_path)


@pytest.fixture(scope="session")
def grid_run(tmp_path_factory: pytest.TempPathFactory):
    """A finished 6 × 5 GridSeries run on the simulated fridge (``tests/grid_run.py``),
    made once for the session (also across xdist workers) and shared by the grid tests;
    read-only (copy it before changing it)."""
    from tests.grid_run import shared_grid_run

    return shared_grid_run(tmp_path_factory.getbasetemp())


def resume_in_subprocess(path: Path, station: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``andreev run --resume PATH --config STATION`` as a user types it (a new process)."""
    return subprocess.run(
        [sys.executable, "-m", "andreev", "run", "--resume", str(path), "--config", str(station)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def start_run(args: list[str], cwd: Path) -> subprocess.Popen:
    """``andreev run ARGS`` in a new process, stdout and stderr on one text pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "andreev", "run", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_file_of(proc: subprocess.Popen) -> Path:
    """The run file a started run prints (``run file: PATH``), within 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("run file: "):
            return Path(line.split(": ", 1)[1].strip())
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the run never printed its file")


def drain(proc: subprocess.Popen) -> threading.Thread:
    """Read a started run's output in the background (a full pipe would stall it)."""
    thread = threading.Thread(target=proc.stdout.read, daemon=True)
    thread.start()
    return thread
