"""The instruments a procedure drives, gathered from a qcodes Station by role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from andreev.clock import Clock
from andreev.errors import Aborted
from andreev.instruments.safety import SafetyLimits

if TYPE_CHECKING:
    from qcodes.station import Station

    from andreev.instruments.lakeshore372 import LakeshoreModel372
    from andreev.instruments.nanonis import NanonisSTM
    from andreev.instruments.sr830 import SR830


@dataclass
class Rig:
    """Lock-in, bridge and STM controller of one station, with its limits and clock.

    Attributes:
        station: the qcodes Station (its snapshot goes into every run file).
        lockin, bridge, stm: the drivers, found under the names ``lockin``, ``bridge``
            and ``stm`` in the station file.
        safety: the station's hard limits.
        clock: world time (sleeps of the procedures run on it).
    """

    station: Station
    lockin: SR830
    bridge: LakeshoreModel372
    stm: NanonisSTM
    safety: SafetyLimits
    clock: Clock

    @classmethod
    def from_station(cls, station: Station, safety: SafetyLimits, clock: Clock) -> Rig:
        """Pick the instruments named lockin, bridge and stm out of ``station``."""
        from andreev.instruments.station import ROLES

        missing = [role for role in ROLES if role not in station.components]
        if missing:
            raise KeyError(f"station has no instrument named {', '.join(missing)}")
        comps = station.components
        return cls(station, comps["lockin"], comps["bridge"], comps["stm"], safety, clock)

    def sample_temperature(self) -> float:
        """The sample thermometer's reading (K)."""
        return float(self.bridge.sample.temperature())

    def resolve_parameter(self, dotted: str) -> Any:
        """A qcodes parameter of the station named like ``magnet.field``."""
        instrument_name, _, rest = dotted.partition(".")
        target: Any = self.station.components[instrument_name]
        for part in rest.split("."):
            target = getattr(target, part)
        return target

    def sleep(self, seconds: float, should_stop: Any = None, chunk: float = 1.0) -> None:
        """Sleep ``seconds`` of world time in chunks, raising Aborted when asked to stop."""
        remaining = seconds
        while remaining > 0:
            if should_stop is not None and should_stop():
                raise Aborted("stop requested")
            step = min(remaining, chunk * max(1.0, self.clock.speedup))
            self.clock.sleep(step)
            remaining -= step
