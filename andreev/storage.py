"""One HDF5 (NeXus-shaped) file per run, written in SWMR mode, with resume after a crash.

Dimensions of a run are ``(outer, setpoint, direction, bias)``; ``outer`` is the outer
stepper ("temperature", "position", a qcodes parameter's name, or "step"). Units are SI
(V, A, S, K, s) and stored as a ``units`` attribute on every dataset.

File layout (``<outer>`` is the outer dimension's name, see *Name clashes* below)::

    /                                 attrs: default="entry", creator, file_name, HDF5_Version
    └── entry                         NXentry; attrs: default="data", + extra_attrs
        ├── start_time                ISO 8601 text (fixed length)
        ├── end_time                  ISO 8601 text, "" while running
        ├── exit_status               running | completed | aborted | failed
        ├── program_name              "andreev", attr version
        ├── setpoint_bias             V (bias at which the setpoint current is regulated)
        ├── v_mod_rms                 V (lock-in modulation at the junction, rms)
        ├── experiment_config         NXnote: type "application/yaml", data (text)
        ├── station_snapshot          NXnote: type "application/json", data (text)
        ├── data                      NXdata: signal="dIdV", auxiliary_signals=[x, y, current],
        │   │                         axes=[<outer>, "setpoint", "direction", "bias"], *_indices
        │   ├── dIdV, x, y, current   (n_outer, n_setpoint, n_direction, n_bias) S, V, V, A
        │   ├── temperature, z,       (n_outer, n_setpoint, n_direction) K, m, s (Unix), S
        │   │   timestamp, g_normal
        │   ├── status                (n_outer, n_setpoint, n_direction) HDF5 enum (uint8),
        │   │                         attr mapping (JSON): pending 0, done 1, failed 2, retaken 3
        │   ├── <outer>, setpoint (A), direction (text), bias (V)   axis datasets
        │   └── extra outer coords    (n_outer,) e.g. position_x (m), attr <name>_indices = 0
        └── settling                  NXcollection, one NXdata per outer index
            └── outer_000 …           t (s), temperature (K), heater (%) resizable (maxshape None)

Every float dataset is NaN until written. A backward sweep is stored on the same ``bias``
grid as a forward one: element ``k`` of every array belongs to ``bias[k]`` whatever the
direction, so the caller reverses backward readings into grid order.

SWMR: the file is created with ``libver="latest"``; every object (including one resizable
settling group per outer index, since the number of outer steps is known at creation while
trace lengths are not) is created *before* ``swmr_mode = True``, because SWMR forbids new
objects and attribute changes afterwards. That is also why start/end time and exit status
are datasets, not attributes. ``write_sweep`` writes the data, flushes and fsyncs, then
writes the sweep's status, flushes and fsyncs again: a status "done" on disk implies the
data are on disk, and a killed writer loses at most the sweep in flight. A reader follows
a live run with ``h5py.File(path, "r", libver="latest", swmr=True)`` and
``dataset.refresh()``; :func:`load` opens that way, so it works on a live file, a closed
file and the file of a killed writer.

Killed-writer recovery (what ``RunWriter.open`` does). A writer that dies leaves the
superblock's "open for write / SWMR write" flags set, and HDF5 then refuses any further
write open ("file is already open for write/SWMR write (may use <h5clear file> …)").
``locking=False`` and ``HDF5_USE_FILE_LOCKING=FALSE`` do not help (they concern OS locks,
not these flags), h5py exposes no way to clear them, and a *live* SWMR writer leaves the
very same flags, so the flags alone cannot tell a dead writer from a live one. Therefore:

1. Every writer holds an exclusive OS lock on a sidecar file ``<run>.h5.lock``
   (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) for its lifetime. The OS drops
   the lock when the process dies, even by SIGKILL. ``open`` takes this lock first; if it
   is held, another process is writing the run and :class:`RunLockedError` is raised.
2. With the lock held, ``open`` tries a normal read/write open. If HDF5 refuses it because
   of the stale flags, the file is rebuilt: opened read-only in SWMR mode (which ignores
   the flags and sees exactly what the dead writer had flushed), every object and attribute
   is copied with ``H5Ocopy`` into ``<run>.h5.recovering``, which is fsynced and then
   atomically renamed over the original (``os.replace``). This is the effect of
   ``h5clear -s`` using public API only, and the rebuilt file is free of space the dead
   writer had allocated but not recorded. The original is only replaced once the copy is
   complete, so a crash during recovery leaves the run as it was.
3. The file is then opened for read/write, ``exit_status`` is set back to "running", the
   resume time is appended to the ``/entry`` attribute ``resumed_at``, and SWMR mode is
   switched on again. ``first_unfinished()`` gives the sweep to continue with.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

import h5py
import numpy as np

import andreev
from andreev.errors import RunLockedError

if TYPE_CHECKING:
    import xarray

__all__ = [
    "EXIT_STATUSES",
    "STATUS_NAMES",
    "RunLockedError",
    "RunWriter",
    "load",
    "load_settling",
]

STATUS_NAMES: tuple[str, ...] = ("pending", "done", "failed", "retaken")
"""Per-sweep states; their index is the stored enum value."""
#: "incomplete": the run went through its plan but some sweeps are failed (resume
#: retakes them)
EXIT_STATUSES: tuple[str, ...] = ("running", "completed", "incomplete", "aborted", "failed")
FINISHED: frozenset[str] = frozenset({"done", "retaken"})

SIGNALS: dict[str, str] = {"dIdV": "S", "x": "V", "y": "V", "current": "A"}
"""Per-point datasets on (outer, setpoint, direction, bias) and their units."""
PER_SWEEP: dict[str, str] = {"temperature": "K", "z": "m", "timestamp": "s", "g_normal": "S"}
"""Per-sweep scalar datasets on (outer, setpoint, direction) and their units."""
FIXED_AXES = ("setpoint", "direction", "bias")
RESERVED: frozenset[str] = frozenset({*SIGNALS, *PER_SWEEP, "status", *FIXED_AXES})

_STATUS_DTYPE = h5py.enum_dtype({n: i for i, n in enumerate(STATUS_NAMES)}, basetype="u1")
_LONG_NAMES = {
    "dIdV": "dI/dV",
    "x": "lock-in X",
    "y": "lock-in Y",
    "current": "tunnel current",
}
_TIME_DTYPE = "S40"
_EXIT_DTYPE = "S16"
_STALE_FLAGS_MESSAGE = "already open for write"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="microseconds")


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _fsync_file(f: h5py.File) -> None:
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


class _WriterLock:
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
        if self._fh is None:
            return
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._fh.close()  # closing drops the lock
        self._fh = None


def _rebuild(path: Path) -> None:
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


def _open_rw(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r+", libver="latest")
    except OSError as exc:
        if _STALE_FLAGS_MESSAGE not in str(exc):
            raise
    _rebuild(path)
    return h5py.File(path, "r+", libver="latest")


def _free_name(name: str, taken: set[str], fallback: str) -> str:
    if name not in taken:
        return name
    if fallback in taken:
        raise ValueError(f"name {name!r} clashes with {sorted(taken)} and so does {fallback!r}")
    return fallback


def _as_1d(name: str, values: Any, *, dtype: Any = float) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}")
    return arr


class RunWriter:
    """Writer of one run file (see the module docstring for the layout and guarantees).

    Make one with :meth:`create` (new run) or :meth:`open` (resume); use as a context
    manager or call :meth:`close`. All arrays are SI: dI/dV in S, lock-in X/Y in V,
    current in A, bias in V, temperatures in K, z in m, timestamps in s since the Unix epoch.
    """

    def __init__(self, path: Path, file: h5py.File, lock: _WriterLock) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.path = path
        self._f = file
        self._lock = lock
        entry = file["entry"]
        data = entry["data"]
        axes = [_text(a) for a in data.attrs["axes"]]
        self.outer_dim: str = axes[0]
        """Name of the outer dimension in the file and in :func:`load` (see *Name clashes*)."""
        self.outer_name: str = _text(data.attrs["outer_name"])
        """The outer stepper's name as given to :meth:`create`."""
        self.outer_values: np.ndarray = data[self.outer_dim][()]
        self.setpoints: np.ndarray = data["setpoint"][()]
        self.bias: np.ndarray = data["bias"][()]
        self.directions: tuple[str, ...] = tuple(_text(d) for d in data["direction"][()])
        self.shape: tuple[int, int, int, int] = data["dIdV"].shape
        self._data = data
        self._entry = entry
        self._status = np.asarray(data["status"][()], dtype=np.uint8)
        self._settling = entry["settling"]
        self._closed = False

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        outer_name: str,
        outer_values: Sequence[float] | np.ndarray,
        outer_unit: str,
        setpoints: Sequence[float] | np.ndarray,
        bias: Sequence[float] | np.ndarray,
        directions: Sequence[str] = ("forward",),
        setpoint_bias: float,
        v_mod_rms: float,
        config_yaml: str,
        snapshot: Mapping[str, Any],
        extra_attrs: Mapping[str, Any] | None = None,
        extra_outer_coords: Mapping[str, tuple[Sequence[float] | np.ndarray, str]] | None = None,
        overwrite: bool = False,
    ) -> RunWriter:
        """Create a new run file and return its writer (already in SWMR mode).

        ``outer_values`` in ``outer_unit``; ``setpoints`` in A; ``bias`` in V (the grid of
        every sweep); ``directions`` is ``("forward",)`` or ``("forward", "backward")``;
        ``setpoint_bias`` and ``v_mod_rms`` in V. ``extra_outer_coords`` maps a name to
        ``(values, unit)``, one value per outer step (e.g. tip ``x``/``y`` for a position
        series). Name clashes: an outer name or extra coordinate that equals a data
        variable or fixed axis name (e.g. outer "temperature" vs the measured per-sweep
        ``temperature``, or extra "x" vs lock-in ``x``) is renamed to ``<outer>_nominal``
        resp. ``<outer_dim>_<name>``; ``RunWriter.outer_dim`` and ``load(...).attrs
        ["outer_dim"]`` give the name actually used. Refuses to replace an existing file
        unless ``overwrite``.
        """
        path = Path(path)
        if not outer_name or "/" in outer_name:
            raise ValueError(f"outer_name must be a non-empty name without '/', got {outer_name!r}")
        outer_arr = _as_1d("outer_values", outer_values)
        setpoint_arr = _as_1d("setpoints", setpoints)
        bias_arr = _as_1d("bias", bias)
        dirs = tuple(str(d) for d in directions)
        if dirs not in (("forward",), ("forward", "backward")):
            raise ValueError(
                f"directions must be ('forward',) or ('forward', 'backward'), got {dirs}"
            )
        dim = _free_name(outer_name, set(RESERVED), f"{outer_name}_nominal")
        extra: dict[str, tuple[np.ndarray, str, str]] = {}
        taken = set(RESERVED) | {dim}
        for name, (values, unit) in (extra_outer_coords or {}).items():
            arr = _as_1d(f"extra_outer_coords[{name!r}]", values)
            if arr.shape != outer_arr.shape:
                raise ValueError(
                    f"extra_outer_coords[{name!r}] has {arr.size} values, "
                    f"outer_values has {outer_arr.size}"
                )
            stored = _free_name(name, taken, f"{dim}_{name}")
            taken.add(stored)
            extra[stored] = (arr, str(unit), name)
        extra_attrs = dict(extra_attrs or {})
        for key in extra_attrs:
            if key in {"NX_class", "default", "resumed_at"}:
                raise ValueError(f"extra_attrs may not set the reserved attribute {key!r}")
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")

        lock = _WriterLock(path)
        try:
            f = h5py.File(path, "w", libver="latest")
            try:
                cls._layout(
                    f,
                    path=path,
                    outer_name=outer_name,
                    dim=dim,
                    outer=(outer_arr, str(outer_unit)),
                    setpoints=setpoint_arr,
                    bias=bias_arr,
                    directions=dirs,
                    setpoint_bias=float(setpoint_bias),
                    v_mod_rms=float(v_mod_rms),
                    config_yaml=str(config_yaml),
                    snapshot_json=json.dumps(dict(snapshot), default=_json_default),
                    extra_attrs=extra_attrs,
                    extra=extra,
                )
                f.swmr_mode = True
                _fsync_file(f)
            except BaseException:
                f.close()
                path.unlink(missing_ok=True)
                raise
        except BaseException:
            lock.release()
            raise
        return cls(path, f, lock)

    @staticmethod
    def _layout(
        f: h5py.File,
        *,
        path: Path,
        outer_name: str,
        dim: str,
        outer: tuple[np.ndarray, str],
        setpoints: np.ndarray,
        bias: np.ndarray,
        directions: tuple[str, ...],
        setpoint_bias: float,
        v_mod_rms: float,
        config_yaml: str,
        snapshot_json: str,
        extra_attrs: dict[str, Any],
        extra: dict[str, tuple[np.ndarray, str, str]],
    ) -> None:
        n_o, n_s, n_d, n_b = outer[0].size, setpoints.size, len(directions), bias.size
        f.attrs["default"] = "entry"
        f.attrs["creator"] = f"andreev {andreev.__version__}"
        f.attrs["file_name"] = path.name
        f.attrs["HDF5_Version"] = h5py.version.hdf5_version
        f.attrs["h5py_version"] = h5py.version.version

        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        for key, value in extra_attrs.items():
            entry.attrs[key] = value
        entry.create_dataset("start_time", data=np.bytes_(_now_iso().encode()), dtype=_TIME_DTYPE)
        entry.create_dataset("end_time", data=np.bytes_(b""), dtype=_TIME_DTYPE)
        entry.create_dataset("exit_status", data=np.bytes_(b"running"), dtype=_EXIT_DTYPE)
        prog = entry.create_dataset("program_name", data="andreev")
        prog.attrs["version"] = andreev.__version__
        for name, value in (("setpoint_bias", setpoint_bias), ("v_mod_rms", v_mod_rms)):
            entry.create_dataset(name, data=value).attrs["units"] = "V"
        for name, mime, text in (
            ("experiment_config", "application/yaml", config_yaml),
            ("station_snapshot", "application/json", snapshot_json),
        ):
            note = entry.create_group(name)
            note.attrs["NX_class"] = "NXnote"
            note.create_dataset("type", data=mime)
            note.create_dataset("data", data=text, dtype=h5py.string_dtype("utf-8"))

        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        data.attrs["signal"] = "dIdV"
        data.attrs["auxiliary_signals"] = [s for s in SIGNALS if s != "dIdV"]
        data.attrs["axes"] = [dim, *FIXED_AXES]
        data.attrs["outer_name"] = outer_name
        for i, axis in enumerate([dim, *FIXED_AXES]):
            data.attrs[f"{axis}_indices"] = i
        for name in extra:
            data.attrs[f"{name}_indices"] = 0
        for name, unit in SIGNALS.items():
            ds = data.create_dataset(
                name,
                shape=(n_o, n_s, n_d, n_b),
                dtype="f8",
                chunks=(1, 1, 1, n_b),
                fillvalue=np.nan,
            )
            ds.attrs["units"] = unit
            ds.attrs["long_name"] = _LONG_NAMES[name]
        sweep_shape = (n_o, n_s, n_d)
        for name, unit in PER_SWEEP.items():
            ds = data.create_dataset(
                name, shape=sweep_shape, dtype="f8", chunks=(1, n_s, n_d), fillvalue=np.nan
            )
            ds.attrs["units"] = unit
        status = data.create_dataset(
            "status", shape=sweep_shape, dtype=_STATUS_DTYPE, chunks=(1, n_s, n_d), fillvalue=0
        )
        status.attrs["units"] = ""
        status.attrs["mapping"] = json.dumps({n: i for i, n in enumerate(STATUS_NAMES)})

        outer_ds = data.create_dataset(dim, data=outer[0])
        outer_ds.attrs["units"] = outer[1]
        outer_ds.attrs["long_name"] = outer_name
        data.create_dataset("setpoint", data=setpoints).attrs["units"] = "A"
        data.create_dataset(
            "direction", data=list(directions), dtype=h5py.string_dtype("utf-8")
        ).attrs["units"] = ""
        data.create_dataset("bias", data=bias).attrs["units"] = "V"
        for name, (values, unit, given) in extra.items():
            ds = data.create_dataset(name, data=values)
            ds.attrs["units"] = unit
            ds.attrs["long_name"] = given

        settling = entry.create_group("settling")
        settling.attrs["NX_class"] = "NXcollection"
        for i in range(n_o):
            g = settling.create_group(_settling_name(i, n_o))
            g.attrs["NX_class"] = "NXdata"
            g.attrs["signal"] = "temperature"
            g.attrs["auxiliary_signals"] = ["heater"]
            g.attrs["axes"] = ["t"]
            g.attrs["t_indices"] = 0
            g.attrs["outer_index"] = i
            g.attrs[dim] = outer[0][i]
            for name, unit in (("t", "s"), ("temperature", "K"), ("heater", "%")):
                ds = g.create_dataset(
                    name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,), fillvalue=np.nan
                )
                ds.attrs["units"] = unit

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunWriter:
        """Re-open an existing run to resume it (append + SWMR), recovering a killed writer.

        Raises :class:`RunLockedError` if another live process is writing the run. See the
        module docstring for how a file left by a killed writer is recovered.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(path)
        lock = _WriterLock(path)
        try:
            f = _open_rw(path)
            try:
                entry = f["entry"]
                entry["exit_status"][()] = np.bytes_(b"running")
                entry["end_time"][()] = np.bytes_(b"")
                resumed = [_text(v) for v in np.atleast_1d(entry.attrs.get("resumed_at", []))]
                entry.attrs["resumed_at"] = [*resumed, _now_iso()]
                f.swmr_mode = True
                _fsync_file(f)
                writer = cls(path, f, lock)
            except BaseException:
                f.close()
                raise
        except BaseException:
            lock.release()
            raise
        return writer

    # ---------------------------------------------------------------- writing
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"RunWriter for {self.path} is closed")

    def _check_index(self, i_outer: int, i_setpoint: int, i_direction: int) -> tuple[int, int, int]:
        out = []
        for name, value, n in zip(
            ("i_outer", "i_setpoint", "i_direction"),
            (i_outer, i_setpoint, i_direction),
            self.shape[:3],
            strict=True,
        ):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if not 0 <= int(value) < n:
                raise IndexError(f"{name}={value} out of range 0..{n - 1}")
            out.append(int(value))
        return out[0], out[1], out[2]

    @staticmethod
    def _check_status(status: str) -> int:
        if status not in STATUS_NAMES:
            raise ValueError(f"status must be one of {STATUS_NAMES}, got {status!r}")
        return STATUS_NAMES.index(status)

    def write_sweep(
        self,
        i_outer: int,
        i_setpoint: int,
        i_direction: int,
        *,
        didv: Sequence[float] | np.ndarray,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        current: Sequence[float] | np.ndarray,
        temperature: float,
        z: float,
        timestamp: float,
        g_normal: float,
        status: str = "done",
    ) -> None:
        """Store one bias sweep and mark it ``status``; durable (flush + fsync) on return.

        ``didv`` (S), ``x``/``y`` (V, lock-in), ``current`` (A): one value per point of the
        ``bias`` grid, in grid order for both directions. ``temperature`` (K, measured),
        ``z`` (m), ``timestamp`` (s, Unix), ``g_normal`` (S). The data are made durable
        before the status, so a status of "done" on disk implies the sweep is complete.
        """
        self._check_open()
        i, j, k = self._check_index(i_outer, i_setpoint, i_direction)
        code = self._check_status(status)
        n_b = self.shape[3]
        arrays = {}
        for name, values in (("dIdV", didv), ("x", x), ("y", y), ("current", current)):
            arr = np.asarray(values, dtype=float)
            if arr.shape != (n_b,):
                raise ValueError(
                    f"{name} must have shape ({n_b},) to match the bias grid, got {arr.shape}"
                )
            arrays[name] = arr
        scalars = {}
        for name, value in (
            ("temperature", temperature),
            ("z", z),
            ("timestamp", timestamp),
            ("g_normal", g_normal),
        ):
            arr = np.asarray(value, dtype=float)
            if arr.shape != ():
                raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
            scalars[name] = float(arr)
        for name, arr in arrays.items():
            self._data[name][i, j, k, :] = arr
        for name, value in scalars.items():
            self._data[name][i, j, k] = value
        _fsync_file(self._f)
        self._write_status(i, j, k, code)

    def _write_status(self, i: int, j: int, k: int, code: int) -> None:
        self._data["status"][i, j, k] = np.uint8(code)
        self._status[i, j, k] = code
        _fsync_file(self._f)

    def set_status(self, i_outer: int, i_setpoint: int, i_direction: int, status: str) -> None:
        """Set one sweep's status (pending, done, failed, retaken); durable on return."""
        self._check_open()
        i, j, k = self._check_index(i_outer, i_setpoint, i_direction)
        self._write_status(i, j, k, self._check_status(status))

    def sweep_status(self) -> np.ndarray:
        """Status of every sweep as str, shape (n_outer, n_setpoint, n_direction)."""
        return np.asarray(STATUS_NAMES)[self._status]

    def first_unfinished(self) -> tuple[int, int, int] | None:
        """(i_outer, i_setpoint, i_direction) of the first sweep, in index order, that is
        neither "done" nor "retaken"; None when every sweep is finished."""
        finished = np.isin(self._status, [STATUS_NAMES.index(s) for s in FINISHED])
        todo = np.argwhere(~finished)
        if todo.size == 0:
            return None
        i, j, k = (int(v) for v in todo[0])
        return i, j, k

    def write_settling_trace(
        self,
        i_outer: int,
        t: Sequence[float] | np.ndarray,
        temperature: Sequence[float] | np.ndarray,
        heater: Sequence[float] | np.ndarray,
    ) -> None:
        """Store (replace) the temperature-settling trace of outer step ``i_outer``.

        ``t`` (s), ``temperature`` (K), ``heater`` (% of range), equal lengths, any length
        (0 allowed). Calling it again, e.g. with a growing trace while settling or after a
        resume, replaces the stored trace. Durable on return.
        """
        self._check_open()
        if isinstance(i_outer, bool) or not isinstance(i_outer, int | np.integer):
            raise TypeError(f"i_outer must be an int, got {i_outer!r}")
        if not 0 <= int(i_outer) < self.shape[0]:
            raise IndexError(f"i_outer={i_outer} out of range 0..{self.shape[0] - 1}")
        arrays = {
            "t": np.asarray(t, dtype=float),
            "temperature": np.asarray(temperature, dtype=float),
            "heater": np.asarray(heater, dtype=float),
        }
        shapes = {name: arr.shape for name, arr in arrays.items()}
        if any(len(s) != 1 for s in shapes.values()) or len(set(shapes.values())) != 1:
            raise ValueError(f"t, temperature and heater must be 1-D of equal length, got {shapes}")
        group = self._settling[_settling_name(int(i_outer), self.shape[0])]
        n = arrays["t"].size
        for name, arr in arrays.items():
            ds = group[name]
            ds.resize((n,))
            if n:
                ds[:] = arr
        _fsync_file(self._f)

    # ---------------------------------------------------------------- closing
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, exit_status: str = "completed") -> None:
        """Record end time and ``exit_status`` (running, completed, aborted, failed), close
        the file and release the writer lock. A second call does nothing."""
        if self._closed:
            return
        if exit_status not in EXIT_STATUSES:
            raise ValueError(f"exit_status must be one of {EXIT_STATUSES}, got {exit_status!r}")
        try:
            self._entry["end_time"][()] = np.bytes_(_now_iso().encode())
            self._entry["exit_status"][()] = np.bytes_(exit_status.encode())
            _fsync_file(self._f)
        finally:
            self._closed = True
            try:
                self._f.close()
            finally:
                self._lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close as "completed", "aborted" (KeyboardInterrupt) or "failed" (other error)."""
        if exc_type is None:
            self.close("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("aborted")
        else:
            self.close("failed")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"RunWriter({str(self.path)!r}, shape={self.shape}, {state})"


def _settling_name(i: int, n_outer: int) -> str:
    return f"outer_{i:0{max(3, len(str(n_outer - 1)))}d}"


# -------------------------------------------------------------------- reading
def _open_read(path: str | os.PathLike[str]) -> h5py.File:
    return h5py.File(Path(path), "r", libver="latest", swmr=True)


def read_config_yaml(path: str | os.PathLike[str]) -> str:
    """The experiment YAML stored in a run file (works on a file left by a killed writer)."""
    with _open_read(path) as f:
        return _text(f["entry/experiment_config/data"][()])


def load(path: str | os.PathLike[str]) -> xarray.Dataset:
    """Read a run (live, finished, or left by a killed writer) into an ``xarray.Dataset``.

    Data variables ``dIdV`` (S), ``x``, ``y`` (V), ``current`` (A) on (outer, setpoint,
    direction, bias); ``temperature`` (K, measured), ``z`` (m), ``timestamp`` (s, Unix),
    ``g_normal`` (S), ``status`` (str) on (outer, setpoint, direction). Coordinates: the
    outer one (named ``attrs["outer_dim"]``, see :meth:`RunWriter.create` on name
    clashes) plus any extra per-outer coordinates, ``setpoint`` (A), ``direction``,
    ``bias`` (V). Every variable has ``attrs["units"]``. Dataset attrs: ``start_time``,
    ``end_time``, ``exit_status``, ``program_name``, ``program_version``, ``config_yaml``,
    ``snapshot_json``, ``setpoint_bias`` (V), ``v_mod_rms`` (V), ``outer_name``,
    ``outer_dim``, ``resumed_at``, ``path`` and the run's extra attrs.
    """
    import xarray as xr

    with _open_read(path) as f:
        entry = f["entry"]
        data = entry["data"]
        axes = [_text(a) for a in data.attrs["axes"]]
        dims4 = tuple(axes)
        dims3 = dims4[:3]
        coords: dict[str, Any] = {}
        for axis in axes:
            ds = data[axis]
            values = ds[()]
            if axis == "direction":
                values = np.asarray([_text(v) for v in values])
            attrs = {"units": _text(ds.attrs.get("units", ""))}
            if "long_name" in ds.attrs:
                attrs["long_name"] = _text(ds.attrs["long_name"])
            coords[axis] = (axis, values, attrs)
        for key in data.attrs:
            name = key.removesuffix("_indices")
            if key.endswith("_indices") and name not in axes and name in data:
                ds = data[name]
                attrs = {"units": _text(ds.attrs.get("units", ""))}
                if "long_name" in ds.attrs:
                    attrs["long_name"] = _text(ds.attrs["long_name"])
                coords[name] = (axes[0], ds[()], attrs)
        data_vars: dict[str, Any] = {}
        for name in SIGNALS:
            ds = data[name]
            data_vars[name] = (dims4, ds[()], {"units": _text(ds.attrs["units"])})
        for name in PER_SWEEP:
            ds = data[name]
            data_vars[name] = (dims3, ds[()], {"units": _text(ds.attrs["units"])})
        codes = np.asarray(data["status"][()], dtype=np.intp)
        data_vars["status"] = (
            dims3,
            np.asarray(STATUS_NAMES)[codes],
            {"units": "", "allowed": list(STATUS_NAMES)},
        )
        attrs: dict[str, Any] = {
            "start_time": _text(entry["start_time"][()]),
            "end_time": _text(entry["end_time"][()]),
            "exit_status": _text(entry["exit_status"][()]),
            "program_name": _text(entry["program_name"][()]),
            "program_version": _text(entry["program_name"].attrs["version"]),
            "config_yaml": _text(entry["experiment_config/data"][()]),
            "snapshot_json": _text(entry["station_snapshot/data"][()]),
            "setpoint_bias": float(entry["setpoint_bias"][()]),
            "v_mod_rms": float(entry["v_mod_rms"][()]),
            "outer_name": _text(data.attrs["outer_name"]),
            "outer_dim": axes[0],
            "path": str(Path(path)),
        }
        attrs["resumed_at"] = [_text(v) for v in np.atleast_1d(entry.attrs.get("resumed_at", []))]
        for key, value in entry.attrs.items():
            if key in {"NX_class", "default", "resumed_at"}:
                continue
            attrs[key] = _text(value) if isinstance(value, bytes | np.bytes_) else value
    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)


def load_settling(path: str | os.PathLike[str]) -> list[xarray.Dataset]:
    """Settling traces of a run, one ``xarray.Dataset`` per outer index (empty ones included).

    Each has ``temperature`` (K) and ``heater`` (%) on dimension ``t`` (s), and attrs
    ``outer_index`` and the outer value. Safe on live and killed-writer files.
    """
    import xarray as xr

    out = []
    with _open_read(path) as f:
        settling = f["entry/settling"]
        for name in sorted(settling):
            g = settling[name]
            arrays = {k: g[k][()] for k in ("t", "temperature", "heater")}
            n = min(a.size for a in arrays.values())  # a live writer may be mid-resize
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in g.attrs.items()}
            for key in ("NX_class", "signal", "auxiliary_signals", "axes", "t_indices"):
                attrs.pop(key, None)
            out.append(
                xr.Dataset(
                    {
                        k: ("t", arrays[k][:n], {"units": _text(g[k].attrs["units"])})
                        for k in ("temperature", "heater")
                    },
                    coords={"t": ("t", arrays["t"][:n], {"units": "s"})},
                    attrs=attrs,
                )
            )
    return out


# ---- analysis results: /entry/analysis ---------------------------------------------


@dataclass
class ResultGroup:
    """Analysis results to store under ``/entry/analysis`` (or a sub-group of it).

    Attributes:
        attrs: HDF5 attributes (numbers, strings, small arrays).
        datasets: name → (values, units, long_name); string arrays are stored as UTF-8.
        groups: name → sub-group.
    """

    attrs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, tuple[Any, str, str]] = field(default_factory=dict)
    groups: dict[str, ResultGroup] = field(default_factory=dict)


def _write_group(g: h5py.Group, results: ResultGroup) -> None:
    for key, value in results.attrs.items():
        g.attrs[key] = value
    for name, (values, units, long_name) in results.datasets.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "USO":
            ds = g.create_dataset(
                name, data=arr.astype(str).astype(object), dtype=h5py.string_dtype()
            )
        else:
            ds = g.create_dataset(name, data=arr)
        if units:
            ds.attrs["units"] = units
        if long_name:
            ds.attrs["long_name"] = long_name
    for name, sub in results.groups.items():
        _write_group(g.create_group(name), sub)


def write_analysis(
    path: str | os.PathLike[str], results: ResultGroup, *, program: str = "andreev analyze"
) -> None:
    """Replace ``/entry/analysis`` of a closed run file with ``results`` (raw data untouched).

    The group is an NXprocess with the program, andreev's version and the date; the file
    is flushed and fsynced. Raises RunLockedError while a writer holds the run.
    """
    lock = _WriterLock(Path(path))
    try:
        with h5py.File(Path(path), "r+") as f:
            entry = f["entry"]
            if "analysis" in entry:
                del entry["analysis"]
            g = entry.create_group("analysis")
            g.attrs["NX_class"] = "NXprocess"
            g.attrs["program"] = program
            g.attrs["version"] = andreev.__version__
            g.attrs["date"] = _now_iso()
            _write_group(g, results)
            _fsync_file(f)
    finally:
        lock.release()


def _read_group(g: h5py.Group) -> ResultGroup:
    out = ResultGroup(attrs={k: v for k, v in g.attrs.items()})
    for name, item in g.items():
        if isinstance(item, h5py.Group):
            out.groups[name] = _read_group(item)
            continue
        values = item.asstr()[()] if h5py.check_string_dtype(item.dtype) else item[()]
        out.datasets[name] = (
            values,
            _text(item.attrs.get("units", "")),
            _text(item.attrs.get("long_name", "")),
        )
    return out


def read_analysis(path: str | os.PathLike[str]) -> ResultGroup | None:
    """The stored ``/entry/analysis`` of a run file, or None when it has none."""
    with _open_read(path) as f:
        if "analysis" not in f["entry"]:
            return None
        return _read_group(f["entry/analysis"])
