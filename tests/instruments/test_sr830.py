"""SR830 driver against the simulated lock-in over 127.0.0.1 TCP (pyvisa-py)."""

from __future__ import annotations

import math
import socket
import time

import numpy as np
import pytest

from andreev.errors import SafetyError
from andreev.instruments import roles
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits
from andreev.instruments.sr830 import (
    AMPLITUDE_RANGE,
    SR830,
    check_modulation,
    filter_settle_time,
    modulation_problem,
    settle_time_constants,
)
from andreev.instruments.visa_reconnect import InstrumentTimeoutError

from .conftest import sync

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")

# docs/protocols.md: settling in time constants for 6/12/18/24 dB/oct
TABLE = {
    0.99: {6: 4.6, 12: 6.6, 18: 8.4, 24: 10.0},
    0.999: {6: 6.9, 12: 9.2, 18: 11.2, 24: 13.1},
}
VOLT_SENS = [m * 10.0**e for e in range(-9, 1) for m in (1, 2, 5) if 2e-9 <= m * 10.0**e <= 1]
TIME_CONSTANTS = [10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 0.1, 0.3, 1, 3, 10, 30]
TIME_CONSTANTS += [100, 300, 1e3, 3e3, 10e3, 30e3]


def test_connects_and_selects_reply_interface_first(lockin: SR830, fridge) -> None:
    assert lockin.IDN()["model"] == "SR830"
    received = fridge.servers["lockin"].received
    assert received[0] == "OUTX 1"
    assert lockin.visa_handle.read_termination == "\n"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("phase", 12.5),
        ("phase", -90.0),
        ("frequency", 137.5),
        ("frequency", 1234.0),
        ("harmonic", 2),
        ("amplitude", 0.25),
        ("amplitude", 4.0),
        ("input_config", "a-b"),
        ("input_config", "I 1M"),
        ("input_shield", "ground"),
        ("input_coupling", "DC"),
        ("notch_filter", "line in"),
        ("reserve", "low noise"),
        ("filter_slope", 6),
        ("filter_slope", 24),
        ("sync_filter", "on"),
        ("reference_source", "internal"),
        ("ext_trigger", "TTL rising"),
        ("aux_out2", 1.5),
        ("output_interface", "GPIB"),
    ],
)
def test_parameter_round_trip(shared_lockin: SR830, name: str, value) -> None:
    param = shared_lockin.parameters[name]
    param(value)
    param.cache.invalidate()
    got = param()
    if isinstance(value, float):
        assert got == pytest.approx(value, abs=1e-3)
    else:
        assert got == value


@pytest.mark.parametrize("tau", TIME_CONSTANTS)
def test_time_constant_round_trip(shared_lockin: SR830, shared_fridge, tau: float) -> None:
    shared_lockin.time_constant(tau)
    assert shared_lockin.time_constant() == pytest.approx(tau)
    assert shared_fridge.world.lockin.time_constant == pytest.approx(tau)


def test_the_dry_runs_time_constants_are_the_drivers(shared_lockin: SR830) -> None:
    """The dry run refuses a time constant the driver would refuse mid-run."""
    from andreev.instruments.sr830 import SR830_TIME_CONSTANTS, time_constant_problem

    assert sorted(shared_lockin.time_constant.val_mapping) == list(SR830_TIME_CONSTANTS)
    assert all(time_constant_problem(tau) is None for tau in SR830_TIME_CONSTANTS)
    with pytest.raises(ValueError):
        shared_lockin.time_constant(0.02)
    assert "the nearest is 0.03 s" in str(time_constant_problem(0.02))


def test_every_legal_sensitivity_round_trips(lockin: SR830, fridge) -> None:
    assert len(VOLT_SENS) == 27
    for index, sens in enumerate(VOLT_SENS):
        lockin.sensitivity(sens)  # computed floats such as 2 * 10.0**-9 are accepted
        assert lockin.sensitivity() == pytest.approx(sens)
        assert fridge.world.lockin.sens_index == index


@pytest.mark.parametrize("bad", [3e-6, 0.0, -1e-3, 2.0, 1.5e-9, "1V"])
def test_sensitivity_validator_refuses_illegal_values(lockin: SR830, fridge, bad) -> None:
    server = fridge.servers["lockin"]
    server.clear_received()
    with pytest.raises(ValueError, match="sensitivity"):
        lockin.sensitivity(bad)
    sync(lockin)
    assert not [c for c in server.received if c.startswith("SENS ")]


def test_sensitivity_in_current_mode_is_in_amperes(lockin: SR830, fridge) -> None:
    lockin.input_config("I 100M")
    lockin.sensitivity(1e-12)
    assert lockin.sensitivity() == pytest.approx(1e-12)
    assert fridge.world.lockin.sens_index == 8
    with pytest.raises(ValueError):
        lockin.sensitivity(1e-3)  # a voltage, not a current
    assert lockin.sensitivity.unit == "A"


@pytest.mark.parametrize("precision", sorted(TABLE))
@pytest.mark.parametrize("slope", [6, 12, 18, 24])
def test_settle_time_reproduces_protocols_table(
    shared_lockin: SR830, precision: float, slope: int
) -> None:
    shared_lockin.filter_slope(slope)
    shared_lockin.time_constant(3.0)
    expected = TABLE[precision][slope] * 3.0
    assert shared_lockin.settle_time(precision) == pytest.approx(expected, abs=0.05 * 3.0)
    # the residual after that time is exactly 1 - precision
    n = {6: 1, 12: 2, 18: 3, 24: 4}[slope]
    x = settle_time_constants(n, precision)
    residual = math.exp(-x) * sum(x**k / math.factorial(k) for k in range(n))
    assert residual == pytest.approx(1 - precision, rel=1e-9)


def test_settle_time_uses_what_was_set_and_rereads_on_refresh(lockin: SR830, fridge) -> None:
    lockin.time_constant(0.1)
    lockin.filter_slope(12)
    sync(lockin)
    server = fridge.servers["lockin"]
    server.clear_received()
    first = lockin.settle_time()
    assert server.received == []  # τ and slope as this driver set them: no query
    with fridge.world.lock:  # the instrument changes its time constant by itself
        fridge.world.lockin.tc_index = 10  # 1 s
    assert lockin.settle_time() == pytest.approx(first)
    assert lockin.settle_time(refresh=True) == pytest.approx(10 * first)
    assert server.received == ["OFLT?", "OFSL?"]
    assert lockin.settle_time() == pytest.approx(10 * first)  # the read is kept


def _prepare_settled(lockin: SR830) -> None:
    lockin.time_constant(0.1)
    lockin.filter_slope(24)
    lockin.wait_settled()
    sync(lockin)  # the writes are handled (wait_settled asks nothing)


def test_read_xy_is_one_snap_matching_outp(lockin: SR830, fridge) -> None:
    _prepare_settled(lockin)
    server = fridge.servers["lockin"]
    server.clear_received()
    x, y = lockin.read_xy()
    assert server.received == ["SNAP? 1,2"]
    x_outp, y_outp = lockin.X(), lockin.Y()
    sigma = fridge.world.lockin.output_noise_rms()
    drift = 1e-3 * abs(x)
    assert x > 0
    assert abs(x - x_outp) < 8 * sigma + drift
    assert abs(y - y_outp) < 8 * sigma + drift


def test_overloaded_follows_force_overload(lockin: SR830, fridge) -> None:
    lockin.sensitivity(1.0)
    lockin.lia_status()
    assert lockin.overloaded() is False
    fridge.world.faults.force_overload = True
    assert lockin.overloaded() is True
    assert "input/amplifier overload" in lockin.decode_lia_status(lockin.lia_status())
    fridge.world.faults.force_overload = False
    lockin.lia_status()  # clear what latched
    assert lockin.overloaded() is False


def test_autorange_settled_from_overload(lockin: SR830, fridge) -> None:
    _prepare_settled(lockin)
    r = abs(complex(*lockin.read_xy()))
    lockin.sensitivity(1e-3)  # far below the ~0.1 V signal: output overload
    server = fridge.servers["lockin"]
    server.clear_received()
    t0 = lockin.clock.now()
    changes = lockin.autorange_settled()
    elapsed = lockin.clock.now() - t0
    sens = lockin.sensitivity()
    assert 0.1 * sens <= r <= 0.9 * sens
    assert changes == VOLT_SENS.index(sens) - VOLT_SENS.index(1e-3)
    assert lockin.overloaded() is False
    # one settle_time (13.1 τ at 24 dB/oct, τ = 0.1 s) on the clock per change,
    # the time constant read again for each
    assert elapsed >= changes * 1.31 * 0.99
    assert sum(c == "OFLT?" for c in server.received) >= changes


def test_autorange_settled_from_underrange(lockin: SR830) -> None:
    lockin.amplitude(0.02)  # signal ~2 mV
    _prepare_settled(lockin)
    lockin.sensitivity(1.0)
    changes = lockin.autorange_settled()
    r = abs(complex(*lockin.read_xy()))
    sens = lockin.sensitivity()
    assert changes >= 1
    assert 0.1 * sens <= r <= 0.9 * sens


def test_autorange_respects_max_changes(lockin: SR830) -> None:
    _prepare_settled(lockin)
    lockin.sensitivity(1e-6)
    assert lockin.autorange_settled(max_changes=2) == 2
    assert lockin.sensitivity() == pytest.approx(5e-6)


def test_modulation_rms_uses_the_divider(make_lockin) -> None:
    lockin = make_lockin(modulation_divider=1e-2)
    lockin.amplitude(0.5)
    assert lockin.modulation_rms == pytest.approx(5e-3)
    lockin.modulation_rms = 1e-3
    assert lockin.amplitude() == pytest.approx(0.1)


def test_didv_from_x_matches_world_conductance(lockin: SR830, fridge) -> None:
    lockin.amplitude(1.0)
    _prepare_settled(lockin)
    x, _y = lockin.read_xy()
    junction = fridge.world.junction
    gain = float(junction.gains[junction.gain_index])
    g = lockin.didv_from_x(x, gain)
    assert g == pytest.approx(fridge.world.conductance(), rel=0.01)
    assert lockin.didv_from_x(x, gain, modulation_rms=1e-3) == pytest.approx(g, rel=1e-3)
    arr = lockin.didv_from_x(np.array([x, 2 * x]), gain, modulation_rms=1e-3)
    assert arr[1] == pytest.approx(2 * arr[0])
    with pytest.raises(ValueError):
        lockin.didv_from_x(x, 0.0)


def test_amplitude_safety_limit_never_reaches_instrument(make_lockin, fridge) -> None:
    # 1 mV max bias: SLVL 0.5 V rms × 1e-3 → 0.71 mV peak ok, 1 V rms → 1.41 mV refused
    lockin = make_lockin(safety=SafetyLimits(max_bias=1e-3))
    server = fridge.servers["lockin"]
    lockin.amplitude(0.5)
    sync(lockin)
    server.clear_received()
    with pytest.raises(SafetyError, match="max_bias"):
        lockin.amplitude(1.0)
    with pytest.raises(SafetyError):
        lockin.write("SLVL 2.0")
    sync(lockin)
    assert not [c for c in server.received if c.startswith("SLVL ")]
    assert fridge.world.lockin.amplitude == pytest.approx(0.5)


def test_silent_query_times_out_with_clear_error(lockin: SR830, fridge) -> None:
    server = fridge.servers["lockin"]
    lockin.timeout(0.3)
    server.faults.silent = True
    start = time.monotonic()
    with pytest.raises(InstrumentTimeoutError, match=r"no reply to 'OUTP\? 1' within 0.3 s"):
        lockin.X()
    assert time.monotonic() - start < 1.0
    assert issubclass(InstrumentTimeoutError, TimeoutError)
    server.faults.silent = False
    assert lockin.X() > 0  # the next call works


def test_failing_query_gets_no_reply(lockin: SR830) -> None:
    lockin.timeout(0.3)
    with pytest.raises(InstrumentTimeoutError):
        lockin.ask("OUTP? 9")  # bad parameter: the SR830 stays silent
    assert lockin.event_status() & (1 << 4)
    lockin.write("XYZW 1")  # unknown command
    assert lockin.event_status() & (1 << 5)


def test_reconnects_after_dropped_connection(lockin: SR830, fridge) -> None:
    server = fridge.servers["lockin"]
    server.faults.drop_next = 1
    start = time.monotonic()
    assert lockin.X() > 0  # the query is re-sent on a new connection
    assert time.monotonic() - start < 1.0  # without waiting for the timeout
    assert lockin.reconnect_count == 1
    lockin.time_constant(0.3)
    assert lockin.time_constant() == pytest.approx(0.3)


def test_reconnects_when_the_server_closed_between_requests(lockin: SR830, fridge) -> None:
    server = fridge.servers["lockin"]
    server.faults.drop_next = 1
    lockin.write("PHAS 10")  # dropped: a write gets no answer, the loss shows later
    time.sleep(0.05)
    lockin.phase(20.0)  # the closed socket is noticed before sending
    assert lockin.phase() == pytest.approx(20.0)
    assert lockin.reconnect_count == 1


def test_a_query_interrupted_before_its_reply_never_leaves_it_to_the_next(
    lockin: SR830, monkeypatch
) -> None:
    """A second Ctrl-C lands between a query's write and its read: the reply is on its
    way; the next query re-opens the connection and gets its own answer."""
    lockin.time_constant(0.1)

    def interrupted(timeout_s: float | None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(lockin, "_wait_for_reply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lockin.read_xy()  # "SNAP? 1,2" written, its reply never read
    monkeypatch.undo()
    assert lockin.time_constant() == pytest.approx(0.1)  # not the SNAP? reply
    assert lockin.reconnect_count == 1
    assert lockin.read_xy()[0] > 0


def test_requests_go_out_without_nagle_delay(lockin: SR830) -> None:
    sock = lockin._socket()
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    lockin.reconnect()
    sock = lockin._socket()
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


# ---- the lock-in role -------------------------------------------------------------------
def test_fills_the_lockin_role_with_default_limits(make_lockin) -> None:
    lockin = make_lockin()  # no limits given: the documented defaults, never none
    assert isinstance(lockin, roles.LockIn)
    assert lockin.safety is DEFAULT_LIMITS


def test_configure_sets_everything(lockin: SR830, fridge) -> None:
    lockin.configure(frequency=313.0, modulation_rms=20e-6, time_constant=0.3, slope=18)
    sync(lockin)
    state = fridge.world.lockin
    assert state.frequency == pytest.approx(313.0)
    assert state.amplitude == pytest.approx(20e-6 / 1e-3)
    assert state.time_constant == pytest.approx(0.3)
    assert state.poles == 3
    assert lockin.modulation_rms == pytest.approx(20e-6)
    assert lockin.settle_time(0.999) == pytest.approx(filter_settle_time(0.3, 18, 0.999))


@pytest.mark.parametrize(
    ("rms", "error"),
    [(1e-6, ValueError), (10e-3, ValueError), (1e-3, SafetyError)],
)
def test_configure_checks_before_writing(make_lockin, fridge, rms: float, error: type) -> None:
    # 1e-6 V needs SLVL 1 mV < 4 mV; 10 mV needs 10 V > 5 V; 1 mV rms is a 1.41 mV
    # peak, above a 1 mV max_bias
    lockin = make_lockin(safety=SafetyLimits(max_bias=1e-3, min_feedback_bias=1e-4))
    server = fridge.servers["lockin"]
    sync(lockin)
    server.clear_received()
    with pytest.raises(error):
        lockin.configure(frequency=313.0, modulation_rms=rms, time_constant=0.3, slope=18)
    sync(lockin)
    assert [c for c in server.received if not c.startswith("*IDN")] == []


def test_settling_and_modulation_without_an_instrument() -> None:
    assert filter_settle_time(2.0, 24, 0.99) == pytest.approx(2.0 * settle_time_constants(4, 0.99))
    with pytest.raises(ValueError, match="slope"):
        filter_settle_time(1.0, 9)
    assert AMPLITUDE_RANGE == (0.004, 5.0)
    assert modulation_problem(10e-6, 1e-3) is None  # SLVL 10 mV
    assert "0.004" in str(modulation_problem(1e-6, 1e-3))
    assert "5" in str(modulation_problem(6e-3, 1e-3))
    assert modulation_problem(1e-6, 0.0) is not None
    check_modulation(10e-6, 1e-3, SafetyLimits())
    with pytest.raises(SafetyError, match="max_bias"):
        check_modulation(0.1, 0.1, SafetyLimits(max_bias=0.1))


def test_connecting_logs_instead_of_printing(make_lockin, capsys, caplog) -> None:
    caplog.set_level("INFO", logger="andreev.instruments.visa_reconnect")
    lockin = make_lockin()
    assert capsys.readouterr().out == ""  # below the command line nothing prints
    assert any("connected to Stanford" in r.getMessage() for r in caplog.records)
    assert lockin.reconnect_count == 0
