"""Waiting for a stable sample temperature: the stability criterion over the readings
and the :class:`SettlingTrace` a wait returns (pure, no I/O). Temperatures in K, times in
world seconds since the wait started."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SettlingTrace", "StabilityWatch", "default_tolerance"]


@dataclass
class SettlingTrace:
    """What :meth:`LakeshoreModel372.wait_until_stable` saw.

    Attributes:
        t: world seconds since the wait started (s).
        temperature: sample temperature (K).
        heater: sample-heater output (% of range).
        status: ``RDGST?`` bits of the sample channel.
        stable: True if the stability criterion was met.
        reason: why the wait ended ("stable", "timeout: …", "aborted").
        setpoint: the target temperature (K).
        tolerance: the |T − T_set| tolerance used (K).
        max_rate: the |dT/dt| limit used (K/s).
    """

    t: np.ndarray
    temperature: np.ndarray
    heater: np.ndarray
    status: np.ndarray
    stable: bool
    reason: str
    setpoint: float
    tolerance: float
    max_rate: float
    rate: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def elapsed(self) -> float:
        """World seconds the wait took (s)."""
        return float(self.t[-1]) if len(self.t) else 0.0


def default_tolerance(temperature: float) -> float:
    """Default stability tolerance |T − T_set| (K): max(0.5 % T, 0.3 mK)."""
    return max(0.005 * abs(temperature), 0.3e-3)


def _fit_slope(t: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope dy/dt."""
    tc = t - t.mean()
    denom = float(np.dot(tc, tc))
    return float(np.dot(tc, y - y.mean()) / denom) if denom > 0 else math.inf


@dataclass
class StabilityWatch:
    """The readings of one :meth:`LakeshoreModel372.wait_until_stable` and the stability
    criterion over them (K, world s since the wait started)."""

    setpoint: float
    tolerance: float
    max_rate: float
    hold_time: float
    window: float
    t: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    heater: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    good_since: float | None = None

    def add(self, now: float, temperature: float, heater: float, status: int) -> bool:
        """Record a reading at ``now``; True once the criterion held for hold_time."""
        self.t.append(now)
        self.temperature.append(temperature)
        self.heater.append(heater)
        self.status.append(status)
        rate = self._rate(now)
        self.rate.append(rate)
        good = (
            abs(temperature - self.setpoint) <= self.tolerance
            and abs(rate) <= self.max_rate
            and status == 0
        )
        if not good:
            self.good_since = None
            return False
        if self.good_since is None:
            self.good_since = now
        return now - self.good_since >= self.hold_time

    def _rate(self, now: float) -> float:
        """dT/dt (K/s) fitted over the readings of the last ``window``, or over the last
        three readings when fewer fall inside it (a slow reading — long latency at a high
        clock speedup — must not keep the slope unknown for ever); inf until the fitted
        readings number three and span half the window."""
        t_arr = np.asarray(self.t)
        first = min(int(np.searchsorted(t_arr, now - self.window)), max(len(t_arr) - 3, 0))
        if len(t_arr) - first >= 3 and now - t_arr[first] >= 0.5 * self.window:
            return _fit_slope(t_arr[first:], np.asarray(self.temperature)[first:])
        return math.inf

    def timeout_reason(self) -> str:
        """The reason of a wait that ran out of time, with the last reading."""
        return (
            f"timeout: not stable at {self.setpoint:g} K after {self.t[-1]:.4g} s "
            f"(last T {self.temperature[-1]:.6g} K, dT/dt {self.rate[-1]:.3g} K/s, "
            f"RDGST {self.status[-1]})"
        )

    def trace(self, stable: bool, reason: str) -> SettlingTrace:
        """The :class:`SettlingTrace` of the readings so far."""
        return SettlingTrace(
            t=np.asarray(self.t, dtype=float),
            temperature=np.asarray(self.temperature, dtype=float),
            heater=np.asarray(self.heater, dtype=float),
            status=np.asarray(self.status, dtype=int),
            stable=stable,
            reason=reason,
            setpoint=float(self.setpoint),
            tolerance=self.tolerance,
            max_rate=self.max_rate,
            rate=np.asarray(self.rate, dtype=float),
        )
