"""State of the simulated SR830 lock-in: settings, output filter, status bits.

The output filter is a chain of up to four identical RC poles (time constant ``tau``
from ``OFLT``); the slope (``OFSL``, 6/12/18/24 dB/oct) selects which pole's output is
read. It is evolved exactly in world time for a piecewise-constant complex input ``u``
(X + iY, V rms, already rotated by the reference phase): with ``e_k = y_k - u`` and
``x = dt/tau``, ``e_k(t+dt) = exp(-x) sum_{j<k} x^j/j! e_{k-j}(t)`` (the stages are kept
as ``e_k``: a step is a few products; a new input shifts them by the old minus the new).

Usage (the World does this under its lock): ``advance(t)`` evolves the filter to world
time ``t`` with the present input; ``set_input(t, u)`` advances then switches the input;
``output()`` is the noiseless (X, Y); ``read_xy(t, input_xy)`` advances, sets the input
and returns (X, Y) with output noise. Change settings only after ``advance(now)`` so the
old time constant applies up to now.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ENBW_FACTORS",
    "SENSITIVITIES",
    "TIME_CONSTANTS",
    "LockinState",
    "settling_residual",
]

#: Full-scale sensitivities of SENS 0-26 (V rms): 2 nV ... 1 V in 1-2-5 steps.
SENSITIVITIES: tuple[float, ...] = tuple(
    m * 10.0**e for e in range(-9, 1) for m in (1.0, 2.0, 5.0) if 2e-9 <= m * 10.0**e <= 1.0
)
#: Time constants of OFLT 0-19 (s): 10 us ... 30 ks in 1-3 steps.
TIME_CONSTANTS: tuple[float, ...] = tuple(m * 10.0**e for e in range(-5, 5) for m in (1.0, 3.0))
#: Equivalent noise bandwidth × tau for 1-4 poles (Hz·s).
ENBW_FACTORS: tuple[float, ...] = (1 / 4, 1 / 8, 3 / 32, 5 / 64)

assert len(SENSITIVITIES) == 27 and len(TIME_CONSTANTS) == 20

# LIAS bits
BIT_INPUT_OVERLOAD = 0
BIT_FILTER_OVERLOAD = 1
BIT_OUTPUT_OVERLOAD = 2
BIT_REFERENCE_UNLOCK = 3
BIT_FREQUENCY_SWITCH = 4

#: Dynamic reserve (input full scale / sensitivity) for RMOD 0 high, 1 normal, 2 low noise.
RESERVE_FACTORS: tuple[float, ...] = (1e4, 1e2, 1e1)
#: Largest input amplitude before the input amplifier overloads (V rms).
INPUT_FULL_SCALE = 1.0


def settling_residual(x: float, poles: int) -> float:
    """Residual of a unit step after ``x`` time constants through ``poles`` identical poles."""
    return math.exp(-x) * sum(x**k / math.factorial(k) for k in range(poles))


@dataclass
class LockinState:
    """SR830 settings (SI units; indices as on the wire) and its output filter.

    Attributes: ``frequency`` (Hz), ``amplitude`` (SLVL, V rms), ``phase`` (deg,
    -180..180), ``harmonic``, ``reference_source`` (FMOD 0 ext / 1 int),
    ``reference_trigger`` (RSLP 0-2), ``input_source`` (ISRC 0-3), ``ground`` (IGND),
    ``coupling`` (ICPL), ``line_filter`` (ILIN 0-3), ``sens_index`` (0-26),
    ``reserve`` (RMOD 0-2), ``tc_index`` (0-19), ``slope_index`` (0-3), ``sync`` (0/1),
    ``aux_out`` (4 V), ``aux_in`` (4 V), ``offsets`` {1,2,3: (percent, expand 0-2)},
    ``display`` {1: (j, k), 2: (j, k)}, ``status`` (latched LIAS bits, int),
    ``force_overload`` (fault: overload bits set at every update), ``input_clipping``
    (set by the World while the preamp clips).
    """

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    noise_density: float = 10e-9
    frequency: float = 1000.0
    amplitude: float = 1.0
    phase: float = 0.0
    harmonic: int = 1
    reference_source: int = 1
    reference_trigger: int = 0
    input_source: int = 0
    ground: int = 0
    coupling: int = 0
    line_filter: int = 3
    sens_index: int = 26
    reserve: int = 1
    tc_index: int = 8
    slope_index: int = 1
    sync: int = 0
    aux_out: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    aux_in: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    offsets: dict[int, tuple[float, int]] = field(
        default_factory=lambda: {1: (0.0, 0), 2: (0.0, 0), 3: (0.0, 0)}
    )
    display: dict[int, tuple[int, int]] = field(default_factory=lambda: {1: (0, 0), 2: (0, 0)})
    status: int = 0
    force_overload: bool = False
    input_clipping: bool = False
    #: pickup added to every reading (world time s -> X + iY, V rms), e.g. mains
    pickup: Callable[[float], complex] | None = None
    _t: float = 0.0
    _u: complex = 0j
    #: the four filter stages' deviations from the input, y_k − u (V rms): a step of the
    #: filter is then a few products (no subtraction of the input and adding it back)
    _e: list[complex] = field(default_factory=lambda: [0j, 0j, 0j, 0j])
    _normals: list[float] = field(default_factory=list)

    # ---- derived settings -------------------------------------------------------
    @property
    def sensitivity(self) -> float:
        """Full scale of the present SENS index (V rms)."""
        return SENSITIVITIES[self.sens_index]

    @property
    def time_constant(self) -> float:
        """Output filter time constant (s)."""
        return TIME_CONSTANTS[self.tc_index]

    @property
    def poles(self) -> int:
        """Number of filter poles (1-4) of the present slope."""
        return self.slope_index + 1

    @property
    def input(self) -> complex:
        """The present filter input X + iY (V rms)."""
        return self._u

    @property
    def _y(self) -> list[complex]:
        """The four filter stages' outputs X + iY (V rms)."""
        u = self._u
        return [u + e for e in self._e]

    def _set_u(self, u: complex) -> None:
        """Switch the filter input to ``u`` (the stages' outputs stay where they are)."""
        shift = self._u - u
        e0, e1, e2, e3 = self._e
        self._e = [e0 + shift, e1 + shift, e2 + shift, e3 + shift]
        self._u = u

    def reset(self, t: float) -> None:
        """``*RST``: default settings (keeps the filter state and the time)."""
        self.advance(t)
        defaults = LockinState(rng=self.rng, noise_density=self.noise_density)
        for name in (
            "frequency amplitude phase harmonic reference_source reference_trigger "
            "input_source ground coupling line_filter sens_index reserve tc_index "
            "slope_index sync aux_out offsets display"
        ).split():
            setattr(self, name, getattr(defaults, name))

    def set_frequency(self, frequency: float) -> None:
        """Set the reference frequency (Hz); latches LIAS bit 4 on crossing 200 Hz."""
        if (frequency > 200.0) != (self.frequency > 200.0):
            self.status |= 1 << BIT_FREQUENCY_SWITCH
        self.frequency = float(frequency)

    # ---- filter -----------------------------------------------------------------
    def advance(self, t: float, status: bool = True) -> None:
        """Evolve the filter to world time ``t`` (s) with the present input (and latch the
        status bits unless ``status`` is false)."""
        dt = t - self._t
        if dt <= 0:
            return
        self._evolve(t, dt)
        if status:
            self._update_status()

    def step(self, t_change: float, u: complex, t: float) -> None:
        """Evolve to ``t_change`` (s), switch the input to ``u`` (V rms), evolve to ``t``;
        the status bits are latched once, at the end (what the World does per request)."""
        if u == self._u:  # the same input throughout: one exact step
            if t > self._t:
                self._evolve(t, t - self._t)
            self._update_status()
            return
        if t_change > self._t:
            self._evolve(t_change, t_change - self._t)
        self._set_u(u)
        if t > self._t:
            self._evolve(t, t - self._t)
        self._update_status()

    def _evolve(self, t: float, dt: float) -> None:
        x = dt / TIME_CONSTANTS[self.tc_index]  # time_constant, inline (every request)
        if x > 700:
            self._e = [0j, 0j, 0j, 0j]
        else:  # pure Python: four complex numbers, no numpy call per request
            e0, e1, e2, e3 = self._e
            d = math.exp(-x)
            c1, c2, c3 = d * x, d * x * x / 2.0, d * x * x * x / 6.0
            self._e = [
                d * e0,
                d * e1 + c1 * e0,
                d * e2 + c1 * e1 + c2 * e0,
                d * e3 + c1 * e2 + c2 * e1 + c3 * e0,
            ]
        self._t = t

    def set_input(self, t: float, u: complex) -> None:
        """Advance to ``t`` (s), then make ``u`` (X + iY, V rms) the filter input."""
        self.advance(t)
        self._set_u(complex(u))
        self._update_status()

    def output(self) -> complex:
        """Noiseless filter output X + iY (V rms) at the last advanced time."""
        return complex(self._u + self._e[self.slope_index])

    def output_noise_rms(self) -> float:
        """Standard deviation of the output noise per quadrature (V rms)."""
        enbw = ENBW_FACTORS[self.slope_index] / TIME_CONSTANTS[self.tc_index]
        return self.noise_density * math.sqrt(enbw)

    def read_xy(self, t: float, input_xy: complex | None = None) -> tuple[float, float]:
        """(X, Y) in V rms at world time ``t`` with output noise; sets the input if given."""
        if input_xy is None:
            if t > self._t:
                self.advance(t)
        else:
            self.set_input(t, input_xy)
        sigma = self.output_noise_rms()
        z = self._u + self._e[self.slope_index]  # output()
        if self.pickup is not None:
            z += self.pickup(t)
        if sigma > 0:
            normals = self._normals
            if len(normals) >= 2:  # the two draws _normal() would give, without the calls
                nx = normals.pop()
                return z.real + sigma * nx, z.imag + sigma * normals.pop()
            nx = self._normal()
            return z.real + sigma * nx, z.imag + sigma * self._normal()
        return z.real, z.imag

    def _normal(self) -> float:
        """A standard normal draw from ``rng``, drawn in blocks (no numpy call per read)."""
        if not self._normals:
            self._normals = self.rng.standard_normal(256).tolist()
            self._normals.reverse()
        return self._normals.pop()

    def settle_time(self, precision: float = 0.999) -> float:
        """World seconds for a step to settle to ``precision`` with the present filter."""
        lo, hi = 0.0, 100.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if settling_residual(mid, self.poles) > 1 - precision:
                lo = mid
            else:
                hi = mid
        return hi * self.time_constant

    # ---- status -----------------------------------------------------------------
    def _update_status(self) -> None:
        bits = 0
        u = abs(self._u)
        sensitivity = SENSITIVITIES[self.sens_index]
        if self.input_clipping or u > INPUT_FULL_SCALE:
            bits |= 1 << BIT_INPUT_OVERLOAD
        if u > sensitivity * RESERVE_FACTORS[self.reserve]:
            bits |= 1 << BIT_FILTER_OVERLOAD
        out = self._u + self._e[self.slope_index]
        r, i = out.real, out.imag  # |r| > s or |i| > s, by comparison (hot)
        if r > sensitivity or r < -sensitivity or i > sensitivity or i < -sensitivity:
            bits |= 1 << BIT_OUTPUT_OVERLOAD
        if self.force_overload:
            bits |= (1 << BIT_INPUT_OVERLOAD) | (1 << BIT_OUTPUT_OVERLOAD)
        if self.reference_source == 0:
            bits |= 1 << BIT_REFERENCE_UNLOCK
        self.status |= bits

    def read_status(self, bit: int | None = None) -> int:
        """``LIAS?`` (all bits) or ``LIAS? bit``; clears what it reports."""
        self._update_status()
        if bit is None:
            value, self.status = self.status, 0
            return value
        value = (self.status >> bit) & 1
        self.status &= ~(1 << bit)
        return value
