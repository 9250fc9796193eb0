"""The stop flag of a run: set by Ctrl-C, SIGTERM, Ctrl-Break or closing the console
(Windows), or a GUI button."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

log = logging.getLogger(__name__)

#: the platform's console control handler exists (Windows only)
WINDOWS = sys.platform == "win32"


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
        #: set when the :meth:`installed` block ends: the run is over (instruments safe,
        #: run file closed); a console close handler waits for it
        self.finished = threading.Event()

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
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
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
        """Catch SIGINT and SIGTERM while the run lasts (SIGTERM where the platform has
        it); on Windows also Ctrl-Break (SIGBREAK) and closing the console window (a
        console control handler), so that each of them makes the instruments safe."""
        self.finished.clear()
        if threading.current_thread() is not threading.main_thread():
            try:
                yield self
            finally:
                self.finished.set()
            return
        previous = {}
        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, self._handle)
        console = _ConsoleCloseHandler(self) if WINDOWS else None
        try:
            yield self
        finally:
            self.finished.set()
            if console is not None:
                console.remove()
            for sig, old in previous.items():
                signal.signal(sig, old)


class _ConsoleCloseHandler:
    """Windows only: closing the console window, logging off or shutting down sets the
    stop flag and holds the process until the run is over (instruments safe, run file
    closed: ``flag.finished``) or ``grace`` s have passed: Windows ends the process when
    the handler returns, and at the latest ~5 s after a close."""

    #: CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT
    EVENTS: ClassVar[dict[int, str]] = {2: "console closed", 5: "logoff", 6: "shutdown"}

    def __init__(self, flag: StopFlag, grace: float = 4.5) -> None:
        import ctypes
        from ctypes import wintypes

        self.flag, self.grace = flag, grace
        prototype = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.DWORD)  # type: ignore[attr-defined]
        self._callback = prototype(self._on_event)  # kept referenced while installed
        self._kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        self._kernel32.SetConsoleCtrlHandler(self._callback, True)

    def _on_event(self, event: int) -> bool:
        reason = self.EVENTS.get(event)
        if reason is None:  # Ctrl-C and Ctrl-Break arrive as signals
            return False
        log.warning("%s: stopping and making the instruments safe", reason)
        self.flag.set(reason)
        if not self.flag.finished.wait(self.grace):
            log.error("%s: the run did not end within %.1f s", reason, self.grace)
        return True

    def remove(self) -> None:
        self._kernel32.SetConsoleCtrlHandler(self._callback, False)
