"""One run per station: a lock file held while ``andreev run`` or ``andreev info`` uses a
station's instruments.

Where: next to the station file, ``STATION.yaml.lock`` (every user and process that
uses the same station file sees the same lock). When that folder cannot be written
(a read-only install) the lock lives in the per-user state folder instead, named after
a hash of the station file's absolute path (:func:`lock_path`).

How: the truth is an operating-system lock on the open lock file (``flock`` on POSIX,
``msvcrt.locking`` on Windows), which the system releases when the holder dies, even by
SIGKILL; the file's text only says who holds it (process id, host, start time, the
command and the run file) so that a refused second user can be told. A lock file left
behind by a killed process is therefore recognised as stale (its lock is free, its
process gone) and taken over. The file is removed on a normal exit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import ntpath
import os
import posixpath
import re
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from andreev.errors import RunLockedError

__all__ = ["StationLock", "lock_path", "pid_alive", "state_dir", "state_lock_name"]

log = logging.getLogger(__name__)

#: byte locked on Windows, far past the text, so the holder's text stays readable
_WINDOWS_LOCK_OFFSET = 1 << 30
#: Windows: msvcrt locks, %LOCALAPPDATA%, case-insensitive paths with drive letters
WINDOWS = sys.platform == "win32"


def state_dir() -> Path:
    """andreev's per-user state folder (``ANDREEV_STATE_DIR``, else %LOCALAPPDATA%\\andreev
    on Windows, else ``$XDG_STATE_HOME/andreev`` or ``~/.local/state/andreev``)."""
    if os.environ.get("ANDREEV_STATE_DIR"):
        return Path(os.environ["ANDREEV_STATE_DIR"])
    if WINDOWS and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "andreev"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "andreev"


def lock_path(station_file: Path | str) -> Path:
    """The lock file of ``station_file``: beside it when its folder is writable, else in
    :func:`state_dir` keyed by the hash of its absolute path."""
    station = Path(station_file).resolve()
    if os.access(station.parent, os.W_OK):
        return station.with_name(station.name + ".lock")
    return state_dir() / "locks" / state_lock_name(str(station))


def state_lock_name(station: str, windows: bool | None = None) -> str:
    """The name of the lock of the station file at absolute path ``station`` in the state
    folder: its stem (characters any file system takes) and a hash of the path, which on
    Windows is folded first as the file system does (``C:\\Lab\\Fridge.yaml``,
    ``c:/lab/FRIDGE.YAML`` and ``\\\\?\\C:\\Lab\\Fridge.yaml`` are one file, so one lock).
    ``windows``: fold as Windows does (default: when running there)."""
    windows = WINDOWS if windows is None else windows
    flavour = ntpath if windows else posixpath
    if windows:
        for prefix, replacement in (("\\\\?\\UNC\\", "\\\\"), ("\\\\?\\", "")):
            if station.replace("/", "\\").upper().startswith(prefix.upper()):
                station = replacement + station[len(prefix) :]
                break
    key = flavour.normcase(flavour.normpath(station))
    stem = flavour.splitext(flavour.basename(key))[0]
    safe = re.sub(r"[^\w.-]", "_", stem).strip(".") or "station"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{safe}-{digest}.lock"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    if WINDOWS:
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # type: ignore[attr-defined]
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)  # type: ignore[attr-defined]
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _msvcrt() -> Any:
    """Windows' C runtime module (its ``locking``), looked up when used."""
    import importlib

    return importlib.import_module("msvcrt")


def _try_lock(handle: IO[str]) -> bool:
    """Take the OS lock on ``handle`` without waiting; False when another holds it."""
    if WINDOWS:
        msvcrt = _msvcrt()
        handle.seek(_WINDOWS_LOCK_OFFSET)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _unlock(handle: IO[str]) -> None:
    if WINDOWS:
        msvcrt = _msvcrt()
        handle.seek(_WINDOWS_LOCK_OFFSET)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(holder: dict[str, Any]) -> str:
    """``pid 123 on host, since 2026-11-29 14:02:11, andreev run (run file data/x.h5)``."""
    parts = [f"pid {holder.get('pid', '?')}"]
    if holder.get("host"):
        parts[0] += f" on {holder['host']}"
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    if holder.get("command"):
        parts.append(str(holder["command"]))
    text = ", ".join(parts)
    return text + (f" (run file {holder['run_file']})" if holder.get("run_file") else "")


class StationLock:
    """The lock of one station file; use as a context manager or acquire()/release().

    Args:
        station_file: the station YAML the instruments come from.
        command: what uses the station (``andreev run``, ``andreev info``), for the
            refusal message of a second user.
    """

    def __init__(self, station_file: Path | str, command: str = "andreev") -> None:
        self.station_file = Path(station_file)
        self.path = lock_path(station_file)
        self.command = command
        self.info: dict[str, Any] = {}
        self._handle: IO[str] | None = None

    def acquire(self) -> StationLock:
        """Take the lock or raise RunLockedError naming who holds it."""
        for _attempt in range(5):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
            if not _try_lock(handle):
                handle.close()
                holder = _read_holder(self.path)
                raise RunLockedError(
                    f"station {self.station_file} is in use by {describe_holder(holder)}; "
                    f"one run per station (lock file {self.path})"
                )
            if self._same_file(handle):
                self._handle = handle
                break
            _unlock(handle)  # the holder removed the file meanwhile: lock the new one
            handle.close()
        else:
            raise RunLockedError(f"cannot lock {self.path}: it keeps being replaced")
        stale = _read_holder(self.path)
        if stale.get("pid"):
            log.warning(
                "took over the stale lock of %s (process %s)",
                describe_holder(stale),
                "still running" if pid_alive(int(stale["pid"])) else "not running",
            )
        self.info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": self.command,
            "station": str(self.station_file.resolve()),
        }
        self._write()
        return self

    def _same_file(self, handle: IO[str]) -> bool:
        """True when ``handle`` is still the file at the lock's path (POSIX: a releaser
        may have unlinked it between our open and our lock)."""
        try:
            return os.path.samestat(os.fstat(handle.fileno()), os.stat(self.path))
        except OSError:
            return False

    def _write(self) -> None:
        assert self._handle is not None
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(self.info))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def update(self, **fields: Any) -> None:
        """Add ``fields`` (e.g. ``run_file``) to what the lock file says."""
        if self._handle is None:
            return
        self.info.update({k: str(v) for k, v in fields.items()})
        self._write()

    def release(self) -> None:
        """Remove the lock file and release the lock (safe to call twice)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            if not WINDOWS:
                self.path.unlink(missing_ok=True)  # while still locked: no one reuses it
            _unlock(handle)
        finally:
            handle.close()
        if WINDOWS:
            try:
                self.path.unlink(missing_ok=True)
            except OSError:  # another process opened it meanwhile: it will take it over
                pass

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._handle is not None

    def __enter__(self) -> StationLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
