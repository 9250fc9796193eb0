"""``andreev gui`` against the simulated fridge (in-process, real loopback TCP): the form
queues an experiment that runs to ``completed`` into an HDF5 run file, a second one is
aborted mid-sweep and leaves the instruments safe, the cut run is resumed from its file,
the dry run shows the plan without touching an instrument, and the headless screenshot
is not blank."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from h5py._objects import phil

pytest.importorskip("pyqtgraph", reason="the gui extra is not installed")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from pyqtgraph.Qt import QtCore, QtGui

from andreev.engine.station_lock import lock_path
from andreev.gui.form import ExperimentForm
from andreev.gui.window import DRY_RUN_OK, GuiWindow, _ctrl_c_closes
from andreev.sim import SimFridge
from andreev.storage import load
from tests.conftest import make_world, station_file_for
from tests.gui.test_cli_watch import run_python

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys\nfrom andreev.cli import main\nsys.exit(main(sys.argv[1:]))\n"
SPEEDUP = 100.0
V_SET, I_TUNNEL = 10.0e-3, 1.0e-9
SPECTRUM = {
    "procedure": "BiasSpectrum",
    "name": "gui-spectrum",
    "parameters": {
        "setpoint_bias": V_SET,
        "setpoint_current": 1.0e-8,
        "tunnelling_current": I_TUNNEL,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 21,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
    },
}
#: two sweeps of 21 points at ~3 world s (30 ms wall) per point: room to abort mid-sweep
LADDER = {
    "procedure": "SetpointLadder",
    "name": "gui-ladder",
    "parameters": {
        **SPECTRUM["parameters"],
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-8,
        "ladder_steps": 2,
        "lockin_time_constant": 0.3,
    },
}


@pytest.fixture
def fridge() -> Iterator[SimFridge]:
    with SimFridge(make_world(speedup=SPEEDUP), ports={"lockin": 0, "bridge": 0, "stm": 0}) as f:
        yield f


@pytest.fixture
def window(qtbot, fridge: SimFridge, tmp_path: Path) -> Iterator[GuiWindow]:
    station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
    win = GuiWindow(station, tmp_path / "data", interval=0.1)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    yield win
    win.shutdown(timeout=60)


def fill(window: GuiWindow, tmp_path: Path, experiment: dict) -> None:
    """Fill the form as "Load YAML…" does."""
    path = tmp_path / f"{experiment['name']}.yaml"
    path.write_text(yaml.safe_dump(experiment))
    window.form.load(path)


def wait_until_ended(qtbot, window: GuiWindow, item, timeout: float = 120.0) -> None:
    qtbot.waitUntil(
        lambda: window.worker is None and item.state != "running", timeout=timeout * 1e3
    )


def exit_status(path: Path) -> str:
    with h5py.File(path, "r") as f:
        value = f["entry/exit_status"][()]
    return value.decode() if isinstance(value, bytes) else str(value)


def assert_safe(fridge: SimFridge) -> None:
    world = fridge.world
    with world.lock:
        world.advance()
        junction = world.junction
        assert junction.feedback is True
        assert junction.bias == pytest.approx(V_SET, rel=1e-3)
        assert abs(junction.setpoint) == pytest.approx(I_TUNNEL, rel=1e-3)
    assert world.crashes == []


def test_queued_experiment_runs_to_completed(qtbot, window, fridge, tmp_path) -> None:
    fill(window, tmp_path, SPECTRUM)
    qtbot.mouseClick(window.queue_button, QtCore.Qt.MouseButton.LeftButton)
    assert len(window.items) == 1
    item = window.items[0]
    lock = lock_path(window.station.path)
    qtbot.waitUntil(lambda: item.path is not None, timeout=60_000)
    if item.state == "running":  # the station is locked while the run goes
        assert "andreev gui" in lock.read_text() and str(item.path) in lock.read_text()
    wait_until_ended(qtbot, window, item)
    assert item.state == "completed", item.message
    assert item.path is not None and item.path.parent == tmp_path / "data"
    assert item.path.suffix == ".h5" and not list(item.path.parent.glob("*.csv"))
    assert exit_status(item.path) == "completed" and not lock.exists()
    ds = load(item.path)
    assert (ds.status.values == "done").all()
    assert np.isfinite(ds.dIdV.values).all() and ds.sizes["bias"] == 21
    # the live panels followed the file; the bars and the queue row came from the events
    qtbot.waitUntil(lambda: window.panels.status.text().count("completed") >= 1, timeout=5000)
    assert window.panels.spectra.shown == (0, 0, 0)
    assert window.sweeps_bar.value() == window.sweeps_bar.maximum() == 1
    assert window.queue_view.topLevelItem(0).text(2) == "completed"
    assert "run started" in window.log_panel.toPlainText()
    assert_safe(fridge)


def test_abort_mid_sweep_is_safe_then_resume_completes(qtbot, window, fridge, tmp_path) -> None:
    fill(window, tmp_path, {**LADDER, "parameters": {**LADDER["parameters"], "bias_points": 61}})
    item = window.queue_form()
    assert item is not None

    def inside_the_first_sweep() -> bool:  # ~2 s per sweep: the window is wide
        return window.sweeps_bar.value() <= 0 and 3 <= window.points_bar.value() < 40

    qtbot.waitUntil(inside_the_first_sweep, timeout=60_000)
    qtbot.mouseClick(window.abort_button, QtCore.Qt.MouseButton.LeftButton)
    wait_until_ended(qtbot, window, item)
    assert item.state == "aborted"
    assert exit_status(item.path) == "aborted"
    status = load(item.path).status.values
    assert set(status[0, 0].ravel()) == {"pending"}  # the sweep cut short is not stored
    assert_safe(fridge)
    assert window.held and window.abort_button.text().startswith("Run the queue")
    assert "abort requested" in window.log_panel.toPlainText()

    # resume the cut run from its file; the queue holds after an abort until told to run
    again = window.queue_resume(item.path)
    assert again is not None and again.state == "queued" and window.worker is None
    qtbot.mouseClick(window.abort_button, QtCore.Qt.MouseButton.LeftButton)
    wait_until_ended(qtbot, window, again)
    assert again.state == "completed" and again.path == item.path
    assert exit_status(item.path) == "completed"
    assert (load(item.path).status.values == "done").all()
    assert_safe(fridge)


def test_ctrl_c_while_the_window_holds_h5py_lock_does_not_deadlock(
    qtbot, window, fridge, tmp_path
) -> None:
    """Python runs a signal handler between two bytecodes of the main thread, possibly
    inside h5py while the window reads the run file (h5py's lock held). Closing there
    waited for the run's thread, which needs that lock to write: a 120 s hang in CI."""
    fill(window, tmp_path, {**LADDER, "parameters": {**LADDER["parameters"], "bias_points": 61}})
    item = window.queue_form()
    assert item is not None
    qtbot.waitUntil(lambda: 3 <= window.points_bar.value() < 40, timeout=60_000)
    with _ctrl_c_closes(window):
        with phil:  # as inside RunFollower's read of the file
            signal.raise_signal(signal.SIGINT)
            assert window.isVisible()  # the handler returned without waiting for the run
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert item.state == "aborted" and exit_status(item.path) == "aborted"
    assert_safe(fridge)


def test_unreachable_station_fails_and_the_queue_holds(qtbot, tmp_path) -> None:
    with SimFridge(make_world(), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
    win = GuiWindow(station, tmp_path / "data")  # nothing listens on the fridge's ports now
    qtbot.addWidget(win)
    fill(win, tmp_path, SPECTRUM)
    first, second, third = (win.queue_form() for _ in range(3))
    wait_until_ended(qtbot, win, first)
    assert first.state == "failed" and first.message and first.path is None
    assert win.held and second.state == third.state == "queued"
    assert win.queue_view.topLevelItem(0).text(2).startswith("failed: ")
    assert win.abort_button.text() == "Run the queue (2 waiting)"
    win.queue_view.topLevelItem(1).setSelected(True)
    assert win.remove_selected() == [second] and second.state == "removed"
    assert win.abort_button.text() == "Run the queue (1 waiting)"
    win.shutdown()


def test_dry_run_shows_the_plan_and_moves_nothing(qtbot, window, fridge, tmp_path) -> None:
    fill(window, tmp_path, LADDER)
    qtbot.mouseClick(window.dry_run_button, QtCore.Qt.MouseButton.LeftButton)
    text = window.plan.toPlainText()
    assert window.tabs.currentWidget() is window.plan
    assert "experiment gui-ladder: SetpointLadder" in text
    assert "setpoints: 2 from 1e-09 A to 1e-08 A" in text
    assert "bias: 21 points" in text and "estimated duration:" in text
    assert f"at speedup {SPEEDUP:g}" in text and text.endswith(DRY_RUN_OK)
    window.form.inputs.bias_stop.setValue(0.5)  # beyond safety.max_bias = 0.1 V
    qtbot.mouseClick(window.dry_run_button, QtCore.Qt.MouseButton.LeftButton)
    refused = window.plan.toPlainText()
    assert refused.startswith("refused:") and "safety.max_bias" in refused
    window.form.inputs.bias_start.setValue(-0.5)  # two problems: one line, then each
    qtbot.mouseClick(window.dry_run_button, QtCore.Qt.MouseButton.LeftButton)
    first, *details = window.plan.toPlainText().splitlines()
    assert (
        "parameters.bias_start: bias -0.5 V" in first
        and "(and 1 more: parameters.bias_stop)" in first
    )
    assert len(details) == 2 and "parameters.bias_stop: bias 0.5 V exceeds" in details[1]
    assert window.queue_form() is None and window.items == []
    assert not any(
        server.received for server in fridge.servers.values() if hasattr(server, "received")
    )


def test_form_covers_every_procedure_and_its_list_parameters(qtbot) -> None:
    form = ExperimentForm()
    qtbot.addWidget(form)
    for name in ("BiasSpectrum", "SetpointLadder", "PositionSeries", "ParameterSeries"):
        form.procedure.setCurrentText(name)
        assert type(form.experiment().procedure).__name__ == name
    form.procedure.setCurrentText("TemperatureSeries")
    form.inputs.temperatures.setText("[0.05, 0.7, 1.2]")
    experiment = form.experiment()
    assert experiment.procedure.temperatures == [0.05, 0.7, 1.2]
    assert yaml.safe_load(experiment.text)["parameters"]["temperatures"] == [0.05, 0.7, 1.2]
    form.inputs.temperatures.setText("[0.05, 400]")
    with pytest.raises(Exception, match=r"parameters\.temperatures.*outside"):
        form.experiment()


def test_demo_yaml_round_trips_through_the_form(qtbot) -> None:
    form = ExperimentForm()
    qtbot.addWidget(form)
    loaded = form.load(ROOT / "config" / "experiments" / "demo.yaml")
    typed = form.experiment()
    original = yaml.safe_load(loaded.text)["parameters"]
    again = yaml.safe_load(typed.text)["parameters"]
    assert {key: again[key] for key in original} == original
    assert typed.name == "demo"


@pytest.mark.skipif(sys.platform != "linux", reason="DISPLAY decides offscreen on Linux")
def test_screenshot_of_a_running_experiment_is_not_blank(fridge, tmp_path) -> None:
    station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
    experiment = tmp_path / "ladder.yaml"
    experiment.write_text(yaml.safe_dump(LADDER))
    png = tmp_path / "gui.png"
    result = run_python(
        CLI,
        "gui",
        "--config",
        str(station),
        "--out",
        str(tmp_path / "data"),
        "--experiment",
        str(experiment),
        "--start",
        "--screenshot",
        str(png),
        "--after",
        "2.5",
        DISPLAY=None,
        WAYLAND_DISPLAY=None,
        QT_QPA_PLATFORM=None,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"screenshot: {png}"
    image = QtGui.QImage(str(png)).convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    assert image.width() >= 1200 and image.height() >= 800
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    assert pixels.std() > 20 and len(np.unique(pixels)) > 50
    # the run the window started was stopped safely when it closed
    (path,) = (tmp_path / "data").glob("gui-ladder-*.h5")
    assert exit_status(path) in ("aborted", "completed")
    assert_safe(fridge)


def _wait_inside_the_first_sweep(fridge: SimFridge, proc: subprocess.Popen, err: Path) -> None:
    """Until the lock-in has served 40 points (inside the first 201-point sweep): a
    condition, not a fixed time. Fails at once, with the window's stderr, when the
    process ends or its run ends before; the deadline is only a net for a hang."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        received = list(fridge.servers["lockin"].received)
        if sum(1 for command in received if command.startswith("SNAP")) >= 40:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the window ended first ({proc.returncode}): {err.read_text()}")
        time.sleep(0.02)
    raise AssertionError(f"no sweep after 300 s: {err.read_text()}")


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process")
def test_ctrl_c_in_the_terminal_stops_the_run_safely(fridge, tmp_path) -> None:
    station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
    experiment = tmp_path / "ladder.yaml"
    long_sweeps = {**LADDER, "parameters": {**LADDER["parameters"], "bias_points": 201}}
    experiment.write_text(yaml.safe_dump(long_sweeps))
    args = ["gui", "--config", str(station), "--out", str(tmp_path / "data")]
    err = tmp_path / "stderr.txt"
    with open(tmp_path / "stdout.txt", "wb") as out, open(err, "wb") as errors:
        # into files, never pipes: a child blocked on a full pipe would never sweep
        proc = subprocess.Popen(
            [sys.executable, "-c", CLI, *args, "--experiment", str(experiment), "--start"],
            stdout=out,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"},
            cwd=ROOT,
        )
        try:
            _wait_inside_the_first_sweep(fridge, proc, err)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err.read_text()
    (path,) = (tmp_path / "data").glob("gui-ladder-*.h5")
    assert exit_status(path) == "aborted", err.read_text()
    assert "pending" in set(load(path).status.values.ravel())
    assert_safe(fridge)


def test_help_lists_gui_without_importing_qt() -> None:
    code = (
        "import sys\n"
        "from andreev.cli import build_parser\n"
        "text = build_parser().format_help()\n"
        "import andreev.cli.gui\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'qtpy', 'h5py', 'pymeasure') or m.startswith('andreev.gui')]\n"
        "print(' gui ' in text, heavy)\n"
    )
    result = run_python(code)
    assert result.stdout.strip() == "True []", result.stderr
