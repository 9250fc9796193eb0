"""Dry-run checks and estimates that need a lock-in or bridge detail.

Each is one small function so that the drivers' own helpers can replace the body
without touching the procedures: the settling time from τ and slope, the modulation
amplitude the lock-in can give, the heater ranges of the bridge's bands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from andreev.instruments.safety import SafetyLimits

#: filter slopes of the lock-in (dB/oct) and the number of poles each means
SLOPE_POLES = {6: 1, 12: 2, 18: 3, 24: 4}
#: the SR830's sine-out amplitude range (V rms)
AMPLITUDE_RANGE = (0.004, 5.0)


def lockin_settle_time(time_constant: float, slope: int, precision: float) -> float:
    """World seconds (s) the lock-in's output filter (τ in s, slope in dB/oct) needs to
    settle to ``precision`` after a step."""
    from andreev.instruments.sr830 import settle_time_constants

    return settle_time_constants(SLOPE_POLES[int(slope)], float(precision)) * float(time_constant)


def modulation_problems(
    modulation_rms: float, safety: SafetyLimits, station_extra: Mapping[str, Any]
) -> list[str]:
    """Why the lock-in cannot give ``modulation_rms`` (V rms at the junction) within
    the limits: the amplitude range behind the station's modulation divider, and the
    peak modulation against safety.max_bias."""
    problems = []
    divider = float((station_extra.get("lockin") or {}).get("modulation_divider", 1e-3))
    amplitude = float(modulation_rms) / divider
    low, high = AMPLITUDE_RANGE
    if not low <= amplitude <= high:
        problems.append(
            f"{modulation_rms:g} V needs an SR830 amplitude of {amplitude:g} V with "
            f"modulation_divider {divider:g}; the SR830 gives {low:g} … {high:g} V"
        )
    peak = np.sqrt(2) * float(modulation_rms)
    if peak > safety.max_bias:
        problems.append(
            f"peak modulation {peak:g} V exceeds safety.max_bias = {safety.max_bias:g} V"
        )
    return problems


def heater_band_problems(
    temperatures: Sequence[float], safety: SafetyLimits, station_extra: Mapping[str, Any]
) -> list[str]:
    """Bands of the bridge (station file) a temperature series would use whose heater
    range exceeds safety.max_heater_range."""
    problems = []
    for band in (station_extra.get("bridge") or {}).get("bands") or []:
        if any(t <= band["upper"] for t in temperatures) and (
            band["range"] > safety.max_heater_range
        ):
            problems.append(
                f"band up to {band['upper']:g} K uses heater range "
                f"{band['range']} > safety.max_heater_range = {safety.max_heater_range}"
            )
    return problems
