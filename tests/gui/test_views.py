"""What the panels draw, from snapshots of synthetic runs (numpy only)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from andreev.gui import views
from andreev.gui.reader import LiveSweep, RunFollower
from tests.gui import runs


def snapshot(tmp_path: Path, n_sweeps: int, exit_status: str = "completed"):
    return RunFollower(runs.make_run(tmp_path / "run.h5", n_sweeps, exit_status)).poll()


def test_spectra_are_normalised_by_g_normal(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 9)
    g, live = views.normalised_spectrum(snap, (2, 1, 0))
    assert not live
    # 1.2 K: well above the bias window's gap edge the conductance is ~1
    assert abs(g[0] - 1.0) < 0.05 and abs(g[-1] - 1.0) < 0.05
    assert (
        views.normalised_spectrum(dataclasses.replace(snap, didv=snap.didv * np.nan), (0, 0, 0))
        is None
    )


def test_latest_and_live_spectrum(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 4, "running")
    assert views.latest_index(snap) == (1, 0, 0)
    didv = np.full(snap.layout.bias.size, np.nan)
    didv[:30] = runs.spectrum(1, 1)[:30]
    live = LiveSweep((1, 1, 0), didv, 30, 0.6, snap.read_at - 1, snap.read_at)
    snap = dataclasses.replace(snap, live=live)
    assert views.latest_index(snap) == (1, 1, 0)
    g, is_live = views.normalised_spectrum(snap, (1, 1, 0))
    assert is_live and np.isfinite(g).sum() == 30
    np.testing.assert_allclose(g[:30], didv[:30] / (runs.SETPOINTS[1] / runs.V_SET))


def test_d2_row_has_the_gap_edges_and_nan_where_unmeasured(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 4)
    bias = snap.layout.bias
    row = views.d2_row(snap, (0, 0, 0))
    assert np.isfinite(row).all()
    # d²I/dV² of a gapped spectrum: maximum just inside +Δ (0.55 mV), minimum at −Δ
    assert 0.3e-3 < bias[np.argmax(row)] < 0.7e-3
    assert -0.7e-3 < bias[np.argmin(row)] < -0.3e-3
    assert np.isnan(views.d2_row(snap, (2, 0, 0))).all()  # not measured


def test_timeline_places_settling_and_setpoint_band(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 6)
    tl = views.temperature_timeline(snap)
    assert len(tl.settling) == 2 and tl.speedup == 100.0
    t_sweeps, _temps = tl.sweeps
    assert t_sweeps.size == 6 and np.all(np.diff(t_sweeps) > 0)
    # sweeps are 10 wall s apart: 1000 world s at speedup 100
    np.testing.assert_allclose(np.diff(t_sweeps), 1000.0, rtol=1e-6)
    # settling of step 1 ends where its first sweep began
    assert math.isclose(tl.settling[1][0][-1], t_sweeps[3], rel_tol=1e-9)
    _t_set, target = tl.setpoint
    assert set(target) == {0.05, 0.6}
    _t_band, lower, upper = tl.band
    np.testing.assert_allclose(upper - target, 0.01)  # the experiment's temperature_band
    np.testing.assert_allclose(target - lower, 0.01)


def test_default_band_follows_the_procedure_rule(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 1)
    snap.layout.parameters.pop("temperature_band")
    assert views.temperature_band(snap, 0.05) == 2e-3
    assert views.temperature_band(snap, 1.0) == 0.02


def test_status_lines_running_finished_and_cut(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, 4, "running")
    running = dataclasses.replace(snap, writer_alive=True, read_at=float(np.nanmax(snap.timestamp)))
    lines = views.status_lines(running)
    assert lines[1].startswith("sweep 5 of 9")
    # sweeps 10 s apart, 5 to go
    assert math.isclose(views.eta_seconds(running), 50.0, rel_tol=1e-6)
    assert "ETA 50 s" in lines[2]
    cut = dataclasses.replace(snap, writer_alive=False)
    assert "cut" in views.status_lines(cut)[2] and math.isnan(views.eta_seconds(cut))
    (tmp_path / "b").mkdir()
    done = snapshot(tmp_path / "b", 9)
    assert views.status_lines(done)[1] == "9 of 9 sweeps taken"
    assert views.status_lines(done)[2].startswith("status: completed, ended ")


def test_format_duration() -> None:
    assert views.format_duration(12.3) == "12 s"
    assert views.format_duration(185) == "3 min 05 s"
    assert views.format_duration(3720) == "1 h 02 min"
    assert views.format_duration(float("nan")) == "—"


def test_waits_without_sweeps_follow_one_another(tmp_path: Path) -> None:
    """Steps that never settled (no sweeps) are drawn one after the other."""
    path = runs.make_run(tmp_path / "run.h5", 3, exit_status="aborted")
    with runs.RunWriter.open(path) as writer:
        runs.settle(writer, 1)
        runs.settle(writer, 2)
        writer.close("incomplete")
    snap = RunFollower(path).poll()
    tl = views.temperature_timeline(snap)
    _, (t1, _), (t2, _) = tl.settling
    last_sweep = tl.sweeps[0].max()
    assert t1[0] == last_sweep and t2[0] == t1[-1]
    assert set(tl.setpoint[1]) == set(runs.TEMPERATURES)
