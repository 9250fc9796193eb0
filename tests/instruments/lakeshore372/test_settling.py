"""The stability criterion of a temperature wait (StabilityWatch), on given readings."""

from __future__ import annotations

import math

import pytest

from andreev.instruments.lakeshore372.settling import StabilityWatch


def test_readings_slower_than_the_window_still_give_a_slope() -> None:
    """At speedup 1000 one reading's latency (a few ms wall = seconds of world time) can
    exceed a short hold's slope window: the slope is then fitted over the last three
    readings, so a steady temperature counts as stable instead of "dT/dt inf" for ever."""
    watch = StabilityWatch(setpoint=0.2, tolerance=1e-3, max_rate=1e-4, hold_time=5.0, window=2.5)
    results = [watch.add(t, 0.2, 10.0, 0) for t in (0.0, 10.0, 20.0, 30.0)]
    assert math.isinf(watch.rate[0]) and math.isinf(watch.rate[1])  # fewer than three
    assert watch.rate[2] == 0.0 and results == [False, False, False, True]


def test_a_drifting_temperature_is_not_stable_however_slow_the_readings() -> None:
    watch = StabilityWatch(setpoint=0.2, tolerance=1e-3, max_rate=1e-5, hold_time=5.0, window=2.5)
    drift = 2e-5  # K/s: within the tolerance over the test, above max_rate
    results = [watch.add(t, 0.1995 + drift * t, 10.0, 0) for t in (0.0, 10.0, 20.0, 30.0, 40.0)]
    assert not any(results) and watch.rate[-1] == pytest.approx(drift)
