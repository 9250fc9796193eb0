"""Least-squares fits of measured dI/dV spectra with the models of ``andreev.physics``.

Three models, each evaluated by the same code the simulator uses:

- ``fit_dynes``: thermally smeared Dynes DOS, parameters ``gap`` (eV), ``gamma`` (eV),
  ``g_normal`` (S) — for tunnelling spectra (low G_N).
- ``fit_btk``: Dynes-broadened BTK, parameters ``gap`` (eV), ``barrier`` (Z, 1),
  ``gamma`` (eV), ``g_normal`` (S) — for Andreev spectra of a conventional film.
- ``fit_film``: the preformed-pair film model, parameters ``gap`` (eV), ``gap_c`` (eV),
  ``gamma`` (eV), ``andreev_weight`` (1, a_A·w(G_N)), ``g_normal`` (S) — for point-contact
  spectra of the disordered films. The Andreev channel's barrier and broadening are held
  at the values given (FilmModel defaults unless told).

Temperature (K, the per-sweep measured one) and lock-in modulation (V rms, the file's
``v_mod_rms``) are arguments: the caller reads them from the run file, they are never
guessed. Starting values are guessed from the data (gap from the coherence peaks, G_N
from the high-bias conductance) unless given. Fits are bounded
(``scipy.optimize.least_squares``, trust-region reflective); errors are one standard
deviation from the covariance ``(JᵀJ)⁻¹ · s²`` with ``s²`` the residual variance (a
parameter with no effect at the solution, such as Δc at zero Andreev weight, gets an
infinite error). A fit that does not converge returns ``success=False`` and a message;
it never raises. The film fit solves its two linear parameters (G_N and the Andreev
weight) by linear least squares inside a 3-parameter fit of Δ, Δc, Γ (variable
projection, analytic Jacobian; see "film engine" below).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, least_squares
from scipy.signal import savgol_filter

from andreev import physics

ModelFn = Callable[[np.ndarray, Sequence[float], float, float], np.ndarray]


@dataclass
class FitResult:
    """Outcome of one spectrum fit.

    ``params`` and ``errors`` map parameter name → value / one-sigma error in SI or eV
    (``gap``, ``gamma``, ``gap_c`` in eV; ``g_normal`` in S; ``barrier`` and
    ``andreev_weight`` dimensionless). ``residuals`` is data − model (S) at the fitted
    bias points (NaN where the input was not finite). ``chi2_red`` is the reduced χ²
    against ``sigma`` (given, or estimated from the point-to-point noise of the data).
    ``temperature`` (K) and ``v_mod_rms`` (V) are the fixed inputs the model used.
    """

    model: str
    params: dict[str, float]
    errors: dict[str, float]
    success: bool
    message: str
    chi2_red: float
    residuals: np.ndarray
    temperature: float
    v_mod_rms: float
    nfev: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    def curve(self, bias: np.ndarray) -> np.ndarray:
        """The fitted model's dI/dV (S) at ``bias`` (V); NaN if the fit produced no params."""
        bias = np.asarray(bias, dtype=float)
        if not self.params or not all(np.isfinite(v) for v in self.params.values()):
            return np.full_like(bias, np.nan)
        names, fn = _MODELS[self.model]
        p = [self.params[n] for n in names]
        return fn(bias, p, self.temperature, self.v_mod_rms, **self.extra)


# ---------------------------------------------------------------------------- models


def _dynes_model(bias: np.ndarray, p: Sequence[float], t: float, vmod: float) -> np.ndarray:
    gap, gamma, g_n = p
    return g_n * physics.dynes_conductance(bias, gap, gamma, t, vmod)


def _btk_model(bias: np.ndarray, p: Sequence[float], t: float, vmod: float) -> np.ndarray:
    gap, barrier, gamma, g_n = p
    return g_n * physics.btk_conductance(bias, gap, barrier, gamma, t, vmod)


def film_for_fit(
    gap: float,
    gap_c: float,
    gamma: float,
    andreev_weight: float,
    barrier_andreev: float = physics.FilmModel.barrier_andreev,
    gamma_andreev: float = physics.FilmModel.gamma_andreev,
) -> physics.FilmModel:
    """A FilmModel whose conductance at any T has exactly these Δ, Δc, Γ and weight.

    Tc is put far away (so Δc(T) = ``gap_c`` and Γ(T) = ``gamma``) and the crossover
    conductance is zero (so the Andreev weight a_A·w(G_N) equals ``andreev_weight``).
    """
    return physics.FilmModel(
        tc=1e9,
        gap=gap,
        gamma0=gamma,
        gamma1=0.0,
        gap_c0=gap_c,
        barrier_andreev=barrier_andreev,
        gamma_andreev=gamma_andreev,
        g_cross=0.0,
        andreev_amplitude=andreev_weight,
        kind="preformed",
    )


def _film_model(
    bias: np.ndarray,
    p: Sequence[float],
    t: float,
    vmod: float,
    barrier_andreev: float = physics.FilmModel.barrier_andreev,
    gamma_andreev: float = physics.FilmModel.gamma_andreev,
) -> np.ndarray:
    gap, gap_c, gamma, weight, g_n = p
    film = film_for_fit(gap, gap_c, gamma, weight, barrier_andreev, gamma_andreev)
    return np.asarray(film.conductance(bias, g_n, t, vmod), dtype=float)


_MODELS: dict[str, tuple[tuple[str, ...], ModelFn]] = {
    "dynes": (("gap", "gamma", "g_normal"), _dynes_model),
    "btk": (("gap", "barrier", "gamma", "g_normal"), _btk_model),
    "film": (("gap", "gap_c", "gamma", "andreev_weight", "g_normal"), _film_model),
}

# ---------------------------------------------------------------------------- helpers


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


def _sorted_finite(bias: np.ndarray, didv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bias = np.asarray(bias, dtype=float)
    didv = np.asarray(didv, dtype=float)
    ok = np.isfinite(bias) & np.isfinite(didv)
    order = np.argsort(bias[ok], kind="stable")
    return bias[ok][order], didv[ok][order]


def _smoothed(didv: np.ndarray) -> np.ndarray:
    n = didv.size
    win = max(5, (n // 60) | 1)
    if win >= n:
        return didv.copy()
    return savgol_filter(didv, win, 2)


def high_bias_conductance(bias: np.ndarray, didv: np.ndarray, fraction: float = 0.15) -> float:
    """Median dI/dV (S) over the outer ``fraction`` of the bias range on both sides."""
    b, g = _sorted_finite(bias, didv)
    vmax = np.max(np.abs(b))
    sel = np.abs(b) >= (1.0 - fraction) * vmax
    return float(np.median(g[sel])) if np.any(sel) else float(np.median(g))


def coherence_peak_position(bias: np.ndarray, didv: np.ndarray) -> float:
    """|V| (V) of the largest smoothed dI/dV maximum, averaged over the two bias signs."""
    b, g = _sorted_finite(bias, didv)
    s = _smoothed(g)
    vmax = np.max(np.abs(b))
    pos = []
    for sign in (1.0, -1.0):
        sel = (sign * b > 0.02 * vmax) & (sign * b < 0.95 * vmax)
        if np.any(sel):
            i = np.argmax(s[sel])
            pos.append(abs(b[sel][i]))
    return float(np.mean(pos)) if pos else 0.3 * vmax


def steepest_edge_position(bias: np.ndarray, didv: np.ndarray) -> float:
    """|V| (V) where the smoothed dI/dV falls fastest going outwards (both signs averaged).

    Marks the gap edge of BTK spectra of any barrier (a plateau edge at Z ≈ 0, the outer
    flank of the coherence peak at large Z).
    """
    b, g = _sorted_finite(bias, didv)
    s = _smoothed(g)
    ds = np.gradient(s, b)
    vmax = np.max(np.abs(b))
    pos = []
    for sign in (1.0, -1.0):
        sel = (sign * b > 0.02 * vmax) & (sign * b < 0.95 * vmax)
        if np.any(sel):
            i = np.argmin(sign * ds[sel])
            pos.append(abs(b[sel][i]))
    return float(np.mean(pos)) if pos else 0.3 * vmax


def _zero_bias_ratio(bias: np.ndarray, didv: np.ndarray, g_n: float) -> float:
    b, g = _sorted_finite(bias, didv)
    vmax = np.max(np.abs(b))
    sel = np.abs(b) <= 0.02 * vmax
    if not np.any(sel):
        sel = np.abs(b) == np.min(np.abs(b))
    return float(np.median(g[sel]) / g_n) if g_n > 0 else 0.0


def guess_dynes(bias: np.ndarray, didv: np.ndarray) -> dict[str, float]:
    """Starting values for ``fit_dynes``: gap from the coherence peaks, G_N from high bias."""
    b, g = _sorted_finite(bias, didv)
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
    b, g = _sorted_finite(bias, didv)
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
    from andreev.analysis.peaks import find_andreev_peaks  # local: peaks imports fits

    b, g = _sorted_finite(bias, didv)
    d = guess_dynes(b, g)
    gap, gamma, g_n = d["gap"], d["gamma"], d["g_normal"]
    pk = find_andreev_peaks(b, g, temperature=temperature, v_mod_rms=v_mod_rms, gap=gap)
    gap_c = pk.gap_c if pk.found else 0.2 * gap
    at = np.abs(b) <= max(gap_c, 2.0 * float(np.mean(np.diff(b))))
    g_bg = g_n * physics.dynes_conductance(b[at], gap, gamma, temperature, v_mod_rms)
    excess = float(np.max(g[at] - g_bg)) if np.any(at) else 0.0
    weight = float(np.clip(excess / (1.5 * g_n), 0.02, 5.0)) if g_n > 0 else 0.1
    return {"gap": gap, "gap_c": gap_c, "gamma": gamma, "andreev_weight": weight, "g_normal": g_n}


# ---------------------------------------------------------------------------- the engine


def _fail(model: str, message: str, t: float, vmod: float, n: int, **extra: float) -> FitResult:
    names = _MODELS[model][0]
    nan = float("nan")
    return FitResult(
        model=model,
        params={k: nan for k in names},
        errors={k: nan for k in names},
        success=False,
        message=message,
        chi2_red=nan,
        residuals=np.full(n, nan),
        temperature=t,
        v_mod_rms=vmod,
        extra=dict(extra),
    )


def _prepare(
    model: str,
    bias: np.ndarray,
    didv: np.ndarray,
    temperature: float,
    v_mod_rms: float,
    sigma: float | np.ndarray | None,
    n_par: int,
    extra: Mapping[str, float],
) -> FitResult | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Validated finite data ``(x, y, sigma, mask, T, V_mod)``, or a failure result."""
    bias_in = np.asarray(bias, dtype=float)
    didv_in = np.asarray(didv, dtype=float)
    n_in = bias_in.size
    try:
        temperature = float(temperature)
        v_mod_rms = float(v_mod_rms)
    except (TypeError, ValueError) as exc:
        return _fail(model, f"bad temperature / v_mod_rms: {exc}", math.nan, math.nan, n_in)
    if not (math.isfinite(temperature) and temperature >= 0.0):
        return _fail(model, f"bad temperature {temperature!r} K", temperature, v_mod_rms, n_in)
    if not (math.isfinite(v_mod_rms) and v_mod_rms >= 0.0):
        return _fail(model, f"bad v_mod_rms {v_mod_rms!r} V", temperature, v_mod_rms, n_in)
    if bias_in.shape != didv_in.shape:
        return _fail(model, "bias and dI/dV differ in shape", temperature, v_mod_rms, n_in)
    ok = np.isfinite(bias_in) & np.isfinite(didv_in)
    x, y = bias_in[ok], didv_in[ok]
    if x.size < n_par + 3:
        return _fail(
            model,
            f"only {x.size} finite points for {n_par} parameters",
            temperature,
            v_mod_rms,
            n_in,
            **extra,
        )
    if sigma is None:
        sig = noise_sigma(y[np.argsort(x)])
        if not (math.isfinite(sig) and sig > 0):
            sig = max(1e-6 * float(np.max(np.abs(y))), 1e-30)
        sig_arr = np.full(x.size, sig)
    else:
        sig_arr = np.broadcast_to(np.asarray(sigma, dtype=float), bias_in.shape)[ok]
        if not np.all(np.isfinite(sig_arr) & (sig_arr > 0)):
            return _fail(model, "sigma must be finite and > 0", temperature, v_mod_rms, n_in)
    return x, y, sig_arr, ok, temperature, v_mod_rms


def _result(
    model: str,
    names: Sequence[str],
    p: np.ndarray,
    fun: np.ndarray,
    jac: np.ndarray,
    scale: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    ls: object,
    max_nfev: int,
    ok: np.ndarray,
    sig_arr: np.ndarray,
    temperature: float,
    v_mod_rms: float,
    extra: Mapping[str, float],
) -> FitResult:
    """FitResult from the solution ``p``, the weighted residual ``fun`` = (model − y)/σ and
    the Jacobian of ``fun`` in the scaled parameters p/scale (errors from (JᵀJ)⁻¹·s²)."""
    dof = max(fun.size - len(names), 1)
    chi2 = float(np.sum(fun**2))
    s2 = chi2 / dof
    # a parameter without any effect (e.g. Δc when the Andreev weight sits at 0) gets an
    # infinite error; the others their errors from the covariance of the rest
    live = np.any(jac != 0, axis=0)
    err = np.full(len(names), np.inf)
    try:
        cov_q = np.linalg.inv(jac[:, live].T @ jac[:, live]) * s2
        err[live] = np.sqrt(np.abs(np.diag(cov_q))) * scale[live]
    except np.linalg.LinAlgError:
        pass
    err = np.where(np.isfinite(err), err, np.inf)

    res_full = np.full(ok.size, np.nan)
    res_full[ok] = -fun * sig_arr  # data − model
    messages = []
    success = bool(ls.success) and ls.status > 0 and math.isfinite(chi2)
    if ls.status == 0:
        messages.append(f"did not converge within {max_nfev} model evaluations")
    elif not ls.success:
        messages.append(f"least_squares failed: {ls.message}")
    else:
        messages.append("converged")
    at_bound = [
        k
        for k, v, a, b_ in zip(names, p, lo, hi, strict=True)
        if abs(v - a) <= 1e-6 * (b_ - a) or abs(v - b_) <= 1e-6 * (b_ - a)
    ]
    if at_bound:
        messages.append("at bound: " + ", ".join(at_bound))
    if not np.all(np.isfinite(err)):
        messages.append("covariance singular (errors inf)")
    return FitResult(
        model=model,
        params={k: float(v) for k, v in zip(names, p, strict=True)},
        errors={k: float(e) for k, e in zip(names, err, strict=True)},
        success=success,
        message="; ".join(messages),
        chi2_red=s2,
        residuals=res_full,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        nfev=int(ls.nfev),
        extra=dict(extra),
    )


def _fit(
    model: str,
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    p0: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]],
    sigma: float | np.ndarray | None,
    max_nfev: int,
    extra: Mapping[str, float] | None = None,
) -> FitResult:
    names, fn = _MODELS[model]
    extra = dict(extra or {})
    n_in = np.size(bias)
    prep = _prepare(model, bias, didv, temperature, v_mod_rms, sigma, len(names), extra)
    if isinstance(prep, FitResult):
        return prep
    x, y, sig_arr, ok, temperature, v_mod_rms = prep
    try:
        lo = np.array([bounds[k][0] for k in names], dtype=float)
        hi = np.array([bounds[k][1] for k in names], dtype=float)
        start = np.array([p0[k] for k in names], dtype=float)
        if not np.all(np.isfinite(start)):
            return _fail(
                model,
                f"no usable starting values {dict(p0)}",
                temperature,
                v_mod_rms,
                n_in,
                **extra,
            )
        # fit in scaled parameters q = p / scale so that every q is of order 1
        scale = np.where(np.abs(start) > 0, np.abs(start), np.maximum(np.abs(hi), 1e-12))
        eps = 1e-9 * (hi - lo)
        start = np.clip(start, lo + eps, hi - eps)

        def resid(q: np.ndarray) -> np.ndarray:
            return (fn(x, q * scale, temperature, v_mod_rms, **extra) - y) / sig_arr

        with np.errstate(all="ignore"):
            r0 = resid(start / scale)
            if not np.all(np.isfinite(r0)):
                return _fail(
                    model,
                    "model is not finite at the starting values",
                    temperature,
                    v_mod_rms,
                    n_in,
                    **extra,
                )
            ls = least_squares(
                resid,
                start / scale,
                bounds=(lo / scale, hi / scale),
                method="trf",
                diff_step=1e-6,
                x_scale=1.0,
                max_nfev=max_nfev,
            )
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return _fail(model, f"fit error: {exc}", temperature, v_mod_rms, n_in, **extra)
    return _result(
        model,
        names,
        ls.x * scale,
        ls.fun,
        ls.jac,
        scale,
        lo,
        hi,
        ls,
        max_nfev,
        ok,
        sig_arr,
        temperature,
        v_mod_rms,
        extra,
    )


# ---------------------------------------------------------------------------- film engine
#
# The film model is linear in two of its five parameters:
#     G(V) = G_N · φ1(V; Δ, Γ) + G_N·w · φ2(V; Δc),
#     φ1 = Dynes(Δ, Γ) ⊗ (-f') ⊗ lock-in,   φ2 = 2 A_BTK(Δc, Z_A, Γ_A) ⊗ (-f') ⊗ lock-in.
# ``physics.smeared`` is linear in g0 on a given grid, and the grid depends only on T,
# V_mod and the feature width, so evaluating the two channels with FilmModel's feature
# width min(Γ, Γ_A) reproduces FilmModel.conductance to rounding. The fit is by variable
# projection: a 3-parameter nonlinear fit of (Δ, Δc, Γ) in which (G_N, G_N·w) are solved
# by bounded linear least squares at every evaluation, with the analytic Jacobian of the
# projected residual (Kaufman) built from the analytic derivatives of the two channels:
# an iteration costs 5 smearings (2 values, 3 derivatives) instead of the 2 + 5 of a
# numeric 5-parameter Jacobian, and ~4 iterations suffice from the start refined by
# ``_refine_film_start``. Δ, Δc, Γ are fitted as logarithms. The reported residuals and
# χ² are those of FilmModel.conductance (the channel sum, equal to it to ~1e-13; the
# model itself when the Andreev weight is 0, as it then uses a coarser grid), the errors
# come from the full 5-parameter Jacobian at the solution.

_NL_NAMES = ("gap", "gap_c", "gamma")
# relative tolerance on χ² (and on the ln-parameter step): for ~1000 points the fit stops
# once an iteration lowers χ² by less than ~0.01, i.e. ≪ 1 standard error from the optimum
_FILM_TOL = 1e-5
_TINY = 1e-12  # eV, as physics: the smallest broadening / feature width


def _z_of(e: np.ndarray, gamma: float) -> np.ndarray:
    """E + iΓ as andreev.physics builds it (Γ ≥ 1e-12 eV at E = 0 only)."""
    return e + 1j * np.where(e == 0, max(gamma, _TINY), max(gamma, 0.0))


def _dynes_derivatives(e: np.ndarray, gap: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """∂N/∂Δ and ∂N/∂Γ (1/eV) of the Dynes DOS N = Re[z/s], s = sqrt(z-Δ)sqrt(z+Δ).

    ∂(z/s)/∂Δ = zΔ/s³ and ∂(z/s)/∂Γ = i·d(z/s)/dz = -iΔ²/s³.
    """
    z = _z_of(e, gamma)
    r = 1.0 / (np.sqrt(z - gap) * np.sqrt(z + gap))
    r3 = gap * (r * r * r)
    return np.real(z * r3), gap * np.imag(r3)


def _andreev_derivative(e: np.ndarray, gap_c: float, barrier: float, gamma: float) -> np.ndarray:
    """∂A/∂Δc (1/eV) of the BTK Andreev probability of ``physics.andreev_coefficients``.

    With s = sqrt(z-Δc)sqrt(z+Δc), w = s/z, u²v² = Δc²/(4z²) and D = 1/2 + (1/2 + Z²)w,
    A = Δc²/(4|z|²|D|²), so ∂ln A/∂Δc = 2/Δc + (1 + 2Z²)·Δc·Re[1/(s z D)].
    """
    z = _z_of(e, gamma)
    sz = np.sqrt(z - gap_c) * np.sqrt(z + gap_c) * z
    c = 0.5 + barrier * barrier
    zd = 0.5 * z * z + c * sz  # z²·D
    zd2 = zd.real * zd.real + zd.imag * zd.imag
    a = (
        gap_c * gap_c * (z.real * z.real + z.imag * z.imag) / (4.0 * zd2)
    )  # |z|²/|z²D|² = 1/(|z|²|D|²)
    q = np.real(z * z / (sz * zd))  # Re[1/(s z D)] = Re[z²/(s z · z² D)]
    return a * (2.0 / gap_c + 2.0 * c * gap_c * q)


class _FilmChannels:
    """The two smeared channels of the film model (and their derivatives) at fixed T, V_mod."""

    def __init__(self, bias: np.ndarray, t: float, vmod: float, barrier: float, gamma_a: float):
        self.bias, self.t, self.vmod = bias, t, vmod
        self.za, self.ga = float(barrier), float(gamma_a)
        self._last_dynes: tuple[tuple | None, np.ndarray] = (None, np.empty(0))
        self._last_andreev: tuple[tuple | None, np.ndarray] = (None, np.empty(0))

    def width(self, gap_c: float, gamma: float) -> float:
        """FilmModel's feature width (eV) for these Δc, Γ (so both share its grid)."""
        fw = max(gamma, 0.0)
        return min(fw, max(self.ga, _TINY)) if gap_c > 0 else fw

    def _smear(self, g0: Callable[[np.ndarray], np.ndarray], fw: float) -> np.ndarray:
        """[g0 - 1] ⊗ kernels: ``physics.smeared`` of 1 + f minus 1 (f with asymptote 0)."""
        return physics.smeared(self.bias, g0, self.t, self.vmod, feature_width=fw) - 1.0

    def dynes(self, gap: float, gamma: float, fw: float) -> np.ndarray:
        """φ1: the smeared Dynes channel (→ 1 far out) on the grid of width ``fw``."""
        key = (gap, gamma, fw)
        if self._last_dynes[0] != key:
            phi1 = 1.0 + self._smear(lambda e: physics.dynes_dos(e, gap, gamma), fw)
            self._last_dynes = (key, phi1)
        return self._last_dynes[1]

    def andreev(self, gap_c: float, fw: float) -> np.ndarray:
        """φ2: the smeared 2A channel (→ 0 far out) on the grid of width ``fw``."""
        key = (gap_c, fw)
        if self._last_andreev[0] != key:
            za, ga = self.za, self.ga
            if gap_c > 0:
                phi2 = self._smear(
                    lambda e: 1.0 + 2.0 * physics.andreev_coefficients(e, gap_c, za, ga)[0], fw
                )
            else:
                phi2 = np.zeros(self.bias.shape)
            self._last_andreev = (key, phi2)
        return self._last_andreev[1]

    def values(self, gap: float, gap_c: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
        """φ1 and φ2 on FilmModel's grid for these parameters."""
        fw = self.width(gap_c, gamma)
        return self.dynes(gap, gamma, fw), self.andreev(gap_c, fw)

    def derivatives(
        self, gap: float, gap_c: float, gamma: float, scale: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """∂φ1/∂Δ, ∂φ2/∂Δc, ∂φ1/∂Γ, each times its parameter ``scale`` (on the same grid)."""
        fw = self.width(gap_c, gamma)
        memo: dict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = {}

        def dynes_part(e: np.ndarray, i: int) -> np.ndarray:
            hit = memo.get("d")
            if hit is None or hit[0].shape != e.shape or not np.array_equal(hit[0], e):
                hit = memo["d"] = (e, _dynes_derivatives(e, gap, gamma))
            return 1.0 + hit[1][i] * (scale[0] if i == 0 else scale[2])

        d_gap = self._smear(lambda e: dynes_part(e, 0), fw)
        d_gamma = self._smear(lambda e: dynes_part(e, 1), fw)
        if gap_c > 0:
            za, ga = self.za, self.ga
            d_gap_c = self._smear(
                lambda e: 1.0 + 2.0 * scale[1] * _andreev_derivative(e, gap_c, za, ga), fw
            )
        else:
            d_gap_c = np.zeros_like(d_gap)
        return d_gap, d_gap_c, d_gamma


def _bounded_linear(
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


def _parabola_min(u: np.ndarray, c: np.ndarray) -> float:
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


def _refine_film_start(
    ch: _FilmChannels,
    x: np.ndarray,
    wy: np.ndarray,
    inv_sig: np.ndarray,
    start: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    refine: Sequence[str],
    g_lim: tuple[float, float],
    w_lim: tuple[float, float],
) -> np.ndarray:
    """Better guessed (Δ, Δc, Γ) for the film fit, from a coarse projected grid search.

    The guesses are rough: Γ from the zero-bias conductance, which the Andreev channel
    raises several-fold; Δ from the coherence peaks, which thermal smearing moves out;
    Δc from the in-gap peaks when resolved, else Δ/5. Each parameter named in ``refine``
    gets a few candidates — Γ0·(1, 0.3, 0.1); Δc0·(1, 0.7, 0.45); for Δ, the Dynes channel
    moved in bias by the shift of its own peak and around it (φ1(|V| + δ) stands for the
    channel at Δ − δ, at no smearing cost) — and the projected χ² (G_N and the weight
    solved linearly) on the grid picks the best, refined by a parabola along each axis.
    Costs one smearing per Γ and per Δc candidate.
    """
    gap, gap_c, gamma = (float(v) for v in start)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ax = np.abs(x)
    yy = float(wy @ wy)
    w = inv_sig[:, 0]
    g_cands = gamma * (np.array([1.0, 0.3, 0.1]) if "gamma" in refine else np.ones(1))
    g_cands = np.clip(g_cands, lo[2], hi[2])
    c_cands = gap_c * (np.array([1.0, 0.7, 0.45]) if "gap_c" in refine else np.ones(1))
    c_cands = np.clip(c_cands, lo[1], hi[1])
    rel = np.array([0.08, 0.04, 0.0, -0.04, -0.08]) if "gap" in refine else np.zeros(1)
    # channels share FilmModel's grid: its width is min(Γ, Γ_A) for every candidate here
    # unless Γ < Γ_A, when the Andreev channels are recomputed per Γ
    fw_of = [ch.width(min(c_cands), gm) for gm in g_cands]
    phi2w: dict[tuple[int, float], np.ndarray] = {}

    def andreev_w(j: int, fw: float) -> np.ndarray:
        key = (j, fw)
        if key not in phi2w:
            phi2w[key] = ch.andreev(float(c_cands[j]), fw) * w
        return phi2w[key]

    def cost(a1: np.ndarray, a2: np.ndarray) -> float:
        h11, h12, h22 = a1 @ a1, a1 @ a2, a2 @ a2
        b1, b2 = a1 @ wy, a2 @ wy
        det = h11 * h22 - h12 * h12
        if det > 0:
            g = (b1 * h22 - b2 * h12) / det
            c2 = (h11 * b2 - h12 * b1) / det
            if g_lim[0] <= g <= g_lim[1] and g > 0 and w_lim[0] <= c2 / g <= w_lim[1]:
                return yy - (g * b1 + c2 * b2)
        g, wt, _ = _bounded_linear(np.column_stack([a1, a2]), wy, g_lim, w_lim)
        r = g * (a1 + wt * a2) - wy
        return float(r @ r)

    costs = np.empty((g_cands.size, rel.size, c_cands.size))
    shifts = np.empty((g_cands.size, rel.size))
    for i, gm in enumerate(g_cands):
        phi1 = ch.dynes(gap, float(gm), fw_of[i])
        peak = 0.0
        if "gap" in refine:
            pos = xs[np.argmax(phi1[order] * (xs > 0))]
            neg = xs[np.argmax(phi1[order] * (xs < 0))]
            peak = 0.5 * (pos - neg) - gap
            peak = peak if abs(peak) < 0.5 * gap else 0.0
        shifts[i] = np.clip(peak + gap * rel, gap - hi[0], gap - lo[0])
        ys1 = phi1[order]
        for k, d in enumerate(shifts[i]):
            a1 = (np.interp(ax + d, xs, ys1) if d != 0 else phi1) * w
            for j in range(c_cands.size):
                costs[i, k, j] = cost(a1, andreev_w(j, fw_of[i]))
    if not np.all(np.isfinite(costs)):
        return start
    i, k, j = np.unravel_index(int(np.argmin(costs)), costs.shape)
    ug = _parabola_min(np.log(g_cands), costs[:, k, j]) if g_cands.size == 3 else 0.0
    uc = _parabola_min(np.log(c_cands), costs[i, k, :]) if c_cands.size == 3 else 0.0
    d = _parabola_min(shifts[i], costs[i, :, j]) if rel.size > 1 else 0.0
    gamma = float(np.clip(math.exp(ug), lo[2], hi[2])) if g_cands.size == 3 else gamma
    gap_c = float(np.clip(math.exp(uc), lo[1], hi[1])) if c_cands.size == 3 else gap_c
    gap = float(np.clip(gap - d, lo[0], hi[0]))
    return np.array([gap, gap_c, gamma])


def _fit_film(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    p0: Mapping[str, float],
    bounds: Mapping[str, tuple[float, float]],
    sigma: float | np.ndarray | None,
    max_nfev: int,
    extra: Mapping[str, float],
    refine: Sequence[str] = (),
) -> FitResult:
    """Variable-projection fit of the film model (see the comment above ``_FilmChannels``)."""
    model = "film"
    names = _MODELS[model][0]
    extra = dict(extra)
    prep = _prepare(model, bias, didv, temperature, v_mod_rms, sigma, len(names), extra)
    if isinstance(prep, FitResult):
        return prep
    x, y, sig_arr, ok, temperature, v_mod_rms = prep
    n_in = np.size(bias)
    try:
        start5 = np.array([p0[k] for k in names], dtype=float)
        if not np.all(np.isfinite(start5)):
            return _fail(
                model,
                f"no usable starting values {dict(p0)}",
                temperature,
                v_mod_rms,
                n_in,
                **extra,
            )
        lo = np.array([bounds[k][0] for k in _NL_NAMES], dtype=float)
        hi = np.array([bounds[k][1] for k in _NL_NAMES], dtype=float)
        start = np.array([p0[k] for k in _NL_NAMES], dtype=float)
        # Δ, Δc, Γ > 0 are fitted as q = ln(θ): the broadening in particular may start
        # several times off, and steps in ln Γ follow its scale
        lo = np.maximum(lo, 1e-300)
        if not np.all(hi > lo):
            return _fail(model, "empty bounds", temperature, v_mod_rms, n_in, **extra)
        eps = 1e-9 * (hi - lo)
        start = np.clip(start, lo + eps, hi - eps)
        g_lim = (max(float(bounds["g_normal"][0]), 0.0), float(bounds["g_normal"][1]))
        w_lim = (float(bounds["andreev_weight"][0]), float(bounds["andreev_weight"][1]))
        if not (g_lim[0] <= g_lim[1] and w_lim[0] <= w_lim[1]):
            return _fail(
                model,
                "empty bounds for g_normal / andreev_weight",
                temperature,
                v_mod_rms,
                n_in,
                **extra,
            )
        ch = _FilmChannels(
            x, temperature, v_mod_rms, extra["barrier_andreev"], extra["gamma_andreev"]
        )
        wy = y / sig_arr
        inv_sig = 1.0 / sig_arr[:, None]
        states: dict[bytes, dict] = {}

        def state(q: np.ndarray) -> dict:
            key = np.asarray(q, dtype=float).tobytes()
            st = states.get(key)
            if st is None:
                theta = start if np.array_equal(q, q0) else np.exp(q)
                phi1, phi2 = ch.values(*theta)
                a = np.column_stack([phi1, phi2]) * inv_sig
                g, w, free = _bounded_linear(a, wy, g_lim, w_lim)
                r = g * (a[:, 0] + w * a[:, 1]) - wy
                if len(states) > 16:
                    states.clear()
                st = states[key] = {"theta": theta, "a": a, "g": g, "w": w, "free": free, "r": r}
                st["phi"] = (phi1, phi2)
            return st

        def resid(q: np.ndarray) -> np.ndarray:
            return state(q)["r"]

        def model_jac(st: dict) -> np.ndarray:
            """Scaled ∂(model/σ)/∂(Δ, Δc, Γ) at fixed linear parameters."""
            if "dm" not in st:
                d_gap, d_gap_c, d_gamma = ch.derivatives(*st["theta"], st["theta"])
                g, w = st["g"], st["w"]
                st["dm"] = np.column_stack([g * d_gap, g * w * d_gap_c, g * d_gamma]) * inv_sig
            return st["dm"]

        def jac(q: np.ndarray) -> np.ndarray:
            st = state(q)
            m = model_jac(st)
            af = st["a"] @ st["free"]
            if af.shape[1]:
                qm, _ = np.linalg.qr(af)
                m = m - qm @ (qm.T @ m)
            return m

        if refine:
            start = _refine_film_start(
                ch, x, wy, inv_sig, start, lo + eps, hi - eps, refine, g_lim, w_lim
            )
        q0 = np.log(start)
        with np.errstate(all="ignore"):
            if not np.all(np.isfinite(resid(q0))):
                return _fail(
                    model,
                    "model is not finite at the starting values",
                    temperature,
                    v_mod_rms,
                    n_in,
                    **extra,
                )
            ls = least_squares(
                resid,
                q0,
                jac=jac,
                bounds=(np.log(lo), np.log(hi)),
                method="trf",
                x_scale=1.0,
                ftol=_FILM_TOL,
                xtol=_FILM_TOL,
                max_nfev=max_nfev,
            )
            st = state(ls.x)
            theta, g, w = st["theta"], st["g"], st["w"]
            p = np.array([theta[0], theta[1], theta[2], w, g])
            if g > 0 and w > 0 and theta[1] > 0:
                # FilmModel.conductance on the same grid: equal to rounding (~1e-13)
                fitted = g * (st["phi"][0] + w * st["phi"][1])
            else:  # FilmModel drops the Andreev channel and uses a coarser grid
                fitted = _film_model(x, p, temperature, v_mod_rms, **extra)
            fun = (fitted - y) / sig_arr
            # full 5-parameter Jacobian (scaled) at the solution, for the covariance
            sw = abs(w) if w != 0 else max(abs(w_lim[1]), 1e-12)
            sg = abs(g) if g != 0 else max(abs(g_lim[1]), 1e-12)
            a = st["a"]
            j5 = np.column_stack([model_jac(st), g * sw * a[:, 1], sg * (a[:, 0] + w * a[:, 1])])
            scale5 = np.concatenate([theta, [sw, sg]])
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return _fail(model, f"fit error: {exc}", temperature, v_mod_rms, n_in, **extra)

    lo5 = np.array([bounds[k][0] for k in names], dtype=float)
    hi5 = np.array([bounds[k][1] for k in names], dtype=float)
    return _result(
        model,
        names,
        p,
        fun,
        j5,
        scale5,
        lo5,
        hi5,
        ls,
        max_nfev,
        ok,
        sig_arr,
        temperature,
        v_mod_rms,
        extra,
    )


def _check_input(
    model: str, bias: np.ndarray, didv: np.ndarray, t: float, vmod: float, n_min: int
) -> FitResult | None:
    """A failure result for unusable input, else None."""
    n = int(np.size(bias))
    if np.shape(bias) != np.shape(didv) or np.ndim(bias) != 1:
        return _fail(
            model,
            f"bias {np.shape(bias)} and dI/dV {np.shape(didv)} must be equal 1-D shapes",
            t,
            vmod,
            n,
        )
    ok = np.isfinite(np.asarray(bias, dtype=float)) & np.isfinite(np.asarray(didv, dtype=float))
    if np.count_nonzero(ok) < n_min:
        return _fail(model, f"only {np.count_nonzero(ok)} finite points", t, vmod, n)
    if not np.any(np.asarray(didv, dtype=float)[ok] != 0):
        return _fail(model, "dI/dV is zero everywhere", t, vmod, n)
    return None


def _guarded(model: str, bias: np.ndarray, t: float, vmod: float, guess: Callable[[], dict]):
    """Run a guess function; a failure result instead of an exception."""
    try:
        with np.errstate(all="ignore"):
            return guess()
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return _fail(model, f"no starting values: {exc}", t, vmod, int(np.size(bias)))


def _merge(base: dict, override: Mapping | None) -> dict:
    out = dict(base)
    if override:
        out.update({k: v for k, v in override.items() if v is not None})
    return out


# ---------------------------------------------------------------------------- public fits


def fit_dynes(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float = 0.0,
    sigma: float | np.ndarray | None = None,
    p0: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    max_nfev: int = 200,
) -> FitResult:
    """Fit G_N · (Dynes DOS ⊗ thermal ⊗ lock-in) to a tunnelling spectrum.

    bias (V) and didv (S) arrays; ``temperature`` (K) and ``v_mod_rms`` (V rms) fixed;
    ``sigma`` (S) point noise (estimated from the data when None); ``p0``/``bounds`` override
    the automatic start / limits per parameter (``gap``, ``gamma`` eV, ``g_normal`` S).
    """
    return _fit_guessed(
        "dynes",
        bias,
        didv,
        guess_dynes,
        lambda vmax, g_n: {
            "gap": (1e-7, vmax),
            "gamma": (1e-9, vmax),
            "g_normal": (0.0, 10.0 * g_n),
        },
        min_points=6,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        sigma=sigma,
        p0=p0,
        bounds=bounds,
        max_nfev=max_nfev,
    )


def fit_btk(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float = 0.0,
    sigma: float | np.ndarray | None = None,
    p0: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    max_nfev: int = 300,
) -> FitResult:
    """Fit G_N · BTK(Δ, Z, Γ) ⊗ thermal ⊗ lock-in to an Andreev spectrum (conventional film).

    Units as ``fit_dynes``; ``barrier`` is the dimensionless Z.
    """
    return _fit_guessed(
        "btk",
        bias,
        didv,
        guess_btk,
        lambda vmax, g_n: {
            "gap": (1e-7, vmax),
            "barrier": (0.0, 50.0),
            "gamma": (1e-9, vmax),
            "g_normal": (0.0, 10.0 * g_n),
        },
        min_points=7,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        sigma=sigma,
        p0=p0,
        bounds=bounds,
        max_nfev=max_nfev,
    )


def _fit_guessed(
    model: str,
    bias: np.ndarray,
    didv: np.ndarray,
    guess_fn: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    limits: Callable[[float, float], dict[str, tuple[float, float]]],
    *,
    min_points: int,
    temperature: float,
    v_mod_rms: float,
    sigma: float | np.ndarray | None,
    p0: Mapping[str, float] | None,
    bounds: Mapping[str, tuple[float, float]] | None,
    max_nfev: int,
) -> FitResult:
    """The common path of the Dynes and BTK fits: check the input, guess a start,
    bound the parameters (``limits(vmax, g_n)`` overridden by ``bounds``), fit."""
    bad = _check_input(model, bias, didv, temperature, v_mod_rms, min_points)
    if bad is not None:
        return bad
    b, g = _sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = _guarded(model, b, temperature, v_mod_rms, lambda: guess_fn(b, g))
    if isinstance(guess, FitResult):
        return guess
    start = _merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    return _fit(
        model,
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=_merge(limits(vmax, g_n), bounds),
        sigma=sigma,
        max_nfev=max_nfev,
    )


def fit_film(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float = 0.0,
    sigma: float | np.ndarray | None = None,
    p0: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    barrier_andreev: float = physics.FilmModel.barrier_andreev,
    gamma_andreev: float = physics.FilmModel.gamma_andreev,
    max_nfev: int = 300,
) -> FitResult:
    """Fit the preformed-pair film model (Δ, Δc, Γ, Andreev weight, G_N) to a point contact.

    The Andreev channel's Z (``barrier_andreev``) and Γ_A (``gamma_andreev``, eV) are held
    fixed. Units as ``fit_dynes``; ``andreev_weight`` is a_A·w(G_N), dimensionless.
    ``g_normal`` and ``andreev_weight`` are solved linearly at every step, so a ``p0`` for
    them only sets the default G_N bound (10 × G_N); ``gap``, ``gap_c``, ``gamma`` from
    ``p0`` are used as given, the guessed ones first refined by a coarse search.
    ``max_nfev`` counts model evaluations (each one smearing of both channels).
    """
    bad = _check_input("film", bias, didv, temperature, v_mod_rms, 8)
    if bad is not None:
        return bad
    b, g = _sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = _guarded(
        "film",
        b,
        temperature,
        v_mod_rms,
        lambda: guess_film(b, g, temperature=temperature, v_mod_rms=v_mod_rms),
    )
    if isinstance(guess, FitResult):
        return guess
    start = _merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    lim = _merge(
        {
            "gap": (1e-7, vmax),
            "gap_c": (1e-7, max(start["gap"], 2e-7)),
            "gamma": (1e-9, vmax),
            "andreev_weight": (0.0, 20.0),
            "g_normal": (0.0, 10.0 * g_n),
        },
        bounds,
    )
    extra = {"barrier_andreev": float(barrier_andreev), "gamma_andreev": float(gamma_andreev)}
    return _fit_film(
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=lim,
        sigma=sigma,
        max_nfev=max_nfev,
        extra=extra,
        refine=[k for k in _NL_NAMES if not (p0 and p0.get(k) is not None)],
    )
