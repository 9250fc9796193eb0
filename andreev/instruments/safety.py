"""Hard safety limits, enforced inside the drivers before anything is written.

The limits are configuration (the station file's ``safety:`` section), so the class and
its checks live in :mod:`andreev.config.safety`, below the drivers; this module is where
the drivers take them from. Every driver holds a :class:`SafetyLimits`: the station's,
or :data:`DEFAULT_LIMITS` — never none.
"""

from collections.abc import Mapping

from andreev.config.safety import (
    DEFAULT_LIMITS,
    RELATIVE_SLACK,
    SafetyError,
    SafetyLimits,
    problem,
)
from andreev.errors import ConfigError

__all__ = [
    "DEFAULT_LIMITS",
    "RELATIVE_SLACK",
    "SafetyError",
    "SafetyLimits",
    "problem",
    "refuse_limits_left_behind",
]


def refuse_limits_left_behind(name: str, safety: SafetyLimits) -> None:
    """Refuse to build driver ``name`` with the default limits for a plain qcodes Station
    whose file has an andreev ``safety:`` section (ConfigError naming ``open_station``).

    ``qcodes.Station(config_file=…)`` passes each driver its ``init:`` arguments only, so
    the file's ``safety:`` limits would be silently replaced by :data:`DEFAULT_LIMITS`.
    Recognised by the default Station's loaded file: it has a top-level ``safety:`` and
    lists ``name`` under ``instruments:``. Drivers given limits (as by
    :func:`andreev.instruments.station.open_station`) are never refused."""
    if safety is not DEFAULT_LIMITS:
        return
    from qcodes.station import Station

    station = Station.default
    config = getattr(station, "_config", None)
    if not isinstance(config, Mapping) or "safety" not in config:
        return
    instruments = config.get("instruments")
    if not isinstance(instruments, Mapping) or name not in instruments:
        return
    files = getattr(station, "config_file", None) or ["<qcodes station>"]
    raise ConfigError(
        str(files[0]) if isinstance(files, list) else str(files),
        "safety",
        f"plain qcodes.Station would build {name!r} without these limits; open an andreev "
        "station with andreev.instruments.station.open_station(path)",
    )
