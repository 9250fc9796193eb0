"""The sweep engine every procedure shares.

A run is a grid of sweeps: outer step (temperature, tip position, a field …) ×
setpoint current × direction. :class:`SweepProcedure` walks that grid in order and,
for each sweep:

- skips it when the run file already holds it (``--resume``), so a finished sweep is
  never taken twice;
- approaches the setpoint through the driver's safe, gain-switching approach;
- takes the sweep, then checks the suspenders (temperature out of its band, lock-in
  overload): a sweep taken under bad conditions is retaken once the condition is
  gone (after re-ranging the lock-in), at most ``max_retakes`` times;
- writes it to the run file (flushed and fsynced: the checkpoint).

Subclasses declare their parameters (pymeasure, typed, with units and ranges) and
override the hooks: :meth:`setpoints`, :meth:`outer_axis`, :meth:`enter_outer`,
:meth:`condition_problem`, :meth:`wait_for_conditions`, :meth:`limit_problems`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pymeasure.experiment import (
    BooleanParameter,
    FloatParameter,
    IntegerParameter,
    ListParameter,
    Procedure,
)

from andreev.instruments.safety import SafetyLimits
from andreev.procedures.rig import Aborted, Rig

if TYPE_CHECKING:
    from andreev.procedures.spectrum import SweepRecord
    from andreev.storage import RunWriter

log = logging.getLogger(__name__)

#: Filter slopes of the SR830 (dB/oct) and the number of poles each means.
SLOPE_POLES = {6: 1, 12: 2, 18: 3, 24: 4}


@dataclass
class OuterAxis:
    """The outer stepper: a name, a unit, one value per step and optional extra
    per-step coordinates (``{"x": (values, "m")}`` for tip positions)."""

    name: str
    unit: str
    values: np.ndarray
    extra: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)


@dataclass
class LimitProblem:
    """An experiment value outside a safety limit: the experiment key, the message."""

    key: str
    message: str


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

    #: set by the runner before execute()
    rig: Rig | None = None
    book: RunWriter | None = None
    #: per-sweep progress callback (done_sweeps, total_sweeps, seconds of the last sweep)
    progress: Callable[[int, int, float], None] | None = None

    # ---- the grid ------------------------------------------------------------------
    def bias_values(self) -> np.ndarray:
        """The bias axis (V), ascending."""
        values = np.linspace(self.bias_start, self.bias_stop, int(self.bias_points))
        return np.sort(values)

    def directions(self) -> tuple[str, ...]:
        """("forward",) or ("forward", "backward")."""
        return ("forward", "backward") if self.backward else ("forward",)

    def setpoints(self) -> np.ndarray:
        """Setpoint currents (A), in the order they are taken."""
        return np.array([float(self.setpoint_current)])

    def outer_axis(self) -> OuterAxis:
        """The outer stepper; a single step named "step" when there is none."""
        return OuterAxis("step", "", np.array([0.0]))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(outer steps, setpoints, directions)."""
        return (len(self.outer_axis().values), len(self.setpoints()), len(self.directions()))

    # ---- hooks -----------------------------------------------------------------------
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

    def limit_problems(
        self, safety: SafetyLimits, station_extra: dict[str, Any]
    ) -> list[LimitProblem]:
        """Every value of the plan checked against the safety limits (nothing moves).

        ``station_extra`` maps instrument names to their ``init`` sections of the
        station file (the lock-in's modulation_divider, the bridge's bands).
        """
        problems = []
        for key, value in (("bias_start", self.bias_start), ("bias_stop", self.bias_stop)):
            if abs(value) > safety.max_bias:
                problems.append(
                    LimitProblem(
                        key, f"{value:g} V exceeds safety.max_bias = ±{safety.max_bias:g} V"
                    )
                )
        if not safety.min_feedback_bias <= abs(self.setpoint_bias) <= safety.max_bias:
            problems.append(
                LimitProblem(
                    "setpoint_bias",
                    f"|{self.setpoint_bias:g}| V must lie between safety.min_feedback_bias = "
                    f"{safety.min_feedback_bias:g} V and safety.max_bias = {safety.max_bias:g} V "
                    "(the feedback regulates there)",
                )
            )
        for key, current in (
            ("tunnelling_current", self.tunnelling_current),
            *self._setpoint_keys(),
        ):
            if current > safety.max_setpoint_current:
                problems.append(
                    LimitProblem(
                        key,
                        f"{current:g} A exceeds safety.max_setpoint_current = "
                        f"{safety.max_setpoint_current:g} A",
                    )
                )
        divider = float((station_extra.get("lockin") or {}).get("modulation_divider", 1e-3))
        slvl = float(self.modulation_rms) / divider
        if not 0.004 <= slvl <= 5.0:
            problems.append(
                LimitProblem(
                    "modulation_rms",
                    f"{self.modulation_rms:g} V needs an SR830 amplitude of "
                    f"{slvl:g} V with modulation_divider {divider:g}; the SR830 gives 0.004 … 5 V",
                )
            )
        if np.sqrt(2) * float(self.modulation_rms) > safety.max_bias:
            problems.append(
                LimitProblem(
                    "modulation_rms",
                    f"peak modulation {np.sqrt(2) * self.modulation_rms:g} V "
                    f"exceeds safety.max_bias = {safety.max_bias:g} V",
                )
            )
        if self.safe_heater_range > safety.max_heater_range:
            problems.append(
                LimitProblem(
                    "safe_heater_range",
                    f"{self.safe_heater_range} exceeds "
                    f"safety.max_heater_range = {safety.max_heater_range}",
                )
            )
        return problems

    def _setpoint_keys(self) -> list[tuple[str, float]]:
        return [("setpoint_current", float(self.setpoint_current))]

    # ---- estimates ---------------------------------------------------------------------
    def settle_time(self) -> float:
        """Lock-in settling per point (s) for the configured time constant and slope."""
        from andreev.instruments.sr830 import settle_time_constants

        poles = SLOPE_POLES[int(self.lockin_slope)]
        return settle_time_constants(poles, float(self.settle_precision)) * float(
            self.lockin_time_constant
        )

    def sweep_duration(self) -> float:
        """World seconds one (outer, setpoint) sweep takes, both directions (s)."""
        points = int(self.bias_points) * len(self.directions())
        return float(self.tip_settle) + points * self.settle_time()

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

    def get_estimates(self) -> float:
        """pymeasure's estimator hook: the run's duration (world s)."""
        return self.estimated_duration()

    # ---- pymeasure lifecycle ---------------------------------------------------------
    def startup(self) -> None:
        """Bring the tip to the tunnelling setpoint at V_set (whatever state a cut run left
        it in), then configure the lock-in as the experiment asks."""
        rig = self._rig()
        rig.stm.safe_state(float(self.setpoint_bias), float(self.tunnelling_current))
        rig.lockin.frequency(float(self.lockin_frequency))
        rig.lockin.modulation_rms = float(self.modulation_rms)
        rig.lockin.time_constant(float(self.lockin_time_constant))
        rig.lockin.filter_slope(int(self.lockin_slope))

    def execute(self) -> None:
        """Walk the grid (outer × setpoint), skipping what the run file already holds."""
        rig, book = self._rig(), self._book()
        n_outer, n_set, n_dir = self.shape
        total = n_outer * n_set
        setpoints = self.setpoints()
        done = self._count_done()
        for i in range(n_outer):
            if self._all_done(i):
                continue
            self._check_stop()
            if not self.enter_outer(i):
                log.warning("outer step %d skipped: conditions could not be reached", i)
                for j in range(n_set):
                    for k in range(n_dir):
                        if book.sweep_status()[i, j, k] not in ("done", "retaken"):
                            book.set_status(i, j, k, "failed")
                continue
            for j, current in enumerate(setpoints):
                if self._all_done(i, j):
                    continue
                self._check_stop()
                self.approach(float(current))
                started = rig.clock.now()
                self._take_sweep(i, j, float(current))
                done += 1
                if self.progress is not None:
                    self.progress(done, total, rig.clock.now() - started)
                self.emit("progress", 100.0 * done / total)

    def shutdown(self) -> None:
        """Leave the instruments safe; called on every exit path."""
        rig = self.rig
        if rig is None:
            return
        errors = []
        for action in (
            lambda: rig.stm.safe_state(float(self.setpoint_bias), float(self.tunnelling_current)),
            lambda: rig.bridge.safe_state(int(self.safe_heater_range)),
        ):
            try:
                action()
            except BaseException as exc:  # even a KeyboardInterrupt: make the other safe too
                log.exception("safe state failed")
                errors.append(exc)
        if errors:
            raise errors[0]

    def approach(self, current: float) -> None:
        """Walk the setpoint to ``current`` (A) with the driver's safe approach."""
        self._rig().stm.approach_setpoint(
            float(current),
            steps_per_decade=int(self.approach_steps_per_decade),
            settle=float(self.approach_settle),
        )

    # ---- one sweep ---------------------------------------------------------------------
    def _take_sweep(self, i: int, j: int, current: float) -> None:
        from andreev.procedures.spectrum import MEASURE, NotRegulating

        rig = self._rig()
        measure = MEASURE[str(self.sweep_mode)]
        g_normal = current / abs(float(self.setpoint_bias))
        attempts = overloads = 0
        wait_first = False  # after a temperature excursion: pause until stable again
        while True:
            problem = self.condition_problem(i)
            if problem is not None or wait_first:
                log.warning(
                    "paused before sweep (%d, %d): %s; tip back to tunnelling meanwhile",
                    i,
                    j,
                    problem or "waiting for the temperature to settle again",
                )
                self.approach(float(self.tunnelling_current))
                if not self.wait_for_conditions(i):
                    self._mark(i, j, "failed")
                    return
                self.approach(current)
            # range on the signal at V_set with headroom for the peaks; after an
            # overload, twice the headroom per overload
            rig.lockin.autorange_settled(
                precision=float(self.settle_precision),
                headroom=float(self.lockin_headroom) * 2.0**overloads,
            )
            try:
                records = measure(
                    rig,
                    self.bias_values(),
                    setpoint_bias=float(self.setpoint_bias),
                    backward=bool(self.backward),
                    precision=float(self.settle_precision),
                    tip_settle=float(self.tip_settle),
                    should_stop=self.should_stop,
                    on_point=getattr(self.progress, "sweep_progress", None),
                )
            except NotRegulating as exc:
                attempts += 1
                log.warning("sweep (%d, %d) not taken: %s (attempt %d)", i, j, exc, attempts)
                if attempts > int(self.max_retakes):
                    self._mark(i, j, "failed")
                    return
                self.approach(float(self.tunnelling_current))
                self.approach(current)
                continue
            overloaded = bool(rig.lockin.overloaded())
            problem = "lock-in overload" if overloaded else self.sweep_problem(i, records)
            wait_first = problem is not None and not overloaded
            overloads += overloaded
            status = "retaken" if attempts else "done"
            if problem is not None:
                attempts += 1
                status = "failed"
                log.warning("sweep (%d, %d) disturbed: %s (attempt %d)", i, j, problem, attempts)
            for k, record in enumerate(records):
                record.g_normal = g_normal
                record.write_to(self._book(), i, j, k, status)
            if problem is None or attempts > int(self.max_retakes):
                return

    def _mark(self, i: int, j: int, status: str) -> None:
        for k in range(len(self.directions())):
            self._book().set_status(i, j, k, status)

    def _all_done(self, i: int, j: int | None = None) -> bool:
        status = self._book().sweep_status()[i] if j is None else self._book().sweep_status()[i, j]
        return bool(np.isin(status, ("done", "retaken")).all())

    def _count_done(self) -> int:
        status = self._book().sweep_status()
        return int(np.isin(status, ("done", "retaken")).all(axis=-1).sum())

    def _check_stop(self) -> None:
        if self.should_stop():
            raise Aborted("stop requested")

    def _rig(self) -> Rig:
        if self.rig is None:
            raise RuntimeError(f"{type(self).__name__} has no instruments: run it via the runner")
        return self.rig

    def _book(self) -> RunWriter:
        if self.book is None:
            raise RuntimeError(f"{type(self).__name__} has no run file: run it via the runner")
        return self.book
