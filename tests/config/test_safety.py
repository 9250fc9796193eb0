"""The station's safety section and the checks the drivers apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from andreev.config.safety import DEFAULT_LIMITS, SafetyLimits, check_safety_section
from andreev.errors import ConfigError, SafetyError

FILE = Path("station.yaml")


def test_absent_keys_take_the_documented_defaults() -> None:
    assert check_safety_section(FILE, {}) == DEFAULT_LIMITS
    limits = check_safety_section(FILE, {"max_bias": 0.05, "max_heater_range": 4})
    assert limits == SafetyLimits(max_bias=0.05, max_heater_range=4)
    assert isinstance(limits.max_heater_range, int)


def test_feedback_bias_must_be_below_the_maximum() -> None:
    with pytest.raises(ConfigError, match=r"safety\.min_feedback_bias: 0\.09 V must be below"):
        check_safety_section(FILE, {"min_feedback_bias": 0.09, "max_bias": 0.05})


def test_checks_refuse_outside_the_limits_with_a_slack_for_float32() -> None:
    limits = SafetyLimits(max_bias=0.1, max_setpoint_current=1e-6)
    limits.check_bias(0.1 * (1 + 1e-7))  # a float32 round trip of the limit passes
    with pytest.raises(SafetyError, match="max_bias"):
        limits.check_bias(0.11)
    with pytest.raises(SafetyError, match="min_feedback_bias"):
        limits.check_bias(1e-4, feedback_on=True)
    with pytest.raises(SafetyError, match="max_setpoint_current"):
        limits.check_setpoint(-2e-6)
    assert not issubclass(SafetyError, ValueError)
