"""The one least-squares path of the spectrum fits, and the result it returns.

Data are validated into a ``FitData`` (finite points, per-point σ, the fixed T and
V_mod); a solver hands its ``Solution`` (parameters, weighted residual, Jacobian, bounds)
to ``make_result``, which computes χ²_red, the errors (``andreev.analysis.uncertainty``)
and the message. ``fit_model`` is the generic bounded fit of any model of ``MODELS``
(scaled parameters, numeric Jacobian); the film fit has its own solver
(``andreev.analysis.fits.film``) but the same data preparation and result. A fit never
raises for bad data: it returns ``success=False`` with a message (``failure``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult, least_squares

from andreev.analysis.fits.models import MODELS
from andreev.analysis.spectrum import noise_sigma
from andreev.analysis.uncertainty import covariance, errors_of, reduced_chi2

Bounds = Mapping[str, tuple[float, float]]


@dataclass
class FitResult:
    """Outcome of one spectrum fit.

    ``params`` and ``errors`` map parameter name → value / one-sigma error in SI or eV
    (``gap``, ``gamma``, ``gap_c`` in eV; ``g_normal`` in S; ``barrier`` and
    ``andreev_weight`` dimensionless). ``residuals`` is data − model (S) at the fitted
    bias points (NaN where the input was not finite). ``chi2_red`` is the reduced χ²
    against ``sigma`` (given, or estimated from the point-to-point noise of the data).
    ``temperature`` (K) and ``v_mod_rms`` (V) are the fixed inputs the model used.
    ``covariance`` is the parameters' covariance in the order of ``params`` (their units;
    inflated as the errors, ``andreev.analysis.uncertainty``), None for a failed fit.
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
    covariance: np.ndarray | None = None

    def curve(self, bias: np.ndarray) -> np.ndarray:
        """The fitted model's dI/dV (S) at ``bias`` (V); NaN if the fit produced no params."""
        bias = np.asarray(bias, dtype=float)
        if not self.params or not all(np.isfinite(v) for v in self.params.values()):
            return np.full_like(bias, np.nan)
        names, fn = MODELS[self.model]
        p = [self.params[n] for n in names]
        return fn(bias, p, self.temperature, self.v_mod_rms, **self.extra)


class FitFailure(Exception):
    """Internal: a fit cannot go on; turned into a ``success=False`` result, never raised
    out of a public fit."""


@dataclass(frozen=True)
class FitData:
    """The finite points of one spectrum, ready to fit.

    ``x`` bias (V), ``y`` dI/dV (S), ``sigma`` per-point noise (S), ``mask`` which input
    points they are; ``temperature`` (K) and ``v_mod_rms`` (V rms) as floats.
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    mask: np.ndarray
    temperature: float
    v_mod_rms: float


@dataclass(frozen=True)
class Solution:
    """What a least-squares solver hands to ``make_result``.

    ``params`` (model order, physical units); ``fun`` the weighted residual
    (model − y)/σ there; ``jac`` its Jacobian in the scaled parameters p/``scale``;
    ``lo``/``hi`` the bounds (for the "at bound" note); ``ls`` scipy's result (status,
    message, nfev); ``max_nfev`` the evaluation budget it had.
    """

    params: np.ndarray
    fun: np.ndarray
    jac: np.ndarray
    scale: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    ls: OptimizeResult
    max_nfev: int


def failure(
    model: str,
    message: str,
    temperature: float,
    v_mod_rms: float,
    n: int,
    extra: Mapping[str, float] | None = None,
) -> FitResult:
    """A ``success=False`` result with NaN parameters, errors and residuals (n points)."""
    names = MODELS[model][0]
    nan = float("nan")
    return FitResult(
        model=model,
        params={k: nan for k in names},
        errors={k: nan for k in names},
        success=False,
        message=message,
        chi2_red=nan,
        residuals=np.full(n, nan),
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        extra=dict(extra or {}),
    )


def _check_fixed_inputs(temperature: float, v_mod_rms: float) -> None:
    """FitFailure unless T (K) and V_mod (V) are finite and non-negative."""
    if not (math.isfinite(temperature) and temperature >= 0.0):
        raise FitFailure(f"bad temperature {temperature!r} K")
    if not (math.isfinite(v_mod_rms) and v_mod_rms >= 0.0):
        raise FitFailure(f"bad v_mod_rms {v_mod_rms!r} V")


def _point_sigma(
    x: np.ndarray, y: np.ndarray, sigma: float | np.ndarray | None, ok: np.ndarray
) -> np.ndarray:
    """Per-point σ (S) of the finite points ``ok``: given, or the data's white-noise level.

    FitFailure if a given σ is not finite and > 0 at those points.
    """
    if sigma is not None:
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), ok.shape)[ok]
        if not np.all(np.isfinite(sig) & (sig > 0)):
            raise FitFailure("sigma must be finite and > 0")
        return sig
    noise = noise_sigma(y, x)
    if not (math.isfinite(noise) and noise > 0):
        noise = max(1e-6 * float(np.max(np.abs(y))), 1e-30)
    return np.full(x.size, noise)


def prepare(
    model: str,
    bias: np.ndarray,
    didv: np.ndarray,
    temperature: float,
    v_mod_rms: float,
    sigma: float | np.ndarray | None,
    extra: Mapping[str, float],
) -> FitData | FitResult:
    """Validated finite data of a fit of ``model``, or a failure result."""
    bias_in = np.asarray(bias, dtype=float)
    didv_in = np.asarray(didv, dtype=float)
    n_in, n_par = bias_in.size, len(MODELS[model][0])
    try:
        temperature, v_mod_rms = float(temperature), float(v_mod_rms)
    except (TypeError, ValueError) as exc:
        return failure(model, f"bad temperature / v_mod_rms: {exc}", math.nan, math.nan, n_in)
    try:
        _check_fixed_inputs(temperature, v_mod_rms)
        if bias_in.shape != didv_in.shape:
            raise FitFailure("bias and dI/dV differ in shape")
    except FitFailure as exc:
        return failure(model, str(exc), temperature, v_mod_rms, n_in)
    ok = np.isfinite(bias_in) & np.isfinite(didv_in)
    x, y = bias_in[ok], didv_in[ok]
    if x.size < n_par + 3:
        message = f"only {x.size} finite points for {n_par} parameters"
        return failure(model, message, temperature, v_mod_rms, n_in, extra)
    try:
        sig = _point_sigma(x, y, sigma, ok)
    except FitFailure as exc:
        return failure(model, str(exc), temperature, v_mod_rms, n_in)
    return FitData(x, y, sig, ok, temperature, v_mod_rms)


@contextmanager
def _no_warnings() -> Iterator[None]:
    with np.errstate(all="ignore"):
        yield


def solve_guarded(
    model: str, data: FitData, extra: Mapping[str, float], solve: Callable[[], FitResult]
) -> FitResult:
    """Run a solver; FitFailure and numerical errors become failure results."""
    args = (data.temperature, data.v_mod_rms, data.mask.size, extra)
    try:
        return solve()
    except FitFailure as exc:
        return failure(model, str(exc), *args)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return failure(model, f"fit error: {exc}", *args)


def _messages(names: Sequence[str], sol: Solution, chi2: float, err: np.ndarray) -> list[str]:
    ls = sol.ls
    out = []
    if ls.status == 0:
        out.append(f"did not converge within {sol.max_nfev} model evaluations")
    elif not ls.success:
        out.append(f"least_squares failed: {ls.message}")
    else:
        out.append("converged")
    span = sol.hi - sol.lo
    at_bound = [
        k
        for k, v, a, b_, d in zip(names, sol.params, sol.lo, sol.hi, span, strict=True)
        if d > 0 and (abs(v - a) <= 1e-6 * d or abs(v - b_) <= 1e-6 * d)
    ]
    if at_bound:
        out.append("at bound: " + ", ".join(at_bound))
    if not np.all(np.isfinite(err)):
        out.append("covariance singular (errors inf)")
    return out


def make_result(model: str, data: FitData, sol: Solution, extra: Mapping[str, float]) -> FitResult:
    """FitResult of a solution: χ²_red, covariance and errors (``uncertainty``), message.
    A parameter whose bounds are equal is held: its Jacobian column is left out (error 0,
    not "at bound")."""
    names = MODELS[model][0]
    chi2 = float(np.sum(sol.fun**2))
    held = sol.hi - sol.lo <= 0
    chi2_red = reduced_chi2(sol.fun, len(names) - int(np.count_nonzero(held)))
    cov = covariance(np.where(held, 0.0, sol.jac), chi2_red, sol.scale)
    cov[held, :] = cov[:, held] = 0.0
    err = errors_of(cov)
    residuals = np.full(data.mask.size, np.nan)
    residuals[data.mask] = -sol.fun * data.sigma  # data − model
    success = bool(sol.ls.success) and sol.ls.status > 0 and math.isfinite(chi2)
    return FitResult(
        model=model,
        params={k: float(v) for k, v in zip(names, sol.params, strict=True)},
        errors={k: float(e) for k, e in zip(names, err, strict=True)},
        success=success,
        message="; ".join(_messages(names, sol, chi2, err)),
        chi2_red=chi2_red,
        residuals=residuals,
        temperature=data.temperature,
        v_mod_rms=data.v_mod_rms,
        nfev=int(sol.ls.nfev),
        extra=dict(extra),
        covariance=cov,
    )


def start_values(names: Sequence[str], p0: Mapping[str, float]) -> np.ndarray:
    """The starting parameters in model order; FitFailure unless all are finite."""
    start = np.array([p0[k] for k in names], dtype=float)
    if not np.all(np.isfinite(start)):
        raise FitFailure(f"no usable starting values {dict(p0)}")
    return start


def _solve_generic(
    model: str,
    data: FitData,
    p0: Mapping[str, float],
    bounds: Bounds,
    max_nfev: int,
    extra: Mapping[str, float],
) -> FitResult:
    names, fn = MODELS[model]
    lo = np.array([bounds[k][0] for k in names], dtype=float)
    hi = np.array([bounds[k][1] for k in names], dtype=float)
    start = start_values(names, p0)
    # fit in scaled parameters q = p / scale so that every q is of order 1
    scale = np.where(np.abs(start) > 0, np.abs(start), np.maximum(np.abs(hi), 1e-12))
    eps = 1e-9 * (hi - lo)
    start = np.clip(start, lo + eps, hi - eps)
    x, y, sig = data.x, data.y, data.sigma

    def resid(q: np.ndarray) -> np.ndarray:
        return (fn(x, q * scale, data.temperature, data.v_mod_rms, **extra) - y) / sig

    with _no_warnings():
        if not np.all(np.isfinite(resid(start / scale))):
            raise FitFailure("model is not finite at the starting values")
        ls = least_squares(
            resid,
            start / scale,
            bounds=(lo / scale, hi / scale),
            method="trf",
            diff_step=1e-6,
            x_scale=1.0,
            max_nfev=max_nfev,
        )
    sol = Solution(ls.x * scale, ls.fun, ls.jac, scale, lo, hi, ls, max_nfev)
    return make_result(model, data, sol, extra)


def fit_model(
    model: str,
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    p0: Mapping[str, float],
    bounds: Bounds,
    sigma: float | np.ndarray | None,
    max_nfev: int,
    extra: Mapping[str, float] | None = None,
) -> FitResult:
    """Bounded least-squares fit of any model of ``MODELS`` from ``p0`` (numeric Jacobian).

    bias (V), didv (S), temperature (K), v_mod_rms (V rms), sigma (S, None: estimated);
    ``p0`` and ``bounds`` per parameter name; ``extra`` the model's fixed keywords.
    """
    extra = dict(extra or {})
    data = prepare(model, bias, didv, temperature, v_mod_rms, sigma, extra)
    if isinstance(data, FitResult):
        return data
    return solve_guarded(
        model, data, extra, lambda: _solve_generic(model, data, p0, bounds, max_nfev, extra)
    )


# ---------------------------------------------------------------------------- input checks


def check_input(
    model: str, bias: np.ndarray, didv: np.ndarray, t: float, vmod: float, n_min: int
) -> FitResult | None:
    """A failure result for unusable input (shapes, too few finite points, all zero)."""
    n = int(np.size(bias))
    if np.shape(bias) != np.shape(didv) or np.ndim(bias) != 1:
        message = f"bias {np.shape(bias)} and dI/dV {np.shape(didv)} must be equal 1-D shapes"
        return failure(model, message, t, vmod, n)
    ok = np.isfinite(np.asarray(bias, dtype=float)) & np.isfinite(np.asarray(didv, dtype=float))
    if np.count_nonzero(ok) < n_min:
        return failure(model, f"only {np.count_nonzero(ok)} finite points", t, vmod, n)
    if not np.any(np.asarray(didv, dtype=float)[ok] != 0):
        return failure(model, "dI/dV is zero everywhere", t, vmod, n)
    return None


def guarded_guess(
    model: str, bias: np.ndarray, t: float, vmod: float, guess: Callable[[], dict[str, float]]
) -> dict[str, float] | FitResult:
    """Run a guess function; a failure result instead of an exception."""
    try:
        with _no_warnings():
            return guess()
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        return failure(model, f"no starting values: {exc}", t, vmod, int(np.size(bias)))


def merge(base: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` updated with the non-None entries of ``override``."""
    out = dict(base)
    if override:
        out.update({k: v for k, v in override.items() if v is not None})
    return out
