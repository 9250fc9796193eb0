"""World and SimConfig: config parsing, lock-in wiring, gap map, faults."""

from __future__ import annotations

import cmath
import itertools
import math
import socket
import threading
import time
from pathlib import Path

import pytest

from andreev.errors import ConfigError
from andreev.physics import FilmModel
from andreev.sim import SimConfig, World
from andreev.sim.config import MAX_SPEEDUP

CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.yaml"


def test_from_yaml_reads_sim_and_clock():
    cfg = SimConfig.from_yaml(CONFIG)
    assert cfg.seed == 1234
    assert cfg.speedup == 1000
    assert cfg.ports == {"lockin": 1234, "bridge": 7777, "stm": 6501}
    assert cfg.modulation_divider == pytest.approx(1e-3)
    assert cfg.film.gap == pytest.approx(0.55e-3) and cfg.film.tc == pytest.approx(1.45)


def test_from_dict_accepts_a_whole_station_document():
    import yaml

    cfg = SimConfig.from_dict(yaml.safe_load(CONFIG.read_text()))
    assert cfg.speedup == 1000 and cfg.seed == 1234


@pytest.mark.parametrize(
    ("sim", "key"),
    [
        ({"sede": 1}, "sim.sede"),
        ({"film": {"tcc": 1.0}}, "sim.film.tcc"),
        ({"thermal": {"base": 0.05}}, "sim.thermal.base"),
        ({"faults": {"no_setle": True}}, "sim.faults.no_setle"),
        ({"ports": {"lockn": 1}}, "sim.ports.lockn"),
        ({"lockin": {"noise": 1}}, "sim.lockin.noise"),
        ({"noise": {"mains": 1}}, "sim.noise.mains"),
        ({"contacts": {"spread": 1}}, "sim.contacts.spread"),
        ({"gap_map": {"variation": 0.1}}, "sim.gap_map.variation"),
    ],
)
def test_unknown_keys_are_config_errors_naming_the_key(sim, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        SimConfig.from_dict(sim, path="station.yaml")
    assert info.value.key == key and str(info.value.path) == "station.yaml"
    assert "allowed" in str(info.value)
    assert not isinstance(info.value, ValueError)


def test_numbers_follow_the_config_rules_and_presets():
    cfg = SimConfig.from_dict(
        {"film": {"preset": "bcs", "gamma0": 1.0e-6}, "thermal": {"sample_tau": 10}}
    )
    assert cfg.film.kind == "bcs" and cfg.film.gamma0 == pytest.approx(1e-6)
    assert cfg.thermal.sample_tau == 10.0
    with pytest.raises(ConfigError, match=r"sim\.film\.gap"):
        SimConfig.from_dict({"film": {"gap": "wide"}})
    with pytest.raises(ConfigError, match=r"sim\.sample.*InO-4"):
        SimConfig.from_dict({"sample": "InO-5"})


def test_a_speedup_above_the_maximum_is_refused_with_the_range(tmp_path):
    assert SimConfig.from_dict({"speedup": MAX_SPEEDUP}).speedup == MAX_SPEEDUP
    station = tmp_path / "station.yaml"
    station.write_text(f"clock: {{speedup: {MAX_SPEEDUP * 10:g}}}\nsim: {{}}\n")
    with pytest.raises(ConfigError, match=r"clock\.speedup.*outside the allowed range") as info:
        SimConfig.from_yaml(station)
    assert str(station) in str(info.value) and f"{MAX_SPEEDUP:g}" in str(info.value)
    with pytest.raises(ConfigError, match="speedup"):
        World(SimConfig(speedup=MAX_SPEEDUP * 2))


@pytest.fixture
def world():
    return World(SimConfig(speedup=1000, seed=7))


def test_lockin_input_follows_the_junction(world):
    with world.lock:
        world.advance()
        lk, j = world.lockin, world.junction
        lk.amplitude = 0.2
        lk.phase = 30.0
        world.advance()
        film = FilmModel()
        gap = world.gap_at(j.x, j.y)
        g = float(
            FilmModel(gap=gap).conductance(
                j.bias, j.g_normal(), world.sample_temperature(), 0.2 * 1e-3
            )
        )
        assert film.gap == pytest.approx(0.55e-3)
        gain = j.gains[j.gain_index]
        expected = g * 0.2 * 1e-3 * gain * cmath.exp(-1j * math.radians(30.0))
        assert world.lockin_input() == pytest.approx(expected, rel=1e-3)
        assert world.conductance() == pytest.approx(g, rel=1e-3)
        assert world.v_mod_rms() == pytest.approx(0.2e-3)


def test_bias_change_reaches_filter_from_the_previous_advance(world):
    with world.lock:
        lk, j = world.lockin, world.junction
        lk.tc_index = 4  # 1 ms
        t0 = world.advance()
        before = world.lockin_input()
        j.bias = 2 * j.bias
        # nobody advances for a while: the filter must still have settled on the new input
        world.clock.sleep(0.05)
        world.advance()
        after = world.lockin_input()
        assert after != before
        assert lk.output() == pytest.approx(after, rel=1e-6)
        assert world.time > t0


def test_gap_map_spreads_by_a_factor_three_and_is_smooth(world):
    # InO-2: Δ spread over 0.2-0.7 meV across the sample, mean 0.55 meV
    gaps = [world.gap_at(x * 1e-9, y * 1e-9) for x in range(0, 2000, 7) for y in (0, 500, 1300)]
    mean_gap = sum(gaps) / len(gaps)
    assert all(0.2e-3 <= g <= 0.7e-3 for g in gaps)
    assert mean_gap == pytest.approx(0.55e-3, rel=0.1)
    assert max(gaps) / min(gaps) > 2.5  # a factor ~3, as the paper reports
    line = [world.gap_at(x * 0.5e-9, 0.0) for x in range(400)]
    steps = [abs(a - b) for a, b in itertools.pairwise(line)]
    assert max(steps) < 0.1 * 0.55e-3  # smooth on the 0.5 nm scale
    assert World(SimConfig(seed=7)).gap_at(1e-7, 2e-8) == world.gap_at(1e-7, 2e-8)
    assert World(SimConfig(seed=8)).gap_at(1e-7, 2e-8) != world.gap_at(1e-7, 2e-8)


def test_world_faults(world):
    world.faults.force_overload = True
    world.faults.force_clip = True
    with world.lock:
        world.advance()
        assert world.lockin.read_status(0) == 1
        assert world.junction.clipping()
    world.faults.no_settle = True
    world.advance()
    assert world.thermal.no_settle


def test_thread_safe_advance(world):
    errors: list[Exception] = []

    def worker():
        try:
            for _ in range(200):
                world.advance()
                world.conductance()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert world.crashes == world.junction.crashes


def test_server_faults_from_the_config_reach_the_servers():

    from andreev.sim import SimFridge

    config = SimConfig.from_dict(
        {
            "speedup": 1000,
            "faults": {"no_settle": True, "lockin": {"delay": 0.2}, "stm": {"drop_next": 1}},
        }
    )
    assert config.faults.no_settle and config.server_faults["lockin"] == {"delay": 0.2}
    with SimFridge(World(config)) as fridge:
        assert fridge.servers["lockin"].faults.delay == 0.2
        assert fridge.servers["stm"].faults.drop_next == 1
        assert fridge.servers["bridge"].faults.delay == 0.0
        with socket.create_connection(fridge.addresses["lockin"], timeout=5) as s:
            t0 = time.monotonic()
            s.sendall(b"*IDN?\n")
            assert s.recv(100).startswith(b"Stanford")
            assert time.monotonic() - t0 >= 0.19


def test_server_fault_keys_are_checked():
    with pytest.raises(ConfigError, match=r"sim\.faults\.bridge\.lag"):
        SimConfig.from_dict({"faults": {"bridge": {"lag": 1}}})


def test_held_sweep_evaluates_every_point_at_once(world):
    import numpy as np

    j = world.junction
    with world.lock:
        world.advance()
        world.lockin.amplitude = 0.01
        j.set_feedback(False)
        z, gn = j.z, j.g_normal()
        t0 = world.time
        bias = np.linspace(-2e-3, 2e-3, 201)
        times = t0 + np.linspace(0.0, 0.05, bias.size)
    world.clock.sleep(0.06)
    with world.lock:
        sweep = world.held_sweep(bias, times)
        temperature = world.sample_temperature()
        film = world.film_at(j.x, j.y)
        assert world.time >= times[-1]
    expected_g = film.conductance(bias, gn, temperature, world.v_mod_rms())
    np.testing.assert_allclose(sweep["conductance"], expected_g, rtol=5e-3, atol=1e-3 * gn)
    expected_i = film.current(bias, gn, temperature)
    np.testing.assert_allclose(sweep["current"], expected_i, atol=5 * j.params.current_noise)
    np.testing.assert_allclose(sweep["g_normal"], gn)
    np.testing.assert_allclose(sweep["z"], z)
    assert np.all(sweep["noise_x"] == 0)  # the clean station has no demodulator noise
    assert j.bias == bias[-1] and j.z == z and not j.feedback
    # pointwise: the same numbers as the per-request path at the last point
    with world.lock:
        assert world.conductance() == pytest.approx(sweep["conductance"][-1], rel=1e-3)


class _ManualClock:
    """A world clock moved by hand (s), so two worlds see the same request times."""

    def __init__(self, t: float, speedup: float) -> None:
        self.t, self.speedup = t, speedup

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


def _driven(seed: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, ...]]:
    """What the instruments would read from a world driven through a fixed script: bias
    steps under feedback, the heater on in open loop (the temperature moving), then
    regulated at 0.5 K; a request every 0.2 world s (most cross a control interval)."""
    clock = _ManualClock(0.0, 1000.0)
    monkeypatch.setattr("andreev.sim.world.Clock", lambda speedup: clock)
    world = World(SimConfig(speedup=1000, seed=seed))
    j, thermal, lk = world.junction, world.thermal, world.lockin
    out = []
    for k in range(900):
        clock.t += 0.2
        with world.lock:
            world.advance()
            if k % 150 == 0:
                j.bias = (2e-3, -1e-3, 0.05, 3e-3, -0.1, 1.2e-3)[k // 150]
            if k == 200:
                thermal.output.range = 5
                thermal.set_mode(2)
                thermal.output.manual = 60.0
            if k == 500:
                thermal.set_pid(5.0, 40.0, 0.0)
                thermal.set_setpoint(0.5)
                thermal.set_mode(5, "A")
            x, y = lk.read_xy(world.time)
            out.append((x, y, j.measured_current(), thermal.reading("A"), j.z))
    return out


def test_same_seed_same_readings_with_the_temperature_moving(monkeypatch):
    # the caches of the fast paths (spectra per temperature node, G_N, phase, the
    # physics temperature) never make a run depend on anything but the seed and the
    # request times
    first = _driven(11, monkeypatch)
    assert _driven(11, monkeypatch) == first
    assert _driven(12, monkeypatch) != first
    temperatures = [row[3] for row in first]
    assert max(temperatures[200:500]) > 10 * min(temperatures[:200])  # it did move


def test_conductance_follows_the_physics_while_the_temperature_moves(world):
    with world.lock:
        world.advance()
        world.thermal.output.range = 5
        world.thermal.set_mode(2)
        world.thermal.output.manual = 30.0
    j = world.junction
    for _ in range(40):
        world.clock.sleep(2.0)  # world s: the sample warms through many T nodes
        with world.lock:
            world.advance()
            t = world._physics_temperature()
            film = world.film_at(j.x, j.y)
            expected = float(film.conductance(j.bias, j.g_normal(), t, world.v_mod_rms()))
            assert world.conductance() == pytest.approx(expected, rel=3e-3)
    assert world.sample_temperature() > 0.2
