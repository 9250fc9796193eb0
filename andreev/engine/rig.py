"""The instruments a plan drives, by role, seen through the role Protocols."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from andreev.errors import Aborted, ConfigError, InstrumentError
from andreev.instruments.roles import BRIDGE, LOCKIN, ROLES, STM, Bridge, LockIn, STMController

if TYPE_CHECKING:
    from andreev.clock import Clock
    from andreev.instruments.safety import SafetyLimits

#: the Protocol each role must fill
ROLE_PROTOCOLS: dict[str, type] = {LOCKIN: LockIn, BRIDGE: Bridge, STM: STMController}


def role_members(protocol: type) -> list[str]:
    """The public members a role Protocol asks for."""
    return sorted(name for name in vars(protocol) if not name.startswith("_"))


def lacks(driver: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``driver`` lacks (looked up statically: no
    property of an instrument is read over the wire)."""
    missing = []
    for name in role_members(protocol):
        try:
            inspect.getattr_static(driver, name)
        except AttributeError:
            missing.append(name)
    return missing


def fill_role(role: str, driver: Any) -> Any:
    """``driver``, checked to fill the ``role``'s Protocol.

    Raises:
        InstrumentError: naming the role and the class when it does not fill the role.
    """
    protocol = ROLE_PROTOCOLS[role]
    missing = lacks(driver, protocol)
    if not missing:
        return driver
    raise InstrumentError(
        f"the station's {role!r} is a {type(driver).__name__}, which does not fill the "
        f"{role} role ({protocol.__name__}): it lacks {', '.join(missing)}"
    )


@dataclass
class Rig:
    """Lock-in, bridge and STM controller of one station, with its limits and clock.

    Attributes:
        station: the qcodes Station (its snapshot goes into every run file; any of its
            parameters can step an outer loop).
        lockin, bridge, stm: the instruments filling the roles.
        safety: the station's hard limits.
        clock: world time (the engine's and the plans' waits run on it).
    """

    station: Any
    lockin: LockIn
    bridge: Bridge
    stm: STMController
    safety: SafetyLimits
    clock: Clock

    @classmethod
    def from_station(cls, station: Any, safety: SafetyLimits, clock: Clock) -> Rig:
        """The instruments named lockin, bridge and stm of ``station``, each checked
        against its role.

        Raises:
            ConfigError: the station lacks a role.
            InstrumentError: an instrument does not fill its role.
        """
        comps = station.components
        missing = [role for role in ROLES if role not in comps]
        if missing:
            raise ConfigError(
                "(station)", "instruments", f"no instrument named {', '.join(missing)}"
            )
        return cls(
            station,
            cast(LockIn, fill_role(LOCKIN, comps[LOCKIN])),
            cast(Bridge, fill_role(BRIDGE, comps[BRIDGE])),
            cast(STMController, fill_role(STM, comps[STM])),
            safety,
            clock,
        )

    def sample_temperature(self) -> float:
        """The sample thermometer's reading (K)."""
        return float(self.bridge.sample_temperature())

    def resolve_parameter(self, dotted: str) -> Any:
        """A qcodes parameter of the station named like ``magnet.field``."""
        instrument_name, _, rest = dotted.partition(".")
        target: Any = self.station.components[instrument_name]
        for part in rest.split("."):
            target = getattr(target, part)
        return target

    def sleep(
        self, seconds: float, should_stop: Callable[[], bool] | None = None, chunk: float = 1.0
    ) -> None:
        """Sleep ``seconds`` of world time in chunks (``chunk`` wall s), raising Aborted
        when asked to stop — also before a zero-length sleep, so a loop that sleeps
        is always stoppable.

        Raises:
            ValueError: ``seconds`` is NaN, infinite or negative (a loop sleeping NaN
                would never wait and never end).
        """
        if should_stop is not None and should_stop():
            raise Aborted("stop requested")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"cannot wait {seconds!r} s: a wait must be finite and >= 0")
        remaining = seconds
        while remaining > 0:
            if should_stop is not None and should_stop():
                raise Aborted("stop requested")
            step = min(remaining, chunk * max(1.0, self.clock.speedup))
            self.clock.sleep(step)
            remaining -= step
