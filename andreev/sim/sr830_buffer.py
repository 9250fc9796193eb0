"""The SR830's data buffer (SRAT, SEND, TRIG, TSTR, STRT, PAUS, REST, SPTS?, TRCA?,
TRCB?, TRCL?, FAST, STRD), filled at the sample rate in world time.

Two traces hold the CH1 and CH2 displays, 16383 points each. ``SRAT i`` samples at
62.5 mHz × 2^i (i 0-13, 512 Hz) or, with i = 14, one point per trigger (``TRIG`` or
``*TRG``). ``STRT`` starts or resumes storage (the first point at once), ``PAUS`` pauses,
``REST`` erases both traces and stops; ``STRD`` starts after 0.5 s; ``TSTR 1`` lets a
trigger start a scan. ``SEND 0`` (one shot) stops when the buffer is full, ``SEND 1``
(loop) keeps the newest 16383 points (bin 0 the oldest). Points due between two
requests are computed when the next request arrives, from the filter state of the
previous request with the input applied since then (see :meth:`DataBuffer.fill`).
"""

from __future__ import annotations

import itertools
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CAPACITY", "DataBuffer", "filter_outputs", "sample_rate", "trcl_bytes"]

CAPACITY = 16383
Sampler = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
TRIGGERED = 14
STRD_DELAY = 0.5  # s


def sample_rate(index: int) -> float:
    """Samples per second of ``SRAT index`` (0-13); index 14 is the trigger mode."""
    return 0.0625 * 2.0**index


def filter_outputs(
    stages: np.ndarray, t0: float, u: complex, times: np.ndarray, tau: float, poles: int
) -> np.ndarray:
    """Output (X + iY, V rms) at ``times`` (s) of the lock-in's cascade of ``poles``
    identical RC stages (time constant ``tau``, s) holding ``stages`` (complex, one per
    stage) at ``t0`` while the input is ``u``: stage k relaxes as
    u + Σ_{j≤k} (x^j / j!) e^{−x} (stage_{k−j}(t0) − u), x = (t − t0)/tau."""
    x = np.maximum(np.asarray(times, dtype=float) - t0, 0.0) / tau
    decay = np.exp(-np.minimum(x, 700.0))
    k = poles - 1
    out = np.full(x.shape, complex(u))
    term = decay.astype(complex)
    for j in range(k + 1):
        if j > 0:
            term = term * x / j
        out += term * (complex(stages[k - j]) - complex(u))
    return out


def trcl_bytes(values: Sequence[float]) -> bytes:
    """``TRCL?`` encoding: per point a little-endian i16 mantissa m and i16 exponent e,
    value = m × 2^(e − 124)."""
    out = bytearray()
    for v in values:
        mantissa, exponent = np.frexp(float(v))  # v = mantissa × 2^exponent, |mantissa| < 1
        m = round(float(mantissa) * 2**15) if v else 0
        e = int(exponent) - 15 + 124 if v else 0
        if m == 2**15:  # rounding overflow
            m, e = 2**14, e + 1
        out += struct.pack("<hh", m, e)
    return bytes(out)


@dataclass
class DataBuffer:
    """State of the data buffer; times are world seconds."""

    rate_index: int = 4
    loop: bool = True
    trigger_starts: bool = False
    fast: int = 0
    state: str = "stopped"  # stopped | running | paused | done
    t_next: float = 0.0  # world time of the next sample while running (s)
    traces: tuple[deque[float], deque[float]] = field(
        default_factory=lambda: (deque(maxlen=CAPACITY), deque(maxlen=CAPACITY))
    )

    @property
    def points(self) -> int:
        """Points stored (``SPTS?``)."""
        return len(self.traces[0])

    def reset(self) -> None:
        """``REST``: erase both traces and stop."""
        self.traces[0].clear()
        self.traces[1].clear()
        self.state = "stopped"

    def start(self, now: float, delay: float = 0.0) -> None:
        """``STRT`` / ``STRD``: start or resume storage at ``now + delay``."""
        if self.state in ("stopped", "paused"):
            self.state = "running"
            self.t_next = now + delay

    def pause(self) -> None:
        """``PAUS``."""
        if self.state == "running":
            self.state = "paused"

    def due_times(self, now: float) -> np.ndarray:
        """World times of the samples due up to ``now`` (only those that will be kept);
        advances ``t_next`` past them."""
        if self.state != "running" or self.rate_index == TRIGGERED or now < self.t_next:
            return np.zeros(0)
        dt = 1.0 / sample_rate(self.rate_index)
        n = int((now - self.t_next) // dt) + 1
        first = 0
        if self.loop:
            first = max(0, n - CAPACITY)
        else:
            n = min(n, CAPACITY - self.points)
        times = self.t_next + dt * np.arange(first, n)
        self.t_next += dt * n
        return times

    def store(self, ch1: np.ndarray, ch2: np.ndarray) -> None:
        """Append points (both traces), honouring the one-shot / loop mode."""
        room = len(ch1) if self.loop else CAPACITY - self.points
        self.traces[0].extend(float(v) for v in ch1[:room])
        self.traces[1].extend(float(v) for v in ch2[:room])
        if not self.loop and self.points >= CAPACITY:
            self.state = "done"

    def fill(self, now: float, sample: Sampler) -> None:
        """Store every sample due up to ``now``; ``sample(times)`` gives the (CH1, CH2)
        arrays at those world times (s)."""
        times = self.due_times(now)
        if len(times):
            self.store(*sample(times))

    def trigger(self, now: float, sample: Sampler) -> None:
        """``TRIG``: start a scan if ``TSTR 1``; store one point if ``SRAT 14``."""
        if self.trigger_starts and self.state == "stopped":
            self.start(now)
        if self.state == "running" and self.rate_index == TRIGGERED:
            self.store(*sample(np.array([now])))

    def read(self, trace: int, start: int, count: int) -> list[float]:
        """``count`` points of ``trace`` (1, 2) from bin ``start``; ValueError if they
        are not all stored."""
        if trace not in (1, 2) or start < 0 or count < 1 or start + count > self.points:
            raise ValueError("points not in the buffer")
        return list(itertools.islice(self.traces[trace - 1], start, start + count))
