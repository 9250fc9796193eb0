"""The film's four-terminal resistance R(T) as the Lake Shore 372 measures it.

Per sample preset (``sim.sample``, :data:`FILM_PRESETS`; Tc comes from the world's film):

- normal state above the transition: ``R_N(T) = r_normal · (1 + upturn · ln(t_ref / T))``
  (Ω) — the weak insulating upturn of the highly disordered InO films (InO-1…3,
  upturn > 0, several kΩ), a flat metal for the weakly disordered InO-4 (~1 kΩ);
- the transition: ``R(T) = R_N(T) · s(u)``, s the smooth step 3u² − 2u³ of
  u = (T − Tc + h)/(2h), clipped to [0, 1]: exactly zero below Tc − h, R_N above
  Tc + h, 50 % at Tc, and a 10–90 % width of 1.2168 h = ``width`` (K);
- the film's electrons, heated by the excitation current I through the electron–phonon
  coupling Σ·Vol (``sigma_volume``, W/K⁵): ``T_e⁵ = T⁵ + I²·R(T_e)/(Σ·Vol)``, solved
  from below (the lower branch; a bistable film stays on its cold side), so a too high
  excitation moves the apparent transition to lower bath temperature;
- the reading noise: the bridge's voltage noise ``voltage_noise`` (V/√Hz) over the
  averaging time, divided by I (so the noise in Ω falls as the excitation rises), in
  quadrature with ``relative_noise`` × R;
- the film lags the sample thermometer with the time constant ``lag`` (s, world time):
  up and down sweeps through Tc differ (thermal lag).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_PRESET",
    "FILM_PRESETS",
    "FilmResistance",
    "FilmResistanceParams",
    "preset_for",
]


@dataclass(frozen=True)
class FilmResistanceParams:
    """Parameters of R(T) (see the module docstring). SI: K, Ω, W/K⁵, V/√Hz, s."""

    tc: float = 1.45
    r_normal: float = 5.0e3
    upturn: float = 0.08
    t_ref: float = 4.0
    width: float = 0.03
    sigma_volume: float = 3.0e-9
    voltage_noise: float = 3.0e-9
    relative_noise: float = 5.0e-5
    lag: float = 4.0

    @property
    def half_span(self) -> float:
        """h (K): the step runs from Tc − h to Tc + h; width (10–90 %) = 1.2168 h."""
        return self.width / WIDTH_PER_HALF_SPAN


#: the 10–90 % width of the smooth step 3u² − 2u³ over [Tc − h, Tc + h], in units of h
WIDTH_PER_HALF_SPAN = 1.2168

#: preset → (normal-state resistance Ω at t_ref, upturn a, transition width K, Tc K)
FILM_PRESETS: dict[str, dict[str, float]] = {
    "InO-1": {"tc": 1.50, "r_normal": 6.0e3, "upturn": 0.08, "width": 0.035},
    "InO-2": {"tc": 1.45, "r_normal": 5.0e3, "upturn": 0.10, "width": 0.030},
    "InO-3": {"tc": 1.90, "r_normal": 3.5e3, "upturn": 0.05, "width": 0.040},
    "InO-4": {"tc": 3.20, "r_normal": 1.0e3, "upturn": 0.0, "width": 0.025},
}
DEFAULT_PRESET = "InO-2"


def preset_for(world: Any) -> FilmResistanceParams:
    """The film of ``world``'s sample: the preset named by ``world.config.sample`` (the
    BCS film kind means InO-4 when the config names none), with Tc from the world's
    film (so a ``sim.film.tc`` override moves the transition too)."""
    name = getattr(world.config, "sample", None)
    film = getattr(world, "film", None)
    if name not in FILM_PRESETS:
        name = "InO-4" if getattr(film, "kind", "") == "bcs" else DEFAULT_PRESET
    values = dict(FILM_PRESETS[name])
    if film is not None and getattr(film, "tc", None):
        values["tc"] = float(film.tc)
    return FilmResistanceParams(**values)


class FilmResistance:
    """R(T) of one film with its self-heating, noise and thermal lag.

    Args:
        params: the film (:class:`FilmResistanceParams`).
        rng: noise generator.
    """

    def __init__(self, params: FilmResistanceParams, rng: np.random.Generator) -> None:
        self.params = params
        self.rng = rng
        self._t_film: float | None = None
        self._time: float | None = None
        self._thermometer = 0.0

    def with_tc(self, tc: float) -> FilmResistance:
        """The same film with its transition at ``tc`` (K)."""
        return FilmResistance(dataclasses.replace(self.params, tc=float(tc)), self.rng)

    def normal(self, temperature: float) -> float:
        """R_N(T) (Ω) of the normal state extended to ``temperature`` (K)."""
        p = self.params
        t = max(float(temperature), 1e-3)
        return p.r_normal * max(1.0 + p.upturn * math.log(p.t_ref / t), 0.05)

    def resistance(self, temperature: float) -> float:
        """Noiseless R(T) (Ω) at electron temperature ``temperature`` (K)."""
        p = self.params
        h = p.half_span
        u = min(max((temperature - p.tc + h) / (2.0 * h), 0.0), 1.0)
        return self.normal(temperature) * u * u * (3.0 - 2.0 * u)

    def electron_temperature(self, bath: float, current: float) -> float:
        """T_e (K) of the film at bath ``bath`` (K) carrying ``current`` (A rms):
        the lowest solution of T_e⁵ = T⁵ + I²R(T_e)/(Σ·Vol), iterated from T."""
        if current == 0.0 or bath <= 0.0:
            return max(bath, 0.0)
        t5 = bath**5
        k = current * current / self.params.sigma_volume
        t_e = bath
        for _ in range(60):
            new = (t5 + k * self.resistance(t_e)) ** 0.2
            if abs(new - t_e) < 1e-7:
                return new
            t_e = new
        return t_e

    def film_temperature(self, thermometer: float, time: float) -> float:
        """The film's (phonon) temperature (K) at world ``time`` (s): it follows the
        sample thermometer's true temperature with the lag ``params.lag``."""
        if self._t_film is None or self._time is None or time < self._time:
            self._t_film, self._time, self._thermometer = thermometer, time, thermometer
            return thermometer
        dt, tau = time - self._time, self.params.lag
        if tau > 0 and dt > 0:  # exact first-order lag of a thermometer linear in between
            v = (thermometer - self._thermometer) / dt
            decay = math.exp(-dt / tau)
            self._t_film = (
                thermometer - v * tau + (self._t_film - self._thermometer + v * tau) * decay
            )
        elif tau <= 0:
            self._t_film = thermometer
        self._time, self._thermometer = time, thermometer
        return self._t_film

    def reading(self, bath: float, current: float, averaging: float) -> float:
        """One reading (Ω): R(T_e) with the excitation-dependent noise averaged over
        ``averaging`` (s) at bath ``bath`` (K) and excitation ``current`` (A rms)."""
        r = self.resistance(self.electron_temperature(bath, current))
        return r + self.noise_sigma(r, current, averaging) * float(self.rng.standard_normal())

    def noise_sigma(self, resistance: float, current: float, averaging: float) -> float:
        """1 σ of a reading (Ω): voltage noise / I over ``averaging`` s ⊕ relative noise."""
        p = self.params
        volts = p.voltage_noise / math.sqrt(2.0 * max(averaging, 0.1))
        by_current = volts / current if current > 0 else 0.0
        return math.hypot(by_current, p.relative_noise * resistance)
