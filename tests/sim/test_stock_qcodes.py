"""qcodes' stock, unmodified SR830 and LakeshoreModel372 drivers against the simulator,
through pyvisa-py raw sockets (``TCPIP0::127.0.0.1::PORT::SOCKET``, visalib "@py")."""

from __future__ import annotations

import time

import pytest

from andreev.sim import SimConfig, SimFridge, World

pytest.importorskip("pyvisa_py")
from qcodes.instrument_drivers.Lakeshore import LakeshoreModel372
from qcodes.instrument_drivers.stanford_research import SR830


@pytest.fixture
def fridge():
    world = World(SimConfig(speedup=1000, seed=1234))
    with SimFridge(world) as f:
        yield f


@pytest.fixture
def lockin(fridge):
    # behind a Prologix adapter the reply terminator must be given (GPIB would use EOI)
    inst = SR830(
        "stock_sr830", fridge.visa_address("lockin"), visalib="@py", terminator="\n", timeout=5
    )
    yield inst
    inst.close()


@pytest.fixture
def bridge(fridge):
    inst = LakeshoreModel372("stock_ls372", fridge.visa_address("bridge"), visalib="@py", timeout=5)
    yield inst
    inst.close()


# qcodes' own SR830 declares its buffer parameters without **kwargs (its deprecation
# warning, not ours)
@pytest.mark.filterwarnings(
    "ignore:Parameter ch.?_databuffer:qcodes.utils.QCoDeSDeprecationWarning"
)
def test_sr830_connects_and_reads(lockin, fridge):
    assert lockin.IDN()["model"] == "SR830"
    received = fridge.servers["lockin"].received
    assert fridge.servers["lockin"].esr == 0, received
    lockin.amplitude(0.1)
    lockin.time_constant(0.01)
    lockin.filter_slope(24)
    lockin.sensitivity(0.05)
    lockin.frequency(777.7)
    lockin.phase(-20.0)
    lockin.reserve("low noise")
    lockin.input_config("a")
    assert lockin.amplitude() == pytest.approx(0.1)
    assert lockin.time_constant() == pytest.approx(0.01)
    assert lockin.filter_slope() == 24
    assert lockin.sensitivity() == pytest.approx(0.05)
    assert lockin.frequency() == pytest.approx(777.7)
    assert lockin.phase() == pytest.approx(-20.0)
    assert lockin.reserve() == "low noise"
    time.sleep(0.01)  # 10 s of world time: settled
    x, y, r, p = lockin.X(), lockin.Y(), lockin.R(), lockin.P()
    assert 1e-3 < r < 0.05
    assert p == pytest.approx(20.0, abs=1.0)  # the PHAS setting rotates the signal
    assert x == pytest.approx(r * 0.9397, rel=0.02) and y > 0
    snap = lockin.snap("x", "y", "freq")
    assert snap[2] == pytest.approx(777.7)
    lockin.auto_phase()
    assert abs(lockin.phase()) < 1.0
    lockin.ch1_display("R")
    assert lockin.ch1_display() == "R"
    assert lockin.X_offset() == (0.0, 0)
    assert lockin.aux_in1() == 0.0
    assert fridge.servers["lockin"].esr == 0


def test_ls372_connects_reads_and_sets(bridge, fridge):
    assert bridge.IDN()["model"] == "372"
    assert 0.045 < bridge.ch06.temperature() < 0.05
    assert bridge.ch06.sensor_raw() > 1e3
    assert bridge.ch06.sensor_status() == "OK"
    assert bridge.ch06.sensor_name() == "MXC"
    assert bridge.ch06.enabled() is True
    heater = bridge.sample_heater
    heater.P(5.0)
    heater.I(40.0)
    heater.D(0.0)
    heater.output_range("3.16mA")
    heater.setpoint(0.8)  # qcodes waits 0.5 s wall (500 s world) after SETP
    assert heater.P() == 5.0 and heater.I() == 40.0
    assert heater.output_range() == "3.16mA"
    assert heater.setpoint() == pytest.approx(0.8)
    assert heater.output() == 0.0  # still off
    assert fridge.servers["bridge"].esr == 0


def test_ls372_closed_loop_through_the_wire(bridge, fridge):
    heater = bridge.sample_heater
    # the stock driver cannot parse the control input "A" in OUTMODE?; write it raw
    bridge.write("OUTMODE 0,5,A,0,0,0,5")
    heater.P(5.0)
    heater.I(40.0)
    heater.D(0.0)
    heater.output_range("3.16mA")
    heater.setpoint(0.6)
    deadline = time.monotonic() + 3.0
    t_sample = float(bridge.ask("KRDG? A"))
    while abs(t_sample - 0.6) > 0.003 and time.monotonic() < deadline:
        time.sleep(0.05)
        t_sample = float(bridge.ask("KRDG? A"))
    assert t_sample == pytest.approx(0.6, rel=0.005)
    assert bridge.ch06.temperature() == pytest.approx(0.6, rel=0.02)
    assert 0 < heater.output() < 100
    bridge.write("OUTMODE 0,5,6,0,0,0,5")
    assert heater.mode() == "closed_loop" and heater.input_channel() == 6
