"""The film fit with the Andreev channel's barrier Z_A and broadening Γ_A fitted too.

Real contacts do not share one Z_A or Γ_A, so neither may be held at a value of the
simulator. Starting from the projected fit of ``film`` (Z_A, Γ_A at their start), this
stage fits ln(Δ, Δc, Γ, Z_A, Γ_A) with G_N and the Andreev weight still solved linearly
(variable projection, numeric Jacobian). The smearing grid is the one of the start's
feature width throughout, so the model is smooth in every parameter. The errors come from
the full 7-parameter Jacobian (central differences) at the solution, through
``andreev.analysis.uncertainty`` as every fit.

Bounds (``ANDREEV_BOUNDS``, documented in docs/physics.md): Z_A from 0.05 to 10, Γ_A from
0.5 µeV to 0.1 meV.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.optimize import least_squares

from andreev.analysis.fits.channels import FilmChannels
from andreev.analysis.fits.engine import FitData, FitResult, Solution, make_result
from andreev.analysis.fits.projection import Problem, bounded_linear

MODEL = "film_za"
#: bounds of the Andreev channel's barrier Z_A (1) and broadening Γ_A (eV)
ANDREEV_BOUNDS: dict[str, tuple[float, float]] = {
    "barrier_andreev": (0.05, 10.0),
    "gamma_andreev": (0.5e-6, 1e-4),
}
_TOL = 1e-6


class _Free:
    """The projected residual in q = ln(Δ, Δc, Γ, Z_A, Γ_A) on a fixed grid ``fw``."""

    def __init__(self, pb: Problem, fw: float) -> None:
        self.pb, self.fw = pb, fw

    def channels(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ch: FilmChannels = self.pb.ch
        ch.za, ch.ga = float(theta[3]), float(theta[4])
        return ch.dynes(theta[0], theta[2], self.fw), ch.andreev(theta[1], self.fw)

    def linear(self, theta: np.ndarray) -> tuple[float, float, np.ndarray]:
        phi1, phi2 = self.channels(theta)
        a = np.column_stack([phi1, phi2]) * self.pb.inv_sig
        g, w, _ = bounded_linear(a, self.pb.wy, self.pb.g_lim, self.pb.w_lim)
        return g, w, g * (a[:, 0] + w * a[:, 1]) - self.pb.wy

    def residual(self, q: np.ndarray) -> np.ndarray:
        return self.linear(np.exp(q))[2]

    def model(self, p7: np.ndarray) -> np.ndarray:
        """Weighted model at the 7 parameters (Δ, Δc, Γ, w, G_N, Z_A, Γ_A)."""
        theta = np.array([p7[0], p7[1], p7[2], p7[5], p7[6]])
        phi1, phi2 = self.channels(theta)
        return p7[4] * (phi1 + p7[3] * phi2) * self.pb.inv_sig[:, 0]

    def jacobian(self, p7: np.ndarray) -> np.ndarray:
        """Central-difference Jacobian of ``model`` in p/|p| (relative steps 1e-4)."""
        cols = []
        for k in range(7):
            h = 1e-4 * (abs(p7[k]) or 1e-12)
            up, dn = p7.copy(), p7.copy()
            up[k] += h
            dn[k] -= h
            cols.append((self.model(up) - self.model(dn)) / (2.0 * h) * (abs(p7[k]) or 1e-12))
        return np.column_stack(cols)


def refit_free_andreev(
    pb: Problem,
    data: FitData,
    start: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]],
    max_nfev: int,
) -> FitResult:
    """Fit Δ, Δc, Γ, Z_A, Γ_A (G_N, weight linear) from ``start`` (7 named values).

    ``pb`` is the film fit's problem (its channels are re-used and changed), ``bounds``
    of all 7 parameters (units as ``FitResult``).
    """
    names = ("gap", "gap_c", "gamma", "barrier_andreev", "gamma_andreev")
    lo = np.array([max(bounds[k][0], 1e-300) for k in names])
    hi = np.array([bounds[k][1] for k in names])
    theta0 = np.clip([start[k] for k in names], lo * (1 + 1e-9), hi * (1 - 1e-9))
    pb.ch.za, pb.ch.ga = float(theta0[3]), float(theta0[4])
    fw = pb.ch.width(theta0[1], theta0[2])
    free = _Free(pb, fw)
    with np.errstate(all="ignore"):
        ls = least_squares(
            free.residual,
            np.log(theta0),
            bounds=(np.log(lo), np.log(hi)),
            method="trf",
            x_scale=1.0,
            diff_step=1e-5,
            ftol=_TOL,
            xtol=_TOL,
            max_nfev=max_nfev,
        )
        theta = np.exp(ls.x)
        g, w, _ = free.linear(theta)
        p7 = np.array([theta[0], theta[1], theta[2], w, g, theta[3], theta[4]])
        fun = free.model(p7) - pb.wy
        jac = free.jacobian(p7)
    order = ("gap", "gap_c", "gamma", "andreev_weight", "g_normal")
    lo7 = np.array([bounds[k][0] for k in order + names[3:]])
    hi7 = np.array([bounds[k][1] for k in order + names[3:]])
    scale = np.where(np.abs(p7) > 0, np.abs(p7), 1e-12)
    sol = Solution(p7, fun, jac, scale, lo7, hi7, ls, max_nfev)
    return make_result(MODEL, data, sol, {})
