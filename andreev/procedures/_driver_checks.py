"""Dry-run checks and estimates that need a lock-in or bridge detail.

Each is one small function so that the drivers' own helpers can replace the body
without touching the procedures: what the station file says about the instruments
(:func:`station_facts`), the settling time from τ and slope, the time constants and
the modulation amplitude the lock-in can give, the heater ranges of the bridge's bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from andreev.instruments.roles import BRIDGE, LOCKIN
from andreev.instruments.safety import SafetyLimits, problem

if TYPE_CHECKING:
    from andreev.instruments.station import StationConfig


@dataclass(frozen=True)
class StationFacts:
    """What the dry run needs to know of the station's instruments besides the limits.

    Attributes:
        modulation_divider: junction modulation per volt of lock-in sine out.
        heater_bands: (upper temperature K, heater range) of each bridge band.
    """

    modulation_divider: float = 1e-3
    heater_bands: tuple[tuple[float, int], ...] = ()


def station_facts(station: StationConfig) -> StationFacts:
    """The :class:`StationFacts` of a station file (its instruments' ``init`` sections)."""
    lockin = dict(station.instruments.get(LOCKIN, {}).get("init") or {})
    bridge = dict(station.instruments.get(BRIDGE, {}).get("init") or {})
    bands = tuple((float(band["upper"]), int(band["range"])) for band in bridge.get("bands") or [])
    return StationFacts(float(lockin.get("modulation_divider", 1e-3)), bands)


def lockin_settle_time(time_constant: float, slope: int, precision: float) -> float:
    """World seconds (s) the lock-in's output filter (τ in s, slope in dB/oct) needs to
    settle to ``precision`` after a step (the driver's own rule)."""
    from andreev.instruments.sr830 import filter_settle_time

    return filter_settle_time(float(time_constant), int(slope), float(precision))


def time_constant_problem(time_constant: float) -> str | None:
    """Why the lock-in cannot be set to ``time_constant`` (s) (the driver's check)."""
    from andreev.instruments.sr830 import time_constant_problem as driver_check

    return driver_check(time_constant)


def modulation_problems(
    modulation_rms: float, safety: SafetyLimits, facts: StationFacts
) -> list[str]:
    """Why the lock-in cannot give ``modulation_rms`` (V rms at the junction) within
    the limits: the amplitude range behind the modulation divider (the driver's check),
    and the peak modulation against safety.max_bias (the drivers' guard)."""
    from andreev.instruments.sr830 import modulation_problem

    found = [
        modulation_problem(modulation_rms, facts.modulation_divider),
        problem(safety.check_modulation, float(modulation_rms)),
    ]
    return [text for text in found if text is not None]


def heater_band_problems(
    temperatures: Sequence[float], safety: SafetyLimits, facts: StationFacts
) -> list[str]:
    """Bands of the bridge a temperature series would use whose heater range exceeds
    safety.max_heater_range."""
    return [
        f"band up to {upper:g} K: {message}"
        for upper, heater_range in facts.heater_bands
        if any(t <= upper for t in temperatures)
        and (message := problem(safety.check_heater_range, heater_range)) is not None
    ]
