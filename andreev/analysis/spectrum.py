"""Plain helpers on one measured spectrum (bias V, dI/dV S) shared by fits and peaks.

Nothing here fits anything: sorting and cleaning, the white-noise level (from the
residuals of a local smooth fit, or the difference of two sweeps), smoothing and the
high-bias (normal-state) conductance.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_coeffs, savgol_filter


def sorted_finite(bias: np.ndarray, didv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finite (bias V, dI/dV S) points, sorted by bias (stable)."""
    bias = np.asarray(bias, dtype=float)
    didv = np.asarray(didv, dtype=float)
    ok = np.isfinite(bias) & np.isfinite(didv)
    order = np.argsort(bias[ok], kind="stable")
    return bias[ok][order], didv[ok][order]


#: Savitzky–Golay window (points) and order of the local smooth fit the noise is read from
NOISE_WINDOW = 7
NOISE_ORDER = 3
#: the part of the bias range (|V| ≥ this × max |V|) where the point noise is read when the
#: bias is known: outside the gaps, where the signal is smooth on the scale of a few points
NOISE_OUTER = 0.6


def local_residual_sigma(y: np.ndarray) -> float:
    """White-noise level (units of ``y``) from the residuals of a local smooth fit.

    A cubic Savitzky–Golay fit over ``NOISE_WINDOW`` points follows any signal that is
    smooth on that scale; for white noise σ the residual has variance σ²(1 − c₀) (c₀ the
    filter's centre coefficient), so σ = rms(residual)/√(1 − c₀). Points beyond 5 robust
    standard deviations (a telegraph jump, a glitch) are left out. NaN for < 2 windows.
    """
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    w = NOISE_WINDOW
    if y.size < 2 * w:
        return float("nan")
    c0 = float(savgol_coeffs(w, NOISE_ORDER)[w // 2])
    r = (y - savgol_filter(y, w, NOISE_ORDER, mode="interp"))[w // 2 : -(w // 2)]
    mad = 1.4826 * float(np.median(np.abs(r)))
    keep = np.abs(r) <= 5.0 * mad if mad > 0 else np.ones(r.size, dtype=bool)
    return float(math.sqrt(np.mean(r[keep] ** 2) / (1.0 - c0)))


def noise_sigma(didv: np.ndarray, bias: np.ndarray | None = None) -> float:
    """Point noise (S) of one spectrum from the residuals of a local smooth fit.

    With ``bias`` (V) the noise is read outside the gaps (|V| ≥ ``NOISE_OUTER`` × max |V|,
    each sign on its own, combined in quadrature), where a local cubic follows the signal
    even on a coarse bias grid; without it over the whole spectrum (sorted by bias).
    """
    y = np.asarray(didv, dtype=float)
    if bias is None:
        return local_residual_sigma(y)
    b, g = sorted_finite(bias, y)
    if b.size == 0:
        return float("nan")
    vmax = float(np.max(np.abs(b)))
    parts = [local_residual_sigma(g[sign * b >= NOISE_OUTER * vmax]) for sign in (1.0, -1.0)]
    parts = [p for p in parts if math.isfinite(p)]
    if not parts:
        return local_residual_sigma(g)
    return float(math.sqrt(np.mean(np.square(parts))))


def pair_noise_sigma(first: np.ndarray, second: np.ndarray) -> float:
    """Point noise (S) of one of two sweeps of the same spectrum (forward and backward).

    The signal cancels in their difference; a slow drift between them is followed by the
    local smooth fit, so what is left is the white noise of both: σ = σ(difference)/√2.
    """
    d = np.asarray(first, dtype=float) - np.asarray(second, dtype=float)
    return local_residual_sigma(d) / math.sqrt(2.0)


def pair_drift(first: np.ndarray, second: np.ndarray) -> float:
    """Relative rms (1) of a slow multiplicative drift of G, from two sweeps of a spectrum.

    The relative difference (first − second)/mean, smoothed over 1/8 of the sweep (what a
    local fit keeps) and with its mean removed (a constant offset is each sweep's own G_N),
    holds the drift of both sweeps. Its linear part is what a drift linear in time leaves
    when the two sweeps run in opposite directions: a ramp (in bias order) with twice the
    slope of the ramp in one sweep; the rest is shared by the two sweeps (rms/√2). Only points where
    G is at least half its median count (inside a tunnelling gap the relative difference
    is noise). NaN for fewer than 24 such points.
    """
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    m = 0.5 * (a + b)
    ok = np.isfinite(a) & np.isfinite(b) & (np.abs(m) > 0)
    # where G is small (inside a tunnelling gap) the relative difference is only noise
    ok &= np.abs(m) >= 0.5 * float(np.median(np.abs(m[ok]))) if np.any(ok) else ok
    if np.count_nonzero(ok) < 24:
        return float("nan")
    r = (a[ok] - b[ok]) / m[ok]
    win = max(11, (r.size // 8) | 1)
    low = savgol_filter(r, win, 2, mode="interp")
    u = np.linspace(-1.0, 1.0, low.size)
    ramp = np.polyval(np.polyfit(u, low, 1), u)
    rest = low - ramp
    return float(math.sqrt(np.var(rest) / 2.0 + (np.std(ramp) / 2.0) ** 2))


def point_sigma(didv: np.ndarray, white: float, drift: float) -> np.ndarray:
    """Per-point noise (S) of a spectrum: white ``white`` (S) and a multiplicative drift of
    relative rms ``drift`` (1) in quadrature, σᵢ = √(white² + (drift·Gᵢ)²)."""
    g = np.abs(np.asarray(didv, dtype=float))
    d = drift if math.isfinite(drift) else 0.0
    return np.sqrt(white**2 + (d * np.nan_to_num(g)) ** 2)


def smoothed(didv: np.ndarray) -> np.ndarray:
    """Savitzky–Golay (order 2) smoothing over ~1/60 of the points (at least 5)."""
    n = didv.size
    win = max(5, (n // 60) | 1)
    if win >= n:
        return didv.copy()
    return np.asarray(savgol_filter(didv, win, 2), dtype=float)


def high_bias_conductance(bias: np.ndarray, didv: np.ndarray, fraction: float = 0.15) -> float:
    """Median dI/dV (S) over the outer ``fraction`` of the bias range on both sides."""
    b, g = sorted_finite(bias, didv)
    vmax = np.max(np.abs(b))
    sel = np.abs(b) >= (1.0 - fraction) * vmax
    return float(np.median(g[sel])) if np.any(sel) else float(np.median(g))
