"""The film fit's solver: variable projection on the two channels of ``channels``.

The fit is a 3-parameter nonlinear fit of (Δ, Δc, Γ) in which (G_N, G_N·w) are solved by
bounded linear least squares at every evaluation, with the analytic Jacobian of the
projected residual (Kaufman) built from the analytic derivatives of the two channels: an
iteration costs 5 smearings (2 values, 3 derivatives) instead of the 2 + 5 of a numeric
5-parameter Jacobian, and ~4 iterations suffice from the start refined by
``refine_start``. Δ, Δc, Γ are fitted as logarithms. The reported residuals and χ² are
those of FilmModel.conductance (the channel sum, equal to it to ~1e-13; the model itself
when the Andreev weight is 0, as it then uses a coarser grid), the errors come from the
full 5-parameter Jacobian at the solution (``andreev.analysis.uncertainty``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult, least_squares

from andreev.analysis.fits.channels import FilmChannels
from andreev.analysis.fits.engine import (
    Bounds,
    FitData,
    FitFailure,
    FitResult,
    Solution,
    make_result,
    prepare,
    solve_guarded,
    start_values,
)
from andreev.analysis.fits.models import MODELS, film_model
from andreev.analysis.fits.projection import Problem, bounded_linear

#: the nonlinear parameters of the film fit, in the order of the solver's q = ln θ
NL_NAMES = ("gap", "gap_c", "gamma")
# relative tolerance on χ² (and on the ln-parameter step): for ~1000 points the fit stops
# once an iteration lowers χ² by less than ~0.01, i.e. ≪ 1 standard error from the optimum
_FILM_TOL = 1e-5
_MODEL = "film"


@dataclass(frozen=True)
class _Limits:
    """Bounds of (Δ, Δc, Γ) in eV (lo > 0; ``eps`` keeps starts off them) and of the
    linear parameters G_N (S) and w (1)."""

    lo: np.ndarray
    hi: np.ndarray
    eps: np.ndarray
    g_lim: tuple[float, float]
    w_lim: tuple[float, float]


def _limits(bounds: Bounds) -> _Limits:
    lo = np.array([bounds[k][0] for k in NL_NAMES], dtype=float)
    hi = np.array([bounds[k][1] for k in NL_NAMES], dtype=float)
    # Δ, Δc, Γ > 0 are fitted as q = ln(θ): the broadening in particular may start
    # several times off, and steps in ln Γ follow its scale
    lo = np.maximum(lo, 1e-300)
    if not np.all(hi > lo):
        raise FitFailure("empty bounds")
    g_lim = (max(float(bounds["g_normal"][0]), 0.0), float(bounds["g_normal"][1]))
    w_lim = (float(bounds["andreev_weight"][0]), float(bounds["andreev_weight"][1]))
    if not (g_lim[0] <= g_lim[1] and w_lim[0] <= w_lim[1]):
        raise FitFailure("empty bounds for g_normal / andreev_weight")
    return _Limits(lo, hi, 1e-9 * (hi - lo), g_lim, w_lim)


def parabola_min(u: np.ndarray, c: np.ndarray) -> float:
    """Abscissa of the least of ``c`` over decreasing ``u``, refined by the vertex of the
    parabola through it and its neighbours (kept within them)."""
    i = int(np.argmin(c))
    if 0 < i < u.size - 1 and np.all(np.isfinite(c[i - 1 : i + 2])):
        d1 = (c[i - 1] - c[i]) / (u[i - 1] - u[i])
        d2 = (c[i] - c[i + 1]) / (u[i] - u[i + 1])
        curv = (d1 - d2) / (u[i - 1] - u[i + 1])
        if curv > 0:
            return float(np.clip(0.5 * (u[i - 1] + u[i]) - d1 / (2.0 * curv), u[i + 1], u[i - 1]))
    return float(u[i])


# ---------------------------------------------------------------------------- start refinement


def _projected_cost(pb: Problem, a1: np.ndarray, a2: np.ndarray, yy: float) -> float:
    """χ² with G_N and the weight solved linearly for the weighted channels a1, a2."""
    h11, h12, h22 = a1 @ a1, a1 @ a2, a2 @ a2
    b1, b2 = a1 @ pb.wy, a2 @ pb.wy
    det = h11 * h22 - h12 * h12
    if det > 0:
        g = (b1 * h22 - b2 * h12) / det
        c2 = (h11 * b2 - h12 * b1) / det
        if pb.g_lim[0] <= g <= pb.g_lim[1] and g > 0 and pb.w_lim[0] <= c2 / g <= pb.w_lim[1]:
            return float(yy - (g * b1 + c2 * b2))
    g, wt, _ = bounded_linear(np.column_stack([a1, a2]), pb.wy, pb.g_lim, pb.w_lim)
    r = g * (a1 + wt * a2) - pb.wy
    return float(r @ r)


def _peak_shift(pb: Problem, phi1: np.ndarray, gap: float) -> float:
    """How far (V) the smeared Dynes channel's peak sits outside Δ (0 if implausible)."""
    order = np.argsort(pb.x, kind="stable")
    xs = pb.x[order]
    pos = xs[np.argmax(phi1[order] * (xs > 0))]
    neg = xs[np.argmax(phi1[order] * (xs < 0))]
    peak = float(0.5 * (pos - neg) - gap)
    return peak if abs(peak) < 0.5 * gap else 0.0


@dataclass(frozen=True)
class _Candidates:
    gamma: np.ndarray  # Γ candidates (eV)
    gap_c: np.ndarray  # Δc candidates (eV)
    rel: np.ndarray  # Δ shifts relative to Δ


def _cost_grid(
    pb: Problem, gap: float, cands: _Candidates, lo: np.ndarray, hi: np.ndarray, shift_gap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Projected χ² on the (Γ, Δ shift, Δc) candidate grid, and the Δ shifts (V) per Γ."""
    order = np.argsort(pb.x, kind="stable")
    xs, ax, w = pb.x[order], np.abs(pb.x), pb.inv_sig[:, 0]
    yy = float(pb.wy @ pb.wy)
    # channels share FilmModel's grid: its width is min(Γ, Γ_A) for every candidate here
    # unless Γ < Γ_A, when the Andreev channels are recomputed per Γ
    fw_of = [pb.ch.width(min(cands.gap_c), gm) for gm in cands.gamma]
    phi2w: dict[tuple[int, float], np.ndarray] = {}
    costs = np.empty((cands.gamma.size, cands.rel.size, cands.gap_c.size))
    shifts = np.empty((cands.gamma.size, cands.rel.size))
    for i, gm in enumerate(cands.gamma):
        phi1 = pb.ch.dynes(gap, float(gm), fw_of[i])
        peak = _peak_shift(pb, phi1, gap) if shift_gap else 0.0
        shifts[i] = np.clip(peak + gap * cands.rel, gap - hi[0], gap - lo[0])
        ys1 = phi1[order]
        for k, d in enumerate(shifts[i]):
            a1 = (np.interp(ax + d, xs, ys1) if d != 0 else phi1) * w
            for j in range(cands.gap_c.size):
                key = (j, fw_of[i])
                if key not in phi2w:
                    phi2w[key] = pb.ch.andreev(float(cands.gap_c[j]), fw_of[i]) * w
                costs[i, k, j] = _projected_cost(pb, a1, phi2w[key], yy)
    return costs, shifts


def refine_start(
    pb: Problem, start: np.ndarray, lo: np.ndarray, hi: np.ndarray, refine: Sequence[str]
) -> np.ndarray:
    """Better guessed (Δ, Δc, Γ) for the film fit, from a coarse projected grid search.

    The guesses are rough: Γ from the zero-bias conductance, which the Andreev channel
    raises several-fold; Δ from the coherence peaks, which thermal smearing moves out;
    Δc from the in-gap peaks when resolved, else Δ/5. Each parameter named in ``refine``
    gets a few candidates — Γ0·(1, 0.3, 0.1); Δc0·(1, 0.7, 0.45); for Δ, the Dynes channel
    moved in bias by the shift of its own peak and around it (φ1(|V| + δ) stands for the
    channel at Δ − δ, at no smearing cost) — and the projected χ² (G_N and the weight
    solved linearly) on the grid picks the best, refined by a parabola along each axis.
    Costs one smearing per Γ and per Δc candidate. ``lo``/``hi`` bound (Δ, Δc, Γ) in eV.
    """
    gap, gap_c, gamma = (float(v) for v in start)
    g_cands = gamma * (np.array([1.0, 0.3, 0.1]) if "gamma" in refine else np.ones(1))
    c_cands = gap_c * (np.array([1.0, 0.7, 0.45]) if "gap_c" in refine else np.ones(1))
    cands = _Candidates(
        gamma=np.clip(g_cands, lo[2], hi[2]),
        gap_c=np.clip(c_cands, lo[1], hi[1]),
        rel=np.array([0.08, 0.04, 0.0, -0.04, -0.08]) if "gap" in refine else np.zeros(1),
    )
    costs, shifts = _cost_grid(pb, gap, cands, lo, hi, "gap" in refine)
    if not np.all(np.isfinite(costs)):
        return start
    i, k, j = np.unravel_index(int(np.argmin(costs)), costs.shape)
    n_g, n_c = cands.gamma.size, cands.gap_c.size
    ug = parabola_min(np.log(cands.gamma), costs[:, k, j]) if n_g == 3 else 0.0
    uc = parabola_min(np.log(cands.gap_c), costs[i, k, :]) if n_c == 3 else 0.0
    d = parabola_min(shifts[i], costs[i, :, j]) if cands.rel.size > 1 else 0.0
    gamma = float(np.clip(math.exp(ug), lo[2], hi[2])) if n_g == 3 else gamma
    gap_c = float(np.clip(math.exp(uc), lo[1], hi[1])) if n_c == 3 else gap_c
    gap = float(np.clip(gap - d, lo[0], hi[0]))
    return np.array([gap, gap_c, gamma])


# ---------------------------------------------------------------------------- the projection


@dataclass
class _State:
    """The projected fit at one q = ln(Δ, Δc, Γ): channels, linear solution, residual."""

    theta: np.ndarray  # Δ, Δc, Γ (eV)
    a: np.ndarray  # weighted channels (n×2)
    g: float  # G_N (S)
    w: float  # Andreev weight (1)
    free: np.ndarray  # free directions of the linear solution (2×k)
    r: np.ndarray  # weighted residual
    phi: tuple[np.ndarray, np.ndarray]  # unweighted channels
    dm: np.ndarray | None = None  # scaled ∂(model/σ)/∂(Δ, Δc, Γ), once needed


class Projection:
    """Residual and Jacobian of the projected film fit as functions of q = ln(Δ, Δc, Γ).

    The last states are cached by q; at q = ln(``start``) the exact ``start`` is used (no
    rounding through exp(log)).
    """

    def __init__(self, pb: Problem, start: np.ndarray) -> None:
        self.pb = pb
        self.start = start
        self.q0 = np.log(start)
        self._states: dict[bytes, _State] = {}

    def state(self, q: np.ndarray) -> _State:
        """The (cached) state at q."""
        key = np.asarray(q, dtype=float).tobytes()
        st = self._states.get(key)
        if st is None:
            pb = self.pb
            theta = self.start if np.array_equal(q, self.q0) else np.exp(q)
            phi1, phi2 = pb.ch.values(float(theta[0]), float(theta[1]), float(theta[2]))
            a = np.column_stack([phi1, phi2]) * pb.inv_sig
            g, w, free = bounded_linear(a, pb.wy, pb.g_lim, pb.w_lim)
            r = g * (a[:, 0] + w * a[:, 1]) - pb.wy
            if len(self._states) > 16:
                self._states.clear()
            st = self._states[key] = _State(theta, a, g, w, free, r, (phi1, phi2))
        return st

    def residual(self, q: np.ndarray) -> np.ndarray:
        """Weighted residual (model − y)/σ with G_N and w solved linearly."""
        return self.state(q).r

    def model_jac(self, st: _State) -> np.ndarray:
        """Scaled ∂(model/σ)/∂(Δ, Δc, Γ) at fixed linear parameters."""
        if st.dm is None:
            gap, gap_c, gamma = (float(v) for v in st.theta)
            d_gap, d_gap_c, d_gamma = self.pb.ch.derivatives(gap, gap_c, gamma, st.theta)
            g, w = st.g, st.w
            dm = np.column_stack([g * d_gap, g * w * d_gap_c, g * d_gamma]) * self.pb.inv_sig
            st.dm = dm
        return st.dm

    def jac(self, q: np.ndarray) -> np.ndarray:
        """Jacobian of ``residual`` in q (Kaufman: projected on the free linear directions)."""
        st = self.state(q)
        m = self.model_jac(st)
        af = st.a @ st.free
        if af.shape[1]:
            qm, _ = np.linalg.qr(af)
            m = m - qm @ (qm.T @ m)
        return m

    def full_jacobian(self, st: _State) -> tuple[np.ndarray, np.ndarray]:
        """The scaled 5-parameter Jacobian at ``st`` and its parameter scales."""
        g, w, a = st.g, st.w, st.a
        sw = abs(w) if w != 0 else max(abs(self.pb.w_lim[1]), 1e-12)
        sg = abs(g) if g != 0 else max(abs(self.pb.g_lim[1]), 1e-12)
        j5 = np.column_stack([self.model_jac(st), g * sw * a[:, 1], sg * (a[:, 0] + w * a[:, 1])])
        return j5, np.concatenate([st.theta, [sw, sg]])


# ---------------------------------------------------------------------------- the fit


def _solution(
    proj: Projection,
    ls: OptimizeResult,
    max_nfev: int,
    data: FitData,
    bounds: Bounds,
    extra: Mapping[str, float],
) -> Solution:
    """The 5-parameter solution (residual of FilmModel itself) at the solver's optimum."""
    st = proj.state(ls.x)
    theta, g, w = st.theta, st.g, st.w
    p = np.array([theta[0], theta[1], theta[2], w, g])
    if g > 0 and w > 0 and theta[1] > 0:
        # FilmModel.conductance on the same grid: equal to rounding (~1e-13)
        fitted = g * (st.phi[0] + w * st.phi[1])
    else:  # FilmModel drops the Andreev channel and uses a coarser grid
        fitted = film_model(data.x, p, data.temperature, data.v_mod_rms, **extra)
    fun = (fitted - data.y) / data.sigma
    j5, scale5 = proj.full_jacobian(st)
    names = MODELS[_MODEL][0]
    lo5 = np.array([bounds[k][0] for k in names], dtype=float)
    hi5 = np.array([bounds[k][1] for k in names], dtype=float)
    return Solution(p, fun, j5, scale5, lo5, hi5, ls, max_nfev)


def _solve(
    data: FitData,
    p0: Mapping[str, float],
    bounds: Bounds,
    max_nfev: int,
    extra: Mapping[str, float],
    refine: Sequence[str],
    free_bounds: Bounds | None = None,
) -> FitResult:
    start_values(MODELS[_MODEL][0], p0)
    lim = _limits(bounds)
    lo_in, hi_in = lim.lo + lim.eps, lim.hi - lim.eps
    start = np.clip(np.array([p0[k] for k in NL_NAMES], dtype=float), lo_in, hi_in)
    ch = FilmChannels(
        data.x, data.temperature, data.v_mod_rms, extra["barrier_andreev"], extra["gamma_andreev"]
    )
    inv_sig = 1.0 / data.sigma[:, None]
    pb = Problem(ch, data.x, data.y / data.sigma, inv_sig, lim.g_lim, lim.w_lim)
    if refine:
        start = refine_start(pb, start, lo_in, hi_in, refine)
    proj = Projection(pb, start)
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(proj.residual(proj.q0))):
            raise FitFailure("model is not finite at the starting values")
        ls = least_squares(
            proj.residual,
            proj.q0,
            jac=proj.jac,
            bounds=(np.log(lim.lo), np.log(lim.hi)),
            method="trf",
            x_scale=1.0,
            ftol=_FILM_TOL,
            xtol=_FILM_TOL,
            max_nfev=max_nfev,
        )
        sol = _solution(proj, ls, max_nfev, data, bounds, extra)
    fixed = make_result(_MODEL, data, sol, extra)
    if free_bounds is None or not fixed.success or not fixed.params["andreev_weight"] > 0:
        return fixed
    from andreev.analysis.fits.film_free import refit_free_andreev

    free = refit_free_andreev(
        pb, data, {**fixed.params, **extra}, {**bounds, **free_bounds}, max_nfev
    )
    return free if free.success else fixed


def fit_film_projected(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    p0: Mapping[str, float],
    bounds: Bounds,
    sigma: float | np.ndarray | None,
    max_nfev: int,
    extra: Mapping[str, float],
    refine: Sequence[str] = (),
    free_bounds: Bounds | None = None,
) -> FitResult:
    """Variable-projection fit of the film model (see the module docstring).

    Units as ``fit_film``; ``p0``/``bounds`` for all five parameters (the linear ones'
    starts are not used), ``extra`` the fixed ``barrier_andreev``/``gamma_andreev``,
    ``refine`` the names among Δ, Δc, Γ whose start ``refine_start`` may improve;
    with ``free_bounds`` (bounds of ``barrier_andreev`` and ``gamma_andreev``) Z_A and Γ_A
    are then fitted too (``film_free``; model "film_za"), ``extra`` being their start.
    """
    extra = dict(extra)
    data = prepare(_MODEL, bias, didv, temperature, v_mod_rms, sigma, extra)
    if isinstance(data, FitResult):
        return data
    return solve_guarded(
        _MODEL,
        data,
        extra,
        lambda: _solve(data, p0, bounds, max_nfev, extra, refine, free_bounds),
    )
