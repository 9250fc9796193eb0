"""The RunEngine on in-memory instruments: retakes, suspender pauses, overload
re-ranging, give-up, abort, errors, the safe state and resume — no sockets."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from andreev.engine.events import (
    Event,
    RunStarted,
    SweepDisturbed,
    SweepDone,
    SweepFailed,
    SweepStarted,
    WaitingForConditions,
)
from andreev.engine.run_engine import RunEngine
from andreev.engine.stop import StopFlag
from andreev.storage import RunWriter, load
from tests.engine.fakes import TUNNELLING, V_SET, FakePlan, make_rig


def new_book(path: Path, plan: FakePlan) -> RunWriter:
    grid = plan.grid()
    return RunWriter.create(
        path,
        outer_name=grid.outer.name,
        outer_values=grid.outer.values,
        outer_unit="",
        setpoints=grid.setpoints,
        bias=grid.bias,
        directions=grid.directions,
        setpoint_bias=V_SET,
        v_mod_rms=10e-6,
        config_yaml="fake: plan\n",
        snapshot={},
    )


class Run:
    """A plan, the fakes, a run file in tmp_path and the events the engine emitted."""

    def __init__(self, tmp_path: Path, plan: FakePlan, name: str = "run.h5") -> None:
        self.plan, self.rig = plan, make_rig()
        self.book = new_book(tmp_path / name, plan)
        self.stop = StopFlag()
        self.events: list[Event] = []
        self.engine = RunEngine(plan, self.rig, self.book, self.stop, self.events.append)

    def __call__(self) -> str:
        try:
            return self.engine.run()
        finally:
            self.status = self.book.sweep_status().copy()
            self.book.close(self.engine.exit_status)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def assert_safe(self) -> None:
        stm = self.rig.stm
        assert stm.safe_states[-1] == (V_SET, TUNNELLING)  # type: ignore[attr-defined]
        assert stm.feedback is True  # type: ignore[attr-defined]
        assert self.rig.bridge.heater_ranges[-1] == 0  # type: ignore[attr-defined]


def test_a_clean_run_takes_every_sweep_once_and_ends_safe(tmp_path: Path) -> None:
    run = Run(tmp_path, FakePlan(n_outer=2, setpoints=(1e-9, 1e-8), backward=True))
    assert run() == "completed"
    assert (run.status == "done").all() and run.status.shape == (2, 2, 2)
    assert run.plan.started and run.plan.taken == [(0, 1e-9), (0, 1e-8), (1, 1e-9), (1, 1e-8)]
    assert run.of(RunStarted) == [RunStarted(0, 4)]
    assert [(e.done, e.total) for e in run.of(SweepDone)] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert all(e.world_seconds > 0 for e in run.of(SweepDone))
    run.assert_safe()
    assert run.plan.context is None  # detached after the run


def test_a_disturbed_sweep_waits_with_the_tip_tunnelling_then_is_retaken(
    tmp_path: Path,
) -> None:
    plan = FakePlan(n_outer=1, setpoints=(1e-9, 1e-7), sweep_problems=[None, "too warm"])
    run = Run(tmp_path, plan)
    assert run() == "completed"
    assert list(run.status.ravel()) == ["done", "retaken"]
    assert plan.taken == [(0, 1e-9), (0, 1e-7), (0, 1e-7)]
    # after the disturbance the engine paused at the tunnelling setpoint, then went back
    assert plan.waits == [TUNNELLING]
    history = run.rig.stm.setpoint_history  # type: ignore[attr-defined]
    assert history[-4:] == [1e-7, TUNNELLING, 1e-7, TUNNELLING]  # sweep, wait, retake, safe
    (disturbed,) = run.of(SweepDisturbed)
    assert disturbed.reason == "too warm" and disturbed.attempt == 1
    assert [e.reason for e in run.of(WaitingForConditions)] == [
        "waiting for the conditions to settle again"
    ]
    assert [e.attempt for e in run.of(SweepStarted) if e.j == 1] == [0, 1]


def test_bad_conditions_before_a_sweep_pause_it_without_a_retake(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=1, setpoints=(1e-8,), condition_problems=["sample at 60 mK"])
    run = Run(tmp_path, plan)
    assert run() == "completed"
    assert list(run.status.ravel()) == ["done"]  # nothing was taken under bad conditions
    assert plan.waits == [TUNNELLING]
    assert plan.taken == [(0, 1e-8)]
    assert run.of(WaitingForConditions)[0].reason == "sample at 60 mK"


def test_an_overload_re_ranges_with_doubled_headroom_and_retakes(tmp_path: Path) -> None:
    run = Run(tmp_path, FakePlan(n_outer=1, setpoints=(1e-8,)))
    run.rig.lockin.overload_script = [True, True, False]  # type: ignore[attr-defined]
    assert run() == "completed"
    assert list(run.status.ravel()) == ["retaken"]
    assert run.rig.lockin.headrooms == [4.0, 8.0, 16.0]  # type: ignore[attr-defined]
    assert [e.reason for e in run.of(SweepDisturbed)] == ["lock-in overload"] * 2
    assert run.plan.waits == []  # an overload needs a new range, not a pause


def test_after_max_retakes_the_sweep_is_failed_and_the_run_goes_on(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=1, setpoints=(1e-9, 1e-8), max_retakes=2)
    plan.sweep_problems = ["noisy"] * 3  # the first sweep, and both its retakes
    run = Run(tmp_path, plan)
    assert run() == "incomplete"
    assert list(run.status.ravel()) == ["failed", "done"]
    assert len(plan.taken) == 4  # 1 + 2 retakes, then the next setpoint
    (failed,) = run.of(SweepFailed)
    assert (failed.i, failed.j, failed.reason, failed.done) == (0, 0, "noisy", 1)
    run.assert_safe()


def test_a_tip_that_cannot_regulate_is_retried_then_given_up(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=1, setpoints=(1e-8,), max_retakes=1, regulation=[False, False])
    run = Run(tmp_path, plan)
    assert run() == "incomplete"
    assert list(run.status.ravel()) == ["failed"] and plan.taken == []
    assert "current stays off" in run.of(SweepFailed)[0].reason


def test_a_stop_mid_sweep_makes_everything_safe_and_ends_aborted(tmp_path: Path) -> None:
    run = Run(tmp_path, FakePlan(n_outer=2, setpoints=(1e-9, 1e-8)))

    def stop_in_third_sweep(count: int) -> None:
        if count == 2 * 12 + 5:  # 11 points + back to V_set per sweep
            run.stop.set("test")

    run.rig.stm.on_bias = stop_in_third_sweep  # type: ignore[attr-defined]
    assert run() == "aborted"
    assert list(run.status.ravel()) == ["done", "done", "pending", "pending"]
    run.assert_safe()
    assert run.stop.shutting_down


def test_an_error_makes_everything_safe_ends_failed_and_is_raised(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=1, setpoints=(1e-9, 1e-8), errors={(0, 1): OSError("cable")})
    run = Run(tmp_path, plan)
    with pytest.raises(OSError, match="cable"):
        run()
    assert run.engine.exit_status == "failed"
    assert list(run.status.ravel()) == ["done", "pending"]
    run.assert_safe()


def test_a_failing_safe_state_still_tries_the_heater_and_ends_failed(tmp_path: Path) -> None:
    run = Run(tmp_path, FakePlan(n_outer=1, setpoints=(1e-9,)))

    def broken() -> None:
        raise OSError("no reply")

    run.rig.stm.safe_hook = broken  # type: ignore[attr-defined]
    assert run() == "failed"
    assert run.rig.bridge.heater_ranges == [0]  # type: ignore[attr-defined]


@pytest.mark.skipif(sys.platform == "win32", reason="raises SIGINT in the process")
def test_a_second_ctrl_c_during_the_safe_state_is_only_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = Run(tmp_path, FakePlan(n_outer=1, setpoints=(1e-9, 1e-8)))
    stm = run.rig.stm

    def first_ctrl_c(count: int) -> None:
        if count == 5:
            signal.raise_signal(signal.SIGINT)

    stm.on_bias = first_ctrl_c  # type: ignore[attr-defined]
    stm.safe_hook = lambda: signal.raise_signal(signal.SIGINT)  # type: ignore[attr-defined]
    with run.stop.installed():
        assert run() == "aborted"
    assert run.stop.reason == "SIGINT"
    run.assert_safe()  # the second Ctrl-C did not cut the safe state short
    assert "while making the instruments safe" in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="raises SIGINT in the process")
def test_an_impatient_second_ctrl_c_mid_sweep_still_ends_safe_and_aborted(
    tmp_path: Path,
) -> None:
    run = Run(tmp_path, FakePlan(n_outer=1, setpoints=(1e-9,)))
    run.plan.take_sweep = lambda current: (  # type: ignore[method-assign]
        signal.raise_signal(signal.SIGINT),
        signal.raise_signal(signal.SIGINT),  # KeyboardInterrupt from the handler
    )
    with run.stop.installed():
        assert run() == "aborted"
    run.assert_safe()


def test_resume_skips_the_sweeps_the_file_holds(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=2, setpoints=(1e-9, 1e-8))
    first = Run(tmp_path, plan)

    def stop_after_two(event: Event) -> None:
        first.events.append(event)
        if isinstance(event, SweepDone) and event.done == 2:
            first.stop.set("test")

    first.engine.emit = stop_after_two
    assert first() == "aborted"
    didv = load(tmp_path / "run.h5").dIdV.values[0]
    kept = RunWriter.open(tmp_path / "run.h5")
    try:
        again = FakePlan(n_outer=2, setpoints=(1e-9, 1e-8))
        events: list[Event] = []
        engine = RunEngine(again, make_rig(), kept, StopFlag(), events.append)
        assert engine.run() == "completed"
        assert again.taken == [(1, 1e-9), (1, 1e-8)]  # outer step 0 is never entered again
        assert again.outer == 1
        assert events[0] == RunStarted(2, 4)
        assert (kept.sweep_status() == "done").all()
    finally:
        kept.close("completed")
    np.testing.assert_array_equal(load(tmp_path / "run.h5").dIdV.values[0], didv)


def test_an_outer_step_that_cannot_be_reached_is_failed_and_skipped(tmp_path: Path) -> None:
    plan = FakePlan(n_outer=2, setpoints=(1e-9,), skip_outer={0})
    run = Run(tmp_path, plan)
    assert run() == "incomplete"
    assert list(run.status.ravel()) == ["failed", "done"]
    assert plan.taken == [(1, 1e-9)]
