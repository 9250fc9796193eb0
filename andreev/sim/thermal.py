"""Thermal model of the simulated dilution fridge and the Lake Shore 372 heater loop.

Mixing chamber (MC): ``C(T) dT/dt = P_heater + P_base - a T^2`` with heat capacity
``C(T) = c0 + c1 T`` (J/K) and cooling power ``a T^2`` (W); base temperature
``sqrt(P_base / a)``. Linearised time constant ``C / (2 a T)``: ~150 s at 50 mK, ~30 s at
1-3 K with the defaults. The sample (bridge channel ``A``) follows the MC through a
first-order lag ``sample_tau`` (s). Bridge channel 6 reads the MC.

Sample heater (output 0): power ``(HTR%/100 × I_range)^2 × R_heater`` into the MC, with
``I_range`` from ``RANGE`` (0 off, 31.6 µA … 100 mA) and ``R_heater`` from ``HTRSET``.

Closed loop (``OUTMODE`` mode 5) PID, evaluated every ``control_interval`` world seconds
from the control channel's (noisy) reading. Units chosen for the simulator:

    eps = 100 (T_set - T) / T_set            (% of the setpoint)
    HTR% = P · (eps + (1/I) ∫ eps dt + D · d eps/dt)   clamped to 0..100 %

so ``P`` is % of heater-range current per % of setpoint error, ``I`` the integral (reset)
time in s (0 = no integral action), ``D`` the derivative time in s (on the measurement, no
setpoint kick). Integration stops while the output is saturated (anti-windup); entering
closed loop and changing the range are bumpless (the integral is rescaled so the heater
power does not jump). Mode 2 (open loop) applies ``MOUT`` %; mode 3 (zone) takes range and
PID from the ``ZONE`` table entry whose upper bound is the first ≥ the setpoint.

The model advances lazily: whole control intervals are committed (so the trajectory does not
depend on when it is queried), each integrated with RK4 sub-steps no longer than a small
fraction of the shortest time constant; a query between grid points extrapolates the
partial interval to first order (the interval is ≤ 1/40 of the fastest time constant)
without committing it, when something first reads it (the junction's physics needs only
the committed interval's temperature; ``RANGE`` and ``HTRSET`` settle it first). A long
idle gap costs O(1): after :data:`CATCH_UP_INTERVALS` intervals stepped exactly, the
state jumps to the equilibrium of the present settings (closed loop at a reachable
setpoint: the setpoint with the heater that holds it; open loop or off: the power
balance; a ramp moves on at its rate) and the last :data:`SETTLE_INTERVALS` intervals
before the target are stepped exactly again.

Fault ``no_settle``: every reading (KRDG of A and 6) carries a ±3 % oscillation of period
120 s (plus the usual noise), so no stability criterion of 0.5 % can be met.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: intervals stepped exactly at the start of a long gap, before the jump to equilibrium
CATCH_UP_INTERVALS = 2400
#: intervals stepped exactly before the end of a long gap, after the jump
SETTLE_INTERVALS = 400

__all__ = [
    "HEATER_RANGES",
    "HeaterOutput",
    "ThermalModel",
    "ThermalParams",
    "Zone",
    "ruox_resistance",
]

#: Sample heater full-scale currents of RANGE 0-8 (A).
HEATER_RANGES: tuple[float, ...] = (
    0.0,
    31.6e-6,
    100e-6,
    316e-6,
    1e-3,
    3.16e-3,
    10e-3,
    31.6e-3,
    100e-3,
)


@dataclass
class ThermalParams:
    """Parameters of the thermal model (SI units)."""

    cooling_coefficient: float = 4.0e-4  # a (W/K^2): cooling power a·T^2
    base_heat_load: float = 8.8e-7  # W; base T = sqrt(load / a) = 46.9 mK
    heat_capacity_c0: float = 4.9e-3  # J/K
    heat_capacity_c1: float = 2.15e-2  # J/K^2
    sample_tau: float = 20.0  # s, sample thermometer lag behind the MC
    heater_resistance: float = 100.0  # ohm (default of HTRSET)
    noise_relative: float = 1.0e-4  # relative reading noise (1 sigma)
    noise_absolute: float = 2.0e-5  # K, absolute reading noise (1 sigma)
    control_interval: float = 0.5  # s, PID update period
    initial_temperature: float | None = None  # K; None = base temperature
    no_settle_amplitude: float = 0.03  # relative oscillation of readings under no_settle
    no_settle_period: float = 120.0  # s

    @property
    def base_temperature(self) -> float:
        """Temperature with the heater off (K)."""
        return math.sqrt(self.base_heat_load / self.cooling_coefficient)


@dataclass
class Zone:
    """One row of the 372 ZONE table (upper bound K, PID, manual %, range, ramp K/min)."""

    upper: float = 0.0
    p: float = 0.0
    i: float = 0.0
    d: float = 0.0
    mout: float = 0.0
    range: int = 0
    rate: float = 0.0
    relay1: int = 0
    relay2: int = 0


@dataclass
class HeaterOutput:
    """Settings of one 372 heater output (wire units: %, K, K/min, ohm)."""

    mode: int = 0
    input: str = "A"
    powerup: int = 0
    polarity: int = 0
    filter: int = 0
    delay: int = 5
    range: int = 0
    setpoint: float = 0.0  # target (SETP)
    ramp_on: int = 0
    ramp_rate: float = 0.0  # K/min
    p: float = 10.0
    i: float = 20.0
    d: float = 0.0
    manual: float = 0.0  # MOUT %
    resistance: float = 100.0
    max_current: int = 0
    max_user_current: float = 0.0
    display: int = 1
    zones: list[Zone] = field(default_factory=lambda: [Zone() for _ in range(10)])


def _percent(value: float) -> float:
    """``value`` clamped to 0 … 100 (%), as min(max(value, 0), 100) (comparisons: hot)."""
    if value < 0.0:
        return 0.0
    return 100.0 if value > 100.0 else value


def ruox_resistance(temperature: float) -> float:
    """Resistance (ohm) of the simulated RuO2 thermometers at ``temperature`` (K)."""
    return 1000.0 * math.exp(math.sqrt(0.5 / max(temperature, 1e-4)))


class ThermalModel:
    """MC + sample temperatures driven by the sample heater (see the module docstring).

    ``advance(t)`` brings the model to world time ``t`` (s). ``mc_temperature()``,
    ``sample_temperature()`` (K, noiseless), ``reading(channel)`` (K, noisy; channel "A" or
    6), ``heater_percent()`` (% of range current), ``heater_power()`` (W). Settings live in
    ``output`` (a :class:`HeaterOutput`); change them through the ``set_*`` methods, which
    keep the PID bumpless. ``no_settle`` (bool) is the fault switch.
    """

    def __init__(self, params: ThermalParams, rng: np.random.Generator, t0: float = 0.0) -> None:
        self.params = params
        self.rng = rng
        self.output = HeaterOutput(resistance=params.heater_resistance)
        self.no_settle = False
        self.tlimits: dict[str, float] = {}
        t_init = params.initial_temperature or params.base_temperature
        self._t = t0
        self._mc = t_init
        self._sample = t_init
        self._heater = 0.0  # % of range current during the present control interval
        self._integral = 0.0  # ∫ eps dt (%·s)
        self._last_meas: float | None = None
        self._ramp_sp = 0.0  # present (ramping) setpoint
        self._view_t = t0
        self._view: tuple[float, float] | None = (t_init, t_init)  # None: not yet computed
        self._slope: tuple[Any, ...] = (None, 0.0, 0.0, 0.0, 0.0, 0.0)
        #: extra relative noise of each reading and a slow drift factor (sim.noise)
        self.extra_noise = 0.0
        self.reading_factor = 1.0
        self._normals: list[float] = []

    # ---- physics ----------------------------------------------------------------
    def _power(self, percent: float, rng_index: int | None = None) -> float:
        r = self.output.range if rng_index is None else rng_index
        current = percent / 100.0 * HEATER_RANGES[r]
        return current * current * self.output.resistance

    def _deriv(self, mc: float, sample: float, power: float) -> tuple[float, float]:
        """(dT_mc/dt, dT_s/dt) (K/s) at heater ``power`` (W) (the equations of
        :meth:`_integrate`, whose hot loop writes them out)."""
        p = self.params
        cap = p.heat_capacity_c0 + p.heat_capacity_c1 * mc
        dmc = (power + p.base_heat_load - p.cooling_coefficient * mc * mc) / cap
        return dmc, (mc - sample) / p.sample_tau

    def _integrate(
        self, mc: float, sample: float, power: float, duration: float
    ) -> tuple[float, float]:
        """RK4 over ``duration`` (s) with constant heater ``power`` (W) of
        dT_mc/dt = (P + P_base − a T_mc²)/(c0 + c1 T_mc), dT_s/dt = (T_mc − T_s)/τ_s
        (written out: this runs once per control interval)."""
        p = self.params
        c0, c1, a = p.heat_capacity_c0, p.heat_capacity_c1, p.cooling_coefficient
        q = power + p.base_heat_load
        inv_tau_s = 1.0 / p.sample_tau
        h_tau = 0.1 * p.sample_tau
        remaining = duration
        while remaining > 1e-12:  # comparisons, not min()/max(): this is the hot loop
            cap = c0 + c1 * mc
            dm = q - a * mc * mc
            h = 0.05 * cap / (a * (mc if mc > 1e-3 else 1e-3))
            if remaining < h:
                h = remaining
            if h_tau < h:
                h = h_tau
            rate = abs(dm) / cap
            if rate > 0 and 0.02 * mc / rate < h:
                h = 0.02 * mc / rate
            if h < 1e-6:
                h = 1e-6
            hh = 0.5 * h
            m1, s1 = dm / cap, (mc - sample) * inv_tau_s
            m = mc + hh * m1
            m2, s2 = (q - a * m * m) / (c0 + c1 * m), (m - sample - hh * s1) * inv_tau_s
            m = mc + hh * m2
            m3, s3 = (q - a * m * m) / (c0 + c1 * m), (m - sample - hh * s2) * inv_tau_s
            m = mc + h * m3
            m4, s4 = (q - a * m * m) / (c0 + c1 * m), (m - sample - h * s3) * inv_tau_s
            mc += h / 6.0 * (m1 + 2 * m2 + 2 * m3 + m4)
            sample += h / 6.0 * (s1 + 2 * s2 + 2 * s3 + s4)
            if mc < 1e-3:
                mc = 1e-3
            if sample < 1e-3:
                sample = 1e-3
            remaining -= h
        return mc, sample

    # ---- control ----------------------------------------------------------------
    def _effective_pid(self) -> tuple[float, float, float, int]:
        out = self.output
        if out.mode == 3:
            for zone in out.zones:
                if zone.upper > 0 and self._ramp_sp <= zone.upper:
                    return zone.p, zone.i, zone.d, zone.range
            return out.p, out.i, out.d, out.range
        return out.p, out.i, out.d, out.range

    def _noisy(self, value: float) -> float:
        p = self.params
        relative = (
            p.noise_relative
            if not self.extra_noise
            else math.hypot(p.noise_relative, self.extra_noise)
        )
        sigma = math.hypot(relative * value, p.noise_absolute)
        if not self._normals:  # drawn in blocks: no numpy call per reading
            self._normals = self.rng.standard_normal(256).tolist()
            self._normals.reverse()
        return value + sigma * self._normals.pop()

    def _control_step(self) -> None:
        """Compute the heater for the next interval from the state at ``self._t``."""
        out = self.output
        dt = self.params.control_interval
        # setpoint ramp
        if out.ramp_on and out.ramp_rate > 0:
            step = out.ramp_rate / 60.0 * dt
            diff = out.setpoint - self._ramp_sp
            self._ramp_sp += max(-step, min(step, diff))
        else:
            self._ramp_sp = out.setpoint
        # temperature limits switch every output off
        for ch, limit in self.tlimits.items() if self.tlimits else ():
            value = self._sample if ch == "A" else self._mc if ch == "6" else 0.0
            if limit > 0 and value > limit:
                out.range = 0
        if out.mode == 2:
            self._heater = _percent(out.manual)
            self._last_meas = None
        elif out.mode in (3, 5):
            if out.mode == 3:
                p, i, d, out.range = self._effective_pid()
            else:
                p, i, d = out.p, out.i, out.d
            meas = self._noisy(self._sample if out.input == "A" else self._mc)
            sp = self._ramp_sp
            if sp <= 0:
                self._heater = 0.0
            else:
                eps = 100.0 * (sp - meas) / sp
                deriv = 0.0
                if self._last_meas is not None and d > 0:
                    deriv = -100.0 * (meas - self._last_meas) / sp / dt
                self._last_meas = meas
                integral_term = self._integral / i if i > 0 else 0.0
                raw = p * (eps + integral_term + d * deriv)
                if i > 0 and not ((raw >= 100.0 and eps > 0) or (raw <= 0.0 and eps < 0)):
                    self._integral += eps * dt
                    raw = p * (eps + self._integral / i + d * deriv)
                self._heater = _percent(raw)
        else:
            self._heater = 0.0
            self._last_meas = None

    # ---- public -----------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Bring the model to world time ``t`` (s); earlier times are ignored. O(1) in
        the length of the gap (see the module docstring)."""
        if t == self._view_t:
            return
        dt = self.params.control_interval
        due = (t + 1e-9 - self._t) / dt
        intervals = math.floor(due) if due >= 1.0 else 0  # most requests: within one
        if intervals > CATCH_UP_INTERVALS + SETTLE_INTERVALS:
            self._step(CATCH_UP_INTERVALS)
            skipped = intervals - CATCH_UP_INTERVALS - SETTLE_INTERVALS
            self._equilibrate(skipped * dt)
            self._t += skipped * dt
            intervals = SETTLE_INTERVALS
        if intervals > 0:
            self._step(intervals)
        # the state at t is computed when asked for (:meth:`_viewed`): most requests
        # (lock-in, STM) never read the temperature, only the committed one
        self._view = None
        self._view_t = t if t > self._t else self._t

    def _viewed(self) -> tuple[float, float]:
        """(MC, sample) temperatures (K) at ``_view_t``, computed on first use."""
        view = self._view
        if view is None:
            h = self._view_t - self._t
            view = self._view = self._partial(h) if h > 0 else (self._mc, self._sample)
        return view

    def _step(self, intervals: int) -> None:
        """Commit ``intervals`` whole control intervals."""
        dt = self.params.control_interval
        for _ in range(intervals):
            self._control_step()
            power = self._power(self._heater)
            self._mc, self._sample = self._integrate(self._mc, self._sample, power, dt)
            self._t += dt

    def _partial(self, h: float) -> tuple[float, float]:
        """The state ``h`` s (< one interval) past the last commit, not committed (the
        derivatives at the commit are remembered: requests within one interval ask often)."""
        out = self.output
        key = (self._t, self._mc, self._sample, self._heater, out.range, out.resistance)
        slope = self._slope
        if slope[0] != key:  # once per interval
            power = self._power(self._heater)
            dmc, dsample = self._deriv(self._mc, self._sample, power)
            h_max = 0.05 * self.params.sample_tau
            slope = self._slope = (key, power, dmc, dsample, abs(dmc), h_max)
        _key, power, dmc, dsample, rate, h_max = slope
        mc = self._mc
        if rate * h > 0.01 * mc or h > h_max:
            return self._integrate(mc, self._sample, power, h)
        return mc + dmc * h, self._sample + dsample * h

    def _equilibrate(self, duration: float) -> None:
        """Jump to the steady state of the present settings after ``duration`` (s)."""
        p, out = self.params, self.output
        if out.ramp_on and out.ramp_rate > 0:
            step = out.ramp_rate / 60.0 * duration
            self._ramp_sp += max(-step, min(step, out.setpoint - self._ramp_sp))
        full = self._power(100.0, None if out.mode != 3 else self._effective_pid()[3])
        need = p.cooling_coefficient * self._ramp_sp**2 - p.base_heat_load
        if out.mode in (3, 5) and self._ramp_sp > 0 and 0.0 <= need <= full and full > 0:
            self._mc = self._sample = self._ramp_sp
            rng_index = self._effective_pid()[3] if out.mode == 3 else out.range
            self._heater = 100.0 * math.sqrt(need / full) if full > 0 else 0.0
            if out.mode == 3:
                out.range = rng_index
            self._bumpless(self._heater)
            return
        if out.mode in (3, 5) and self._ramp_sp > 0 and full > 0 and need > full:
            self._heater = 100.0  # the setpoint is out of reach: heater saturated
        elif out.mode in (3, 5):
            self._heater = 0.0  # below base (or no setpoint): heater off
        power = self._power(self._heater) if out.range > 0 else 0.0
        temperature = math.sqrt((power + p.base_heat_load) / p.cooling_coefficient)
        self._mc = self._sample = temperature
        if out.mode in (3, 5):
            self._bumpless(self._heater)

    @property
    def time(self) -> float:
        """World time the model was last advanced to (s)."""
        return self._view_t

    def mc_temperature(self) -> float:
        """Mixing-chamber temperature (K, noiseless)."""
        return self._viewed()[0]

    def sample_temperature(self) -> float:
        """Sample temperature (K, noiseless)."""
        return self._viewed()[1]

    def interval_sample_temperature(self) -> float:
        """Sample temperature (K, noiseless) at the last committed control interval: it
        changes once per ``control_interval`` of world time (what the junction's physics
        uses, so its spectra are looked up once per interval, not once per request)."""
        return self._sample

    def true_temperature(self, channel: str) -> float:
        """Noiseless temperature of channel ``"A"`` (sample) or ``"6"`` (MC) (K)."""
        return self.sample_temperature() if channel == "A" else self.mc_temperature()

    def reading(self, channel: str) -> float:
        """Bridge reading of channel ``"A"`` or ``"6"`` (K), with noise and faults."""
        view = self._viewed()  # true_temperature(channel), inline
        value = self._noisy(view[1] if channel == "A" else view[0])
        if self.no_settle:
            p = self.params
            phase = 2.0 * math.pi * self._view_t / p.no_settle_period
            value *= 1.0 + p.no_settle_amplitude * math.sin(phase)
        return value * self.reading_factor

    def heater_percent(self) -> float:
        """Sample heater output (% of the range current)."""
        return self._heater if self.output.range > 0 else 0.0

    def heater_power(self) -> float:
        """Power dissipated by the sample heater (W)."""
        return self._power(self.heater_percent())

    def ramping(self) -> bool:
        """True while a setpoint ramp is in progress."""
        out = self.output
        return bool(out.ramp_on and out.ramp_rate > 0 and self._ramp_sp != out.setpoint)

    def set_mode(self, mode: int, input_channel: str | None = None) -> None:
        """OUTMODE: set the mode (0-6) and optionally the control channel ("A", "1".."16")."""
        out = self.output
        if mode in (3, 5) and out.mode not in (3, 5):
            self._bumpless(self._heater)
            self._ramp_sp = out.setpoint if out.ramp_on == 0 else self._ramp_sp
        out.mode = mode
        if input_channel is not None:
            out.input = input_channel

    def set_range(self, rng_index: int) -> None:
        """RANGE: change the range keeping the heater power (closed loop, bumpless)."""
        self._viewed()  # the state up to now ran under the old range
        out = self.output
        old_current = HEATER_RANGES[out.range]
        new_current = HEATER_RANGES[rng_index]
        if out.mode in (3, 5) and old_current > 0 and new_current > 0:
            target = self._heater * old_current / new_current
            self._heater = min(target, 100.0)
            self._bumpless(self._heater)
        out.range = rng_index

    def set_resistance(self, ohms: float) -> None:
        """HTRSET: the heater resistance (ohm), from now on."""
        self._viewed()  # the state up to now ran under the old resistance
        self.output.resistance = float(ohms)

    def set_setpoint(self, value: float) -> None:
        """SETP (K)."""
        out = self.output
        if not (out.ramp_on and out.ramp_rate > 0):
            self._ramp_sp = value
        elif self._ramp_sp <= 0:
            self._ramp_sp = self.reading(out.input) if out.input in ("A", "6") else value
        out.setpoint = value

    def set_pid(self, p: float, i: float, d: float) -> None:
        """PID (see the module docstring for the units); keeps the output bumpless."""
        out = self.output
        out.p, out.i, out.d = p, i, d
        if out.mode in (3, 5):
            self._bumpless(self._heater)

    def _bumpless(self, heater: float) -> None:
        """Set the integral so that the PID output equals ``heater`` at zero error."""
        p, i, _d, _r = self._effective_pid()
        if i > 0 and p > 0:
            self._integral = heater / p * i
        else:
            self._integral = 0.0
        self._last_meas = None
