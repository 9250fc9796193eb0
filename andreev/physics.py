"""Tunnelling / Andreev physics of the simulated film and of the fits (pure numpy/scipy).

Units: SI throughout, with energies in eV so that an energy equals the bias (V) that
reaches it (0.55 meV is written 0.55e-3). Conductances are either normalised to the
normal state (``g``, dimensionless) or in siemens (``G``).

Smearing (thermal ``-f'`` and the lock-in semicircle kernel) goes through
:func:`smeared`, which evaluates the unsmeared ``g0(E)`` once on a uniform grid and
convolves by FFT (see docs/physics.md, "Thermal and lock-in smearing").
:func:`smeared_quad` is the slow direct-quadrature reference used by the tests and the
benchmark.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft as _fft
from scipy import integrate, special

E_CHARGE = 1.602176634e-19  # C
K_B_EV = 8.617333262e-5  # eV/K
G0 = 7.748091729e-5  # S, conductance quantum 2e^2/h
HBAR = 1.054571817e-34  # J s, reduced Planck constant
M_ELECTRON = 9.1093837015e-31  # kg, electron mass

EnergyFunc = Callable[[np.ndarray], np.ndarray]

#: eV, the smallest broadening: the imaginary part added at E = 0 when Γ = 0 (avoids 0/0);
#: also the narrowest feature width the smearing resolves
MIN_GAMMA = 1e-12
_TINY_GAMMA = MIN_GAMMA
_THERMAL_SPAN = 30.0  # kernel support in units of kT (weight beyond: ~e^-30)
_MAX_GRID = 2**16  # largest FFT grid; wider bias ranges are split into chunks
_MAX_SUB = 8  # sub-samples per grid bin when the step undersamples a feature
_MIN_SCALE = 1e-10  # eV; smearing widths below this count as zero

__all__ = [
    "E_CHARGE",
    "G0",
    "HBAR",
    "K_B_EV",
    "MIN_GAMMA",
    "M_ELECTRON",
    "FilmModel",
    "andreev_coefficients",
    "bcs_gap",
    "btk_conductance",
    "complex_energy",
    "dynes_antiderivative",
    "dynes_conductance",
    "dynes_dos",
    "dynes_second_antiderivative",
    "fermi_derivative",
    "lockin_kernel",
    "smeared",
    "smeared_quad",
]


# --------------------------------------------------------------------------- basics
def _gap_root(z: np.ndarray, gap: float) -> np.ndarray:
    """sqrt(z - gap)·sqrt(z + gap): the branch of sqrt(z² - gap²) that is ~z at infinity."""
    return np.sqrt(z - gap) * np.sqrt(z + gap)


def complex_energy(energy: ArrayLike, gamma: float) -> np.ndarray:
    """z = E + iΓ (eV) as every Dynes/BTK expression here uses it: Γ is raised to
    ``MIN_GAMMA`` (1e-12 eV) at E = 0 only (avoids 0/0 there), negative Γ counts as 0."""
    e = np.asarray(energy, dtype=float)
    gamma = float(gamma)
    return e + 1j * np.where(e == 0, max(gamma, _TINY_GAMMA), max(gamma, 0.0))


_z = complex_energy


def dynes_dos(energy: ArrayLike, gap: float, gamma: float) -> np.ndarray:
    """Dynes density of states N(E) = Re[z / (sqrt(z-Δ) sqrt(z+Δ))], z = E + iΓ.

    energy, gap, gamma in eV; returns N normalised to the normal state (-> 1 far out).
    """
    z = _z(energy, gamma)
    with np.errstate(divide="ignore", invalid="ignore"):  # Γ = 0 at E = ±Δ: infinite
        return np.real(z / _gap_root(z, abs(float(gap))))


def dynes_antiderivative(energy: ArrayLike, gap: float, gamma: float) -> np.ndarray:
    """Antiderivative of :func:`dynes_dos` in E: Re[sqrt(z-Δ) sqrt(z+Δ)] (eV).

    Differences give exact bin averages of the DOS, finite even as Γ -> 0.
    """
    return np.real(_gap_root(_z(energy, gamma), abs(float(gap))))


def dynes_second_antiderivative(energy: ArrayLike, gap: float, gamma: float) -> np.ndarray:
    """Second antiderivative of :func:`dynes_dos`: Re[(z s - Δ² ln(z + s))/2], s = sqrt(z²-Δ²)
    (eV²). Second differences give exact tent (linear-spline) averages of the DOS.
    """
    z = _z(energy, gamma)
    gap = abs(float(gap))
    s = _gap_root(z, gap)
    return 0.5 * (np.real(z * s) - gap * gap * np.log(np.abs(z + s)))


def bcs_gap(temperature: ArrayLike, gap0: float, tc: float) -> np.ndarray | float:
    """BCS gap interpolation Δ(T) = Δ0 tanh(1.74 sqrt(Tc/T - 1)) (eV; T, Tc in K).

    Δ0 at T <= 0, zero at T >= Tc (within 0.017 Δ0 of the gap equation).
    Returns a float for scalar input.
    """
    t = np.asarray(temperature, dtype=float)
    out = np.zeros_like(t)
    if tc > 0:
        below = t < tc
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where(t > 0, tc / np.where(t > 0, t, 1.0), np.inf)
            val = gap0 * np.tanh(1.74 * np.sqrt(np.maximum(ratio - 1.0, 0.0)))
        out = np.where(below, np.where(t > 0, val, gap0), 0.0)
    return float(out) if out.ndim == 0 else out


def andreev_coefficients(
    energy: ArrayLike, gap: float, barrier: float, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """BTK Andreev (A) and normal (B) reflection probabilities, Dynes-broadened.

    energy, gap, gamma in eV; barrier = Z (dimensionless). With z = E + iΓ,
    w = sqrt(z-Δ) sqrt(z+Δ)/z, u² = (1+w)/2, v² = (1-w)/2:
    A = |u²||v²|/|u²+Z²w|², B = Z²(1+Z²)|w|²/|u²+Z²w|².
    """
    z = _z(energy, gamma)
    w = _gap_root(z, abs(float(gap))) / z
    u2 = 0.5 * (1.0 + w)
    v2 = 0.5 * (1.0 - w)
    z2 = float(barrier) ** 2
    den = np.abs(u2 + z2 * w) ** 2
    a = np.abs(u2) * np.abs(v2) / den
    b = z2 * (1.0 + z2) * np.abs(w) ** 2 / den
    return a, b


def btk_dos(energy: ArrayLike, gap: float, barrier: float, gamma: float) -> np.ndarray:
    """Unsmeared normalised BTK conductance (1+Z²)(1 + A - B) at energy E (eV)."""
    a, b = andreev_coefficients(energy, gap, barrier, gamma)
    return (1.0 + float(barrier) ** 2) * (1.0 + a - b)


def fermi_derivative(energy: ArrayLike, temperature: float) -> np.ndarray:
    """Thermal kernel -∂f/∂E (1/eV) at energy E (eV) and temperature (K), overflow-safe."""
    kt = K_B_EV * float(temperature)
    e = np.exp(-np.abs(np.asarray(energy, dtype=float)) / kt)
    return e / (kt * (1.0 + e) ** 2)


def lockin_kernel(v: ArrayLike, v_mod_rms: float) -> np.ndarray:
    """Lock-in first-harmonic kernel 2/(π V_p²) sqrt(V_p² - v²), V_p = √2 V_rms (1/V)."""
    vp = math.sqrt(2.0) * float(v_mod_rms)
    v = np.asarray(v, dtype=float)
    return 2.0 / (math.pi * vp**2) * np.sqrt(np.maximum(vp**2 - v**2, 0.0))


# --------------------------------------------------------------------------- smearing
def _transfer(k: np.ndarray, kt: float, vp: float) -> np.ndarray:
    """Fourier transfer of thermal ⊗ lock-in kernels at angular frequency k (rad/eV)."""
    out = np.ones_like(k)
    if kt > 0:
        x = math.pi * kt * k
        ex = np.exp(-x)
        with np.errstate(invalid="ignore", divide="ignore"):
            th = 2.0 * x * ex / (1.0 - ex * ex)  # x / sinh(x)
        out *= np.where(x > 1e-8, th, 1.0)
    if vp > 0:
        x = vp * k
        with np.errstate(invalid="ignore", divide="ignore"):
            lk = 2.0 * special.j1(x) / x
        out *= np.where(x > 1e-8, lk, 1.0)
    return out


def _cubic_interp(x0: float, h: float, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """4-point Lagrange interpolation of uniformly sampled y (y[i] at x0 + i h)."""
    s = (x - x0) / h
    i = np.clip(np.floor(s).astype(np.intp), 1, y.size - 3)
    t = s - i
    tm1, tp1, tm2 = t - 1.0, t + 1.0, t - 2.0
    return (
        -t * tm1 * tm2 / 6.0 * y[i - 1]
        + tp1 * tm1 * tm2 / 2.0 * y[i]
        - tp1 * t * tm2 / 2.0 * y[i + 1]
        + tp1 * t * tm1 / 6.0 * y[i + 2]
    )


def _bin_values(
    centres: np.ndarray,
    h: float,
    g0: EnergyFunc,
    antiderivative: EnergyFunc | None,
    antiderivative2: EnergyFunc | None,
    n_sub: int,
) -> np.ndarray:
    """Grid values of g0 for the discrete convolution.

    With antiderivative2 (∫∫g0): exact tent (linear-spline) averages, so the discrete sum
    equals ∫ g0 K_lin with K_lin the piecewise-linear kernel (second-order in h however
    sharp g0 is). With antiderivative (∫g0): exact box averages over [c - h/2, c + h/2].
    Otherwise the mean of n_sub midpoint sub-samples (n_sub = 1: point values).
    """
    if antiderivative2 is not None:
        f2 = antiderivative2(np.concatenate(([centres[0] - h], centres, [centres[-1] + h])))
        return (f2[2:] - 2.0 * f2[1:-1] + f2[:-2]) / (h * h)
    if antiderivative is not None:
        edges = np.append(centres - 0.5 * h, centres[-1] + 0.5 * h)
        return np.diff(antiderivative(edges)) / h
    if n_sub <= 1:
        return g0(centres)
    offs = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    return g0((centres[:, None] + h * offs[None, :]).ravel()).reshape(-1, n_sub).mean(axis=1)


def _smear_sorted(
    b: np.ndarray,
    g0: EnergyFunc,
    kt: float,
    vp: float,
    h: float,
    n_sub: int,
    anti: tuple[EnergyFunc | None, EnergyFunc | None],
    support: float,
    max_points: int,
) -> np.ndarray:
    # grid points on integer multiples of h, so that symmetric g0 gives symmetric g
    i_lo = math.floor((b[0] - support) / h) - 4
    n = math.ceil((b[-1] + support) / h) + 4 - i_lo + 1
    lo = i_lo * h
    if n > max_points and b.size > 1:  # split the bias range: each chunk gets its own grid
        mid = b.size // 2
        return np.concatenate(
            [
                _smear_sorted(b[:mid], g0, kt, vp, h, n_sub, anti, support, max_points),
                _smear_sorted(b[mid:], g0, kt, vp, h, n_sub, anti, support, max_points),
            ]
        )
    grid = h * np.arange(i_lo, i_lo + n)
    y = _bin_values(grid, h, g0, anti[0], anti[1], n_sub) - 1.0
    nfft = _fft.next_fast_len(n, real=True)
    ys = _fft.irfft(_fft.rfft(y, nfft) * _grid_transfer(nfft, h, kt, vp), nfft)[:n]
    return 1.0 + _cubic_interp(lo, h, ys, b)


@functools.lru_cache(maxsize=64)
def _grid_transfer(nfft: int, h: float, kt: float, vp: float) -> np.ndarray:
    """The smearing transfer on the rfft frequencies of an ``nfft``-point grid of step
    ``h`` (eV), cached: fits and the simulator smear many spectra on the same grid with
    the same temperature and modulation (its Bessel function dominates small grids)."""
    k = 2.0 * math.pi * np.fft.rfftfreq(nfft, d=h)
    out = _transfer(k, kt, vp)
    out.flags.writeable = False
    return out


def smeared(
    bias: ArrayLike,
    g0: EnergyFunc,
    temperature: float,
    v_mod_rms: float = 0.0,
    *,
    antiderivative: EnergyFunc | None = None,
    antiderivative2: EnergyFunc | None = None,
    feature_width: float = 0.0,
    max_points: int = _MAX_GRID,
) -> np.ndarray:
    """Thermally and lock-in smeared conductance g(V) = [g0 ⊗ (-f') ⊗ K_lockin](eV).

    bias: V (scalar or any array); g0: vectorised callable of energy (eV) returning the
    unsmeared normalised conductance with asymptote 1 far from zero; temperature: K;
    v_mod_rms: lock-in modulation at the junction, V rms (semicircle of half-width
    √2·V_rms). feature_width (eV): width of the sharpest feature of g0 (e.g. Γ).

    Grid step h = min(kT/4, V_rms/8, feature_width/4) (feature_width/8 when the lock-in
    dominates: its semicircle has sharp edges). Where that would be needlessly fine
    (feature much sharper than the smearing), sharp peaks are kept exact instead by
    antiderivative2 (second antiderivative of g0, eV²: exact tent averages, error
    second order in h; preferred) or antiderivative (first antiderivative, eV: exact
    bin averages, first order), with h >= min(kT, V_rms)/16; with neither, bins wider
    than feature_width/4 are sub-sampled (up to 8 points). A grid never exceeds
    max_points: wider bias ranges are split into chunks. Returns an array shaped like
    bias (0-d for scalar input).
    """
    b = np.asarray(bias, dtype=float)
    shape = b.shape
    flat = b.ravel()
    kt = K_B_EV * max(float(temperature), 0.0)
    vrms = max(float(v_mod_rms), 0.0)
    kt = kt if kt > _MIN_SCALE else 0.0
    vrms = vrms if vrms > _MIN_SCALE else 0.0
    if flat.size == 0:
        return np.empty(shape)
    if kt == 0 and vrms == 0:  # no smearing at all
        return np.asarray(g0(flat), dtype=float).reshape(shape)
    vp = math.sqrt(2.0) * vrms
    fw = float(feature_width)
    sigma = math.sqrt((math.pi * kt) ** 2 / 3.0 + vp * vp / 4.0)  # rms width of the kernel
    if sigma < 1e-2 * fw:  # smearing changes g0 by ~(sigma/fw)² < 1e-4: skip it
        return np.asarray(g0(flat), dtype=float).reshape(shape)
    # the semicircle has sharp edges: sample it twice as finely as the smooth -f'
    h_kernel = min(s for s in (kt / 4.0, vrms / 8.0) if s > 0)
    h = h_kernel
    n_sub = 1
    if fw > 0:
        h_f = fw / 4.0 if kt >= 0.25 * vrms else fw / 8.0
        if h_f < h:
            if antiderivative is not None or antiderivative2 is not None:
                h = max(h_f, h_kernel / 4.0)  # below that the exact averages take over
            else:
                h = max(h_f, h_kernel / 2.0)
                n_sub = min(math.ceil(h / h_f), _MAX_SUB)
    support = _THERMAL_SPAN * kt + 1.5 * vp
    order = np.argsort(flat, kind="stable")
    out = np.empty_like(flat)
    out[order] = _smear_sorted(
        flat[order], g0, kt, vp, h, n_sub, (antiderivative, antiderivative2), support, max_points
    )
    return out.reshape(shape)


def _gauss_chebyshev2(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights for ∫_{-1}^{1} sqrt(1-x²) f(x) dx (exact for polynomials < 2n)."""
    j = np.arange(1, n + 1)
    th = j * math.pi / (n + 1)
    return np.cos(th), math.pi / (n + 1) * np.sin(th) ** 2


def smeared_quad(
    bias: ArrayLike,
    g0: EnergyFunc,
    temperature: float,
    v_mod_rms: float = 0.0,
    *,
    points: ArrayLike = (),
    n_lockin: int = 48,
) -> np.ndarray:
    """Direct-quadrature reference for :func:`smeared` (slow; tests and benchmarks).

    Thermal smearing by adaptive ``scipy.integrate.quad_vec`` over energy (breakpoints at
    ``points``, eV, e.g. ±Δ); the lock-in semicircle by Gauss–Chebyshev (2nd kind)
    quadrature with n_lockin nodes when T > 0, by adaptive quad when T = 0.
    """
    b = np.atleast_1d(np.asarray(bias, dtype=float))
    kt = K_B_EV * max(float(temperature), 0.0)
    vp = math.sqrt(2.0) * max(float(v_mod_rms), 0.0)
    pts = np.asarray(points, dtype=float).ravel()
    out = np.empty(b.size)

    def g0s(e: float) -> float:
        return float(np.asarray(g0(np.array([e])))[0])

    if kt == 0:
        for i, v in enumerate(b):
            if vp == 0:
                out[i] = g0s(v)
                continue
            inner = [p - v for p in pts if -vp < p - v < vp]
            val, _ = integrate.quad(
                lambda u, v=v: g0s(v + u) * math.sqrt(max(vp * vp - u * u, 0.0)),
                -vp,
                vp,
                points=inner or None,
                limit=400,
                epsabs=1e-12,
                epsrel=1e-10,
            )
            out[i] = 2.0 / (math.pi * vp * vp) * val
        return out.reshape(np.shape(bias))
    if vp > 0:
        x, w = _gauss_chebyshev2(n_lockin)
        shifts, weights = vp * x, 2.0 / math.pi * w
    else:
        shifts, weights = np.zeros(1), np.ones(1)
    span = 40.0 * kt
    for i, v in enumerate(b):
        centres = v + shifts
        a, c = centres.min() - span, centres.max() + span
        inner = [p for p in pts if a < p < c]

        def f(e: float, centres: np.ndarray = centres) -> np.ndarray:
            return g0s(e) * fermi_derivative(e - centres, temperature)

        val, _ = integrate.quad_vec(f, a, c, points=inner or None, epsabs=1e-9, limit=2000)
        out[i] = float(np.dot(weights, val))
    return out.reshape(np.shape(bias))


# --------------------------------------------------------------------------- spectra
def dynes_conductance(
    bias: ArrayLike, gap: float, gamma: float, temperature: float, v_mod_rms: float = 0.0
) -> np.ndarray:
    """Normalised tunnelling conductance g(V) of a Dynes superconductor.

    bias V; gap, gamma eV; temperature K; v_mod_rms V rms (lock-in modulation).
    """
    return smeared(
        bias,
        lambda e: dynes_dos(e, gap, gamma),
        temperature,
        v_mod_rms,
        antiderivative2=lambda e: dynes_second_antiderivative(e, gap, gamma),
        feature_width=max(float(gamma), _TINY_GAMMA),
    )


def _btk_feature(gap: float, barrier: float, gamma: float) -> float:
    """Width of the sharpest BTK feature (eV): the gap-edge cusp, rounded only by Γ."""
    return max(float(gamma), _TINY_GAMMA) if gap > 0 else math.inf


def btk_conductance(
    bias: ArrayLike,
    gap: float,
    barrier: float,
    gamma: float,
    temperature: float,
    v_mod_rms: float = 0.0,
) -> np.ndarray:
    """Normalised BTK conductance g_NS(V) = (1+Z²)[(1 + A - B) ⊗ (-f')] ⊗ lock-in.

    bias V; gap, gamma eV; barrier Z; temperature K; v_mod_rms V rms.
    """
    return smeared(
        bias,
        lambda e: btk_dos(e, gap, barrier, gamma),
        temperature,
        v_mod_rms,
        feature_width=_btk_feature(gap, barrier, gamma),
    )


# --------------------------------------------------------------------------- film model
_T_RATIO = 1.002  # spacing of the temperature nodes of the current tables
_TAU_STEP = 0.01  # spacing of the log-transparency nodes (bcs kind)
_CACHE_SIZE = 64
_T_MIN_TABLE = 1e-3  # K; below, the current uses the T = 0 table (kT < 0.1 µeV)


@dataclass
class FilmModel:
    """Conductance of an STM junction on a (preformed-pair) superconducting film.

    kind "preformed": G = G_N [N_pg ⊗ (-f')] + a_A G_N w(G_N) [2 A_BTK(Δc(T), Z_A, Γ_A)
    ⊗ (-f')], all ⊗ lock-in kernel, with N_pg Dynes(Δ, Γ0 + Γ1 (T/Tc)²), Δc(T) BCS-like
    closing at Tc and w = G_N/(G_N + G×). kind "bcs": G = G_N g_BTK(Δ_BCS(T), Z, Γ0) with
    Z from the transparency τ = min(G_N/(n_channels G0), 1).
    Units: tc K; gap, gamma0, gamma1, gap_c0, gamma_andreev eV; g_cross S.
    """

    tc: float = 1.45
    gap: float = 0.55e-3
    gamma0: float = 0.02e-3
    gamma1: float = 0.05e-3
    gap_c0: float = 0.10e-3
    barrier_andreev: float = 1.0
    gamma_andreev: float = 0.003e-3
    g_cross: float = 0.1 * G0
    andreev_amplitude: float = 1.0
    kind: Literal["preformed", "bcs"] = "preformed"
    n_channels: int = 10
    _cache: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("preformed", "bcs"):
            raise ValueError(f"FilmModel.kind must be 'preformed' or 'bcs', not {self.kind!r}")

    @classmethod
    def bcs_preset(cls) -> FilmModel:
        """Weakly disordered film: Tc 3.2 K, Δ = 1.764 k_B Tc, plain BTK, no Δc channel."""
        tc = 3.2
        return cls(
            tc=tc,
            gap=1.764 * K_B_EV * tc,
            gamma0=0.005e-3,
            gamma1=0.0,
            gap_c0=0.0,
            andreev_amplitude=0.0,
            kind="bcs",
        )

    # ----------------------------------------------------------------- helpers
    def gap_c(self, temperature: ArrayLike) -> np.ndarray | float:
        """Collective gap Δc(T) (eV): BCS interpolation of gap_c0 closing at tc."""
        return bcs_gap(temperature, self.gap_c0, self.tc)

    def gamma(self, temperature: float) -> float:
        """Pseudogap Dynes broadening Γ(T) = Γ0 + Γ1 (T/Tc)² (eV)."""
        return self.gamma0 + self.gamma1 * (max(float(temperature), 0.0) / self.tc) ** 2

    def andreev_weight(self, g_normal: float) -> float:
        """w = G_N/(G_N + G×) of the two-particle (Andreev) channel."""
        g = float(g_normal)
        return g / (g + self.g_cross) if g > 0 else 0.0

    def barrier(self, g_normal: float) -> float:
        """BTK Z of the bcs kind from τ = min(G_N/(n_channels G0), 1); inf when G_N <= 0."""
        tau = min(float(g_normal) / (self.n_channels * G0), 1.0)
        return math.sqrt(1.0 / tau - 1.0) if tau > 0 else math.inf

    def _norm_g0(self, temperature: float, mix: float) -> tuple[EnergyFunc, float]:
        """Unsmeared normalised g0(E) of the preformed kind and its feature width."""
        gap, gam = self.gap, self.gamma(temperature)
        dc = float(self.gap_c(temperature))
        if dc <= 0 or mix == 0:
            return (lambda e: dynes_dos(e, gap, gam)), gam
        za, ga = self.barrier_andreev, self.gamma_andreev

        def g0(e: np.ndarray) -> np.ndarray:
            return dynes_dos(e, gap, gam) + 2.0 * mix * andreev_coefficients(e, dc, za, ga)[0]

        return g0, min(gam, _btk_feature(dc, za, ga))

    # ----------------------------------------------------------------- public
    def conductance(
        self, bias: ArrayLike, g_normal: float, temperature: float, v_mod_rms: float = 0.0
    ) -> np.ndarray:
        """Differential conductance dI/dV (S) at bias (V), G_N (S), T (K), lock-in V rms."""
        gn = float(g_normal)
        if self.kind == "bcs":
            z = self.barrier(gn)
            if not math.isfinite(z):
                return np.zeros(np.shape(bias))
            gap = float(bcs_gap(temperature, self.gap, self.tc))
            return gn * btk_conductance(bias, gap, z, self.gamma0, temperature, v_mod_rms)
        mix = self.andreev_amplitude * self.andreev_weight(gn)
        g0, fw = self._norm_g0(temperature, mix)
        return gn * smeared(bias, g0, temperature, v_mod_rms, feature_width=fw)

    def current(self, bias: ArrayLike, g_normal: float, temperature: float) -> np.ndarray:
        """Tunnelling current I(V) = ∫_0^V dI/dV' dV' (A), odd in V, no lock-in smearing.

        Fast: cumulative integrals of the thermally smeared channels are tabulated per
        temperature node (nodes 0.2 % apart, linear interpolation between them; bcs kind
        also per transparency node 1 % apart in ln τ) and cached, so a call is an
        interpolation (a few µs).
        """
        b = np.asarray(bias, dtype=float)
        gn = float(g_normal)
        if gn <= 0 or b.size == 0:
            return np.zeros(b.shape)
        vmax = float(np.max(np.abs(b)))
        t = float(temperature)
        t = t if t >= _T_MIN_TABLE else 0.0
        if self.kind == "bcs":
            tau = min(gn / (self.n_channels * G0), 1.0)
            u = math.log(tau) / _TAU_STEP
            u0 = math.floor(u)
            fu = u - u0
            i_norm = (1.0 - fu) * self._interp_t(b, t, vmax, u0)
            if fu > 0.0:
                i_norm = i_norm + fu * self._interp_t(b, t, vmax, u0 + 1)
            return gn * i_norm
        mix = self.andreev_amplitude * self.andreev_weight(gn)
        return gn * self._interp_t(b, t, vmax, None, mix)

    # ----------------------------------------------------------------- current tables
    def _params_key(self) -> tuple:
        return tuple(getattr(self, name) for name in _PARAM_NAMES)

    def _interp_t(
        self, b: np.ndarray, t: float, vmax: float, tau_node: int | None, mix: float = 0.0
    ) -> np.ndarray:
        """Normalised current (V·g units) at bias b, interpolated between T nodes."""
        if t <= 0:
            nodes = [(0.0, 1.0)]
        else:
            s = math.log(t) / math.log(_T_RATIO)
            s0 = math.floor(s)
            f = s - s0
            nodes = [(_T_RATIO**s0, 1.0 - f), (_T_RATIO ** (s0 + 1), f)]
        ab = np.abs(b)
        out = np.zeros(b.shape)
        for tn, wt in nodes:
            if wt == 0.0:
                continue
            grid, tabs = self._table(tn, vmax, tau_node)
            hg = grid[1] - grid[0]
            val = _cubic_interp(0.0, hg, tabs[0], ab)
            if tau_node is None and mix != 0.0:
                val = val + mix * _cubic_interp(0.0, hg, tabs[1], ab)
            out = out + wt * val
        return np.sign(b) * out

    def _table(
        self, t: float, vmax: float, tau_node: int | None
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        key = (self._params_key(), t, tau_node)
        hit = self._cache.get(key)
        if hit is not None and hit[0][-1] >= vmax:
            self._cache.move_to_end(key)
            return hit
        vtop = max(5e-3, 1.25 * vmax, hit[0][-1] * 2 if hit is not None else 0.0)
        kt = K_B_EV * t
        h = min(kt / 4.0, 1e-6) if kt > 0 else 0.25e-6
        n = min(math.ceil(vtop / h) + 1, 2**16 + 1)
        grid = np.linspace(0.0, vtop, n)
        if tau_node is not None:
            z = math.sqrt(max(math.exp(-tau_node * _TAU_STEP) - 1.0, 0.0))
            gap = float(bcs_gap(t, self.gap, self.tc))
            chans = [btk_conductance(grid, gap, z, self.gamma0, t)]
        else:
            gam = self.gamma(t)
            chans = [
                smeared(
                    grid,
                    lambda e: dynes_dos(e, self.gap, gam),
                    t,
                    antiderivative2=lambda e: dynes_second_antiderivative(e, self.gap, gam),
                    feature_width=gam,
                )
            ]
            dc = float(self.gap_c(t))
            za, ga = self.barrier_andreev, self.gamma_andreev
            if dc > 0:
                # 2A has asymptote 0: smear 1 + 2A and subtract 1
                a_chan = smeared(
                    grid,
                    lambda e: 1.0 + 2.0 * andreev_coefficients(e, dc, za, ga)[0],
                    t,
                    feature_width=_btk_feature(dc, za, ga),
                )
                chans.append(a_chan - 1.0)
            else:
                chans.append(np.zeros_like(grid))
        tabs = tuple(integrate.cumulative_trapezoid(c, grid, initial=0.0) for c in chans)
        entry = (grid, tabs)
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return entry


_PARAM_NAMES = tuple(f.name for f in fields(FilmModel) if f.name != "_cache")
