"""The two smeared channels of the film model and their analytic parameter derivatives.

The film model is linear in two of its five parameters:
    G(V) = G_N · φ1(V; Δ, Γ) + G_N·w · φ2(V; Δc),
    φ1 = Dynes(Δ, Γ) ⊗ (-f') ⊗ lock-in,   φ2 = 2 A_BTK(Δc, Z_A, Γ_A) ⊗ (-f') ⊗ lock-in.
``physics.smeared`` is linear in g0 on a given grid, and the grid depends only on T,
V_mod and the feature width, so evaluating the two channels with FilmModel's feature
width min(Γ, Γ_A) reproduces FilmModel.conductance to rounding. The derivatives are
smeared the same way; they feed the analytic Jacobian of the film fit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from andreev import physics


def dynes_derivatives(e: np.ndarray, gap: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """∂N/∂Δ and ∂N/∂Γ (1/eV) of the Dynes DOS N = Re[z/s], s = sqrt(z-Δ)sqrt(z+Δ).

    ∂(z/s)/∂Δ = zΔ/s³ and ∂(z/s)/∂Γ = i·d(z/s)/dz = -iΔ²/s³.
    """
    z = physics.complex_energy(e, gamma)
    r = 1.0 / (np.sqrt(z - gap) * np.sqrt(z + gap))
    r3 = gap * (r * r * r)
    return np.real(z * r3), gap * np.imag(r3)


def andreev_derivative(e: np.ndarray, gap_c: float, barrier: float, gamma: float) -> np.ndarray:
    """∂A/∂Δc (1/eV) of the BTK Andreev probability of ``physics.andreev_coefficients``.

    With s = sqrt(z-Δc)sqrt(z+Δc), w = s/z, u²v² = Δc²/(4z²) and D = 1/2 + (1/2 + Z²)w,
    A = Δc²/(4|z|²|D|²), so ∂ln A/∂Δc = 2/Δc + (1 + 2Z²)·Δc·Re[1/(s z D)].
    """
    z = physics.complex_energy(e, gamma)
    sz = np.sqrt(z - gap_c) * np.sqrt(z + gap_c) * z
    c = 0.5 + barrier * barrier
    zd = 0.5 * z * z + c * sz  # z²·D
    zd2 = zd.real * zd.real + zd.imag * zd.imag
    # |z|²/|z²D|² = 1/(|z|²|D|²)
    a = gap_c * gap_c * (z.real * z.real + z.imag * z.imag) / (4.0 * zd2)
    q = np.real(z * z / (sz * zd))  # Re[1/(s z D)] = Re[z²/(s z · z² D)]
    return np.asarray(a * (2.0 / gap_c + 2.0 * c * gap_c * q), dtype=float)


class FilmChannels:
    """The two smeared channels of the film model (and their derivatives) at fixed T, V_mod.

    ``bias`` (V), ``t`` (K), ``vmod`` (V rms), the Andreev channel's ``barrier`` Z and
    broadening ``gamma_a`` (eV). The last channel values are cached.
    """

    def __init__(self, bias: np.ndarray, t: float, vmod: float, barrier: float, gamma_a: float):
        self.bias, self.t, self.vmod = bias, t, vmod
        self.za, self.ga = float(barrier), float(gamma_a)
        self._last_dynes: tuple[tuple[float, ...] | None, np.ndarray] = (None, np.empty(0))
        self._last_andreev: tuple[tuple[float, ...] | None, np.ndarray] = (None, np.empty(0))

    def width(self, gap_c: float, gamma: float) -> float:
        """FilmModel's feature width (eV) for these Δc, Γ (so both share its grid)."""
        fw = max(gamma, 0.0)
        return min(fw, max(self.ga, physics.MIN_GAMMA)) if gap_c > 0 else fw

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
        key = (gap_c, fw, self.za, self.ga)
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
                hit = memo["d"] = (e, dynes_derivatives(e, gap, gamma))
            return 1.0 + hit[1][i] * (scale[0] if i == 0 else scale[2])

        d_gap = self._smear(lambda e: dynes_part(e, 0), fw)
        d_gamma = self._smear(lambda e: dynes_part(e, 1), fw)
        if gap_c > 0:
            za, ga = self.za, self.ga
            d_gap_c = self._smear(
                lambda e: 1.0 + 2.0 * scale[1] * andreev_derivative(e, gap_c, za, ga), fw
            )
        else:
            d_gap_c = np.zeros_like(d_gap)
        return d_gap, d_gap_c, d_gamma
