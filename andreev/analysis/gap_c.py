"""Δc by the paper's definition, corrected for the smearing shift computed from the physics.

The paper reads Δc at the change of slope of the conductance, a peak of d²I/dV²
(``peaks.find_andreev_peaks``: the outer lobes just outside the in-gap peaks). Thermal,
lock-in and Γ smearing move that read-out away from Δc (outwards by ~10 µeV at 50 mK and
10 µV rms, by ~30 µeV at 0.3 K). The shift is computed, never assumed: the fitted film
model (its Δ, Δc, Γ, Z_A, Γ_A, weight, G_N) is evaluated at the sweep's measured T and the
run's V_mod on the sweep's own bias points and read out in exactly the same way (same
smoothing window); shift = read-out − Δc of the model. The corrected Δc is the measured
read-out minus the shift. The shift's uncertainty — how much it changes when each fitted
parameter moves by one standard error (at most a factor of 2) — is added in quadrature to
the read-out's noise error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from andreev.analysis.fits import MODELS, FitResult
from andreev.analysis.peaks import PeakResult, find_andreev_peaks

#: the parameters whose uncertainty moves the computed shift
SHIFT_PARAMETERS = ("gap_c", "gamma", "barrier_andreev", "gamma_andreev")


@dataclass(frozen=True)
class CorrectedGapC:
    """Corrected Δc (eV), its one-sigma error (eV), the read-out (eV), the shift (eV) and
    the shift's own error (eV); NaN where there is no read-out or no model to correct it.
    ``source`` says where ``gap_c`` comes from (see ``best_gap_c``)."""

    gap_c: float
    error: float
    read: float
    shift: float
    shift_error: float
    source: str = "d²I/dV² read-out − shift"


def _read_model(
    bias: np.ndarray, fit: FitResult, params: dict[str, float], pk: PeakResult, gap: float | None
) -> float:
    """The d²I/dV² read-out (V) of the noise-free model at ``params``."""
    names, fn = MODELS[fit.model]
    curve = fn(bias, [params[n] for n in names], fit.temperature, fit.v_mod_rms, **fit.extra)
    g_n = abs(params.get("g_normal", 1.0)) or 1.0
    read = find_andreev_peaks(
        bias,
        curve,
        temperature=fit.temperature,
        v_mod_rms=fit.v_mod_rms,
        gap=gap,
        window=pk.window or None,
        noise=1e-6 * g_n,
        threshold=1.0,
        scatter=False,
    )
    return read.gap_c if read.found else float("nan")


def _varied(params: dict[str, float], errors: dict[str, float], name: str) -> dict[str, float]:
    """``params`` with ``name`` moved up by its error (at most ×2)."""
    v, e = params[name], errors.get(name, math.inf)
    step = e if math.isfinite(e) else abs(v)
    return {**params, name: min(v + step, 2.0 * v) if v > 0 else v + step}


def correct_gap_c(
    bias: np.ndarray, pk: PeakResult, fit: FitResult | None, gap: float | None = None
) -> CorrectedGapC:
    """The read-out ``pk`` (measured) corrected with the shift of the fitted ``fit``.

    ``bias`` (V) the sweep's bias points, ``gap`` (eV) the Δ limit used for the read-out.
    Without a read-out, or without a successful film fit with Δc, the result is NaN.
    """
    nan = float("nan")
    if not pk.found or fit is None or not fit.success or "gap_c" not in fit.params:
        return CorrectedGapC(nan, nan, pk.gap_c, nan, nan)
    bias = np.sort(np.asarray(bias, dtype=float)[np.isfinite(bias)])
    params = dict(fit.params)
    with np.errstate(all="ignore"):
        model_read = _read_model(bias, fit, params, pk, gap)
        if not math.isfinite(model_read):
            return CorrectedGapC(nan, nan, pk.gap_c, nan, nan)
        shift = model_read - params["gap_c"]
        var = 0.0
        for name in SHIFT_PARAMETERS:
            if name not in params:
                continue
            p = _varied(params, fit.errors, name)
            moved = _read_model(bias, fit, p, pk, gap)
            d = (moved - p["gap_c"]) - shift if math.isfinite(moved) else shift
            var += d * d
    shift_err = math.sqrt(var)
    return CorrectedGapC(
        gap_c=pk.gap_c - shift,
        error=math.hypot(pk.error, shift_err),
        read=pk.gap_c,
        shift=shift,
        shift_error=shift_err,
    )


def best_gap_c(corrected: CorrectedGapC, fit: FitResult | None) -> CorrectedGapC:
    """The paper's Δc (the corrected read-out) when the d²I/dV² peaks are resolved, else
    the film fit's Δc (``source`` "film fit"; read-out and shift NaN)."""
    if math.isfinite(corrected.gap_c) or fit is None or not fit.success:
        return corrected
    nan = float("nan")
    return CorrectedGapC(
        fit.params["gap_c"], fit.errors["gap_c"], corrected.read, nan, nan, "film fit"
    )
