"""The three roles a station fills, as small typed Protocols.

Procedures and the engine see the instruments only through these: a lock-in, an STM
controller and a bridge. Wire details (Nanonis signal names, the SR830's sensitivity
table, ``init`` sections of the station file) stay inside the drivers. Any object with
these members fills a role: the real drivers, or the in-memory fakes of the engine's
tests.

Units are SI throughout: V, A, S, K, s (world time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# the role names of a station file's ``instruments:`` section: defined once, by the
# station schema, and re-exported here beside the Protocols
from andreev.config.station import BRIDGE, LOCKIN, ROLES, STM  # noqa: F401 (re-export)


@dataclass
class ControllerSweep:
    """A controller-side bias sweep, by name-independent keys.

    Attributes:
        bias: the bias of each point as the controller swept it (V).
        forward: ``{"current": A, "x": A rms, "y": A rms}`` of the forward sweep
            (x, y: the controller's lock-in demodulating the current).
        backward: the same for the sweep back, empty when there was none.
    """

    bias: np.ndarray
    forward: dict[str, np.ndarray]
    backward: dict[str, np.ndarray] = field(default_factory=dict)


@runtime_checkable
class LockIn(Protocol):
    """A lock-in amplifier reading dI/dV (the SR830 driver fills this role)."""

    def settle_time(self, precision: float = 0.999) -> float:
        """World seconds to settle to ``precision`` for the present τ and slope."""
        ...

    def read_xy(self) -> tuple[float, float]:
        """X and Y (V rms), read in one request."""
        ...

    def overloaded(self) -> bool:
        """True when an input or output overload was latched since the last read."""
        ...

    def autorange_settled(
        self, max_changes: int = 26, precision: float = 0.999, headroom: float = 1.0
    ) -> int:
        """Range the sensitivity on the present signal; returns the changes made."""
        ...

    def didv_from_x(
        self, x: Any, preamp_gain: float, *, modulation_rms: float | None = None
    ) -> Any:
        """dI/dV (S) from X (V rms), the preamp gain (V/A) and the modulation (V rms)."""
        ...

    def configure(
        self, *, frequency: float, modulation_rms: float, time_constant: float, slope: int
    ) -> None:
        """Set the reference frequency (Hz), the modulation at the junction (V rms),
        the time constant (s) and the filter slope (dB/oct)."""
        ...

    @property
    def modulation_rms(self) -> float:
        """Modulation amplitude at the junction (V rms)."""
        ...


@runtime_checkable
class STMController(Protocol):
    """The STM's feedback controller (the Nanonis driver fills this role)."""

    def set_bias(self, bias: float) -> None:
        """Apply ``bias`` (V), ramped within the slew limit; checked against the limits."""
        ...

    def get_bias(self) -> float:
        """The applied bias (V)."""
        ...

    def set_feedback(self, on: bool) -> None:
        """Switch the Z feedback on (regulate) or off (hold the tip)."""
        ...

    def read_current(self) -> float:
        """The tunnelling current (A)."""
        ...

    def get_setpoint(self) -> float:
        """The feedback's current setpoint (A)."""
        ...

    def get_preamp_gain(self) -> float:
        """The current preamplifier's gain (V/A)."""
        ...

    def get_z(self) -> float:
        """The tip height (m)."""
        ...

    def move_tip(self, x: float, y: float) -> None:
        """Move the tip laterally to (x, y) (m), at the present setpoint."""
        ...

    def approach_setpoint(
        self, target: float, steps_per_decade: int = 4, settle: float = 0.5
    ) -> Any:
        """Walk the setpoint to ``target`` (A) in log steps with the feedback on,
        switching the preamp gain before it would clip."""
        ...

    def safe_state(
        self, bias: float, setpoint: float, *, steps_per_decade: int = 4, settle: float = 0.5
    ) -> None:
        """Bias ``bias`` (V), setpoint ``setpoint`` (A), feedback on: tunnelling."""
        ...

    def controller_sweep(
        self, start: float, end: float, points: int, *, backward: bool, settling: float
    ) -> ControllerSweep:
        """Let the controller sweep the bias from ``start`` to ``end`` (V) with its own
        lock-in; ``settling`` (s) per point."""
        ...


@runtime_checkable
class Bridge(Protocol):
    """The temperature bridge and sample-heater controller (the Lake Shore 372)."""

    def sample_temperature(self) -> float:
        """The sample thermometer's reading (K)."""
        ...

    def set_temperature(self, temperature: float) -> Any:
        """Regulate the sample at ``temperature`` (K), with the band's heater range."""
        ...

    def wait_until_stable(
        self,
        setpoint: float,
        tolerance: float | None = None,
        hold_time: float = 60.0,
        timeout: float = 3600.0,
        poll: float = 2.0,
        should_stop: Callable[[], bool] | None = None,
    ) -> Any:
        """Wait until the sample is stable at ``setpoint`` (K); a trace with ``.stable``."""
        ...

    def safe_state(self, heater_range: int | None = None) -> None:
        """Heater to a safe range (0 = off)."""
        ...
