"""The limits every driver holds and the dry run shares (pure, nothing moves)."""

from __future__ import annotations

import math

import pytest

from andreev.errors import SafetyError
from andreev.instruments.safety import DEFAULT_LIMITS, RELATIVE_SLACK, SafetyLimits, problem


def test_safety_error_is_not_a_value_error() -> None:
    assert not issubclass(SafetyError, ValueError)
    with pytest.raises(SafetyError):
        try:
            DEFAULT_LIMITS.check_bias(1.0)
        except ValueError:  # must not swallow the refusal
            pytest.fail("a SafetyError was caught as a ValueError")


def test_problem_returns_the_refusal_or_none() -> None:
    limits = SafetyLimits(max_bias=0.1, min_feedback_bias=1e-3, max_setpoint_current=1e-6)
    assert problem(limits.check_bias, 0.05) is None
    assert "max_bias" in str(problem(limits.check_bias, 0.2))
    assert "min_feedback_bias" in str(problem(limits.check_bias, 0.5e-3, feedback_on=True))
    assert problem(limits.check_bias, 0.5e-3) is None
    assert "max_setpoint_current" in str(problem(limits.check_setpoint, 2e-6))
    assert "max_temperature" in str(problem(limits.check_temperature, 5.0))
    assert "max_heater_range" in str(problem(limits.check_heater_range, 7))


def test_check_modulation_peak_with_the_drivers_slack() -> None:
    limits = SafetyLimits(max_bias=1e-3)
    at_limit = 1e-3 / math.sqrt(2)
    limits.check_modulation(at_limit)
    limits.check_modulation(-at_limit * (1 + 0.5 * RELATIVE_SLACK))  # float32 round-off
    with pytest.raises(SafetyError, match="peak"):
        limits.check_modulation(at_limit * (1 + 10 * RELATIVE_SLACK))
