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


# qcodes validates the file again in load_instrument: the warning asserted below, once more
@pytest.mark.filterwarnings("ignore::qcodes.station.ValidationWarning")
@pytest.mark.parametrize("name", ["lockin", "bridge", "stm"])
def test_plain_qcodes_station_refuses_to_drop_the_limits(
    sim_fridge: SimFridge, sim_station: Path, name: str
) -> None:
    """qcodes' own Station on an andreev station file would build the drivers with the
    default limits (it passes only ``init:``): each driver refuses, naming open_station,
    before it connects."""
    import qcodes
    from qcodes.station import ValidationWarning

    from andreev.errors import ConfigError

    for server in sim_fridge.servers.values():
        server.clear_received()
    try:
        with pytest.warns(ValidationWarning):  # qcodes' schema: andreev's own sections
            station = qcodes.Station(config_file=str(sim_station))
        with pytest.raises(ConfigError, match="open_station") as info:
            station.load_instrument(name)
        assert info.value.key == "safety" and info.value.path == sim_station
        assert "\n" not in str(info.value)
        assert name not in station.components
        assert list(sim_fridge.servers[name].received) == []
        # with the limits handed over, the same Station builds a driver that keeps them
        limited, config = open_station(sim_station, names=[name])
        close_station(limited)
        driver = station.load_instrument(name, safety=config.safety)
        try:
            assert driver.safety == config.safety
        finally:
            driver.close()
    finally:
        qcodes.Station.default = None
