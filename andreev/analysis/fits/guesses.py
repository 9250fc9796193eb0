"""Starting values of the spectrum fits, guessed from the data.

The gap from the coherence peaks (Dynes, film) or the steepest outward fall (BTK), G_N
from the high-bias conductance, Γ and Z from the zero-bias conductance, Δc from the in-gap
peak pair of ``andreev.analysis.peaks``. Units: bias V, dI/dV S, energies eV.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from andreev import physics
from andreev.analysis.peaks import find_andreev_peaks
from andreev.analysis.spectrum import high_bias_conductance, smoothed, sorted_finite


def coherence_peak_position(bias: np.ndarray, didv: np.ndarray) -> float:
    """|V| (V) of the largest smoothed dI/dV maximum, averaged over the two bias signs."""
    b, g = sorted_finite(bias, didv)
    s = smoothed(g)
    vmax = np.max(np.abs(b))
    pos = []
    for sign in (1.0, -1.0):
        sel = (sign * b > 0.02 * vmax) & (sign * b < 0.95 * vmax)
        if np.any(sel):
            i = np.argmax(s[sel])
            pos.append(abs(b[sel][i]))
    return float(np.mean(pos)) if pos else float(0.3 * vmax)


def steepest_edge_position(bias: np.ndarray, didv: np.ndarray) -> float:
    """|V| (V) where the smoothed dI/dV falls fastest going outwards (both signs averaged).

    Marks the gap edge of BTK spectra of any barrier (a plateau edge at Z ≈ 0, the outer
    flank of the coherence peak at large Z).
    """
    b, g = sorted_finite(bias, didv)
    s = smoothed(g)
    ds = np.gradient(s, b)
    vmax = np.max(np.abs(b))
    pos = []
    for sign in (1.0, -1.0):
        sel = (sign * b > 0.02 * vmax) & (sign * b < 0.95 * vmax)
        if np.any(sel):
            i = np.argmin(sign * ds[sel])
            pos.append(abs(b[sel][i]))
    return float(np.mean(pos)) if pos else float(0.3 * vmax)


def _zero_bias_ratio(bias: np.ndarray, didv: np.ndarray, g_n: float) -> float:
    """dI/dV near zero bias over G_N (1)."""
    b, g = sorted_finite(bias, didv)
    vmax = np.max(np.abs(b))
    sel = np.abs(b) <= 0.02 * vmax
    if not np.any(sel):
        sel = np.abs(b) == np.min(np.abs(b))
    return float(np.median(g[sel]) / g_n) if g_n > 0 else 0.0


def guess_dynes(bias: np.ndarray, didv: np.ndarray) -> dict[str, float]:
    """Starting values for ``fit_dynes``: gap from the coherence peaks, G_N from high bias."""
    b, g = sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    gap = coherence_peak_position(b, g)
    # high-bias Dynes conductance |V|/sqrt(V² − Δ²) is still above 1: divide it out
    g_hi = high_bias_conductance(b, g)
    v_hi = 0.925 * vmax
    factor = v_hi / math.sqrt(v_hi**2 - gap**2) if v_hi > 1.05 * gap else 1.0
    g_n = g_hi / factor
    g0 = min(max(_zero_bias_ratio(b, g, g_n), 1e-4), 0.9)
    gamma = gap * g0 / math.sqrt(1.0 - g0**2)
    return {"gap": gap, "gamma": float(np.clip(gamma, 1e-3 * gap, 0.5 * gap)), "g_normal": g_n}


def _z_from_zero_bias(g0: float) -> float:
    """Barrier Z whose T=0 BTK zero-bias conductance 2(1+Z²)/(1+2Z²)² equals ``g0``."""
    g0 = float(np.clip(g0, 1e-3, 1.999))

    def f(z: float) -> float:
        return 2.0 * (1.0 + z * z) / (1.0 + 2.0 * z * z) ** 2 - g0

    return float(brentq(f, 0.0, 100.0))


def guess_btk(bias: np.ndarray, didv: np.ndarray) -> dict[str, float]:
    """Starting values for ``fit_btk``: gap from the steepest outward fall, Z from g(0)."""
    b, g = sorted_finite(bias, didv)
    gap = steepest_edge_position(b, g)
    g_n = high_bias_conductance(b, g)
    z = _z_from_zero_bias(_zero_bias_ratio(b, g, g_n))
    return {"gap": gap, "barrier": max(z, 0.05), "gamma": 0.02 * gap, "g_normal": g_n}


def guess_film(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float = 0.0,
    v_mod_rms: float = 0.0,
) -> dict[str, float]:
    """Starting values for ``fit_film``.

    Δ, Γ and G_N as for Dynes (outermost coherence peak); Δc from the in-gap peak pair of
    ``andreev.analysis.peaks`` when one is found, else Δ/5; the Andreev weight from the
    excess conductance at Δc over the Dynes background.
    """
    b, g = sorted_finite(bias, didv)
    d = guess_dynes(b, g)
    gap, gamma, g_n = d["gap"], d["gamma"], d["g_normal"]
    pk = find_andreev_peaks(b, g, temperature=temperature, v_mod_rms=v_mod_rms, gap=gap)
    gap_c = pk.gap_c if pk.found else 0.2 * gap
    at = np.abs(b) <= max(gap_c, 2.0 * float(np.mean(np.diff(b))))
    g_bg = g_n * physics.dynes_conductance(b[at], gap, gamma, temperature, v_mod_rms)
    excess = float(np.max(g[at] - g_bg)) if np.any(at) else 0.0
    weight = float(np.clip(excess / (1.5 * g_n), 0.02, 5.0)) if g_n > 0 else 0.1
    return {"gap": gap, "gap_c": gap_c, "gamma": gamma, "andreev_weight": weight, "g_normal": g_n}
