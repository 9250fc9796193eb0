"""Heater bands of the Lake Shore 372's sample heater: which range and PID serve which
setpoint (K), and the checks a setpoint must pass before anything is written (pure, no
I/O; the dry run calls the same functions as the driver)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from andreev.errors import SafetyError
from andreev.instruments.safety import SafetyLimits

__all__ = [
    "MAX_SAMPLE_RANGE",
    "HeaterBand",
    "band_for",
    "check_temperature_setpoint",
    "setpoint_problem",
    "validate_bands",
]

#: highest sample-heater range index (8 = 100 mA)
MAX_SAMPLE_RANGE = 8


@dataclass(frozen=True, order=True)
class HeaterBand:
    """Sample-heater range and PID used for setpoints up to ``upper`` (K, inclusive).

    Attributes:
        upper: upper edge of the band (K).
        range: sample-heater range index 1–8 (1 = 31.6 µA … 8 = 100 mA).
        P: proportional gain (0–1000).
        I: integral (0–10000).
        D: derivative (0–2500).
    """

    upper: float
    range: int
    P: float
    I: float
    D: float

    def as_dict(self) -> dict[str, float | int]:
        """The band as ``{upper, range, P, I, D}``."""
        return {"upper": self.upper, "range": self.range, "P": self.P, "I": self.I, "D": self.D}


_BAND_KEYS = ("upper", "range", "P", "I", "D")
_BAND_LIMITS = {"P": (0.0, 1000.0), "I": (0.0, 10000.0), "D": (0.0, 2500.0)}


def _band_from_mapping(item: Mapping[str, Any] | HeaterBand, index: int) -> HeaterBand:
    if isinstance(item, HeaterBand):
        item = item.as_dict()
    if not isinstance(item, Mapping):
        raise ValueError(f"bands[{index}]: expected a mapping {{upper, range, P, I, D}}")
    missing = [k for k in _BAND_KEYS if k not in item]
    extra = [k for k in item if k not in _BAND_KEYS]
    if missing or extra:
        raise ValueError(
            f"bands[{index}]: keys must be exactly {list(_BAND_KEYS)} "
            f"(missing {missing}, unknown {extra})"
        )
    upper = float(item["upper"])
    if not (math.isfinite(upper) and upper > 0):
        raise ValueError(f"bands[{index}].upper: must be a positive temperature (K), got {upper}")
    heater_range = item["range"]
    if isinstance(heater_range, bool) or int(heater_range) != heater_range:
        raise ValueError(f"bands[{index}].range: must be an integer 1–8, got {heater_range!r}")
    heater_range = int(heater_range)
    if not 1 <= heater_range <= MAX_SAMPLE_RANGE:
        raise ValueError(f"bands[{index}].range: must be 1–8, got {heater_range}")
    gains = {}
    for key, (low, high) in _BAND_LIMITS.items():
        value = float(item[key])
        if not low <= value <= high:
            raise ValueError(f"bands[{index}].{key}: must be {low:g}–{high:g}, got {value}")
        gains[key] = value
    return HeaterBand(upper=upper, range=heater_range, **gains)


def validate_bands(bands: Iterable[Mapping[str, Any] | HeaterBand]) -> tuple[HeaterBand, ...]:
    """Check and sort heater bands (by ``upper``).

    Raises:
        ValueError: a band is malformed (keys, range 1–8, PID limits) or two bands
            share an upper edge, or the list is empty.
    """
    parsed = sorted(_band_from_mapping(item, i) for i, item in enumerate(bands))
    if not parsed:
        raise ValueError("bands: at least one band is needed")
    uppers = [b.upper for b in parsed]
    if len(set(uppers)) != len(uppers):
        raise ValueError(f"bands: upper edges must be distinct, got {uppers}")
    return tuple(parsed)


def band_for(temperature: float, bands: Sequence[HeaterBand]) -> HeaterBand:
    """The band of ``bands`` (sorted, :func:`validate_bands`) that covers ``temperature``
    (K): the lowest ``upper`` ≥ T. ValueError when none does or there are none."""
    if not bands:
        raise ValueError("no heater bands configured and the ZONE table is empty")
    for band in bands:
        if temperature <= band.upper:
            return band
    raise ValueError(
        f"no heater band covers {temperature:g} K (highest band ends at {bands[-1].upper:g} K)"
    )


def check_temperature_setpoint(
    temperature: float, bands: Sequence[HeaterBand] | None, safety: SafetyLimits
) -> HeaterBand | None:
    """The checks :meth:`LakeshoreModel372.set_temperature` makes before its first write:
    ``temperature`` (K) ≤ safety.max_temperature, and the heater range of the band that
    covers it ≤ safety.max_heater_range (SafetyError); a band must cover it (ValueError).
    With ``bands`` None (the instrument's ZONE table, unknown without it) only the
    temperature is checked. Returns the band, or None."""
    safety.check_temperature(temperature)
    if bands is None:
        return None
    band = band_for(temperature, bands)
    safety.check_heater_range(band.range)
    return band


def setpoint_problem(
    temperature: float,
    bands: Iterable[Mapping[str, Any] | HeaterBand] | None,
    safety: SafetyLimits,
) -> str | None:
    """Why :meth:`LakeshoreModel372.set_temperature` would refuse ``temperature`` (K) with
    these ``bands`` (as in the station file) and limits, or None: the dry run's form of
    :func:`check_temperature_setpoint`."""
    try:
        check_temperature_setpoint(
            temperature, None if bands is None else validate_bands(bands), safety
        )
    except (SafetyError, ValueError) as exc:
        return str(exc)
    return None
