"""The film fit's solver: projected fit = generic fit; analytic channel derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from andreev import physics
from andreev.analysis import fits
from andreev.analysis.fits.channels import FilmChannels
from andreev.analysis.fits.film import bounded_linear

BIAS = np.linspace(-1.5e-3, 1.5e-3, 1001)
V_MOD = 10e-6


def noisy(g: np.ndarray, rel: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return g + rel * float(np.median(np.abs(g))) * rng.standard_normal(g.size)


def test_film_fit_matches_the_generic_five_parameter_fit():
    """The projected fit (G_N and weight solved linearly) finds the plain fit's optimum."""
    film = physics.FilmModel()
    y = noisy(film.conductance(BIAS, 5e-4, 0.5, V_MOD), 0.004, 9)
    r = fits.fit_film(BIAS, y, temperature=0.5, v_mod_rms=V_MOD, free_andreev=False)
    p0 = fits.guess_film(BIAS, y, temperature=0.5, v_mod_rms=V_MOD)
    lim = {
        "gap": (1e-7, 1.5e-3),
        "gap_c": (1e-7, p0["gap"]),
        "gamma": (1e-9, 1.5e-3),
        "andreev_weight": (0.0, 20.0),
        "g_normal": (0.0, 10.0 * p0["g_normal"]),
    }
    ref = fits.fit_model(
        "film",
        BIAS,
        y,
        temperature=0.5,
        v_mod_rms=V_MOD,
        p0=p0,
        bounds=lim,
        sigma=None,
        max_nfev=300,
        extra=r.extra,
    )
    assert r.success and ref.success, (r.message, ref.message)
    assert r.chi2_red == pytest.approx(ref.chi2_red, rel=1e-6)
    for k, v in ref.params.items():
        assert abs(r.params[k] - v) < 0.05 * ref.errors[k], k
        assert r.errors[k] == pytest.approx(ref.errors[k], rel=0.02), k
    assert r.residuals.shape == BIAS.shape
    np.testing.assert_allclose(r.curve(BIAS) + r.residuals, y, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("temperature", [0.05, 1.2])
def test_film_channel_derivatives_match_finite_differences(temperature: float):
    """The analytic ∂/∂Δ, ∂/∂Δc, ∂/∂Γ of the film fit agree with andreev.physics itself."""
    ch = FilmChannels(BIAS, temperature, V_MOD, 1.0, 3e-6)
    theta = np.array([0.56e-3, 0.09e-3, 0.03e-3])
    fw = ch.width(theta[1], theta[2])
    analytic = ch.derivatives(*theta, theta)  # d/d(ln θ)
    for i, channel in ((0, 0), (1, 1), (2, 0)):
        up, down = theta.copy(), theta.copy()
        up[i] *= 1 + 1e-6
        down[i] *= 1 - 1e-6
        hi = (ch.dynes(up[0], up[2], fw), ch.andreev(up[1], fw))[channel]
        lo = (ch.dynes(down[0], down[2], fw), ch.andreev(down[1], fw))[channel]
        numeric = (hi - lo) / 2e-6
        assert np.max(np.abs(analytic[i] - numeric)) < 1e-6 * np.max(np.abs(numeric))


def test_bounded_linear_inside_and_on_the_edge():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((50, 2))
    b = a @ np.array([2.0, 1.0])  # g = 2, g·w = 1 → w = 0.5
    g, w, free = bounded_linear(a, b, (0.0, 10.0), (0.0, 1.0))
    assert g == pytest.approx(2.0) and w == pytest.approx(0.5) and free.shape == (2, 2)
    g, w, free = bounded_linear(a, b, (0.0, 10.0), (0.0, 0.25))  # w capped: on an edge
    assert w == pytest.approx(0.25) and free.shape == (2, 1)
