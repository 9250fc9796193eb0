"""The base of every andreev procedure: a plan of bias sweeps.

A run is a grid of sweeps: outer step (temperature, tip position, a field …) ×
setpoint current × direction. A :class:`SweepProcedure` declares that grid, its
parameters (pymeasure, typed, with units and ranges), what one sweep is
(:mod:`andreev.procedures.sweeps`) and the hooks the engine asks:
:meth:`~SweepProcedure.enter_outer`, :meth:`~SweepProcedure.condition_problem`,
:meth:`~SweepProcedure.sweep_problem`, :meth:`~SweepProcedure.wait_for_conditions`,
and for the dry run :meth:`~SweepProcedure.limit_problems`. The
:class:`~andreev.engine.run_engine.RunEngine` walks the grid, retakes, suspends,
checkpoints and leaves the instruments safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Procedure,
)

from andreev.engine.events import PointProgress
from andreev.engine.plan import Grid, OuterAxis, RunBook, RunContext, SweepRecord, SweepSettings
from andreev.engine.rig import Rig
from andreev.errors import Aborted, AndreevError
from andreev.instruments.safety import SafetyLimits, problem
from andreev.procedures._driver_checks import (
    StationFacts,
    lockin_settle_time,
    modulation_problems,
    time_constant_problem,
)
from andreev.procedures.sweeps import MEASURE

__all__ = [
    "POINT_WALL_COST",
    "RUN_WALL_COST",
    "SWEEP_WALL_COST",
    "LimitProblem",
    "OuterAxis",
    "SweepProcedure",
]

#: Wall seconds a point costs besides its settling, by sweep mode: its requests (bias
#: write, current, lock-in read, ~0.2–0.3 ms each on loopback) and the simulated
#: instruments' work behind them. Measured with ``andreev demo`` (8442 points) and
#: ``benchmarks/acquisition.py`` on a shared 2-core machine; a real fridge's instruments
#: answer in ~1 ms (GPIB), well inside a point's settling.
POINT_WALL_COST: dict[str, float] = {"point": 1.0e-3, "controller": 5e-6}
#: wall seconds of a sweep's fixed part: hold and release, the ramps from and to V_set,
#: the overload check, the record written and fsynced
SWEEP_WALL_COST = 0.02
#: wall seconds of a run's own start and end: instruments opened, run file created,
#: safe state, file closed
RUN_WALL_COST = 1.0


@dataclass
class LimitProblem:
    """An experiment value outside a safety limit: the experiment key, the message."""

    key: str
    message: str


#: the name of the single outer step of a procedure without an outer stepper
NO_OUTER = "step"


class SweepProcedure(Procedure):
    """Base of all andreev procedures: a grid of bias sweeps, one per (outer, setpoint).

    Parameters are pymeasure ``Parameter``s (typed, with units and allowed ranges):
    they are the experiment YAML's keys, the GUI's form fields and the CLI's flags.
    """

    bias_start = FloatParameter(
        "Bias start", units="V", minimum=-10.0, maximum=10.0, default=-1.5e-3
    )
    bias_stop = FloatParameter("Bias stop", units="V", minimum=-10.0, maximum=10.0, default=1.5e-3)
    bias_points = IntegerParameter("Bias points", minimum=2, maximum=100000, default=201)
    backward = BooleanParameter("Sweep back too", default=False)
    repeats = IntegerParameter("Repeats of each sweep", minimum=1, maximum=10, default=1)
    sweep_mode = ListParameter("Sweep mode", choices=["point", "controller"], default="point")
    setpoint_bias = FloatParameter(
        "Setpoint bias V_set", units="V", minimum=-10.0, maximum=10.0, default=2.0e-3
    )
    setpoint_current = FloatParameter(
        "Setpoint current", units="A", minimum=1e-12, maximum=1e-4, default=1.0e-9
    )
    tunnelling_current = FloatParameter(
        "Tunnelling (safe) setpoint", units="A", minimum=1e-12, maximum=1e-4, default=1.0e-9
    )
    approach_steps_per_decade = IntegerParameter(
        "Approach steps per decade", minimum=1, maximum=100, default=4
    )
    approach_settle = FloatParameter(
        "Approach settling per step", units="s", minimum=0.0, maximum=600.0, default=0.5
    )
    tip_settle = FloatParameter(
        "Tip settling before a sweep", units="s", minimum=0.0, maximum=3600.0, default=1.0
    )
    modulation_rms = FloatParameter(
        "Bias modulation at the junction", units="V", minimum=1e-7, maximum=0.1, default=10e-6
    )
    lockin_frequency = FloatParameter(
        "Lock-in frequency", units="Hz", minimum=0.001, maximum=102000.0, default=777.7
    )
    lockin_time_constant = FloatParameter(
        "Lock-in time constant", units="s", minimum=10e-6, maximum=30e3, default=0.03
    )
    lockin_slope = ListParameter(
        "Lock-in filter slope", choices=[6, 12, 18, 24], units="dB/oct", default=12
    )
    settle_precision = FloatParameter(
        "Lock-in settling precision", minimum=0.9, maximum=0.99999, default=0.999
    )
    lockin_headroom = FloatParameter(
        "Lock-in range headroom over the signal at V_set", minimum=1.0, maximum=100.0, default=4.0
    )
    max_retakes = IntegerParameter("Retakes of a disturbed sweep", minimum=0, maximum=20, default=3)
    safe_heater_range = IntegerParameter(
        "Heater range when the run ends", minimum=0, maximum=8, default=0
    )

    #: set by the engine while it runs this plan (see :meth:`attach`)
    context: RunContext | None = None

    # ---- the grid ------------------------------------------------------------------
    def bias_values(self) -> np.ndarray:
        """The bias axis (V), ascending."""
        values = np.linspace(self.bias_start, self.bias_stop, int(self.bias_points))
        return np.sort(values)

    def directions(self) -> tuple[str, ...]:
        """("forward",) or ("forward", "backward"), then the ``repeats`` as "forward_2",
        "backward_2", … (the storage's direction axis)."""
        one = ("forward", "backward") if self.backward else ("forward",)
        return one + tuple(f"{d}_{n}" for n in range(2, int(self.repeats) + 1) for d in one)

    def setpoints(self) -> np.ndarray:
        """Setpoint currents (A), in the order they are taken."""
        return np.array([float(self.setpoint_current)])

    def outer_axis(self) -> OuterAxis:
        """The outer stepper; a single step named :data:`NO_OUTER` when there is none."""
        return OuterAxis(NO_OUTER, "", np.array([0.0]))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(outer steps, setpoints, directions)."""
        return (len(self.outer_axis().values), len(self.setpoints()), len(self.directions()))

    def grid(self) -> Grid:
        """The sweeps of the run, for the engine."""
        return Grid(self.outer_axis(), self.setpoints(), self.directions(), self.bias_values())

    def settings(self) -> SweepSettings:
        """Setpoints, approach, retake and safe-state settings, for the engine."""
        return SweepSettings(
            setpoint_bias=float(self.setpoint_bias),
            tunnelling_current=float(self.tunnelling_current),
            approach_steps_per_decade=int(self.approach_steps_per_decade),
            approach_settle=float(self.approach_settle),
            settle_precision=float(self.settle_precision),
            lockin_headroom=float(self.lockin_headroom),
            max_retakes=int(self.max_retakes),
            safe_heater_range=int(self.safe_heater_range),
            modulation_rms=float(self.modulation_rms),
        )

    # ---- what the engine gives the hooks -----------------------------------------------
    def attach(self, context: RunContext | None) -> None:
        """Give the hooks the instruments, the run file and the stop flag (None: detach)."""
        self.context = context

    def _context(self) -> RunContext:
        if self.context is None:
            raise AndreevError(f"{type(self).__name__} is not attached: run it with the engine")
        return self.context

    def _rig(self) -> Rig:
        return self._context().rig

    def _book(self) -> RunBook:
        return self._context().book

    def should_stop(self) -> bool:
        """True once the run was asked to stop (pymeasure's name for it)."""
        return self.context is not None and bool(self.context.should_stop())

    def _check_stop(self) -> None:
        if self.should_stop():
            raise Aborted("stop requested")

    # ---- hooks -----------------------------------------------------------------------
    def startup(self) -> None:
        """Bring the tip to the tunnelling setpoint at V_set (whatever state a cut run left
        it in), then configure the lock-in as the experiment asks."""
        rig = self._rig()
        rig.stm.safe_state(float(self.setpoint_bias), float(self.tunnelling_current))
        rig.lockin.configure(
            frequency=float(self.lockin_frequency),
            modulation_rms=float(self.modulation_rms),
            time_constant=float(self.lockin_time_constant),
            slope=int(self.lockin_slope),
        )

    def enter_outer(self, index: int) -> bool:
        """Bring the set-up to outer step ``index``; False when that step must be skipped."""
        return True

    def condition_problem(self, index: int) -> str | None:
        """Why the conditions of outer step ``index`` are not right now, or None."""
        return None

    def sweep_problem(self, index: int, records: list[SweepRecord]) -> str | None:
        """Why sweeps just taken at outer step ``index`` must be retaken, or None."""
        return None

    def wait_for_conditions(self, index: int) -> bool:
        """Pause until the conditions are back (True) or cannot be restored (False)."""
        return True

    def approach(self, current: float) -> None:
        """Walk the setpoint to ``current`` (A) with the driver's safe approach."""
        self._rig().stm.approach_setpoint(
            float(current),
            steps_per_decade=int(self.approach_steps_per_decade),
            settle=float(self.approach_settle),
        )

    # ---- one sweep ---------------------------------------------------------------------
    def take_sweep(self, current: float) -> list[SweepRecord]:
        """One sweep (every direction) at setpoint ``current`` (A), the tip already there,
        in the experiment's ``sweep_mode``; raises NotRegulating when the feedback
        cannot hold the setpoint."""
        context = self._context()
        repeats = int(self.repeats)
        records: list[SweepRecord] = []
        for n in range(repeats):  # one record per entry of directions(), in its order

            def on_point(points: int, total: int, n: int = n) -> None:
                context.emit(PointProgress(n * total + points, repeats * total))

            records += MEASURE[str(self.sweep_mode)](
                context.rig,
                self.bias_values(),
                setpoint_bias=float(self.setpoint_bias),
                backward=bool(self.backward),
                precision=float(self.settle_precision),
                tip_settle=float(self.tip_settle),
                should_stop=self.should_stop,
                on_point=on_point,
            )
            if self.should_stop():
                break
        return records

    # ---- the dry run -------------------------------------------------------------------
    def limit_problems(self, safety: SafetyLimits, facts: StationFacts) -> list[LimitProblem]:
        """Every value of the plan checked against the safety limits (nothing moves).

        ``facts``: what the station file says about the instruments (the lock-in's
        modulation divider, the bridge's heater bands).
        """
        # the very checks the drivers' guards run, with their slack (one safety path)
        checks: list[tuple[str, str | None]] = [
            ("bias_start", problem(safety.check_bias, float(self.bias_start))),
            ("bias_stop", problem(safety.check_bias, float(self.bias_stop))),
            (
                "setpoint_bias",
                problem(safety.check_bias, float(self.setpoint_bias), feedback_on=True),
            ),
            ("tunnelling_current", problem(safety.check_setpoint, float(self.tunnelling_current))),
            *(
                (key, problem(safety.check_setpoint, current))
                for key, current in self._setpoint_keys()
            ),
            ("safe_heater_range", problem(safety.check_heater_range, int(self.safe_heater_range))),
            ("lockin_time_constant", time_constant_problem(float(self.lockin_time_constant))),
        ]
        checks += [
            ("modulation_rms", message)
            for message in modulation_problems(float(self.modulation_rms), safety, facts)
        ]
        return [LimitProblem(key, message) for key, message in checks if message is not None]

    def _setpoint_keys(self) -> list[tuple[str, float]]:
        return [("setpoint_current", float(self.setpoint_current))]

    # ---- estimates ---------------------------------------------------------------------
    def settle_time(self) -> float:
        """Lock-in settling per point (s) for the configured time constant and slope."""
        return lockin_settle_time(
            float(self.lockin_time_constant), int(self.lockin_slope), float(self.settle_precision)
        )

    def sweep_duration(self) -> float:
        """World seconds one (outer, setpoint) sweep takes, every direction and repeat
        (each repeat settles the tip again) (s)."""
        points = int(self.bias_points) * len(self.directions())
        return float(self.tip_settle) * int(self.repeats) + points * self.settle_time()

    def outer_duration(self, index: int) -> float:
        """World seconds spent entering outer step ``index`` (s)."""
        return 0.0

    def approach_duration(self) -> float:
        """World seconds of the setpoint approaches over one ladder (s)."""
        currents = self.setpoints()
        decades = math.log10(
            max(currents.max(), self.tunnelling_current)
            / min(currents.min(), self.tunnelling_current)
        )
        steps = 2 * decades * int(self.approach_steps_per_decade) + len(currents)
        return steps * float(self.approach_settle)

    def estimated_duration(self) -> float:
        """World seconds of the whole run (s)."""
        n_outer, n_set, _ = self.shape
        per_outer = n_set * self.sweep_duration() + self.approach_duration()
        return sum(self.outer_duration(i) + per_outer for i in range(n_outer))

    def points(self) -> int:
        """Bias points of the whole run (every sweep, every direction)."""
        n_outer, n_set, n_dir = self.shape
        return n_outer * n_set * n_dir * int(self.bias_points)

    def talk_duration(self) -> float:
        """Wall seconds of the run spent on the instruments' requests, beyond its waits
        (s): :data:`POINT_WALL_COST` per point, :data:`SWEEP_WALL_COST` per sweep,
        :data:`RUN_WALL_COST` once."""
        n_outer, n_set, _ = self.shape
        per_point = POINT_WALL_COST[str(self.sweep_mode)]
        return self.points() * per_point + n_outer * n_set * SWEEP_WALL_COST + RUN_WALL_COST

    def estimated_wall_duration(self, speedup: float) -> float:
        """Wall seconds of the whole run at ``speedup`` (world s per wall s): its waits
        (:meth:`estimated_duration`, world s) over the speedup plus
        :meth:`talk_duration`."""
        return self.estimated_duration() / float(speedup) + self.talk_duration()

    def get_estimates(self) -> float:
        """pymeasure's estimator hook: the run's duration (world s)."""
        return self.estimated_duration()
