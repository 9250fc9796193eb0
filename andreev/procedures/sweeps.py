"""What one sweep is: the bias swept point by point, or by the STM controller.

The sequence at the fridge (``docs/physics.md``): at (V_set, I_set) with the feedback
on, wait for the tip to settle; hold the feedback; sweep the bias (forward, optionally
back); at each point wait the lock-in's settling time for its time constant and slope,
read X, Y and the current; restore V_set, then the feedback. Or let the controller run
the whole sweep when the experiment asks for ``sweep_mode: controller``.

The instruments are seen through the role Protocols only (``rig.lockin``, ``rig.stm``,
``rig.bridge``).

A point costs two exposed round trips (:class:`_LeanPoint`): the bias write and the
lock-in read, the current read inside the settling window (or, when the window is too
short for that, the lock-in read and then the current with the next point's bias write
in one message). The whole path is checked against the limits before the sweep starts
(:func:`check_sweep_path`; every write still passes the driver's guard), the settling
deadline starts when the bias write is confirmed, the sample temperature (every tenth of
the sweep) is read inside the window, and the end of the wait spins
(:meth:`andreev.clock.Clock.wait_until`). :func:`_reference_point` is the plain point
(write, wait, read X/Y, read the current), kept as the reference the lean one is
tested against.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from andreev.engine.plan import NotRegulating, SweepRecord
from andreev.engine.rig import Rig
from andreev.errors import Aborted
from andreev.instruments.safety import SafetyLimits

#: sample-temperature readings per sweep (for the suspender), besides start and end
TEMPERATURE_READS_PER_SWEEP = 10
#: how far (decades) the current may be from the setpoint when the feedback is held
REGULATION_TOLERANCE = 0.3
#: how long (in units of tip_settle, at least 10 s) to wait for regulation at most
REGULATION_PATIENCE = 10.0
#: wall seconds before the settling deadline at which the current is read (at least;
#: twice the last read's duration when that is longer), so the read ends inside the window
CURRENT_LEAD = 2e-3
#: shortest settling (wall s) in which the current is read inside the window; in a
#: shorter one it goes in one message with the next bias write (:class:`_LeanPoint`)
IN_WINDOW_MIN = 10e-3


def check_sweep_path(safety: SafetyLimits, bias: np.ndarray, setpoint_bias: float) -> None:
    """Check a whole sweep against the limits before anything moves (SafetyError): every
    bias (V) within ±max_bias with the feedback held, V_set (V) where the feedback may
    regulate. The driver still guards every single write."""
    safety.check_bias(float(np.max(bias)), feedback_on=False)
    safety.check_bias(float(np.min(bias)), feedback_on=False)
    safety.check_bias(float(setpoint_bias), feedback_on=True)


def regulate(
    rig: Rig, setpoint_bias: float, tip_settle: float, should_stop: Callable[[], bool]
) -> None:
    """Bias to V_set (V), feedback on, and wait until the current sits at the setpoint:
    ``tip_settle`` (s) at least, then up to ``REGULATION_PATIENCE`` times longer.

    Raises:
        NotRegulating: the current stayed more than REGULATION_TOLERANCE decades off.
    """
    rig.stm.set_bias(setpoint_bias)
    rig.stm.set_feedback(True)
    rig.sleep(tip_settle, should_stop)
    target = abs(float(rig.stm.get_setpoint()))
    waited, patience = 0.0, max(REGULATION_PATIENCE * tip_settle, 10.0)
    step = max(tip_settle, 0.5)
    while True:
        measured = abs(float(rig.stm.read_current()))
        off = abs(np.log10(max(measured, 1e-16) / target))
        if off <= REGULATION_TOLERANCE:
            return
        if waited >= patience:
            raise NotRegulating(
                f"current {measured:.3g} A is {off:.1f} decades from the setpoint "
                f"{target:.3g} A after {waited + tip_settle:.3g} s of regulation"
            )
        rig.sleep(step, should_stop)
        waited += step


def restore_setpoint(rig: Rig, setpoint_bias: float) -> None:
    """Bias back to V_set (V) with the feedback held, then the feedback on again."""
    rig.stm.set_bias(setpoint_bias)
    rig.stm.set_feedback(True)


class _SweepContext:
    """What both sweep modes read before and after a sweep: settling per point, the
    modulation, the preamp gain, the held z and the sample temperatures."""

    def __init__(
        self,
        rig: Rig,
        precision: float,
        setpoint_bias: float,
        tip_settle: float,
        should_stop: Callable[[], bool],
    ) -> None:
        # the lock-in driver keeps τ, slope and amplitude as last set or read: no query
        self.settle = rig.lockin.settle_time(precision)
        self.v_mod = rig.lockin.modulation_rms
        self.temperatures = [rig.sample_temperature()]
        regulate(rig, setpoint_bias, tip_settle, should_stop)
        self.gain = float(rig.stm.get_preamp_gain())
        self.z = float(rig.stm.get_z())

    def record(
        self, didv: np.ndarray, x: np.ndarray, y: np.ndarray, current: np.ndarray, started: float
    ) -> SweepRecord:
        """A record of one direction (temperature filled in by :meth:`finish`)."""
        return SweepRecord(
            didv=didv,
            x=x,
            y=y,
            current=current,
            temperature=float("nan"),
            z=self.z,
            timestamp=started,
            g_normal=float("nan"),
        )

    def finish(self, rig: Rig, records: list[SweepRecord]) -> list[SweepRecord]:
        """Read the sample once more; give every record the mean and range (K)."""
        self.temperatures.append(rig.sample_temperature())
        for record in records:
            record.temperature = float(np.mean(self.temperatures))
            record.temperature_range = (min(self.temperatures), max(self.temperatures))
        return records


class Measure(Protocol):
    """A sweep mode: ``bias`` (V, ascending) swept at the present setpoint."""

    def __call__(
        self,
        rig: Rig,
        bias: np.ndarray,
        *,
        setpoint_bias: float,
        backward: bool,
        precision: float,
        tip_settle: float,
        should_stop: Callable[[], bool],
        on_point: Callable[[int, int], None] | None = None,
    ) -> list[SweepRecord]: ...


Point = Callable[[float, float | None, bool], tuple[float, float, float]]
"""One point at a bias (V), knowing the next point's bias (V, None at the end of a pass)
and reading the temperature too when told: (X, Y, current)."""


class _LeanPoint:
    """A point at two exposed round trips, whatever the settling.

    A settling window longer than :data:`IN_WINDOW_MIN` (wall s): the bias write starts
    the deadline, the temperature (when due) and the current, :data:`CURRENT_LEAD`
    before the deadline, are read inside the window, the wait ends in a spin, X and Y
    are read at the deadline: the bias write and the lock-in read are exposed.

    A shorter window (replays at a high speedup): X and Y at the deadline, then the
    current and the next point's bias write in one message
    (``read_current_then_set_bias``; the current is read, as in the reference, after X
    and Y, still at this point's bias), which starts the next deadline: the lock-in
    read and that message are exposed. A controller without the paired call gets the
    two requests one by one.
    """

    def __init__(self, rig: Rig, ctx: _SweepContext) -> None:
        self.rig, self.ctx = rig, ctx
        self.lead = CURRENT_LEAD  # wall s before the deadline the current is asked
        long_window = ctx.settle / rig.clock.speedup >= IN_WINDOW_MIN
        self.pair = None if long_window else getattr(rig.stm, "read_current_then_set_bias", None)
        self.written: float | None = None  # the bias the previous point wrote (V)
        self.written_at = 0.0  # world s, when that write was confirmed

    def __call__(
        self, bias: float, following: float | None, temperature: bool
    ) -> tuple[float, float, float]:
        rig, clock = self.rig, self.rig.clock
        if self.written != bias:
            rig.stm.set_bias(bias)
            self.written_at = clock.now()
        deadline = self.written_at + self.ctx.settle  # world s
        if temperature:
            self.ctx.temperatures.append(rig.sample_temperature())
        if self.pair is None:
            return self._in_window(deadline)
        clock.wait_until(deadline)
        x, y = rig.lockin.read_xy()
        if following is None:
            self.written = None
            return x, y, rig.stm.read_current()
        current = self.pair(following)
        self.written, self.written_at = following, clock.now()
        return x, y, current

    def _in_window(self, deadline: float) -> tuple[float, float, float]:
        """The current read inside the settling window, then X and Y at the deadline."""
        rig, clock = self.rig, self.rig.clock
        self.written = None
        clock.wait_until(deadline - self.lead * clock.speedup)
        asked = time.perf_counter()
        current = rig.stm.read_current()
        self.lead = max(CURRENT_LEAD, 2.0 * (time.perf_counter() - asked))
        clock.wait_until(deadline)
        x, y = rig.lockin.read_xy()
        return x, y, current


def _reference_point(rig: Rig, ctx: _SweepContext) -> Point:
    """The plain point, the reference of :class:`_LeanPoint`: write the bias, sleep the
    settling time, read X/Y, read the current, then the temperature when due."""

    def point(
        bias: float, following: float | None, temperature: bool
    ) -> tuple[float, float, float]:
        rig.stm.set_bias(bias)
        rig.clock.sleep(ctx.settle)
        x, y = rig.lockin.read_xy()
        current = rig.stm.read_current()
        if temperature:
            ctx.temperatures.append(rig.sample_temperature())
        return x, y, current

    return point


#: the point-by-point loops: the lean one, and the plain reference it is tested against
POINTS: dict[str, Callable[[Rig, _SweepContext], Point]] = {
    "lean": _LeanPoint,
    "reference": _reference_point,
}


def _one_pass(
    rig: Rig,
    ctx: _SweepContext,
    values: np.ndarray,
    should_stop: Callable[[], bool],
    on_point: Callable[[int], None],
    point: Point,
) -> SweepRecord:
    """Sweep ``values`` (V) in their order, ``point`` at each; the temperature is read
    every tenth of the sweep. The record is sorted by bias, with dI/dV from X."""
    started = time.time()
    rows = np.empty((values.size, 3))  # X, Y, current
    every = max(1, values.size // TEMPERATURE_READS_PER_SWEEP)
    biases = values.tolist()
    following: list[float | None] = [*biases[1:], None]
    for n, v in enumerate(biases):
        if should_stop():
            raise Aborted("stop requested during a sweep")
        due = n % every == every - 1
        rows[n] = point(v, following[n], due)
        if due:
            on_point(n + 1)
    order = np.argsort(values, kind="stable")
    x, y, current = (np.ascontiguousarray(column) for column in rows[order].T)
    didv = rig.lockin.didv_from_x(x, ctx.gain, modulation_rms=ctx.v_mod)
    return ctx.record(np.asarray(didv), x, y, current, started)


def measure_point_by_point(
    rig: Rig,
    bias: np.ndarray,
    *,
    setpoint_bias: float,
    backward: bool,
    precision: float,
    tip_settle: float,
    should_stop: Callable[[], bool],
    on_point: Callable[[int, int], None] | None = None,
    loop: str = "lean",
) -> list[SweepRecord]:
    """Sweep ``bias`` (V, ascending) point by point; one record per direction.

    The whole path is checked against the limits first (SafetyError, nothing moved).
    The lock-in's settling time for ``precision`` is waited at every point (world time).
    ``on_point(done, total)`` is called every tenth of the sweep. The feedback is held
    for the sweep and restored on every exit path. ``loop``: "lean" (:class:`_LeanPoint`)
    or "reference" (:func:`_reference_point`).
    """
    make_point = POINTS[loop]
    check_sweep_path(rig.safety, bias, setpoint_bias)
    ctx = _SweepContext(rig, precision, setpoint_bias, tip_settle, should_stop)
    passes = [bias, bias[::-1]] if backward else [bias]
    total = len(passes) * bias.size
    records: list[SweepRecord] = []
    try:
        rig.stm.set_feedback(False)
        for values in passes:
            before = len(records) * values.size

            def report(n: int, before: int = before) -> None:
                if on_point is not None:
                    on_point(before + n, total)

            point = make_point(rig, ctx)
            records.append(_one_pass(rig, ctx, values, should_stop, report, point))
    finally:
        restore_setpoint(rig, setpoint_bias)
    return ctx.finish(rig, records)


def measure_controller_side(
    rig: Rig,
    bias: np.ndarray,
    *,
    setpoint_bias: float,
    backward: bool,
    precision: float,
    tip_settle: float,
    should_stop: Callable[[], bool],
    on_point: Callable[[int, int], None] | None = None,
) -> list[SweepRecord]:
    """Let the STM controller run the sweep; one record per direction.

    The feedback is held by andreev before the sweep (whatever the controller's own
    Z-hold option says) and restored on every exit path. The controller's lock-in
    demodulates the current (A rms); X and Y are stored referred to the preamp output
    (× gain, V) so both modes share units. ``on_point`` is not called (the controller
    reports nothing until the sweep is over).
    """
    check_sweep_path(rig.safety, bias, setpoint_bias)
    ctx = _SweepContext(rig, precision, setpoint_bias, tip_settle, should_stop)
    started = time.time()
    try:
        rig.stm.set_feedback(False)
        sweep = rig.stm.controller_sweep(
            float(bias[0]), float(bias[-1]), int(bias.size), backward=backward, settling=ctx.settle
        )
    finally:
        restore_setpoint(rig, setpoint_bias)
    order = np.argsort(np.asarray(sweep.bias, dtype=float), kind="stable")
    records = []
    for rows in (sweep.forward, sweep.backward) if backward else (sweep.forward,):
        lix = np.asarray(rows["x"], dtype=float)[order]
        liy = np.asarray(rows["y"], dtype=float)[order]
        current = np.asarray(rows["current"], dtype=float)[order]
        records.append(
            ctx.record(lix / ctx.v_mod, lix * ctx.gain, liy * ctx.gain, current, started)
        )
    return ctx.finish(rig, records)


MEASURE: dict[str, Measure] = {
    "point": measure_point_by_point,
    "controller": measure_controller_side,
}
