"""Waits you can see: while the bridge waits for a temperature to settle, a
:class:`~andreev.engine.events.Settling` event (and one log line) every few wall
seconds with T, |T − T_set|, dT/dt and the hold and timeout countdowns.

The bridge driver calls its ``settling_listener`` after every reading of
``wait_until_stable`` with the stability watch (``setpoint``, ``tolerance``,
``max_rate``, ``hold_time``, ``t``, ``temperature``, ``rate``, ``good_since``), the
elapsed and the timeout (world s); :class:`SettlingReporter` turns that into events.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from andreev.engine.events import Event, Settling

log = logging.getLogger(__name__)


def settling_event(watch: Any, elapsed: float, timeout: float) -> Settling:
    """The :class:`Settling` event of the watch's last reading."""
    temperature = float(watch.temperature[-1])
    held = 0.0 if watch.good_since is None else elapsed - float(watch.good_since)
    return Settling(
        setpoint=float(watch.setpoint),
        temperature=temperature,
        deviation=abs(temperature - float(watch.setpoint)),
        tolerance=float(watch.tolerance),
        rate=float(watch.rate[-1]),
        max_rate=float(watch.max_rate),
        held=held,
        hold_time=float(watch.hold_time),
        elapsed=elapsed,
        timeout=timeout,
    )


def describe(event: Settling) -> str:
    """One line: ``settling to 0.3 K: T 0.3123 K, |T-T_set| 12.3 mK (tol 1.5 mK), …``."""
    rate = "unknown yet" if not math.isfinite(event.rate) else f"{event.rate:.2g} K/s"
    hold_left = max(event.hold_time - event.held, 0.0)
    return (
        f"settling to {event.setpoint:g} K: T {event.temperature:.5g} K, "
        f"|T-T_set| {event.deviation * 1e3:.3g} mK (tol {event.tolerance * 1e3:.3g} mK), "
        f"dT/dt {rate} (max {event.max_rate:.2g}), "
        f"hold {event.held:.0f}/{event.hold_time:.0f} s ({hold_left:.0f} s to go), "
        f"timeout in {max(event.timeout - event.elapsed, 0.0):.0f} s"
    )


class SettlingReporter:
    """The bridge's ``settling_listener``: emits a Settling event and logs one line at
    most every ``period`` wall seconds (the first reading of a wait at once)."""

    def __init__(self, emit: Callable[[Event], None], period: float = 3.0) -> None:
        self.emit = emit
        self.period = period
        self._due = 0.0
        self._last_elapsed = math.inf

    def __call__(self, watch: Any, elapsed: float, timeout: float) -> None:
        now = time.monotonic()
        new_wait = elapsed < self._last_elapsed
        self._last_elapsed = elapsed
        if not new_wait and now < self._due:
            return
        self._due = now + self.period
        event = settling_event(watch, elapsed, timeout)
        log.info("%s", describe(event))
        self.emit(event)


def attach(bridge: Any, emit: Callable[[Event], None]) -> Callable[[], None]:
    """Install a :class:`SettlingReporter` on ``bridge`` when it offers a
    ``settling_listener``; returns the function that removes it again."""
    if not hasattr(bridge, "settling_listener"):
        return lambda: None
    bridge.settling_listener = SettlingReporter(emit)

    def detach() -> None:
        bridge.settling_listener = None

    return detach
