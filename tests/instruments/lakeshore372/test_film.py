"""The 372 driver's film channel against the simulated bridge over TCP: reading the
film with the scanner switch and its settling, the excitation limit checked before any
write, the excitation power."""

from __future__ import annotations

import threading
import time

import pytest

from andreev.errors import SafetyError
from andreev.instruments.lakeshore372 import LakeshoreModel372
from andreev.instruments.lakeshore372.film import (
    CURRENT_EXCITATIONS,
    excitation_index,
    film_intype_problem,
)
from andreev.instruments.safety import SafetyLimits

from ..conftest import sync

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")


@pytest.fixture
def film_bridge(make_bridge) -> LakeshoreModel372:
    return make_bridge(
        safety=SafetyLimits(max_film_excitation=1e-7), film_channel=4, film_excitation=1e-9
    )


def _intype_writes(fridge) -> list[str]:
    return [c for c in fridge.servers["bridge"].received if c.upper().startswith("INTYPE 4")]


def test_excitation_steps():
    assert CURRENT_EXCITATIONS[6] == pytest.approx(1e-9)
    assert excitation_index(1e-9) == 7 and excitation_index(1.2e-6) == 13
    assert film_intype_problem(["1", "13", "1", "15", "0", "2"], 1e-7) is not None
    assert film_intype_problem(["1", "11", "1", "15", "0", "2"], 1e-7) is None
    assert "voltage" in film_intype_problem(["0", "3", "1", "15", "0", "2"], 1.0)


def test_reads_the_film_with_the_switch_cost(film_bridge: LakeshoreModel372, fridge):
    assert film_bridge.film_channel == 4
    first = film_bridge.read_film()
    assert first.switch_cost >= 5.0  # pause 3 s + dwell 2 s of world time
    assert abs(first.resistance) < 50.0  # superconducting at base
    assert first.status == 0
    second = film_bridge.read_film()
    assert second.switch_cost == 0.0
    assert film_bridge.ask("SCAN?") == "04,0"
    assert film_bridge.ask("INSET? 4") == "1,2,3,0,1"
    assert film_bridge.film_excitation() == pytest.approx(1e-9)
    # the sample thermometer (control input) regulates and reads meanwhile
    assert film_bridge.sample_temperature() == pytest.approx(0.047, rel=0.1)
    # another channel, then back: the switch costs again
    film_bridge.leave_film(6)
    assert film_bridge.read_film().switch_cost >= 5.0


def test_the_settling_wait_starts_when_the_bridge_has_switched(
    film_bridge: LakeshoreModel372, fridge
):
    """The bridge is busy (its world lock held for 40 world s of wall time) while SCAN
    is in flight: counted from before the write, the driver's pause + dwell (5 world s)
    ran out before the switch and RDGR? got the film's reading from before (taken
    superconducting); counted from the SCAN? reply, the reading is the normal film's."""
    server = fridge.servers["bridge"]
    film_bridge.read_film()  # a reading at base: superconducting, held by the bridge
    film_bridge.leave_film(6)
    server.film = server.film.with_tc(0.01)  # now normal: a fresh reading shows ~7 kΩ
    world, held = fridge.world, threading.Event()

    def busy() -> None:
        with world.lock:
            held.set()
            time.sleep(40.0 / world.config.speedup)

    bridge_busy = threading.Thread(target=busy)
    bridge_busy.start()
    held.wait()
    try:
        reading = film_bridge.read_film()
    finally:
        bridge_busy.join()
    assert reading.switch_cost >= 5.0
    assert 5e3 < reading.resistance < 9e3, reading


def test_normal_film_resistance_and_power(film_bridge: LakeshoreModel372, fridge):
    server = fridge.servers["bridge"]
    server.film = server.film.with_tc(0.01)
    r = film_bridge.film_resistance()
    assert 5e3 < r < 9e3
    assert film_bridge.film_excitation_power() == pytest.approx(1e-18 * r, rel=0.05)


def test_too_high_excitation_is_refused_before_any_write(film_bridge: LakeshoreModel372, fridge):
    film_bridge.configure_film()
    sync(film_bridge)
    before = _intype_writes(fridge)
    with pytest.raises(SafetyError, match="max_film_excitation"):
        film_bridge.set_film_excitation(1e-6)
    with pytest.raises(SafetyError, match="max_film_excitation"):  # the qcodes parameter too
        film_bridge.ch04.excitation_range_number(13)
    with pytest.raises(SafetyError, match="voltage excitation"):
        film_bridge.write("INTYPE 4,0,5,1,15,0,2")
    sync(film_bridge)
    assert _intype_writes(fridge) == before
    assert film_bridge.ask("INTYPE? 4").split(",")[1] == "7"
    # the nearest step above the limit is lowered to the allowed one
    assert film_bridge.set_film_excitation(1e-7) == pytest.approx(1e-7)


def test_constructor_refuses_an_excitation_above_the_limit(make_bridge):
    with pytest.raises(SafetyError):
        make_bridge(
            safety=SafetyLimits(max_film_excitation=1e-8), film_channel=4, film_excitation=1e-7
        )
    with pytest.raises(ValueError, match="film_channel"):
        make_bridge(film_channel=17)


def test_station_safety_section_takes_the_film_limit(tmp_path):
    from andreev.config.safety import check_safety_section
    from andreev.errors import ConfigError

    limits = check_safety_section(tmp_path / "s.yaml", {"max_film_excitation": 3e-8})
    assert limits.max_film_excitation == 3e-8
    with pytest.raises(ConfigError, match="max_film_excitation"):
        check_safety_section(tmp_path / "s.yaml", {"max_film_excitation": 1.0})
