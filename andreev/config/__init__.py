"""One config layer: every file andreev reads (station, experiment, the sim section) is
validated by the rules here, with errors that name the file, the key and what is allowed.

Light on purpose (no qcodes, h5py or Qt): :mod:`~andreev.config.rules` (numbers, keys with
"did you mean …?", the strict YAML reader, the speedup range),
:mod:`~andreev.config.safety` (the station's hard limits) and
:mod:`~andreev.config.station` (the station file's schema and its role names).
"""

from andreev.config.rules import (
    SPEEDUP_RANGE,
    check_keys,
    check_number,
    check_speedup,
    did_you_mean,
    parse_yaml,
    read_yaml,
    unknown_key_problem,
)
from andreev.config.safety import DEFAULT_LIMITS, SafetyLimits
from andreev.config.station import (
    BRIDGE,
    LOCKIN,
    ROLES,
    STM,
    StationConfig,
    load_station_config,
)
from andreev.errors import ConfigError

__all__ = [
    "BRIDGE",
    "DEFAULT_LIMITS",
    "LOCKIN",
    "ROLES",
    "SPEEDUP_RANGE",
    "STM",
    "ConfigError",
    "SafetyLimits",
    "StationConfig",
    "check_keys",
    "check_number",
    "check_speedup",
    "did_you_mean",
    "load_station_config",
    "parse_yaml",
    "read_yaml",
    "unknown_key_problem",
]
