"""The ``sim:`` section of a station file: :class:`SimConfig` and its validation.

Read from the ``sim:`` (and ``clock:``) sections of a station YAML such as
``config/sim.yaml``, with :mod:`andreev.config`'s rules: an unknown key, a wrong type or
a value out of range is an :class:`andreev.errors.ConfigError` naming the file, the key
and what is allowed. Keys of ``sim:``:

- ``seed`` (int ≥ 0): noise seed. ``speedup`` (world s per wall s, 1 …
  :data:`MAX_SPEEDUP`; also read from ``clock.speedup``, ``sim.speedup`` wins).
  ``ports`` ({lockin, bridge, stm}: TCP ports for ``andreev sim``).
  ``modulation_divider`` (SR830 SLVL volts → junction volts).
- ``sample``: a film preset of :data:`andreev.sim.samples.SAMPLES` (default ``InO-2``).
- ``film``: :class:`andreev.physics.FilmModel` fields (eV, K, S) overriding the preset
  (``preset: bcs`` is the old name of ``sample: InO-4``).
- ``gap_map``: :class:`andreev.sim.samples.GapMapParams`; ``contacts``:
  :class:`andreev.sim.samples.ContactParams`.
- ``thermal``: :class:`andreev.sim.thermal.ThermalParams`; ``junction``:
  :class:`andreev.sim.junction.JunctionParams`; ``lockin``: :class:`LockinParams`.
- ``noise``: :class:`andreev.sim.noise.NoiseParams` (all off by default).
- ``faults``: ``no_settle``, ``force_overload``, ``force_clip`` (bools), and per server
  (``lockin``, ``bridge``, ``stm``) ``drop_next``, ``delay`` (wall s), ``garbage_next``,
  ``silent``, applied when a SimFridge starts serving the world.

The spectrum tables cover ±max(0.1 V, ``safety.max_bias``) when the file has a
``safety`` section.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from andreev.config import SPEEDUP_RANGE, check_keys, check_number, read_yaml, rules
from andreev.config.station import ROLES
from andreev.errors import ConfigError
from andreev.physics import FilmModel
from andreev.sim.junction import JunctionParams
from andreev.sim.noise import NoiseParams
from andreev.sim.samples import (
    DEFAULT_SAMPLE,
    SAMPLES,
    ContactParams,
    GapMapParams,
    sample_film,
)
from andreev.sim.thermal import ThermalParams

__all__ = [
    "MAX_SPEEDUP",
    "MIN_SPEEDUP",
    "LockinParams",
    "SimConfig",
    "WorldFaults",
    "check_speedup",
]

#: the world clock's range (world s per wall s): the one rule of andreev.config
MIN_SPEEDUP, MAX_SPEEDUP = SPEEDUP_RANGE
DEFAULT_PORTS: dict[str, int] = {"lockin": 1234, "bridge": 7777, "stm": 6501}
SERVER_NAMES = ROLES  # the simulated instruments are the station roles
DEFAULT_TABLE_WIDTH = 0.1  # V
_NOWHERE = Path("(sim config)")
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


def check_speedup(value: Any, path: Path | str = _NOWHERE, key: str = "clock.speedup") -> float:
    """``value`` as a speedup within MIN_SPEEDUP … MAX_SPEEDUP, else ConfigError."""
    return rules.check_speedup(Path(path), key, value)


@dataclass
class SimConfig:
    """Configuration of the simulated fridge (see the module docstring for the keys)."""

    seed: int = 1234
    speedup: float = 1.0
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    modulation_divider: float = 1e-3
    sample: str = DEFAULT_SAMPLE
    #: the film (mean Δ); None: the ``sample`` preset's
    film: FilmModel = None  # type: ignore[assignment]
    thermal: ThermalParams = field(default_factory=ThermalParams)
    junction: JunctionParams = field(default_factory=JunctionParams)
    lockin: LockinParams = field(default_factory=LockinParams)
    gap_map: GapMapParams = field(default_factory=GapMapParams)
    contacts: ContactParams = field(default_factory=ContactParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    faults: WorldFaults = field(default_factory=WorldFaults)
    #: per-server fault settings ({"lockin": {"delay": 0.1}, …}), applied by SimFridge
    server_faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: half-width (V) of the spectrum tables: max(0.1 V, safety.max_bias)
    table_width: float = DEFAULT_TABLE_WIDTH

    def __post_init__(self) -> None:
        if self.sample not in SAMPLES:
            raise ConfigError(
                _NOWHERE,
                "sim.sample",
                f"unknown sample {self.sample!r}; allowed: {', '.join(SAMPLES)}",
            )
        if self.film is None:
            self.film = sample_film(self.sample)

    @classmethod
    def from_dict(
        cls,
        sim: dict[str, Any] | None,
        clock: dict[str, Any] | None = None,
        path: Path | str = _NOWHERE,
        safety: dict[str, Any] | None = None,
    ) -> SimConfig:
        """Build from the ``sim:`` mapping (and optionally ``clock:`` and ``safety:``); a
        whole station document is accepted too. Raises ConfigError naming the key."""
        path = Path(path)
        sim = dict(sim or {})
        if _STATION_KEYS & set(sim):  # a whole station document was passed
            clock = sim.get("clock") if clock is None else clock
            safety = sim.get("safety") if safety is None else safety
            sim = dict(sim.get("sim") or {})
        clock = check_keys(path, "clock", dict(clock or {}), {"speedup"})
        names = {f.name for f in dataclasses.fields(cls)} - {"server_faults", "table_width"}
        check_keys(path, "sim", sim, names)
        cfg = cls()
        if "speedup" in clock:
            cfg.speedup = check_speedup(clock["speedup"], path, "clock.speedup")
        if "speedup" in sim:
            cfg.speedup = check_speedup(sim["speedup"], path, "sim.speedup")
        if "seed" in sim:
            cfg.seed = int(check_number(path, "sim.seed", sim["seed"], int, 0, 2**63 - 1))
        if "modulation_divider" in sim:
            cfg.modulation_divider = float(
                check_number(
                    path, "sim.modulation_divider", sim["modulation_divider"], float, 1e-9, 1.0
                )
            )
        ports = check_keys(path, "sim.ports", sim.get("ports") or {}, DEFAULT_PORTS)
        for name, port in ports.items():
            cfg.ports[name] = int(check_number(path, f"sim.ports.{name}", port, int, 0, 65535))
        cfg.sample, cfg.film = _film(path, sim)
        cfg.thermal = _section(path, "sim.thermal", ThermalParams, sim.get("thermal"))
        cfg.junction = _junction(path, sim.get("junction"))
        cfg.lockin = _section(path, "sim.lockin", LockinParams, sim.get("lockin"))
        cfg.gap_map = _section(path, "sim.gap_map", GapMapParams, sim.get("gap_map"))
        cfg.contacts = _section(path, "sim.contacts", ContactParams, sim.get("contacts"))
        cfg.noise = _section(path, "sim.noise", NoiseParams, sim.get("noise"))
        faults = dict(sim.get("faults") or {})
        for name in SERVER_NAMES:
            if name in faults:
                cfg.server_faults[name] = _server_faults(path, name, faults.pop(name))
        cfg.faults = _section(path, "sim.faults", WorldFaults, faults)
        max_bias = (safety or {}).get("max_bias") if isinstance(safety, dict) else None
        if isinstance(max_bias, int | float) and not isinstance(max_bias, bool):
            cfg.table_width = max(DEFAULT_TABLE_WIDTH, float(max_bias))
        return cfg

    @classmethod
    def from_yaml(cls, path: str | Path) -> SimConfig:
        """Read the ``sim:``, ``clock:`` (and ``safety.max_bias``) of a station YAML file."""
        doc, _text = read_yaml(path)
        return cls.from_dict(doc.get("sim"), doc.get("clock"), path, doc.get("safety"))


def _film(path: Path, sim: dict[str, Any]) -> tuple[str, FilmModel]:
    """The sample preset and the film with the ``sim.film`` overrides."""
    sample = sim.get("sample", DEFAULT_SAMPLE)
    if sample not in SAMPLES:
        raise ConfigError(
            path, "sim.sample", f"unknown sample {sample!r}; allowed: {', '.join(SAMPLES)}"
        )
    film = dict(sim.get("film") or {})
    allowed = {f.name for f in dataclasses.fields(FilmModel) if f.init} | {"preset"}
    check_keys(path, "sim.film", film, allowed)
    preset = film.pop("preset", None)
    if preset not in (None, "bcs", "preformed"):
        raise ConfigError(path, "sim.film.preset", f"expected bcs or preformed, got {preset!r}")
    if preset == "bcs":
        sample = "InO-4"
    base = sample_film(sample)
    if "kind" in film and film["kind"] not in ("preformed", "bcs"):
        raise ConfigError(path, "sim.film.kind", f"expected preformed or bcs, got {film['kind']!r}")
    return sample, dataclasses.replace(base, **_coerce(path, "sim.film", base, film))


def _junction(path: Path, values: Any) -> JunctionParams:
    values = dict(
        check_keys(path, "sim.junction", values or {}, JunctionParams.__dataclass_fields__)
    )
    template = JunctionParams()
    for key in ("gains", "filters", "z_limits", "z_range"):
        if key in values:
            items = values.pop(key)
            if not isinstance(items, list | tuple) or not items:
                raise ConfigError(path, f"sim.junction.{key}", f"expected a list, got {items!r}")
            if key == "filters":
                setattr(template, key, tuple(str(v) for v in items))
            else:
                setattr(
                    template,
                    key,
                    tuple(
                        float(check_number(path, f"sim.junction.{key}", v, float, -1e3, 1e12))
                        for v in items
                    ),
                )
    return dataclasses.replace(template, **_coerce(path, "sim.junction", template, values))


def _coerce(path: Path, where: str, template: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Check ``values`` against the types of ``template``'s fields (numbers by
    :func:`andreev.config.check_number`)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        default = getattr(template, key)
        name = f"{where}.{key}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(path, name, f"expected true or false, got {value!r}")
            out[key] = value
        elif isinstance(default, int):
            out[key] = int(check_number(path, name, value, int, 0, 1e9))
        elif isinstance(default, float) or default is None:
            out[key] = (
                None
                if value is None
                else float(check_number(path, name, value, float, -1e12, 1e12))
            )
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ConfigError(path, name, f"expected text, got {value!r}")
            out[key] = value
        else:
            out[key] = value
    return out


def _server_faults(path: Path, name: str, values: Any) -> dict[str, Any]:
    """A server's fault settings (``drop_next``, ``delay``, ``garbage_next``, ``silent``)."""
    from andreev.sim.tcp import ServerFaults

    where = f"sim.faults.{name}"
    allowed = {f.name for f in dataclasses.fields(ServerFaults) if not f.name.startswith("_")}
    values = dict(check_keys(path, where, values or {}, allowed))
    return _coerce(path, where, ServerFaults(), values)


def _section(path: Path, where: str, cls: type, values: Any) -> Any:
    template = cls()
    if values is None:
        return template
    values = dict(check_keys(path, where, values, {f.name for f in dataclasses.fields(cls)}))
    return dataclasses.replace(template, **_coerce(path, where, template, values))
