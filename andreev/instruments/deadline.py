"""Bounded waits on an instrument that stopped answering.

A silent instrument (connection accepted, requests never answered) must not cost the
full reply timeout on every request — a run's safe state and ``andreev info`` would
then take minutes. :class:`Silence` is the per-connection memory of that: after a
request timed out, the next ones wait at most :attr:`Silence.probe_timeout`; once it
has been silent for :attr:`Silence.give_up_after` seconds (and at least two requests in a
row went unanswered), requests fail at once, naming the first unanswered command,
except one probe every :attr:`Silence.probe_interval` seconds. Any reply ends
the silence. Times are wall-clock seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Silence:
    """What is known of an instrument's silence (see the module docstring).

    Attributes:
        probe_timeout: reply timeout once a request went unanswered (s).
        probe_interval: while failing fast, one request in this many s is still sent (s).
        give_up_after: silence (s) after which requests fail without waiting.
    """

    probe_timeout: float = 2.0
    probe_interval: float = 15.0
    give_up_after: float = 8.0
    timeouts: int = 0
    first_command: str = ""
    first_timeout: float = 0.0
    _since: float = field(default=0.0, repr=False)
    _last_probe: float = field(default=0.0, repr=False)

    def reply_timeout(self, normal: float) -> float | None:
        """The wait for the next request's reply (s); None: do not send it at all."""
        if self.timeouts == 0:
            return normal
        now = time.monotonic()
        silent_for = now - self._since
        if (
            self.timeouts >= 2
            and silent_for >= self.give_up_after
            and now - self._last_probe < self.probe_interval
        ):
            return None
        self._last_probe = now
        return min(normal, self.probe_timeout)

    def timed_out(self, command: str, waited: float) -> None:
        """Record that ``command`` got no reply within ``waited`` s."""
        if self.timeouts == 0:
            self.first_command, self.first_timeout = command, waited
            self._since = time.monotonic() - waited
        self.timeouts += 1
        self._last_probe = time.monotonic()

    def answered(self) -> None:
        """A reply arrived: the instrument talks again."""
        self.timeouts = 0

    def describe(self) -> str:
        """Since when the instrument is silent, for error messages ("" when it is not)."""
        if self.timeouts == 0:
            return ""
        return (
            f"not answering since {self.first_command!r} got no reply within "
            f"{self.first_timeout:g} s"
        )
