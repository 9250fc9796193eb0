"""The analysis on realistic synthetic spectra: white noise at a level the test sets, a
slow drift between and within sweeps, and a contact whose Z_A and Γ_A the analysis is not
told (drawn at random per contact). Forward and backward sweeps as a run has them.

The accuracies asked of the analysis: Δ within 2 %, Δc within 10 µeV and 3σ at 50 mK and
0.3 K, Z within 5 % on a BCS (reference) film, which never yields a Δc, G_N within 2 %,
χ²_red of right models near 1, a wrong model flagged "poor fit".
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from andreev import physics
from andreev.analysis import contact
from andreev.analysis.fits import fit_dynes
from andreev.analysis.spectrum import pair_noise_sigma

BIAS = np.linspace(-1.5e-3, 1.5e-3, 301)  # V
V_MOD = 10e-6  # V rms
WHITE = 0.003  # white noise, relative to G_N
DRIFT = 0.001  # slow drift amplitude, relative


def sweep_pair(
    film: physics.FilmModel, g_n: float, t: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward dI/dV (S) with white noise and a slow drift of G."""
    clean = film.conductance(BIAS, g_n, t, V_MOD)
    out = []
    for _ in range(2):
        phase = rng.uniform(0, 2 * math.pi)
        drift = 1.0 + DRIFT * np.sin(2 * math.pi * np.linspace(0, 0.7, BIAS.size) + phase)
        out.append(clean * drift + WHITE * g_n * rng.standard_normal(BIAS.size))
    return out[0], out[1]


def random_contact(rng: np.random.Generator, **changes: float) -> physics.FilmModel:
    """The preformed-pair film with a contact's own Z_A and Γ_A (hidden from the fits)."""
    film = physics.FilmModel(**changes)
    return dataclasses.replace(
        film,
        barrier_andreev=film.barrier_andreev * math.exp(0.3 * rng.standard_normal()),
        gamma_andreev=film.gamma_andreev * math.exp(0.3 * rng.standard_normal()),
    )


def analyse(film: physics.FilmModel, g_n: float, t: float, seed: int):
    rng = np.random.default_rng(seed)
    fwd, bwd = sweep_pair(film, g_n, t, rng)
    noise = pair_noise_sigma(fwd, bwd)
    return contact.analyze_contact(
        BIAS, fwd, temperature=t, v_mod_rms=V_MOD, noise=noise, gap=film.gap
    ), noise


@pytest.mark.parametrize("temperature", [0.05, 0.3])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_collective_gap_within_10_uev_and_3_sigma(temperature: float, seed: int):
    rng = np.random.default_rng(100 + seed)
    film = random_contact(rng, gap=float(rng.uniform(0.35e-3, 0.7e-3)))
    g_n = float(rng.uniform(0.5, 6.0)) * physics.G0
    cr, noise = analyse(film, g_n, temperature, seed)
    assert noise == pytest.approx(WHITE * g_n, rel=0.2)
    assert cr.model == "film" and cr.margin > contact.BIC_MARGIN
    truth = film.gap_c(temperature)
    gc = contact.final_gap_c(cr)
    assert abs(gc.gap_c - truth) < 10e-6
    assert abs(gc.gap_c - truth) < 3 * gc.error
    if temperature < 0.1:  # resolved: the paper's read-out, corrected
        assert gc.source.startswith("d²I/dV²")
        assert gc.shift > 0  # smearing moves the slope-change read-out outwards
    fr = cr.film
    assert fr is not None and contact.fit_flag(fr) == "ok"
    assert fr.params["gap"] == pytest.approx(film.gap, rel=0.02)
    assert fr.params["g_normal"] == pytest.approx(g_n, rel=0.02)
    assert 0.7 < fr.chi2_red < 1.5


@pytest.mark.parametrize("seed", [4, 5, 6])
@pytest.mark.parametrize("i_set", [2e-7, 1e-6])
def test_reference_film_is_btk_with_its_barrier_and_no_collective_gap(seed: int, i_set: float):
    film = physics.FilmModel.bcs_preset()
    g_n = i_set / 2e-3
    tau = min(g_n / (film.n_channels * physics.G0), 1.0)
    z_true = math.sqrt(1.0 / tau - 1.0)
    cr, _ = analyse(film, g_n, 0.05, seed)
    assert cr.model == "btk" and not cr.collective
    assert math.isnan(cr.gap_c.gap_c) and math.isnan(contact.final_gap_c(cr).gap_c)
    assert cr.btk.params["barrier"] == pytest.approx(z_true, rel=0.05)
    assert cr.btk.params["gap"] == pytest.approx(film.gap, rel=0.02)
    assert cr.btk.params["g_normal"] == pytest.approx(g_n, rel=0.02)
    assert contact.fit_flag(cr.btk) == "ok" and 0.7 < cr.btk.chi2_red < 1.5


def test_tunnelling_gap_within_2_percent():
    rng = np.random.default_rng(7)
    for seed in range(3):
        film = random_contact(rng, gap=float(rng.uniform(0.25e-3, 0.7e-3)))
        g_n = 0.001 * physics.G0
        fwd, bwd = sweep_pair(film, g_n, 0.05, np.random.default_rng(seed))
        r = fit_dynes(
            BIAS, fwd, temperature=0.05, v_mod_rms=V_MOD, sigma=pair_noise_sigma(fwd, bwd)
        )
        assert r.params["gap"] == pytest.approx(film.gap, rel=0.02)
        assert r.params["g_normal"] == pytest.approx(g_n, rel=0.02)


def test_a_wrong_model_is_flagged():
    """A Dynes fit (no Andreev channel) of a point contact: "poor fit", errors inflated."""
    rng = np.random.default_rng(8)
    film = random_contact(rng)
    g_n = 2 * physics.G0
    fwd, bwd = sweep_pair(film, g_n, 0.05, rng)
    r = fit_dynes(BIAS, fwd, temperature=0.05, v_mod_rms=V_MOD, sigma=pair_noise_sigma(fwd, bwd))
    assert r.chi2_red > contact.POOR_FIT_CHI2
    assert contact.fit_flag(r) == "poor fit"
