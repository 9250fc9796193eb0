"""Does ``andreev watch`` slow a run? Acquisition points/s with and without a watcher.

Run from the repository root as ``python benchmarks/watch.py [--rounds R] [--points N]
[--setpoints S] [--speedup X]``. Prints figures and the ratio; asserts nothing.

The simulated fridge is started in this process (like ``andreev demo``) and a setpoint
ladder at base temperature (``--setpoints`` sweeps of ``--points`` bias points, short
lock-in time constant, no temperature steps) is run with ``run_experiment`` into a fresh
file: one warm-up, then ``--rounds`` times without and with a watcher, interleaved. The
watcher is another process, ``python -m andreev watch RUN.h5`` on Qt's offscreen
platform (it polls, reads and repaints exactly as on a screen), started the moment the
runner announces the file and stopped after the run. Two rates per run:

- ``sweeps``: points of all sweeps but the first / (start of the last sweep − start of
  the first), from the timestamps in the file: the acquisition itself;
- ``run``: all points / wall time of ``run_experiment`` (opening the station included).

The watcher's CPU time (user + system, from ``wait4``) is printed too. Both runs share
the machine's cores with the watcher, so on a loaded machine the ratio also measures
the CPU the watcher takes away; the reads themselves never wait on the writer (see
``andreev.gui.reader``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from andreev.engine.events import Event, RunFileOpened
from andreev.instruments.station import load_station_config
from andreev.procedures.experiment import experiment_from_text
from andreev.procedures.runner import run_experiment
from andreev.sim import SimConfig, SimFridge, World
from andreev.storage import load

SIM_STATION = Path("config/sim.yaml")
ROOT = Path(__file__).resolve().parents[1]


def experiment_text(points: int, setpoints: int) -> str:
    return yaml.safe_dump(
        {
            "procedure": "SetpointLadder",
            "name": "bench",
            "parameters": {
                "ladder_start": 1.0e-9,
                "ladder_stop": 1.0e-7,
                "ladder_steps": setpoints,
                "tunnelling_current": 1.0e-9,
                "setpoint_bias": 10.0e-3,
                "bias_start": -1.5e-3,
                "bias_stop": 1.5e-3,
                "bias_points": points,
                "lockin_time_constant": 0.001,
                "lockin_slope": 12,
                "tip_settle": 0.1,
                "approach_settle": 0.1,
            },
        }
    )


def start_watcher(path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(
        [sys.executable, "-m", "andreev", "watch", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_watcher(proc: subprocess.Popen) -> float:
    """Stop the watcher; its CPU seconds (user + system)."""
    proc.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_utime + usage.ru_stime


def one_run(fridge: SimFridge, station: Any, text: str, out: Path, watched: bool) -> dict:
    """Run the experiment once; rates in points/s and the watcher's CPU seconds."""
    experiment = experiment_from_text(text, out / "bench.yaml")
    watcher: list[subprocess.Popen] = []

    def opened(event: Event) -> None:
        if watched and isinstance(event, RunFileOpened):
            watcher.append(start_watcher(event.path))

    started = time.perf_counter()
    result = run_experiment(
        experiment,
        station,
        out_dir=out,
        overrides=fridge.station_overrides(),
        listeners=[opened],
    )
    wall = time.perf_counter() - started
    cpu = stop_watcher(watcher[0]) if watcher else float("nan")
    ds = load(result.path)
    n_bias = ds.sizes["bias"]
    ts = np.sort(ds.timestamp.values[np.isfinite(ds.timestamp.values)])
    return {
        "status": result.exit_status,
        "sweeps": (ts.size - 1) * n_bias / (ts[-1] - ts[0]),
        "run": ts.size * n_bias / wall,
        "wall": wall,
        "watcher_cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--points", type=int, default=201)
    parser.add_argument("--setpoints", type=int, default=8)
    parser.add_argument("--speedup", type=float, default=1000.0)
    args = parser.parse_args()

    station = dataclasses.replace(load_station_config(SIM_STATION), speedup=args.speedup)
    config = SimConfig.from_yaml(SIM_STATION)
    config.speedup = args.speedup
    text = experiment_text(args.points, args.setpoints)
    results: dict[bool, list[dict]] = {False: [], True: []}
    with (
        SimFridge(World(config), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge,
        tempfile.TemporaryDirectory() as tmp,
    ):
        one_run(fridge, station, text, Path(tmp) / "warm-up", watched=False)
        for n in range(args.rounds):
            for watched in (False, True):
                out = Path(tmp) / f"{n}-{int(watched)}"
                r = one_run(fridge, station, text, out, watched)
                results[watched].append(r)
                print(
                    f"round {n + 1} {'with   ' if watched else 'without'} watcher: "
                    f"{r['sweeps']:7.1f} points/s in sweeps, {r['run']:7.1f} points/s "
                    f"over the run ({r['wall']:.1f} s, {r['status']})"
                    + (f", watcher CPU {r['watcher_cpu']:.2f} s" if watched else ""),
                    flush=True,
                )
    print(
        f"\n{args.setpoints} sweeps x {args.points} points, speedup {args.speedup:g}, "
        f"{args.rounds} rounds each (median):"
    )
    for key, label in (("sweeps", "in sweeps"), ("run", "over the run")):
        without = statistics.median(r[key] for r in results[False])
        with_ = statistics.median(r[key] for r in results[True])
        print(
            f"  {label:13s} without {without:7.1f} points/s, with {with_:7.1f} points/s, "
            f"ratio with/without {with_ / without:.3f}"
        )
    cpu = statistics.median(r["watcher_cpu"] for r in results[True])
    wall = statistics.median(r["wall"] for r in results[True])
    print(f"  watcher CPU {cpu:.2f} s over {wall:.1f} s of run (Qt start-up included)")


if __name__ == "__main__":
    main()
