"""Run files for the watch tests: synthetic ones written with the real RunWriter, and a
script (``python -m tests.gui.runs live PATH``) that writes a run with the ``/entry/live``
group of the sweep in progress, the way the engine will (see andreev.gui.reader.LIVE_GROUP).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import yaml

from andreev.gui.reader import LIVE_GROUP
from andreev.physics import dynes_conductance
from andreev.storage import RunWriter

TEMPERATURES = (0.05, 0.6, 1.2)  # K
SETPOINTS = (1e-9, 1e-8, 1e-7)  # A
V_SET = 10e-3  # V
N_BIAS = 81
EXPERIMENT = {
    "procedure": "TemperatureSeries",
    "name": "synthetic",
    "parameters": {"temperatures": list(TEMPERATURES), "temperature_band": 0.01},
}
STATION = "clock: {speedup: 100}\n"


def bias() -> np.ndarray:
    return np.linspace(-1.5e-3, 1.5e-3, N_BIAS)


def spectrum(i: int, j: int) -> np.ndarray:
    """dI/dV (S) of a Dynes gap closing with temperature, at setpoint j."""
    gap = 0.55e-3 * max(0.0, 1 - (TEMPERATURES[i] / 1.45) ** 2) ** 0.5
    g = dynes_conductance(bias(), max(gap, 1e-6), 0.02e-3, TEMPERATURES[i], 10e-6)
    return g * SETPOINTS[j] / V_SET


def create(path: Path) -> RunWriter:
    return RunWriter.create(
        path,
        outer_name="temperature",
        outer_values=TEMPERATURES,
        outer_unit="K",
        setpoints=SETPOINTS,
        bias=bias(),
        setpoint_bias=V_SET,
        v_mod_rms=10e-6,
        config_yaml=yaml.safe_dump(EXPERIMENT),
        snapshot={},
        extra_attrs={
            "experiment_name": "synthetic",
            "procedure": "TemperatureSeries",
            "station_yaml": STATION,
        },
    )


def write(writer: RunWriter, i: int, j: int, timestamp: float) -> None:
    g = spectrum(i, j)
    writer.write_sweep(
        i,
        j,
        0,
        didv=g,
        x=g,
        y=0 * g,
        current=np.cumsum(g) * (bias()[1] - bias()[0]),
        temperature=TEMPERATURES[i] * 1.001,
        z=0.0,
        timestamp=timestamp,
        g_normal=SETPOINTS[j] / V_SET,
    )


def settle(writer: RunWriter, i: int) -> None:
    t = np.arange(0.0, 300.0, 2.0)
    temp = TEMPERATURES[i] + 0.2 * np.exp(-t / 60.0)
    writer.write_settling_trace(i, t, temp, np.full(t.size, 10.0))


def make_run(path: Path, n_sweeps: int, exit_status: str = "completed") -> Path:
    """A closed run with its first ``n_sweeps`` sweeps (in run order) taken."""
    writer = create(path)
    t0 = time.time()
    for n in range(n_sweeps):
        i, j = divmod(n, len(SETPOINTS))
        if j == 0:
            settle(writer, i)
        write(writer, i, j, t0 + 10.0 * n)
    writer.close(exit_status)
    return path


def add_live_group(path: Path) -> None:
    """Add /entry/live to a closed run (the writer will create it with the layout)."""
    n = len(bias())
    with h5py.File(path, "r+", libver="latest") as f:
        g = f.create_group(LIVE_GROUP)
        g.create_dataset("index", data=np.full(3, -1, dtype=np.int32))
        g.create_dataset("n_points", data=np.int32(0))
        for name in ("dIdV", "x", "y", "current"):
            g.create_dataset(name, shape=(n,), dtype="f8", fillvalue=np.nan)
        for name in ("temperature", "started", "updated"):
            g.create_dataset(name, data=np.nan)


def write_live(writer: RunWriter, index: tuple[int, int, int], n_points: int, started: float):
    """What the engine will do about once a second: points so far, then index, flush."""
    g = writer._f[LIVE_GROUP]  # the writer's own handle: a stand-in for RunWriter.write_live
    didv = np.full(N_BIAS, np.nan)
    didv[:n_points] = spectrum(index[0], index[1])[:n_points]
    g["dIdV"][:] = didv
    g["n_points"][()] = n_points
    g["temperature"][()] = TEMPERATURES[index[0]]
    g["started"][()] = started
    g["index"][:] = np.asarray(index, dtype=np.int32)
    g["updated"][()] = time.time()
    writer._f.flush()


def live_main(path: Path, die: bool) -> None:
    """Two sweeps done, then the third measured point by point with live flushes (the
    script waits for a line on stdin between flushes), then written; with ``die`` the
    process kills itself (SIGKILL) in the middle of the third sweep instead."""
    make_run(path, 2, exit_status="running")
    add_live_group(path)
    writer = RunWriter.open(path)
    started = time.time()
    for n_points in (20, 40, 60):
        write_live(writer, (0, 2, 0), n_points, started)
        print(f"live {n_points}", flush=True)
        sys.stdin.readline()
        if die and n_points == 40:
            os.kill(os.getpid(), signal.SIGKILL)
    write(writer, 0, 2, started)
    print("written", flush=True)
    sys.stdin.readline()
    writer.close("completed")
    print("closed", flush=True)


if __name__ == "__main__":
    live_main(Path(sys.argv[2]), die=sys.argv[1] == "die")
