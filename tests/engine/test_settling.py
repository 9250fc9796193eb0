"""Waits you can see: the SettlingReporter turns the bridge's readings into a Settling
event and a log line every few wall seconds, the first reading of each wait at once."""

from __future__ import annotations

import logging

import pytest

import andreev.engine.settling as settling
from andreev.engine.events import Event, Settling
from andreev.engine.settling import SettlingReporter
from andreev.instruments.lakeshore372.settling import StabilityWatch


def test_one_event_and_log_line_per_period_and_at_once_for_a_new_wait(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wall = [100.0]
    monkeypatch.setattr(settling.time, "monotonic", lambda: wall[0])
    events: list[Event] = []
    reporter = SettlingReporter(events.append, period=3.0)
    watch = StabilityWatch(setpoint=0.3, tolerance=1.5e-3, max_rate=3e-4, hold_time=60, window=30)
    caplog.set_level(logging.INFO, logger="andreev.engine.settling")
    for step, temperature in enumerate([0.25, 0.28, 0.29, 0.2995, 0.3]):
        watch.add(10.0 * step, temperature, 20.0, 0)
        reporter(watch, elapsed=10.0 * step, timeout=5400.0)
        wall[0] += 1.0  # a reading per wall second: an event every third
    assert [e.temperature for e in events if isinstance(e, Settling)] == [0.25, 0.2995]
    first = events[0]
    assert isinstance(first, Settling)
    assert first.deviation == pytest.approx(0.05) and first.timeout - first.elapsed == 5400.0
    assert len([r for r in caplog.records if "settling to 0.3 K: T 0.25 K" in r.message]) == 1
    # the next temperature step is a new wait: shown at once, whatever the period
    watch = StabilityWatch(setpoint=0.7, tolerance=3.5e-3, max_rate=7e-4, hold_time=60, window=30)
    watch.add(0.0, 0.3, 30.0, 0)
    reporter(watch, elapsed=0.0, timeout=5400.0)
    assert isinstance(events[-1], Settling) and events[-1].setpoint == 0.7
