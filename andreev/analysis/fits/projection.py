"""What the film fit and its free-Z_A refit share: the fixed data of one fit
(:class:`Problem`) and the bounded solve of its two linear parameters
(:func:`bounded_linear`). Below both, so neither imports the other's module for them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from andreev.analysis.fits.channels import FilmChannels

__all__ = ["Problem", "bounded_linear"]


def bounded_linear(
    a: np.ndarray, b: np.ndarray, g_lim: tuple[float, float], w_lim: tuple[float, float]
) -> tuple[float, float, np.ndarray]:
    """min ‖a·c − b‖ over c = (g, g·w), g ∈ g_lim, w ∈ w_lim (g_lim[0] ≥ 0).

    The feasible set is a convex quadrilateral in (c1, c2). Returns g, w and the directions
    (2×k, k = 2 inside, 1 on an edge, 0 at a corner) in which c is still free.
    """
    gl, gh = g_lim
    wl, wh = w_lim
    h = a.T @ a
    rhs = a.T @ b

    def cost(c: np.ndarray) -> float:
        return float(c @ h @ c - 2.0 * rhs @ c)

    def split(c: np.ndarray, w_default: float) -> tuple[float, float]:
        g = float(c[0])
        return g, (float(c[1]) / g if g > 0 else w_default)

    try:
        c, *_ = np.linalg.lstsq(a, b, rcond=None)
    except np.linalg.LinAlgError:
        c = np.array([np.nan, np.nan])
    if np.all(np.isfinite(c)):
        g, w = split(c, 0.5 * (wl + wh))
        if gl <= g <= gh and wl <= w <= wh and g > 0:
            return g, w, np.eye(2)
    corners = [np.array([g_, g_ * w_]) for g_, w_ in ((gl, wl), (gh, wl), (gh, wh), (gl, wh))]
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for k in range(4):
        p, q = corners[k], corners[(k + 1) % 4]
        d = q - p
        dhd = float(d @ h @ d)
        tt = float(np.clip((rhs @ d - p @ h @ d) / dhd, 0.0, 1.0)) if dhd > 0 else 0.0
        cand = p + tt * d
        f = cost(cand)
        if best is None or f < best[0]:
            free = d[:, None] / max(float(np.linalg.norm(d)), 1e-300) if 0 < tt < 1 else None
            best = (f, cand, free if free is not None else np.zeros((2, 0)))
    assert best is not None
    g, w = split(best[1], wl)
    return g, min(max(w, wl), wh), best[2]


@dataclass(frozen=True)
class Problem:
    """One film fit's fixed data: the channels on the finite bias points ``x`` (V), the
    weighted data ``wy`` = y/σ, ``inv_sig`` = 1/σ as an n×1 column, and the bounds of the
    linear parameters G_N (S) and w (1)."""

    ch: FilmChannels
    x: np.ndarray
    wy: np.ndarray
    inv_sig: np.ndarray
    g_lim: tuple[float, float]
    w_lim: tuple[float, float]
