"""Tc from the closing of Δc(T): Δc(T) = Δc0·tanh(1.74·√(Tc/T − 1)) (``physics.bcs_gap``).

How the uncertainty is made honest (docs/physics.md §9.5):

- **One point per temperature step.** The sweeps of one outer step (forward, backward,
  repeats) measure the same Δc at the same regulated temperature. They are combined into
  a weighted mean whose error is scaled by the PDG scale factor S = max(1, √(χ²/(N − 1)))
  of their own scatter: when two sweeps at one temperature disagree beyond their errors,
  that temperature's point carries the disagreement itself, instead of it being diluted by
  the (often over-cautious) low-temperature points in a global χ²_red.
- **The scatter pooled over the run.** One pair of sweeps measures S poorly (one degree of
  freedom), and the sweeps' errors miss the same slow noise at every step (on the
  realistic sim the forward − backward differences scatter as much beyond their errors as
  the sweeps do about the truth). So every step's error is scaled by at least the pooled
  factor √(Σχ²/Σ(N − 1)) of all steps with two or more sweeps. That factor is itself
  estimated from few degrees of freedom ν = Σ(N − 1) (5 for five forward/backward pairs),
  so the interval's level is the Student-t one: Δχ² = t²_ν(0.841) (1.23 for ν = 5).
- **Temperature.** The step's temperature is the weighted mean of its sweeps' recorded
  (measured) temperatures; their standard error σ_T enters by the effective-variance
  method: σ² = σ_Δc² + (dΔc/dT · σ_T)², the slope from the fitted law.
- **Errors never shrunk** (``andreev.analysis.uncertainty``): the covariance is
  (JᵀJ)⁻¹·max(χ²_red, 1).
- **The interval is the profile likelihood's.** Tc is found by extrapolation when the
  warmest point with a gap is well below Tc, and Δc(T) flattens at low T, so χ²(Tc) is
  far from a parabola: the linearised error is too small on the upper side. Δc0 enters
  linearly, so χ² profiled over Δc0 is exact and cheap; the one-sigma interval is where it
  stays within max(χ²_red, 1) (× the Student-t factor above) of its minimum (Δχ² = 1 with
  the Birge scaling). The upper
  side is infinite when the data do not close the gap within ``TC_SEARCH`` × the warmest
  temperature (then ``success`` is False: the data give a lower limit only).
  ``tc_error`` is the larger side.

A sweep whose fit is flagged "poor fit" stays in with its errors already inflated by
√χ²_red (``andreev.analysis.uncertainty``); when it disagrees with the other sweeps of its
step, the scale factor above widens that step's error further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult, brentq, least_squares

from andreev import physics
from andreev.analysis.uncertainty import error_inflation, reduced_chi2, standard_errors

#: the profile of Tc is searched up to this multiple of the warmest temperature with a gap
TC_SEARCH = 10.0
#: a Tc above this multiple of the warmest temperature with a gap is called extrapolated
EXTRAPOLATED = 1.25

ArrayLike = Sequence[float] | np.ndarray


@dataclass
class GapClosingResult:
    """Fit of Δc(T) = Δc0·tanh(1.74·sqrt(Tc/T − 1)): ``gap_c0`` (eV), ``tc`` (K), errors.

    ``tc_error_low``/``tc_error_high`` (K) are the sides of the profile-likelihood
    interval (``tc_error`` the larger; inf when the data do not bound Tc from above);
    ``n_points`` the temperature steps fitted, ``n_sweeps`` the sweeps in them.
    """

    gap_c0: float
    tc: float
    gap_c0_error: float
    tc_error: float
    success: bool
    message: str
    chi2_red: float = float("nan")
    n_points: int = 0
    tc_error_low: float = float("nan")
    tc_error_high: float = float("nan")
    n_sweeps: int = 0

    def curve(self, temperature: np.ndarray) -> np.ndarray:
        """Fitted Δc (eV) at ``temperature`` (K)."""
        t = np.asarray(temperature, dtype=float)
        if not (self.success or math.isfinite(self.tc)):
            return np.full_like(t, np.nan)
        return np.asarray(physics.bcs_gap(t, self.gap_c0, self.tc), dtype=float)


def _failure(message: str, n_points: int = 0) -> GapClosingResult:
    nan = float("nan")
    return GapClosingResult(nan, nan, nan, nan, False, message, n_points=n_points)


@dataclass(frozen=True)
class _Points:
    """Per temperature step: T (K), its standard error (K), Δc (eV), error (eV); the
    sweeps in all, and the degrees of freedom Σ(N − 1) their scale factors came from."""

    t: np.ndarray
    t_err: np.ndarray
    y: np.ndarray
    e: np.ndarray
    n_sweeps: int
    dof: int = 0


def _combine(t: np.ndarray, y: np.ndarray, e: np.ndarray) -> tuple[float, ...]:
    """Weighted mean of one step's sweeps: (T, σ_T, Δc, its error unscaled, χ² of the
    sweeps about the mean, degrees of freedom N − 1)."""
    w = 1.0 / e**2
    mean = float(np.sum(w * y) / np.sum(w))
    err = math.sqrt(1.0 / float(np.sum(w)))
    t_mean = float(np.sum(w * t) / np.sum(w))
    if y.size < 2:
        return t_mean, 0.0, mean, err, 0.0, 0
    chi2 = float(np.sum(w * (y - mean) ** 2))
    t_err = float(np.std(t, ddof=1)) / math.sqrt(t.size)
    return t_mean, t_err, mean, err, chi2, y.size - 1


def _scaled(rows: np.ndarray) -> np.ndarray:
    """Each step's error × max(its own PDG factor √(χ²/(N − 1)), the pooled one
    √(Σχ²/Σ(N − 1)) of every step with ≥ 2 sweeps, 1)."""
    chi2, dof = rows[:, 4], rows[:, 5]
    pooled = math.sqrt(float(np.sum(chi2)) / float(np.sum(dof))) if np.sum(dof) > 0 else 1.0
    own = np.sqrt(np.divide(chi2, dof, out=np.zeros_like(chi2), where=dof > 0))
    return rows[:, 3] * np.maximum(np.maximum(own, pooled), 1.0)


def _points(t: ArrayLike, y: ArrayLike, e: ArrayLike | None, groups: ArrayLike | None) -> _Points:
    """Usable sweeps (finite, Δc > 0) combined per group (each its own without groups);
    missing errors get the median error, every error floored at 1e-3 Δc_max."""
    t_a = np.asarray(t, dtype=float).ravel()
    y_a = np.asarray(y, dtype=float).ravel()
    e_a = np.full_like(y_a, np.nan) if e is None else np.asarray(e, dtype=float).ravel()
    g_a = np.arange(t_a.size) if groups is None else np.asarray(groups).ravel()
    if not (t_a.size == y_a.size == e_a.size == g_a.size):
        raise ValueError("arrays differ in length")
    ok = np.isfinite(t_a) & np.isfinite(y_a) & (t_a > 0) & (y_a > 0)
    t_a, y_a, e_a, g_a = t_a[ok], y_a[ok], e_a[ok], g_a[ok]
    good_e = np.isfinite(e_a) & (e_a > 0)
    if y_a.size:
        fill = float(np.median(e_a[good_e])) if np.any(good_e) else 0.05 * float(np.max(y_a))
        e_a = np.maximum(np.where(good_e, e_a, fill), 1e-3 * float(np.max(y_a)))
    rows = [_combine(t_a[g_a == g], y_a[g_a == g], e_a[g_a == g]) for g in np.unique(g_a)]
    arr = np.array(rows, dtype=float).reshape(-1, 6)
    dof = int(np.sum(arr[:, 5]))
    return _Points(arr[:, 0], arr[:, 1], arr[:, 2], _scaled(arr), int(y_a.size), dof)


def _student_level(dof: int) -> float:
    """Δχ² of a one-sigma (68.3 %) interval when the errors were scaled by a factor
    estimated from ``dof`` degrees of freedom: the Student-t quantile squared (1 without)."""
    if dof <= 0:
        return 1.0
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + 0.5 * math.erf(1.0 / math.sqrt(2.0)), dof)) ** 2


def _start(t: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Starting Δc0 (eV, the low-T median) and Tc (K, from inverting BCS at the top T)."""
    t_max = float(np.max(t))
    low = t <= np.min(t) + 0.25 * np.ptp(t)
    gap0 = float(np.median(y[low]))
    frac = float(np.clip(y[np.argmax(t)] / gap0, 0.05, 0.999))
    tc = t_max / (1.0 - (np.arctanh(frac) / 1.74) ** 2 + 1e-12) if frac < 0.999 else 0
    tc = float(np.clip(tc, 1.02 * t_max, 10.0 * t_max)) if tc else 1.3 * t_max
    return gap0, tc


def _slope(t: np.ndarray, gap0: float, tc: float) -> np.ndarray:
    """dΔc/dT (eV/K) of the closing law at T (central difference, 0.1 % of T)."""
    h = 1e-3 * t
    up = np.asarray(physics.bcs_gap(t + h, gap0, tc), dtype=float)
    dn = np.asarray(physics.bcs_gap(t - h, gap0, tc), dtype=float)
    return (up - dn) / (2.0 * h)


def _profile(p: _Points, sigma: np.ndarray, tc: float) -> float:
    """χ² at ``tc`` (K) minimised over Δc0 (linear in it)."""
    f = np.asarray(physics.bcs_gap(p.t, 1.0, tc), dtype=float)
    w = 1.0 / sigma**2
    den = float(np.sum(w * f * f))
    gap0 = float(np.sum(w * f * p.y)) / den if den > 0 else 0.0
    return float(np.sum(w * (p.y - gap0 * f) ** 2))


def _interval(
    p: _Points, sigma: np.ndarray, tc: float, lo: float, step: float
) -> tuple[float, float]:
    """(low, high) sides (K) of the profile-likelihood interval of Tc around ``tc``:
    χ²(Tc) ≤ χ²(tc) + ``step``; the low side stops at ``lo``, the high side is inf when
    χ² stays below the level up to ``TC_SEARCH`` × the warmest temperature."""
    level = _profile(p, sigma, tc) + step

    def excess(x: float) -> float:
        return _profile(p, sigma, x) - level

    low = tc - lo
    if excess(lo) > 0 and tc > lo:
        low = tc - brentq(excess, lo, tc, xtol=1e-6 * tc)
    hi_end = TC_SEARCH * float(np.max(p.t))
    high = math.inf
    if hi_end > tc and excess(hi_end) > 0:
        high = brentq(excess, tc, hi_end, xtol=1e-6 * tc) - tc
    return float(low), float(high)


def fit_gap_closing(
    temperatures: ArrayLike,
    gap_c: ArrayLike,
    errors: ArrayLike | None = None,
    groups: ArrayLike | None = None,
) -> GapClosingResult:
    """Fit Δc(T) = Δc0·tanh(1.74·sqrt(Tc/T − 1)) to per-sweep Δc (eV) at measured T (K).

    ``errors`` (eV) weight the points (non-finite or zero ones get the median error);
    ``groups`` labels the sweeps of one temperature step (combined first, see the module
    docstring; None: every sweep its own step). Points whose Δc is NaN ("no peak") are
    left out. Tc is bounded below by the warmest temperature that still shows a gap. Never
    raises for bad data: returns ``success=False`` with a message.
    """
    try:
        p = _points(temperatures, gap_c, errors, groups)
    except ValueError as exc:
        return _failure(str(exc))
    n_temps = np.unique(np.round(np.log(p.t) / 0.02)).size if p.t.size else 0
    if p.t.size < 3 or n_temps < 3:
        return _failure(f"need ≥ 3 distinct temperatures with a gap, have {n_temps}", p.t.size)
    gap0, tc0 = _start(p.t, p.y)
    scale = np.array([gap0, float(np.max(p.t))])
    sigma = p.e
    lo = np.array([1e-3, 1.0 + 1e-9])
    hi = np.array([100.0, TC_SEARCH])
    x0 = np.clip(np.array([1.0, tc0 / scale[1]]), lo + 1e-6, hi - 1e-6)
    ls = None
    for _ in range(3):  # effective variance: σ_T through the slope of the current fit

        def resid(q: np.ndarray, s: np.ndarray = sigma) -> np.ndarray:
            model = physics.bcs_gap(p.t, float(q[0] * scale[0]), float(q[1] * scale[1]))
            return (np.asarray(model, dtype=float) - p.y) / s

        try:
            ls = least_squares(resid, x0, bounds=(lo, hi), method="trf", max_nfev=500)
        except (ValueError, ArithmeticError) as exc:
            return _failure(f"fit error: {exc}", p.t.size)
        x0 = ls.x
        slope = _slope(p.t, float(ls.x[0] * scale[0]), float(ls.x[1] * scale[1]))
        sigma = np.sqrt(p.e**2 + (slope * p.t_err) ** 2)
    assert ls is not None
    return _result(p, ls, sigma, scale, lo)


def _result(
    p: _Points, ls: OptimizeResult, sigma: np.ndarray, scale: np.ndarray, lo: np.ndarray
) -> GapClosingResult:
    """The closing fit's result: linearised Δc0 error, profile interval of Tc, message."""
    fun, jac, x = ls.fun, ls.jac, ls.x
    s2 = reduced_chi2(fun, 2)
    err = standard_errors(jac, s2, scale)
    gap0, tc = float(x[0] * scale[0]), float(x[1] * scale[1])
    t_top = float(np.max(p.t))
    ok = bool(ls.success) and bool(np.all(np.isfinite(err)))
    msg = "converged" if ok else "did not converge or covariance singular"
    low, high = math.nan, math.nan
    if math.isfinite(tc):
        step = error_inflation(s2) * _student_level(p.dof)
        low, high = _interval(p, sigma, tc, t_top * lo[1], step)
    if abs(x[1] - lo[1]) < 1e-6:
        msg += "; Tc at its lower bound (the warmest temperature with a gap)"
    if tc > EXTRAPOLATED * t_top:
        msg += f"; extrapolated: warmest Δc at {t_top:.3g} K = {t_top / tc:.2f} Tc"
    if not math.isfinite(high):
        ok = False
        msg += f"; Tc > {tc - low:.3g} K only: not bounded from above by the data"
    msg += "; interval: profile likelihood"
    return GapClosingResult(
        gap_c0=gap0,
        tc=tc,
        gap_c0_error=float(err[0]),
        tc_error=float(max(low, high)),
        success=ok,
        message=msg,
        chi2_red=s2,
        n_points=int(p.t.size),
        tc_error_low=float(low),
        tc_error_high=float(high),
        n_sweeps=p.n_sweeps,
    )
