"""NanonisSTM and NanonisTransport against the simulated fridge over 127.0.0.1 TCP."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from andreev.clock import Clock
from andreev.errors import SafetyError
from andreev.instruments import roles
from andreev.instruments.nanonis import (
    ApproachError,
    NanonisConnectionError,
    NanonisError,
    NanonisSTM,
    NanonisTimeoutError,
    NanonisTransport,
    decade_length,
)
from andreev.instruments.nanonis.codec import command
from andreev.instruments.nanonis.spectroscopy import channel_row, controller_sweep_from
from andreev.instruments.safety import SafetyLimits
from andreev.sim.fridge import SimFridge
from andreev.sim.junction import JunctionParams
from andreev.sim.world import SimConfig, World

SPEEDUP = 1000.0
LIMITS = SafetyLimits(
    max_setpoint_current=1e-6,
    max_bias=0.1,
    min_feedback_bias=1e-3,
    max_temperature=4.0,
    max_heater_range=6,
    max_bias_slew_rate=1.0,
)
_names = itertools.count()


@dataclass
class Rig:
    fridge: SimFridge
    world: World
    stm: NanonisSTM

    @property
    def server(self) -> Any:
        return self.fridge.servers["stm"]

    def received(self) -> list[str]:
        return list(self.server.received)


def _make_rig(config: SimConfig, **kwargs: Any) -> Iterator[Rig]:
    world = World(config)
    fridge = SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}).start()
    host, port = fridge.addresses["stm"]
    stm = NanonisSTM(
        f"stm{next(_names)}",
        f"{host}:{port}",
        safety=LIMITS,
        clock=Clock(SPEEDUP),
        timeout=kwargs.pop("timeout", 5.0),
        **kwargs,
    )
    try:
        yield Rig(fridge, world, stm)
    finally:
        stm.close()
        fridge.stop()


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from _make_rig(SimConfig(seed=1234, speedup=SPEEDUP))


# ---- parameters ---------------------------------------------------------------------
def test_idn_and_initial_state(rig: Rig) -> None:
    stm = rig.stm
    idn = stm.get_idn()
    assert idn["vendor"] == "SPECS" and "Nanonis" in str(idn["model"])
    assert stm.feedback() is True
    assert stm.status() == "on"
    assert stm.preamp_gain() == pytest.approx(1e9)
    assert stm.current() == pytest.approx(stm.setpoint(), rel=0.05)
    snap = stm.snapshot(update=True)["parameters"]
    assert snap["bias"]["value"] == pytest.approx(0.01, rel=1e-6) and snap["bias"]["unit"] == "V"
    assert snap["status"]["value"] == "on" and snap["z_limits"]["value"][0] > 0


def test_parameter_round_trips(rig: Rig) -> None:
    stm, j = rig.stm, rig.world.junction
    stm.bias(0.004)
    assert stm.bias() == pytest.approx(0.004, rel=1e-6)
    assert j.bias == pytest.approx(0.004, rel=1e-6)
    stm.setpoint(2e-9)
    assert stm.setpoint() == pytest.approx(2e-9, rel=1e-6)
    assert j.setpoint == pytest.approx(2e-9, rel=1e-6)
    stm.z_limits((2e-8, -3e-8))
    assert stm.z_limits() == pytest.approx((2e-8, -3e-8), rel=1e-6)
    stm.limits_enabled(False)
    assert stm.limits_enabled() is False and j.limits_enabled is False
    stm.limits_enabled(True)
    assert stm.limits_enabled() is True
    stm.feedback(False)
    assert stm.feedback() is False and stm.status() == "off" and j.feedback is False
    z = stm.z()
    stm.z(z + 1e-10)
    assert stm.z() == pytest.approx(z + 1e-10, abs=1e-14)
    stm.preamp_gain(1e8)
    assert stm.preamp_gain() == pytest.approx(1e8) and j.gain == pytest.approx(1e8)
    stm.preamp_gain(1e9)
    stm.tip_x(3e-9)
    stm.tip_y(-4e-9)
    assert (stm.tip_x(), stm.tip_y()) == pytest.approx((3e-9, -4e-9))
    assert (j.x, j.y) == pytest.approx((3e-9, -4e-9))
    stm.z(z)
    stm.feedback(True)
    assert stm.feedback() is True and stm.status() == "on"
    rig.stm.clock.sleep(0.5)
    assert stm.current() == pytest.approx(2e-9, rel=0.05)


def test_unknown_gain_value_is_refused(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(ValueError, match="10\\^9"):
        rig.stm.preamp_gain(3e9)
    assert "Current.GainSet" not in rig.received()


def test_bias_ramp_respects_slew_rate(rig: Rig) -> None:
    stm = rig.stm
    rig.server.clear_received()
    t0 = time.monotonic()
    # 10 mV → 50 mV in 1 mV steps, each ≥ 1 ms world after the one before (≤ 1 V/s)
    stm.bias(0.05)
    wall = time.monotonic() - t0
    sets = [c for c in rig.received() if c == "Bias.Set"]
    assert len(sets) == 40
    assert wall * SPEEDUP >= 0.039
    assert rig.world.junction.bias == pytest.approx(0.05, rel=1e-6)
    t0 = time.monotonic()
    stm.bias(0.049)  # right after the last step: waits its 1 ms world first
    assert (time.monotonic() - t0) * SPEEDUP >= 0.001


# ---- errors, reconnection, timeouts ---------------------------------------------------
def test_error_reply_raises_with_message(rig: Rig) -> None:
    t = rig.stm.transport
    with pytest.raises(NanonisError) as info:
        t.call("ZCtrl.ZPosSet", 1e-10)  # feedback is on: the controller refuses
    assert info.value.command == "ZCtrl.ZPosSet"
    assert "Z" in info.value.message and info.value.message in str(info.value)
    with pytest.raises(NanonisError, match=r"Foo\.Bar"):
        t.call(command("Foo.Bar", "", "f32 x"))
    assert rig.stm.bias() == pytest.approx(0.01, rel=1e-6)  # same connection still in step
    assert t.reconnects == 0


def test_driver_refuses_z_with_feedback_on(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(SafetyError, match="feedback"):
        rig.stm.z(0.0)
    assert "ZCtrl.ZPosSet" not in rig.received()


def test_reconnect_after_drop(rig: Rig) -> None:
    stm, t = rig.stm, rig.stm.transport
    rig.server.faults.drop_next = 1
    assert stm.bias() == pytest.approx(0.01, rel=1e-6)  # Get: retried on a new connection
    assert t.reconnects == 1
    rig.server.faults.drop_next = 1
    with pytest.raises(NanonisConnectionError):
        t.call("FolMe.XYPosSet", 1e-9, 1e-9, 0)  # an action is not re-sent: the caller decides
    assert rig.world.junction.x == pytest.approx(0.0)
    rig.server.faults.drop_next = 1
    t.call("ZCtrl.SetpntSet", 2e-9)  # an absolute setter is re-sent once: harmless
    assert stm.setpoint() == pytest.approx(2e-9, rel=1e-6)
    assert t.reconnects == 3  # the Get, the action's next connection, the setter's resend


def test_timeout_then_no_stale_reply(rig: Rig) -> None:
    t = rig.stm.transport
    t.retries = 0
    rig.server.faults.delay = 0.4
    with pytest.raises(NanonisTimeoutError):
        t.call("Bias.Get", timeout=0.1)
    assert not t.connected
    rig.server.faults.delay = 0.0
    time.sleep(0.5)  # the late Bias.Get reply has been written to the old connection by now
    # same reply layout (one f32): a stale read would return the bias, 0.01
    assert t.call("ZCtrl.SetpntGet")["setpoint"] == pytest.approx(1e-9, rel=1e-6)
    assert t.call("Bias.Get")["bias"] == pytest.approx(0.01, rel=1e-6)
    assert t.reconnects == 1


def test_timeout_retry_for_get(rig: Rig) -> None:
    t = rig.stm.transport
    rig.server.faults.delay = 0.3
    t0 = time.monotonic()
    with pytest.raises(NanonisTimeoutError):
        t.call("Current.Get", timeout=0.1)
    assert time.monotonic() - t0 >= 0.2  # two attempts
    rig.server.faults.delay = 0.0
    assert t.call("Bias.Get")["bias"] == pytest.approx(0.01, rel=1e-6)


def test_garbage_reply_recovers(rig: Rig) -> None:
    rig.server.faults.garbage_next = 1
    t = rig.stm.transport
    t.timeout = 0.3
    assert rig.stm.setpoint() == pytest.approx(1e-9, rel=1e-6)
    assert t.reconnects == 1


def test_connect_refused_is_a_connection_error() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NanonisConnectionError):
        NanonisSTM(f"stm{next(_names)}", f"127.0.0.1:{port}", timeout=0.5)
    t = NanonisTransport("127.0.0.1", port, timeout=0.5)
    with pytest.raises(NanonisConnectionError):
        t.call("Bias.Get")


# ---- safety --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("param", "value", "command_name"),
    [
        ("bias", 0.2, "Bias.Set"),
        ("bias", -0.101, "Bias.Set"),
        ("bias", 0.5e-3, "Bias.Set"),  # below min_feedback_bias with the feedback on
        ("bias", -0.01, "Bias.Set"),  # crossing zero with the feedback on
        ("setpoint", 2e-6, "ZCtrl.SetpntSet"),
        ("setpoint", 5e-9, "ZCtrl.SetpntSet"),  # above 0.3 of the 10 nA clip at 1e9 V/A
    ],
)
def test_safety_refusals_never_reach_the_controller(
    rig: Rig, param: str, value: float, command_name: str
) -> None:
    before = (rig.world.junction.bias, rig.world.junction.setpoint)
    rig.server.clear_received()
    with pytest.raises(SafetyError):
        getattr(rig.stm, param)(value)
    assert command_name not in rig.received()
    assert (rig.world.junction.bias, rig.world.junction.setpoint) == before


def test_gain_switch_refused_when_setpoint_would_clip(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(SafetyError, match="clip"):
        rig.stm.preamp_gain(1e10)  # 1 nA setpoint vs a 1 nA clip level
    assert "Current.GainSet" not in rig.received()


def test_zero_bias_crossing_allowed_with_feedback_off(rig: Rig) -> None:
    stm = rig.stm
    stm.feedback(False)
    stm.bias(-0.002)
    assert stm.bias() == pytest.approx(-0.002, rel=1e-6)
    stm.bias(0.0)
    assert rig.world.junction.crashes == []


def test_refuses_to_regulate_at_zero_bias(rig: Rig) -> None:
    stm = rig.stm
    stm.feedback(False)
    stm.bias(0.0)
    rig.server.clear_received()
    with pytest.raises(SafetyError, match="min_feedback_bias"):
        stm.approach_setpoint(1e-8)
    with pytest.raises(SafetyError, match="min_feedback_bias"):
        stm.feedback(True)
    sent = rig.received()
    assert "ZCtrl.OnOffSet" not in sent and "ZCtrl.SetpntSet" not in sent
    assert "Current.GainSet" not in sent and "ZCtrl.LimitsSet" not in sent
    assert rig.world.junction.feedback is False
    assert rig.world.junction.crashes == []


# ---- approach --------------------------------------------------------------------------
def test_approach_1nA_to_1uA_and_back(rig: Rig) -> None:
    stm, j = rig.stm, rig.world.junction
    assert rig.world.sample_temperature() < 0.06
    stm.bias(0.002)
    rig.server.clear_received()
    steps = stm.approach_setpoint(1e-6, steps_per_decade=4, settle=0.3)
    assert j.crashes == []
    assert len(steps) == 13  # start + 3 decades × 4
    assert steps[0].setpoint == pytest.approx(1e-9, rel=1e-6)
    assert steps[-1].setpoint == pytest.approx(1e-6, rel=1e-6)
    gains = [s.gain for s in steps]
    assert gains[0] == 1e9 and gains[-1] == 1e6
    assert gains == sorted(gains, reverse=True)
    for s in steps:  # never beyond 0.3 of the clip level
        assert abs(s.current) <= 0.3 * 10.0 / s.gain * 1.1
        assert s.current == pytest.approx(s.setpoint, rel=0.1)
    assert "Current.GainSet" in rig.received() and "ZCtrl.LimitsEnabledSet" in rig.received()
    travel = steps[0].z - steps[-1].z
    assert 3 * decade_length() * 0.9 < travel < 3 * decade_length() * 1.5
    assert j.g_normal() == pytest.approx(1e-6 / 0.002, rel=0.15)
    assert stm.current() == pytest.approx(1e-6, rel=0.05)
    assert stm.z_limits() == pytest.approx((1e-7, -1e-7), rel=1e-6)  # restored

    down = stm.approach_setpoint(1e-9, steps_per_decade=4, settle=0.3)
    assert j.crashes == []
    assert down[-1].gain == 1e9 and stm.preamp_gain() == 1e9
    assert stm.setpoint() == pytest.approx(1e-9, rel=1e-6)
    assert abs(stm.z() - steps[0].z) < 0.2e-10
    assert stm.feedback() is True


def test_approach_stops_and_withdraws_when_tip_moves_too_far() -> None:
    # a 0.5 eV barrier: 3.2 Å per decade where the driver expects 1.06 Å
    config = SimConfig(seed=7, speedup=SPEEDUP, junction=JunctionParams(barrier_height=0.5))
    for rig in _make_rig(config):
        rig.stm.bias(0.002)
        with pytest.raises(ApproachError, match="tip moved") as info:
            rig.stm.approach_setpoint(1e-6, steps_per_decade=4, settle=0.3)
        assert len(info.value.steps) == 2
        assert rig.world.junction.withdrawn and not rig.world.junction.feedback
        assert rig.received()[-1] == "ZCtrl.Withdraw"
        assert rig.world.junction.z == pytest.approx(1e-7, rel=1e-3)  # the upper limit
        assert rig.world.junction.crashes == []
        # the approach's narrow Z window is not left armed for the next approach
        assert rig.stm.z_limits() == pytest.approx((1e-7, -1e-7), rel=1e-6)


def test_approach_stops_on_clipping(rig: Rig) -> None:
    rig.stm.bias(0.002)
    rig.world.faults.force_clip = True
    with pytest.raises(ApproachError, match="clipping"):
        rig.stm.approach_setpoint(1e-7, steps_per_decade=2, settle=0.2)
    assert rig.world.junction.withdrawn
    assert rig.world.junction.crashes == []
    assert rig.stm.z_limits() == pytest.approx((1e-7, -1e-7), rel=1e-6)  # not left narrow


def test_approach_lands_a_withdrawn_tip_first(rig: Rig) -> None:
    """A resume after a withdraw: the tip comes down from the top of its range under the
    feedback before the Z window is armed, then walks to the target."""
    stm, j = rig.stm, rig.world.junction
    stm.bias(0.002)
    stm.withdraw()
    assert j.z == pytest.approx(1e-7, rel=1e-3)
    steps = stm.approach_setpoint(1e-8, steps_per_decade=2, settle=0.2)
    assert steps[0].current == pytest.approx(1e-9, rel=1.0)
    assert steps[0].z < 1e-9  # landed, not at the top
    assert stm.current() == pytest.approx(1e-8, rel=0.1)
    assert j.crashes == [] and stm.feedback() is True
    assert stm.z_limits() == pytest.approx((1e-7, -1e-7), rel=1e-6)


def test_approach_plans_before_sending(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(SafetyError):
        rig.stm.approach_setpoint(2e-6)
    assert all(c.endswith("Get") for c in rig.received())


# ---- spectroscopy, safe state -----------------------------------------------------------
def test_bias_spectroscopy_returns_the_film_spectrum(rig: Rig) -> None:
    stm, world = rig.stm, rig.world
    world.lockin.amplitude = 0.01  # SLVL 10 mV → 10 µV rms at the junction
    stm.bias(0.005)
    stm.approach_setpoint(1e-8, steps_per_decade=2, settle=0.3)  # G_N = 2e-6 S
    gn = world.junction.g_normal()
    data = stm.bias_spectroscopy(
        -2e-3,
        2e-3,
        161,
        backward=True,
        channels=("Current (A)", "LI Demod 1 X (A)"),
        settling=2e-3,
        integration=2e-3,
    )
    assert set(data) >= {"Bias calc (V)", "Current (A)", "LI Demod 1 X (A)", "Current [bwd] (A)"}
    bias = data["Bias calc (V)"]
    np.testing.assert_allclose(bias, np.linspace(-2e-3, 2e-3, 161), atol=1e-9)
    temperature = world.sample_temperature()
    film = world.film_at(world.junction.x, world.junction.y)
    v_mod = world.v_mod_rms()
    expected_g = film.conductance(bias, gn, temperature, v_mod)
    measured_g = data["LI Demod 1 X (A)"] / v_mod
    np.testing.assert_allclose(measured_g, expected_g, rtol=0.02, atol=0.01 * gn)
    expected_i = film.current(bias, gn, temperature)
    np.testing.assert_allclose(data["Current (A)"], expected_i, atol=0.02 * gn * 2e-3)
    # the gap: conductance near zero bias far below the coherence peaks
    assert measured_g[80] < 0.2 * measured_g.max()
    assert rig.world.junction.feedback is True  # restored by the controller
    assert world.junction.bias == pytest.approx(0.005, rel=1e-6)


def test_bias_spectroscopy_safety(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(SafetyError):
        rig.stm.bias_spectroscopy(-0.2, 0.2, 11)
    with pytest.raises(KeyError, match="Nonexistent"):
        rig.stm.bias_spectroscopy(-0.01, 0.01, 11, channels=("Nonexistent (A)",))
    assert not any(c.startswith("BiasSpectr") for c in rig.received())


def test_safe_state_from_contact(rig: Rig) -> None:
    stm, j = rig.stm, rig.world.junction
    stm.bias(0.002)
    stm.approach_setpoint(1e-6, steps_per_decade=4, settle=0.3)
    stm.safe_state(0.01, 1e-9)
    assert j.crashes == []
    assert stm.feedback() is True
    assert stm.bias() == pytest.approx(0.01, rel=1e-6)
    assert stm.setpoint() == pytest.approx(1e-9, rel=1e-6)
    assert stm.preamp_gain() == 1e9
    assert j.g_normal() == pytest.approx(1e-7, rel=0.15)


def test_safe_state_across_zero_and_from_feedback_off(rig: Rig) -> None:
    stm, j = rig.stm, rig.world.junction
    stm.safe_state(-0.01, 1e-9)
    assert stm.bias() == pytest.approx(-0.01, rel=1e-6) and stm.feedback() is True
    stm.feedback(False)
    stm.bias(0.0)
    stm.safe_state(0.005, 2e-9)
    assert stm.feedback() is True and stm.bias() == pytest.approx(0.005, rel=1e-6)
    assert j.crashes == []
    with pytest.raises(SafetyError):
        stm.safe_state(0.0, 1e-9)


def test_withdraw(rig: Rig) -> None:
    z = rig.stm.z()
    rig.stm.withdraw()
    assert rig.stm.feedback() is False and rig.stm.status() == "off"
    assert rig.world.junction.withdrawn and rig.stm.z() > z
    assert math.isfinite(rig.stm.current())


# ---- the STM controller role --------------------------------------------------------------
def test_fills_the_stm_role(rig: Rig) -> None:
    assert isinstance(rig.stm, roles.STMController)


def test_role_methods_against_the_controller(rig: Rig) -> None:
    stm, j = rig.stm, rig.world.junction
    assert stm.get_bias() == pytest.approx(0.01, rel=1e-6)
    stm.set_bias(0.004)
    assert j.bias == pytest.approx(0.004, rel=1e-6) and stm.get_bias() == stm.bias()
    assert stm.get_setpoint() == pytest.approx(1e-9, rel=1e-6)
    assert stm.get_preamp_gain() == pytest.approx(1e9)
    assert stm.read_current() == pytest.approx(1e-9, rel=0.05)
    z = stm.get_z()
    assert z == pytest.approx(j.z, abs=1e-13)
    stm.set_feedback(False)
    assert j.feedback is False and stm.feedback.cache.get(get_if_invalid=False) is False
    stm.set_feedback(True)
    assert j.feedback is True
    rig.server.clear_received()
    stm.move_tip(2e-9, -1e-9)
    assert (j.x, j.y) == pytest.approx((2e-9, -1e-9))
    assert rig.received().count("FolMe.XYPosSet") == 1


def test_role_setters_keep_the_limits(rig: Rig) -> None:
    rig.server.clear_received()
    with pytest.raises(SafetyError):
        rig.stm.set_bias(0.5)
    with pytest.raises(SafetyError, match="crosses zero"):
        rig.stm.set_bias(-0.01)
    rig.stm.set_feedback(False)
    rig.stm.set_bias(0.0)
    with pytest.raises(SafetyError, match="min_feedback_bias"):
        rig.stm.set_feedback(True)
    assert "ZCtrl.OnOffSet" not in rig.received()[-3:]
    assert rig.world.junction.feedback is False


def test_controller_sweep_by_name_independent_keys(rig: Rig) -> None:
    stm, world = rig.stm, rig.world
    world.lockin.amplitude = 0.01
    stm.set_bias(0.005)
    stm.approach_setpoint(1e-8, steps_per_decade=2, settle=0.3)
    stm.set_feedback(False)
    sweep = stm.controller_sweep(-2e-3, 2e-3, 81, backward=True, settling=2e-3)
    assert isinstance(sweep, roles.ControllerSweep)
    np.testing.assert_allclose(sweep.bias, np.linspace(-2e-3, 2e-3, 81), atol=1e-9)
    assert set(sweep.forward) == set(sweep.backward) == {"current", "x", "y"}
    for values in (*sweep.forward.values(), *sweep.backward.values()):
        assert values.shape == (81,) and values.dtype == np.float64
    v_mod = world.v_mod_rms()
    g = sweep.forward["x"] / v_mod
    assert g[40] < 0.2 * g.max()  # the gap
    np.testing.assert_allclose(sweep.backward["x"] / v_mod, g, rtol=0.05, atol=0.02 * g.max())
    assert abs(sweep.forward["y"]).max() < 0.1 * abs(sweep.forward["x"]).max()
    forward_only = stm.controller_sweep(-1e-3, 1e-3, 11, backward=False, settling=2e-3)
    assert forward_only.backward == {}


@pytest.mark.parametrize(
    "backward_names",
    [
        ("Current [bwd] (A)", "LI Demod 1 X [bwd] (A)", "LI Demod 1 Y [bwd] (A)"),
        ("Current (A) [bwd]", "LI Demod 1 X (A) [bwd]", "LI Demod 1 Y (A) [bwd]"),
    ],
)
def test_backward_channel_names_of_either_software(backward_names: tuple[str, ...]) -> None:
    forward_names = ("Current (A)", "LI Demod 1 X (A)", "LI Demod 1 Y (A)")
    rows = {"Bias calc (V)": np.arange(3.0)}
    for k, name in enumerate(forward_names):
        rows[name] = np.full(3, float(k))
    for k, name in enumerate(backward_names):
        rows[name] = np.full(3, 10.0 + k)
    sweep = controller_sweep_from(rows, backward=True)
    assert [sweep.forward[key][0] for key in ("current", "x", "y")] == [0.0, 1.0, 2.0]
    assert [sweep.backward[key][0] for key in ("current", "x", "y")] == [10.0, 11.0, 12.0]
    with pytest.raises(KeyError, match="backward"):
        channel_row({"Current (A)": np.zeros(3)}, "Current (A)", backward=True)


# ---- the state the driver set itself ----------------------------------------------------
def _held_near_zero(rig: Rig) -> None:
    """Feedback held by the driver, bias at 0.5 mV (known), the server's log empty."""
    rig.stm.set_feedback(False)
    rig.stm.set_bias(0.0005)
    rig.server.clear_received()


def test_bias_writes_need_no_read_back_once_the_driver_set_them(rig: Rig) -> None:
    _held_near_zero(rig)
    for v in (0.0004, -0.0003, 0.0002):  # below min_feedback_bias, across zero
        rig.stm.set_bias(v)
    assert rig.received() == ["Bias.Set"] * 3  # no Bias.Get, no ZCtrl.OnOffGet
    assert rig.world.junction.bias == pytest.approx(0.0002, rel=1e-6)
    rig.stm.set_bias(0.0002)  # already there: nothing sent
    assert rig.received() == ["Bias.Set"] * 3


def test_a_reconnect_forgets_the_state(rig: Rig) -> None:
    _held_near_zero(rig)
    rig.server.faults.drop_next = 1
    rig.stm.read_current()  # a Get: re-sent on a new connection
    assert rig.stm.transport.reconnects == 1
    rig.server.clear_received()
    rig.stm.set_bias(0.0004)
    assert rig.received() == ["Bias.Get", "ZCtrl.OnOffGet", "Bias.Set"]


def test_an_error_forgets_the_state(rig: Rig) -> None:
    _held_near_zero(rig)
    rig.stm.transport.timeout = 0.2
    rig.server.faults.silent = True
    with pytest.raises(NanonisTimeoutError):
        rig.stm.set_bias(0.0004)  # the controller may or may not have taken it
    rig.server.faults.clear()
    rig.server.clear_received()
    rig.stm.set_bias(0.0003)
    assert rig.received() == ["Bias.Get", "ZCtrl.OnOffGet", "Bias.Set"]


def test_feedback_switched_on_elsewhere_is_believed_when_read(rig: Rig) -> None:
    _held_near_zero(rig)
    rig.stm.set_bias(0.002)
    rig.stm.transport.call("ZCtrl.OnOffSet", 1)  # behind the driver's back
    assert rig.stm.feedback_on() is True
    with pytest.raises(SafetyError, match="feedback"):
        rig.stm.set_bias(0.0005)  # the driver asks again instead of trusting its hold


# ---- the current and the next bias write in one message ---------------------------------
def test_current_then_bias_in_one_message(rig: Rig) -> None:
    _held_near_zero(rig)
    before = rig.stm.read_current()
    rig.server.clear_received()
    current = rig.stm.read_current_then_set_bias(0.0006)
    assert rig.received() == ["Current.Get", "Bias.Set"]  # in this order, one round trip
    assert rig.stm.transport.paired == 1
    assert current == pytest.approx(before, abs=2e-12)  # read at 0.5 mV, before the write
    assert rig.world.junction.bias == pytest.approx(0.0006, rel=1e-6)
    assert rig.stm.known_state.bias == pytest.approx(0.0006, rel=1e-6)
    assert rig.stm.bias.cache.get(get_if_invalid=False) == pytest.approx(0.0006)


def test_the_paired_write_passes_the_guard(rig: Rig) -> None:
    _held_near_zero(rig)
    with pytest.raises(SafetyError, match="max_bias"):
        rig.stm.read_current_then_set_bias(0.2)
    assert rig.received() == []  # refused before anything was sent


def test_a_ramp_is_not_paired(rig: Rig) -> None:
    _held_near_zero(rig)
    rig.stm.read_current_then_set_bias(0.0035)  # 3 mV: three steps of bias_step
    assert rig.received() == ["Current.Get"] + ["Bias.Set"] * 3
    assert rig.stm.transport.paired == 0


def test_a_paired_error_reply_keeps_the_stream_in_step(rig: Rig) -> None:
    _held_near_zero(rig)
    t = rig.stm.transport
    with pytest.raises(NanonisError, match=r"ZCtrl\.OnOffSet"):
        t.call_pair(("ZCtrl.OnOffSet", 3), ("Bias.Get",))  # 3 is not a flag: refused
    assert rig.received() == ["ZCtrl.OnOffSet", "Bias.Get"]  # both ran, both read
    assert t.call("Bias.Get")["bias"] == pytest.approx(0.0005, rel=1e-6)
    assert t.reconnects == 0


def test_a_dropped_pair_is_taken_once_more_one_request_at_a_time(rig: Rig) -> None:
    _held_near_zero(rig)
    before = rig.stm.read_current()
    rig.stm.transport.call("Bias.Set", 0.0006)  # as if the dropped pair had set it
    rig.server.clear_received()
    rig.server.faults.drop_next = 1
    current = rig.stm.read_current_then_set_bias(0.0006)
    # the held feedback was forgotten with the connection: asked again before any write;
    # the bias back at 0.5 mV, the current read there, then 0.6 mV
    assert rig.received() == ["ZCtrl.OnOffGet", "Bias.Get", "Bias.Set", "Current.Get", "Bias.Set"]
    assert current == pytest.approx(before, abs=2e-12)
    assert rig.world.junction.bias == pytest.approx(0.0006, rel=1e-6)
    assert rig.stm.known_state.bias == pytest.approx(0.0006, rel=1e-6)


def test_a_pair_dropped_twice_raises_and_forgets_the_state(rig: Rig) -> None:
    _held_near_zero(rig)
    rig.server.faults.drop_next = 2  # the pair, then its retry
    with pytest.raises(NanonisConnectionError):
        rig.stm.read_current_then_set_bias(0.0006)
    assert rig.stm.known_state.bias is None  # read back before the next write
    rig.server.clear_received()
    rig.stm.set_bias(0.0006)
    assert rig.received()[0] == "Bias.Get"
