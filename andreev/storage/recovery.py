"""Crash safety of the run file: the writer lock, fsync, and opening a run file so that a
SIGKILL at any instant leaves a file that opens again.

The hazard: HDF5 marks an open-for-write file in its superblock ("open for write",
"open for SWMR write") and refuses later opens until ``h5clear`` (not in the h5py
wheels) clears the marks. A file left marked "SWMR write" can still be read in SWMR
mode and copied; one left marked plain "write" cannot even be read. So:

- **A run file is never opened for writing outside SWMR mode.** A new run is laid out in
  ``<run>.h5.creating``, closed (clean), fsynced and renamed into place (``os.replace``,
  atomic); a resumed run is copied (:func:`rebuild`) into ``<run>.h5.recovering`` with
  the resume's edits made there, then renamed into place. The run file itself is then
  opened directly in SWMR-write mode (:func:`open_swmr_write`), so at every instant it
  is either absent (a new run killed before its rename), clean, or marked "SWMR write"
  — which :func:`rebuild` recovers. A kill during a copy leaves the original untouched.
- :func:`rebuild` reads the source in SWMR mode (exactly what the dead writer had
  flushed) and copies every object (``H5Ocopy``) into a fresh file. A file marked plain
  "write" (left by older andreev versions or other programs) is first copied byte for
  byte and the copy's flags cleared (:mod:`andreev.storage.superblock`, the effect of
  ``h5clear -s``), then rebuilt from that copy.
- Every writer holds an exclusive OS lock on ``<run>.h5.lock`` (:class:`WriterLock`),
  which the OS drops when the process dies, even by SIGKILL. The superblock marks alone
  cannot tell a live writer from a dead one; the lock can (:func:`writer_alive`).
- Files are written with :data:`LIBVER` bounds (HDF5 1.10 format: SWMR needs at least
  v110, and tools on HDF5 1.10–1.14 read it).

Test hook: with the environment variable ``ANDREEV_KILL_AT`` set to one of the
:data:`KILL_POINTS`, the process SIGKILLs itself at that instant (:func:`kill_point`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

import h5py

from andreev.errors import RunFileError, RunLockedError
from andreev.storage.schema import now_iso, text
from andreev.storage.superblock import clear_consistency_flags, truncation_problem
from andreev.storage.superblock import consistency_flags as _flags

__all__ = [
    "KILL_POINTS",
    "LIBVER",
    "WriterLock",
    "create_file",
    "fsync_file",
    "kill_point",
    "lock_holder",
    "mark_resumed",
    "needs_rebuild",
    "open_for_resume",
    "open_swmr_write",
    "rebuild",
    "reopen",
    "writer_alive",
]

#: HDF5 format bounds of every run file: the 1.10 format (SWMR needs it as lower bound)
LIBVER: tuple[str, str] = ("v110", "v110")
_LIBVER_CONST = h5py.h5f.LIBVER_V110
#: the instants a test may kill the writer at (``ANDREEV_KILL_AT``)
KILL_POINTS: tuple[str, ...] = (
    "create-laid-out",  # the new file written in <run>.creating, not yet renamed
    "create-renamed",  # the run file in place, clean, not yet re-opened
    "create-opened",  # opened in SWMR-write mode
    "reopen-copied",  # resume: the copy written, not yet renamed
    "reopen-renamed",  # resume: the copy in place, not yet re-opened
    "reopen-opened",  # resume: re-opened in SWMR-write mode
    "sweep-data",  # a sweep's data flushed, its status not yet written
    "sweep-status",  # a sweep's status written
    "close-status",  # the exit status flushed, the file not yet closed
    "closed",  # the file closed, the lock not yet released
    "rebuild-unflagged",  # repair: the flag-cleared byte copy written
)
#: what HDF5 says when the superblock carries a (dead or live) writer's marks
STALE_FLAGS_MESSAGES = ("already open for write", "not already open for SWMR writing")
_SUFFIXES = (".creating", ".recovering", ".unflagged")


def kill_point(name: str) -> None:
    """Test hook: SIGKILL this process when ``ANDREEV_KILL_AT`` equals ``name``."""
    if os.environ.get("ANDREEV_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)


def fsync_file(f: h5py.File) -> None:
    """Flush HDF5's buffers and force the file's bytes to stable storage."""
    f.flush()
    try:
        fd = f.id.get_vfd_handle()
    except Exception:  # drivers without a plain descriptor
        fd = None
    if isinstance(fd, int) and fd >= 0:
        os.fsync(fd)
        return
    with open(f.filename, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_path(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _install(tmp: Path, path: Path) -> None:
    """fsync ``tmp`` and rename it over ``path`` atomically."""
    _fsync_path(tmp)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _lock_fh(fh: IO[bytes]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


class WriterLock:
    """Exclusive OS lock on ``<run>.lock``, released on close or when the process dies.

    The lock file holds ``pid <n>`` and ``started <ISO time>`` of its holder.
    """

    def __init__(self, run_path: Path) -> None:
        self.path = _side(run_path, ".lock")
        self._fh: IO[bytes] | None = None
        for _ in range(10):
            fh = open(self.path, "a+b")  # held for the writer lifetime
            try:
                _lock_fh(fh)
            except OSError as exc:
                fh.close()
                raise RunLockedError(
                    f"{run_path} is being written by another live process "
                    f"({lock_holder(run_path) or 'lock ' + str(self.path) + ' is held'})"
                ) from exc
            # The previous holder may have unlinked the file between our open and lock.
            try:
                same = os.path.samestat(os.fstat(fh.fileno()), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same or sys.platform == "win32":
                self._fh = fh
                fh.seek(0)
                fh.truncate()
                fh.write(f"pid {os.getpid()}\nstarted {now_iso()}\n".encode())
                fh.flush()
                return
            fh.close()
        raise RunLockedError(f"could not take the writer lock {self.path}")

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fh is None:
            return
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._fh.close()  # closing drops the lock
        self._fh = None
        if sys.platform == "win32":  # only once closed there; a new holder keeps it open
            with contextlib.suppress(OSError):
                self.path.unlink()


def lock_holder(run_path: str | os.PathLike[str]) -> str:
    """What the lock file says of its holder ("pid 123, started …"), or ""."""
    lock = _side(Path(run_path), ".lock")
    try:
        lines = lock.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return ""
    return ", ".join(line.strip() for line in lines if line.strip())


def writer_alive(run_path: str | os.PathLike[str]) -> bool:
    """True while a live process holds the run's writer lock (probes it without taking
    it over: the lock file is left in place)."""
    lock = _side(Path(run_path), ".lock")
    try:
        fh = open(lock, "rb")
    except FileNotFoundError:
        return False
    try:
        try:
            _lock_fh(fh)
        except OSError:
            return True
        return False
    finally:
        fh.close()  # drops the probe's lock, if it got it


def _fapl() -> h5py.h5p.PropFAID:
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(_LIBVER_CONST, _LIBVER_CONST)
    return fapl


def open_swmr_write(path: Path) -> h5py.File:
    """Open an existing, cleanly closed run file directly in SWMR-write mode."""
    flags = h5py.h5f.ACC_RDWR | h5py.h5f.ACC_SWMR_WRITE
    return h5py.File(h5py.h5f.open(os.fsencode(path), flags, _fapl()))


def create_file(path: Path, build: Callable[[h5py.File], None]) -> h5py.File:
    """Lay out a new run with ``build`` in ``<run>.creating``, rename it into place and
    return it opened in SWMR-write mode. ``path`` never exists half-built."""
    tmp = _side(path, ".creating")
    try:
        with h5py.File(tmp, "w", libver=LIBVER) as f:
            build(f)
        kill_point("create-laid-out")
        _install(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    kill_point("create-renamed")
    f = open_swmr_write(path)
    kill_point("create-opened")
    return f


def _open_source(path: Path) -> tuple[h5py.File, Path | None]:
    """The run file opened for copying, and the temporary flag-cleared copy if one was
    needed (a file marked open for plain, non-SWMR write)."""
    if (cut := truncation_problem(path)) is not None:
        raise RunFileError(f"{path} is {cut}")
    try:
        return h5py.File(path, "r", libver=LIBVER, swmr=True), None
    except (OSError, RuntimeError) as exc:
        if not any(m in str(exc) for m in STALE_FLAGS_MESSAGES):
            raise RunFileError(f"{path} cannot be opened as an HDF5 run file: {exc}") from exc
    unflagged = _side(path, ".unflagged")
    shutil.copyfile(path, unflagged)
    clear_consistency_flags(unflagged)
    kill_point("rebuild-unflagged")
    try:
        return h5py.File(unflagged, "r", libver=LIBVER), unflagged
    except (OSError, RuntimeError) as exc:
        unflagged.unlink(missing_ok=True)
        raise RunFileError(f"{path}: unreadable even with its write marks cleared: {exc}") from exc


def _copy_all(src: h5py.File, dst: h5py.File) -> None:
    for key in src.attrs:
        dst.attrs.create(key, src.attrs[key], dtype=src.attrs.get_id(key).dtype)
    for name in src:
        src.copy(src[name], dst, name=name)


def rebuild(path: Path, edit: Callable[[h5py.File], None] | None = None) -> None:
    """Copy the run (live-readable part) into a fresh, clean file, apply ``edit`` to the
    copy, and swap it in atomically. Call with the :class:`WriterLock` held."""
    tmp = _side(path, ".recovering")
    for suffix in _SUFFIXES[1:]:
        _side(path, suffix).unlink(missing_ok=True)  # left by a killed earlier attempt
    src, unflagged = _open_source(path)
    try:
        with src, h5py.File(tmp, "w", libver=LIBVER) as dst:
            _copy_all(src, dst)
            if edit is not None:
                edit(dst)
        kill_point("reopen-copied")
        _install(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if unflagged is not None:
            unflagged.unlink(missing_ok=True)


def needs_rebuild(path: Path) -> bool:
    """True when the superblock still carries a writer's marks (killed or live)."""
    return _flags(path) != 0


def reopen(path: Path, edit: Callable[[h5py.File], None]) -> h5py.File:
    """Resume: rebuild the run with ``edit`` applied, then open it in SWMR-write mode.
    Call with the :class:`WriterLock` held."""
    rebuild(path, edit)
    kill_point("reopen-renamed")
    f = open_swmr_write(path)
    kill_point("reopen-opened")
    return f


W = TypeVar("W")


def mark_resumed(f: h5py.File) -> None:
    """The edits every resume makes on the rebuilt copy: exit status "running" again, no
    end time, and the time of this resume appended to ``/entry``'s ``resumed_at``."""
    import numpy as np

    entry = f["entry"]
    entry["exit_status"][()] = np.bytes_(b"running")
    entry["end_time"][()] = np.bytes_(b"")
    resumed = [text(v) for v in np.atleast_1d(entry.attrs.get("resumed_at", []))]
    entry.attrs["resumed_at"] = [*resumed, now_iso()]


def open_for_resume(
    path: Path, edit: Callable[[h5py.File], None], build: Callable[[Path, h5py.File, WriterLock], W]
) -> W:
    """A writer of an existing run, to resume it: the writer lock taken, the file rebuilt
    with ``edit`` and opened in SWMR-write mode (:func:`reopen`), the writer made by
    ``build(path, file, lock)``; on any failure the file is closed and the lock released.

    Raises:
        FileNotFoundError: no such file.
        RunLockedError: another live process writes it.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    lock = WriterLock(path)
    try:
        f = reopen(path, edit)
        try:
            return build(path, f, lock)
        except BaseException:
            f.close()
            raise
    except BaseException:
        lock.release()
        raise


def _mark_killed(f: h5py.File) -> None:
    """The edits of a repair: a "running" exit status becomes "killed", no live sweep."""
    import numpy as np

    from andreev.storage.schema import LIVE_GROUP, text

    entry = f["entry"]
    if text(entry["exit_status"][()]) == "running":
        entry["exit_status"][()] = np.bytes_(b"killed")
    if LIVE_GROUP in entry:
        entry[LIVE_GROUP]["index"][:] = -1


def repair(path: str | os.PathLike[str]) -> str:
    """Recover a run file left by a killed writer, without touching any instrument: the
    writer's marks cleared (a clean copy swapped in) and a "running" exit status made
    "killed". Returns what was done, one line.

    Raises:
        FileNotFoundError: no such file.
        RunLockedError: a live process is writing the run.
        RunFileError: not an HDF5 file, or damaged beyond a rebuild.
    """
    from andreev.storage.schema import text

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    lock = WriterLock(path)
    try:
        flagged = needs_rebuild(path)
        with contextlib.closing(_open_source(path)[0]) as src:
            if "entry/exit_status" not in src:
                raise RunFileError(f"{path} is an HDF5 file but not an andreev run file")
            stored = text(src["entry/exit_status"][()])
        _side(path, ".unflagged").unlink(missing_ok=True)
        if not flagged and stored != "running":
            return f"{path}: nothing to repair (closed cleanly, exit status {stored})"
        rebuild(path, _mark_killed)
    finally:
        lock.release()
    was = "left open by a dead writer, " if flagged else ""
    now = "killed" if stored == "running" else stored
    return f"{path}: repaired ({was}exit status {stored} -> {now})"
