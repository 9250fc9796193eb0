"""Fits recover known parameters from noisy spectra simulated with andreev.physics."""

from __future__ import annotations

import numpy as np
import pytest

from andreev import physics
from andreev.analysis import fits

BIAS = np.linspace(-1.5e-3, 1.5e-3, 1001)
V_MOD = 10e-6


def noisy(g: np.ndarray, rel: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return g + rel * float(np.median(np.abs(g))) * rng.standard_normal(g.size)


@pytest.mark.parametrize(
    ("gap", "gamma", "temperature", "seed"),
    [(0.55e-3, 0.02e-3, 0.05, 1), (0.45e-3, 0.05e-3, 0.8, 2), (0.65e-3, 0.01e-3, 0.3, 3)],
)
def test_dynes_recovers_gap_and_gamma(gap: float, gamma: float, temperature: float, seed: int):
    g_n = 5e-7
    y = noisy(g_n * physics.dynes_conductance(BIAS, gap, gamma, temperature, V_MOD), 0.01, seed)
    r = fits.fit_dynes(BIAS, y, temperature=temperature, v_mod_rms=V_MOD)
    assert r.success, r.message
    assert r.params["gap"] == pytest.approx(gap, rel=0.02)
    assert r.params["gamma"] == pytest.approx(gamma, rel=0.2)
    assert r.params["g_normal"] == pytest.approx(g_n, rel=0.02)
    assert 0.5 < r.chi2_red < 2.0
    # the quoted errors are finite and the truth lies within a few of them
    assert all(np.isfinite(v) and v > 0 for v in r.errors.values())
    assert abs(r.params["gap"] - gap) < 6 * r.errors["gap"] + 1e-9
    assert r.residuals.shape == BIAS.shape
    np.testing.assert_allclose(r.curve(BIAS) + r.residuals, y, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize(
    ("gap", "barrier", "gamma", "temperature", "seed"),
    [
        (0.48e-3, 0.3, 0.01e-3, 0.3, 4),
        (0.48e-3, 1.0, 0.01e-3, 0.5, 5),
        (0.5e-3, 2.5, 0.02e-3, 0.1, 6),
    ],
)
def test_btk_recovers_gap_barrier_gamma(
    gap: float, barrier: float, gamma: float, temperature: float, seed: int
):
    g_n = 3e-4
    clean = g_n * physics.btk_conductance(BIAS, gap, barrier, gamma, temperature, V_MOD)
    r = fits.fit_btk(BIAS, noisy(clean, 0.005, seed), temperature=temperature, v_mod_rms=V_MOD)
    assert r.success, r.message
    assert r.params["gap"] == pytest.approx(gap, rel=0.02)
    assert r.params["barrier"] == pytest.approx(barrier, rel=0.05)
    assert r.params["gamma"] == pytest.approx(gamma, rel=0.2)


@pytest.mark.parametrize(("g_normal", "temperature"), [(5e-4, 0.05), (5e-5, 0.05), (5e-4, 0.8)])
def test_film_recovers_collective_gap(g_normal: float, temperature: float):
    film = physics.FilmModel()
    y = noisy(film.conductance(BIAS, g_normal, temperature, V_MOD), 0.004, 7)
    r = fits.fit_film(BIAS, y, temperature=temperature, v_mod_rms=V_MOD)
    assert r.success, r.message
    assert abs(r.params["gap_c"] - film.gap_c(temperature)) < 10e-6
    assert r.params["gap"] == pytest.approx(film.gap, rel=0.02)
    assert r.params["gamma"] == pytest.approx(film.gamma(temperature), rel=0.2)
    # Z_A is fitted too: where smearing makes weight and Z_A degenerate (0.8 K) the
    # weight is only known to within its (large) error
    weight = film.andreev_amplitude * film.andreev_weight(g_normal)
    assert abs(r.params["andreev_weight"] - weight) < max(
        0.1 * weight, 3 * r.errors["andreev_weight"]
    )
    assert abs(r.params["barrier_andreev"] - 1.0) < max(0.05, 3 * r.errors["barrier_andreev"])


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_film_fits_the_contact_barrier_it_is_not_told(seed: int):
    rng = np.random.default_rng(seed)
    za = float(np.exp(0.3 * rng.standard_normal()))
    ga = float(3e-6 * np.exp(0.3 * rng.standard_normal()))
    film = physics.FilmModel(barrier_andreev=za, gamma_andreev=ga)
    y = noisy(film.conductance(BIAS, 5e-4, 0.05, V_MOD), 0.004, seed)
    r = fits.fit_film(BIAS, y, temperature=0.05, v_mod_rms=V_MOD)
    assert r.success and r.model == "film_za", r.message
    assert abs(r.params["barrier_andreev"] - za) < 3 * r.errors["barrier_andreev"] + 0.01
    assert abs(r.params["gap_c"] - film.gap_c(0.05)) < min(5e-6, 3 * r.errors["gap_c"] + 1e-7)
    fixed = fits.fit_film(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, free_andreev=False)
    assert fixed.model == "film" and fixed.chi2_red >= r.chi2_red


def test_film_above_tc_leaves_gap_c_undetermined():
    film = physics.FilmModel()
    y = noisy(film.conductance(BIAS, 5e-4, 2.0, V_MOD), 0.004, 10)
    r = fits.fit_film(BIAS, y, temperature=2.0, v_mod_rms=V_MOD)
    assert r.success, r.message
    assert not r.params["gap_c"] > 3 * r.errors["gap_c"]
    assert r.params["gap"] == pytest.approx(film.gap, rel=0.02)
    assert np.isfinite(r.errors["gap"]) and np.isfinite(r.errors["g_normal"])


def test_non_converging_film_fit_reports_failure():
    film = physics.FilmModel()
    y = noisy(film.conductance(BIAS, 5e-4, 0.5, V_MOD), 0.004, 11)
    r = fits.fit_film(BIAS, y, temperature=0.5, v_mod_rms=V_MOD, max_nfev=1)
    assert not r.success
    assert "converge" in r.message


def test_non_converging_fit_reports_failure():
    y = noisy(5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD), 0.01, 8)
    r = fits.fit_dynes(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, max_nfev=1)
    assert not r.success
    assert "converge" in r.message


@pytest.mark.parametrize(
    "didv",
    [np.full(BIAS.size, np.nan), np.zeros(BIAS.size), np.full(5, 1e-6)],
    ids=["all-nan", "all-zero", "wrong-shape"],
)
def test_bad_input_never_raises(didv: np.ndarray):
    for fit in (fits.fit_dynes, fits.fit_btk, fits.fit_film):
        r = fit(BIAS, didv, temperature=0.05, v_mod_rms=V_MOD)
        assert isinstance(r, fits.FitResult)
        if not r.success:
            assert r.message


def test_bad_temperature_is_a_failure_not_an_exception():
    y = 5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD)
    r = fits.fit_dynes(BIAS, y, temperature=float("nan"), v_mod_rms=V_MOD)
    assert not r.success and "temperature" in r.message


def test_guesses_land_near_the_truth():
    y = 5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD)
    p0 = fits.guess_dynes(BIAS, y)
    assert p0["gap"] == pytest.approx(0.55e-3, rel=0.1)
    assert p0["g_normal"] == pytest.approx(5e-7, rel=0.1)


def test_given_sigma_sets_chi2_and_a_bad_one_is_a_failure():
    clean = 5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD)
    rng = np.random.default_rng(12)
    sigma = 5e-9
    y = clean + sigma * rng.standard_normal(BIAS.size)
    r = fits.fit_dynes(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, sigma=sigma)
    assert r.success and 0.8 < r.chi2_red < 1.2
    # ten times the true noise: χ²_red ≈ 0.01, yet the errors are not shrunk below the
    # ones of the right σ (the uncertainty rule never scales them down)
    r10 = fits.fit_dynes(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, sigma=10 * sigma)
    assert r10.chi2_red < 0.05
    assert r10.errors["gap"] > 5 * r.errors["gap"]
    bad = fits.fit_dynes(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, sigma=0.0)
    assert not bad.success and "sigma" in bad.message
