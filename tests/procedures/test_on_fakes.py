"""The shipped procedures run by the engine on in-memory instruments: they use the
instruments only through the role Protocols (no driver, no socket)."""

from __future__ import annotations

from pathlib import Path

from andreev.engine.lifecycle import RunInfo, create_book
from andreev.engine.run_engine import RunEngine
from andreev.engine.stop import StopFlag
from andreev.procedures.experiment import PROCEDURES, build_procedure
from andreev.storage import load
from tests.engine.fakes import TUNNELLING, make_rig

COMMON = {
    "setpoint_bias": 10e-3,
    "bias_start": -1.5e-3,
    "bias_stop": 1.5e-3,
    "bias_points": 21,
    "tip_settle": 1.0,
    "ladder_start": 1e-9,
    "ladder_stop": 1e-8,
    "ladder_steps": 2,
}


def run_on_fakes(tmp_path: Path, name: str, values: dict, rig=None):
    """Run procedure ``name`` (COMMON + ``values``) on the engine's fakes into a run file
    laid out as ``andreev run`` lays it out; (exit status, rig, loaded file)."""
    proc = build_procedure(PROCEDURES[name], {**COMMON, **values}, tmp_path / "exp.yaml")
    rig = rig or make_rig()
    book = create_book(tmp_path / "run.h5", proc, RunInfo(name, "", name), rig.station)
    engine = RunEngine(proc, rig, book, StopFlag())
    try:
        status = engine.run()
    finally:
        book.close(engine.exit_status)
    return status, rig, load(tmp_path / "run.h5")


def test_temperature_series_retakes_a_sweep_taken_out_of_band(tmp_path: Path) -> None:
    rig = make_rig()
    stm, bridge, clock = rig.stm, rig.bridge, rig.clock

    def warm_up_in_second_sweep(count: int) -> None:
        if count == 30:  # regulate + 21 points + restore = 23 per sweep
            t0 = clock.now()
            bridge.reading = lambda t: 0.06 if t < t0 + 0.1 else 0.05  # type: ignore[attr-defined]

    stm.on_bias = warm_up_in_second_sweep  # type: ignore[attr-defined]
    status, rig, ds = run_on_fakes(
        tmp_path,
        "TemperatureSeries",
        {"temperatures": [0.05], "temperature_band": 0.5e-3, "stable_hold": 30.0},
        rig,
    )
    assert status == "completed"
    assert list(ds.status.values.ravel()) == ["done", "retaken"]
    assert bridge.waits == 2  # entering the step, then the suspender's wait
    assert abs(float(ds.temperature.values[0, 1, 0]) - 0.05) < 0.5e-3
    assert rig.lockin.configured["modulation_rms"] == 10e-6  # type: ignore[attr-defined]


def test_position_series_moves_the_tip_only_in_tunnelling(tmp_path: Path) -> None:
    positions = [[0.0, 0.0], [1e-8, 0.0], [0.0, 2e-8]]
    status, rig, ds = run_on_fakes(tmp_path, "PositionSeries", {"positions": positions})
    assert status == "completed"
    moves = rig.stm.moves  # type: ignore[attr-defined]
    assert [(x, y) for x, y, _ in moves] == [tuple(p) for p in positions]
    assert all(setpoint == TUNNELLING for *_, setpoint in moves)
    assert (ds.status.values == "done").all()


def test_controller_side_sweeps_store_both_directions(tmp_path: Path) -> None:
    status, _, ds = run_on_fakes(
        tmp_path, "SetpointLadder", {"sweep_mode": "controller", "backward": True}
    )
    assert status == "completed"
    assert dict(ds.sizes)["direction"] == 2
    assert (ds.status.values == "done").all()
