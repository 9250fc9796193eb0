"""The approach's narrow Z window left on the controller (a kill mid-approach): the next
safe state widens the limits back to the station's before anything moves. Over loopback
TCP against the simulated fridge; the narrow limits are set by a raw client, as the
killed process left them."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator

import pytest

from andreev.instruments.nanonis import ApproachError, NanonisSTM
from andreev.instruments.nanonis.approach import widened_z_limits
from andreev.instruments.safety import SafetyLimits
from andreev.sim.world import SimConfig
from tests.instruments.nanonis.test_driver import SPEEDUP, Rig, _make_rig
from tests.sim.test_nanonis_server import ok, query

STATION_LIMITS = (1e-7, -1e-7)
#: commands that move the tip, the bias, the gain or the feedback
MOVES = (
    "Bias.Set",
    "ZCtrl.SetpntSet",
    "ZCtrl.OnOffSet",
    "Current.GainSet",
    "ZCtrl.Withdraw",
    "ZCtrl.ZPosSet",
    "FolMe.XYPosSet",
    "ZCtrl.LimitsEnabledSet",
)


@pytest.fixture
def rig() -> Iterator[Rig]:
    yield from _make_rig(SimConfig(seed=11, speedup=SPEEDUP), z_limits=STATION_LIMITS)


def _narrow_from_a_raw_client(rig: Rig, high: float, low: float) -> None:
    """ZCtrl.LimitsSet over a socket of its own, as a killed process left it."""
    host, port = rig.fridge.addresses["stm"]
    with socket.create_connection((host, port), timeout=5) as sock:
        ok(query(sock, "ZCtrl.LimitsSet", struct.pack(">ff", high, low))[1])


def test_widened_limits_are_the_union_and_none_when_not_narrower() -> None:
    assert widened_z_limits((1e-7, -1e-7), STATION_LIMITS) is None
    assert widened_z_limits((2e-7, -3e-7), STATION_LIMITS) is None  # wider: left as found
    # float32 on the wire: 1e-7 reads back as 1.0000000117e-07 or 0.99999999e-7
    assert widened_z_limits((0.99999999e-7, -0.99999999e-7), STATION_LIMITS) is None
    assert widened_z_limits((5e-9, -2e-9), STATION_LIMITS) == STATION_LIMITS
    assert widened_z_limits((2e-7, -2e-9), STATION_LIMITS) == (2e-7, -1e-7)  # never narrowed
    assert widened_z_limits((5e-9, -3e-7), STATION_LIMITS) == (1e-7, -3e-7)


def test_safe_state_restores_narrow_limits_before_anything_moves(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    stm, j = rig.stm, rig.world.junction
    stm.bias(0.01)
    stm.approach_setpoint(1e-9, settle=0.3)
    z = stm.get_z()
    _narrow_from_a_raw_client(rig, z + 3e-10, z - 2e-10)
    assert j.z_limits == pytest.approx((z + 3e-10, z - 2e-10), rel=1e-5)
    rig.server.clear_received()
    with caplog.at_level(logging.WARNING):
        stm.safe_state(0.01, 1e-8, settle=0.3)
    sent = rig.received()
    first_move = min(sent.index(name) for name in MOVES if name in sent)
    assert "ZCtrl.LimitsSet" in sent[:first_move], sent
    assert j.z_limits == pytest.approx(STATION_LIMITS, rel=1e-6)
    assert "narrower than the station's z_limits" in caplog.text
    assert stm.current() == pytest.approx(1e-8, rel=0.1) and j.crashes == []


def test_limits_as_wide_as_the_station_are_left_alone(rig: Rig) -> None:
    rig.stm.bias(0.01)
    rig.server.clear_received()
    assert rig.stm.restore_z_limits() is None
    assert rig.received() == ["ZCtrl.LimitsGet"]


def test_a_narrow_window_lets_no_withdrawn_tip_land_until_restored(rig: Rig) -> None:
    """Why it matters: a withdrawn tip (a resume after a failed approach) under the
    killed approach's window cannot come down into tunnelling; after the safe state's
    restore it lands."""
    stm, j = rig.stm, rig.world.junction
    stm.bias(0.01)
    stm.approach_setpoint(1e-9, settle=0.3)
    z = stm.get_z()
    stm.withdraw()
    _narrow_from_a_raw_client(rig, 1e-7, z + 20e-10)  # the floor far above tunnelling
    with pytest.raises(ApproachError, match="does not tunnel"):
        stm.approach_setpoint(1e-9, settle=0.3)
    stm.safe_state(0.01, 1e-9, settle=0.3)
    assert j.z_limits == pytest.approx(STATION_LIMITS, rel=1e-6)
    stm.approach_setpoint(1e-9, settle=0.3)  # lands now
    assert j.feedback and stm.current() == pytest.approx(1e-9, rel=0.2)
    assert j.crashes == []


def test_without_station_limits_nothing_is_restored() -> None:
    for rig in _make_rig(SimConfig(seed=12, speedup=SPEEDUP)):
        _narrow_from_a_raw_client(rig, 5e-9, -5e-9)
        assert rig.stm.restore_z_limits() is None
        assert rig.world.junction.z_limits == pytest.approx((5e-9, -5e-9), rel=1e-5)


def test_z_limits_must_be_high_above_low() -> None:
    with pytest.raises(ValueError, match="high > low"):  # before any connection
        NanonisSTM("stm_bad_limits", "127.0.0.1:9", safety=SafetyLimits(), z_limits=(-1e-7, 1e-7))
