"""The fitted model curves: each is G_N times a conductance of ``andreev.physics``.

A model function takes (bias V, parameters in the order of its names, T K, V_mod V rms,
**fixed extras) and returns dI/dV (S). ``MODELS`` maps the model name to its parameter
names and function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from andreev import physics

#: parameters of a model in the order of its names (eV, 1 or S; see ``FitResult``)
Params = Sequence[float] | np.ndarray
ModelFn = Callable[..., np.ndarray]


def dynes_model(bias: np.ndarray, p: Params, t: float, vmod: float) -> np.ndarray:
    """G_N · (Dynes DOS ⊗ thermal ⊗ lock-in); p = (gap eV, gamma eV, g_normal S)."""
    gap, gamma, g_n = p
    return np.asarray(g_n * physics.dynes_conductance(bias, gap, gamma, t, vmod), dtype=float)


def btk_model(bias: np.ndarray, p: Params, t: float, vmod: float) -> np.ndarray:
    """G_N · BTK ⊗ thermal ⊗ lock-in; p = (gap eV, barrier Z, gamma eV, g_normal S)."""
    gap, barrier, gamma, g_n = p
    return np.asarray(
        g_n * physics.btk_conductance(bias, gap, barrier, gamma, t, vmod), dtype=float
    )


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


def film_model(
    bias: np.ndarray,
    p: Params,
    t: float,
    vmod: float,
    barrier_andreev: float = physics.FilmModel.barrier_andreev,
    gamma_andreev: float = physics.FilmModel.gamma_andreev,
) -> np.ndarray:
    """The film model; p = (gap, gap_c, gamma eV, andreev_weight 1, g_normal S)."""
    gap, gap_c, gamma, weight, g_n = p
    film = film_for_fit(gap, gap_c, gamma, weight, barrier_andreev, gamma_andreev)
    return np.asarray(film.conductance(bias, g_n, t, vmod), dtype=float)


def film_za_model(bias: np.ndarray, p: Params, t: float, vmod: float) -> np.ndarray:
    """The film model with Z_A and Γ_A as parameters 6 and 7 (1, eV)."""
    gap, gap_c, gamma, weight, g_n, za, ga = p
    return film_model(bias, (gap, gap_c, gamma, weight, g_n), t, vmod, za, ga)


MODELS: dict[str, tuple[tuple[str, ...], ModelFn]] = {
    "dynes": (("gap", "gamma", "g_normal"), dynes_model),
    "btk": (("gap", "barrier", "gamma", "g_normal"), btk_model),
    "film": (("gap", "gap_c", "gamma", "andreev_weight", "g_normal"), film_model),
    # the film with the Andreev channel's barrier Z_A and broadening Γ_A fitted as well
    "film_za": (
        (
            "gap",
            "gap_c",
            "gamma",
            "andreev_weight",
            "g_normal",
            "barrier_andreev",
            "gamma_andreev",
        ),
        film_za_model,
    ),
}
