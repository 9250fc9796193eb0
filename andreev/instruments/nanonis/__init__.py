"""Nanonis STM controller (SPECS) over its TCP programming interface.

Modules, bottom up: :mod:`.codec` (client-side bytes of requests and replies, the
command table), :mod:`.transport` (one reconnecting TCP connection), :mod:`.gains`
(preamp gain names and clip levels), :mod:`.spectroscopy` (controller-side sweeps,
channel names), :mod:`.approach` (the safe setpoint walk) and :mod:`.driver`
(:class:`NanonisSTM`, the qcodes instrument filling the STM controller role).

``from andreev.instruments.nanonis import NanonisSTM`` is the public entry point (also
the station file's ``type: andreev.instruments.nanonis.NanonisSTM``).
"""

from __future__ import annotations

from andreev.instruments.nanonis.approach import (
    ApproachError,
    ApproachStep,
    decade_length,
)
from andreev.instruments.nanonis.codec import NanonisError, NanonisProtocolError
from andreev.instruments.nanonis.driver import ZCTRL_STATUS, NanonisSTM
from andreev.instruments.nanonis.gains import parse_gain
from andreev.instruments.nanonis.transport import (
    NanonisConnectionError,
    NanonisTimeoutError,
    NanonisTransport,
)

__all__ = [
    "ZCTRL_STATUS",
    "ApproachError",
    "ApproachStep",
    "NanonisConnectionError",
    "NanonisError",
    "NanonisProtocolError",
    "NanonisSTM",
    "NanonisTimeoutError",
    "NanonisTransport",
    "decade_length",
    "parse_gain",
]
