"""Tests of andreev.physics: textbook limits, FFT smearing vs direct quadrature, film
phenomenology (Figs. 1, 2, S5 of the paper) and the fast current."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.signal import find_peaks

from andreev.physics import (
    E_CHARGE,
    G0,
    K_B_EV,
    FilmModel,
    andreev_coefficients,
    bcs_gap,
    btk_conductance,
    btk_dos,
    dynes_antiderivative,
    dynes_conductance,
    dynes_dos,
    dynes_second_antiderivative,
    smeared,
    smeared_quad,
)

GAP = 0.55e-3
VMOD = 10e-6
TOL = 2e-3  # FFT vs quadrature, in units of G_N


def test_constants() -> None:
    assert E_CHARGE == pytest.approx(1.602176634e-19, rel=1e-12)
    assert K_B_EV == pytest.approx(8.617333262e-5, rel=1e-12)
    assert pytest.approx(2 * E_CHARGE**2 / 6.62607015e-34, rel=1e-9) == G0


# ----------------------------------------------------------------- checks of docs/physics.md
def test_large_barrier_reduces_btk_to_dynes_as_one_over_z2() -> None:
    e = np.linspace(-2e-3, 2e-3, 4001)
    diffs = []
    for z in (10.0, 20.0, 40.0):
        d = np.max(np.abs(btk_dos(e, GAP, z, 20e-6) - dynes_dos(e, GAP, 20e-6)))
        diffs.append(d * z**2)
    assert diffs[-1] < 10.0  # absolute difference ~ 1/Z^2 ...
    assert diffs[0] == pytest.approx(diffs[-1], rel=0.1)  # ... with a constant prefactor
    g_btk = btk_conductance(e[::40], GAP, 40.0, 20e-6, 0.1, VMOD)
    g_dyn = dynes_conductance(e[::40], GAP, 20e-6, 0.1, VMOD)
    assert np.max(np.abs(g_btk - g_dyn)) < 5e-3


def test_transparent_contact_doubles_subgap_conductance() -> None:
    v = np.linspace(-0.98, 0.98, 99) * GAP
    np.testing.assert_allclose(btk_conductance(v, GAP, 0.0, 0.0, 0.0), 2.0, atol=1e-9)
    assert btk_conductance(3 * GAP, GAP, 0.0, 0.0, 0.0) < 1.1


@pytest.mark.parametrize("tau", [0.05, 0.3, 0.7, 0.95, 1.0])
def test_beenakker_single_channel_zero_bias(tau: float) -> None:
    z = math.sqrt(1.0 / tau - 1.0)
    g_ns = tau * G0 * float(btk_conductance(0.0, GAP, z, 0.0, 0.0))
    assert g_ns / G0 == pytest.approx(2 * tau**2 / (2 - tau) ** 2, rel=1e-6)


@pytest.mark.parametrize("z", [0.0, 0.3, 1.0, 3.0])
def test_subgap_probabilities_sum_to_one(z: float) -> None:
    e = np.linspace(-0.999, 0.999, 201) * GAP
    a, b = andreev_coefficients(e, GAP, z, 0.0)
    np.testing.assert_allclose(a + b, 1.0, atol=1e-9)
    assert np.all(a >= 0) and np.all(b >= 0)


def test_andreev_at_twice_the_gap() -> None:
    a, b = andreev_coefficients(2 * GAP, GAP, 0.0, 0.0)
    r = math.sqrt(3) / 2
    assert float(a) == pytest.approx((1 - r) / (1 + r), rel=1e-9)
    assert float(b) == pytest.approx(0.0, abs=1e-12)


def test_bcs_gap_endpoints_and_monotonic() -> None:
    assert bcs_gap(0.0, 1e-3, 1.5) == 1e-3
    assert bcs_gap(1e-4, 1e-3, 1.5) == pytest.approx(1e-3, rel=1e-12)
    assert bcs_gap(1.5, 1e-3, 1.5) == 0.0
    assert bcs_gap(3.0, 1e-3, 1.5) == 0.0
    t = np.linspace(0.0, 2.0, 401)
    d = bcs_gap(t, 1e-3, 1.5)
    assert isinstance(d, np.ndarray) and d.shape == t.shape
    assert np.all(np.diff(d) <= 0) and np.all(np.diff(d[t < 1.5]) < 1e-3)
    assert isinstance(bcs_gap(0.5, 1e-3, 1.5), float)
    # close to Tc: Δ ≈ 1.74 Δ0 sqrt(1 - T/Tc)·(...) — within 0.017 Δ0 of the BCS slope
    assert bcs_gap(1.5 * 0.99, 1e-3, 1.5) == pytest.approx(1.74e-3 * math.sqrt(0.01 / 0.99), 2e-2)


def test_dynes_branch_and_antiderivatives() -> None:
    e = np.linspace(-3e-3, 3e-3, 6001)
    n = dynes_dos(e, GAP, 20e-6)
    np.testing.assert_allclose(n, n[::-1], rtol=1e-12)  # even: the naive root is odd
    assert np.all(n > 0)
    assert n[np.argmin(np.abs(e))] < 0.05
    assert dynes_dos(1.0, GAP, 20e-6) == pytest.approx(1.0, abs=1e-6)
    h = e[1] - e[0]
    f1 = dynes_antiderivative(e, GAP, 20e-6)
    np.testing.assert_allclose(np.diff(f1) / h, dynes_dos(e[:-1] + h / 2, GAP, 20e-6), atol=2e-3)
    f2 = dynes_second_antiderivative(e, GAP, 20e-6)
    f1_mid = dynes_antiderivative(e[:-1] + h / 2, GAP, 20e-6)
    simpson = (f1[1:] + 4 * f1_mid + f1[:-1]) / 6
    np.testing.assert_allclose(np.diff(f2) / h, simpson, rtol=1e-6, atol=1e-12)


# ----------------------------------------------------------------- FFT vs quadrature
def _check_quad(g_fast: np.ndarray, g_ref: np.ndarray) -> None:
    assert np.max(np.abs(g_fast - g_ref)) < TOL, np.c_[g_fast, g_ref]


BIAS_D = np.array([-0.6e-3, -0.3e-3, 0.0, 0.45e-3, 0.54e-3, 0.56e-3, 0.62e-3, 1.5e-3])


@pytest.mark.parametrize(
    ("gamma", "temperature", "vmod"),
    [(20e-6, 0.05, VMOD), (1e-9, 0.05, 0.0), (5e-6, 0.0, VMOD), (20e-6, 1.0, VMOD)],
)
def test_dynes_conductance_matches_quadrature(gamma: float, temperature: float, vmod: float):
    ref = smeared_quad(
        BIAS_D, lambda e: dynes_dos(e, GAP, gamma), temperature, vmod, points=[-GAP, GAP]
    )
    _check_quad(dynes_conductance(BIAS_D, GAP, gamma, temperature, vmod), ref)


@pytest.mark.parametrize(
    ("z", "gamma", "temperature", "vmod"),
    [(0.0, 0.0, 0.0, VMOD), (0.5, 5e-6, 0.05, VMOD), (3.0, 1e-6, 0.2, 0.0), (1.0, 3e-6, 1.0, 0)],
)
def test_btk_conductance_matches_quadrature(z: float, gamma: float, temperature: float, vmod):
    ref = smeared_quad(
        BIAS_D, lambda e: btk_dos(e, GAP, z, gamma), temperature, vmod, points=[-GAP, GAP]
    )
    _check_quad(btk_conductance(BIAS_D, GAP, z, gamma, temperature, vmod), ref)


@pytest.mark.parametrize(("g_normal", "temperature"), [(0.1 * G0, 0.05), (0.3 * G0, 0.8)])
def test_film_conductance_matches_quadrature(g_normal: float, temperature: float) -> None:
    film = FilmModel()
    bias = np.array([-0.6e-3, -0.1e-3, 0.0, 0.05e-3, 0.095e-3, 0.105e-3, 0.3e-3, 0.56e-3])
    dc = float(film.gap_c(temperature))
    w = film.andreev_amplitude * g_normal / (g_normal + film.g_cross)

    def g0(e):
        a, _ = andreev_coefficients(e, dc, film.barrier_andreev, film.gamma_andreev)
        gam = film.gamma0 + film.gamma1 * (temperature / film.tc) ** 2
        return dynes_dos(e, film.gap, gam) + 2 * w * a

    ref = smeared_quad(bias, g0, temperature, VMOD, points=[-film.gap, -dc, dc, film.gap])
    fast = film.conductance(bias, g_normal, temperature, VMOD) / g_normal
    _check_quad(fast, ref)


def test_bcs_preset_matches_quadrature() -> None:
    film = FilmModel.bcs_preset()
    g_normal, temperature = 3 * G0, 0.5
    gap = float(bcs_gap(temperature, film.gap, film.tc))
    z = math.sqrt(film.n_channels * G0 / g_normal - 1)
    bias = np.linspace(-1e-3, 1e-3, 9)
    ref = smeared_quad(
        bias, lambda e: btk_dos(e, gap, z, film.gamma0), temperature, VMOD, points=[-gap, gap]
    )
    _check_quad(film.conductance(bias, g_normal, temperature, VMOD) / g_normal, ref)


def test_smeared_shapes_limits_and_chunking() -> None:
    def g0(e):
        return dynes_dos(e, GAP, 20e-6)

    assert np.shape(dynes_conductance(1e-3, GAP, 20e-6, 0.05, VMOD)) == ()
    v2 = np.linspace(-1e-3, 1e-3, 12).reshape(3, 4)
    assert dynes_conductance(v2, GAP, 20e-6, 0.05, VMOD).shape == (3, 4)
    assert dynes_conductance(np.array([]), GAP, 20e-6, 0.05).shape == (0,)
    # no smearing at all: g0 itself
    v = np.linspace(-1e-3, 1e-3, 101)
    np.testing.assert_array_equal(smeared(v, g0, 0.0, 0.0), g0(v))
    # a wide bias range split into small grids agrees with one big grid
    wide = np.linspace(-5e-3, 5e-3, 301)
    np.testing.assert_allclose(
        smeared(wide, g0, 0.05, VMOD, max_points=512), smeared(wide, g0, 0.05, VMOD), atol=1e-9
    )
    # unsorted input keeps its order
    perm = np.random.default_rng(0).permutation(v)
    np.testing.assert_allclose(smeared(perm, g0, 0.05), np.interp(perm, v, smeared(v, g0, 0.05)))


# ----------------------------------------------------------------- current
@pytest.mark.parametrize("film", [FilmModel(), FilmModel.bcs_preset()], ids=["preformed", "bcs"])
@pytest.mark.parametrize("temperature", [0.05, 0.7])
def test_current_is_integral_of_conductance(film: FilmModel, temperature: float) -> None:
    g_normal = 0.2 * G0
    v = np.linspace(0.0, 4e-3, 8001)
    g = film.conductance(v, g_normal, temperature)
    i_ref = integrate.cumulative_trapezoid(g, v, initial=0.0)
    pick = np.array([10, 100, 150, 300, 700, 2000, 8000])
    i_fast = film.current(v[pick], g_normal, temperature)
    np.testing.assert_allclose(i_fast, i_ref[pick], rtol=1e-3, atol=1e-3 * g_normal * 1e-5)
    np.testing.assert_allclose(film.current(-v[pick], g_normal, temperature), -i_fast)
    assert float(film.current(0.0, g_normal, temperature)) == 0.0
    assert np.shape(film.current(1e-3, g_normal, temperature)) == ()
    far = film.current(20e-3, g_normal, temperature)  # beyond the first table: rebuilt
    assert float(far) == pytest.approx(g_normal * 20e-3, rel=0.02)


def test_current_continuous_in_temperature_and_cheap() -> None:
    film = FilmModel()
    gn = 0.05 * G0
    temps = 0.05 + np.linspace(0, 2e-4, 21)  # crosses temperature nodes
    cur = np.array([float(film.current(0.3e-3, gn, t)) for t in temps])
    assert np.all(np.abs(np.diff(cur)) < 1e-3 * abs(cur[0]))
    film.current(0.3e-3, gn, 0.06)
    times = []
    for k in range(200):
        t0 = time.perf_counter()
        film.current(0.3e-3 + 1e-7 * k, gn * (1 + 1e-4 * k), 0.06)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 1e-3
    assert film.current(1e-3, 0.0, 0.05) == 0.0


# ----------------------------------------------------------------- phenomenology
def _in_gap_peaks(v: np.ndarray, g: np.ndarray, limit: float) -> list[tuple[float, float]]:
    idx, props = find_peaks(g, prominence=0.0)
    return [(v[i], p) for i, p in zip(idx, props["prominences"], strict=True) if abs(v[i]) < limit]


def test_fig1_in_gap_peaks_grow_with_g_normal() -> None:
    film = FilmModel()
    v = np.linspace(-0.8e-3, 0.8e-3, 801)
    dc = float(film.gap_c(0.05))
    heights = []
    for gn in (0.001, 0.01, 0.03, 0.1, 0.3):
        g = film.conductance(v, gn * G0, 0.05, VMOD) / (gn * G0)
        peaks = _in_gap_peaks(v, g, 0.5 * film.gap)
        if gn == 0.001:  # tunnelling: nothing resolvable (< 1 % of G_N)
            assert all(p < 0.01 for _, p in peaks)
            continue
        assert len(peaks) == 2
        (vm, pm), (vp, pp) = peaks
        assert vm == pytest.approx(-vp)
        assert min(pm, pp) > 0.02  # resolvable: > 2 % of G_N
        assert abs(vp - dc) < 0.1 * dc
        heights.append(g[np.argmin(np.abs(v - vp))])
        # the single-particle coherence peaks stay at ±Δ
        assert abs(v[np.argmax(g)]) == pytest.approx(film.gap, rel=0.1)
    assert np.all(np.diff(heights) > 0)


def test_fig2_peaks_merge_then_vanish_at_tc_large_gap_survives() -> None:
    film = FilmModel()
    gn = 0.3 * G0
    v = np.linspace(-1.2e-3, 1.2e-3, 1201)
    i0 = 600
    positions = []
    for t in (0.05, 0.2, 0.35):
        g = film.conductance(v, gn, t, VMOD) / gn
        peaks = [(x, p) for x, p in _in_gap_peaks(v, g, 0.4 * film.gap) if x > 0]
        assert len(peaks) == 1
        positions.append(peaks[0][0])
    assert positions[0] > positions[1] > positions[2] > 0  # move towards zero bias
    g = film.conductance(v, gn, 0.8, VMOD) / gn  # merged: zero-bias maximum
    assert g[i0] > g[i0 + 20] and g[i0] == pytest.approx(g[i0 - 5 : i0 + 6].max())
    for t in (film.tc, 1.2 * film.tc):  # gone at and above Tc, the large gap stays
        g = film.conductance(v, gn, t, VMOD) / gn
        assert g[i0] < g[i0 + 20]
        assert g[i0] < 0.5
        outer = v[np.argmax(g)]
        assert 0.9 * film.gap < abs(outer) < 1.8 * film.gap
        assert g.max() > 1.1


def test_bcs_preset_in_gap_conductance_rises_with_transparency() -> None:
    film = FilmModel.bcs_preset()
    assert film.tc == 3.2 and film.gap == pytest.approx(1.764 * K_B_EV * 3.2)
    assert float(film.gap_c(0.05)) == 0.0
    v = np.linspace(-0.2e-3, 0.2e-3, 5)
    g_in = []
    for gn in np.array([0.01, 0.1, 0.5, 1.0, 3.0, 6.0, 10.0]) * G0:
        g_in.append(np.mean(film.conductance(v, gn, 0.05, VMOD) / gn))
    assert np.all(np.diff(g_in) > 0)
    assert g_in[0] < 0.05 and g_in[-1] == pytest.approx(2.0, abs=0.05)


def test_film_kind_validated() -> None:
    with pytest.raises(ValueError, match="kind"):
        FilmModel(kind="bogus")  # type: ignore[arg-type]


# ----------------------------------------------------------------- properties
@settings(max_examples=20, deadline=None)
@given(
    gap=st.floats(0.1e-3, 1e-3),
    z=st.floats(0.0, 5.0),
    gamma=st.just(0.0) | st.floats(0.1e-6, 50e-6),
    temperature=st.just(0.0) | st.floats(0.01, 2.0),
    vmod=st.just(0.0) | st.floats(1e-6, 50e-6),
)
def test_btk_symmetric_and_positive(gap, z, gamma, temperature, vmod) -> None:
    v = np.linspace(0.0, 3 * gap, 31)
    g = btk_conductance(np.concatenate([v, -v]), gap, z, gamma, temperature, vmod)
    np.testing.assert_allclose(g[:31], g[31:], atol=1e-9)
    assert np.all(g > -1e-9)
    # bounded by the unsmeared maximum, to the FFT smearing's accuracy (its ringing at a
    # sharp gap edge reaches a few 1e-5 at T = Γ = 0; TOL is its bound against quadrature)
    assert np.all(g < 2.0 + TOL if z == 0 else g < (1 + z * z) * 2 + TOL)


@settings(max_examples=15, deadline=None)
@given(
    g_normal=st.floats(1e-4, 3.0).map(lambda x: x * G0),
    temperature=st.just(0.0) | st.floats(0.01, 3.0),
    vmod=st.just(0.0) | st.floats(1e-6, 30e-6),
)
def test_film_symmetric_positive_current_odd(g_normal, temperature, vmod) -> None:
    film = FilmModel()
    v = np.linspace(0.0, 2e-3, 21)
    g = film.conductance(np.concatenate([v, -v]), g_normal, temperature, vmod)
    np.testing.assert_allclose(g[:21], g[21:], rtol=1e-7, atol=1e-12 * g_normal)
    assert np.all(g > 0)
    i = film.current(np.concatenate([v, -v]), g_normal, temperature)
    np.testing.assert_allclose(i[:21], -i[21:])
    assert np.all(np.diff(i[:21]) > 0)
