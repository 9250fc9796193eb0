"""Controller-side bias spectroscopy (``BiasSpectr.*``): timing, the reply as arrays by
channel name, and the name-independent :class:`~andreev.instruments.roles.ControllerSweep`
(pure functions, no I/O).

The controller names its rows by signal: ``"Bias calc (V)"``, ``"Current (A)"``,
``"LI Demod 1 X (A)"`` … and the backward sweep's either ``"Current [bwd] (A)"`` (the
Nanonis software) or ``"Current (A) [bwd]"``. Those names stay here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.instruments.nanonis.codec import NanonisProtocolError
from andreev.instruments.roles import ControllerSweep

__all__ = [
    "BIAS_CHANNEL",
    "SWEEP_CHANNELS",
    "SpectroscopyTiming",
    "channel_row",
    "controller_sweep_from",
    "rows_by_name",
]

#: the row holding the bias of each point
BIAS_CHANNEL = "Bias calc (V)"
#: the Nanonis signals behind the keys of a :class:`ControllerSweep`
SWEEP_CHANNELS: dict[str, str] = {
    "current": "Current (A)",
    "x": "LI Demod 1 X (A)",
    "y": "LI Demod 1 Y (A)",
}


@dataclass(frozen=True)
class SpectroscopyTiming:
    """The ``BiasSpectr.TimingSet`` values (world s, except ``max_slew_rate`` V/s and
    ``z_offset`` m), in the command's field order."""

    z_averaging: float
    z_offset: float
    initial_settling: float
    max_slew_rate: float
    settling: float
    integration: float
    end_settling: float
    z_control_time: float

    def as_args(self) -> tuple[float, ...]:
        """The values in ``BiasSpectr.TimingSet`` order."""
        return (
            self.z_averaging,
            self.z_offset,
            self.initial_settling,
            self.max_slew_rate,
            self.settling,
            self.integration,
            self.end_settling,
            self.z_control_time,
        )

    def duration(
        self, start: float, end: float, points: int, sweeps: int, backward: bool, bias_now: float
    ) -> float:
        """World seconds the controller needs for the sweep (V for the biases)."""
        directions = 2 if backward else 1
        span = abs(end - start) * (2 * sweeps * directions) + abs(bias_now - start) + abs(end)
        return (
            self.z_averaging
            + self.initial_settling
            + self.end_settling
            + self.z_control_time
            + sweeps * directions * points * (self.settling + self.integration)
            + span / self.max_slew_rate
        )


def rows_by_name(reply: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """{channel name: float64 row} of a ``BiasSpectr.Start`` reply; the bias row is named
    :data:`BIAS_CHANNEL` when the controller leaves it unnamed. Raises
    :class:`NanonisProtocolError` when names and rows do not match."""
    names = list(reply["channels"])
    data = np.asarray(reply["data"], dtype=np.float64)
    if len(names) == data.shape[0] - 1:
        names = [BIAS_CHANNEL, *names]
    if len(names) != data.shape[0]:
        raise NanonisProtocolError(
            f"BiasSpectr.Start returned {len(names)} names for {data.shape[0]} rows"
        )
    return {n: data[i].copy() for i, n in enumerate(names)}


def _backward_names(name: str) -> tuple[str, ...]:
    """The names the backward row of ``name`` ("Current (A)") goes by."""
    stem, sep, unit = name.rpartition(" (")
    variants = [f"{name} [bwd]"]
    if sep:
        variants.append(f"{stem} [bwd] ({unit}")
    return tuple(variants)


def channel_row(rows: Mapping[str, np.ndarray], name: str, backward: bool) -> np.ndarray:
    """The row of signal ``name`` ("Current (A)"), forward or backward, whichever way
    the software names the backward one; KeyError if the controller returned none."""
    for key in _backward_names(name) if backward else (name,):
        if key in rows:
            return np.asarray(rows[key], dtype=float)
    raise KeyError(f"the controller returned no {'backward ' if backward else ''}{name!r}")


def controller_sweep_from(rows: Mapping[str, np.ndarray], backward: bool) -> ControllerSweep:
    """The :class:`ControllerSweep` (keys "current", "x", "y") of a reply's rows."""

    def direction(bwd: bool) -> dict[str, np.ndarray]:
        return {key: channel_row(rows, name, bwd) for key, name in SWEEP_CHANNELS.items()}

    return ControllerSweep(
        bias=np.asarray(rows[BIAS_CHANNEL], dtype=float),
        forward=direction(False),
        backward=direction(True) if backward else {},
    )


def sweep_channels() -> Sequence[str]:
    """The signals a :class:`ControllerSweep` needs, in :data:`SWEEP_CHANNELS` order."""
    return tuple(SWEEP_CHANNELS.values())
