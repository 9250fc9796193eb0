"""The contact's Andreev weight, Z_A and Γ_A held from the coldest sweep, and their joint
uncertainty propagated into the warm sweeps' Δc (``andreev.analysis.held``), on
synthetic spectra of ``andreev.physics.FilmModel`` with a known weight."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev.analysis import contact, held
from andreev.analysis.fits import fit_film
from andreev.physics import FilmModel

FILM = FilmModel()
BIAS = np.linspace(-1.5e-3, 1.5e-3, 301)
V_MOD = 10e-6
G_N = 5e-4  # S (1 µA at 2 mV)
WEIGHT = FILM.andreev_amplitude * FILM.andreev_weight(G_N)


def _spectrum(t: float, rel: float, rng: np.random.Generator) -> np.ndarray:
    y = FILM.conductance(BIAS, G_N, t, V_MOD)
    return y + rel * G_N * rng.standard_normal(BIAS.size)


def _contact(t: float, y: np.ndarray, rel: float, film_kw=None) -> contact.ContactResult:
    return contact.analyze_contact(
        BIAS,
        y,
        temperature=t,
        v_mod_rms=V_MOD,
        noise=rel * G_N,
        gap=FILM.gap,
        film_kw=film_kw,
    )


def test_directions_reproduce_the_covariance():
    """Σ_k v_k v_kᵀ = C for strongly correlated parameters of very different scales."""
    d = np.array([0.2, 0.03, 4e-7])
    r = np.array([[1.0, 0.97, 0.9], [0.97, 1.0, 0.93], [0.9, 0.93, 1.0]])
    cov = r * np.outer(d, d)
    steps = held.HeldCovariance(("andreev_weight", "barrier_andreev", "gamma_andreev"), cov)
    v = np.array([[s[n] for n in steps.names] for s in steps.directions()]).T
    np.testing.assert_allclose(v @ v.T, cov, rtol=1e-9, atol=1e-12 * float(np.max(cov)))


def test_held_weight_is_held_with_error_zero():
    rng = np.random.default_rng(3)
    y = _spectrum(1.0, 0.004, rng)
    fr = fit_film(
        BIAS,
        y,
        temperature=1.0,
        v_mod_rms=V_MOD,
        sigma=0.004 * G_N,
        andreev_weight=0.9 * WEIGHT,
        free_andreev=False,
    )
    assert fr.success, fr.message
    assert fr.params["andreev_weight"] == pytest.approx(0.9 * WEIGHT, rel=1e-12)
    assert fr.errors["andreev_weight"] == 0.0
    assert "at bound" not in fr.message
    assert all(math.isfinite(fr.errors[k]) for k in ("gap", "gap_c", "gamma", "g_normal"))


def test_held_from_the_base_fit():
    """The coldest fit's weight, Z_A, Γ_A and their covariance block; none from a fit whose
    Z_A is not known."""
    rng = np.random.default_rng(4)
    base = _contact(0.05, _spectrum(0.05, 0.004, rng), 0.004)
    kw = held.held_from(base.film)
    assert kw is not None
    fr = base.film
    assert kw["andreev_weight"] == fr.params["andreev_weight"]
    assert kw["barrier_andreev"] == fr.params["barrier_andreev"]
    cov = kw["held_covariance"]
    assert cov.names[:2] == ("andreev_weight", "barrier_andreev")
    assert math.sqrt(cov.matrix[0, 0]) == pytest.approx(fr.errors["andreev_weight"])
    assert abs(fr.params["andreev_weight"] - WEIGHT) < 3 * fr.errors["andreev_weight"]
    fr.errors["barrier_andreev"] = 0.5 * fr.params["barrier_andreev"]
    assert held.held_from(fr) is None


@pytest.fixture(scope="module")
def warm_series():
    """Per seed: the base fit's held keywords and the warm (1.0, 1.2 K) contact results."""
    out = []
    for seed in (11, 12, 13):
        rng = np.random.default_rng(seed)
        base = _contact(0.05, _spectrum(0.05, 0.01, rng), 0.01)
        kw = held.held_from(base.film)
        assert kw is not None, base.film.message
        warm = {t: _contact(t, _spectrum(t, 0.01, rng), 0.01, kw) for t in (1.0, 1.2)}
        out.append((kw, warm))
    return out


def test_warm_gap_c_with_held_weight_is_unbiased_within_its_error(warm_series):
    pulls = []
    for _, warm in warm_series:
        for t, cr in warm.items():
            fr = cr.film
            assert fr is not None and fr.success, fr
            assert fr.errors["andreev_weight"] == 0.0  # held
            assert "errors include the held weight, Z_A" in fr.message
            pulls.append((fr.params["gap_c"] - FILM.gap_c(t)) / fr.errors["gap_c"])
    assert max(abs(p) for p in pulls) < 3.0, pulls
    assert abs(float(np.mean(pulls))) < 3.0 / math.sqrt(len(pulls)), pulls


def test_propagated_error_grows_with_the_base_weight_uncertainty(warm_series):
    """The same warm sweep, its held values' covariance ×4 (twice the errors): the error
    the propagation adds to Δc at least doubles (linear), up to ×4 where the fits'
    curvature along the steps dominates."""
    kw, _ = warm_series[0]
    t = 1.2
    y = _spectrum(t, 0.01, np.random.default_rng(99))
    fit_kw = {k: v for k, v in kw.items() if k != "held_covariance"}
    bare = _contact(t, y, 0.01, fit_kw).film
    cov = kw["held_covariance"]
    added = []
    for factor in (1.0, 4.0):
        wide = held.HeldCovariance(cov.names, factor * cov.matrix)
        fr = _contact(t, y, 0.01, {**fit_kw, "held_covariance": wide}).film
        assert fr.params["gap_c"] == pytest.approx(bare.params["gap_c"], rel=1e-9)
        added.append(math.sqrt(fr.errors["gap_c"] ** 2 - bare.errors["gap_c"] ** 2))
    assert added[0] > 0.2 * bare.errors["gap_c"], (added, bare.errors["gap_c"])
    assert 1.8 < added[1] / added[0] < 4.5, added
