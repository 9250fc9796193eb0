"""The ETA from the rate of finished sweeps, ending in a wall-clock time."""

from __future__ import annotations

import time

from andreev.engine.eta import Eta, format_duration, wall_clock_at


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_eta_from_the_rate_of_finished_sweeps() -> None:
    clock = Clock()
    eta = Eta(planned_seconds=1000.0, monotonic=clock)
    assert eta.remaining() == 1000.0  # the plan's guess until a sweep is done
    clock.t += 10
    eta.update(1, 5)
    assert eta.remaining() == 40.0  # 10 s per sweep, 4 left
    clock.t += 30
    eta.update(2, 5)
    assert eta.remaining() == 60.0  # 20 s per sweep now


def test_a_resume_counts_only_its_own_sweeps() -> None:
    clock = Clock()
    eta = Eta(monotonic=clock)
    assert eta.text() == "ETA unknown"
    clock.t += 5
    eta.update(11, 20)  # 10 were in the file already
    assert eta.remaining() == 45.0


def test_the_text_ends_in_a_wall_clock_time() -> None:
    clock = Clock()
    eta = Eta(monotonic=clock)
    clock.t += 60
    eta.update(1, 2)
    now = time.mktime((2026, 11, 29, 23, 30, 0, 0, 0, -1))
    assert eta.text(now) == "ETA 1 min 00 s, ends 23:31"
    assert wall_clock_at(3600, now).endswith(" 00:30") and len(wall_clock_at(3600, now)) > 5
    assert format_duration(3725) == "1 h 02 min" and format_duration(12.34) == "12.3 s"
