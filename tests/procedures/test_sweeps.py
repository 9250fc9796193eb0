"""One sweep against the simulated fridge: the requests each point costs (counted at the
servers), the limits, the lean loop against the reference loop, and stopping."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from andreev.engine.rig import Rig
from andreev.errors import Aborted, SafetyError
from andreev.instruments.safety import SafetyLimits
from andreev.instruments.station import close_station, load_station_config, open_station
from andreev.procedures.sweeps import (
    TEMPERATURE_READS_PER_SWEEP,
    measure_controller_side,
    measure_point_by_point,
)
from andreev.sim import SimFridge
from tests.conftest import make_world, station_file_for

V_SET, I_SET = 10e-3, 1e-9  # V, A


@dataclasses.dataclass
class Sim:
    fridge: SimFridge
    rig: Rig

    def clear(self) -> None:
        for server in self.fridge.servers.values():
            server.clear_received()

    def received(self) -> dict[str, Counter]:
        return {name: Counter(s.received) for name, s in self.fridge.servers.items()}

    def sweep(self, bias: np.ndarray, **kwargs: Any) -> list:
        options: dict[str, Any] = {
            "setpoint_bias": V_SET,
            "backward": False,
            "precision": 0.999,
            "tip_settle": 0.0,
            "should_stop": lambda: False,
        }
        return measure_point_by_point(self.rig, bias, **{**options, **kwargs})


def _open(folder: Path, seed: int = 1234) -> Iterator[Sim]:
    with SimFridge(make_world(seed=seed), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        config = load_station_config(station_file_for(fridge, folder))
        station, _ = open_station(config, overrides=fridge.station_overrides())
        try:
            rig = Rig.from_station(station, config.safety, config.clock())
            station.components["lockin"].time_constant(1e-3)
            rig.stm.safe_state(V_SET, I_SET)
            yield Sim(fridge, rig)
        finally:
            close_station(station)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    yield from _open(tmp_path)


def _bias(n: int) -> np.ndarray:
    return np.linspace(-1.5e-3, 1.5e-3, n)


def test_a_point_costs_a_bias_write_a_current_and_a_lockin_read(sim: Sim) -> None:
    sim.sweep(_bias(20))  # the first sweep reads what the drivers do not know yet
    counts, paired = {}, {}
    transport = sim.rig.station.components["stm"].transport
    for n in (20, 40):
        sim.clear()
        before = transport.paired
        sim.sweep(_bias(n))
        counts[n], paired[n] = sim.received(), transport.paired - before
    per_point = {}
    for name in counts[20]:
        diff = counts[40][name].copy()
        diff.subtract(counts[20][name])
        diff.pop("ZCtrl.StatusGet", None)  # polled until the controller confirms: timing
        per_point[name] = {cmd: k / 20 for cmd, k in diff.items() if k}
    assert per_point == {
        "stm": {"Bias.Set": 1.0, "Current.Get": 1.0},
        "lockin": {"SNAP? 1,2": 1.0},
        "bridge": {},  # TEMPERATURE_READS_PER_SWEEP per sweep, whatever its length
    }
    # exposed: the current goes in one message with the next point's bias write
    assert (paired[40] - paired[20]) / 20 == 1.0  # 3 requests, 2 exposed round trips
    bridge = sum(counts[20]["bridge"].values())
    assert bridge == TEMPERATURE_READS_PER_SWEEP + 2  # + at the start and the end
    assert sum(counts[20]["lockin"].values()) == 20  # settling, modulation: known
    # at V_set nothing the driver set itself is read back: hold and release only
    read_backs = ("Bias.Get", "ZCtrl.OnOffGet", "ZCtrl.SetpntGet", "Current.GainsGet")
    assert not any(counts[20]["stm"][cmd] for cmd in read_backs)
    assert counts[20]["stm"]["ZCtrl.OnOffSet"] == 3  # on at V_set, hold, on again


def test_the_whole_path_is_checked_before_anything_moves(sim: Sim) -> None:
    sim.clear()
    with pytest.raises(SafetyError, match="max_bias"):
        sim.sweep(np.linspace(0.0, 0.2, 11))  # 0.2 V > the station's max_bias
    assert sim.received()["stm"] == Counter()


def test_the_driver_still_refuses_an_out_of_limit_bias_inside_a_sweep(sim: Sim) -> None:
    loose = dataclasses.replace(sim.rig, safety=SafetyLimits(max_bias=1.0))
    limit = sim.rig.safety.max_bias
    junction = sim.fridge.world.junction
    highest: list[float] = []

    def watch() -> bool:
        highest.append(junction.bias)
        return False

    with pytest.raises(SafetyError, match="max_bias"):
        measure_point_by_point(
            loose,
            np.linspace(0.02, 2 * limit, 10),
            setpoint_bias=V_SET,
            backward=False,
            precision=0.999,
            tip_settle=0.0,
            should_stop=watch,
        )
    assert max(highest) <= limit * (1 + 1e-6)  # sent as f32
    assert junction.bias == pytest.approx(V_SET, rel=1e-6)  # restored on the way out
    assert sim.rig.station.components["stm"].feedback_on()


def _take(folder: Path, loop: str) -> Any:
    folder.mkdir()
    sims = _open(folder, seed=77)
    sim = next(sims)
    try:
        (record,) = sim.sweep(_bias(41), loop=loop)
        return record
    finally:
        sims.close()


def test_the_lean_loop_records_what_the_reference_loop_does(tmp_path: Path) -> None:
    lean = _take(tmp_path / "lean", "lean")
    slow = _take(tmp_path / "slow", "reference")
    # same seed, same requests at the same biases: the same film, current and lock-in
    scale = np.max(np.abs(slow.current))
    np.testing.assert_allclose(lean.current, slow.current, rtol=0.05, atol=0.02 * scale)
    np.testing.assert_allclose(lean.didv, slow.didv, rtol=0.05)
    away = np.abs(_bias(41)) > 0.2e-3
    assert np.all(np.sign(lean.current[away]) == np.sign(_bias(41)[away]))
    assert lean.temperature == pytest.approx(slow.temperature, rel=0.05)
    low, high = lean.temperature_range
    assert low <= lean.temperature <= high and high - low < 0.01


def test_a_stop_ends_the_sweep_within_one_point(sim: Sim) -> None:
    def measured() -> int:
        return sim.received()["lockin"]["SNAP? 1,2"]

    sim.sweep(_bias(5))
    sim.clear()
    with pytest.raises(Aborted):  # the stop is asked for once seven points are read
        sim.sweep(_bias(50), should_stop=lambda: measured() >= 7)
    got = sim.received()
    assert 7 <= got["lockin"]["SNAP? 1,2"] <= 8  # the point under way at most, no more
    assert got["stm"]["Current.Get"] <= 8 + 2  # + the regulation check at V_set
    assert sim.fridge.world.junction.bias == pytest.approx(V_SET, rel=1e-6)
    assert sim.rig.station.components["stm"].feedback_on()


def test_controller_side_sweep_has_a_small_fixed_cost(sim: Sim) -> None:
    def run() -> None:
        measure_controller_side(
            sim.rig,
            _bias(101),
            setpoint_bias=V_SET,
            backward=False,
            precision=0.999,
            tip_settle=0.0,
            should_stop=lambda: False,
        )

    run()
    sim.clear()
    run()
    got = sim.received()
    assert got["lockin"] == Counter()  # settling and modulation known
    assert got["stm"]["BiasSpectr.Start"] == 1
    assert got["stm"]["Bias.Get"] <= 1


def test_a_long_window_reads_the_current_inside_it(sim: Sim) -> None:
    lockin = sim.rig.station.components["lockin"]
    lockin.time_constant(3.0)  # settle 27.7 s world = 28 ms wall: room for the current
    sim.sweep(_bias(3))
    sim.clear()
    transport = sim.rig.station.components["stm"].transport
    before = transport.paired
    (record,) = sim.sweep(_bias(4))
    got = sim.received()
    assert got["stm"]["Bias.Set"] >= 4 and got["stm"]["Current.Get"] == 4 + 1  # + regulation
    assert got["lockin"]["SNAP? 1,2"] == 4
    assert transport.paired == before  # nothing paired: the current is read in the window
    assert np.all(np.isfinite(record.current)) and np.all(record.didv > 0)
