"""SimFridge's station helpers: the running servers' addresses as overrides and as a
station file that ``open_station`` connects with (real loopback TCP)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from andreev.instruments.station import load_station_config, open_station
from andreev.sim import SimConfig, SimFridge, World

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")


def test_written_station_points_at_the_running_servers(tmp_path: Path) -> None:
    with SimFridge(World(SimConfig(seed=3)), ports={"lockin": 0, "bridge": 0, "stm": 0}) as f:
        path = f.write_station(ROOT / "config" / "sim.yaml", tmp_path / "st.yaml", 500.0)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert "sim" not in data and data["clock"]["speedup"] == 500.0
        host, port = f.addresses["stm"]
        assert data["instruments"]["stm"]["address"] == f"{host}:{port}"
        assert data["instruments"]["lockin"]["address"].endswith(
            f"::{f.addresses['lockin'][1]}::SOCKET"
        )
        # the rest of the template is kept (the driver settings, the limits)
        template = yaml.safe_load((ROOT / "config" / "sim.yaml").read_text(encoding="utf-8"))
        assert data["safety"] == template["safety"]
        station, _ = open_station(load_station_config(path))
        try:
            assert "Stanford" in station.components["lockin"].IDN()["vendor"]
        finally:
            station.close_all_registered_instruments()
