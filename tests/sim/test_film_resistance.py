"""The film's R(T): normal state, transition, zero below, self-heating, noise, lag."""

from __future__ import annotations

import numpy as np
import pytest

from andreev.sim import SimConfig, World
from andreev.sim.film_resistance import (
    FILM_PRESETS,
    FilmResistance,
    FilmResistanceParams,
    preset_for,
)


def film(name: str = "InO-2", **changes: float) -> FilmResistance:
    values = {**FILM_PRESETS[name], **changes}
    return FilmResistance(FilmResistanceParams(**values), np.random.default_rng(0))


@pytest.mark.parametrize("name", sorted(FILM_PRESETS))
def test_transition_at_tc_zero_below_normal_above(name):
    f = film(name)
    p = f.params
    assert f.resistance(p.tc) == pytest.approx(0.5 * f.normal(p.tc), rel=1e-9)
    assert f.resistance(p.tc - p.half_span - 1e-6) == 0.0
    assert f.resistance(p.tc + p.half_span + 1e-6) == pytest.approx(f.normal(p.tc + p.half_span))
    t = np.linspace(p.tc - 0.1, p.tc + 0.1, 20001)
    r = np.array([f.resistance(v) for v in t]) / np.array([f.normal(v) for v in t])
    width = t[np.argmax(r >= 0.9)] - t[np.argmax(r >= 0.1)]
    assert width == pytest.approx(p.width, abs=2e-4)
    assert 0.02 <= p.width <= 0.05


def test_insulating_upturn_for_ino_1_to_3_metal_for_ino_4():
    for name in ("InO-1", "InO-2", "InO-3"):
        f = film(name)
        assert f.normal(2.5) > f.normal(4.0) > 2e3  # rises as T falls, several kΩ
    f4 = film("InO-4")
    assert f4.normal(3.5) == pytest.approx(f4.normal(10.0))
    assert 0.5e3 < f4.normal(4.0) < 2e3


def test_self_heating_moves_the_apparent_transition_down():
    f = film()
    tc = f.params.tc
    assert f.electron_temperature(tc, 1e-9) == pytest.approx(tc, abs=1e-6)
    assert f.electron_temperature(tc - 0.03, 1e-6) == tc - 0.03  # R = 0: nothing heats
    assert f.electron_temperature(tc, 1e-6) > tc + 0.01
    # the bath temperature where R = R_N/2 is lower with 1 µA than with 1 nA
    baths = np.linspace(tc - 0.15, tc + 0.05, 2001)

    def half_point(current: float) -> float:
        r = [f.resistance(f.electron_temperature(b, current)) for b in baths]
        above = np.array(r) >= 0.5 * np.array([f.normal(b) for b in baths])
        return float(baths[np.argmax(above)])

    half = [half_point(1e-9), half_point(1e-6)]
    assert half[0] == pytest.approx(tc, abs=2e-3)
    assert half[0] - half[1] > 0.02


def test_noise_falls_with_excitation():
    f = film()
    r = f.normal(2.0)
    assert f.noise_sigma(r, 1e-10, 10) > 5 * f.noise_sigma(r, 1e-8, 10)
    readings = [f.reading(2.0, 1e-10, 10) for _ in range(400)]
    assert np.std(readings) == pytest.approx(f.noise_sigma(r, 1e-10, 10), rel=0.2)


def test_film_lags_the_thermometer():
    f = film(lag=4.0)
    assert f.film_temperature(1.0, 0.0) == 1.0
    assert f.film_temperature(2.0, 4.0) == pytest.approx(1.0 + 0.5 * (1 - np.exp(-1)) * 2, rel=0.2)
    later = f.film_temperature(2.0, 100.0)
    assert later == pytest.approx(2.0, abs=1e-6)


def test_preset_follows_the_world():
    world = World(SimConfig(seed=1))
    params = preset_for(world)
    assert params.tc == pytest.approx(world.film.tc)
    assert params.r_normal == FILM_PRESETS["InO-2"]["r_normal"]
