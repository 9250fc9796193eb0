"""The public fits: guess a start, bound the parameters, fit (Dynes, BTK, film)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from andreev import physics
from andreev.analysis.fits.engine import (
    Bounds,
    FitResult,
    check_input,
    fit_model,
    guarded_guess,
    merge,
)
from andreev.analysis.fits.film import NL_NAMES, fit_film_projected
from andreev.analysis.fits.film_free import ANDREEV_BOUNDS
from andreev.analysis.fits.guesses import guess_btk, guess_dynes, guess_film
from andreev.analysis.spectrum import sorted_finite

#: default bounds of a model from the largest |bias| (V) and the G_N guess (S)
Limits = Callable[[float, float], dict[str, tuple[float, float]]]


def _dynes_limits(vmax: float, g_n: float) -> dict[str, tuple[float, float]]:
    return {"gap": (1e-7, vmax), "gamma": (1e-9, vmax), "g_normal": (0.0, 10.0 * g_n)}


def _btk_limits(vmax: float, g_n: float) -> dict[str, tuple[float, float]]:
    return {
        "gap": (1e-7, vmax),
        "barrier": (0.0, 50.0),
        "gamma": (1e-9, vmax),
        "g_normal": (0.0, 10.0 * g_n),
    }


def fit_dynes(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float = 0.0,
    sigma: float | np.ndarray | None = None,
    p0: Mapping[str, float] | None = None,
    bounds: Bounds | None = None,
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
        _dynes_limits,
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
    bounds: Bounds | None = None,
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
        _btk_limits,
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
    limits: Limits,
    *,
    min_points: int,
    temperature: float,
    v_mod_rms: float,
    sigma: float | np.ndarray | None,
    p0: Mapping[str, float] | None,
    bounds: Bounds | None,
    max_nfev: int,
) -> FitResult:
    """The common path of the Dynes and BTK fits: check the input, guess a start,
    bound the parameters (``limits(vmax, g_n)`` overridden by ``bounds``), fit."""
    bad = check_input(model, bias, didv, temperature, v_mod_rms, min_points)
    if bad is not None:
        return bad
    b, g = sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = guarded_guess(model, b, temperature, v_mod_rms, lambda: guess_fn(b, g))
    if isinstance(guess, FitResult):
        return guess
    start = merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    return fit_model(
        model,
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=merge(limits(vmax, g_n), bounds),
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
    bounds: Bounds | None = None,
    barrier_andreev: float = physics.FilmModel.barrier_andreev,
    gamma_andreev: float = physics.FilmModel.gamma_andreev,
    max_nfev: int = 300,
    free_andreev: bool = True,
    andreev_weight: float | None = None,
) -> FitResult:
    """Fit the preformed-pair film model (Δ, Δc, Γ, Andreev weight, G_N, and with
    ``free_andreev`` the Andreev channel's Z_A and Γ_A) to a point contact.

    ``andreev_weight`` given: the weight is held at it (error 0) instead of fitted — the
    contact's weight from another sweep (``andreev.analysis.contact``).

    ``barrier_andreev`` (Z_A) and ``gamma_andreev`` (Γ_A, eV) are the start of the
    Andreev channel's barrier and broadening; with ``free_andreev`` (default) both are then
    fitted within ``ANDREEV_BOUNDS`` (result model "film_za"), else held at these values
    (model "film"). Units as ``fit_dynes``; ``andreev_weight`` is a_A·w(G_N).
    ``g_normal`` and ``andreev_weight`` are solved linearly at every step, so a ``p0`` for
    them only sets the default G_N bound (10 × G_N); ``gap``, ``gap_c``, ``gamma`` from
    ``p0`` are used as given, the guessed ones first refined by a coarse search.
    ``max_nfev`` counts model evaluations (each one smearing of both channels).
    """
    bad = check_input("film", bias, didv, temperature, v_mod_rms, 8)
    if bad is not None:
        return bad
    b, g = sorted_finite(bias, didv)
    vmax = float(np.max(np.abs(b)))
    guess = guarded_guess(
        "film",
        b,
        temperature,
        v_mod_rms,
        lambda: guess_film(b, g, temperature=temperature, v_mod_rms=v_mod_rms),
    )
    if isinstance(guess, FitResult):
        return guess
    start = merge(guess, p0)
    g_n = abs(start["g_normal"]) or float(np.max(np.abs(g)))
    lim = merge(
        {
            "gap": (1e-7, vmax),
            "gap_c": (1e-7, max(start["gap"], 2e-7)),
            "gamma": (1e-9, vmax),
            "andreev_weight": (0.0, 20.0),
            "g_normal": (0.0, 10.0 * g_n),
        },
        bounds,
    )
    if andreev_weight is not None:
        lim["andreev_weight"] = (float(andreev_weight), float(andreev_weight))
    extra = {"barrier_andreev": float(barrier_andreev), "gamma_andreev": float(gamma_andreev)}
    return fit_film_projected(
        bias,
        didv,
        temperature=temperature,
        v_mod_rms=v_mod_rms,
        p0=start,
        bounds=lim,
        sigma=sigma,
        max_nfev=max_nfev,
        extra=extra,
        refine=[k for k in NL_NAMES if not (p0 and p0.get(k) is not None)],
        free_bounds=merge(ANDREEV_BOUNDS, bounds) if free_andreev else None,
    )
