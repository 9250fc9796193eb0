"""The sweep in progress is readable by a live (SWMR) reader in another process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from andreev.engine.events import Event, PointProgress, RunFileOpened
from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge
from tests.procedures.test_runs import write_experiment

READER = """
import json, sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r", swmr=True) as f:
    g = f["entry/live"]
    print(json.dumps({"where": [*g["index"][()].tolist(), int(g["n_points"][()])],
                      "finite": int(np.isfinite(g["current"][()]).sum()),
                      "didv": int(np.isfinite(g["dIdV"][()]).sum())}))
"""


def test_live_points_reach_a_swmr_reader(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    experiment = write_experiment(tmp_path, temperatures=[0.05], ladder_steps=1, bias_points=61)
    seen: list[dict] = []
    path: list[Path] = []

    def listener(event: Event) -> None:
        if isinstance(event, RunFileOpened):
            path.append(event.path)
        elif isinstance(event, PointProgress) and event.points >= 30 and not seen:
            out = subprocess.run(
                [sys.executable, "-c", READER, str(path[0])],
                capture_output=True,
                text=True,
                timeout=60,
            )
            seen.append(json.loads(out.stdout))

    result = run_experiment(experiment, sim_station, out_dir=tmp_path, listeners=[listener])
    assert result.exit_status == "completed"
    assert seen, "no point progress seen"
    where = seen[0]["where"]
    assert where[:2] == [0, 0] and where[3] >= 1  # sweep (0, 0), points taken
    assert seen[0]["finite"] >= 1 and seen[0]["didv"] >= 1
    with h5py.File(result.path, "r") as f:  # closed: no sweep in progress
        assert (f["entry/live/index"][()] == -1).all()
        assert np.isnan(f["entry/live/x"][()]).all()
