"""What the engine reports while it runs. It never prints: listeners do (the CLI's
progress bar, a GUI, a test).

A listener is any callable taking one :class:`Event`. Counters are whole
(outer, setpoint) sweeps, all directions together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every engine event."""


@dataclass(frozen=True)
class RunFileOpened(Event):
    """The run file was created (or re-opened with ``resumed``)."""

    path: Path
    resumed: bool


@dataclass(frozen=True)
class RunStarted(Event):
    """The grid walk begins: ``done`` of ``total`` sweeps are already in the file."""

    done: int
    total: int


@dataclass(frozen=True)
class SweepStarted(Event):
    """Sweep (outer ``i``, setpoint ``j``) at ``current`` (A), attempt ``attempt`` (0 first)."""

    i: int
    j: int
    current: float
    attempt: int


@dataclass(frozen=True)
class PointProgress(Event):
    """``points`` of ``total_points`` of the current sweep are taken."""

    points: int
    total_points: int


@dataclass(frozen=True)
class WaitingForConditions(Event):
    """Paused before sweep (i, j) with the tip at the tunnelling setpoint: ``reason``."""

    i: int
    j: int
    reason: str


@dataclass(frozen=True)
class SweepDisturbed(Event):
    """Sweep (i, j) must be retaken: ``reason`` (attempt ``attempt`` failed)."""

    i: int
    j: int
    reason: str
    attempt: int


@dataclass(frozen=True)
class SweepDone(Event):
    """Sweep (i, j) is stored as ``status`` ("done" or "retaken").

    ``done``/``total``: sweeps finished (stored or given up) so far and in the grid;
    ``world_seconds``: what this sweep took, approach and retakes included (s).
    """

    i: int
    j: int
    status: str
    done: int
    total: int
    world_seconds: float


@dataclass(frozen=True)
class SweepFailed(Event):
    """Sweep (i, j) was given up (status "failed"): ``reason``; counters as SweepDone."""

    i: int
    j: int
    reason: str
    done: int
    total: int
    world_seconds: float


@dataclass(frozen=True)
class Settling(Event):
    """A temperature wait in progress (every few wall seconds while it lasts).

    ``setpoint``, ``temperature``: K; ``deviation`` = |T − T_set| and its allowed
    ``tolerance``: K; ``rate`` (dT/dt, inf until enough readings) and ``max_rate``:
    K/s; ``held`` of ``hold_time``: how long the criterion has held so far (world s);
    ``elapsed`` of ``timeout``: world s since the wait began.
    """

    setpoint: float
    temperature: float
    deviation: float
    tolerance: float
    rate: float
    max_rate: float
    held: float
    hold_time: float
    elapsed: float
    timeout: float


@dataclass(frozen=True)
class Status(Event):
    """A message about the run (the safe state reached, a skipped outer step …)."""

    message: str
    level: int = logging.INFO


@dataclass(frozen=True)
class RunEnded(Event):
    """The run is over: ``exit_status`` is completed, incomplete, aborted or failed.

    ``reason``: one line saying why a failed run failed ("" otherwise; the traceback is
    in the run's log). ``resumable``: the file has sweeps left and can be continued
    with ``andreev run --resume <path>``.
    """

    path: Path | None
    exit_status: str
    reason: str = ""
    resumable: bool = False


Listener = Callable[[Event], None]


class Emitter:
    """Hands every event to the listeners; a listener that raises is logged, not fatal
    (a broken progress bar must not cut a run short)."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self.listeners = list(listeners)

    def __call__(self, event: Event) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception as exc:
                log.error("event listener %r failed on %r: %s", listener, event, exc)
