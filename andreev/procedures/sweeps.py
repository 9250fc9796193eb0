"""What one sweep is: the bias swept point by point, or by the STM controller.

The sequence at the fridge (``docs/physics.md``): at (V_set, I_set) with the feedback
on, wait for the tip to settle; hold the feedback; sweep the bias (forward, optionally
back); at each point wait the lock-in's settling time for its time constant and slope,
read X, Y and the current; restore V_set, then the feedback. Or let the controller run
the whole sweep when the experiment asks for ``sweep_mode: controller``.

The instruments are seen through the role Protocols only (``rig.lockin``, ``rig.stm``,
``rig.bridge``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from andreev.engine.plan import NotRegulating, SweepRecord
from andreev.engine.rig import Rig
from andreev.errors import Aborted

#: sample-temperature readings per sweep (for the suspender), besides start and end
TEMPERATURE_READS_PER_SWEEP = 10
#: how far (decades) the current may be from the setpoint when the feedback is held
REGULATION_TOLERANCE = 0.3
#: how long (in units of tip_settle, at least 10 s) to wait for regulation at most
REGULATION_PATIENCE = 10.0


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


def _one_pass(
    rig: Rig,
    ctx: _SweepContext,
    values: np.ndarray,
    should_stop: Callable[[], bool],
    on_point: Callable[[int], None],
) -> SweepRecord:
    """Sweep ``values`` (V) in their order; the record is sorted by bias."""
    started = time.time()
    x, y, current = np.empty(values.size), np.empty(values.size), np.empty(values.size)
    every = max(1, values.size // TEMPERATURE_READS_PER_SWEEP)
    for n, v in enumerate(values):
        if should_stop():
            raise Aborted("stop requested during a sweep")
        rig.stm.set_bias(float(v))
        rig.clock.sleep(ctx.settle)
        x[n], y[n] = rig.lockin.read_xy()
        current[n] = rig.stm.read_current()
        if n % every == every - 1:
            ctx.temperatures.append(rig.sample_temperature())
            on_point(n + 1)
    order = np.argsort(values, kind="stable")
    didv = rig.lockin.didv_from_x(x[order], ctx.gain, modulation_rms=ctx.v_mod)
    return ctx.record(np.asarray(didv), x[order], y[order], current[order], started)


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
) -> list[SweepRecord]:
    """Sweep ``bias`` (V, ascending) point by point; one record per direction.

    The lock-in's settling time for ``precision`` is waited at every point (world time).
    ``on_point(done, total)`` is called every tenth of the sweep. The feedback is held
    for the sweep and restored on every exit path.
    """
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

            records.append(_one_pass(rig, ctx, values, should_stop, report))
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
