"""The contract between a plan (what to measure) and the engine (how it is run).

A plan lays out a grid — outer step × setpoint current × direction, each sweep on one
bias axis — and answers the engine's questions through hooks. Plans never walk the
grid themselves; :class:`~andreev.engine.run_engine.RunEngine` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from andreev.engine.events import Event
from andreev.engine.rig import Rig


@dataclass
class OuterAxis:
    """The outer stepper: a name, a unit, one value per step and optional extra
    per-step coordinates (``{"x": (values, "m")}`` for tip positions); ``grid``: the
    2-D layout of the steps of a grid run (an ``andreev.storage.MapGrid``, handed to
    the run file as it is; None otherwise)."""

    name: str
    unit: str
    values: np.ndarray
    extra: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    grid: Any = None


@dataclass
class Grid:
    """The sweeps of a run: ``outer`` × ``setpoints`` (A) × ``directions``, each on
    ``bias`` (V, ascending)."""

    outer: OuterAxis
    setpoints: np.ndarray
    directions: tuple[str, ...]
    bias: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(outer steps, setpoints, directions)."""
        return (len(self.outer.values), len(self.setpoints), len(self.directions))


@dataclass(frozen=True)
class SweepSettings:
    """What the engine needs to know of a plan besides its grid.

    Attributes:
        setpoint_bias: V_set, where the feedback regulates (V).
        tunnelling_current: the safe setpoint the tip waits at (A).
        approach_steps_per_decade, approach_settle: the setpoint walk (steps, s).
        settle_precision: the lock-in's settled fraction after a step.
        lockin_headroom: range headroom over the signal at V_set (doubled per overload).
        max_retakes: retakes of a disturbed sweep before it is given up.
        safe_heater_range: heater range of the bridge when the run ends.
        modulation_rms: the bias modulation at the junction (V rms), for the run file.
        film_readings: film-resistance readings per outer step the run file must hold
            room for (0: none).
    """

    setpoint_bias: float
    tunnelling_current: float
    approach_steps_per_decade: int = 4
    approach_settle: float = 0.5
    settle_precision: float = 0.999
    lockin_headroom: float = 4.0
    max_retakes: int = 3
    safe_heater_range: int = 0
    modulation_rms: float = float("nan")
    film_readings: int = 0


@dataclass
class SweepRecord:
    """One measured sweep, on the run's bias axis (ascending order as stored).

    Attributes:
        didv: differential conductance (S).
        x, y: lock-in outputs referred to the preamp output (V rms).
        current: tunnelling current (A).
        temperature: sample temperature during the sweep (K).
        z: tip height while the feedback was held (m).
        timestamp: start of the sweep (s, Unix time).
        g_normal: nominal normal-state conductance I_set/V_set (S).
        temperature_range: lowest and highest sample reading during the sweep (K).
    """

    didv: np.ndarray
    x: np.ndarray
    y: np.ndarray
    current: np.ndarray
    temperature: float
    z: float
    timestamp: float
    g_normal: float
    temperature_range: tuple[float, float] = (float("nan"), float("nan"))

    def write_to(self, book: RunBook, i: int, j: int, k: int, status: str = "done") -> None:
        """Store this sweep at (outer i, setpoint j, direction k) of a run file."""
        book.write_sweep(
            i,
            j,
            k,
            didv=self.didv,
            x=self.x,
            y=self.y,
            current=self.current,
            temperature=self.temperature,
            z=self.z,
            timestamp=self.timestamp,
            g_normal=self.g_normal,
            status=status,
        )


class NotRegulating(RuntimeError):
    """The tunnelling current did not reach the setpoint before the feedback was to be
    held (tip withdrawn, pinned at a Z limit, feedback saturated): no sweep is taken."""


class RunBook(Protocol):
    """The run file as the engine uses it (:class:`andreev.storage.RunWriter`)."""

    def write_sweep(
        self,
        i_outer: int,
        i_setpoint: int,
        i_direction: int,
        *,
        didv: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        current: np.ndarray,
        temperature: float,
        z: float,
        timestamp: float,
        g_normal: float,
        status: str = "done",
    ) -> None: ...

    def set_status(self, i_outer: int, i_setpoint: int, i_direction: int, status: str) -> None: ...

    def sweep_status(self) -> np.ndarray: ...

    def first_unfinished(self) -> tuple[int, int, int] | None: ...

    def write_settling_trace(self, i_outer: int, *args: Any, **kwargs: Any) -> None: ...


@dataclass
class RunContext:
    """What a plan's hooks may use while the engine runs it.

    Attributes:
        rig: the instruments by role, their limits and the clock.
        book: the run file (settling traces go there).
        should_stop: True once a stop was asked for (check it in long waits).
        emit: hand an event to the run's listeners.
    """

    rig: Rig
    book: RunBook
    should_stop: Callable[[], bool]
    emit: Callable[[Event], None]


@runtime_checkable
class Plan(Protocol):
    """What a procedure gives the engine (every andreev Procedure fills it)."""

    def grid(self) -> Grid:
        """The sweeps of the run."""
        ...

    def settings(self) -> SweepSettings:
        """Setpoints, approach, retake and safe-state settings."""
        ...

    def attach(self, context: RunContext | None) -> None:
        """Give the hooks the instruments, the run file and the stop flag (None: detach)."""
        ...

    def startup(self) -> None:
        """Prepare the instruments (tip to tunnelling, lock-in configured)."""
        ...

    def enter_outer(self, index: int) -> bool:
        """Bring the set-up to outer step ``index``; False when that step must be skipped."""
        ...

    def condition_problem(self, index: int) -> str | None:
        """Why the conditions of outer step ``index`` are not right now, or None."""
        ...

    def sweep_problem(self, index: int, records: list[SweepRecord]) -> str | None:
        """Why sweeps just taken at outer step ``index`` must be retaken, or None."""
        ...

    def wait_for_conditions(self, index: int) -> bool:
        """Pause until the conditions are back (True) or cannot be restored (False)."""
        ...

    def take_sweep(self, current: float) -> list[SweepRecord]:
        """Take one sweep (all directions) at setpoint ``current`` (A), the tip already
        there; raise NotRegulating when the feedback cannot hold the setpoint."""
        ...
