"""Opening a station: the file's safety limits are handed to every driver."""

from __future__ import annotations

from pathlib import Path

import pytest

from andreev.instruments.safety import SafetyError
from andreev.instruments.station import close_station, open_station
from andreev.sim import SimFridge


def test_open_station_hands_limits_to_every_driver(
    sim_fridge: SimFridge, sim_station: Path
) -> None:
    station, _ = open_station(sim_station)
    try:
        stm = station.components["stm"]
        bridge = station.components["bridge"]
        for server in sim_fridge.servers.values():
            server.clear_received()
        with pytest.raises(SafetyError, match="max_setpoint_current"):
            stm.setpoint(2e-6)
        with pytest.raises(SafetyError, match="max_bias"):
            stm.bias(0.5)
        with pytest.raises(SafetyError, match="max_temperature"):
            bridge.set_temperature(10.0)
        stm.bias()  # a round trip, so anything sent before has arrived
        bridge.sample.temperature()
        assert not any(
            cmd.startswith(("ZCtrl.SetpntSet", "Bias.Set"))
            for cmd in sim_fridge.servers["stm"].received
        )
        assert not any(
            cmd.upper().startswith(("SETP", "RANGE"))
            for cmd in sim_fridge.servers["bridge"].received
        )
    finally:
        close_station(station)
