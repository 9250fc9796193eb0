"""Peaks on d²I/dV², the smoothing window rule, and the Δc(T) closing fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev import physics
from andreev.analysis import closing, fits, peaks

BIAS = np.linspace(-1.5e-3, 1.5e-3, 1001)
V_MOD = 10e-6
FILM = physics.FilmModel()


def noisy(g: np.ndarray, rel: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return g + rel * float(np.median(np.abs(g))) * rng.standard_normal(g.size)


@pytest.mark.parametrize(("g_normal", "seed"), [(5e-4, 1), (5e-5, 2), (5e-6, 3)])
def test_gap_c_from_peaks_at_base_temperature(g_normal: float, seed: int):
    y = noisy(FILM.conductance(BIAS, g_normal, 0.05, V_MOD), 0.004, seed)
    r = peaks.find_andreev_peaks(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, gap=FILM.gap)
    assert r.found and r.flag == "ok"
    assert abs(r.gap_c - FILM.gap_c0) < 10e-6
    assert 0 < r.error < 5e-6
    assert r.v_plus > 0 > r.v_minus
    # the same without being told Δ: the coherence peaks are found as the outermost pair
    r2 = peaks.find_andreev_peaks(BIAS, y, temperature=0.05, v_mod_rms=V_MOD)
    assert r2.found and abs(r2.gap_c - r.gap_c) < 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_tunnelling_spectrum_has_no_andreev_peak(seed: int):
    y = noisy(5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD), 0.01, seed)
    r = peaks.find_andreev_peaks(BIAS, y, temperature=0.05, v_mod_rms=V_MOD, gap=0.55e-3)
    assert not r.found
    assert math.isnan(r.gap_c) and math.isnan(r.error)
    assert r.flag in ("no peak", "unpaired")


def test_film_above_tc_and_flat_noise_have_no_peak():
    y = noisy(FILM.conductance(BIAS, 5e-4, 1.7, V_MOD), 0.004, 9)
    assert not peaks.find_andreev_peaks(BIAS, y, temperature=1.7, v_mod_rms=V_MOD).found
    flat = noisy(np.full(BIAS.size, 1e-5), 0.01, 10)
    r = peaks.find_andreev_peaks(BIAS, flat, temperature=0.05, v_mod_rms=V_MOD)
    assert not r.found and math.isnan(r.gap_c)


def test_merged_peaks_are_flagged_not_invented():
    # at 0.8 K the pair (±92 µeV) is smeared into one zero-bias maximum (3.5 k_B T = 240 µeV)
    y = noisy(FILM.conductance(BIAS, 5e-4, 0.8, V_MOD), 0.003, 11)
    r = peaks.find_andreev_peaks(BIAS, y, temperature=0.8, v_mod_rms=V_MOD, gap=FILM.gap)
    assert not r.found and r.flag == "merged" and math.isnan(r.gap_c)


def test_window_follows_modulation_temperature_and_noise():
    g = 5e-4 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, 0.05, V_MOD)
    quiet = noisy(g, 1e-4, 1)
    loud = noisy(g, 3e-2, 1)
    w = peaks.smoothing_window
    base = w(BIAS, quiet, temperature=0.05, v_mod_rms=V_MOD)
    assert base % 2 == 1
    step = BIAS[1] - BIAS[0]
    assert abs(base * step - 2.45 * V_MOD) <= 2 * step  # spans the lock-in FWHM
    assert w(BIAS, quiet, temperature=0.05, v_mod_rms=4 * V_MOD) > base
    assert w(BIAS, quiet, temperature=1.0, v_mod_rms=V_MOD) > base
    assert w(BIAS, loud, temperature=0.05, v_mod_rms=V_MOD) > base


def test_second_derivative_of_a_parabola():
    g = 1e-6 * (1.0 + (BIAS / 1e-3) ** 2)
    b, d2, win, sig = peaks.second_derivative(BIAS, g, temperature=0.05, v_mod_rms=V_MOD)
    np.testing.assert_allclose(d2, 2e-6 * b / 1e-6, rtol=1e-6, atol=1e-9)
    assert win >= 5 and sig < 1e-9 * float(np.max(np.abs(d2)))


def test_closing_temperature_from_a_simulated_series():
    """FilmModel at several T → Δc per spectrum → fit_gap_closing: Tc within 0.1 K.

    Up to ~0.5 K the d²I/dV² peaks resolve Δc; above, thermal smearing (3.5 k_B T > 2Δc)
    merges them, so — as ``andreev analyze`` does — Δc comes from the film-model fit with
    the peaks as its start, and "no peak"/"no Andreev channel" sweeps are left out. The
    contact's Z_A and Γ_A are fitted at base temperature and held for the warmer sweeps of
    the same contact (where they are degenerate with the Andreev weight).
    """
    rng = np.random.default_rng(42)
    temps = np.array([0.05, 0.3, 0.6, 0.9, 1.1, 1.2, 1.3, 1.4, 1.6, 2.0])
    gap_c, err, from_peaks = [], [], []
    contact: dict[str, float] = {}
    for t in temps:
        y = FILM.conductance(BIAS, 5e-4, t, V_MOD)
        y = y + 0.003 * 5e-4 * rng.standard_normal(BIAS.size)
        pk = peaks.find_andreev_peaks(BIAS, y, temperature=t, v_mod_rms=V_MOD, gap=FILM.gap)
        from_peaks.append(pk.gap_c)
        p0 = {"gap_c": pk.gap_c} if pk.found else None
        r = fits.fit_film(
            BIAS, y, temperature=t, v_mod_rms=V_MOD, p0=p0, free_andreev=not contact, **contact
        )
        if not contact:
            contact = {k: r.params[k] for k in ("barrier_andreev", "gamma_andreev")}
        ok = r.success and r.params["gap_c"] > 3 * r.errors["gap_c"]
        gap_c.append(r.params["gap_c"] if ok else np.nan)
        err.append(r.errors["gap_c"])
    res = closing.fit_gap_closing(temps, gap_c, err)
    assert res.success, res.message
    assert abs(res.tc - FILM.tc) < 0.1
    assert res.gap_c0 == pytest.approx(FILM.gap_c0, abs=5e-6)
    # the peaks are found where the pair is resolved and never invented above Tc
    assert np.isfinite(from_peaks[0]) and abs(from_peaks[0] - FILM.gap_c0) < 10e-6
    assert all(np.isnan(from_peaks[i]) for i in np.nonzero(temps > FILM.tc)[0])
