"""Temporary: today's drivers seen through the role Protocols.

The drivers are gaining the Protocol methods of :mod:`andreev.instruments.roles`;
until they have them, :func:`adapt` wraps a driver of the previous interface. Only
:func:`andreev.engine.rig.fill_role` uses it, and only when a driver lacks the
Protocol. Delete this module (and the fallback in ``fill_role``) once every driver
fills its role.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from andreev.instruments.roles import BRIDGE, LOCKIN, STM, ControllerSweep

#: Nanonis signal names recorded by a controller-side sweep, by name-independent key
CONTROLLER_CHANNELS = {
    "current": "Current (A)",
    "x": "LI Demod 1 X (A)",
    "y": "LI Demod 1 Y (A)",
}


def _channel(data: dict[str, np.ndarray], name: str, backward: bool) -> np.ndarray:
    """The controller's row for signal ``name`` ("Current (A)"), forward or backward
    (whatever the software version calls it: "Current [bwd] (A)", "Current (A) [bwd]")."""
    stem = name.split(" (")[0]
    for key, values in data.items():
        if key.startswith(stem) and ("[bwd]" in key) == backward:
            return np.asarray(values, dtype=float)
    raise KeyError(f"the controller returned no {'backward ' if backward else ''}{name!r}")


class _Wrapper:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)


class LegacyLockIn(_Wrapper):
    """The SR830 driver as a :class:`~andreev.instruments.roles.LockIn`."""

    def settle_time(self, precision: float = 0.999) -> float:
        return float(self.driver.settle_time(precision))

    def read_xy(self) -> tuple[float, float]:
        x, y = self.driver.read_xy()
        return float(x), float(y)

    def overloaded(self) -> bool:
        return bool(self.driver.overloaded())

    def autorange_settled(
        self, max_changes: int = 26, precision: float = 0.999, headroom: float = 1.0
    ) -> int:
        return int(self.driver.autorange_settled(max_changes, precision, headroom))

    def didv_from_x(
        self, x: Any, preamp_gain: float, *, modulation_rms: float | None = None
    ) -> Any:
        return self.driver.didv_from_x(x, preamp_gain, modulation_rms=modulation_rms)

    def configure(
        self, *, frequency: float, modulation_rms: float, time_constant: float, slope: int
    ) -> None:
        self.driver.frequency(float(frequency))
        self.driver.modulation_rms = float(modulation_rms)
        self.driver.time_constant(float(time_constant))
        self.driver.filter_slope(int(slope))

    @property
    def modulation_rms(self) -> float:
        return float(self.driver.modulation_rms)


class LegacySTM(_Wrapper):
    """The Nanonis driver as a :class:`~andreev.instruments.roles.STMController`."""

    def set_bias(self, bias: float) -> None:
        self.driver.bias(float(bias))

    def get_bias(self) -> float:
        return float(self.driver.bias())

    def set_feedback(self, on: bool) -> None:
        self.driver.feedback(bool(on))

    def read_current(self) -> float:
        return float(self.driver.current())

    def get_setpoint(self) -> float:
        return float(self.driver.setpoint())

    def get_preamp_gain(self) -> float:
        return float(self.driver.preamp_gain())

    def get_z(self) -> float:
        return float(self.driver.z())

    def move_tip(self, x: float, y: float) -> None:
        self.driver.tip_x(float(x))
        self.driver.tip_y(float(y))

    def approach_setpoint(
        self, target: float, steps_per_decade: int = 4, settle: float = 0.5
    ) -> Any:
        return self.driver.approach_setpoint(target, steps_per_decade, settle)

    def safe_state(
        self, bias: float, setpoint: float, *, steps_per_decade: int = 4, settle: float = 0.5
    ) -> None:
        self.driver.safe_state(bias, setpoint, steps_per_decade=steps_per_decade, settle=settle)

    def controller_sweep(
        self, start: float, end: float, points: int, *, backward: bool, settling: float
    ) -> ControllerSweep:
        data = self.driver.bias_spectroscopy(
            start,
            end,
            points,
            backward=backward,
            settling=settling,
            integration=0.0,
            channels=tuple(CONTROLLER_CHANNELS.values()),
        )

        def rows(bwd: bool) -> dict[str, np.ndarray]:
            return {key: _channel(data, name, bwd) for key, name in CONTROLLER_CHANNELS.items()}

        return ControllerSweep(
            bias=np.asarray(data["Bias calc (V)"], dtype=float),
            forward=rows(False),
            backward=rows(True) if backward else {},
        )


class LegacyBridge(_Wrapper):
    """The Lake Shore 372 driver as a :class:`~andreev.instruments.roles.Bridge`."""

    def sample_temperature(self) -> float:
        return float(self.driver.sample.temperature())

    def set_temperature(self, temperature: float) -> Any:
        return self.driver.set_temperature(temperature)

    def wait_until_stable(
        self,
        setpoint: float,
        tolerance: float | None = None,
        hold_time: float = 60.0,
        timeout: float = 3600.0,
        poll: float = 2.0,
        should_stop: Any = None,
    ) -> Any:
        return self.driver.wait_until_stable(
            setpoint, tolerance, hold_time, timeout, poll, should_stop
        )

    def safe_state(self, heater_range: int | None = None) -> None:
        self.driver.safe_state(heater_range)


#: for each role, the wrapper and the members of the previous interface it needs
_LEGACY: dict[str, tuple[type[_Wrapper], tuple[str, ...]]] = {
    LOCKIN: (LegacyLockIn, ("frequency", "time_constant", "filter_slope", "read_xy")),
    STM: (LegacySTM, ("bias", "feedback", "current", "bias_spectroscopy", "tip_x")),
    BRIDGE: (LegacyBridge, ("sample", "set_temperature", "wait_until_stable")),
}


def adapt(role: str, driver: Any) -> Any | None:
    """A wrapper filling ``role`` around ``driver``, or None when ``driver`` is not a
    driver of the previous interface for that role."""
    wrapper, needs = _LEGACY[role]
    if all(hasattr(driver, name) for name in needs):
        return wrapper(driver)
    return None
