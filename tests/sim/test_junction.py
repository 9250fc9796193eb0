"""The simulated STM junction, driven directly with an ohmic film (I = G·V)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev.clock import Clock
from andreev.sim.junction import G0, Junction, JunctionParams, gain_name


def ohmic(bias: float, g: float) -> float:
    return g * bias


def make(**kw: object) -> Junction:
    # speedup 1: clock.now() hardly moves while the test calls advance(t) explicitly
    return Junction(JunctionParams(**kw), Clock(1.0), np.random.default_rng(7), ohmic)


def settle_at(j: Junction, setpoint: float, duration: float = 2.0) -> float:
    """Change the setpoint under feedback and integrate ``duration`` world s; returns z."""
    j.advance(j.clock.now())
    j.setpoint = setpoint
    j.advance(j._t + duration)
    return j.z


def test_starts_settled_in_tunnelling() -> None:
    j = make()
    assert j.feedback and not j.withdrawn
    assert j.true_current() == pytest.approx(1e-9, rel=1e-6)
    assert j.g_normal() == pytest.approx(1e-7, rel=1e-6)
    assert 2e-10 < j.z < 4e-10  # ~3 decades below the contact scale, ~1 Å each
    assert j.crashes == []


def test_tip_moves_about_1_06_angstrom_per_decade_of_setpoint() -> None:
    j = make(gain_index=2)  # 1e7 V/A: clips at 1 µA, no clipping up to 100 nA
    z = [j.z]
    for setpoint in (1e-8, 1e-7):
        z.append(settle_at(j, setpoint))
        assert j.true_current() == pytest.approx(setpoint, rel=1e-4)
    steps = -np.diff(z)
    assert steps == pytest.approx([1.06e-10, 1.06e-10], rel=0.02)
    assert j.nm_per_decade == pytest.approx(1.0594e-10, rel=1e-3)
    assert j.crashes == []


def test_feedback_relaxes_in_world_time_with_the_gain_time_constant() -> None:
    j = make(gain_index=3)
    tau = j.feedback_time_constant
    assert tau == pytest.approx(j.nm_per_decade * j.gain_t / j.gain_p)
    t0 = j.clock.now()
    j.advance(t0)
    j.setpoint = 1e-8  # one decade up: the log error starts at −ln 10
    j.advance(t0 + tau)
    err = math.log(j.true_current() / 1e-8)
    assert err == pytest.approx(-math.log(10) * math.exp(-1), rel=0.03)
    j.advance(t0 + 15 * tau)
    assert j.true_current() == pytest.approx(1e-8, rel=1e-4)
    # halving the gains doubles the time constant: slower relaxation at the same time
    k = make(gain_index=3)
    k.set_gains(k.gain_p / 2, k.gain_t)
    t1 = k.clock.now()
    k.advance(t1)
    k.setpoint = 1e-8
    k.advance(t1 + tau)
    assert math.log(k.true_current() / 1e-8) < err - 0.2


def test_feedback_off_keeps_the_tip_still() -> None:
    j = make()
    j.set_feedback(False)
    z = j.z
    j.setpoint = 1e-7
    j.advance(j._t + 100.0)
    assert j.z == z


def test_clipped_preamp_under_feedback_drives_the_tip_in_and_records_a_crash() -> None:
    j = make()  # 1e9 V/A clips at 10 nA
    assert j.clip_current == pytest.approx(1e-8)
    t0 = j.clock.now()
    settle_at(j, 1e-7, duration=5.0)
    assert len(j.crashes) == 1
    crash = j.crashes[0]
    assert set(crash) == {"time", "z", "g_normal", "reason"}
    assert t0 < crash["time"] < j._t
    assert crash["g_normal"] == pytest.approx(20 * G0, rel=1e-6)
    assert "clipped" in crash["reason"]
    assert j.z < crash["z"]  # it went on pushing towards the lower Z limit
    assert j.measured_current() == pytest.approx(1e-8)
    # the same step with a preamp that does not clip settles without a crash
    k = make(gain_index=2)
    settle_at(k, 1e-7)
    assert k.crashes == []
    assert k.true_current() == pytest.approx(1e-7, rel=1e-4)


def test_z_limit_above_the_crash_point_protects_the_tip() -> None:
    j = make(z_limits=(1e-7, 1.5e-10))
    settle_at(j, 1e-7, duration=5.0)  # clipped: driven in, but stops at the low limit
    assert j.z == pytest.approx(1.5e-10)
    assert j.crashes == []


def test_feedback_near_zero_bias_drives_the_tip_in_and_is_recorded() -> None:
    j = make()
    j.advance(j.clock.now())
    j.bias = 0.0
    j.advance(j._t + 1.0)
    assert len(j.crashes) == 1
    assert "|bias|" in j.crashes[0]["reason"]
    # with feedback held, sweeping through zero bias moves nothing
    k = make()
    k.set_feedback(False)
    z = k.z
    for bias in (1e-3, 0.0, -1e-3, 5e-5):
        k.bias = bias
        k.advance(k._t + 1.0)
    assert k.z == z and k.crashes == []
    # regulating at 1 mV is fine
    m = make()
    m.advance(m.clock.now())
    m.bias = 1e-3
    m.advance(m._t + 2.0)
    assert m.crashes == [] and m.true_current() == pytest.approx(1e-9, rel=1e-4)


def test_withdraw_then_reapproach() -> None:
    j = make()
    j.withdraw()
    assert not j.feedback and j.withdrawn
    assert j.z == pytest.approx(max(j.z_limits))
    assert abs(j.true_current()) < 1e-30
    j.set_feedback(True)
    assert not j.withdrawn
    j.advance(j._t + 30.0)  # from 100 nm, at the preamp floor it approaches steadily
    assert j.true_current() == pytest.approx(1e-9, rel=1e-4)
    assert j.crashes == []


def test_set_z_only_with_feedback_off_and_manual_crash() -> None:
    j = make()
    with pytest.raises(RuntimeError):
        j.set_z(1e-10)
    j.set_feedback(False)
    j.set_z(-3e-10)
    assert len(j.crashes) == 1 and "feedback off" in j.crashes[0]["reason"]
    j.set_z(-3.5e-10)  # still inside: the same crash, not a new one
    assert len(j.crashes) == 1
    j.set_z(5e-10)
    j.set_z(-3e-10)
    assert len(j.crashes) == 2


def test_measured_current_noise_is_seeded_and_clips() -> None:
    a, b = make(), make()
    ra = [a.measured_current() for _ in range(5)]
    rb = [b.measured_current() for _ in range(5)]
    assert ra == rb
    assert np.std(ra) > 0
    assert np.std(ra) < 1e-12
    a.force_clip = True
    assert a.measured_current() == pytest.approx(a.clip_current)
    assert a.clipping()
    a.bias = -0.01
    assert a.measured_current() == pytest.approx(-a.clip_current)


def test_force_clip_under_feedback_with_setpoint_above_clip_crashes() -> None:
    j = make(gain_index=5)  # 1e10 V/A: clips at 1 nA, the setpoint is 1 nA
    j.force_clip = True
    j.advance(j.clock.now())
    j.setpoint = 2e-9
    j.advance(j._t + 5.0)
    assert len(j.crashes) == 1 and "clipped" in j.crashes[0]["reason"]


def test_gain_names_and_params_from_dict() -> None:
    j = make()
    assert j.gain_names == ["10^5", "10^6", "10^7", "10^8", "10^9", "10^10"]
    assert gain_name(1e9) == "10^9"
    p = JunctionParams.from_dict({"gains": [1e6, 1e8], "gain_index": 1, "z_limits": [1e-8, -1e-8]})
    assert p.gains == (1e6, 1e8) and p.z_limits == (1e-8, -1e-8)
    with pytest.raises(ValueError, match="unknown junction parameter"):
        JunctionParams.from_dict({"gian": 3})
    with pytest.raises(ValueError):
        j.set_gain_index(6)
