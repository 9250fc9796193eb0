"""Opening a station: the qcodes side of a validated station file.

The station file's schema (strict loading, the safety limits, the role names) is
:mod:`andreev.config.station`; here a :class:`~andreev.config.station.StationConfig` is
turned into connected qcodes instruments, each driver handed the file's safety limits and
a clock at its speedup. ``andreev info`` (printing, exit status) is :mod:`andreev.cli.info`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

# StationConfig, load_station_config and ROLES are re-exported for callers that still
# import them from here; their home is andreev.config.station.
from andreev.config.station import ROLES, StationConfig, load_station_config

if TYPE_CHECKING:
    from qcodes.station import Station

__all__ = [
    "KEY_SETTINGS",
    "ROLES",
    "StationConfig",
    "close_station",
    "describe_instrument",
    "load_station_config",
    "open_station",
]


def open_station(
    config: StationConfig | Path | str,
    *,
    names: Iterable[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Station, StationConfig]:
    """Connect the instruments of a station file and return a qcodes Station.

    This is the way to use an andreev station from a notebook or a qcodes script::

        from andreev.instruments.station import open_station, close_station
        station, config = open_station("config/fridge.yaml")
        station.lockin.time_constant(0.03)     # any write outside safety: is refused

    Every driver gets the file's ``safety`` limits and a clock at its ``speedup``.
    Plain ``qcodes.Station(config_file=…)`` on the same file reads only its
    ``instruments:`` section (it warns about andreev's own sections) and would build
    the drivers with their default limits; the drivers refuse that
    (:func:`~andreev.instruments.safety.refuse_limits_left_behind`: a one-line
    ConfigError at key ``safety`` naming this function), so the file's limits are never
    silently dropped. Hold
    :class:`andreev.engine.station_lock.StationLock` around a long session so that no
    ``andreev run`` uses the instruments meanwhile.
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
        unit_name = getattr(target, "unit", "")
        unit = f" {unit_name}" if unit_name else ""
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"  {path}: {shown}{unit}")
    if hasattr(instrument, "modulation_rms"):
        lines.append(f"  modulation at the junction: {instrument.modulation_rms:.4g} V rms")
    return lines
