"""The contact's Andreev parameters, held from its coldest sweep, and their uncertainty.

In a temperature series the contact is the same at every temperature: its Andreev weight
a_A·w(G_N), barrier Z_A and broadening Γ_A are properties of the contact, not of T. At
base temperature the Andreev channel is sharp and all three are fitted (the film fit with
free Z_A, Γ_A); warmer, the channel is smeared and they become degenerate with Δc — refitted
there, the weight drifts down as Δc drifts up. So the film fits of the warmer sweeps hold
all three at the coldest fit's values (``held_from``).

The held values are uncertain, and correlated with each other (at base T the weight, Z_A
and Γ_A trade off: correlations 0.9–1). Their error enters each warm sweep's Δc and Δ
jointly (``propagate_held``): the base fit's covariance block C of the held parameters is
split into C = Σ_k v_k v_kᵀ, v_k = D·q_k·√λ_k (λ_k, q_k the eigen-pairs of the
correlation matrix D⁻¹CD⁻¹, D the marginal errors) — the one-sigma eigen-directions; the
warm sweep is refitted with the held values moved along each v_k, and the changes of Δc
(and Δ) are added in quadrature: Σ_k (J·v_k)² = J·C·Jᵀ, the linear propagation, with the
fits' own curvature along each direction. Moving one parameter by its marginal error
alone would overstate (or, ignoring the others, misstate) the effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.analysis.fits import FitResult
from andreev.analysis.fits.film_free import ANDREEV_BOUNDS

#: the parameters held from the coldest film fit, with the bounds a moved value keeps
HELD_BOUNDS: dict[str, tuple[float, float]] = {
    "andreev_weight": (1e-6, 20.0),
    **ANDREEV_BOUNDS,
}
#: Z_A must be known to this fraction at the coldest sweep for it to be held
HELD_MAX_RELATIVE = 0.3
#: eigen-directions with a correlation-matrix eigenvalue below this are left out (their
#: one-sigma step is < 0.3 % of the largest)
MIN_EIGENVALUE = 1e-5


@dataclass(frozen=True)
class HeldCovariance:
    """The covariance (units of the parameters) of the held ``names`` in their source fit."""

    names: tuple[str, ...]
    matrix: np.ndarray

    def directions(self) -> list[dict[str, float]]:
        """The one-sigma eigen-directions v_k (see the module docstring) as name → step."""
        d = np.sqrt(np.diag(self.matrix))
        r = self.matrix / np.outer(d, d)
        lam, q = np.linalg.eigh(r)
        keep = lam > MIN_EIGENVALUE * max(float(lam.max()), 0.0)
        steps = d[:, None] * q[:, keep] * np.sqrt(lam[keep])[None, :]
        return [dict(zip(self.names, map(float, col), strict=True)) for col in steps.T]


def held_from(fr: FitResult | None) -> dict[str, Any] | None:
    """``fit_film`` keywords holding the contact's weight, Z_A and Γ_A at the values of
    the film fit ``fr`` (free Z_A, Γ_A), with their covariance (key ``held_covariance``),
    or None unless Z_A is known to ``HELD_MAX_RELATIVE`` and the weight's error is finite.
    Γ_A is held without error when its own is not finite."""
    if fr is None or not fr.success or fr.covariance is None:
        return None
    if "barrier_andreev" not in fr.params:
        return None
    za, ze = fr.params["barrier_andreev"], fr.errors["barrier_andreev"]
    if not (math.isfinite(ze) and ze < HELD_MAX_RELATIVE * za):
        return None
    if not math.isfinite(fr.errors["andreev_weight"]) or not fr.params["andreev_weight"] > 0:
        return None
    order = list(fr.params)
    names = tuple(n for n in HELD_BOUNDS if math.isfinite(fr.errors[n]) and fr.errors[n] > 0)
    idx = [order.index(n) for n in names]
    block = np.array(fr.covariance)[np.ix_(idx, idx)]
    if not np.all(np.isfinite(block)):
        return None
    return {
        "free_andreev": False,
        "andreev_weight": fr.params["andreev_weight"],
        "barrier_andreev": za,
        "gamma_andreev": fr.params["gamma_andreev"],
        "held_covariance": HeldCovariance(names, block),
    }


def _moved(kw: dict[str, Any], step: dict[str, float], sign: float) -> dict[str, Any]:
    out = dict(kw)
    for name, dv in step.items():
        lo, hi = HELD_BOUNDS[name]
        out[name] = float(np.clip(float(kw[name]) + sign * dv, lo, hi))
    return out


def propagate_held(
    fr: FitResult,
    cov: HeldCovariance,
    kw: dict[str, Any],
    refit: Callable[[dict[str, Any]], FitResult],
) -> None:
    """Add the held parameters' uncertainty to ``fr``'s errors of Δc and Δ (in place).

    ``kw`` the ``fit_film`` keywords ``fr`` was fitted with (the held values), ``refit``
    fits the same sweep with other keywords. Along each eigen-direction the sweep is
    refitted with the held values moved by +1σ (−1σ if that fit fails; a direction whose
    both fits fail is counted in the message)."""
    var = {"gap_c": 0.0, "gap": 0.0}
    failed = 0
    steps = cov.directions()
    for step in steps:
        alt = refit(_moved(kw, step, 1.0))
        if not alt.success:
            alt = refit(_moved(kw, step, -1.0))
        if not alt.success:
            failed += 1
            continue
        for name in var:
            var[name] += (alt.params[name] - fr.params[name]) ** 2
    for name, v in var.items():
        fr.errors[name] = math.sqrt(fr.errors[name] ** 2 + v)
    held = ", ".join(_LABELS[n] for n in cov.names)
    note = f"; errors include the held {held} (joint, {len(steps)} directions"
    fr.message += note + (f", {failed} failed)" if failed else ")")


_LABELS = {"andreev_weight": "weight", "barrier_andreev": "Z_A", "gamma_andreev": "Γ_A"}
