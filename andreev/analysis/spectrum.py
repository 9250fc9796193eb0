"""Plain helpers on one measured spectrum (bias V, dI/dV S) shared by fits and peaks.

Nothing here fits anything: sorting and cleaning, the white-noise level, smoothing and
the high-bias (normal-state) conductance.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_filter


def sorted_finite(bias: np.ndarray, didv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The finite (bias V, dI/dV S) points, sorted by bias (stable)."""
    bias = np.asarray(bias, dtype=float)
    didv = np.asarray(didv, dtype=float)
    ok = np.isfinite(bias) & np.isfinite(didv)
    order = np.argsort(bias[ok], kind="stable")
    return bias[ok][order], didv[ok][order]


def noise_sigma(didv: np.ndarray) -> float:
    """Robust white-noise level (S) of a spectrum from its second differences.

    For white noise σ, x[i+1] − 2x[i] + x[i−1] has std σ√6; the median absolute value
    (×1.4826) ignores the few points where the signal itself curves.
    """
    y = np.asarray(didv, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 5:
        return float("nan")
    d2 = y[2:] - 2.0 * y[1:-1] + y[:-2]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


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
