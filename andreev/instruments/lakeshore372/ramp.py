"""The sample heater's setpoint ramp (``RAMP 0,on,rate`` / ``RAMPST? 0``).

With the ramp on, a new setpoint is approached at ``rate`` K/min (world time) by the
372 itself; the temperature limit is checked for the target before anything is written
(:meth:`RampMixin.ramp_to`, through the driver's :meth:`set_temperature`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_RAMP_RATE", "RampMixin"]

#: the 372's fastest setpoint ramp (K/min)
MAX_RAMP_RATE = 100.0


class RampMixin:
    """Setpoint-ramp methods, mixed into the 372 driver (which provides ``write``,
    ``ask`` and ``set_temperature``)."""

    def _ramp_inst(self) -> Any:
        return self

    def set_ramp(self, rate: float | None) -> None:
        """Ramp the sample heater's setpoint at ``rate`` (K/min, 0 < rate ≤ 100); None
        or 0 turns the ramp off (a new setpoint then applies at once)."""
        if rate is None or rate == 0:
            self._ramp_inst().write("RAMP 0,0,0")
            return
        if not 0 < rate <= MAX_RAMP_RATE:
            raise ValueError(f"ramp rate must be within 0 … {MAX_RAMP_RATE:g} K/min, got {rate!r}")
        self._ramp_inst().write(f"RAMP 0,1,{rate:g}")

    def ramping(self) -> bool:
        """True while the setpoint ramps towards its target (``RAMPST? 0``)."""
        return bool(int(float(self._ramp_inst().ask("RAMPST? 0"))))

    def ramp_to(self, temperature: float, rate: float) -> Any:
        """Ramp the setpoint to ``temperature`` (K) at ``rate`` (K/min): the limits are
        checked first (by ``set_temperature``), then the ramp is switched on and the
        setpoint written. Returns the heater band applied."""
        inst = self._ramp_inst()
        inst.check_setpoint_allowed(temperature)
        self.set_ramp(rate)
        return inst.set_temperature(temperature)
