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

import numpy as np

from andreev.procedures.base import SweepProcedure
from andreev.procedures.rig import Aborted, Rig

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


#: sample-temperature readings per sweep (for the suspender), besides start and end
TEMPERATURE_READS_PER_SWEEP = 10


def settle_at_setpoint(rig: Rig, setpoint_bias: float, tip_settle: float, should_stop) -> float:
    """With the feedback regulating at ``setpoint_bias`` (V), wait ``tip_settle`` (s), then
    hold the feedback; return the held tip height z (m)."""
    rig.stm.bias(setpoint_bias)
    rig.stm.feedback(True)
    rig.sleep(tip_settle, should_stop)
    z = float(rig.stm.z())
    rig.stm.feedback(False)
    return z


def restore_setpoint(rig: Rig, setpoint_bias: float) -> None:
    """Bias back to V_set (V) with the feedback held, then the feedback on again."""
    rig.stm.bias(setpoint_bias)
    rig.stm.feedback(True)


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
    ``on_point(done, total)`` is called every tenth of the sweep. The feedback is
    restored on every exit path.
    """
    settle = rig.lockin.settle_time(precision)
    v_mod = rig.lockin.modulation_rms
    temperature_before = rig.sample_temperature()
    z = settle_at_setpoint(rig, setpoint_bias, tip_settle, should_stop)
    gain = float(rig.stm.preamp_gain())
    passes = [bias, bias[::-1]] if backward else [bias]
    records = []
    temperatures = [temperature_before]
    every = max(1, bias.size // TEMPERATURE_READS_PER_SWEEP)
    try:
        for values in passes:
            started = time.time()
            x = np.empty(values.size)
            y = np.empty(values.size)
            current = np.empty(values.size)
            for n, v in enumerate(values):
                if should_stop():
                    raise Aborted("stop requested during a sweep")
                rig.stm.bias(float(v))
                rig.clock.sleep(settle)
                x[n], y[n] = rig.lockin.read_xy()
                current[n] = rig.stm.current()
                if n % every == every - 1:
                    temperatures.append(rig.sample_temperature())
                    if on_point is not None:
                        on_point(len(records) * values.size + n + 1, len(passes) * values.size)
            order = np.argsort(values, kind="stable")
            records.append(
                SweepRecord(
                    didv=x[order] / (v_mod * gain),
                    x=x[order],
                    y=y[order],
                    current=current[order],
                    temperature=float("nan"),
                    z=z,
                    timestamp=started,
                    g_normal=float("nan"),
                )
            )
    finally:
        restore_setpoint(rig, setpoint_bias)
    temperatures.append(rig.sample_temperature())
    for record in records:
        record.temperature = float(np.mean(temperatures))
        record.temperature_range = (min(temperatures), max(temperatures))
    return records


def measure_controller_side(
    rig: Rig,
    bias: np.ndarray,
    *,
    setpoint_bias: float,
    backward: bool,
    precision: float,
    tip_settle: float,
    should_stop: Callable[[], bool],
) -> list[SweepRecord]:
    """Let the STM controller run the sweep (``BiasSpectr``); one record per direction.

    The controller's own lock-in demodulates the current (A rms); X and Y are stored
    referred to the preamp output (× gain, V) so both modes share units.
    """
    settle = rig.lockin.settle_time(precision)
    v_mod = rig.lockin.modulation_rms
    temperature_before = rig.sample_temperature()
    rig.stm.bias(setpoint_bias)
    rig.stm.feedback(True)
    rig.sleep(tip_settle, should_stop)
    z = float(rig.stm.z())
    gain = float(rig.stm.preamp_gain())
    started = time.time()
    data = rig.stm.bias_spectroscopy(
        float(bias[0]),
        float(bias[-1]),
        int(bias.size),
        backward=backward,
        settling=settle,
        integration=0.0,
        channels=CONTROLLER_CHANNELS,
    )
    restore_setpoint(rig, setpoint_bias)
    temperature_after = rig.sample_temperature()
    temperature = 0.5 * (temperature_before + temperature_after)
    extremes = (
        min(temperature_before, temperature_after),
        max(temperature_before, temperature_after),
    )
    records = []
    for suffix in ("", " [bwd]") if backward else ("",):
        lix = np.asarray(data[f"LI Demod 1 X (A){suffix}"], dtype=float)
        liy = np.asarray(data[f"LI Demod 1 Y (A){suffix}"], dtype=float)
        cur = np.asarray(data[f"Current (A){suffix}"], dtype=float)
        swept = np.asarray(data["Bias calc (V)"], dtype=float)
        order = np.argsort(swept, kind="stable")
        records.append(
            SweepRecord(
                didv=lix[order] / v_mod,
                x=lix[order] * gain,
                y=liy[order] * gain,
                current=cur[order],
                temperature=temperature,
                z=z,
                timestamp=started,
                g_normal=float("nan"),
                temperature_range=extremes,
            )
        )
    return records


MEASURE = {"point": measure_point_by_point, "controller": measure_controller_side}


class BiasSpectrum(SweepProcedure):
    """One dI/dV(V) spectrum at the setpoint (``setpoint_bias``, ``setpoint_current``)."""

    # the grid of one spectrum is the base class's default: one outer step, one setpoint
