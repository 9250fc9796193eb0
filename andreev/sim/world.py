"""The simulated fridge's world: clock, sample, junction, thermal model and lock-in.

:class:`SimConfig` is read from the ``sim:`` (and ``clock:``) sections of a station YAML
such as ``config/sim.yaml``. Keys of ``sim:`` (unknown keys are errors naming the key):

- ``seed`` (int): noise seed. ``speedup`` (float, world s per wall s; also read from
  ``clock.speedup``, ``sim.speedup`` wins). ``ports`` ({lockin, bridge, stm}: TCP ports
  for ``andreev sim``). ``modulation_divider`` (SR830 SLVL volts → junction volts).
- ``film``: :class:`andreev.physics.FilmModel` fields (eV, K, S), plus ``preset: bcs``
  to start from ``FilmModel.bcs_preset()``.
- ``thermal``: :class:`andreev.sim.thermal.ThermalParams` fields.
- ``junction``: :class:`andreev.sim.junction.JunctionParams` fields.
- ``lockin``: ``noise_density`` (V/√Hz at the SR830 input), ``current_noise_density``
  (A/√Hz of the current preamp, times its gain at the lock-in input).
- ``gap_map``: ``variation`` (relative amplitude of Δ(x, y), ≤ 0.15 default), ``length``
  (m, correlation length), ``modes`` (number of random plane waves).
- ``faults``: ``no_settle``, ``force_overload``, ``force_clip`` (bools), and per server
  (``lockin``, ``bridge``, ``stm``) ``drop_next``, ``delay`` (wall s), ``garbage_next``,
  ``silent``, applied when a SimFridge starts serving the world.

:class:`World` is thread-safe: servers hold ``world.lock`` (an RLock) while they read or
change state and call ``world.advance()`` *before* changing anything, so the elapsed time
runs under the old state. The lock-in input X + iY = dI/dV(bias, G_N, T_sample, v_mod; Δ at
the tip position) × SLVL × modulation_divider × preamp gain (V/A), rotated by −PHAS, is
recomputed in every ``advance()``; a change is applied from the previous ``advance()`` on
(servers change state right after advancing), so a bias step set between two advances
reaches the filter at the moment it was made.
"""

from __future__ import annotations

import cmath
import dataclasses
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from andreev.clock import Clock
from andreev.physics import FilmModel
from andreev.sim.junction import Junction, JunctionParams
from andreev.sim.lockin import LockinState
from andreev.sim.thermal import ThermalModel, ThermalParams

__all__ = ["GapMapParams", "LockinParams", "SimConfig", "World", "WorldFaults"]

DEFAULT_PORTS: dict[str, int] = {"lockin": 1234, "bridge": 7777, "stm": 6501}
_STATION_KEYS = {"sim", "clock", "instruments", "safety"}


@dataclass
class WorldFaults:
    """World-level faults: ``no_settle`` (temperature readings never settle),
    ``force_overload`` (LIAS overload bits always set), ``force_clip`` (preamp clips)."""

    no_settle: bool = False
    force_overload: bool = False
    force_clip: bool = False


@dataclass
class LockinParams:
    """Noise of the lock-in chain: ``noise_density`` (V/√Hz at the input) and
    ``current_noise_density`` (A/√Hz of the current preamp, scaled by its gain)."""

    noise_density: float = 10e-9
    current_noise_density: float = 2e-15


@dataclass
class GapMapParams:
    """Δ(x, y) = film.gap · (1 + variation · f(x, y)), f a seeded sum of ``modes`` plane
    waves with wavelengths around ``length`` (m), |f| ≤ 1."""

    variation: float = 0.15
    length: float = 30e-9
    modes: int = 8


@dataclass
class SimConfig:
    """Configuration of the simulated fridge (see the module docstring for the keys)."""

    seed: int = 1234
    speedup: float = 1.0
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    modulation_divider: float = 1e-3
    film: FilmModel = field(default_factory=FilmModel)
    thermal: ThermalParams = field(default_factory=ThermalParams)
    junction: JunctionParams = field(default_factory=JunctionParams)
    lockin: LockinParams = field(default_factory=LockinParams)
    gap_map: GapMapParams = field(default_factory=GapMapParams)
    faults: WorldFaults = field(default_factory=WorldFaults)
    #: per-server fault settings ({"lockin": {"delay": 0.1}, …}), applied by SimFridge
    server_faults: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(
        cls, sim: dict[str, Any] | None, clock: dict[str, Any] | None = None
    ) -> SimConfig:
        """Build from the ``sim:`` mapping (and optionally the ``clock:`` mapping); a whole
        station document (with ``sim:``/``clock:``/``instruments:`` keys) is accepted too.

        Raises ValueError naming the offending key (``sim.film.tcc: unknown key …``)."""
        sim = dict(sim or {})
        if _STATION_KEYS & set(sim):  # a whole station document was passed
            clock = sim.get("clock") if clock is None else clock
            sim = dict(sim.get("sim") or {})
        clock = dict(clock or {})
        _check_keys("clock", clock, {"speedup"})
        top = {f.name for f in dataclasses.fields(cls)}
        _check_keys("sim", sim, top)
        cfg = cls()
        if "speedup" in clock:
            cfg.speedup = _number("clock.speedup", clock["speedup"], positive=True)
        if "speedup" in sim:
            cfg.speedup = _number("sim.speedup", sim["speedup"], positive=True)
        if "seed" in sim:
            seed = sim["seed"]
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"sim.seed: expected a non-negative integer, got {seed!r}")
            cfg.seed = seed
        if "modulation_divider" in sim:
            cfg.modulation_divider = _number(
                "sim.modulation_divider", sim["modulation_divider"], positive=True
            )
        if "ports" in sim:
            ports = sim["ports"] or {}
            _check_keys("sim.ports", ports, set(DEFAULT_PORTS))
            for name, port in ports.items():
                if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
                    raise ValueError(f"sim.ports.{name}: expected a port 0-65535, got {port!r}")
                cfg.ports[name] = port
        if "film" in sim:
            film = dict(sim["film"] or {})
            preset = film.pop("preset", None)
            names = {f.name for f in dataclasses.fields(FilmModel) if f.init} | {"preset"}
            _check_keys("sim.film", film, names)
            if preset not in (None, "bcs", "preformed"):
                raise ValueError(f"sim.film.preset: expected 'bcs' or 'preformed', got {preset!r}")
            base = FilmModel.bcs_preset() if preset == "bcs" else FilmModel()
            cfg.film = dataclasses.replace(base, **_coerce("sim.film", base, film))
        if "thermal" in sim:
            cfg.thermal = _section("sim.thermal", ThermalParams, sim["thermal"])
        if "junction" in sim:
            junction = dict(sim["junction"] or {})
            _check_keys("sim.junction", junction, set(JunctionParams.__dataclass_fields__))
            cfg.junction = JunctionParams.from_dict(junction)
        if "lockin" in sim:
            cfg.lockin = _section("sim.lockin", LockinParams, sim["lockin"])
        if "gap_map" in sim:
            cfg.gap_map = _section("sim.gap_map", GapMapParams, sim["gap_map"])
        if "faults" in sim:
            faults = dict(sim["faults"] or {})
            for name in SERVER_NAMES:
                if name in faults:
                    cfg.server_faults[name] = _server_faults(f"sim.faults.{name}", faults.pop(name))
            cfg.faults = _section("sim.faults", WorldFaults, faults)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> SimConfig:
        """Read the ``sim:`` and ``clock:`` sections of a station YAML file."""
        path = Path(path)
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        try:
            return cls.from_dict(doc.get("sim"), doc.get("clock"))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc


def _check_keys(where: str, mapping: Any, allowed: set[str]) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in allowed:
            raise ValueError(f"{where}.{key}: unknown key; allowed: {', '.join(sorted(allowed))}")


def _number(where: str, value: Any, positive: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{where}: expected a number > 0, got {value!r}")
    return float(value)


def _coerce(where: str, template: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Convert YAML values to the types of ``template``'s fields (numbers given as
    strings such as ``1e-3``, which YAML 1.1 reads as text, become floats)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(template, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"{where}.{key}: expected true or false, got {value!r}")
            out[key] = value
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}.{key}: expected an integer, got {value!r}")
            out[key] = value
        elif isinstance(default, float) or default is None:
            out[key] = None if value is None else _number(f"{where}.{key}", value)
        else:
            out[key] = value
    return out


SERVER_NAMES = ("lockin", "bridge", "stm")


def _server_faults(where: str, values: Any) -> dict[str, Any]:
    """A server's fault settings (``drop_next``, ``delay``, ``garbage_next``, ``silent``)."""
    from andreev.sim.tcp import ServerFaults

    values = dict(values or {})
    allowed = {f.name for f in dataclasses.fields(ServerFaults) if not f.name.startswith("_")}
    _check_keys(where, values, allowed)
    return _coerce(where, ServerFaults(), values)


def _section(where: str, cls: type, values: Any) -> Any:
    values = dict(values or {})
    _check_keys(where, values, {f.name for f in dataclasses.fields(cls)})
    template = cls()
    return dataclasses.replace(template, **_coerce(where, template, values))


class World:
    """Everything the three simulated instruments read and change (see module docstring).

    Attributes: ``config``, ``clock`` (:class:`~andreev.clock.Clock`), ``rng``
    (``numpy.random.default_rng(seed)``), ``lock`` (RLock), ``film`` (FilmModel),
    ``thermal`` (ThermalModel), ``junction`` (Junction), ``lockin`` (LockinState),
    ``faults`` (WorldFaults), ``modulation_divider``.
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config = config if config is not None else SimConfig()
        self.lock = threading.RLock()
        self.clock = Clock(config.speedup)
        self.rng = np.random.default_rng(config.seed)
        self.film = config.film
        self.modulation_divider = float(config.modulation_divider)
        self.faults = dataclasses.replace(config.faults)
        self._films: OrderedDict[float, FilmModel] = OrderedDict()
        self._gap_waves = self._make_gap_map(config)
        self._input_cache: tuple[tuple, complex] | None = None
        self._curves: dict[tuple, np.ndarray] = {}
        t0 = self.clock.now()
        self.thermal = ThermalModel(config.thermal, np.random.default_rng([config.seed, 1]), t0)
        self.lockin = LockinState(
            rng=np.random.default_rng([config.seed, 2]),
            noise_density=config.lockin.noise_density,
        )
        self.lockin.advance(t0)
        self.junction = Junction(
            config.junction, self.clock, np.random.default_rng([config.seed, 3]), self._current
        )
        self._t = t0
        self.advance()

    # ---- sample -------------------------------------------------------------------
    @staticmethod
    def _make_gap_map(config: SimConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        gm = config.gap_map
        rng = np.random.default_rng([config.seed, 4])
        n = max(int(gm.modes), 1)
        angles = rng.uniform(0.0, 2.0 * math.pi, n)
        lengths = gm.length * rng.uniform(0.6, 1.6, n)
        k = 2.0 * math.pi / lengths
        kx, ky = k * np.cos(angles), k * np.sin(angles)
        phases = rng.uniform(0.0, 2.0 * math.pi, n)
        return kx, ky, phases

    def gap_at(self, x: float, y: float) -> float:
        """Single-particle gap Δ (eV) at tip position (x, y) (m): a smooth seeded map of
        film.gap · (1 ± variation); Δc stays uniform."""
        kx, ky, phases = self._gap_waves
        f = float(np.mean(np.cos(kx * x + ky * y + phases)))
        return self.film.gap * (1.0 + self.config.gap_map.variation * f)

    def film_at(self, x: float, y: float) -> FilmModel:
        """The film with the local gap at (x, y) (m) (cached per gap value)."""
        gap = round(self.gap_at(x, y), 10)  # 0.1 µeV resolution
        with self.lock:
            film = self._films.get(gap)
            if film is None:
                film = dataclasses.replace(self.film, gap=gap)
                self._films[gap] = film
                while len(self._films) > 16:
                    self._films.popitem(last=False)
            else:
                self._films.move_to_end(gap)
            return film

    def _local_film(self) -> FilmModel:
        return self.film_at(self.junction.x, self.junction.y)

    def _current(self, bias: float, g_normal: float) -> float:
        """Film current (A) at bias (V), G_N (S), the present sample T and tip position."""
        j = getattr(self, "junction", None)
        if j is None:
            film = self.film_at(self.config.junction.x, self.config.junction.y)
        else:
            film = self.film_at(j.x, j.y)
        t = self.thermal.sample_temperature()
        return float(film.current(bias, g_normal, t))

    # ---- time -----------------------------------------------------------------------
    def advance(self) -> float:
        """Bring every model to ``clock.now()``; returns that world time (s)."""
        with self.lock:
            now = max(self.clock.now(), self._t)
            self.thermal.no_settle = self.faults.no_settle
            self.lockin.force_overload = self.faults.force_overload
            self.junction.force_clip = self.faults.force_clip
            self.thermal.advance(now)
            self.junction.advance(now)
            # apply the input as it is now from the previous advance on (see docstring)
            self.lockin.advance(self._t)
            u, clipping = self._lockin_input()
            self.lockin.input_clipping = clipping
            self.lockin.noise_density = self._noise_density()
            self.lockin.set_input(self._t, u)
            self.lockin.advance(now)
            self._t = now
            return now

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
        """dI/dV (S) at the present bias, G_N, sample T, v_mod and tip position.

        The film's spectrum is computed once per (G_N, T, v_mod, Δ) on a bias grid of
        step :data:`CURVE_STEP` and interpolated: G_N and T enter in log bins of
        :data:`CURVE_LOG_BIN` (0.2 %, far below any physical change), so a sweep at
        held feedback costs one FFT instead of one per point. Biases beyond the grid
        are evaluated directly.
        """
        with self.lock:
            j = self.junction
            gn = float(j.g_normal())
            if gn <= 0:
                return 0.0
            t = self.thermal.sample_temperature()
            v_mod = float(self.v_mod_rms())
            bias = float(j.bias)
            if abs(bias) >= CURVE_HALF_WIDTH:
                film = self._local_film()
                return float(np.asarray(film.conductance(bias, gn, t, v_mod)))
            gap = round(self.gap_at(j.x, j.y), 10)
            key = (_log_bin(gn), _log_bin(t), v_mod, gap)
            curve = self._curves.get(key)
            if curve is None:
                gn_q, t_q = math.exp(key[0] * CURVE_LOG_BIN), math.exp(key[1] * CURVE_LOG_BIN)
                film = self._local_film()
                curve = np.asarray(film.conductance(CURVE_GRID, gn_q, t_q, v_mod), dtype=float)
                if len(self._curves) >= CURVE_CACHE_SIZE:
                    self._curves.pop(next(iter(self._curves)))
                self._curves[key] = curve
            return float(np.interp(bias, CURVE_GRID, curve))

    def lockin_input(self) -> complex:
        """The SR830 input X + iY (V rms) for the present state."""
        with self.lock:
            return self._lockin_input()[0]

    def _lockin_input(self) -> tuple[complex, bool]:
        j = self.junction
        lk = self.lockin
        clipping = bool(j.clipping())
        if lk.harmonic != 1 or lk.reference_source == 0:
            return 0j, clipping
        gain = float(j.gains[j.gain_index])
        amplitude = self.conductance() * lk.amplitude * self.modulation_divider * gain
        return amplitude * cmath.exp(-1j * math.radians(lk.phase)), clipping

    def _noise_density(self) -> float:
        j = self.junction
        gain = float(j.gains[j.gain_index])
        p = self.config.lockin
        return math.hypot(p.noise_density, p.current_noise_density * gain)

    @property
    def crashes(self) -> list[dict[str, Any]]:
        """Crash records of the junction (dicts: time s, z m, g_normal S, reason)."""
        return self.junction.crashes


#: half-width (V), step (V) and log-bin of the cached conductance curves; cache size
CURVE_HALF_WIDTH = 4e-3
CURVE_STEP = 1e-6
CURVE_GRID = np.linspace(
    -CURVE_HALF_WIDTH, CURVE_HALF_WIDTH, round(2 * CURVE_HALF_WIDTH / CURVE_STEP) + 1
)
CURVE_LOG_BIN = 2e-3
CURVE_CACHE_SIZE = 16


def _log_bin(value: float) -> int:
    """The log bin of a positive ``value`` (bins of CURVE_LOG_BIN in ln)."""
    return round(math.log(max(value, 1e-300)) / CURVE_LOG_BIN)
