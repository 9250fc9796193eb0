"""End to end on the simulated InO-2 (issue 12): a short TransportRT through Tc and a
short spectroscopy temperature series at a contact setpoint, both ``andreev analyze``'d;
``andreev analyze --summary`` gives Tc (transport) and Tc (Δc closing) within 0.1 K."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from andreev.cli import main as cli_main
from andreev.procedures.runner import run_experiment
from andreev.sim import SimConfig, SimFridge, World
from tests.conftest import station_file_for

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")

SPEEDUP = 1000.0
TRANSPORT = {
    "procedure": "TransportRT",
    "name": "rt",
    "parameters": {
        "mode": "ramp",
        "sweeps": "up-down",
        "t_low": 1.3,
        "t_high": 1.6,
        "ramp_rate": 0.05,
        "reading_interval": 2.0,
        "stable_hold": 30.0,
        "excitation": 1e-9,
    },
}
SERIES = {
    "procedure": "TemperatureSeries",
    "name": "tseries",
    "parameters": {
        "temperatures": [0.05, 0.4, 0.8, 1.1, 1.3],
        "stable_hold": 30.0,
        # tunnelling (1 nA) and one high setpoint in contact (1 µA, G ≈ 0.5 mS at V_set =
        # 2 mV): the analysis takes a run's lowest setpoint as its tunnelling reference,
        # so a run of the contact setpoint alone would give no Δc
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-6,
        "ladder_steps": 2,
        "tunnelling_current": 1.0e-9,
        "setpoint_bias": 2.0e-3,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 121,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
    },
}


def _write(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_transport_tc_and_closing_tc_agree_within_0_1_k(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = World(SimConfig(seed=41, speedup=SPEEDUP, sample="InO-2"))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
        rt = run_experiment(_write(tmp_path, "rt", TRANSPORT), station, out_dir=tmp_path)
        series = run_experiment(_write(tmp_path, "ts", SERIES), station, out_dir=tmp_path)
    assert rt.exit_status == "completed" and series.exit_status == "completed"
    for path in (rt.path, series.path):
        assert cli_main(["analyze", str(path)]) == 0
    capsys.readouterr()
    assert cli_main(["analyze", "--summary", str(rt.path), str(series.path)]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "table_s1.csv").open()))
    assert len(rows) == 1, printed
    tc_transport, tc_closing = float(rows[0]["tc_transport_K"]), float(rows[0]["tc_closing_K"])
    print(f"Tc transport {tc_transport:.4f} K, Tc (Δc closing) {tc_closing:.4f} K")
    assert tc_transport == pytest.approx(1.45, abs=0.02), printed
    assert abs(tc_closing - tc_transport) < 0.1, printed
