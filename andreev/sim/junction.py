"""The simulated tip–sample junction of the STM: tip height, Z feedback, preamp, crashes.

Geometry and units (SI): ``z`` is the tip height (m); larger ``z`` is further from the
sample, and ``z = 0`` is where the tunnelling conductance reaches the contact scale
``g_contact``. The tunnelling conductance is ``G_t = g_contact·exp(−2κz)`` with
``κ = sqrt(2·m_e·φ)/ħ`` for the barrier height φ (4.5 eV: ≈1.06 Å per decade); in contact
it saturates through a series resistance, ``G_N = 1/(1/G_t + R_s)``. The current is
``current_fn(bias, G_N)`` (A), the film's I(V) supplied by the World.

Z feedback: an integral controller acting on the natural-log current error
``e = ln|I_ctrl| − ln|I_setpoint|`` (I_ctrl is what the preamp delivers: clipped, and never
below ``regulation_floor``): ``dz/dt = gain_i · e / ln 10``, i.e. ``gain_i`` is the tip
speed (m/s) per decade of current error, and in tunnelling the current relaxes with the
time constant ``τ = (ln 10 / 2κ) / gain_i`` (world s). Nanonis' ``I = P/T`` relation ties
the three gains together. The tip moves lazily: :meth:`Junction.advance` integrates up to
a world time with an exponential (linearised) integrator that is stable for any step.

Near zero bias (``|bias| < min_regulation_bias``) the current carries no information: a
real controller regulating there sees only its preamp floor and drives the tip in. This
is modelled as a regulation failure (I_ctrl = ``regulation_floor``); the crash detector
records the result. A clipped preamp under feedback with a setpoint above the clip level
likewise drives the tip in.

Thread-safety: none here; the World holds its RLock around every call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andreev.clock import Clock

__all__ = ["G0", "Junction", "JunctionParams", "gain_name", "kappa_from_barrier"]

G0 = 7.748091729e-5  # S, 2e²/h
_HBAR = 1.054571817e-34  # J s
_M_E = 9.1093837015e-31  # kg
_E = 1.602176634e-19  # C
_LN10 = math.log(10.0)

STATUS_OFF = 1
STATUS_ON = 2


def kappa_from_barrier(barrier_height: float) -> float:
    """Decay constant κ (1/m) of the tunnelling amplitude for a barrier in eV."""
    return math.sqrt(2.0 * _M_E * barrier_height * _E) / _HBAR


def gain_name(gain: float) -> str:
    """Nanonis-style name of a preamp gain in V/A, e.g. 1e9 → ``"10^9"``."""
    exponent = math.log10(gain)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"10^{round(exponent)}"
    return f"{gain:.3g}"


@dataclass
class JunctionParams:
    """Parameters and initial state of the junction (SI units).

    Attributes:
        barrier_height: tunnelling barrier φ (eV); 4.5 eV gives ≈1.06 Å per decade.
        g_contact: conductance scale at ``z = 0`` (S).
        series_resistance: R_s in series with the tunnel gap (Ω); G_N ≤ 1/R_s.
        crash_conductance: G_N above which the tip counts as crashed (S).
        crash_depth: z below which the tip counts as crashed (m).
        min_regulation_bias: below this |bias| (V) the feedback cannot regulate.
        regulation_floor: the smallest |current| the controller ever sees (A).
        current_noise: rms noise of a current reading (A, seeded).
        gains: preamp gains (V/A), index order as in ``Current.GainsGet``.
        gain_index: initial preamp gain index.
        filters: names of the preamp low-pass filters; ``filter_index`` the initial one.
        clip_voltage: preamp output limit (V); a current clips at ±clip_voltage/gain.
        bias: initial bias (V).
        setpoint: initial setpoint current (A).
        feedback: initial Z feedback state.
        gain_p: Z controller proportional gain (m). gain_t: time constant (s).
            The integral gain is ``gain_p / gain_t`` (m/s per decade of current).
        z_limits: (high, low) Z controller limits (m), applied when limits_enabled.
        limits_enabled: initial state of the Z limits.
        z_range: (high, low) mechanical piezo range (m), always applied.
        x, y: initial lateral tip position (m).
        max_step: largest tip move (m) per integration step where the current responds.
    """

    barrier_height: float = 4.5
    g_contact: float = G0
    series_resistance: float = 1.0 / (50.0 * G0)
    crash_conductance: float = 20.0 * G0
    crash_depth: float = -5e-10
    min_regulation_bias: float = 1e-4
    regulation_floor: float = 1e-12
    current_noise: float = 2e-13
    gains: tuple[float, ...] = (1e5, 1e6, 1e7, 1e8, 1e9, 1e10)
    gain_index: int = 4
    filters: tuple[str, ...] = ("10 Hz", "100 Hz", "1 kHz", "10 kHz", "100 kHz")
    filter_index: int = 2
    clip_voltage: float = 10.0
    bias: float = 0.01
    setpoint: float = 1e-9
    feedback: bool = True
    gain_p: float = 1e-11
    gain_t: float = 2e-3
    z_limits: tuple[float, float] = (1e-7, -1e-7)
    limits_enabled: bool = True
    z_range: tuple[float, float] = (5e-7, -5e-7)
    x: float = 0.0
    y: float = 0.0
    max_step: float = 5e-11

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> JunctionParams:
        """Build from a mapping (e.g. the ``sim: junction:`` YAML section); lists become
        tuples; unknown keys raise ``ValueError``."""
        d = dict(d or {})
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown junction parameter(s) {unknown}; allowed: {sorted(names)}")
        for key in ("gains", "filters", "z_limits", "z_range"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


class Junction:
    """The STM junction in world time (see the module docstring for the model).

    ``current_fn(bias_V, g_normal_S) -> A`` is the film's current. State attributes:
    ``bias`` (V), ``setpoint`` (A), ``feedback`` (bool), ``z`` (m), ``z_limits`` (high,
    low) m, ``limits_enabled``, ``gain_p`` (m), ``gain_t`` (s), ``gain_i`` (m/s),
    ``gain_index``, ``gains`` (V/A), ``filter_index``, ``x``, ``y`` (m), ``withdrawn``,
    ``force_clip`` (fault: the preamp always clips), ``crashes`` (list of dicts with
    ``time`` s, ``z`` m, ``g_normal`` S, ``reason`` str). Call :meth:`advance` (or let the
    World do it) before changing state so the elapsed time runs under the old state.
    """

    def __init__(
        self,
        params: JunctionParams,
        clock: Clock,
        rng: Any,
        current_fn: Callable[[float, float], float],
    ) -> None:
        self.params = params
        self.clock = clock
        self.rng = rng
        self._numpy_rng = hasattr(rng, "standard_normal")
        self.current_fn = current_fn
        self.kappa = kappa_from_barrier(params.barrier_height)
        self.bias = float(params.bias)
        self.setpoint = float(params.setpoint)
        self.feedback = bool(params.feedback)
        self.z_limits: tuple[float, float] = (float(params.z_limits[0]), float(params.z_limits[1]))
        self.limits_enabled = bool(params.limits_enabled)
        self.gains: list[float] = [float(g) for g in params.gains]
        self.gain_names: list[str] = [gain_name(g) for g in self.gains]
        self.gain_index = int(params.gain_index)
        self.filters: list[str] = list(params.filters)
        self.filter_index = int(params.filter_index)
        self.gain_p = float(params.gain_p)
        self.gain_t = float(params.gain_t)
        self.gain_i = self.gain_p / self.gain_t
        self.x = float(params.x)
        self.y = float(params.y)
        self.withdrawn = False
        self.force_clip = False
        self.crashes: list[dict[str, Any]] = []
        self._in_crash = False
        self._ipg_cache: tuple[float, float, float, float] | None = None  # bias, G, t, I/G
        self.z = 0.0
        #: height noise (m) added to z in the tunnelling exponent (drift, telegraph jumps)
        self.z_noise = 0.0
        self._g_normal = (math.nan, math.nan, 0.0)  # z m, z_noise m, G_N S
        self._at_rest: tuple[Any, ...] | None = None
        self._normals: list[float] = []
        self._t = clock.now()
        if self.feedback:
            self.settle()
        else:
            self.z = self.z_for_conductance(self.setpoint / max(abs(self.bias), 1e-12))

    # ---- static relations -------------------------------------------------------
    @property
    def nm_per_decade(self) -> float:
        """Tip travel per decade of tunnelling conductance (m)."""
        return _LN10 / (2.0 * self.kappa)

    @property
    def feedback_time_constant(self) -> float:
        """Relaxation time of log|I| in tunnelling under feedback (world s)."""
        return self.nm_per_decade / self.gain_i if self.gain_i > 0 else math.inf

    @property
    def gain(self) -> float:
        """Present preamp gain (V/A)."""
        return self.gains[self.gain_index]

    @property
    def clip_current(self) -> float:
        """Largest |current| the preamp can deliver at the present gain (A)."""
        return self.params.clip_voltage / self.gain

    def tunnel_conductance(self, z: float | None = None) -> float:
        """G_t at height ``z`` (default: present), S."""
        z = self.z if z is None else z
        exponent = -2.0 * self.kappa * (z + self.z_noise)
        return self.params.g_contact * math.exp(min(exponent, 700.0))

    def g_normal(self, z: float | None = None) -> float:
        """Junction conductance G_N (S) at height ``z`` (default: present; remembered for
        the present height and height noise: a request asks two or three times)."""
        if z is None:
            last = self._g_normal
            if last[0] == self.z and last[1] == self.z_noise:
                return last[2]
        gt = self.tunnel_conductance(z)
        g = 1.0 / (1.0 / gt + self.params.series_resistance) if gt > 0 else 0.0
        if z is None:
            self._g_normal = (self.z, self.z_noise, g)
        return g

    def z_for_conductance(self, g: float) -> float:
        """Height (m) where G_N = ``g`` (S); −inf-safe for g ≥ 1/R_s (deepest range)."""
        rs = self.params.series_resistance
        inv_gt = 1.0 / g - rs
        if inv_gt <= 0:
            return self.params.z_range[1]
        gt = 1.0 / inv_gt
        return -math.log(gt / self.params.g_contact) / (2.0 * self.kappa) - self.z_noise

    # ---- lower/upper bounds on z ----------------------------------------------------
    def _z_bounds(self) -> tuple[float, float]:
        high, low = self.params.z_range
        if self.limits_enabled:
            lim_high, lim_low = max(self.z_limits), min(self.z_limits)
            high, low = min(high, lim_high), max(low, lim_low)
        return low, high

    def _clamp(self, z: float) -> float:
        low, high = self._z_bounds()
        return min(max(z, low), high)

    # ---- currents ---------------------------------------------------------------
    def true_current(self) -> float:
        """Noiseless junction current at the present bias and height (A)."""
        return float(self.current_fn(self.bias, self.g_normal()))

    def measured_current(self) -> float:
        """What the preamp reports (A): true current + seeded noise, clipped at
        ±clip_voltage/gain (always at the clip level under the ``force_clip`` fault)."""
        clip = self.params.clip_voltage / self.gains[self.gain_index]  # clip_current
        if self.force_clip:
            sign = 1.0 if self.bias >= 0 else -1.0
            return sign * clip
        current = self.true_current() + self.noise(self.params.current_noise)
        if current < -clip:  # min(max(current, -clip), clip), by comparison (hot)
            return -clip
        return clip if current > clip else current

    def clipping(self) -> bool:
        """True if the preamp output is at its limit now."""
        return self.force_clip or self.clips(self.true_current())

    def clips(self, current: float) -> bool:
        """True if the preamp output is at its limit with the junction passing
        ``current`` (A) (always under the ``force_clip`` fault)."""
        return (
            self.force_clip
            or abs(current) >= self.params.clip_voltage / self.gains[self.gain_index]
        )

    def noise(self, sigma: float) -> float:
        """A seeded normal draw of rms ``sigma`` from the junction's generator."""
        if sigma <= 0:
            return 0.0
        if not self._numpy_rng:
            return float(self.rng.gauss(0.0, sigma))
        if not self._normals:  # drawn in blocks: no numpy call per reading
            self._normals = self.rng.standard_normal(256).tolist()
            self._normals.reverse()
        return sigma * self._normals.pop()

    def _current_per_conductance(self, g: float) -> float:
        """I/G_N (V) at the present bias near conductance ``g``; cached (the film's
        current is nearly proportional to G_N), refreshed when G_N moves by > 5 %."""
        cache = self._ipg_cache
        if (
            cache is not None
            and cache[0] == self.bias
            and abs(math.log(g / cache[1])) < 0.05
            and abs(self._t - cache[2]) < 1.0
        ):
            return cache[3]
        ipg = float(self.current_fn(self.bias, g)) / g
        self._ipg_cache = (self.bias, g, self._t, ipg)
        return ipg

    # ---- the controller ---------------------------------------------------------------
    def _regulates(self) -> bool:
        return abs(self.bias) >= self.params.min_regulation_bias

    def _error_and_slope(self) -> tuple[float, float, str]:
        """Controller error e (nepers), de/dz (1/m) and the regime name at present z.

        Regimes: ``"track"`` (current responds to z), ``"floor"`` (below the preamp floor,
        or regulation at near-zero bias), ``"clip"`` (preamp clipped)."""
        setpoint = max(abs(self.setpoint), 1e-30)
        floor = self.params.regulation_floor
        if not self._regulates():
            return math.log(floor / setpoint), 0.0, "zero-bias"
        clip = self.clip_current
        if self.force_clip:
            return math.log(clip / setpoint), 0.0, "clip"
        g = self.g_normal()
        if g <= 0:
            return math.log(floor / setpoint), 0.0, "floor"
        current = abs(self._current_per_conductance(g) * g)
        if current >= clip:
            return math.log(clip / setpoint), 0.0, "clip"
        if current <= floor:
            return math.log(floor / setpoint), 0.0, "floor"
        gt = self.tunnel_conductance()
        slope = -2.0 * self.kappa / (1.0 + self.params.series_resistance * gt)
        return math.log(current / setpoint), slope, "track"

    def _boundary_z(self, regime: str, rate: float) -> float | None:
        """z where the present zero-slope regime ends when moving at ``rate``."""
        if regime == "floor" and rate < 0:
            # the film's I/G at this bias (below V inside the gap), not plain Ohm's law
            g_now = self.g_normal()
            per_g = abs(self._current_per_conductance(g_now)) if g_now > 0 else 0.0
            g = self.params.regulation_floor / max(per_g or abs(self.bias), 1e-30)
            return self.z_for_conductance(g) if g > 0 else None
        if regime == "clip" and rate > 0 and not self.force_clip:
            g = self.clip_current / max(abs(self.bias), 1e-30)
            return self.z_for_conductance(g)
        return None

    def advance(self, t: float) -> None:
        """Integrate the feedback up to world time ``t`` (s); a no-op when off."""
        if t <= self._t:
            return
        if not self.feedback or self.gain_i <= 0:
            self._t = t
            return
        rest = self._rest_key()
        if rest == self._at_rest:  # settled last time and nothing changed since
            self._t = t
            return
        self._at_rest = None
        k = self.gain_i / _LN10  # m/s per neper
        max_step = self.params.max_step
        now = self._t
        for _ in range(100_000):
            remaining = t - now
            if remaining <= 0:
                break
            self._t = now
            err, slope, regime = self._error_and_slope()
            low, high = self._z_bounds()
            rate = k * err
            if (rate < 0 and self.z <= low) or (rate > 0 and self.z >= high) or rate == 0:
                self._at_rest = self._rest_key()
                break  # pinned at a limit (or exactly settled): nothing moves any more
            if slope < 0:
                if abs(err) < 1e-12:
                    self._at_rest = self._rest_key()
                    break
                dz_final = -err / slope  # distance to convergence under linearisation
                if abs(dz_final) <= max_step:
                    h = remaining
                    dz = dz_final * (1.0 - math.exp(k * slope * h))
                else:
                    frac = max_step / abs(dz_final)
                    h = min(remaining, math.log(1.0 - frac) / (k * slope))
                    dz = dz_final * (1.0 - math.exp(k * slope * h))
            else:
                h = remaining
                dz = rate * h
                boundary = self._boundary_z(regime, rate)
                if boundary is not None and abs(boundary - self.z) < abs(dz):
                    # step just past the boundary so the next step sees the new regime
                    # (at least max_step/100, so an approximate boundary cannot pin the tip)
                    nudge = math.copysign(min(abs(dz), self.params.max_step / 100.0), rate)
                    dz = boundary - self.z + nudge
                    if dz * rate <= 0:
                        dz = nudge
                    h = dz / rate
            z_new = self._clamp(self.z + dz)
            if z_new != self.z + dz and dz != 0:
                h = h * (z_new - self.z) / dz if dz else h
            self._move(z_new, now + max(h, 0.0), now, regime)
            now += max(h, 1e-15)
        self._t = t

    def _rest_key(self) -> tuple[Any, ...]:
        """What the feedback's motion depends on (the film's I/G through its cache)."""
        return (
            self.bias,
            self.setpoint,
            self.z,
            self.z_noise,
            self.gain_index,
            self.force_clip,
            self.limits_enabled,
            self.z_limits,
            self._ipg_cache,
        )

    def _move(self, z_new: float, t_end: float, t_start: float, regime: str) -> None:
        """Move the tip to ``z_new`` between two world times, recording a crash."""
        z_old = self.z
        self.z = z_new
        self._check_crash(z_old, t_start, t_end, regime)

    def _crash_z(self) -> float:
        """Height (m) below which the tip counts as crashed."""
        g_crash = self.params.crash_conductance
        z_g = (
            self.z_for_conductance(g_crash)
            if g_crash < 1.0 / self.params.series_resistance
            else -math.inf
        )
        return max(z_g, self.params.crash_depth)

    def _check_crash(self, z_old: float, t_start: float, t_end: float, regime: str) -> None:
        z_crash = self._crash_z()
        if self.z >= z_crash:
            self._in_crash = False
            return
        if self._in_crash:
            return
        self._in_crash = True
        if z_old != self.z and z_old > z_crash:
            frac = (z_old - z_crash) / (z_old - self.z)
            when = t_start + frac * (t_end - t_start)
            z_at = z_crash
        else:
            when, z_at = t_end, self.z
        g = self.g_normal(z_at)
        if g >= self.params.crash_conductance * (1 - 1e-9):
            what = f"G_N {g / G0:.3g} G0 above the crash conductance"
            what += f" {self.params.crash_conductance / G0:.3g} G0"
        else:
            what = f"z {z_at * 1e10:.3g} Å below the crash depth"
            what += f" {self.params.crash_depth * 1e10:.3g} Å"
        causes = {
            "zero-bias": f"feedback regulating at |bias| {abs(self.bias):.3g} V"
            f" < {self.params.min_regulation_bias:.3g} V drove the tip in",
            "clip": f"preamp clipped at {self.clip_current:.3g} A below the setpoint"
            f" {self.setpoint:.3g} A: feedback drove the tip in",
            "floor": "feedback drove the tip in (current below the preamp floor)",
            "track": "feedback drove the tip in",
            "manual": "tip moved into the sample with feedback off",
        }
        self.crashes.append(
            {
                "time": float(when),
                "z": float(z_at),
                "g_normal": float(g),
                "reason": f"{what}: {causes.get(regime, regime)}",
            }
        )

    # ---- state changes (call advance first; the World does) --------------------
    def _sync(self) -> None:
        self.advance(self.clock.now())

    def settle(self) -> None:
        """Put the tip at the height where the feedback would settle (instantly)."""
        g = abs(self.setpoint) / max(abs(self.bias), 1e-12)
        self.z = self._clamp(self.z_for_conductance(g))
        for _ in range(30):  # Newton on the film current, which is nearly ∝ G_N
            if not self._regulates():
                break
            current = abs(self.true_current())
            if current <= 0:
                break
            err = math.log(current / abs(self.setpoint))
            gt = self.tunnel_conductance()
            slope = -2.0 * self.kappa / (1.0 + self.params.series_resistance * gt)
            self.z = self._clamp(self.z - err / slope)
            if abs(err) < 1e-10:
                break
        self._in_crash = self.z < self._crash_z()
        self._t = self.clock.now()

    def set_feedback(self, on: bool) -> None:
        """Switch the Z feedback on or off (the tip stays where it is)."""
        self._sync()
        self.feedback = bool(on)
        if on:
            self.withdrawn = False

    def set_z(self, z: float) -> None:
        """Move the tip to height ``z`` (m), clamped to the limits; feedback must be off."""
        self._sync()
        if self.feedback:
            raise RuntimeError("cannot set Z while the Z feedback is on")
        now = self.clock.now()
        self._move(self._clamp(float(z)), now, now, "manual")

    def set_gains(self, p: float, t: float, i: float | None = None) -> None:
        """Set P (m), time constant T (s); I (m/s) = P/T when T > 0, else ``i``."""
        self._sync()
        self.gain_p = float(p)
        self.gain_t = float(t)
        if self.gain_t > 0:
            self.gain_i = self.gain_p / self.gain_t
        elif i is not None:
            self.gain_i = float(i)

    def set_limits(self, high: float, low: float) -> None:
        """Set the Z limits (m); the tip is clamped into them if they are enabled."""
        self._sync()
        self.z_limits = (float(high), float(low))
        now = self.clock.now()
        self._move(self._clamp(self.z), now, now, "manual")

    def withdraw(self) -> None:
        """Feedback off and the tip to the upper Z limit (or top of the piezo range)."""
        self._sync()
        self.feedback = False
        high = max(self.z_limits) if self.limits_enabled else self.params.z_range[0]
        self.z = min(high, self.params.z_range[0])
        self._in_crash = False
        self.withdrawn = True

    def set_gain_index(self, index: int) -> None:
        """Select a preamp gain by index into ``gains``."""
        if not 0 <= index < len(self.gains):
            raise ValueError(f"gain index {index} outside 0 … {len(self.gains) - 1}")
        self._sync()
        self.gain_index = int(index)

    @property
    def status(self) -> int:
        """Nanonis ZCtrl status code: 1 off, 2 on."""
        return STATUS_ON if self.feedback else STATUS_OFF
