"""The current preamplifier's gains: names as the controller lists them, their values,
and which gain can carry a current without clipping (pure functions, no I/O).

A gain G (V/A) clips at ``clip_voltage / G`` (A); the driver allows at most
``clip_fraction`` of that level, so a clipped current can never drive the tip in under
feedback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from andreev.errors import SafetyError
from andreev.instruments.nanonis.codec import NanonisProtocolError

__all__ = ["Gains", "clip_current", "gain_index", "gains_from_reply", "highest_gain", "parse_gain"]

_POW_RE = re.compile(r"(\d+(?:\.\d*)?)\s*\^\s*([+-]?\d+)")
_MANT_RE = re.compile(r"(\d+(?:\.\d*)?)\s*[x×*]\s*$")


def parse_gain(name: str) -> float:
    """Preamp gain (V/A) from a ``Current.GainsGet`` name: ``"10^9"``, ``"LN 10^9"``,
    ``"HS 10^7"``, ``"3x10^8"`` or a plain number such as ``"1e9"``. Raises ValueError."""
    m = _POW_RE.search(name)
    if m:
        value = float(m[1]) ** int(m[2])
        mant = _MANT_RE.search(name[: m.start()])
        return value * float(mant[1]) if mant else value
    for token in reversed(name.replace(",", " ").split()):
        try:
            value = float(token)
        except ValueError:
            continue
        if value > 0:
            return value
    raise ValueError(f"cannot read a preamp gain from {name!r}")


@dataclass(frozen=True)
class Gains:
    """The preamp gains of a ``Current.GainsGet`` reply.

    Attributes:
        names: the controller's names, by index.
        values: the gains (V/A) by index, nan where a name does not parse.
        index: the gain in use.
        has_filters: the reply lists filters (newer software: ``Current.GainSet`` then
            takes a filter index too).
    """

    names: list[str]
    values: list[float]
    index: int
    has_filters: bool

    @property
    def gain(self) -> float:
        """The gain in use (V/A)."""
        return self.values[self.index]


def gains_from_reply(reply: Mapping[str, Any]) -> Gains:
    """:class:`Gains` from a decoded ``Current.GainsGet`` reply; raises
    :class:`NanonisProtocolError` when the index in use is not one of the gains."""
    names = [str(n) for n in reply["gains"]]
    values = []
    for n in names:
        try:
            values.append(parse_gain(n))
        except ValueError:
            values.append(math.nan)
    index = int(reply["gain_index"])
    if not 0 <= index < len(names):
        raise NanonisProtocolError(f"gain index {index} outside the {len(names)} gains")
    return Gains(names, values, index, "filters" in reply)


def gain_index(gains: Gains, value: float) -> int:
    """Index of the gain ``value`` (V/A, relative 1e-6); ValueError naming the gains
    available when there is none."""
    for i, g in enumerate(gains.values):
        if math.isfinite(g) and abs(g - value) <= 1e-6 * value:
            return i
    raise ValueError(
        f"no preamp gain {value:.4g} V/A; available: " + ", ".join(f"{n!r}" for n in gains.names)
    )


def clip_current(gain: float, clip_voltage: float) -> float:
    """Preamp clip level (A) at ``gain`` (V/A): ``clip_voltage`` (V) / gain."""
    return clip_voltage / gain


def highest_gain(
    current: float, gains: Sequence[float], clip_voltage: float, clip_fraction: float
) -> float:
    """Highest gain (V/A) of ``gains`` at which ``|current|`` (A) stays within
    ``clip_fraction`` of the clip level; raises SafetyError if none does."""
    ok = [
        g
        for g in gains
        if math.isfinite(g) and abs(current) <= clip_fraction * clip_current(g, clip_voltage)
    ]
    if not ok:
        raise SafetyError(
            f"no preamp gain keeps {current:.4g} A below {clip_fraction:g} of its clip level"
        )
    return max(ok)
