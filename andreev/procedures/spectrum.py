"""One dI/dV(V) spectrum at a setpoint, and the pymeasure procedure that takes it.

The sequence at the fridge (DESIGN.md): at (V_set, I_set) with the feedback on, wait
for the tip to settle; hold the feedback; sweep the bias (forward, optionally back);
at each point wait the lock-in's settling time for its time constant and slope, read
X, Y and the current; restore V_set, then the feedback. Or let the controller run the
whole sweep (``BiasSpectr``) when the experiment asks for ``sweep_mode: controller``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from andreev.procedures.base import SweepProcedure
from andreev.procedures.rig import Aborted, Rig

if TYPE_CHECKING:
    from andreev.storage import RunWriter

#: Nanonis signal names recorded by a controller-side sweep.
CONTROLLER_CHANNELS = ("Current (A)", "LI Demod 1 X (A)", "LI Demod 1 Y (A)")


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

    def write_to(self, book: RunWriter, i: int, j: int, k: int, status: str = "done") -> None:
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


#: sample-temperature readings per sweep (for the suspender), besides start and end
TEMPERATURE_READS_PER_SWEEP = 10


class NotRegulating(RuntimeError):
    """The tunnelling current did not reach the setpoint before the feedback was to be
    held (tip withdrawn, pinned at a Z limit, feedback saturated): no sweep is taken."""


#: how far (decades) the current may be from the setpoint when the feedback is held
REGULATION_TOLERANCE = 0.3
#: how long (in units of tip_settle, at least 10 s) to wait for regulation at most
REGULATION_PATIENCE = 10.0


def regulate(rig: Rig, setpoint_bias: float, tip_settle: float, should_stop) -> None:
    """Bias to V_set (V), feedback on, and wait until the current sits at the setpoint:
    ``tip_settle`` (s) at least, then up to ``REGULATION_PATIENCE`` times longer.

    Raises:
        NotRegulating: the current stayed more than REGULATION_TOLERANCE decades off.
    """
    rig.stm.bias(setpoint_bias)
    rig.stm.feedback(True)
    rig.sleep(tip_settle, should_stop)
    target = abs(float(rig.stm.setpoint()))
    waited, patience = 0.0, max(REGULATION_PATIENCE * tip_settle, 10.0)
    step = max(tip_settle, 0.5)
    while True:
        measured = abs(float(rig.stm.current()))
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
    rig.stm.bias(setpoint_bias)
    rig.stm.feedback(True)


class _SweepContext:
    """What both sweep modes read before and after a sweep: settling per point, the
    modulation, the preamp gain, the held z and the sample temperatures."""

    def __init__(
        self, rig: Rig, precision: float, setpoint_bias: float, tip_settle: float, should_stop
    ) -> None:
        self.settle = rig.lockin.settle_time(precision)
        self.v_mod = rig.lockin.modulation_rms
        self.temperatures = [rig.sample_temperature()]
        regulate(rig, setpoint_bias, tip_settle, should_stop)
        self.gain = float(rig.stm.preamp_gain())
        self.z = float(rig.stm.z())

    def finish(self, rig: Rig, records: list[SweepRecord]) -> list[SweepRecord]:
        self.temperatures.append(rig.sample_temperature())
        for record in records:
            record.temperature = float(np.mean(self.temperatures))
            record.temperature_range = (min(self.temperatures), max(self.temperatures))
        return records


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
    records: list[SweepRecord] = []
    every = max(1, bias.size // TEMPERATURE_READS_PER_SWEEP)
    try:
        rig.stm.feedback(False)
        for values in passes:
            started = time.time()
            x = np.empty(values.size)
            y = np.empty(values.size)
            current = np.empty(values.size)
            for n, v in enumerate(values):
                if should_stop():
                    raise Aborted("stop requested during a sweep")
                rig.stm.bias(float(v))
                rig.clock.sleep(ctx.settle)
                x[n], y[n] = rig.lockin.read_xy()
                current[n] = rig.stm.current()
                if n % every == every - 1:
                    ctx.temperatures.append(rig.sample_temperature())
                    if on_point is not None:
                        on_point(len(records) * values.size + n + 1, len(passes) * values.size)
            order = np.argsort(values, kind="stable")
            records.append(
                SweepRecord(
                    didv=rig.lockin.didv_from_x(x[order], ctx.gain, modulation_rms=ctx.v_mod),
                    x=x[order],
                    y=y[order],
                    current=current[order],
                    temperature=float("nan"),
                    z=ctx.z,
                    timestamp=started,
                    g_normal=float("nan"),
                )
            )
    finally:
        restore_setpoint(rig, setpoint_bias)
    return ctx.finish(rig, records)


def _channel(data: dict[str, np.ndarray], name: str, backward: bool) -> np.ndarray:
    """The controller's row for signal ``name`` ("Current (A)"), forward or backward
    (whatever the software version calls it: "Current [bwd] (A)", "Current (A) [bwd]")."""
    stem = name.split(" (")[0]
    for key, values in data.items():
        if key.startswith(stem) and ("[bwd]" in key) == backward:
            return np.asarray(values, dtype=float)
    raise KeyError(f"the controller returned no {'backward ' if backward else ''}{name!r}")


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
    """Let the STM controller run the sweep (``BiasSpectr``); one record per direction.

    The feedback is held by andreev before the sweep (whatever the controller's own
    Z-hold option says) and restored on every exit path. The controller's lock-in
    demodulates the current (A rms); X and Y are stored referred to the preamp output
    (× gain, V) so both modes share units. ``on_point`` is not called (the controller
    reports nothing until the sweep is over).
    """
    ctx = _SweepContext(rig, precision, setpoint_bias, tip_settle, should_stop)
    started = time.time()
    try:
        rig.stm.feedback(False)
        data = rig.stm.bias_spectroscopy(
            float(bias[0]),
            float(bias[-1]),
            int(bias.size),
            backward=backward,
            settling=ctx.settle,
            integration=0.0,
            channels=CONTROLLER_CHANNELS,
        )
    finally:
        restore_setpoint(rig, setpoint_bias)
    swept = np.asarray(data["Bias calc (V)"], dtype=float)
    order = np.argsort(swept, kind="stable")
    records = []
    for bwd in (False, True) if backward else (False,):
        lix = _channel(data, "LI Demod 1 X (A)", bwd)[order]
        liy = _channel(data, "LI Demod 1 Y (A)", bwd)[order]
        records.append(
            SweepRecord(
                didv=lix / ctx.v_mod,
                x=lix * ctx.gain,
                y=liy * ctx.gain,
                current=_channel(data, "Current (A)", bwd)[order],
                temperature=float("nan"),
                z=ctx.z,
                timestamp=started,
                g_normal=float("nan"),
            )
        )
    return ctx.finish(rig, records)


MEASURE = {"point": measure_point_by_point, "controller": measure_controller_side}


class BiasSpectrum(SweepProcedure):
    """One dI/dV(V) spectrum at the setpoint (``setpoint_bias``, ``setpoint_current``)."""

    # the grid of one spectrum is the base class's default: one outer step, one setpoint
