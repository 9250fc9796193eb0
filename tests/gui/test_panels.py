"""The live panels and the watch window (pytest-qt, offscreen platform)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyqtgraph", reason="the gui extra is not installed")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from pyqtgraph.Qt import QtCore, QtGui

from andreev.gui.panels import LivePanels
from andreev.gui.reader import LiveSweep, RunFollower
from andreev.gui.watch import WatchWindow, run_watch
from tests.gui import runs


def curves(panel) -> list:
    """The panel's curves that show data."""
    out = []
    for item in panel.plot.getPlotItem().listDataItems():
        y = item.getData()[1]
        if item.isVisible() and y is not None and np.isfinite(y).any():
            out.append(item)
    return out


@pytest.fixture
def panels(qtbot):
    widget = LivePanels()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    widget.show()
    return widget


def test_panels_show_a_finished_run(panels, tmp_path: Path) -> None:
    snap = RunFollower(runs.make_run(tmp_path / "run.h5", 9)).poll()
    panels.show_snapshot(snap)
    assert panels.spectra.shown == (2, 2, 0)  # the last sweep
    assert len(curves(panels.spectra)) == 3  # every setpoint of that temperature
    rows = panels.map.rows
    assert rows.shape == (3, runs.N_BIAS) and np.isfinite(rows).all()
    assert panels.map.current_setpoint() == 2  # contact by default
    text = panels.status.text()
    assert "9 of 9 sweeps taken" in text and "completed" in text
    tl = panels.temperature.timeline
    assert len(tl.settling) == 3 and tl.sweeps[0].size == 9


def test_map_fills_in_as_sweeps_land(panels, tmp_path: Path) -> None:
    path = runs.make_run(tmp_path / "run.h5", 3, exit_status="aborted")
    follower = RunFollower(path)
    panels.show_snapshot(follower.poll())
    assert np.isfinite(panels.map.rows).all(axis=1).tolist() == [True, False, False]
    with runs.RunWriter.open(path) as writer:
        for j in range(3):
            runs.write(writer, 1, j, 2.0e9 + j)
    panels.show_snapshot(follower.poll())
    assert np.isfinite(panels.map.rows).all(axis=1).tolist() == [True, True, False]
    assert panels.spectra.shown == (1, 2, 0)


def test_live_sweep_is_drawn_dashed(panels, tmp_path: Path) -> None:
    snap = RunFollower(runs.make_run(tmp_path / "run.h5", 2, "running")).poll()
    didv = np.full(runs.N_BIAS, np.nan)
    didv[:25] = runs.spectrum(0, 2)[:25]
    live = LiveSweep((0, 2, 0), didv, 25, 0.05, snap.read_at, snap.read_at)
    panels.show_snapshot(dataclasses.replace(snap, live=live, version=snap.version + 1))
    assert panels.spectra.shown == (0, 2, 0)
    dashed = [
        c for c in curves(panels.spectra) if c.opts["pen"].style() == QtCore.Qt.PenStyle.DashLine
    ]
    assert len(dashed) == 1
    _x, y = dashed[0].getData()
    assert np.isfinite(y).sum() == 25
    assert "in progress" in panels.spectra.plot.getPlotItem().titleLabel.text
    assert "25/81 points" in panels.status.text()


def test_live_sweep_of_a_dead_writer_is_shown_cut_short(panels, tmp_path: Path) -> None:
    # a killed writer leaves its last sweep's points in /entry/live: they stay on show,
    # but the title no longer says the sweep is in progress
    snap = RunFollower(runs.make_run(tmp_path / "run.h5", 2, "running")).poll()
    didv = np.full(runs.N_BIAS, np.nan)
    didv[:25] = runs.spectrum(0, 2)[:25]
    live = LiveSweep((0, 2, 0), didv, 25, 0.05, snap.read_at, snap.read_at)
    dead = dataclasses.replace(snap, live=live, writer_alive=False, version=snap.version + 1)
    panels.show_snapshot(dead)
    assert panels.spectra.shown == (0, 2, 0)
    title = panels.spectra.plot.getPlotItem().titleLabel.text
    assert "cut short at 25/81 points" in title and "in progress" not in title
    assert "cut (the writer is gone" in panels.status.text()


def test_click_on_the_map_picks_a_spectrum(panels, qtbot, tmp_path: Path) -> None:
    snap = RunFollower(runs.make_run(tmp_path / "run.h5", 9)).poll()
    panels.show_snapshot(snap)
    panels.map.setpoint.setCurrentIndex(1)
    qtbot.wait(50)
    view = panels.map.plot
    vb = view.getPlotItem().getViewBox()
    scene_pos = vb.mapViewToScene(QtCore.QPointF(0.0, 1.0))  # bias 0 V, outer step 1
    pos = view.mapFromScene(scene_pos)
    with qtbot.waitSignal(panels.map.picked, timeout=2000) as blocker:
        qtbot.mouseClick(view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [1, 1]
    assert panels.spectra.shown == (1, 1, 0)
    assert not panels.spectra.follow.isChecked()
    panels.spectra.follow.setChecked(True)  # back to the run's latest sweep
    assert panels.spectra.shown == (2, 2, 0)


def test_window_waits_for_a_file_that_appears(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "later.h5"
    window = WatchWindow(path, interval=0.05)
    qtbot.addWidget(window)
    assert "waiting" in window.panels.status.text()
    runs.make_run(path, 5)
    qtbot.waitUntil(lambda: "5 of 9 sweeps" in window.panels.status.text(), timeout=5000)


def ink_and_colour(png: Path) -> tuple[float, float]:
    """Fractions of dark pixels (text, axes, curves) and of coloured ones (map, curves)."""
    image = QtGui.QImage(str(png))
    assert not image.isNull()
    small = image.scaled(280, 190)
    ink = colour = 0
    for x in range(280):
        for y in range(190):
            c = QtGui.QColor(small.pixel(x, y))
            ink += c.lightness() < 160
            colour += c.saturation() > 80 and c.value() > 60
    return ink / (280 * 190), colour / (280 * 190)


def test_screenshot_is_not_blank(qtbot, tmp_path: Path) -> None:
    path = runs.make_run(tmp_path / "run.h5", 7, exit_status="aborted")
    png = run_watch(path, screenshot=tmp_path / "shot.png", after=0.3)
    assert png == tmp_path / "shot.png"
    assert QtGui.QImage(str(png)).size() == QtCore.QSize(1400, 950)
    ink, colour = ink_and_colour(png)
    # a window waiting for its file has ~1 % ink and ~0.5 % colour (the colour bar)
    assert ink > 0.012 and colour > 0.01, (ink, colour)
