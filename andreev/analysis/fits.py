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
deviation from the covariance ``(JᵀJ)⁻¹ · s²`` with ``s²`` the residual variance. A fit
that does not converge returns ``success=False`` and a message; it never raises.
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

PARAM_UNITS: dict[str, str] = {
    "gap": "eV",
    "gamma": "eV",
    "gap_c": "eV",
    "g_normal": "S",
    "barrier": "1",
    "andreev_weight": "1",
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
    bias_in = np.asarray(bias, dtype=float)
    didv_in = np.asarray(didv, dtype=float)
    n_in = bias_in.size
    try:
        temperature = float(temperature)
        v_mod_rms = float(v_mod_rms)
        if not (math.isfinite(temperature) and temperature >= 0.0):
            return _fail(model, f"bad temperature {temperature!r} K", temperature, v_mod_rms, n_in)
        if not (math.isfinite(v_mod_rms) and v_mod_rms >= 0.0):
            return _fail(model, f"bad v_mod_rms {v_mod_rms!r} V", temperature, v_mod_rms, n_in)
        if bias_in.shape != didv_in.shape:
            return _fail(model, "bias and dI/dV differ in shape", temperature, v_mod_rms, n_in)
        ok = np.isfinite(bias_in) & np.isfinite(didv_in)
        x, y = bias_in[ok], didv_in[ok]
        n_par = len(names)
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
        return _fail(
            model, f"fit error: {exc}", float(temperature), float(v_mod_rms), n_in, **extra
        )

    p = ls.x * scale
    dof = max(x.size - len(names), 1)
    chi2 = float(np.sum(ls.fun**2))
    s2 = chi2 / dof
    jac = ls.jac
    try:
        cov_q = np.linalg.inv(jac.T @ jac) * s2
        err = np.sqrt(np.abs(np.diag(cov_q))) * scale
    except np.linalg.LinAlgError:
        err = np.full(len(names), np.inf)
    err = np.where(np.isfinite(err), err, np.inf)

    res_full = np.full(n_in, np.nan)
    res_full[ok] = -ls.fun * sig_arr  # data − model
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
    bad = _check_input("dynes", bias, didv, temperature, v_mod_rms, 6)
    if bad is not None:
        return bad
    b, g = _sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = _guarded("dynes", b, temperature, v_mod_rms, lambda: guess_dynes(b, g))
    if isinstance(guess, FitResult):
        return guess
    start = _merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    lim = _merge(
        {"gap": (1e-7, vmax), "gamma": (1e-9, vmax), "g_normal": (0.0, 10.0 * g_n)}, bounds
    )
    return _fit(
        "dynes",
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=lim,
        sigma=sigma,
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
    bad = _check_input("btk", bias, didv, temperature, v_mod_rms, 7)
    if bad is not None:
        return bad
    b, g = _sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = _guarded("btk", b, temperature, v_mod_rms, lambda: guess_btk(b, g))
    if isinstance(guess, FitResult):
        return guess
    start = _merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    lim = _merge(
        {
            "gap": (1e-7, vmax),
            "barrier": (0.0, 50.0),
            "gamma": (1e-9, vmax),
            "g_normal": (0.0, 10.0 * g_n),
        },
        bounds,
    )
    return _fit(
        "btk",
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=lim,
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
    return _fit(
        "film",
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=lim,
        sigma=sigma,
        max_nfev=max_nfev,
        extra=extra,
    )
