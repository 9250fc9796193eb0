"""Imperfections of a real station, for ``config/sim-realistic.yaml`` (``sim.noise``).

Every parameter defaults to 0 (off): the clean ``config/sim.yaml`` has none of them.
All are seeded and functions of world time, so the same seed gives the same data.

==========================  =========  ==================================================
key                         unit       meaning
==========================  =========  ==================================================
preamp_current              A/√Hz      current noise of the preamp at 10⁹ V/A, ∝ 1/√gain
                                       (Johnson noise of the feedback resistor); reaches
                                       the lock-in input times the gain
lockin_input                V/√Hz      SR830 input voltage noise
phase_offset                deg        phase lag of the preamp: X + iY rotated by it, so Y
                                       is non-zero until the lock-in is phased
mains_amplitude             V rms      pickup at the lock-in input at the mains frequency
                                       and its harmonics k ≤ 40 (amplitude 1/k); it beats
                                       with the reference and passes the output filter
mains_frequency             Hz         50
z_drift                     m rms      1/f drift of the tip height (sum of seeded sines,
                                       equal amplitude per decade, 0.1 mHz … 1 Hz)
telegraph_rate              1/s        rate of telegraph jumps of the junction
telegraph_amplitude         relative   G_N jump of the telegraph's upper state
temperature_noise           relative   extra noise of each bridge reading (1 σ)
temperature_drift           relative   slow drift of the bridge readings (rms; 1/f,
                                       periods 10 min … 10 h)
==========================  =========  ==================================================
"""

from __future__ import annotations

import bisect
import cmath
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAINS_HARMONICS", "NoiseModel", "NoiseParams"]

#: mains harmonics that can reach the lock-in output (amplitude ∝ 1/k)
MAINS_HARMONICS = 40


@dataclass
class NoiseParams:
    """The ``sim.noise`` section (see the module docstring for units and meaning)."""

    preamp_current: float = 0.0
    lockin_input: float = 0.0
    phase_offset: float = 0.0
    mains_amplitude: float = 0.0
    mains_frequency: float = 50.0
    z_drift: float = 0.0
    telegraph_rate: float = 0.0
    telegraph_amplitude: float = 0.0
    temperature_noise: float = 0.0
    temperature_drift: float = 0.0


class _OneOverF:
    """Σ of ``n`` seeded sines with log-spaced frequencies in [f_lo, f_hi] (Hz) and equal
    amplitudes (1/f power spectrum), scaled to rms ``sigma``."""

    def __init__(self, sigma: float, f_lo: float, f_hi: float, rng: np.random.Generator) -> None:
        n = 16
        freqs = np.exp(np.linspace(math.log(f_lo), math.log(f_hi), n))
        freqs = freqs * rng.uniform(0.9, 1.1, n)
        self._omega = (2.0 * math.pi * freqs).tolist()
        self._phase = rng.uniform(0.0, 2.0 * math.pi, n).tolist()
        self._amp = sigma * math.sqrt(2.0 / n)

    def __call__(self, t: float) -> float:
        return self._amp * sum(
            math.sin(w * t + p) for w, p in zip(self._omega, self._phase, strict=True)
        )

    def array(self, t: np.ndarray) -> np.ndarray:
        """The same at every world time of an array (s)."""
        omega, phase = np.asarray(self._omega), np.asarray(self._phase)
        return self._amp * np.sin(np.multiply.outer(t, omega) + phase).sum(axis=-1)


class _Telegraph:
    """A seeded two-state switch (0/1) with switching rate ``rate`` (1/s); the switching
    times are drawn lazily, so a state at any world time costs O(log n)."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        self.rate = rate
        self.rng = rng
        self._times: list[float] = [0.0]

    def __call__(self, t: float) -> int:
        if self.rate <= 0:
            return 0
        while self._times[-1] < t:
            self._times.append(self._times[-1] + float(self.rng.exponential(1.0 / self.rate)))
        return (bisect.bisect_right(self._times, t) - 1) % 2

    def array(self, t: np.ndarray) -> np.ndarray:
        """The state (0/1) at every world time of an array (s)."""
        if self.rate <= 0 or t.size == 0:
            return np.zeros(t.shape, dtype=int)
        self(float(np.max(t)))
        return (np.searchsorted(self._times, t, side="right") - 1) % 2


class NoiseModel:
    """The imperfections of :class:`NoiseParams`, as functions of world time (s)."""

    def __init__(self, params: NoiseParams, seed: int) -> None:
        self.params = p = params
        self.z = _OneOverF(p.z_drift, 1e-4, 1.0, np.random.default_rng([seed, 6]))
        self.telegraph = _Telegraph(p.telegraph_rate, np.random.default_rng([seed, 7]))
        self.temperature = _OneOverF(
            p.temperature_drift, 1 / 36000, 1 / 600, np.random.default_rng([seed, 8])
        )
        rng = np.random.default_rng([seed, 9])
        self._mains_phase = rng.uniform(0.0, 2.0 * math.pi, MAINS_HARMONICS).tolist()
        self._mains_terms: dict[tuple[float, float, int], list[tuple[float, float, float]]] = {}
        self._rng = np.random.default_rng([seed, 10])

    def demod_noise(self, n: int, gain: float, bandwidth: float) -> tuple[np.ndarray, ...]:
        """(X, Y) current noise (A) of ``n`` readings of the STM controller's own
        demodulator: the preamp's current noise at ``gain`` (V/A) in ``bandwidth`` (Hz)."""
        sigma = self.params.preamp_current * math.sqrt(1e9 / gain) * math.sqrt(max(bandwidth, 0))
        if sigma <= 0 or n == 0:
            return np.zeros(n), np.zeros(n)
        draws = self._rng.normal(0.0, sigma, (2, n))
        return draws[0], draws[1]

    def z_offset(self, t: float, kappa: float) -> float:
        """Effective tip-height offset (m) at world time t: 1/f drift plus the telegraph
        (its G_N jump expressed as a height change for decay constant ``kappa``, 1/m)."""
        p = self.params
        dz = self.z(t) if p.z_drift else 0.0
        if p.telegraph_rate and p.telegraph_amplitude and self.telegraph(t):
            dz -= math.log1p(p.telegraph_amplitude) / (2.0 * kappa)
        return dz

    def z_offset_array(self, t: np.ndarray, kappa: float) -> np.ndarray:
        """:meth:`z_offset` at every world time of an array (s)."""
        p = self.params
        dz = self.z.array(t) if p.z_drift else np.zeros(np.shape(t))
        if p.telegraph_rate and p.telegraph_amplitude:
            dz = dz - self.telegraph.array(t) * math.log1p(p.telegraph_amplitude) / (2.0 * kappa)
        return dz

    def temperature_factor(self, t: float) -> float:
        """Relative drift factor of the bridge readings at world time t."""
        return 1.0 + self.temperature(t) if self.params.temperature_drift else 1.0

    def input_density(self, gain: float) -> float:
        """Noise density at the lock-in input (V/√Hz) at preamp gain ``gain`` (V/A)."""
        p = self.params
        current = p.preamp_current * math.sqrt(1e9 / gain) * gain
        return math.hypot(p.lockin_input, current)

    def mains(self, t: float, frequency: float, tau: float, poles: int) -> complex:
        """Mains pickup at the lock-in output (V rms, X + iY) at world time t, for
        reference ``frequency`` (Hz), time constant ``tau`` (s) with ``poles`` poles:
        harmonic k ≤ :data:`MAINS_HARMONICS` (amplitude A/k) beats at f_ref − k·f_mains
        and passes the output filter with gain (1 + (2π f_beat τ)²)^(−poles/2)."""
        p = self.params
        if not p.mains_amplitude:
            return 0j
        key = (frequency, tau, poles)
        terms = self._mains_terms.get(key)
        if terms is None:
            terms = []
            for k in range(1, MAINS_HARMONICS + 1):
                w = 2.0 * math.pi * (frequency - k * p.mains_frequency)
                gain = (1.0 + (w * tau) ** 2) ** (-0.5 * poles)
                if gain > 1e-4:
                    terms.append((p.mains_amplitude / k * gain, w, self._mains_phase[k - 1]))
            if len(self._mains_terms) > 64:
                self._mains_terms.clear()
            self._mains_terms[key] = terms
        return sum((a * cmath.exp(1j * (w * t + ph)) for a, w, ph in terms), 0j)
