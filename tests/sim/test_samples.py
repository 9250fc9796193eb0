"""Sample presets, the gap map and contact-to-contact variation of the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev.physics import G0, K_B_EV
from andreev.sim import SimConfig, World
from andreev.sim.samples import SAMPLES, ContactParams, contact_film, sample_film


@pytest.mark.parametrize(
    ("name", "tc", "gap", "gap_c0"),
    [
        ("InO-1", 1.5, 0.55e-3, 0.10e-3),
        ("InO-2", 1.45, 0.55e-3, 0.10e-3),
        ("InO-3", 1.9, 0.60e-3, 0.12e-3),
        ("InO-4", 3.2, 1.764 * K_B_EV * 3.2, 0.0),
    ],
)
def test_presets_carry_the_papers_numbers(name, tc, gap, gap_c0):
    film = SimConfig.from_dict({"sample": name}).film
    assert (film.tc, film.gap, film.gap_c0) == pytest.approx((tc, gap, gap_c0))
    assert film.kind == ("bcs" if name == "InO-4" else "preformed")


def test_default_sample_is_ino2_and_fields_can_be_overridden():
    assert SimConfig.from_dict({}).sample == "InO-2"
    cfg = SimConfig.from_dict({"sample": "InO-4", "film": {"gamma0": 1.0e-5}})
    assert cfg.film.kind == "bcs" and cfg.film.gamma0 == 1e-5 and cfg.film.tc == 3.2


def test_ino4_is_homogeneous_bcs_without_pseudogap_or_andreev_channel():
    world = World(SimConfig(sample="InO-4", seed=3))
    gaps = {world.gap_at(x * 1e-8, y * 1e-8) for x in range(20) for y in range(5)}
    assert len(gaps) == 1 and gaps.pop() == pytest.approx(1.764 * K_B_EV * 3.2)
    film = world.film_at(0.0, 0.0)
    bias = np.linspace(-3e-3, 3e-3, 121)
    above_tc = film.conductance(bias, 0.1 * G0, 3.3, 0.0) / (0.1 * G0)
    np.testing.assert_allclose(above_tc, 1.0, atol=1e-3)  # a plain metal above Tc
    assert film.andreev_amplitude == 0.0 and film.gap_c0 == 0.0


def test_ino2_keeps_its_pseudogap_above_tc():
    film = World(SimConfig(sample="InO-2")).film_at(0.0, 0.0)
    g0 = float(film.conductance(0.0, 0.01 * G0, 2.0, 0.0)) / (0.01 * G0)
    assert g0 < 0.8  # the large gap stays above Tc


@pytest.mark.parametrize(("name", "ratio"), [("InO-1", 2.5), ("InO-2", 2.5), ("InO-3", 2.2)])
def test_gap_map_spans_02_to_07_mev_with_the_preset_mean(name, ratio):
    world = World(SimConfig(sample=name, seed=11))
    xs = np.arange(0, 3000, 9) * 1e-9
    gaps = np.array([world.gap_at(x, y) for x in xs for y in (0.0, 7e-7, 1.9e-6)])
    assert gaps.min() >= 0.2e-3 - 1e-12 and gaps.max() <= 0.7e-3 + 1e-12
    assert gaps.max() / gaps.min() > ratio  # InO-3's mean 0.6 meV makes 0.2 meV rare
    assert gaps.mean() == pytest.approx(SAMPLES[name][0]["gap"], rel=0.1)
    # Δc does not vary with position
    assert {world.film_at(x, 0.0).gap_c0 for x in xs[:20]} == {SAMPLES[name][0]["gap_c0"]}


def test_contacts_differ_from_contact_to_contact_and_repeat_with_the_seed():
    film = sample_film("InO-2")
    params = ContactParams()
    films = [contact_film(film, params, 5, 1e-9 * k, 0.0, 1e-9) for k in range(300)]
    z = np.log([f.barrier_andreev / film.barrier_andreev for f in films])
    gamma = np.log([f.gamma_andreev / film.gamma_andreev for f in films])
    assert np.std(z) == pytest.approx(params.barrier_spread, rel=0.25)
    assert np.std(gamma) == pytest.approx(params.gamma_spread, rel=0.25)
    again = contact_film(film, params, 5, 7e-9, 0.0, 1e-9)
    assert again == films[7]
    other_setpoint = contact_film(film, params, 5, 7e-9, 0.0, 3e-9)
    assert other_setpoint.barrier_andreev != films[7].barrier_andreev
    assert contact_film(film, ContactParams(0.0, 0.0, 0.0), 5, 7e-9, 0.0, 1e-9) == film


def test_the_world_film_follows_the_contact():
    world = World(SimConfig(seed=4))
    j = world.junction
    with world.lock:
        first = world.film_at(j.x, j.y)
        j.setpoint = 5e-9  # a new setpoint: a new contact
        second = world.film_at(j.x, j.y)
    assert first.barrier_andreev != second.barrier_andreev
    assert first.gap == second.gap  # same position, same Δ


def _ohmic_mismatch(sample: str, g_normal: float, v_set: float = 10e-3) -> float:
    """(I_set/V_set) / (dI/dV at V_set) − 1 at G_N (S): what a 'G_N = I/V' misses."""
    world = World(SimConfig(sample=sample, contacts=ContactParams(0.0, 0.0, 0.0)))
    spectra = world._local_spectra()
    current = spectra.current(v_set, g_normal, 0.05)
    return current / v_set / spectra.conductance(v_set, g_normal, 0.05, 0.0) - 1.0


def test_excess_current_at_high_transparency():
    # BCS film: the Andreev excess current makes I/V exceed dI/dV at a transparent contact
    low, high = _ohmic_mismatch("InO-4", 0.01 * G0), _ohmic_mismatch("InO-4", 5 * G0)
    assert abs(low) < 0.005 and high > 0.01
    # preformed pairs: the two-particle channel adds current as G_N grows
    assert _ohmic_mismatch("InO-2", 1 * G0) > _ohmic_mismatch("InO-2", 0.001 * G0)
    assert not math.isclose(_ohmic_mismatch("InO-2", 1 * G0), 0.0, abs_tol=1e-3)
