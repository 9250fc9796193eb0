"""The stop flag of a run: set by Ctrl-C, SIGTERM or a GUI button."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


class StopFlag:
    """Set by Ctrl-C / SIGTERM (or a GUI button); a second Ctrl-C raises KeyboardInterrupt.

    While the instruments are being made safe (``shutting_down``) signals are only
    logged, so an impatient Ctrl-C cannot cut the safe state short. Signal handlers are
    installed only in the main thread; elsewhere it is a plain flag.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.shutting_down = False

    def set(self, reason: str = "stop requested") -> None:
        """Ask the run to stop after the current point; the first reason is kept."""
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        """True once a stop was asked for."""
        return self._event.is_set()

    __call__ = is_set

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.shutting_down:
            log.warning("%s received while making the instruments safe: finishing that", name)
            self.set(name)
            return
        if self.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("%s received: stopping after the current point", name)
        self.set(name)

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        """Catch SIGINT and SIGTERM while the run lasts (SIGTERM where the platform has it)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {}
        for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
            if sig is not None:
                previous[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
