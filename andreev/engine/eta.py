"""The estimated end of a run, from the measured rate of finished sweeps.

A *sweep* here is what the engine counts and the plan announces: one (outer step,
setpoint) pair, its directions (forward, and backward when asked) included. The
estimate is the mean wall time per sweep finished in this process times the sweeps
left; it ends in a wall-clock time (``ETA 12 min 05 s, ends 03:41``). Before the first
sweep finishes, the plan's own estimate (from the procedure, world time divided by the
speedup) may be given as a starting guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Eta", "format_duration", "wall_clock_at"]


def format_duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12.3 s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.1f} s"


def wall_clock_at(seconds_from_now: float, now: float | None = None) -> str:
    """The local wall-clock time ``seconds_from_now`` s ahead: ``03:41`` today,
    ``Tue 03:41`` on another day."""
    now = time.time() if now is None else now
    then = time.localtime(now + max(0.0, seconds_from_now))
    same_day = time.strftime("%Y%m%d", then) == time.strftime("%Y%m%d", time.localtime(now))
    return time.strftime("%H:%M" if same_day else "%a %H:%M", then)


@dataclass
class Eta:
    """Remaining wall time of a run from the rate of the sweeps finished so far.

    Attributes:
        planned_seconds: the plan's estimate of the whole run (wall s), used until a
            sweep has finished; None when unknown.
        monotonic: the clock (s) used to time sweeps (replaceable in tests).
    """

    planned_seconds: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    first_done: int | None = None
    done: int = 0
    total: int = 0

    def __post_init__(self) -> None:
        self.started = self.monotonic()

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` sweeps are finished (a resume starts above zero)."""
        if self.first_done is None:
            self.first_done = done - 1
        self.done, self.total = done, total

    def remaining(self) -> float | None:
        """Wall seconds left, or None when nothing is known yet."""
        taken = self.done - (self.first_done if self.first_done is not None else self.done)
        if taken > 0:
            return (self.monotonic() - self.started) / taken * (self.total - self.done)
        if self.planned_seconds is not None:
            return max(0.0, self.planned_seconds - (self.monotonic() - self.started))
        return None

    def text(self, now: float | None = None) -> str:
        """``ETA 12 min 05 s, ends 03:41`` (``ETA unknown`` before anything is known)."""
        left = self.remaining()
        if left is None:
            return "ETA unknown"
        return f"ETA {format_duration(left)}, ends {wall_clock_at(left, now)}"
