"""The paper's films as presets, the gap map Δ(x, y) and contact-to-contact variation.

Presets (``sim.sample``; docs/physics.md, "Samples of the paper"):

========  ==========  =====  ==================  =======  ==================
preset    kind        Tc K   Δ meV (map)         Δc0 meV  above Tc
========  ==========  =====  ==================  =======  ==================
InO-1     preformed   1.50   0.55 (0.2 – 0.7)    0.10     pseudogap stays
InO-2     preformed   1.45   0.55 (0.2 – 0.7)    0.10     pseudogap stays
InO-3     preformed   1.90   0.60 (0.2 – 0.7)    0.12     pseudogap stays
InO-4     bcs         3.20   1.764 k_B Tc ≈ 0.49 none     metal
========  ==========  =====  ==================  =======  ==================

Gap map: Δ(x, y) = Δ̄ · (low + (high − low) · p^a), p = Φ(u) ∈ (0, 1) with
u = √(2/n) Σ_k cos(k_k·r + φ_k) a seeded sum of ``modes`` plane waves of wavelengths
around ``length`` (≈ a unit normal variable across the sample, Φ its distribution
function), and a = (high − low)/(1 − low) − 1 so that Δ averages to Δ̄ = ``film.gap``;
``low``/``high`` are fractions of Δ̄. Δc is uniform. InO-4 is homogeneous.

Contacts: every contact — a (tip position, setpoint) pair, i.e. each approach or
setpoint step — draws its own Andreev barrier and broadening from a seeded generator:
Z_A = Z̄_A · exp(barrier_spread · N₁), Γ_A = Γ̄_A · exp(gamma_spread · N₂), and an
Andreev amplitude a_A · exp(amplitude_spread · N₃) (the weight of the two-particle
channel, hence the excess current at high transparency).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.physics import K_B_EV, FilmModel

__all__ = ["SAMPLES", "ContactParams", "GapMap", "GapMapParams", "contact_film", "sample_film"]

#: preset name → (FilmModel fields, gap-map (low, high) as fractions of the mean Δ)
SAMPLES: dict[str, tuple[dict[str, Any], tuple[float, float]]] = {
    "InO-1": (
        {"tc": 1.50, "gap": 0.55e-3, "gap_c0": 0.10e-3},
        (0.2 / 0.55, 0.7 / 0.55),
    ),
    "InO-2": (
        {"tc": 1.45, "gap": 0.55e-3, "gap_c0": 0.10e-3},
        (0.2 / 0.55, 0.7 / 0.55),
    ),
    "InO-3": (
        {"tc": 1.90, "gap": 0.60e-3, "gap_c0": 0.12e-3},
        (0.2 / 0.60, 0.7 / 0.60),
    ),
    "InO-4": (
        {
            "tc": 3.2,
            "gap": 1.764 * K_B_EV * 3.2,
            "gamma0": 0.005e-3,
            "gamma1": 0.0,
            "gap_c0": 0.0,
            "andreev_amplitude": 0.0,
            "kind": "bcs",
        },
        (1.0, 1.0),
    ),
}
DEFAULT_SAMPLE = "InO-2"


def sample_film(name: str) -> FilmModel:
    """The FilmModel of preset ``name`` (a key of :data:`SAMPLES`)."""
    return FilmModel(**SAMPLES[name][0])


@dataclass
class GapMapParams:
    """Δ(x, y) (see the module docstring): ``low``/``high`` fractions of the mean gap
    (None: the sample preset's), ``length`` (m) wavelength scale, ``modes`` plane waves."""

    low: float | None = None
    high: float | None = None
    length: float = 30e-9
    modes: int = 12


class GapMap:
    """The seeded map Δ(x, y)/Δ̄ of one sample (cached per position)."""

    def __init__(self, params: GapMapParams, low: float, high: float, seed: int) -> None:
        self.low, self.high = float(low), float(high)
        self.exponent = (high - low) / (1.0 - low) - 1.0 if high > 1.0 > low else 1.0
        rng = np.random.default_rng([seed, 4])
        n = max(int(params.modes), 1)
        angles = rng.uniform(0.0, 2.0 * math.pi, n)
        k = 2.0 * math.pi / (params.length * rng.uniform(0.6, 1.6, n))
        self._waves = list(
            zip(
                (k * np.cos(angles)).tolist(),
                (k * np.sin(angles)).tolist(),
                rng.uniform(0.0, 2.0 * math.pi, n).tolist(),
                strict=True,
            )
        )
        self._norm = math.sqrt(2.0 / n)
        self._cache: dict[tuple[float, float], float] = {}

    @property
    def homogeneous(self) -> bool:
        return self.low == self.high

    def factor(self, x: float, y: float) -> float:
        """Δ(x, y)/Δ̄ at tip position (x, y) (m)."""
        if self.homogeneous:
            return self.low
        hit = self._cache.get((x, y))
        if hit is not None:
            return hit
        u = self._norm * sum(math.cos(kx * x + ky * y + ph) for kx, ky, ph in self._waves)
        p = 0.5 * (1.0 + math.erf(u / math.sqrt(2.0)))
        value = self.low + (self.high - self.low) * p**self.exponent
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[(x, y)] = value
        return value


@dataclass
class ContactParams:
    """Log-normal spreads (1 σ in ln) of Z_A, Γ_A and the Andreev amplitude from
    contact to contact (0: every contact is the film's)."""

    barrier_spread: float = 0.15
    gamma_spread: float = 0.3
    amplitude_spread: float = 0.1


def contact_film(
    film: FilmModel, params: ContactParams, seed: int, x: float, y: float, setpoint: float
) -> FilmModel:
    """``film`` with the Andreev parameters of the contact at (x, y) (m) made at
    ``setpoint`` (A): seeded by position (0.1 nm bins) and setpoint (0.1 % bins)."""
    if film.kind == "bcs" or not (
        params.barrier_spread or params.gamma_spread or params.amplitude_spread
    ):
        return film
    key = [
        seed,
        5,
        round(x * 1e10) % 2**32,
        round(y * 1e10) % 2**32,
        round(math.log(max(abs(setpoint), 1e-18)) * 1e3) % 2**32,
    ]
    n1, n2, n3 = np.random.default_rng(key).standard_normal(3).tolist()
    return dataclasses.replace(
        film,
        barrier_andreev=film.barrier_andreev * math.exp(params.barrier_spread * n1),
        gamma_andreev=film.gamma_andreev * math.exp(params.gamma_spread * n2),
        andreev_amplitude=film.andreev_amplitude * math.exp(params.amplitude_spread * n3),
    )
