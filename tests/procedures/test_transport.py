"""TransportRT against the simulated fridge: Tc of every sample preset from R(T), the
excitation limit, self-heating shown and warned of, SIGKILL then resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from andreev.analysis.transport import analyze_transport
from andreev.engine.events import Event, Status
from andreev.procedures.runner import LimitError, run_experiment
from andreev.sim import SimConfig, SimFridge, World
from andreev.sim.film_resistance import FILM_PRESETS
from andreev.storage import read_analysis
from andreev.storage.transport import load_transport
from tests.conftest import run_file_of, station_file_for

pytestmark = pytest.mark.filterwarnings("ignore::qcodes.utils.QCoDeSDeprecationWarning")


def experiment(folder: Path, tc: float, **changes: object) -> Path:
    """A ramp through ``tc`` (K) up and down, ±0.2 K at 0.05 K/min."""
    params = {
        "mode": "ramp",
        "sweeps": "up-down",
        "t_low": round(tc - 0.2, 3),
        "t_high": round(tc + 0.2, 3),
        "ramp_rate": 0.05,
        "reading_interval": 2.0,
        "stable_hold": 30.0,
        "excitation": 1e-9,
        **changes,
    }
    path = folder / "transport.yaml"
    path.write_text(
        yaml.safe_dump({"procedure": "TransportRT", "name": "rt", "parameters": params})
    )
    return path


#: world s per wall s: a reading every few world s even when the machine is loaded
SPEEDUP = 300.0


def fridge_for(sample: str, seed: int = 11, speedup: float = SPEEDUP) -> SimFridge:
    world = World(SimConfig(seed=seed, speedup=speedup, sample=sample))
    return SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0})


def station(fridge: SimFridge, folder: Path, speedup: float = SPEEDUP, **safety: float) -> Path:
    path = station_file_for(fridge, folder, speedup=speedup)
    data = yaml.safe_load(path.read_text())
    data["safety"].update(safety)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("sample", sorted(FILM_PRESETS))
def test_tc_from_r_of_t_within_20_mk_of_the_preset(sample: str, tmp_path: Path) -> None:
    with fridge_for(sample) as fridge:
        tc = fridge.world.film.tc
        result = run_experiment(
            experiment(tmp_path, tc), station(fridge, tmp_path), out_dir=tmp_path
        )
    assert result.exit_status == "completed"
    data = load_transport(result.path)
    assert data["segment_status"] == ["done", "done"]
    assert data["resistance"].size > 100
    assert data["switch_cost"][0] >= 5.0  # pause 3 s + dwell 2 s before the first reading
    an = analyze_transport(result.path)
    assert an.tc == pytest.approx(tc, abs=0.02)
    for sweep in an.sweeps.values():
        assert sweep.midpoint == pytest.approx(tc, abs=0.02)
        assert sweep.zero < sweep.ten_percent < sweep.midpoint < sweep.onset
        assert 0.01 < sweep.width < 0.06
    assert 0 < an.lag < 0.015  # warming sweep above the cooling one (the film lags)
    assert an.tc_error < 0.01
    assert an.warnings == []
    stored = read_analysis(result.path)
    assert stored.datasets["tc"][1] == "K"
    assert float(stored.datasets["tc"][0]) == pytest.approx(an.tc)
    assert set(stored.groups) == {"transport_up", "transport_down"}
    csv = result.path.with_name(result.path.stem + ".analysis.csv").read_text()
    assert csv.splitlines()[0].startswith("direction,n_points,r_normal_Ohm")


def test_too_high_excitation_is_refused_before_anything_moves(tmp_path: Path) -> None:
    with fridge_for("InO-2") as fridge:
        st = station(fridge, tmp_path, max_film_excitation=1e-7)
        with pytest.raises(LimitError, match="max_film_excitation"):
            run_experiment(experiment(tmp_path, 1.45, excitation=1e-6), st, out_dir=tmp_path)
        assert not [c for c in fridge.servers["bridge"].received if c.startswith("INTYPE")]
    assert not list(tmp_path.glob("*.h5"))


def test_high_but_allowed_excitation_shifts_the_transition_and_warns(tmp_path: Path) -> None:
    events: list[Event] = []
    with fridge_for("InO-2") as fridge:
        st = station(fridge, tmp_path, max_film_excitation=1e-5)
        exp = experiment(tmp_path, 1.45, excitation=3e-6, sweeps="up", t_low=1.25, t_high=1.6)
        result = run_experiment(exp, st, out_dir=tmp_path, listeners=[events.append])
    assert result.exit_status == "completed"
    warned = [e for e in events if isinstance(e, Status) and "self-heating" in e.message]
    assert warned, [e for e in events if isinstance(e, Status)]
    an = analyze_transport(result.path)
    assert an.tc < 1.45 - 0.02  # the film is hotter than the bath: Tc appears lower
    assert any("self-heats" in w for w in an.warnings)
    assert an.max_power > 1e-10


def _wait_for_segment(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, "run ended too early"
        try:
            if load_transport(path)["segment_status"][0] == "done":
                return
        except Exception:  # the file may be between writes
            pass
        time.sleep(0.05)
    raise AssertionError("the first segment never finished")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume(tmp_path: Path) -> None:
    with fridge_for("InO-2") as fridge:
        st = station(fridge, tmp_path)
        exp = experiment(tmp_path, 1.45)
        cmd = [sys.executable, "-m", "andreev", "run"]
        proc = subprocess.Popen(
            [*cmd, str(exp), "--config", str(st), "--out", str(tmp_path)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        path = run_file_of(proc)
        _wait_for_segment(path, proc)
        time.sleep(0.3)  # into the second segment
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        cut = load_transport(path, all_rows=True)
        assert cut["exit_status"] == "running" and cut["segment_status"] == ["done", "pending"]
        first = cut["resistance"][cut["segment"] == 0].copy()
        resumed = subprocess.run(
            [*cmd, "--resume", str(path), "--config", str(st)],
            cwd=tmp_path, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = load_transport(path)
    assert final["exit_status"] == "completed"
    assert final["segment_status"] == ["done", "done"]
    np.testing.assert_array_equal(final["resistance"][final["segment"] == 0], first)
    every = load_transport(path, all_rows=True)
    killed_rows = (every["segment"] == 1) & (every["valid"] == 0)
    assert killed_rows.sum() == (cut["segment"] == 1).sum()  # kept, marked invalid
    assert analyze_transport(path).tc == pytest.approx(1.45, abs=0.02)
