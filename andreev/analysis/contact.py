"""One point-contact sweep: BTK and film fits, the choice between them, Δc.

Every contact sweep is fitted with plain BTK (a conventional film: Δ, Z, Γ, G_N) and with
the film model (Δ, Δc, Γ, Andreev weight, G_N, and the contact's Z_A and Γ_A). The model
is chosen by the Bayesian information criterion BIC = χ² + k·ln n (same point noise for
both): the film model — a collective gap — only when its BIC is lower by more than
``BIC_MARGIN`` and its Δc is significant (> ``FILM_SIGNIFICANCE`` standard errors) and
distinct from Δ (Δ − Δc above the same number of standard errors). Otherwise "no collective
gap": BTK describes the sweep. The margin (the other model's BIC minus the chosen one's)
is reported with the choice.

Δc by the paper's definition (``gap_c``): the d²I/dV² read-out at the change of slope,
corrected for the smearing shift computed from the chosen film fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.analysis.fits import FitResult, fit_btk, fit_film
from andreev.analysis.gap_c import CorrectedGapC, best_gap_c, correct_gap_c
from andreev.analysis.held import propagate_held
from andreev.analysis.peaks import PeakResult, find_andreev_peaks

#: the film model must beat BTK by this much BIC ("very strong" evidence, Kass & Raftery)
BIC_MARGIN = 10.0
#: a film-fit Δc (and Δ − Δc) counts only beyond this many standard errors
FILM_SIGNIFICANCE = 3.0
#: a fit whose χ²_red exceeds this is flagged "poor fit" (its errors are inflated by √χ²_red)
POOR_FIT_CHI2 = 3.0


def bic(fit: FitResult) -> float:
    """χ² + k·ln n of a fit (k its number of parameters, n its fitted points); inf if failed."""
    n = int(np.count_nonzero(np.isfinite(fit.residuals)))
    k = len(fit.params)
    if not fit.success or n <= k or not math.isfinite(fit.chi2_red):
        return math.inf
    return fit.chi2_red * (n - k) + k * math.log(n)


def fit_flag(fit: FitResult | None) -> str:
    """ "ok", "poor fit" (χ²_red > ``POOR_FIT_CHI2``) or "failed"."""
    if fit is None or not fit.success:
        return "failed"
    return "poor fit" if fit.chi2_red > POOR_FIT_CHI2 else "ok"


def has_collective_gap(film: FitResult | None) -> bool:
    """Δc significant and distinct from Δ in a successful film fit."""
    if film is None or not film.success:
        return False
    gc, e = film.params["gap_c"], film.errors["gap_c"]
    gap = film.params["gap"]
    k = FILM_SIGNIFICANCE
    return math.isfinite(e) and gc > k * e and gap - gc > k * math.hypot(e, film.errors["gap"])


@dataclass
class ContactResult:
    """The fits and the choice for one contact sweep (``model`` "btk" or "film", or
    "peaks only" when no film fit was asked for); ``margin`` the BIC margin (1)."""

    peaks: PeakResult
    btk: FitResult
    film: FitResult | None
    model: str
    margin: float
    gap_c: CorrectedGapC

    @property
    def chosen(self) -> FitResult | None:
        """The chosen model's fit (None for "peaks only")."""
        return {"btk": self.btk, "film": self.film}.get(self.model)

    @property
    def collective(self) -> bool:
        """True when the film model with a collective gap was chosen."""
        return self.model == "film"


def choose(btk: FitResult, film: FitResult | None) -> tuple[str, float]:
    """("btk" | "film", BIC margin) for the two fits (see the module docstring)."""
    if film is None:
        return "peaks only", math.nan
    b_btk, b_film = bic(btk), bic(film)
    if has_collective_gap(film) and b_btk - b_film > BIC_MARGIN:
        return "film", b_btk - b_film
    if not math.isfinite(b_btk) and not has_collective_gap(film):
        return "btk", math.nan
    return "btk", b_film - b_btk


def analyze_contact(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    noise: float,
    gap: float | None,
    sigma: np.ndarray | None = None,
    film: bool = True,
    film_kw: Mapping[str, Any] | None = None,
) -> ContactResult:
    """Peaks, BTK and (if ``film``) film fits of one contact sweep, and the choice.

    bias (V), didv (S), temperature (K, measured), v_mod_rms (V rms), ``noise`` the white
    point noise (S; the d²I/dV² read-out's), ``sigma`` the per-point σ (S) the fits use
    (default: ``noise`` at every point), ``gap`` (eV) the tunnelling Δ of the same outer step (None:
    unknown), ``film_kw`` extra keywords of ``fit_film`` (the contact's held weight, Z_A,
    Γ_A from ``held.held_from``; their ``held_covariance`` is propagated into Δc and Δ).
    """
    t, vm = temperature, v_mod_rms
    white = noise if math.isfinite(noise) and noise > 0 else None
    if sigma is None:
        sigma = None if white is None else np.full(np.shape(didv), white)
    pk = find_andreev_peaks(bias, didv, temperature=t, v_mod_rms=vm, gap=gap, noise=white)
    btk = fit_btk(bias, didv, temperature=t, v_mod_rms=vm, sigma=sigma)
    fr = None
    if film:
        p0 = {"gap": gap} if gap else {}
        if pk.found:
            p0["gap_c"] = pk.peak_max
        kw = dict(film_kw or {})
        cov = kw.pop("held_covariance", None)
        fr = fit_film(bias, didv, temperature=t, v_mod_rms=vm, sigma=sigma, p0=p0 or None, **kw)
        if cov is not None and fr.success:
            start = {**p0, "gap": fr.params["gap"], "gap_c": fr.params["gap_c"]}

            def refit(moved: dict[str, Any]) -> FitResult:
                return fit_film(
                    bias, didv, temperature=t, v_mod_rms=vm, sigma=sigma, p0=start, **moved
                )

            propagate_held(fr, cov, kw, refit)
    model, margin = choose(btk, fr)
    nan = math.nan
    corrected = (
        correct_gap_c(bias, pk, fr, gap)
        if model == "film"
        else CorrectedGapC(nan, nan, pk.gap_c, nan, nan)
    )
    return ContactResult(pk, btk, fr, model, margin, corrected)


def final_gap_c(cr: ContactResult) -> CorrectedGapC:
    """Δc of a contact sweep: the corrected read-out, else (peaks not resolved) the film
    fit's; NaN without a collective gap."""
    return best_gap_c(cr.gap_c, cr.film) if cr.collective else cr.gap_c
