"""Crash safety of the run file: the writer lock, fsync, and re-opening a killed writer's file.

A writer that dies leaves the superblock's "open for write / SWMR write" flags set, and
HDF5 then refuses any further write open ("file is already open for write/SWMR write
(may use <h5clear file> …)"). ``locking=False`` and ``HDF5_USE_FILE_LOCKING=FALSE`` do not
help (they concern OS locks, not these flags), h5py exposes no way to clear them, and a
*live* SWMR writer leaves the very same flags, so the flags alone cannot tell a dead
writer from a live one. Therefore (what :meth:`andreev.storage.RunWriter.open` does):

1. Every writer holds an exclusive OS lock on a sidecar file ``<run>.h5.lock``
   (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) for its lifetime
   (:class:`WriterLock`). The OS drops the lock when the process dies, even by SIGKILL.
   ``open`` takes this lock first; if it is held, another process is writing the run and
   :class:`~andreev.errors.RunLockedError` is raised.
2. With the lock held, ``open`` tries a normal read/write open (:func:`open_rw`). If HDF5
   refuses it because of the stale flags, the file is rebuilt (:func:`rebuild`): opened
   read-only in SWMR mode (which ignores the flags and sees exactly what the dead writer
   had flushed), every object and attribute is copied with ``H5Ocopy`` into
   ``<run>.h5.recovering``, which is fsynced and then atomically renamed over the original
   (``os.replace``). This is the effect of ``h5clear -s`` using public API only, and the
   rebuilt file is free of space the dead writer had allocated but not recorded. The
   original is only replaced once the copy is complete, so a crash during recovery leaves
   the run as it was.
3. The file is then opened for read/write, ``exit_status`` is set back to "running", the
   resume time is appended to the ``/entry`` attribute ``resumed_at``, and SWMR mode is
   switched on again. ``first_unfinished()`` gives the sweep to continue with.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO

import h5py

from andreev.errors import RunLockedError

__all__ = ["WriterLock", "fsync_file", "open_rw", "rebuild"]

#: what HDF5 says when the superblock still carries a (dead or live) writer's flags
STALE_FLAGS_MESSAGE = "already open for write"


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


class WriterLock:
    """Exclusive OS lock on ``<run>.lock``, released on close or when the process dies."""

    def __init__(self, run_path: Path) -> None:
        self.path = run_path.with_name(run_path.name + ".lock")
        self._fh: IO[bytes] | None = None
        for _ in range(10):
            fh = open(self.path, "a+b")  # held for the writer lifetime
            try:
                self._lock(fh)
            except OSError as exc:
                fh.close()
                raise RunLockedError(
                    f"{run_path} is being written by another live process "
                    f"(lock {self.path} is held)"
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
                fh.write(f"pid {os.getpid()}\n".encode())
                fh.flush()
                return
            fh.close()
        raise RunLockedError(f"could not take the writer lock {self.path}")

    @staticmethod
    def _lock(fh: IO[bytes]) -> None:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fh is None:
            return
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._fh.close()  # closing drops the lock
        self._fh = None


def rebuild(path: Path) -> None:
    """Copy everything a dead writer flushed into a fresh file and swap it in atomically."""
    tmp = path.with_name(path.name + ".recovering")
    try:
        with (
            h5py.File(path, "r", libver="latest", swmr=True) as src,
            h5py.File(tmp, "w", libver="latest") as dst,
        ):
            for key in src.attrs:
                dst.attrs.create(key, src.attrs[key], dtype=src.attrs.get_id(key).dtype)
            for name in src:
                src.copy(src[name], dst, name=name)
        _fsync_path(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def open_rw(path: Path) -> h5py.File:
    """Open a run for read/write; rebuild it first when a dead writer's flags refuse that.

    Call only with the :class:`WriterLock` held: then the flags cannot be a live writer's.
    """
    try:
        return h5py.File(path, "r+", libver="latest")
    except OSError as exc:
        if STALE_FLAGS_MESSAGE not in str(exc):
            raise
    rebuild(path)
    return h5py.File(path, "r+", libver="latest")
