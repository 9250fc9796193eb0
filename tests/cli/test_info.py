"""``andreev info``: identity and key settings of each instrument; one line and exit 1
for each instrument that does not answer."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from andreev.cli.info import main as info_main
from andreev.sim import SimFridge


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


def test_info_of_an_invalid_station_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "station.yaml"
    bad.write_text("instruments: {}\n")
    assert info_main(argparse.Namespace(config=bad)) == 2
    assert capsys.readouterr().out.startswith(f"error: {bad}: instruments:")
