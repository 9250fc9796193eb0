"""``watch`` on a run written by ``andreev run`` in another process against the
simulated fridge: new sweeps show as they land, a finished file shows the same way, and
the file of a writer killed with SIGKILL mid-run still displays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytest.importorskip("pyqtgraph", reason="the gui extra is not installed")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from andreev.gui.watch import WatchWindow
from andreev.sim import SimFridge
from andreev.storage import load
from tests.conftest import make_world, station_file_for
from tests.gui.test_panels import curves

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = {
    "procedure": "TemperatureSeries",
    "name": "watched",
    "parameters": {
        "temperatures": [0.05, 0.3],
        "stable_hold": 30.0,
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-7,
        "ladder_steps": 3,
        "setpoint_bias": 10.0e-3,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 121,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
    },
}


#: world seconds per wall second: at 1000 a loaded machine stretches each bridge reading
#: into so much world time that the stability check can time out (steps marked failed)
SPEEDUP = 100.0


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Path]:
    world = make_world(speedup=SPEEDUP)
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        yield station_file_for(fridge, tmp_path, speedup=SPEEDUP)


def start_run(station: Path, folder: Path) -> tuple[subprocess.Popen, Path]:
    """``python -m andreev run`` in another process; returns it and its run file."""
    experiment = folder / "watched.yaml"
    experiment.write_text(yaml.safe_dump(EXPERIMENT))
    command = ["-m", "andreev", "run", str(experiment), "--config", str(station)]
    proc = subprocess.Popen(
        [sys.executable, *command, "--out", str(folder / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
    )
    for line in proc.stdout:
        if line.startswith("run file: "):
            return proc, Path(line.removeprefix("run file: ").strip())
    proc.wait(timeout=30)
    raise AssertionError(f"the run printed no run file (exit {proc.returncode})")


def watch(qtbot, path: Path) -> tuple[WatchWindow, list[tuple[str, int, int]]]:
    """A watch window on ``path`` and what it showed at each tick: (exit status, sweeps
    finished, map rows complete)."""
    window = WatchWindow(path, interval=0.2)
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    seen: list[tuple[str, int, int]] = []

    def record() -> None:
        snap = window.follower.snapshot
        rows = window.panels.map.rows
        if snap is not None and rows is not None:
            complete = int(sum(bool(r.size) and not any(r != r) for r in rows))
            seen.append((snap.exit_status, snap.n_finished, complete))

    window.timer.timeout.connect(record)
    return window, seen


def test_new_sweeps_show_as_they_land_then_completed(qtbot, station, tmp_path) -> None:
    proc, path = start_run(station, tmp_path)
    try:
        window, seen = watch(qtbot, path)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=300_000)
        qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] != "running", timeout=10_000)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    stored = load(path)
    done = int(stored.status.isin(["done", "retaken"]).sum())
    assert proc.returncode == (0 if done == 6 else 1)
    while_running = {n for status, n, _ in seen if status == "running"}
    assert len(while_running) >= 3, seen  # several sweeps seen arriving one by one
    assert seen[-1][0] == stored.attrs["exit_status"]
    assert seen[-1][1] == done
    assert window.panels.spectra.shown == (1, 2, 0)
    text = window.panels.status.text()
    assert f"{done} of 6 sweeps taken" in text
    assert f"status: {stored.attrs['exit_status']}" in text
    assert "log: " in text and "(no RUN.log)" not in text
    tl = window.panels.temperature.timeline
    assert len(tl.settling) == 2 and tl.band[0].size == 4
    assert tl.sweeps[0].size == int(stored.temperature.notnull().sum())


def test_killed_writer_still_displays(qtbot, station, tmp_path) -> None:
    proc, path = start_run(station, tmp_path)
    try:
        window, seen = watch(qtbot, path)
        qtbot.waitUntil(lambda: bool(seen) and seen[-1][1] >= 2, timeout=240_000)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    qtbot.waitUntil(lambda: "cut" in window.panels.status.text(), timeout=10_000)
    snap = window.follower.snapshot
    assert snap.exit_status == "running" and snap.writer_alive is False
    assert 2 <= snap.n_finished < 6
    assert window.panels.spectra.shown is not None
    i, j, k = window.panels.spectra.shown
    title = window.panels.spectra.plot.getPlotItem().titleLabel.text
    if snap.live is not None and snap.live.index == (i, j, k):  # killed inside a sweep
        assert snap.status[i, j, k] == "pending" and "cut short" in title
    else:  # killed between two sweeps
        assert snap.status[i, j, k] == "done" and "in progress" not in title
    assert len(curves(window.panels.spectra)) >= 1
    assert window.follower.problem == ""
