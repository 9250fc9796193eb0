"""In-memory instruments filling the role Protocols, a fake clock and a scriptable plan:
the engine's retake, suspender, overload, abort and safe-state logic without sockets.

The fakes record what was asked of them (``calls``, ``setpoint_history``) so that the
tests can check *when* the tip was at which setpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from andreev.engine.plan import (
    Grid,
    NotRegulating,
    OuterAxis,
    RunContext,
    SweepRecord,
    SweepSettings,
)
from andreev.engine.rig import Rig
from andreev.errors import Aborted
from andreev.instruments.roles import ControllerSweep
from andreev.instruments.safety import SafetyLimits

V_SET = 10e-3  # V
TUNNELLING = 1e-9  # A


class FakeClock:
    """World time that passes only when someone sleeps (s)."""

    speedup = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, float(seconds))

    def wait_until(self, deadline: float) -> None:
        self.t = max(self.t, float(deadline))


class FakeLockIn:
    """A lock-in whose X is the STM's conductance × modulation × gain; overloads are
    scripted (one entry per ``overloaded()`` call, then False)."""

    def __init__(self, stm: FakeSTM) -> None:
        self.stm = stm
        self.overload_script: list[bool] = []
        self.headrooms: list[float] = []
        self.configured: dict[str, float] = {}
        self._modulation = 10e-6

    def settle_time(self, precision: float = 0.999) -> float:
        return 0.01

    def read_xy(self) -> tuple[float, float]:
        g = self.stm.read_current() / max(abs(self.stm.get_bias()), 1e-6)
        return g * self._modulation * self.stm.get_preamp_gain(), 0.0

    def overloaded(self) -> bool:
        return self.overload_script.pop(0) if self.overload_script else False

    def autorange_settled(
        self, max_changes: int = 26, precision: float = 0.999, headroom: float = 1.0
    ) -> int:
        self.headrooms.append(headroom)
        return 0

    def didv_from_x(
        self, x: Any, preamp_gain: float, *, modulation_rms: float | None = None
    ) -> Any:
        v_mod = self._modulation if modulation_rms is None else modulation_rms
        return np.asarray(x) / (v_mod * preamp_gain)

    def configure(
        self, *, frequency: float, modulation_rms: float, time_constant: float, slope: int
    ) -> None:
        self.configured = dict(
            frequency=frequency,
            modulation_rms=modulation_rms,
            time_constant=time_constant,
            slope=slope,
        )
        self._modulation = modulation_rms

    @property
    def modulation_rms(self) -> float:
        return self._modulation


class FakeSTM:
    """An STM controller whose current is the setpoint while the feedback regulates and
    ``setpoint × bias / V_set`` while it holds the tip (an ohmic junction).

    ``on_bias`` (called with the bias count) lets a test act mid-sweep; ``safe_hook``
    runs at the start of ``safe_state``; ``regulating = False`` keeps the current far off
    the setpoint (a tip that cannot reach it).
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.bias, self.setpoint, self.feedback = V_SET, TUNNELLING, True
        self.x = self.y = 0.0
        self.regulating = True
        self.bias_count = 0
        self.on_bias: Callable[[int], None] | None = None
        self.safe_hook: Callable[[], None] | None = None
        self.setpoint_history: list[float] = [TUNNELLING]
        self.safe_states: list[tuple[float, float]] = []
        self.moves: list[tuple[float, float, float]] = []  # (x, y, setpoint when moved)

    def set_bias(self, bias: float) -> None:
        self.bias = float(bias)
        self.bias_count += 1
        if self.on_bias is not None:
            self.on_bias(self.bias_count)

    def get_bias(self) -> float:
        return self.bias

    def set_feedback(self, on: bool) -> None:
        self.feedback = bool(on)

    def read_current(self) -> float:
        if not self.regulating:
            return self.setpoint * 1e-3
        return self.setpoint if self.feedback else self.setpoint * self.bias / V_SET

    def get_setpoint(self) -> float:
        return self.setpoint

    def get_preamp_gain(self) -> float:
        return 1e8

    def get_z(self) -> float:
        return 1e-9

    def move_tip(self, x: float, y: float) -> None:
        self.x, self.y = x, y
        self.moves.append((x, y, self.setpoint))

    def approach_setpoint(
        self, target: float, steps_per_decade: int = 4, settle: float = 0.5
    ) -> Any:
        self.feedback = True
        self.setpoint = float(target)
        self.setpoint_history.append(self.setpoint)
        self.clock.sleep(settle)
        return []

    def safe_state(
        self, bias: float, setpoint: float, *, steps_per_decade: int = 4, settle: float = 0.5
    ) -> None:
        if self.safe_hook is not None:
            self.safe_hook()
        self.bias, self.feedback = float(bias), True
        self.setpoint = float(setpoint)
        self.setpoint_history.append(self.setpoint)
        self.safe_states.append((self.bias, self.setpoint))

    def controller_sweep(
        self, start: float, end: float, points: int, *, backward: bool, settling: float
    ) -> ControllerSweep:
        bias = np.linspace(start, end, points)
        rows = {
            "current": self.setpoint * bias / V_SET,  # an ohmic junction: G = I_set / V_set
            "x": np.full(points, self.setpoint / V_SET * 10e-6),  # A rms for 10 µV rms
            "y": np.zeros(points),
        }
        self.clock.sleep(points * settling * (2 if backward else 1))
        return ControllerSweep(bias, dict(rows), dict(rows) if backward else {})


class FakeBridge:
    """A bridge whose sample sits at ``temperature`` (K) unless ``reading`` (a function
    of world time) says otherwise."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.temperature = 0.05
        self.reading: Callable[[float], float] | None = None
        self.heater_ranges: list[int | None] = []
        self.waits = 0
        self.stable = True

    def sample_temperature(self) -> float:
        return self.reading(self.clock.now()) if self.reading else self.temperature

    def set_temperature(self, temperature: float) -> Any:
        self.temperature = float(temperature)
        return None

    def wait_until_stable(
        self,
        setpoint: float,
        tolerance: float | None = None,
        hold_time: float = 60.0,
        timeout: float = 3600.0,
        poll: float = 2.0,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        self.waits += 1
        self.clock.sleep(hold_time)
        t = np.array([0.0, hold_time])
        return SimpleNamespace(
            stable=self.stable,
            reason="" if self.stable else "timeout",
            t=t,
            temperature=np.full(2, setpoint),
            heater=np.zeros(2),
        )

    def safe_state(self, heater_range: int | None = None) -> None:
        self.heater_ranges.append(heater_range)


def make_rig() -> Rig:
    """A Rig of the three fakes on one fake clock."""
    clock = FakeClock()
    stm = FakeSTM(clock)
    return Rig(
        station=SimpleNamespace(components={}, snapshot=lambda update=False: {}),
        lockin=FakeLockIn(stm),
        bridge=FakeBridge(clock),
        stm=stm,
        safety=SafetyLimits(),
        clock=clock,  # type: ignore[arg-type]
    )


@dataclass
class FakePlan:
    """A plan of ``n_outer`` × ``setpoints`` sweeps, point by point on the fakes, with
    scripted problems: ``condition_problems`` / ``sweep_problems`` are popped per call
    (None = fine); ``errors[(i, j)]`` is raised when that sweep is taken."""

    n_outer: int = 2
    setpoints: tuple[float, ...] = (1e-9, 1e-8)
    backward: bool = False
    points: int = 11
    max_retakes: int = 3
    condition_problems: list[str | None] = field(default_factory=list)
    sweep_problems: list[str | None] = field(default_factory=list)
    regulation: list[bool] = field(default_factory=list)
    errors: dict[tuple[int, int], BaseException] = field(default_factory=dict)
    skip_outer: set[int] = field(default_factory=set)
    context: RunContext | None = None
    taken: list[tuple[int, float]] = field(default_factory=list)  # (outer, setpoint A)
    waits: list[float] = field(default_factory=list)  # STM setpoint while waiting (A)
    started: bool = False
    outer: int = -1

    def grid(self) -> Grid:
        directions = ("forward", "backward") if self.backward else ("forward",)
        bias = np.linspace(-1e-3, 1e-3, self.points)
        axis = OuterAxis("step", "", np.arange(self.n_outer, dtype=float))
        return Grid(axis, np.asarray(self.setpoints), directions, bias)

    def settings(self) -> SweepSettings:
        return SweepSettings(
            setpoint_bias=V_SET,
            tunnelling_current=TUNNELLING,
            max_retakes=self.max_retakes,
            safe_heater_range=0,
            modulation_rms=10e-6,
        )

    def attach(self, context: RunContext | None) -> None:
        self.context = context

    def _ctx(self) -> RunContext:
        assert self.context is not None, "the engine did not attach the plan"
        return self.context

    def startup(self) -> None:
        self.started = True

    def enter_outer(self, index: int) -> bool:
        self.outer = index
        return index not in self.skip_outer

    def condition_problem(self, index: int) -> str | None:
        return self.condition_problems.pop(0) if self.condition_problems else None

    def sweep_problem(self, index: int, records: list[SweepRecord]) -> str | None:
        return self.sweep_problems.pop(0) if self.sweep_problems else None

    def wait_for_conditions(self, index: int) -> bool:
        self.waits.append(self._ctx().rig.stm.get_setpoint())
        return True

    def take_sweep(self, current: float) -> list[SweepRecord]:
        rig = self._ctx().rig
        j = list(self.setpoints).index(current)
        if (self.outer, j) in self.errors:
            raise self.errors[(self.outer, j)]
        if self.regulation and not self.regulation.pop(0):
            raise NotRegulating("scripted: the current stays off the setpoint")
        self.taken.append((self.outer, current))
        bias = self.grid().bias
        records = []
        for values in (bias, bias[::-1]) if self.backward else (bias,):
            x = np.empty(values.size)
            for n, v in enumerate(values):
                if self._ctx().should_stop():
                    raise Aborted("stop requested during a sweep")
                rig.stm.set_bias(float(v))
                rig.clock.sleep(rig.lockin.settle_time())
                x[n] = rig.lockin.read_xy()[0]
            order = np.argsort(values)
            records.append(
                SweepRecord(
                    didv=np.asarray(rig.lockin.didv_from_x(x[order], 1e8)),
                    x=x[order],
                    y=np.zeros(values.size),
                    current=np.full(values.size, current),
                    temperature=rig.sample_temperature(),
                    z=rig.stm.get_z(),
                    timestamp=0.0,
                    g_normal=float("nan"),
                )
            )
        rig.stm.set_bias(V_SET)
        return records
