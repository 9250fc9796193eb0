"""Station files: strict loading, safety limits handed to the drivers, ``andreev info``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from andreev.config import ConfigError
from andreev.instruments.safety import SafetyError
from andreev.instruments.station import close_station, info_main, load_station_config, open_station
from andreev.sim import SimFridge
from tests.conftest import SIM_STATION


def edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(SIM_STATION.read_text())
    edit(data)
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_station_files_load() -> None:
    config = load_station_config(SIM_STATION)
    assert set(config.instruments) == {"lockin", "bridge", "stm"}
    assert config.speedup == 1000
    assert config.safety.max_setpoint_current == 1e-6
    example = load_station_config(SIM_STATION.parent / "fridge.example.yaml")
    assert example.speedup == 1 and example.sim is None


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda d: d["safety"].update(max_bias_v=1), "safety.max_bias_v", "allowed: max_bias"),
        (
            lambda d: d["safety"].update(max_temperature=400.0),
            "safety.max_temperature",
            "0.01 to 300 K",
        ),
        (
            lambda d: d["safety"].update(max_heater_range=2.5),
            "safety.max_heater_range",
            "an integer from 0 to 8",
        ),
        (lambda d: d["safety"].update(max_bias="big"), "safety.max_bias", "a number"),
        (
            lambda d: d["safety"].update(min_feedback_bias=0.09, max_bias=0.05),
            "safety.min_feedback_bias",
            "below safety.max_bias",
        ),
        (lambda d: d.update(magnets={}), "magnets", "allowed: clock, instruments"),
        (
            lambda d: d["instruments"]["lockin"].update(adress="x"),
            "instruments.lockin.adress",
            "allowed: add_parameters, address",
        ),
        (
            lambda d: d["instruments"]["lockin"]["init"].update(divider=1),
            "instruments.lockin.init.divider",
            "modulation_divider",
        ),
        (
            lambda d: d["instruments"]["stm"].update(type="andreev.instruments.nope.STM"),
            "instruments.stm.type",
            "cannot import",
        ),
        (lambda d: d["clock"].update(speedup=0), "clock.speedup", "1 to 1e+06"),
        (
            lambda d: d["instruments"]["lockin"].update(
                parameters={"amplitude": {"limits": [1, 0]}}
            ),
            "instruments.lockin.parameters.amplitude.limits",
            "low < high",
        ),
    ],
)
def test_bad_station_names_file_key_and_allowed(
    tmp_path: Path, edit, key: str, allowed: str
) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert allowed in message, message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_station_config(tmp_path / "nope.yaml")


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


def test_info_prints_all_three(sim_station: Path, capsys: pytest.CaptureFixture) -> None:
    assert info_main(argparse.Namespace(config=sim_station)) == 0
    out = capsys.readouterr().out
    assert "lockin: Stanford_Research_Systems SR830" in out
    assert "bridge: LSCI 372" in out and "sample.temperature:" in out
    assert "stm: SPECS Nanonis" in out and "feedback: True" in out and "z:" in out
    assert "time_constant:" in out and "sensitivity:" in out and "modulation" in out
    assert "sample_heater.output_range:" in out and "setpoint:" in out


def test_info_names_each_instrument_that_does_not_answer(
    sim_fridge: SimFridge, sim_station: Path, capsys: pytest.CaptureFixture
) -> None:
    sim_fridge.servers["bridge"].stop()
    assert info_main(argparse.Namespace(config=sim_station)) == 1
    out = capsys.readouterr().out
    assert "bridge: NOT ANSWERING at TCPIP0::127.0.0.1::" in out
    assert "lockin: Stanford_Research_Systems SR830" in out
    assert "stm: SPECS Nanonis" in out
