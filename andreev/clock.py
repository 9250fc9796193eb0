"""World time that can run faster than the wall clock.

The simulated fridge and everything that waits on it (drivers settling a lock-in,
procedures waiting for a temperature) share one notion of time: ``speedup`` world
seconds pass per wall second. At the real fridge ``speedup`` is 1.
"""

from __future__ import annotations

import time

#: wall seconds below which Clock.sleep spins instead of calling time.sleep
SPIN_BELOW = 200e-6
#: wall seconds before a deadline at which Clock.wait_until stops sleeping and spins:
#: a thread woken from time.sleep answers ~0.1–1 ms late on a loaded machine
SPIN_MARGIN = 1e-3


class Clock:
    """A monotonic clock whose seconds are ``1/speedup`` wall seconds long.

    ``now()`` returns world seconds since the clock was made; ``sleep(s)`` waits
    ``s`` world seconds. Thread-safe (it holds no mutable state).
    """

    def __init__(self, speedup: float = 1.0) -> None:
        if not speedup > 0:
            raise ValueError(f"clock speedup must be > 0, got {speedup!r}")
        self.speedup = float(speedup)
        self._wall_start = time.monotonic()

    def now(self) -> float:
        """World seconds elapsed since this clock was created (s)."""
        return (time.monotonic() - self._wall_start) * self.speedup

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of world time (s); non-positive values return at once.

        Waits shorter than :data:`SPIN_BELOW` wall seconds spin on the performance
        counter: ``time.sleep`` costs ~80 µs however little it is asked to wait, which
        would dominate a fast sweep's settling at a high speedup.
        """
        if seconds <= 0:
            return
        wall = seconds / self.speedup
        if wall >= SPIN_BELOW:
            time.sleep(wall)
            return
        deadline = time.perf_counter() + wall
        while time.perf_counter() < deadline:
            pass

    def wait_until(self, deadline: float) -> None:
        """Wait until the world instant ``deadline`` (s, as :meth:`now` counts): sleep
        until :data:`SPIN_MARGIN` wall s before it, then spin, so the sleep's wake-up
        latency does not land after the deadline. Returns at once when it has passed."""
        wall = (deadline - self.now()) / self.speedup
        if wall > SPIN_MARGIN:
            time.sleep(wall - SPIN_MARGIN)
        while self.now() < deadline:
            pass

    def __repr__(self) -> str:
        return f"Clock(speedup={self.speedup:g})"


REAL_TIME = Clock(1.0)
