"""Walking the STM setpoint in log steps with the feedback on (the safe approach).

:func:`approach_setpoint` plans every step and checks it against the limits before
anything is sent, then switches the preamp gain before the current would clip, arms the
Z limits around the expected tip path and watches every step: the tip travel must match
the prediction of the tunnelling barrier (:func:`decade_length`), the current must
follow the setpoint. On an anomaly the tip is withdrawn and :class:`ApproachError`
raised with the steps taken.

The algorithm talks to the controller through :class:`ApproachController` (the
:class:`~andreev.instruments.nanonis.driver.NanonisSTM` driver fills it). Units SI
(A, V, m); times in world seconds on the controller's clock.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from andreev.clock import Clock
from andreev.errors import InstrumentError
from andreev.instruments.nanonis.gains import Gains
from andreev.instruments.safety import SafetyLimits
from andreev.physics import E_CHARGE, HBAR, M_ELECTRON

__all__ = [
    "ApproachController",
    "ApproachError",
    "ApproachPlan",
    "ApproachStep",
    "approach_setpoint",
    "decade_length",
    "plan_approach",
    "restore_z_limits",
    "widened_z_limits",
]

log = logging.getLogger(__name__)


def decade_length(barrier_height: float = 4.5) -> float:
    """Tip travel (m) per decade of tunnelling current for a barrier ``barrier_height``
    (eV): ``ln 10 / 2κ`` with ``κ = sqrt(2 m φ)/ħ`` (≈1.06 Å at 4.5 eV)."""
    kappa = math.sqrt(2.0 * M_ELECTRON * barrier_height * E_CHARGE) / HBAR
    return math.log(10.0) / (2.0 * kappa)


@dataclass(frozen=True)
class ApproachStep:
    """One step of :func:`approach_setpoint` (SI units).

    Attributes: setpoint (A), z after settling (m), gain (V/A) in use, current (A)
    measured after settling, predicted_dz and dz (m) of this step, time (world s).
    """

    setpoint: float
    z: float
    gain: float
    current: float
    predicted_dz: float
    dz: float
    time: float


class ApproachError(InstrumentError):
    """``approach_setpoint`` stopped on an anomaly; the tip was withdrawn.

    Attributes: ``steps`` (the :class:`ApproachStep` record up to and including the
    offending step), ``reason`` (str)."""

    def __init__(self, reason: str, steps: list[ApproachStep]) -> None:
        super().__init__(f"approach stopped and tip withdrawn: {reason}")
        self.reason = reason
        self.steps = steps


class ApproachController(Protocol):
    """What the approach needs from an STM controller (SI units, world seconds)."""

    safety: SafetyLimits
    clock: Clock
    barrier_height: float

    def get_bias(self) -> float: ...
    def get_setpoint(self) -> float: ...
    def get_z(self) -> float: ...
    def read_current(self) -> float: ...
    def read_gains(self) -> Gains: ...
    def gain_for(self, current: float, gains: Sequence[float] | None = None) -> float: ...
    def max_current(self, gain: float) -> float: ...
    def clip_current(self, gain: float) -> float: ...
    def feedback_on(self) -> bool: ...
    def switch_gain(self, gains: Gains, value: float, *, feedback: bool, settle: float) -> None: ...
    def send_setpoint(self, setpoint: float) -> None: ...
    def regulate(self, on: bool) -> None: ...
    def get_z_limits(self) -> tuple[float, float]: ...
    def set_z_limits(self, limits: Sequence[float]) -> None: ...
    def enable_z_limits(self, on: bool) -> None: ...
    def withdraw(self, wait: bool = True, timeout: float = 10.0) -> None: ...


@dataclass(frozen=True)
class ApproachPlan:
    """The setpoints of an approach, all checked against the limits.

    Attributes:
        start: the setpoint to start from (A, the target's sign).
        start_changed: the present setpoint is zero or of the other sign: ``start`` must
            be written first.
        decades: log10(|target| / |start|).
        setpoints: the setpoints of the steps (A), ending at the target.
        gains: the preamp gains when planned.
    """

    start: float
    start_changed: bool
    decades: float
    setpoints: list[float]
    gains: Gains


@dataclass
class _Walk:
    """The state of an approach under way."""

    gains: Gains
    gain: float
    setpoint: float
    z: float
    old_limits: tuple[float, float]
    steps: list[ApproachStep] = field(default_factory=list)


def plan_approach(stm: ApproachController, target: float, steps_per_decade: int) -> ApproachPlan:
    """Plan the walk to ``target`` (A); only queries are sent. Raises SafetyError when
    the target, a step, or the present bias (|V| < min_feedback_bias) is refused, or no
    preamp gain can carry the target; ValueError for a zero target or no steps."""
    target = float(target)
    if target == 0 or not math.isfinite(target):
        raise ValueError(f"target setpoint must be non-zero and finite, got {target!r}")
    if steps_per_decade < 1:
        raise ValueError("steps_per_decade must be ≥ 1")
    stm.safety.check_setpoint(target)
    stm.safety.check_bias(stm.get_bias(), feedback_on=True)
    gains = stm.read_gains()
    stm.gain_for(target, gains.values)  # raises if no gain can carry the target
    start = stm.get_setpoint()
    sign = math.copysign(1.0, target)
    start_changed = start == 0 or start * target < 0
    if start_changed:
        start = sign * min(abs(target), stm.max_current(gains.gain))
    decades = math.log10(abs(target) / abs(start))
    n = math.ceil(abs(decades) * steps_per_decade - 1e-3)
    plan = [sign * abs(start) * 10 ** (decades * k / n) for k in range(1, n + 1)]
    for sp in plan:
        stm.safety.check_setpoint(sp)
    return ApproachPlan(sign * abs(start), start_changed, decades, plan, gains)


def _start_regulating(
    stm: ApproachController, plan: ApproachPlan, settle: float, gain_settle: float
) -> float:
    """Make the gain and the setpoint safe for the start, switch the feedback on if it
    was off; returns the gain (V/A) in use."""
    gain = plan.gains.gain
    fb_on = stm.feedback_on()
    if not fb_on or abs(plan.start) > stm.max_current(gain):
        need = stm.gain_for(plan.start, plan.gains.values)
        if need != gain:
            stm.switch_gain(plan.gains, need, feedback=fb_on, settle=gain_settle)
            gain = need
    if plan.start_changed:
        stm.send_setpoint(plan.start)
    if not fb_on:
        stm.regulate(True)
        stm.clock.sleep(settle)
    return gain


def _land(
    stm: ApproachController, start: float, settle: float, timeout: float, tolerance: float
) -> float | None:
    """Wait (polling every ``settle`` world s, up to ``timeout``) until the current is
    within ``tolerance`` decades of the start setpoint ``start`` (A): the tip regulates
    there, so its height is a sound origin for the Z window. Returns the current (A), or
    None when it never got there (a withdrawn tip still coming down, a tip held at a Z
    limit, a clipping preamp)."""
    deadline = stm.clock.now() + timeout
    while True:
        current = stm.read_current()
        if current != 0 and abs(math.log10(abs(current) / abs(start))) <= tolerance:
            return current
        if stm.clock.now() >= deadline:
            return None
        stm.clock.sleep(settle)


def _not_landed(stm: ApproachController, start: float, gain: float, waited: float) -> str:
    """Why the tip did not land at the start setpoint ``start`` (A) within ``waited``
    world s, at preamp ``gain`` (V/A)."""
    current = stm.read_current()
    if abs(current) >= 0.95 * stm.clip_current(gain):
        return (
            f"preamp clipping at the start setpoint {start:.4g} A "
            f"(current {current:.4g} A, gain {gain:.3g} V/A)"
        )
    return (
        f"the tip does not tunnel at the start setpoint {start:.4g} A after {waited:g} s "
        f"(current {current:.4g} A)"
    )


def _arm_z_limits(
    stm: ApproachController, plan: ApproachPlan, tolerance: float, z_margin: float
) -> tuple[float, float]:
    """Arm the lower Z limit (the sample's side) below the expected path from the
    regulated height; the upper limit stays (a withdraw goes up to it). Returns the
    previous (high, low) limits (m)."""
    z0 = stm.get_z()
    old_limits = stm.get_z_limits()
    travel = -decade_length(stm.barrier_height) * plan.decades
    slack = tolerance * abs(travel) + z_margin
    high = max(old_limits[0], max(z0, z0 + travel) + slack)
    stm.set_z_limits((high, min(z0, z0 + travel) - slack))
    stm.enable_z_limits(True)
    return old_limits


def anomaly(
    step: ApproachStep,
    clip_level: float,
    *,
    tolerance: float,
    z_noise: float,
    current_tolerance: float,
) -> str | None:
    """Why ``step`` must stop the approach, or None: current near the preamp's
    ``clip_level`` (A), tip travel off the prediction, no current, or the current more
    than ``current_tolerance`` decades off the setpoint."""
    if abs(step.current) >= 0.95 * clip_level:
        return (
            f"preamp clipping at setpoint {step.setpoint:.4g} A "
            f"(current {step.current:.4g} A, gain {step.gain:.3g} V/A)"
        )
    if abs(step.dz - step.predicted_dz) > tolerance * abs(step.predicted_dz) + z_noise:
        return (
            f"tip moved {step.dz * 1e10:.3g} Å at setpoint {step.setpoint:.4g} A; "
            f"the step predicts {step.predicted_dz * 1e10:.3g} Å"
        )
    if step.current == 0:
        return f"no current at setpoint {step.setpoint:.4g} A"
    off = abs(math.log10(abs(step.current) / abs(step.setpoint)))
    if off > current_tolerance:
        return (
            f"current {step.current:.4g} A is {off:.2g} decades off the setpoint "
            f"{step.setpoint:.4g} A (Z limit reached or feedback not settling)"
        )
    return None


def widened_z_limits(
    found: tuple[float, float], station: tuple[float, float]
) -> tuple[float, float] | None:
    """The Z limits to restore when the controller's ``found`` (high, low) limits (m) are
    narrower on either side than the ``station``'s configured ones — as an approach cut by
    a kill leaves them —, or None when they are not. The restored window is the union of
    both (nothing is narrowed, so a tip inside ``found`` stays inside). Comparisons allow
    a slack of 1e-6 of the station's window (float32 on the wire)."""
    high, low = found
    s_high, s_low = station
    slack = 1e-6 * (s_high - s_low)
    if high >= s_high - slack and low <= s_low + slack:
        return None
    return max(high, s_high), min(low, s_low)


def restore_z_limits(
    stm: ApproachController, station: tuple[float, float] | None, name: str = "stm"
) -> tuple[float, float] | None:
    """Widen the controller's Z limits back to the ``station``'s configured (high, low)
    (m) when they are narrower (:func:`widened_z_limits`): the narrow window an approach
    arms around its path stays on the controller when the process is killed mid-approach,
    and would keep the next approach from landing the tip. Logged as a warning; returns
    the limits set, or None when nothing was changed (or ``station`` is None)."""
    if station is None:
        return None
    found = stm.get_z_limits()
    wanted = widened_z_limits(found, station)
    if wanted is None:
        return None
    log.warning(
        "%s: Z limits (%.4g, %.4g) m are narrower than the station's z_limits (%.4g, %.4g) m "
        "(an approach cut short, e.g. by a kill): restored to (%.4g, %.4g) m",
        name,
        *found,
        *station,
        *wanted,
    )
    stm.set_z_limits(wanted)
    return wanted


def _abort(
    stm: ApproachController,
    reason: str,
    steps: list[ApproachStep],
    old_limits: tuple[float, float],
) -> NoReturn:
    """Restore the Z limits the approach found (``old_limits``, (high, low) m), withdraw
    the tip and raise :class:`ApproachError` (also when the withdraw fails).

    Restoring first matters: the approach's own window is narrow around the path it
    expected, and left armed it would keep the next approach (e.g. a ``--resume``) from
    lowering the withdrawn tip back into tunnelling."""
    try:
        stm.set_z_limits(old_limits)
        stm.withdraw()
    except Exception as exc:  # still report the anomaly, with the withdraw failure
        raise ApproachError(f"{reason}; withdraw failed too: {exc}", steps) from exc
    raise ApproachError(reason, steps)


def _take_step(
    stm: ApproachController,
    walk: _Walk,
    setpoint: float,
    *,
    settle: float,
    gain_settle: float,
    checks: dict[str, float],
) -> None:
    """One step to ``setpoint`` (A): a lower gain first when going up, settle, record
    and check the step, a higher gain after it when going down."""
    up = abs(setpoint) > abs(walk.setpoint)
    need = stm.gain_for(setpoint, walk.gains.values)
    if up and need < walk.gain:
        stm.switch_gain(walk.gains, need, feedback=True, settle=gain_settle)
        walk.gain = need
    stm.send_setpoint(setpoint)
    stm.clock.sleep(settle)
    z = stm.get_z()
    current = stm.read_current()
    predicted = -decade_length(stm.barrier_height) * math.log10(abs(setpoint) / abs(walk.setpoint))
    step = ApproachStep(setpoint, z, walk.gain, current, predicted, z - walk.z, stm.clock.now())
    walk.steps.append(step)
    reason = anomaly(step, stm.clip_current(step.gain), **checks)
    if reason:
        _abort(stm, reason, walk.steps, walk.old_limits)
    if not up and need > walk.gain:
        stm.switch_gain(walk.gains, need, feedback=True, settle=gain_settle)
        walk.gain = need
    walk.z, walk.setpoint = z, setpoint


def approach_setpoint(
    stm: ApproachController,
    target: float,
    steps_per_decade: int = 4,
    settle: float = 0.5,
    *,
    tolerance: float = 1.0,
    z_noise: float = 0.05e-10,
    z_margin: float = 2e-10,
    current_tolerance: float = 0.3,
    gain_settle: float = 0.05,
    land_timeout: float = 30.0,
) -> list[ApproachStep]:
    """Walk the setpoint of ``stm`` to ``target`` (A) in log steps with the feedback on.

    Before anything is sent (:func:`plan_approach`): ``target`` and every step are checked
    against safety.max_setpoint_current and the preamp gains, and the present bias must
    satisfy |V| ≥ safety.min_feedback_bias (no regulation near zero bias: SafetyError).

    Then the preamp gain and the setpoint are made safe for the starting current, the
    feedback is switched on if it was off (settling ``settle``), and the lower Z limit
    is armed below the expected path, once the tip regulates at the start (the current
    within ``current_tolerance`` decades of the start setpoint, waited for up to
    ``land_timeout`` world s, e.g. a withdrawn tip coming down; else the tip is
    withdrawn and :class:`ApproachError` raised). The window goes from the regulated z
    to the z the target should need, ``decade_length(barrier_height)`` per decade,
    minus ``tolerance`` × the travel + ``z_margin``; the upper limit is kept, so a
    withdraw still retracts fully; it is enabled.
    The setpoint is stepped ``steps_per_decade`` per decade,
    waiting ``settle`` world s after each step. Before a step would exceed the allowed
    fraction of the clip level the preamp goes to a lower gain; going down it returns
    to the highest suitable gain after the step. A gain switch holds the tip (feedback
    off), switches, waits ``gain_settle`` and regulates again.

    After each step the tip travel must match the prediction
    (|dz − dz_pred| ≤ tolerance·|dz_pred| + z_noise), the current must be within
    ``current_tolerance`` decades of the setpoint and below the clip level; otherwise
    the previous Z limits are restored, the tip is withdrawn and :class:`ApproachError`
    raised (carrying the steps).
    On success the previous Z limits are restored if they contain the final z
    (otherwise the approach limits stay), limits stay enabled.

    Returns the record of every step (the first entry is the starting state).
    """
    plan = plan_approach(stm, target, steps_per_decade)
    gain = _start_regulating(stm, plan, settle, gain_settle)
    current = _land(stm, plan.start, settle, land_timeout, current_tolerance)
    if current is None:
        _abort(stm, _not_landed(stm, plan.start, gain, land_timeout), [], stm.get_z_limits())
    old_limits = _arm_z_limits(stm, plan, tolerance, z_margin)
    walk = _Walk(plan.gains, gain, plan.start, stm.get_z(), old_limits)
    walk.steps.append(ApproachStep(plan.start, walk.z, gain, current, 0.0, 0.0, stm.clock.now()))
    checks = {"tolerance": tolerance, "z_noise": z_noise, "current_tolerance": current_tolerance}
    for sp in plan.setpoints:
        _take_step(stm, walk, sp, settle=settle, gain_settle=gain_settle, checks=checks)
    high, low = old_limits
    if low + z_margin < walk.z < high - z_margin:
        stm.set_z_limits(old_limits)
    return walk.steps
