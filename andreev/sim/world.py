"""The simulated fridge's world: clock, sample, junction, thermal model and lock-in.

Configuration: :class:`andreev.sim.config.SimConfig` (the ``sim:`` section; re-exported
here). :class:`World` is thread-safe: servers hold ``world.lock`` (an RLock) while they
read or change state and call ``world.advance()`` *before* changing anything, so the
elapsed time runs under the old state. The lock-in input X + iY = dI/dV(bias, G_N,
T_sample, v_mod; the local film) × SLVL × modulation_divider × preamp gain (V/A), rotated
by −(PHAS + the preamp's phase offset), is recomputed in every ``advance()``; a change is
applied from the previous ``advance()`` on (servers change state right after advancing),
so a bias step set between two advances reaches the filter at the moment it was made.

The local film is the sample's (:mod:`andreev.sim.samples`) with Δ from the gap map at
the tip position and the Andreev parameters of the present contact; its spectra come
from :class:`andreev.sim.spectra.FilmSpectra` tables (microseconds per request).
:meth:`World.held_sweep` evaluates a whole held sweep at once (the controller-side
``BiasSpectr.Start``).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from andreev.clock import Clock
from andreev.physics import FilmModel
from andreev.sim.config import (
    MAX_SPEEDUP,
    LockinParams,
    SimConfig,
    WorldFaults,
    check_speedup,
)
from andreev.sim.junction import Junction
from andreev.sim.lockin import LockinState
from andreev.sim.noise import NoiseModel
from andreev.sim.samples import SAMPLES, GapMap, GapMapParams, contact_film
from andreev.sim.spectra import FilmSpectra, film_key
from andreev.sim.thermal import ThermalModel

__all__ = [
    "MAX_SPEEDUP",
    "GapMapParams",
    "LockinParams",
    "SimConfig",
    "World",
    "WorldFaults",
]

SPECTRA_CACHE_SIZE = 6  # local films whose tables are kept
#: significant digits of the sample temperature the junction's physics sees
TEMPERATURE_DIGITS = 4


class World:
    """Everything the three simulated instruments read and change (see module docstring).

    Attributes: ``config``, ``clock`` (:class:`~andreev.clock.Clock`), ``rng``
    (``numpy.random.default_rng(seed)``), ``lock`` (RLock), ``film`` (the sample's
    FilmModel, mean Δ), ``gap_map``, ``noise``, ``thermal`` (ThermalModel), ``junction``
    (Junction), ``lockin`` (LockinState), ``faults`` (WorldFaults), ``modulation_divider``.
    Raises ConfigError when ``config.speedup`` is outside 1 … MAX_SPEEDUP.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config if config is not None else SimConfig()
        check_speedup(config.speedup, key="speedup")
        self.lock = threading.RLock()
        self.clock = Clock(config.speedup)
        self.rng = np.random.default_rng(config.seed)
        self.film = config.film
        self.modulation_divider = float(config.modulation_divider)
        self.faults = dataclasses.replace(config.faults)
        self.gap_map = self._make_gap_map(config)
        self.noise = NoiseModel(config.noise, config.seed)
        self._spectra: OrderedDict[tuple[Any, ...], FilmSpectra] = OrderedDict()
        self._local: tuple[float, float, float, FilmSpectra] | None = None
        self._last_current: tuple[tuple[Any, ...] | None, float] = (None, 0.0)
        self._t_key: tuple[float, float] = (-1.0, -1.0)  # (temperature K, as the physics sees it)
        self._t_decade: tuple[float, float, int] = (0.0, 0.0, 0)  # [low, high) K, digits
        self._phase: tuple[float, float, float] = (math.nan, 1.0, 0.0)  # degrees, cos, sin
        self._density: tuple[float, float] = (math.nan, 0.0)  # gain V/A, V/√Hz
        self._last_conductance: tuple[tuple[Any, ...] | None, float] = (None, 0.0)
        t0 = self.clock.now()
        self.thermal = ThermalModel(config.thermal, np.random.default_rng([config.seed, 1]), t0)
        self.thermal.extra_noise = config.noise.temperature_noise
        self.lockin = LockinState(
            rng=np.random.default_rng([config.seed, 2]),
            noise_density=config.lockin.noise_density,
        )
        if config.noise.mains_amplitude:
            self.lockin.pickup = self._mains
        self.lockin.advance(t0)
        self.junction = Junction(
            config.junction, self.clock, np.random.default_rng([config.seed, 3]), self._current
        )
        self._t = t0
        noise = config.noise
        self._drifts = bool(noise.z_drift or noise.telegraph_rate or noise.temperature_drift)
        self._input: tuple[Any, ...] = (None, 0j, False, 0.0)
        self.advance()

    # ---- sample -------------------------------------------------------------------
    @staticmethod
    def _make_gap_map(config: SimConfig) -> GapMap:
        gm = config.gap_map
        low, high = SAMPLES[config.sample][1]
        if config.film.kind == "bcs" and gm.low is None and gm.high is None:
            low, high = 1.0, 1.0  # a weakly disordered film is homogeneous
        low = low if gm.low is None else gm.low
        high = high if gm.high is None else gm.high
        return GapMap(gm, low, high, config.seed)

    def gap_at(self, x: float, y: float) -> float:
        """Single-particle gap Δ (eV) at tip position (x, y) (m), from the seeded gap map
        (a factor ~3 across the sample for InO-1…3; uniform for InO-4); Δc is uniform."""
        return self.film.gap * self.gap_map.factor(x, y)

    def film_at(self, x: float, y: float, setpoint: float | None = None) -> FilmModel:
        """The film under the tip at (x, y) (m): the local Δ and the Andreev parameters
        of the contact made there at ``setpoint`` (A; default: the present setpoint)."""
        return self._spectra_at(x, y, setpoint).film

    def _spectra_at(self, x: float, y: float, setpoint: float | None = None) -> FilmSpectra:
        if setpoint is None:
            j = getattr(self, "junction", None)
            setpoint = j.setpoint if j is not None else self.config.junction.setpoint
        local = self._local
        if local is not None and local[0] == x and local[1] == y and local[2] == setpoint:
            return local[3]
        with self.lock:
            film = dataclasses.replace(self.film, gap=round(self.gap_at(x, y), 10))
            film = contact_film(film, self.config.contacts, self.config.seed, x, y, setpoint)
            key = film_key(film)
            spectra = self._spectra.get(key)
            if spectra is None:
                spectra = FilmSpectra(film, self.config.table_width)
                self._spectra[key] = spectra
                while len(self._spectra) > SPECTRA_CACHE_SIZE:
                    self._spectra.popitem(last=False)
            else:
                self._spectra.move_to_end(key)
            self._local = (x, y, setpoint, spectra)
            return spectra

    def _local_spectra(self) -> FilmSpectra:
        j = self.junction
        return self._spectra_at(j.x, j.y, j.setpoint)

    def _current(self, bias: float, g_normal: float) -> float:
        """Film current (A) at bias (V), G_N (S), the present sample T and tip position
        (the last answer is remembered: the feedback and the preamp ask twice)."""
        j = getattr(self, "junction", None)
        if j is None:
            p = self.config.junction
            spectra = self._spectra_at(p.x, p.y, p.setpoint)
        else:
            spectra = self._spectra_at(j.x, j.y, j.setpoint)
        return self._film_current(spectra, bias, g_normal, self._physics_temperature())

    def _film_current(
        self, spectra: FilmSpectra, bias: float, g_normal: float, temperature: float
    ) -> float:
        """Current (A) of ``spectra`` at bias (V), G_N (S), temperature (K) (remembered)."""
        key = (bias, g_normal, temperature, spectra)
        if key == self._last_current[0]:
            return self._last_current[1]
        value = spectra.current(bias, g_normal, temperature)
        self._last_current = (key, value)
        return value

    def _physics_temperature(self) -> float:
        """The sample temperature (K) the junction's physics uses: the thermal model's
        at its last committed control interval, to :data:`TEMPERATURE_DIGITS`
        significant digits (a regulated temperature's tiny steps do not make every
        interval a new spectrum: 1e-4 relative moves dI/dV by far less than its noise)."""
        t = self.thermal.interval_sample_temperature()
        if t != self._t_key[0]:
            low, high, digits = self._t_decade
            if not low < t < high:  # another decade: count its digits (log10 once)
                exponent = math.floor(math.log10(t)) if t > 0 else TEMPERATURE_DIGITS
                digits = TEMPERATURE_DIGITS - exponent
                # well inside the decade, where floor(log10(t)) is surely ``exponent``
                low, high = 1.000001 * 10.0**exponent, 0.999999 * 10.0 ** (exponent + 1)
                self._t_decade = (low, high, digits)
            self._t_key = (t, round(t, digits))
        return self._t_key[1]

    def _mains(self, t: float) -> complex:
        lk = self.lockin
        return self.noise.mains(t, lk.frequency, lk.time_constant, lk.poles)

    # ---- time -----------------------------------------------------------------------
    def advance(self) -> float:
        """Bring every model to ``clock.now()``; returns that world time (s).

        Cheap when little changed: the lock-in input (dI/dV, clipping, noise density) is
        recomputed only when what it depends on moved (:meth:`_input_key`), and the
        filter takes one exact step when the input did not change."""
        with self.lock:
            now = self.clock.now()
            t_prev = self._t
            if now < t_prev:
                now = t_prev
            j, lk, faults, thermal = self.junction, self.lockin, self.faults, self.thermal
            thermal.no_settle = faults.no_settle
            lk.force_overload = faults.force_overload
            j.force_clip = faults.force_clip
            thermal.advance(now)
            if self._drifts:
                noise = self.noise.params
                if noise.z_drift or noise.telegraph_rate:
                    j.z_noise = self.noise.z_offset(now, j.kappa)
                if noise.temperature_drift:
                    thermal.reading_factor = self.noise.temperature_factor(now)
            j.advance(now)
            # apply the input as it is now from the previous advance on (see docstring)
            key = self._input_key()
            if key != self._input[0]:
                u, clipping = self._lockin_input()
                self._input = (key, u, clipping, self._noise_density())
            _key, u, lk.input_clipping, lk.noise_density = self._input
            lk.step(t_prev, u, now)
            self._t = now
            return now

    def _input_key(self) -> tuple[Any, ...]:
        """Everything the lock-in input, the preamp's clipping and the noise density
        depend on (compared by value at each advance)."""
        j, lk = self.junction, self.lockin
        return (
            j.bias,
            j.z,
            j.z_noise,
            j.gain_index,
            j.force_clip,
            j.x,
            j.y,
            j.setpoint,
            self._physics_temperature(),
            lk.amplitude,
            lk.phase,
            lk.harmonic,
            lk.reference_source,
            self.modulation_divider,
        )

    @property
    def time(self) -> float:
        """World time of the last ``advance()`` (s)."""
        return self._t

    # ---- observables ----------------------------------------------------------------
    def sample_temperature(self) -> float:
        """Sample temperature (K, noiseless) at the last advance."""
        with self.lock:
            return self.thermal.sample_temperature()

    def v_mod_rms(self) -> float:
        """Modulation at the junction (V rms) = SLVL × modulation_divider."""
        return self.lockin.amplitude * self.modulation_divider

    def conductance(self) -> float:
        """dI/dV (S) at the present bias, G_N, sample T, v_mod and tip position (from the
        local film's spectrum tables; see :mod:`andreev.sim.spectra`)."""
        with self.lock:
            gn = self.junction.g_normal()
            if gn <= 0:
                return 0.0
            return self._conductance(self._local_spectra(), gn, self._physics_temperature())

    def _conductance(self, spectra: FilmSpectra, gn: float, temperature: float) -> float:
        """dI/dV (S) of ``spectra`` at the present bias and v_mod, G_N ``gn`` (S, > 0) and
        ``temperature`` (K) (the last answer is remembered, and the current of the same
        lookup too: the preamp's clipping asks for it next)."""
        bias, v_mod = self.junction.bias, self.lockin.amplitude * self.modulation_divider
        key = (bias, gn, temperature, v_mod, spectra)
        last = self._last_conductance
        if key == last[0]:
            return last[1]
        current, value = spectra.current_and_conductance(bias, gn, temperature, v_mod)
        self._last_conductance = (key, value)
        self._last_current = ((bias, gn, temperature, spectra), current)
        return value

    def lockin_input(self) -> complex:
        """The SR830 input X + iY (V rms) for the present state."""
        with self.lock:
            return self._lockin_input()[0]

    def _lockin_input(self) -> tuple[complex, bool]:
        """(X + iY (V rms), the preamp clipping) for the present state."""
        j = self.junction
        lk = self.lockin
        if lk.harmonic != 1 or lk.reference_source == 0:
            return 0j, j.clipping()
        g = self.conductance()  # one table lookup for the dI/dV and the current
        clipping = j.clipping()
        gain = j.gains[j.gain_index]
        amplitude = g * lk.amplitude * self.modulation_divider * gain
        degrees = lk.phase + self.config.noise.phase_offset
        if degrees != self._phase[0]:
            phase = math.radians(degrees)
            self._phase = (degrees, math.cos(phase), math.sin(phase))
        _degrees, cos, sin = self._phase
        return complex(amplitude * cos, -amplitude * sin), clipping

    def _noise_density(self) -> float:
        """Input noise density (V/√Hz) at the present preamp gain (remembered per gain)."""
        j = self.junction
        gain = j.gains[j.gain_index]
        if gain != self._density[0]:
            self._density = (gain, self._density_at(gain))
        return self._density[1]

    def _density_at(self, gain: float) -> float:
        p = self.config.lockin
        chain = math.hypot(p.noise_density, p.current_noise_density * gain)
        return math.hypot(chain, self.noise.input_density(gain)) if self._noisy else chain

    @property
    def _noisy(self) -> bool:
        n = self.config.noise
        return bool(n.preamp_current or n.lockin_input)

    # ---- a whole held sweep at once -------------------------------------------------------
    def held_sweep(
        self, bias: np.ndarray, times: np.ndarray, bandwidth: float = 0.0
    ) -> dict[str, np.ndarray]:
        """Evaluate a sweep at held tip height in one vectorised step.

        Point ``i`` is at ``bias[i]`` (V), read at world time ``times[i]`` (s, increasing,
        at most the present time: the caller sleeps on the clock until ``times[-1]``
        first). The world is advanced once (the elapsed time runs under the state before
        the call: feedback off, so the tip stays put); the sample temperature is
        interpolated between the previous advance and now, the tip-height noise
        (``sim.noise``) is evaluated at each time. Leaves the junction at ``bias[-1]``.

        Returns arrays (one value per point): ``"current"`` (A, as the preamp reports it:
        noise, clipping), ``"conductance"`` (S, dI/dV smeared by the present modulation),
        ``"g_normal"`` (S), ``"temperature"`` (K), ``"z"`` (m), ``"time"`` (s), and
        ``"noise_x"``, ``"noise_y"`` (A): the preamp's current noise (``sim.noise``) as the
        controller's own demodulator sees it in ``bandwidth`` (Hz; zeros when 0 or off).
        Cost: ~1 ms for 1000 points once the tables exist.
        """
        b = np.asarray(bias, dtype=float)
        ts = np.asarray(times, dtype=float)
        with self.lock:
            j = self.junction
            t_prev, temp_prev = self._t, self.thermal.sample_temperature()
            now = self.advance()
            temp_now = self.thermal.sample_temperature()
            frac = np.clip((ts - t_prev) / (now - t_prev), 0.0, 1.0) if now > t_prev else 1.0
            temperature = temp_prev + (temp_now - temp_prev) * frac * np.ones_like(b)
            dz = self.noise.z_offset_array(ts, j.kappa)
            gt = j.params.g_contact * np.exp(np.minimum(-2.0 * j.kappa * (j.z + dz), 700.0))
            g_normal = 1.0 / (1.0 / gt + j.params.series_resistance)
            gn = float(np.mean(g_normal))
            spectra = self._local_spectra()
            t_mid = float(np.mean(temperature))
            scale = g_normal / gn if gn > 0 else np.zeros_like(b)
            conductance = spectra.conductance_array(b, gn, t_mid, self.v_mod_rms()) * scale
            current = spectra.current_array(b, gn, t_mid) * scale
            clip = j.clip_current
            if j.force_clip:
                current = np.where(b >= 0, clip, -clip)
            else:
                sigma = j.params.current_noise
                if sigma > 0:
                    current = current + j.rng.normal(0.0, sigma, b.shape)
                current = np.clip(current, -clip, clip)
            j.bias = float(b[-1])
            noise_x, noise_y = self.noise.demod_noise(b.size, j.gain, bandwidth)
            return {
                "noise_x": noise_x,
                "noise_y": noise_y,
                "current": current,
                "conductance": conductance,
                "g_normal": g_normal,
                "temperature": temperature,
                "z": np.full(b.shape, j.z),
                "time": ts,
            }

    @property
    def crashes(self) -> list[dict[str, Any]]:
        """Crash records of the junction (dicts: time s, z m, g_normal S, reason)."""
        return self.junction.crashes
