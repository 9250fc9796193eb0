"""The operating-system side of Windows, faked on POSIX so that andreev's Windows code
paths run in the suite (none of andreev's own code is replaced):

- :class:`FakeKernel32`: ``SetConsoleCtrlHandler`` records the console control handlers
  and can fire one, as Windows does on its own thread when the console is closed;
- :class:`FakeMsvcrt`: ``msvcrt.locking`` made of ``flock``, which like Windows' locks
  holds between processes and goes with its holder;
- :func:`pretend_windows`: both in place, ``ctypes.WINFUNCTYPE`` as ``CFUNCTYPE``, and
  the platform switches of ``andreev.engine.stop`` and ``station_lock`` on.
"""

from __future__ import annotations

import ctypes
import os
import sys
import types
from typing import Any

CTRL_C_EVENT, CTRL_BREAK_EVENT, CTRL_CLOSE_EVENT = 0, 1, 2


class FakeKernel32:
    """The part of kernel32 andreev uses (console control handlers, process handles)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, bool]] = []
        self.handlers: list[Any] = []

    def SetConsoleCtrlHandler(self, handler: Any, add: bool) -> int:
        self.calls.append((handler, bool(add)))
        if add:
            self.handlers.append(handler)
        else:
            self.handlers.remove(handler)
        return 1

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        """A handle (non-zero) when process ``pid`` exists, else 0."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        except PermissionError:
            pass
        return pid

    def CloseHandle(self, handle: int) -> int:
        return 1

    def fire(self, event: int) -> int:
        """Call the handlers, last registered first, until one returns TRUE (Windows'
        order); the value returned."""
        for handler in reversed(list(self.handlers)):
            if handler(event):
                return 1
        return 0


class FakeMsvcrt(types.ModuleType):
    """``msvcrt.locking`` (non-blocking lock and unlock) on ``flock``: held per open file
    like Windows' locks (POSIX record locks would go when any other handle of the file is
    closed, e.g. by reading the holder's text); the one byte andreev locks stands for the
    file."""

    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self) -> None:
        super().__init__("msvcrt")

    def locking(self, fd: int, mode: int, nbytes: int) -> None:
        import fcntl

        if mode == self.LK_UNLCK:
            fcntl.flock(fd, fcntl.LOCK_UN)
        else:  # raises OSError when another process holds it, as msvcrt does
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def pretend_windows(monkeypatch: Any) -> FakeKernel32:
    """Windows' OS side in place for one test (``monkeypatch``); the fake kernel32."""
    from andreev.engine import station_lock, stop

    kernel32 = FakeKernel32()
    monkeypatch.setattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE, raising=False)
    monkeypatch.setattr(ctypes, "windll", types.SimpleNamespace(kernel32=kernel32), raising=False)
    monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt())
    monkeypatch.setattr(stop, "WINDOWS", True)
    monkeypatch.setattr(station_lock, "WINDOWS", True)
    return kernel32


def install_msvcrt_for_subprocess() -> None:
    """In a child process: the fake msvcrt and station_lock's Windows path."""
    from andreev.engine import station_lock

    sys.modules["msvcrt"] = FakeMsvcrt()
    station_lock.WINDOWS = True
