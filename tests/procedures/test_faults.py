"""Every fault of the simulated fridge ends a run in a defined status (completed,
incomplete or failed — never a traceback or a hang), with the instruments safe and the
run file closed; with the fault gone, ``--resume`` completes the run."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from andreev.engine.events import Event, PointProgress, Settling
from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge
from andreev.storage import load
from tests.procedures.test_runs import write_experiment

SETPOINT_BIAS = 10.0e-3  # V, as in test_runs.SMALL
SAFE_HEATER_RANGE = 0
#: (fault, value, statuses it may end in)
FAULTS = [
    ("lockin.drop_next", 1, {"completed"}),
    ("lockin.drop_next", 2, {"failed"}),
    ("bridge.drop_next", 1, {"completed"}),
    ("bridge.drop_next", 2, {"failed"}),
    ("stm.drop_next", 1, {"completed"}),
    ("stm.drop_next", 2, {"failed"}),
    ("lockin.delay", 0.05, {"completed"}),
    ("bridge.delay", 0.05, {"completed"}),
    ("stm.delay", 0.02, {"completed"}),
    ("lockin.garbage_next", 1, {"completed"}),
    ("lockin.garbage_next", 2, {"failed"}),
    ("bridge.garbage_next", 1, {"completed"}),
    ("bridge.garbage_next", 2, {"failed"}),
    ("stm.garbage_next", 2, {"failed"}),
    ("lockin.silent", True, {"failed"}),
    ("bridge.silent", True, {"failed"}),
    ("stm.silent", True, {"failed"}),
    ("all.silent", True, {"failed"}),  # a frozen fridge: every server accepts, none answers
    ("world.force_overload", True, {"incomplete"}),
    ("world.force_clip", True, {"failed"}),
]


def _arm(fridge: SimFridge, fault: str, value: object) -> None:
    where, _, name = fault.partition(".")
    if where == "all":
        for server in fridge.servers.values():
            setattr(server.faults, name, value)
        return
    target = fridge.world.faults if where == "world" else fridge.servers[where].faults
    if where == "world":
        with fridge.world.lock:
            setattr(target, name, value)
    else:
        setattr(target, name, value)


def _clear(fridge: SimFridge) -> None:
    for server in fridge.servers.values():
        server.faults.clear()
    with fridge.world.lock:
        for name in ("no_settle", "force_overload", "force_clip"):
            setattr(fridge.world.faults, name, False)


def _assert_safe(fridge: SimFridge, silent: str) -> None:
    """Bias at V_set with the feedback on, the heater at its safe range (skipping the
    instrument that could not be told)."""
    world = fridge.world
    with world.lock:
        if silent == "all":
            return
        if silent != "stm":
            assert world.junction.feedback
            assert world.junction.bias == pytest.approx(SETPOINT_BIAS, abs=1e-6)
        if silent != "bridge":
            assert world.thermal.output.range == SAFE_HEATER_RANGE


@pytest.mark.parametrize(("fault", "value", "statuses"), FAULTS, ids=lambda v: str(v))
def test_fault_ends_defined_and_resume_completes(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path, fault: str, value: object, statuses
) -> None:
    experiment = write_experiment(
        tmp_path, temperatures=[0.05], ladder_steps=2, ladder_stop=1.0e-8, bias_points=41
    )
    armed: list[float] = []

    def listener(event: Event) -> None:
        # armed a tenth into the first sweep (not after a fixed wall time: a fast run
        # could be over by then), so the next request of that server meets the fault
        if isinstance(event, PointProgress) and not armed:
            armed.append(time.monotonic())
            _arm(sim_fridge, fault, value)

    started = time.monotonic()
    result = run_experiment(experiment, sim_station, out_dir=tmp_path, listeners=[listener])
    took = time.monotonic() - started
    assert result.exit_status in statuses, (result.exit_status, result.reason)
    assert took < 90
    if result.exit_status == "failed":
        assert result.reason and "\n" not in result.reason
        assert result.resumable
        if fault.endswith("silent"):
            assert time.monotonic() - armed[0] < 30  # bounded: not a hang
    ds = load(result.path)
    assert ds.attrs["exit_status"] == result.exit_status
    silent = fault.partition(".")[0] if fault.endswith("silent") else ""
    _clear(sim_fridge)
    time.sleep(0.3)  # a late reply of a silent server is dropped with its connection
    _assert_safe(sim_fridge, silent)
    log = result.path.with_suffix(".log").read_text()
    assert log.count("ERROR andreev.tracebacks: run failed") <= 1  # the traceback once

    resumed = run_experiment(None, sim_station, out_dir=tmp_path, resume=result.path)
    assert resumed.exit_status == "completed", resumed.reason
    ds = load(result.path)
    assert (ds.status.values != "pending").all() and (ds.status.values != "failed").all()
    _assert_safe(sim_fridge, "")


def test_no_settle_ends_incomplete_with_visible_waits(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    sim_fridge.world.faults.no_settle = True
    experiment = write_experiment(
        tmp_path, temperatures=[0.3], stable_timeout=1800.0, ladder_steps=1, bias_points=41
    )
    seen: list[Settling] = []
    result = run_experiment(
        experiment,
        sim_station,
        out_dir=tmp_path,
        listeners=[lambda e: seen.append(e) if isinstance(e, Settling) else None],
    )
    assert result.exit_status == "incomplete"
    assert seen and all(e.setpoint == 0.3 and e.timeout == 1800.0 for e in seen)
    assert all(e.deviation == pytest.approx(abs(e.temperature - 0.3)) for e in seen)
    log = result.path.with_suffix(".log").read_text()
    assert "settling to 0.3 K: T " in log and "timeout in" in log
    _assert_safe(sim_fridge, "")
    _clear(sim_fridge)
    resumed = run_experiment(None, sim_station, out_dir=tmp_path, resume=result.path)
    assert resumed.exit_status == "completed", resumed.reason
    assert "sweep (0, 0) done" in result.path.with_suffix(".log").read_text()


def test_nan_tip_settle_with_clipping_preamp_fails_fast(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    """A NaN wait never busy-loops: the run fails with one line (the dry run should
    have refused it; this is the engine's own guard)."""
    from andreev.procedures.experiment import load_experiment

    experiment = load_experiment(write_experiment(tmp_path, temperatures=[0.05], ladder_steps=1))
    experiment.procedure.tip_settle = float("nan")
    sim_fridge.world.faults.force_clip = True
    started = time.monotonic()
    try:
        result = run_experiment(experiment, sim_station, out_dir=tmp_path)
    except Exception as exc:  # refused before the run: also a defined end
        assert "tip_settle" in str(exc) or "nan" in str(exc).lower()
        return
    assert time.monotonic() - started < 60
    assert result.exit_status == "failed" and result.reason


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_kill_mid_approach_and_the_resume_restores_the_z_limits_first(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``andreev run`` SIGKILLed in the middle of an approach (its narrow Z window armed,
    two setpoint steps taken): the window stays on the controller; the resume widens it
    back to the station's ``z_limits`` before it moves anything (logged), and completes."""
    from tests.conftest import drain, run_file_of, start_run
    from tests.instruments.nanonis.test_approach import MOVES

    experiment = write_experiment(
        tmp_path, temperatures=[0.05], ladder_steps=2, ladder_stop=1.0e-8, bias_points=21
    )
    server, junction = sim_fridge.servers["stm"], sim_fridge.world.junction
    station_low = -1e-7  # config/sim.yaml: z_limits [1e-7, -1e-7]
    victim: list[int] = []
    steps_in_window: list[str] = []
    killed = threading.Event()
    execute = server.execute

    after_kill: list[tuple[str, tuple[float, float]]] = []  # command, the limits after it

    def execute_then_kill(name: str, body: bytes, raw: bytes | None = None) -> bytes:
        reply = execute(name, body, raw)
        if killed.is_set():
            after_kill.append((name, junction.z_limits))
        if victim and not killed.is_set() and name == "ZCtrl.SetpntSet":
            if junction.z_limits[1] > 0.5 * station_low:  # the approach's floor is armed
                steps_in_window.append(name)
                if len(steps_in_window) == 2:
                    os.kill(victim[0], signal.SIGKILL)
                    killed.set()
        return reply

    monkeypatch.setattr(server, "execute", execute_then_kill)
    proc = start_run(
        [str(experiment), "--config", str(sim_station), "--out", str(tmp_path)], tmp_path
    )
    try:
        path = run_file_of(proc)
        victim.append(proc.pid)
        drain(proc)
        assert killed.wait(60), "no approach step was seen"
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert junction.z_limits[1] > 0.5 * station_low  # left narrow by the killed approach
    after_kill.clear()

    resumed = run_experiment(None, sim_station, out_dir=tmp_path, resume=path)
    assert resumed.exit_status == "completed", resumed.reason
    sent = [name for name, _ in after_kill]
    first_move = min(sent.index(name) for name in MOVES if name in sent)
    restored = [limits for name, limits in after_kill[:first_move] if name == "ZCtrl.LimitsSet"]
    assert restored, sent[: first_move + 1]  # the station's limits, before anything moved
    assert restored[0] == pytest.approx((1e-7, -1e-7), rel=1e-6)
    log = path.with_suffix(".log").read_text(encoding="utf-8")
    assert "narrower than the station's z_limits" in log
    assert junction.z_limits == pytest.approx((1e-7, -1e-7), rel=1e-6)
    assert load(path).attrs["exit_status"] == "completed"
    assert junction.crashes == []
