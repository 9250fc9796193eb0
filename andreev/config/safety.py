"""The station's hard safety limits: the ``safety:`` section's schema and the one set of
checks every driver (and the dry run) applies before anything is written.

A write outside these limits raises :class:`~andreev.errors.SafetyError` and never
reaches the instrument, so no procedure can bypass them. The dry run (nothing moves)
calls the very same ``check_*`` methods, with the same slack; :func:`problem` turns a
refusal into its message. The limits are configuration
(they come from the station file), so they live in the config layer, below the drivers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from andreev.config.rules import check_keys, check_number
from andreev.errors import ConfigError, SafetyError

__all__ = [
    "DEFAULT_LIMITS",
    "RELATIVE_SLACK",
    "SAFETY_RANGES",
    "SafetyError",
    "SafetyLimits",
    "check_safety_section",
    "problem",
]

#: relative slack on every comparison: values read back over float32 wire formats
#: (Nanonis) differ from what was set by up to ~6e-8, far below any physical margin
RELATIVE_SLACK = 1e-6


@dataclass(frozen=True)
class SafetyLimits:
    """Hard limits of one set-up (SI units).

    Attributes:
        max_setpoint_current: largest STM setpoint current magnitude (A).
        max_bias: largest |bias| the STM controller may apply (V).
        min_feedback_bias: smallest |bias| at which the feedback may regulate (V).
        max_temperature: highest temperature setpoint of the bridge (K).
        max_heater_range: highest sample-heater range index of the bridge (0-8).
        max_bias_slew_rate: fastest bias change (V/s, world time).
        max_film_excitation: largest excitation current through the film (A rms) on the
            bridge's film channel, so the measurement neither heats it nor drives it normal.
    """

    max_setpoint_current: float = 1.0e-6
    max_bias: float = 0.1
    min_feedback_bias: float = 1.0e-3
    max_temperature: float = 4.0
    max_heater_range: int = 6
    max_bias_slew_rate: float = 1.0
    max_film_excitation: float = 1.0e-7

    def check_setpoint(self, current: float) -> None:
        """Raise SafetyError if ``|current|`` (A) exceeds max_setpoint_current."""
        if abs(current) > self.max_setpoint_current * (1 + RELATIVE_SLACK):
            raise SafetyError(
                f"setpoint current {current:.4g} A exceeds safety.max_setpoint_current "
                f"= {self.max_setpoint_current:.4g} A"
            )

    def check_bias(self, bias: float, feedback_on: bool = False) -> None:
        """Raise SafetyError if ``bias`` (V) is outside ±max_bias, or below
        min_feedback_bias in magnitude while the feedback regulates."""
        if abs(bias) > self.max_bias * (1 + RELATIVE_SLACK):
            raise SafetyError(f"bias {bias:.4g} V exceeds safety.max_bias = ±{self.max_bias:.4g} V")
        if feedback_on and abs(bias) < self.min_feedback_bias * (1 - RELATIVE_SLACK):
            raise SafetyError(
                f"bias {bias:.4g} V is below safety.min_feedback_bias = "
                f"{self.min_feedback_bias:.4g} V: the feedback cannot regulate near zero bias"
            )

    def check_temperature(self, temperature: float) -> None:
        """Raise SafetyError if the setpoint ``temperature`` (K) exceeds max_temperature."""
        if not 0 <= temperature <= self.max_temperature * (1 + RELATIVE_SLACK):
            raise SafetyError(
                f"temperature setpoint {temperature:.4g} K outside 0 … "
                f"safety.max_temperature = {self.max_temperature:.4g} K"
            )

    def check_heater_range(self, heater_range: int) -> None:
        """Raise SafetyError if the sample-heater range index exceeds max_heater_range."""
        if not 0 <= int(heater_range) <= self.max_heater_range:
            raise SafetyError(
                f"heater range {heater_range} outside 0 … safety.max_heater_range = "
                f"{self.max_heater_range}"
            )

    def check_film_excitation(self, current: float) -> None:
        """Raise SafetyError if the film's excitation ``current`` (A rms) exceeds
        max_film_excitation."""
        if not 0 <= current <= self.max_film_excitation * (1 + RELATIVE_SLACK):
            raise SafetyError(
                f"film excitation {current:.4g} A outside 0 … safety.max_film_excitation = "
                f"{self.max_film_excitation:.4g} A"
            )

    def check_modulation(self, rms_at_junction: float) -> None:
        """Raise SafetyError if the peak of a sine modulation of ``rms_at_junction``
        (V rms at the junction), √2 × rms, exceeds max_bias."""
        peak = math.sqrt(2.0) * abs(rms_at_junction)
        if peak > self.max_bias * (1 + RELATIVE_SLACK):
            raise SafetyError(
                f"modulation {rms_at_junction:.4g} V rms gives a {peak:.4g} V peak at the "
                f"junction, above safety.max_bias = {self.max_bias:.4g} V"
            )

    def as_dict(self) -> dict[str, float | int]:
        """The limits as a plain dict (for snapshots and files)."""
        return asdict(self)


DEFAULT_LIMITS = SafetyLimits()
"""The limits a driver uses when it is given none (the documented defaults above)."""


def problem(check: Callable[..., None], *args: Any, **kwargs: Any) -> str | None:
    """Run a check (e.g. ``limits.check_setpoint``) on ``args``: the SafetyError's
    message when it refuses, None when it passes (for the dry run's list of problems)."""
    try:
        check(*args, **kwargs)
    except SafetyError as exc:
        return str(exc)
    return None


#: Allowed range of every safety limit: (type, low, high, unit).
SAFETY_RANGES: dict[str, tuple[type, float, float, str]] = {
    "max_setpoint_current": (float, 1e-12, 1e-4, "A"),
    "max_bias": (float, 1e-4, 10.0, "V"),
    "min_feedback_bias": (float, 0.0, 0.1, "V"),
    "max_temperature": (float, 0.01, 300.0, "K"),
    "max_heater_range": (int, 0, 8, ""),
    "max_bias_slew_rate": (float, 1e-4, 100.0, "V/s"),
    "max_film_excitation": (float, 1e-12, 1e-3, "A"),
}


def check_safety_section(path: Path, section: Any) -> SafetyLimits:
    """The ``safety:`` section of station file ``path`` as limits (defaults for absent
    keys); ConfigError for an unknown key, a value out of range, or a minimum feedback
    bias not below the maximum bias."""
    check_keys(path, "safety", section, SAFETY_RANGES)
    values: dict[str, Any] = {
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
