"""GridSeries on the simulated fridge: the 5-D file, serpentine order from the stored
timestamps, the drift checks, the tip at the frame's positions, SIGKILL mid-grid then
status, repair and resume with nothing lost, andreev watch's reader, limits."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.cli import main as cli_main
from andreev.gui.reader import RunFollower
from andreev.procedures.runner import LimitError, prepare
from andreev.sim import SimFridge
from andreev.storage import load, load_drift, load_grid
from andreev.storage.grid import serpentine
from tests.conftest import (
    SIM_STATION,
    make_world,
    resume_in_subprocess,
    run_file_of,
    start_run,
    station_file_for,
)
from tests.grid_run import SPEEDUP, write_grid_experiment


def test_grid_file_is_five_dimensional_with_positions(grid_run) -> None:
    assert grid_run.exit_status == "completed"
    ds = load(grid_run.path)
    assert dict(ds["dIdV"].sizes) == {
        "grid_y": 5,
        "grid_x": 6,
        "setpoint": 2,
        "direction": 1,
        "bias": 121,
    }
    assert ds["status"].dims == ("grid_y", "grid_x", "setpoint", "direction")
    assert (ds["status"].values == "done").all()
    for name in ("dIdV", "x", "y", "current"):
        assert np.isfinite(ds[name].values).all(), name
    # the frame: 60 × 50 nm around (200, −100) nm, turned 15° clockwise
    np.testing.assert_allclose(ds["grid_x"].values, np.linspace(-30e-9, 30e-9, 6))
    np.testing.assert_allclose(ds["grid_y"].values, np.linspace(-25e-9, 25e-9, 5))
    assert ds["position_x"].dims == ("grid_y", "grid_x")
    theta = np.radians(15.0)
    u, v = np.meshgrid(ds["grid_x"].values, ds["grid_y"].values)
    np.testing.assert_allclose(
        ds["position_x"].values, 200e-9 + u * np.cos(theta) + v * np.sin(theta), atol=1e-15
    )
    np.testing.assert_allclose(
        ds["position_y"].values, -100e-9 - u * np.sin(theta) + v * np.cos(theta), atol=1e-15
    )
    assert ds["position_x"].attrs["units"] == "m" and ds["grid_x"].attrs["units"] == "m"


def test_serpentine_order_from_the_stored_timestamps(grid_run) -> None:
    ds = load(grid_run.path)
    stamps = ds["timestamp"].values[:, :, 0, 0]  # first setpoint of every point
    order = np.argsort(stamps, axis=None)
    cells = np.column_stack(np.unravel_index(order, stamps.shape))
    np.testing.assert_array_equal(cells, serpentine(5, 6))
    # the stored visit map says the same, and the ladder runs inside each point
    np.testing.assert_array_equal(np.argsort(ds["visit"].values, axis=None), order)
    assert (ds["timestamp"].values[:, :, 1, 0] > stamps).all()


def test_drift_checks_stored_between_the_right_points(grid_run) -> None:
    drift = load_drift(grid_run.path)
    assert drift is not None
    assert drift.sizes["check"] == 3  # before visits 0, 10, 20
    np.testing.assert_array_equal(drift["visit"].values, [0, 10, 20])
    assert np.isfinite(drift["dIdV"].values).all()
    assert np.isfinite(drift["reference_z"].values).all()
    assert drift["reference_current"].values == pytest.approx(1e-9, rel=0.05)
    np.testing.assert_allclose(drift.attrs["reference"], [200e-9, -100e-9])
    ds = load(grid_run.path, by_visit=True)
    first = ds["timestamp"].values[:, 0, 0]
    last = ds["timestamp"].values[:, -1, 0]
    for c, k in enumerate(drift["visit"].values):
        assert drift["time"].values[c] < first[k]
        if k > 0:
            assert drift["time"].values[c] > last[k - 1]
    # the reference is in tunnelling: G at high bias ~ 1 nA / 10 mV
    g_edge = drift["dIdV"].values[:, 0, -1]
    assert g_edge == pytest.approx(1e-7, rel=0.3)


def test_load_grid_and_by_visit_agree(grid_run) -> None:
    grid = load_grid(grid_run.path)
    assert grid is not None and grid.shape == (5, 6) and grid.drift_every == 10
    five = load(grid_run.path)
    visits = load(grid_run.path, by_visit=True)
    assert visits.attrs["outer_dim"] == "position" and visits.sizes["position"] == 30
    for k, (iy, ix) in enumerate(grid.order):
        np.testing.assert_array_equal(
            visits["dIdV"].values[k], five["dIdV"].values[iy, ix].astype(float)
        )
        assert visits["position_x"].values[k] == five["position_x"].values[iy, ix]


def test_watch_reader_follows_a_grid_run(grid_run) -> None:
    from andreev.gui import views

    follower = RunFollower(grid_run.path)
    snap = follower.poll()
    assert snap is not None and follower.problem == ""
    assert snap.layout.shape == (30, 2, 1, 121) and snap.layout.outer_dim == "position"
    assert snap.n_finished == 60 and snap.didv.shape == (30, 2, 1, 121)
    visits = load(grid_run.path, by_visit=True)
    np.testing.assert_array_equal(snap.didv, visits["dIdV"].values)
    assert views.status_lines(snap)
    assert views.normalised_spectrum(snap, (29, 1, 0)) is not None


def test_dry_run_refuses_a_frame_outside_the_lateral_range(tmp_path: Path) -> None:
    experiment = write_grid_experiment(tmp_path, frame_x=0.9e-3, frame_width=0.5e-3)
    with pytest.raises(LimitError, match=r"frame_width.*outside"):
        prepare(experiment, SIM_STATION)


def test_grid_on_fakes_moves_in_tunnelling_serpentine_with_drift_checks(tmp_path: Path) -> None:
    """The plan alone, on the engine's in-memory instruments: every move at the
    tunnelling setpoint, the reference before points 0 and 4 of a 3 × 2 frame."""
    from tests.engine.fakes import TUNNELLING
    from tests.procedures.test_on_fakes import run_on_fakes

    values = {
        "frame_x": 1e-6,
        "frame_width": 20e-9,
        "frame_height": 10e-9,
        "points_x": 3,
        "points_y": 2,
        "drift_every": 4,
        "ladder_steps": 1,
        "setpoint_bias": 10e-3,
        "bias_points": 11,
    }
    status, rig, _ = run_on_fakes(tmp_path, "GridSeries", values)
    assert status == "completed"
    moves = rig.stm.moves  # type: ignore[attr-defined]
    ref = (1e-6, 0.0)
    points = [(1e-6 + dx, dy) for dx, dy in [(-10e-9, -5e-9), (0.0, -5e-9), (10e-9, -5e-9)]]
    points += [(1e-6 + dx, dy) for dx, dy in [(10e-9, 5e-9), (0.0, 5e-9), (-10e-9, 5e-9)]]
    expected = [ref, *points[:4], ref, *points[4:]]
    np.testing.assert_allclose([(x, y) for x, y, _ in moves], expected, rtol=0, atol=1e-15)
    assert all(setpoint == TUNNELLING for *_, setpoint in moves)
    drift = load_drift(tmp_path / "run.h5")
    assert drift is not None and np.isfinite(drift["time"].values).all()
    assert drift["reference_current"].values.tolist() == [TUNNELLING, TUNNELLING]


# ---------------------------------------------------------------- SIGKILL mid-grid
def _visits_done(path: Path) -> int:
    try:
        status = load(path)["status"].values
    except Exception:  # between writes: try again
        return 0
    return int(np.isin(status, ("done", "retaken")).all(axis=(-2, -1)).sum())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_grid_then_status_repair_resume_loses_nothing(tmp_path: Path) -> None:
    experiment = write_grid_experiment(
        tmp_path, points_x=4, points_y=3, ladder_steps=1, drift_every=5, bias_points=61
    )
    with SimFridge(make_world(speedup=SPEEDUP), ports={"lockin": 0, "bridge": 0, "stm": 0}) as sim:
        station = station_file_for(sim, tmp_path, speedup=SPEEDUP)
        proc = start_run(
            [str(experiment), "--config", str(station), "--out", str(tmp_path)], tmp_path
        )
        path = run_file_of(proc)
        deadline = time.monotonic() + 90
        while _visits_done(path) < 6 and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before it was killed"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()

        cut = load(path)
        done = np.isin(cut["status"].values, ("done", "retaken"))
        assert 6 <= done.sum() < done.size and cut.attrs["exit_status"] == "killed"
        kept = cut["dIdV"].values[done].copy()
        assert np.isfinite(kept).all()
        assert cli_main(["status", str(path)]) == 0
        assert cli_main(["repair", str(path)]) == 0
        with h5py.File(path, "r") as f:  # the rebuilt copy keeps chunks and filters
            assert f["entry/data/dIdV"].compression == "gzip"
            assert f["entry/data/dIdV"].chunks == (1, 1, 1, 1, 61)

        resumed = resume_in_subprocess(path, station, tmp_path)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = load(path)
    assert final.attrs["exit_status"] == "completed"
    assert (final["status"].values == "done").all()
    np.testing.assert_array_equal(final["dIdV"].values[done], kept)  # never retaken
    stamps = final["timestamp"].values[:, :, 0, 0]
    cells = np.column_stack(np.unravel_index(np.argsort(stamps, axis=None), stamps.shape))
    np.testing.assert_array_equal(cells, serpentine(3, 4))  # the order survives the kill
    drift = load_drift(path)
    assert drift is not None and np.isfinite(drift["time"].values).all()  # 3 checks, all taken
