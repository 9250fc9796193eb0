"""Size of a grid run's file: a 128 × 128 map of 1000-point spectra (dI/dV, X, Y, current)
projected from a real grid run on the simulated fridge.

The run: an 8 × 8 ``GridSeries`` (one tunnelling setpoint, forward, 1000 bias points,
taken by the controller) on the simulator with the imperfections of
``config/sim-realistic.yaml`` (noise on), at speedup 10 000. The file's signals are
float32, one sweep per chunk, shuffle + gzip (``andreev.storage.layout``). Measured:
the compressed bytes per signal value, and the bytes a sweep costs besides (chunk
indexes, per-sweep datasets: the file minus the signals minus the same layout without
any sweep, written here too). Baseline in the same run: the same signals as float64,
uncompressed (8 B per value). Prints figures only.
Run from the repository root: PYTHONPATH=$PWD python benchmarks/grid_size.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from andreev.procedures.runner import run_experiment
from andreev.sim import SimConfig, SimFridge, World
from andreev.storage import RunWriter, load_grid

ROOT = Path(__file__).resolve().parents[1]
SPEEDUP = 10_000.0
N, BIAS_POINTS, TARGET = 8, 1000, 128
SIGNALS = ("dIdV", "x", "y", "current")
EXPERIMENT = {
    "procedure": "GridSeries",
    "name": "size",
    "parameters": {
        "frame_width": 100e-9,
        "frame_height": 100e-9,
        "points_x": N,
        "points_y": N,
        "ladder_steps": 1,
        "setpoint_bias": 10e-3,
        "bias_points": BIAS_POINTS,
        "sweep_mode": "controller",
        "lockin_time_constant": 0.001,
        "tip_settle": 0.1,
        "approach_settle": 0.1,
    },
}


def station_file(fridge: SimFridge, folder: Path) -> Path:
    """config/sim.yaml pointing at ``fridge``."""
    return fridge.write_station(ROOT / "config" / "sim.yaml", folder / "station.yaml", SPEEDUP)


def empty_like(run: Path, out: Path) -> int:
    """Bytes of the same grid layout with no sweep written."""
    grid = load_grid(run)
    assert grid is not None
    with h5py.File(run, "r") as f:
        data = f["entry/data"]
        setpoints, bias = data["setpoint"][()], data["bias"][()]
    RunWriter.create(
        out,
        outer_name="position",
        outer_values=np.arange(grid.n_visits),
        outer_unit="",
        setpoints=setpoints,
        bias=bias,
        directions=("forward",),
        setpoint_bias=10e-3,
        v_mod_rms=1e-5,
        config_yaml=(run.parent / "size.yaml").read_text(),
        snapshot={},
        grid=grid,
    ).close()
    return out.stat().st_size


def main() -> None:
    config = SimConfig.from_yaml(ROOT / "config" / "sim-realistic.yaml")
    config.speedup = SPEEDUP
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        experiment = folder / "size.yaml"
        experiment.write_text(yaml.safe_dump(EXPERIMENT))
        start = time.perf_counter()
        with SimFridge(World(config), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
            result = run_experiment(experiment, station_file(fridge, folder), out_dir=folder)
        took = time.perf_counter() - start
        with h5py.File(result.path, "r") as f:
            data = f["entry/data"]
            signal_bytes = sum(data[n].id.get_storage_size() for n in SIGNALS)
            values = len(SIGNALS) * data["dIdV"].size
            sweeps = int(np.prod(data["status"].shape))
        total = result.path.stat().st_size
        empty = empty_like(result.path, folder / "empty.h5")
    per_value = signal_bytes / values
    per_sweep = (total - signal_bytes - empty) / sweeps
    target_sweeps = TARGET * TARGET
    projected = target_sweeps * (BIAS_POINTS * len(SIGNALS) * per_value + per_sweep)
    baseline = target_sweeps * BIAS_POINTS * len(SIGNALS) * 8
    print(f"grid run: {N} x {N} x {BIAS_POINTS} bias points, {result.exit_status}, {took:.1f} s")
    print(f"signals: {per_value:.3f} B per value (float32 raw: 4, float64 raw: 8)")
    print(f"besides the signals: {per_sweep:.0f} B per sweep; empty layout {empty / 1e3:.0f} kB")
    print(
        f"{TARGET} x {TARGET} x {BIAS_POINTS} map of {', '.join(SIGNALS)}: "
        f"{projected / 1e6:.0f} MB (+ the empty layout); float64 uncompressed baseline "
        f"{baseline / 1e6:.0f} MB, ratio {projected / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
