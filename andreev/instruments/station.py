"""Station files: strict loading, safe instruments, and ``andreev info``.

A station file is qcodes' station YAML (``instruments:`` with ``type``, ``address``,
``init``, ``parameters``…) plus andreev's own top-level sections:

``safety:``
    hard limits (:class:`~andreev.instruments.safety.SafetyLimits`), handed to every
    driver, which refuses any write outside them before it reaches the instrument.
``clock:``
    ``speedup`` — world seconds per wall second (1 at a real fridge; the simulated
    fridge runs faster so an overnight series replays in seconds).
``sim:``
    the simulated fridge (read by :mod:`andreev.sim`; ignored when connecting).

Everything is checked before any instrument is touched: an unknown key, a wrong type
or a value outside its range raises :class:`ConfigError` naming the file, the key and
what is allowed.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from andreev.clock import Clock
from andreev.config import ConfigError, check_keys, check_number, read_yaml
from andreev.instruments.safety import SafetyLimits

if TYPE_CHECKING:
    import argparse

    from qcodes.station import Station

#: Keys qcodes understands in one instrument's section.
INSTRUMENT_KEYS = frozenset(
    {"type", "address", "port", "init", "parameters", "add_parameters", "enable_forced_reconnect"}
)
#: The station names the procedures look for (lock-in, bridge, STM controller).
ROLES = ("lockin", "bridge", "stm")
TOP_LEVEL_KEYS = frozenset({"instruments", "safety", "clock", "sim"})

#: Allowed range of every safety limit: (type, low, high, unit).
SAFETY_RANGES: dict[str, tuple[type, float, float, str]] = {
    "max_setpoint_current": (float, 1e-12, 1e-4, "A"),
    "max_bias": (float, 1e-4, 10.0, "V"),
    "min_feedback_bias": (float, 0.0, 0.1, "V"),
    "max_temperature": (float, 0.01, 300.0, "K"),
    "max_heater_range": (int, 0, 8, ""),
    "max_bias_slew_rate": (float, 1e-4, 100.0, "V/s"),
}
SPEEDUP_RANGE = (1.0, 1.0e6)


@dataclass(frozen=True)
class StationConfig:
    """A validated station file.

    Attributes:
        path: the file it came from.
        instruments: qcodes instrument sections by name (as in the file).
        safety: the hard limits.
        speedup: world seconds per wall second.
        sim: the ``sim:`` section (raw mapping) or None.
        text: the file's text, stored with every run.
    """

    path: Path
    instruments: dict[str, dict[str, Any]]
    safety: SafetyLimits
    speedup: float = 1.0
    sim: dict[str, Any] | None = None
    text: str = ""

    def clock(self) -> Clock:
        """A new :class:`Clock` running at this station's speedup."""
        return Clock(self.speedup)

    def qcodes_yaml(self) -> str:
        """The ``instruments:`` section alone, as qcodes' Station wants it."""
        return yaml.safe_dump({"instruments": self.instruments}, sort_keys=False)


def _check_safety(path: Path, section: Any) -> SafetyLimits:
    check_keys(path, "safety", section, SAFETY_RANGES)
    values = {
        key: check_number(path, f"safety.{key}", value, *SAFETY_RANGES[key])
        for key, value in section.items()
    }
    limits = SafetyLimits(**values)
    if limits.min_feedback_bias >= limits.max_bias:
        raise ConfigError(
            path,
            "safety.min_feedback_bias",
            f"{limits.min_feedback_bias:g} V must be below safety.max_bias = {limits.max_bias:g} V",
        )
    return limits


def _instrument_class(path: Path, key: str, dotted: Any) -> type:
    import importlib

    if not isinstance(dotted, str) or "." not in dotted:
        raise ConfigError(path, key, f"expected a dotted class path, got {dotted!r}")
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(path, key, f"cannot import {dotted}: {exc}") from exc
    if not isinstance(cls, type):
        raise ConfigError(path, key, f"{dotted} is not a class")
    return cls


def _init_keywords(cls: type) -> set[str]:
    """Keyword arguments the driver class (or a base class) names in its __init__, plus the
    ones qcodes instruments take through ``**kwargs``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
    # qcodes instruments accept these through **kwargs
    names |= {"metadata", "label", "timeout", "terminator", "device_clear", "visalib"}
    names.discard("self")
    return names


def _check_instrument(path: Path, name: str, section: Any) -> dict[str, Any]:
    where = f"instruments.{name}"
    check_keys(path, where, section, INSTRUMENT_KEYS)
    if "type" not in section:
        raise ConfigError(
            path, f"{where}.type", "missing: the driver class, e.g. andreev.instruments.sr830.SR830"
        )
    cls = _instrument_class(path, f"{where}.type", section["type"])
    if "address" in section and not isinstance(section["address"], str):
        raise ConfigError(
            path, f"{where}.address", f"expected a string, got {section['address']!r}"
        )
    init = section.get("init") or {}
    check_keys(path, f"{where}.init", init, _init_keywords(cls) - {"name", "address"})
    for pname, options in (section.get("parameters") or {}).items():
        if not isinstance(options, dict):
            raise ConfigError(path, f"{where}.parameters.{pname}", "expected a mapping")
        limits = options.get("limits")
        if limits is not None and not (
            isinstance(limits, list)
            and len(limits) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in limits)
            and limits[0] < limits[1]
        ):
            raise ConfigError(
                path,
                f"{where}.parameters.{pname}.limits",
                f"expected [low, high] with low < high, got {limits!r}",
            )
    return dict(section)


def load_station_config(path: Path | str) -> StationConfig:
    """Read and validate a station file; nothing is connected.

    Raises:
        ConfigError: naming the file, the key and what is allowed.
    """
    path = Path(path)
    data, text = read_yaml(path)
    check_keys(path, "", data, TOP_LEVEL_KEYS)
    instruments = data.get("instruments")
    if not isinstance(instruments, dict) or not instruments:
        raise ConfigError(path, "instruments", "expected a mapping of at least one instrument")
    checked = {
        str(name): _check_instrument(path, str(name), sec) for name, sec in instruments.items()
    }
    safety = _check_safety(path, data.get("safety") or {})
    clock_section = check_keys(path, "clock", data.get("clock") or {}, {"speedup"})
    speedup = check_number(
        path, "clock.speedup", clock_section.get("speedup", 1.0), float, *SPEEDUP_RANGE
    )
    sim = data.get("sim")
    if sim is not None and not isinstance(sim, dict):
        raise ConfigError(path, "sim", "expected a mapping")
    return StationConfig(
        path=path, instruments=checked, safety=safety, speedup=float(speedup), sim=sim, text=text
    )


def open_station(
    config: StationConfig | Path | str,
    *,
    names: Iterable[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Station, StationConfig]:
    """Connect the instruments of a station file and return a qcodes Station.

    Every driver gets the file's ``safety`` limits and a clock at its ``speedup``.
    ``names`` restricts which instruments are opened; ``overrides`` maps an instrument
    name to keyword arguments that replace the file's (e.g. another address). On any
    failure the instruments opened so far are closed before the error propagates.
    """
    from qcodes.station import Station

    if not isinstance(config, StationConfig):
        config = load_station_config(config)
    station = Station()
    station.load_config(io.StringIO(config.qcodes_yaml()))
    clock = config.clock()
    try:
        for name in names if names is not None else config.instruments:
            kwargs: dict[str, Any] = {"safety": config.safety, "clock": clock}
            kwargs.update((overrides or {}).get(name, {}))
            station.load_instrument(name, **kwargs)
    except BaseException:
        close_station(station)
        raise
    return station, config


def close_station(station: Station) -> None:
    """Close every instrument of ``station`` (errors while closing are ignored)."""
    for component in list(station.components.values()):
        close = getattr(component, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing must not mask the real error
                pass


#: Settings ``andreev info`` prints, by attribute path; absent ones are skipped, so one
#: list serves the lock-in, the bridge, the STM controller and any other instrument.
KEY_SETTINGS = (
    "time_constant",
    "filter_slope",
    "sensitivity",
    "amplitude",
    "frequency",
    "sample.temperature",
    "sample_heater.output_range",
    "sample_heater.setpoint",
    "bias",
    "setpoint",
    "feedback",
    "z",
    "preamp_gain",
)


def describe_instrument(name: str, instrument: Any) -> list[str]:
    """A header line (identity) and ``key: value unit`` lines of the key settings."""
    from qcodes.parameters import ParameterBase

    idn = instrument.get_idn()
    identity = " ".join(str(idn.get(k) or "") for k in ("vendor", "model", "serial", "firmware"))
    lines = [f"{name}: {identity.strip()} ({type(instrument).__name__})"]
    if name == "bridge" and hasattr(instrument, "sample_channel_id"):
        lines.append(f"  sample channel: {instrument.sample_channel_id}")
    for path in KEY_SETTINGS:
        target: Any = instrument
        for part in path.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if not isinstance(target, ParameterBase):
            continue
        value = target.get()
        unit = f" {target.unit}" if getattr(target, "unit", "") else ""
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"  {path}: {shown}{unit}")
    if hasattr(instrument, "modulation_rms"):
        lines.append(f"  modulation at the junction: {instrument.modulation_rms:.4g} V rms")
    return lines


def info_main(args: argparse.Namespace) -> int:
    """``andreev info``: connect to each instrument, print identity and key settings.

    Exits non-zero with one clear line per instrument that does not answer.
    """
    try:
        config = load_station_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    failed = 0
    for name, section in config.instruments.items():
        try:
            station, _ = open_station(config, names=[name])
        except Exception as exc:  # report every instrument, then exit
            failed += 1
            address = section.get("address", "?")
            print(f"{name}: NOT ANSWERING at {address} ({type(exc).__name__}: {exc})")
            continue
        try:
            for line in describe_instrument(name, station.components[name]):
                print(line)
        except Exception as exc:
            failed += 1
            print(f"{name}: error while reading its settings ({type(exc).__name__}: {exc})")
        finally:
            close_station(station)
    return 1 if failed else 0


__all__ = [
    "ROLES",
    "ConfigError",
    "StationConfig",
    "close_station",
    "info_main",
    "load_station_config",
    "open_station",
]
