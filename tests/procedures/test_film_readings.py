"""A spectroscopy temperature series that reads the film's R at each temperature step
(issue 12), on the simulated fridge: R stored per step follows the preset's R(T)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from andreev.procedures.runner import run_experiment
from andreev.sim import SimConfig, SimFridge, World
from andreev.storage import load, load_film_resistance
from tests.conftest import station_file_for

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")

SPEEDUP = 300.0


def series(folder: Path, temperatures: list[float], film_readings: int) -> Path:
    """One spectrum (41 points) at each temperature, ``film_readings`` film readings."""
    params = {
        "temperatures": temperatures,
        "stable_hold": 30.0,
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-9,
        "ladder_steps": 1,
        "setpoint_bias": 10.0e-3,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 41,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
        "film_readings": film_readings,
    }
    path = folder / "series.yaml"
    data = {"procedure": "TemperatureSeries", "name": "film", "parameters": params}
    path.write_text(yaml.safe_dump(data))
    return path


def test_film_r_at_each_temperature_follows_the_presets_r_of_t(tmp_path: Path) -> None:
    world = World(SimConfig(seed=5, speedup=SPEEDUP, sample="InO-2"))
    temperatures = [0.3, 1.7, 1.9]
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
        result = run_experiment(series(tmp_path, temperatures, 3), station, out_dir=tmp_path)
        film = fridge.servers["bridge"].film  # type: ignore[attr-defined]  # the R(T) model
        scanner = fridge.servers["bridge"].scan[0]  # type: ignore[attr-defined]
    assert result.exit_status == "completed"
    assert scanner == "6"  # back on the mixing chamber after the last film reading
    stored = load_film_resistance(result.path)
    assert stored is not None
    assert stored["resistance"].shape == (3, 3)
    np.testing.assert_allclose(stored["outer"], temperatures)
    assert np.all(np.isfinite(stored["resistance"])) and np.all(stored["time"] > 1e9)
    np.testing.assert_allclose(
        stored["temperature"], np.repeat(np.array(temperatures)[:, None], 3, 1), rtol=0.02
    )
    # zero below Tc (the noise at 1 nA is a few Ω), R_N(T) with its upturn above
    assert np.all(np.abs(stored["resistance"][0]) < 0.01 * film.normal(1.7))
    for r, t in zip(stored["resistance"][1:], stored["temperature"][1:], strict=True):
        expected = [film.resistance(float(x)) for x in t]
        np.testing.assert_allclose(r, expected, rtol=0.01)
    assert stored["resistance"][1].mean() > stored["resistance"][2].mean()  # the upturn
    # the sweeps were taken at every temperature
    assert (load(result.path)["status"].values == "done").all()


def test_no_film_group_unless_asked(tmp_path: Path) -> None:
    world = World(SimConfig(seed=6, speedup=SPEEDUP, sample="InO-2"))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
        result = run_experiment(series(tmp_path, [0.3], 0), station, out_dir=tmp_path)
    assert result.exit_status == "completed"
    assert load_film_resistance(result.path) is None


def test_film_readings_refused_without_a_film_channel(tmp_path: Path) -> None:
    world = World(SimConfig(seed=7, speedup=SPEEDUP, sample="InO-2"))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path, speedup=SPEEDUP)
        data = yaml.safe_load(station.read_text())
        del data["instruments"]["bridge"]["init"]["film_channel"]
        station.write_text(yaml.safe_dump(data, sort_keys=False))
        result = run_experiment(series(tmp_path, [0.3], 2), station, out_dir=tmp_path)
    assert result.exit_status == "failed"
    assert "film_readings" in result.reason and "no film_channel" in result.reason
    assert (load(result.path)["status"].values == "pending").all()  # nothing measured
