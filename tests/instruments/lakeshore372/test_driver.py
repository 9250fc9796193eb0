"""Lake Shore 372 driver against the simulated bridge over 127.0.0.1 TCP (pyvisa-py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from andreev.errors import SafetyError
from andreev.instruments import roles
from andreev.instruments.lakeshore372 import (
    HeaterBand,
    LakeshoreModel372,
    SettlingTrace,
    check_temperature_setpoint,
    default_tolerance,
    setpoint_problem,
    validate_bands,
)
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits
from andreev.instruments.visa_reconnect import InstrumentTimeoutError

from ..conftest import station_bands, sync

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")


def _writes(server, mnemonic: str) -> list[str]:
    return [c for c in server.received if c.upper().startswith(mnemonic + " ")]


# ---- connection, channels, parameters ------------------------------------------------


def test_connects_with_control_input_channel(bridge: LakeshoreModel372, fridge) -> None:
    assert bridge.IDN()["model"] == "372"
    assert bridge.visa_handle.read_termination == "\r\n"
    assert bridge.sample is bridge.A
    assert bridge.sample_channel_id == "A"
    base = fridge.world.thermal.params.base_temperature
    assert bridge.A.temperature() == pytest.approx(base, rel=0.02)
    assert bridge.ch06.temperature() == pytest.approx(base, rel=0.02)
    assert len(bridge.channels) == 17


@pytest.mark.parametrize(
    ("channel", "name", "value"),
    [
        ("ch06", "dwell", 12),
        ("ch06", "pause", 5),
        ("ch06", "curve_number", 7),
        ("ch06", "temperature_coefficient", "positive"),
        ("ch03", "enabled", False),
        ("ch06", "excitation_mode", "current"),
        ("ch06", "excitation_range_number", 9),
        ("ch06", "auto_range", "off"),
        ("ch06", "range", "20.0 kOhm"),
        ("ch06", "units", "kelvin"),
        ("ch06", "sensor_name", "MXC RuOx"),
        ("ch06", "sensor_name", "fifteen chars!!"),
        ("ch06", "t_limit", 2.5),
        ("A", "t_limit", 1.5),
        ("A", "sensor_name", "Sample"),
    ],
)
def test_channel_parameter_round_trip(shared_bridge, channel: str, name: str, value) -> None:
    param = shared_bridge.submodules[channel].parameters[name]
    param(value)
    param.cache.invalidate()
    if hasattr(param, "group"):
        param.group.update()
    assert param() == (pytest.approx(value) if isinstance(value, float) else value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("mode", "open_loop"),
        ("mode", "closed_loop"),
        ("input_channel", 6),
        ("input_channel", "A"),
        ("powerup_enable", True),
        ("polarity", "bipolar"),
        ("use_filter", True),
        ("delay", 17),
        ("P", 35.5),
        ("I", 120.0),
        ("D", 3.0),
        ("output_range", "off"),
        ("output_range", "1mA"),
        ("output_range", "10mA"),
        ("setpoint", 0.123),
        ("setpoint_ramp_enabled", True),
        ("setpoint_ramp_rate", 0.5),
        ("output_heater_resistance", 120.0),
        ("output_display", "power"),
    ],
)
def test_sample_heater_parameter_round_trip(shared_bridge, name: str, value) -> None:
    param = shared_bridge.sample_heater.parameters[name]
    param(value)
    param.cache.invalidate()
    if hasattr(param, "group"):
        param.group.update()
    assert param() == (pytest.approx(value) if isinstance(value, float) else value)


def test_heater_output_and_status_read(shared_bridge) -> None:
    assert 0.0 <= shared_bridge.sample_heater.output() <= 100.0
    assert shared_bridge.A.status_bits() == 0
    assert shared_bridge.A.sensor_status() == "OK"


def test_htrset_uses_the_372_form(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    server.clear_received()
    bridge.sample_heater.configure_heater(120.0)
    sync(bridge)
    assert _writes(server, "HTRSET") == ["HTRSET 0,120,0,0,1"]
    assert fridge.world.thermal.output.resistance == pytest.approx(120.0)
    bridge.sample_heater.output_display("power")
    sync(bridge)
    assert _writes(server, "HTRSET")[-1] == "HTRSET 0,120,0,0,2"
    assert server.esr == 0  # accepted: the 336 form would set ESR bit 4
    assert "output_type" not in bridge.sample_heater.parameters


def test_scanner(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    bridge.scan(3, autoscan=True)
    sync(bridge)
    assert "SCAN 3,1" in server.received
    bridge.scanner_group.update()
    assert bridge.scan_channel() == 3
    assert bridge.autoscan() is True
    bridge.scan_channel(6)
    sync(bridge)
    assert server.scan == ("6", 1)


def test_reading_status_bits_and_decoding(bridge: LakeshoreModel372) -> None:
    assert bridge.ch06.status_bits() == 0
    bridge.ch06.current_source_shunted(True)  # excitation off: CS OVL
    assert bridge.ch06.status_bits() == 1
    assert bridge.ch06.sensor_status() == "CS OVL"
    assert bridge.decode_status(1 | 32 | 128) == ["CS OVL", "R. UNDER", "T. UNDER"]
    assert bridge.decode_status(0) == []


def test_sample_channel_may_be_a_scanner_channel(make_bridge) -> None:
    bridge = make_bridge(sample_channel=6)
    assert bridge.sample is bridge.ch06
    with pytest.raises(ValueError):
        make_bridge(sample_channel="B")


# ---- errors and connection ----------------------------------------------------------


def test_unknown_command_sets_esr_and_stays_silent(bridge: LakeshoreModel372) -> None:
    bridge.write("FOOBAR 1")
    assert bridge.event_status() == 32
    bridge.timeout(0.3)
    with pytest.raises(InstrumentTimeoutError, match=r"no reply to 'FOOBAR\?'"):
        bridge.ask("FOOBAR?")
    assert bridge.event_status() == 32
    bridge.write("PID 0,5000,1,1")  # P out of range: execution error
    assert bridge.event_status() == 16
    assert bridge.A.temperature() > 0


def test_reconnects_after_dropped_connection(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    server.faults.drop_next = 1
    start = time.monotonic()
    assert bridge.A.temperature() > 0
    assert time.monotonic() - start < 1.0
    assert bridge.reconnect_count == 1
    assert server.connection_count == 1  # the old connection is gone (372: max 2)
    bridge.sample_heater.P(42.0)
    assert bridge.sample_heater.P() == pytest.approx(42.0)


def test_timeout_then_next_call_works(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    bridge.timeout(0.3)
    server.faults.silent = True
    with pytest.raises(InstrumentTimeoutError):
        bridge.A.temperature()
    server.faults.silent = False
    assert bridge.A.temperature() > 0


# ---- safety -------------------------------------------------------------------------


def test_setpoint_above_max_temperature_never_reaches_instrument(
    bridge: LakeshoreModel372, fridge
) -> None:
    server = fridge.servers["bridge"]
    server.clear_received()
    with pytest.raises(SafetyError, match="max_temperature"):
        bridge.set_temperature(4.5)
    with pytest.raises(SafetyError):
        bridge.sample_heater.setpoint(5.0)
    with pytest.raises(SafetyError):
        bridge.write("SETP 0,10")
    sync(bridge)
    assert server.received == ["*IDN?"]  # nothing else was sent
    assert fridge.world.thermal.output.setpoint == 0.0


def test_heater_range_above_max_never_reaches_instrument(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    server.clear_received()
    with pytest.raises(SafetyError, match="max_heater_range"):
        bridge.sample_heater.output_range("31.6mA")  # range 7 > 6
    with pytest.raises(SafetyError):
        bridge.write("RANGE 0,8")
    with pytest.raises(SafetyError):
        bridge.safe_state(7)
    with pytest.raises(SafetyError):
        bridge.write_zones([{"upper": 1.0, "range": 7, "P": 1, "I": 1, "D": 0}])
    sync(bridge)
    assert not _writes(server, "RANGE")
    assert not _writes(server, "ZONE")
    assert fridge.world.thermal.output.range == 0
    bridge.sample_heater.output_range("10mA")  # range 6 is allowed
    sync(bridge)
    assert fridge.world.thermal.output.range == 6


def test_set_temperature_checks_the_band_range_before_any_write(make_bridge, fridge) -> None:
    bridge = make_bridge(safety=SafetyLimits(max_heater_range=4))
    server = fridge.servers["bridge"]
    server.clear_received()
    with pytest.raises(SafetyError):
        bridge.set_temperature(1.0)  # band ≤ 1.2 K uses range 5
    sync(bridge)
    assert all(c.endswith("?") or "?" in c for c in server.received)


# ---- bands, zones, control ----------------------------------------------------------


def test_bands_are_validated_and_sorted() -> None:
    config = station_bands()
    bands = validate_bands(list(reversed(config)))
    assert [b.upper for b in bands] == sorted(b["upper"] for b in config)
    first = min(config, key=lambda b: b["upper"])
    assert bands[0] == HeaterBand(**first)
    assert bands[0].as_dict() == pytest.approx(first)
    for bad in (
        [{"upper": 1.0, "range": 9, "P": 1, "I": 1, "D": 0}],
        [{"upper": 1.0, "range": 2, "P": 1, "I": 1}],
        [{"upper": 1.0, "range": 2, "P": 1, "I": 1, "D": 0, "x": 1}],
        [{"upper": -1.0, "range": 2, "P": 1, "I": 1, "D": 0}],
        [{"upper": 1.0, "range": 2, "P": 2000, "I": 1, "D": 0}],
        [{"upper": 1.0, "range": 2.5, "P": 1, "I": 1, "D": 0}],
        [
            {"upper": 1.0, "range": 2, "P": 1, "I": 1, "D": 0},
            {"upper": 1.0, "range": 3, "P": 1, "I": 1, "D": 0},
        ],
        [],
    ):
        with pytest.raises(ValueError):
            validate_bands(bad)


def test_apply_band_sets_range_and_pid(bridge: LakeshoreModel372, fridge) -> None:
    assert bridge.band_for(0.1).range == 3  # upper edges are inclusive
    assert bridge.band_for(0.11).range == 4
    with pytest.raises(ValueError):
        bridge.band_for(4.5)
    band = bridge.apply_band(0.8)
    sync(bridge)
    out = fridge.world.thermal.output
    assert band.range == 5
    assert out.range == 5
    assert (out.p, out.i, out.d) == pytest.approx((band.P, band.I, band.D))


def test_zone_table_round_trip_and_use(make_bridge, fridge) -> None:
    bridge = make_bridge(bands=None)
    server = fridge.servers["bridge"]
    zones = [{"upper": 0.2, "range": 3, "P": 11, "I": 12, "D": 0}, *station_bands()[2:]]
    bridge.write_zones(zones)
    sync(bridge)
    assert len(_writes(server, "ZONE")) == 10
    assert "ZONE 0,1,0.2,11,12,0,0,3,0,0,0" in server.received
    assert bridge.read_zones() == validate_bands(zones)
    band = bridge.apply_band(0.15)  # no configured bands: the ZONE table decides
    sync(bridge)
    assert (band.range, band.P) == (3, 11.0)
    assert fridge.world.thermal.output.range == 3


def test_set_temperature_writes_closed_loop_setpoint(bridge: LakeshoreModel372, fridge) -> None:
    server = fridge.servers["bridge"]
    server.clear_received()
    band = bridge.set_temperature(0.2)
    sync(bridge)
    out = fridge.world.thermal.output
    assert band.upper == 0.35
    assert out.mode == 5
    assert str(out.input).upper() == "A"
    assert out.setpoint == pytest.approx(0.2)
    assert out.range == band.range
    writes = [c.split()[0] for c in server.received if "?" not in c]
    assert writes[-1] == "RANGE"  # the range comes last
    assert "SETP" in writes and "PID" in writes


def test_safe_state_turns_the_heater_down(make_bridge, fridge) -> None:
    bridge = make_bridge(safety=SafetyLimits(), safe_heater_range=1)
    bridge.set_temperature(0.5)
    bridge.safe_state()
    sync(bridge)
    assert fridge.world.thermal.output.range == 1
    bridge.safe_state(0)
    sync(bridge)
    assert fridge.world.thermal.output.range == 0


# ---- waiting for a stable temperature -----------------------------------------------


def test_wait_until_stable_reaches_new_temperature(bridge: LakeshoreModel372) -> None:
    bridge.set_temperature(0.2)
    wall = time.monotonic()
    trace = bridge.wait_until_stable(0.2, hold_time=60.0, timeout=3600.0, poll=2.0)
    assert isinstance(trace, SettlingTrace)
    assert trace.stable, trace.reason
    assert trace.reason == "stable"
    assert time.monotonic() - wall < 6.0
    assert trace.t.shape == trace.temperature.shape == trace.heater.shape
    assert np.all(np.diff(trace.t) > 0)
    assert trace.temperature[0] < 0.1  # started near base temperature
    tol = default_tolerance(0.2)
    assert trace.tolerance == pytest.approx(1e-3)
    held = trace.t >= trace.t[-1] - 60.0
    assert np.all(np.abs(trace.temperature[held] - 0.2) <= tol)
    assert np.all(trace.status == 0)
    assert np.all((trace.heater >= 0) & (trace.heater <= 100))


@pytest.mark.parametrize("hold", [2.0, 5.0, 15.0])
def test_a_short_hold_counts_as_stable_at_speedup_1000(bridge: LakeshoreModel372, hold) -> None:
    """A hold of a few world seconds at speedup 1000 (one reading's latency fills it):
    the slope needs its three readings, and gets them, rather than "dT/dt inf" for ever."""
    bridge.set_temperature(0.2)
    trace = bridge.wait_until_stable(0.2, hold_time=hold, timeout=3600.0)
    assert trace.stable, trace.reason
    assert trace.elapsed < 3600.0


def test_wait_until_stable_times_out_with_no_settle(bridge: LakeshoreModel372, fridge) -> None:
    fridge.world.faults.no_settle = True
    bridge.set_temperature(0.2)
    wall = time.monotonic()
    trace = bridge.wait_until_stable(0.2, hold_time=30.0, timeout=600.0, poll=2.0)
    assert not trace.stable
    assert trace.reason.startswith("timeout")
    assert trace.elapsed <= 600.0 + 15.0  # within one reading (~ms wall at speedup 1000)
    # it stops when one more reading would end after the timeout: never earlier than the
    # timeout minus the longest reading interval (a reading's latency grows under load)
    assert trace.elapsed >= 600.0 - float(np.max(np.diff(trace.t)))
    assert time.monotonic() - wall < 3.0


def test_wait_until_stable_can_be_aborted(bridge: LakeshoreModel372) -> None:
    bridge.set_temperature(0.3)
    wall = time.monotonic()
    deadline = wall + 0.3
    trace = bridge.wait_until_stable(
        0.3, timeout=1e7, poll=1e5, should_stop=lambda: time.monotonic() > deadline
    )
    assert time.monotonic() - wall < 0.8
    assert not trace.stable
    assert trace.reason == "aborted"
    assert len(trace.t) >= 1


# ---- the bridge role ------------------------------------------------------------------
def test_fills_the_bridge_role_with_default_limits(make_bridge, fridge) -> None:
    bridge = make_bridge()  # no limits given: the documented defaults, never none
    assert isinstance(bridge, roles.Bridge)
    assert bridge.safety is DEFAULT_LIMITS
    server = fridge.servers["bridge"]
    server.clear_received()
    with pytest.raises(SafetyError, match="max_temperature"):
        bridge.set_temperature(DEFAULT_LIMITS.max_temperature * 2)
    sync(bridge)
    assert [c for c in server.received if "?" not in c] == []


def test_sample_temperature_reads_the_sample(bridge: LakeshoreModel372, fridge) -> None:
    assert bridge.sample_temperature() == pytest.approx(fridge.world.sample_temperature(), rel=0.02)


def test_setpoint_checks_of_the_dry_run_are_the_drivers() -> None:
    bands = station_bands()
    limits = SafetyLimits(max_temperature=4.0, max_heater_range=4)
    parsed = validate_bands(bands)
    assert setpoint_problem(0.1, bands, limits) is None  # band up to 0.1 K: range 3
    assert check_temperature_setpoint(0.1, parsed, limits) == parsed[0]
    assert "max_temperature" in str(setpoint_problem(5.0, bands, limits))
    high = next(b for b in parsed if b.range > 4)
    assert "max_heater_range" in str(setpoint_problem(high.upper, bands, limits))
    with pytest.raises(SafetyError):
        check_temperature_setpoint(high.upper, parsed, limits)
    # no bands known (the instrument's ZONE table): only the temperature is checked
    assert check_temperature_setpoint(high.upper, None, limits) is None
    beyond = SafetyLimits(max_temperature=300.0)
    assert "no heater band covers" in str(setpoint_problem(parsed[-1].upper * 2, bands, beyond))


def test_set_temperature_refuses_what_the_dry_run_refuses(make_bridge, fridge) -> None:
    limits = SafetyLimits(max_heater_range=4)
    bridge = make_bridge(safety=limits)
    high = next(b for b in validate_bands(station_bands()) if b.range > 4)
    assert setpoint_problem(high.upper, station_bands(), limits) is not None
    server = fridge.servers["bridge"]
    sync(bridge)
    server.clear_received()
    with pytest.raises(SafetyError):
        bridge.set_temperature(high.upper)
    sync(bridge)
    assert [c for c in server.received if "?" not in c] == []
