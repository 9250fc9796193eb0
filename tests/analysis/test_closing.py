"""Tc from the closing of Δc(T): one point per temperature step, the profile-likelihood
interval, errors never shrunk (andreev.analysis.closing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev import physics
from andreev.analysis.closing import _points, _student_level, fit_gap_closing

TC, GAP0 = 1.45, 0.1e-3


def _series(temps: np.ndarray, err: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.asarray(physics.bcs_gap(temps, GAP0, TC)) + err * rng.standard_normal(temps.size)


def test_extrapolated_tc_has_a_longer_upper_side():
    """Points far below Tc: Δc(T) is flat there, so the data bound Tc from below much
    better than from above; the interval says so, and the truth lies within it."""
    temps = np.repeat([0.05, 0.3, 0.6, 0.8, 1.0], 2)
    r = fit_gap_closing(temps, _series(temps, 4e-6, 1), np.full(temps.size, 4e-6))
    assert r.success, r.message
    assert r.tc_error_high > 1.2 * r.tc_error_low > 0
    assert r.tc_error == r.tc_error_high and "extrapolated" in r.message
    side = r.tc_error_low if r.tc > TC else r.tc_error_high
    assert abs(r.tc - TC) < 3 * side


def test_coverage_of_the_interval_over_seeds():
    """Over 40 noise draws the truth lies within the 1σ interval about 68 % of the time
    and within 3σ always (a linearised error would undercover the upper side)."""
    temps = np.repeat([0.05, 0.3, 0.7, 1.0, 1.2], 2)
    inside, pulls = 0, []
    for seed in range(40):
        r = fit_gap_closing(temps, _series(temps, 2e-6, seed), np.full(temps.size, 2e-6))
        side = r.tc_error_low if r.tc > TC else r.tc_error_high
        pulls.append(abs(r.tc - TC) / side)
        inside += pulls[-1] < 1
    assert 0.5 <= inside / 40 <= 0.85, pulls
    assert max(pulls) < 3.5, pulls


def test_disagreeing_sweeps_of_one_step_carry_their_scatter():
    """Two sweeps of one temperature step that disagree by 6σ: that step's error grows by
    the PDG scale factor, so Tc's interval widens; agreeing pairs are left as they are."""
    temps = np.repeat([0.05, 0.3, 0.7, 1.0, 1.2], 2)
    steps = np.repeat(np.arange(5), 2)
    err = np.full(temps.size, 1e-6)
    y = _series(temps, 0.0, 0)
    agree = fit_gap_closing(temps, y, err, groups=steps)
    y_bad = y.copy()
    y_bad[-2:] += np.array([-3e-6, 3e-6])  # the warmest pair: 6σ apart, same mean
    bad = fit_gap_closing(temps, y_bad, err, groups=steps)
    assert agree.n_points == bad.n_points == 5 and bad.n_sweeps == 10
    assert bad.tc == pytest.approx(agree.tc, abs=1e-3)
    assert bad.tc_error_low > 2 * agree.tc_error_low


def test_the_pooled_scatter_widens_a_step_whose_pair_agrees_by_chance():
    """Sweeps whose errors are 2× too small at every step: four pairs show it (each 4σ
    apart), the warmest pair happens to agree. Its error is scaled by the factor pooled
    over the run, not left at 1 from its own single degree of freedom."""
    temps = np.repeat([0.05, 0.3, 0.7, 1.0, 1.2], 2)
    steps = np.repeat(np.arange(5), 2)
    err = np.full(temps.size, 1e-6)
    y = _series(temps, 0.0, 0)
    y_scatter = y + np.array([-2e-6, 2e-6] * 4 + [0.0, 0.0])
    p = _points(temps, y_scatter, err, steps)
    own = math.sqrt(8.0)  # χ² = 2² + 2² of a scattered pair, 1 degree of freedom
    pooled = math.sqrt(4 * 8.0 / 5)  # 4 such pairs and one agreeing: 5 degrees of freedom
    expected = np.array([own] * 4 + [pooled]) * 1e-6 / math.sqrt(2)
    np.testing.assert_allclose(p.e, expected, rtol=1e-9)
    lone = fit_gap_closing(temps, y, err, groups=steps)
    wide = fit_gap_closing(temps, y_scatter, err, groups=steps)
    assert wide.tc_error_low > 2 * lone.tc_error_low


def test_a_scale_estimated_from_few_pairs_widens_the_interval_as_student_t():
    """Five steps of two identical sweeps (scale factor 1, but estimated from 5 degrees of
    freedom) against the same five points given once each with the combined error: the
    interval's Δχ² level is t²₅(0.841) = 1.23, so its sides are ≈ 1.11 × wider."""
    assert _student_level(0) == 1.0
    assert _student_level(5) == pytest.approx(1.232, abs=2e-3)
    assert _student_level(10_000) == pytest.approx(1.0, abs=1e-3)
    temps = np.array([0.05, 0.3, 0.7, 1.0, 1.2])
    y = _series(temps, 0.0, 0)
    once = fit_gap_closing(temps, y, np.full(5, 1e-6))
    pairs = fit_gap_closing(
        np.repeat(temps, 2),
        np.repeat(y, 2),
        np.full(10, math.sqrt(2) * 1e-6),
        np.repeat(range(5), 2),
    )
    assert pairs.tc == pytest.approx(once.tc, abs=1e-6)
    for side in ("tc_error_low", "tc_error_high"):
        ratio = getattr(pairs, side) / getattr(once, side)
        assert ratio == pytest.approx(math.sqrt(_student_level(5)), rel=0.03), side


def test_unbounded_tc_is_a_lower_limit_only():
    """Δc flat within the noise: no upper bound on Tc, reported as a failure that states
    the lower limit."""
    temps = np.array([0.05, 0.1, 0.2, 0.3])
    r = fit_gap_closing(temps, GAP0 + np.array([0, 1e-7, -1e-7, 0]), np.full(4, 2e-6))
    assert not r.success and math.isinf(r.tc_error_high)
    assert "not bounded from above" in r.message


def test_fit_gap_closing_on_exact_bcs_points():
    rng = np.random.default_rng(3)
    t = np.array([0.05, 0.3, 0.6, 0.8, 1.0, 1.1, 1.2, 1.3, 1.4])
    err = np.full(t.size, 1e-6)
    y = np.asarray(physics.bcs_gap(t, 0.1e-3, 1.45)) + err * rng.standard_normal(t.size)
    r = fit_gap_closing(t, y, err)
    assert r.success, r.message
    assert r.tc == pytest.approx(1.45, abs=0.03)
    assert r.gap_c0 == pytest.approx(0.1e-3, rel=0.02)
    assert 0 < r.tc_error < 0.1
    assert r.curve(np.array([2.0]))[0] == 0.0


def test_fit_gap_closing_needs_three_temperatures():
    r = fit_gap_closing([0.05, 0.05, 0.3, np.nan], [1e-4, 1e-4, 0.98e-4, np.nan])
    assert not r.success and "3" in r.message
