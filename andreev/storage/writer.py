"""The writer of one run file: create, write sweeps and settling traces, statuses, close.

SWMR: the file is created with :data:`~andreev.storage.recovery.LIBVER` bounds (HDF5
1.10 format); every object is created *before* it is opened in SWMR-write mode
(:mod:`andreev.storage.layout`, :func:`~andreev.storage.recovery.create_file`).
``write_sweep`` writes the data, flushes and fsyncs, then writes the sweep's status,
flushes and fsyncs again: a status "done" on disk implies the data are on disk, and a
killed writer loses at most the sweep in flight. A reader follows a live run with
``h5py.File(path, "r", swmr=True)`` and ``dataset.refresh()``; :func:`andreev.storage.load`
opens that way. The sweep in progress is mirrored, point by point, in
``/entry/live`` (:meth:`RunWriter.write_live`), flushed without fsync at most about
once a second. Resuming a run left by a killed writer, and why a kill at any instant is
safe: :mod:`andreev.storage.recovery`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import h5py
import numpy as np

from andreev.storage.grid import (
    DRIFT_GROUP,
    DRIFT_SCALARS,
    DRIFT_SIGNALS,
    VISIT_DIM,
    MapGrid,
    by_visit,
    is_grid,
    sweep_slot,
    visit_cells,
)
from andreev.storage.layout import RunLayout, write_layout
from andreev.storage.recovery import (
    WriterLock,
    create_file,
    fsync_file,
    kill_point,
    mark_resumed,
    open_for_resume,
)
from andreev.storage.schema import (
    EXIT_STATUSES,
    FILM_GROUP,
    FINISHED,
    LIVE_GROUP,
    PER_SWEEP,
    RESERVED,
    RESERVED_ATTRS,
    SETTLING,
    SIGNALS,
    STATUS_NAMES,
    json_default,
    now_iso,
    settling_name,
    status_code,
    text,
)

__all__ = ["RunWriter"]

ArrayLike = Sequence[float] | np.ndarray


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


def _check_int_index(name: str, value: Any, n: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not 0 <= int(value) < n:
        raise IndexError(f"{name}={value} out of range 0..{n - 1}")
    return int(value)


def _extra_coords(
    extra_outer_coords: Mapping[str, tuple[ArrayLike, str]] | None, outer: np.ndarray, dim: str
) -> dict[str, tuple[np.ndarray, str, str]]:
    """Stored name → (values, unit, given name) of the extra per-outer coordinates."""
    extra: dict[str, tuple[np.ndarray, str, str]] = {}
    taken = set(RESERVED) | {dim}
    for name, (values, unit) in (extra_outer_coords or {}).items():
        arr = _as_1d(f"extra_outer_coords[{name!r}]", values)
        if arr.shape != outer.shape:
            raise ValueError(
                f"extra_outer_coords[{name!r}] has {arr.size} values, outer_values has {outer.size}"
            )
        stored = _free_name(name, taken, f"{dim}_{name}")
        taken.add(stored)
        extra[stored] = (arr, str(unit), name)
    return extra


def _plan(
    *,
    outer_name: str,
    outer_values: ArrayLike,
    outer_unit: str,
    setpoints: ArrayLike,
    bias: ArrayLike,
    directions: Sequence[str],
    setpoint_bias: float,
    v_mod_rms: float,
    config_yaml: str,
    snapshot: Mapping[str, Any],
    extra_attrs: Mapping[str, Any] | None,
    extra_outer_coords: Mapping[str, tuple[ArrayLike, str]] | None,
    film_readings: int = 0,
    grid: MapGrid | None = None,
) -> RunLayout:
    """Validate the arguments of :meth:`RunWriter.create` into a :class:`RunLayout`."""
    if not outer_name or "/" in outer_name:
        raise ValueError(f"outer_name must be a non-empty name without '/', got {outer_name!r}")
    outer_arr = _as_1d("outer_values", outer_values)
    setpoint_arr = _as_1d("setpoints", setpoints)
    bias_arr = _as_1d("bias", bias)
    dirs = tuple(str(d) for d in directions)
    one = dirs[:2] if dirs[1:2] == ("backward",) else dirs[:1]
    repeats = tuple(f"{d}_{n}" for n in range(2, len(dirs) // max(len(one), 1) + 1) for d in one)
    if one not in (("forward",), ("forward", "backward")) or dirs != one + repeats:
        raise ValueError(
            "directions must be ('forward',) or ('forward', 'backward'), then their repeats "
            f"('forward_2', …), got {dirs}"
        )
    dim = _free_name(outer_name, set(RESERVED), f"{outer_name}_nominal")
    extra = _extra_coords(extra_outer_coords, outer_arr, dim)
    if grid is not None:
        if outer_arr.size != grid.n_visits:
            raise ValueError(f"{outer_arr.size} outer steps for a grid of {grid.n_visits} points")
        dim, extra = VISIT_DIM, {}  # the positions are stored on the grid
    attrs = dict(extra_attrs or {})
    for key in attrs:
        if key in RESERVED_ATTRS:
            raise ValueError(f"extra_attrs may not set the reserved attribute {key!r}")
    return RunLayout(
        outer_name=outer_name,
        dim=dim,
        outer=(outer_arr, str(outer_unit)),
        setpoints=setpoint_arr,
        bias=bias_arr,
        directions=dirs,
        setpoint_bias=float(setpoint_bias),
        v_mod_rms=float(v_mod_rms),
        config_yaml=str(config_yaml),
        snapshot_json=json.dumps(dict(snapshot), default=json_default),
        extra_attrs=attrs,
        extra=extra,
        film_readings=max(0, int(film_readings)),
        grid=grid,
    )


class RunWriter:
    """Writer of one run file (layout: :mod:`andreev.storage.schema`).

    Make one with :meth:`create` (new run) or :meth:`open` (resume); use as a context
    manager or call :meth:`close`. All arrays are SI: dI/dV in S, lock-in X/Y in V,
    current in A, bias in V, temperatures in K, z in m, timestamps in s since the Unix epoch.
    """

    def __init__(self, path: Path, file: h5py.File, lock: WriterLock) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.path = path
        self._f = file
        self._lock = lock
        entry = file["entry"]
        data = entry["data"]
        axes = [text(a) for a in data.attrs["axes"]]
        self._cells: np.ndarray | None = visit_cells(data) if is_grid(data) else None
        """(iy, ix) of each visit of a grid run (None: no grid; :mod:`~andreev.storage.grid`)."""
        self.outer_dim: str = axes[0] if self._cells is None else VISIT_DIM
        """Name of the outer dimension in the file and in :func:`load` (see *Name clashes*)."""
        self.outer_name: str = text(data.attrs["outer_name"])
        """The outer stepper's name as given to :meth:`create`."""
        self.outer_values: np.ndarray = (
            data[self.outer_dim][()]
            if self._cells is None
            else np.arange(self._cells.shape[0], dtype=float)
        )
        self.setpoints: np.ndarray = data["setpoint"][()]
        self.bias: np.ndarray = data["bias"][()]
        self.directions: tuple[str, ...] = tuple(text(d) for d in data["direction"][()])
        n_s, n_d, n_b = data["dIdV"].shape[-3:]
        self.shape: tuple[int, int, int, int] = (self.outer_values.size, n_s, n_d, n_b)
        """(n_outer, n_setpoint, n_direction, n_bias): how the engine addresses sweeps
        (n_outer = the visits of a grid run)."""
        self._data = data
        self._entry = entry
        self._status = np.asarray(by_visit(self._cells, data["status"][()]), dtype=np.uint8)
        self._settling = entry["settling"]
        self._closed = False
        self.live_period = 1.0
        """Seconds between two flushes of the live datasets."""
        self._live_due = 0.0
        self._live: h5py.Group | None = entry[LIVE_GROUP] if LIVE_GROUP in entry else None

    # ---------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        outer_name: str,
        outer_values: ArrayLike,
        outer_unit: str,
        setpoints: ArrayLike,
        bias: ArrayLike,
        directions: Sequence[str] = ("forward",),
        setpoint_bias: float,
        v_mod_rms: float,
        config_yaml: str,
        snapshot: Mapping[str, Any],
        extra_attrs: Mapping[str, Any] | None = None,
        extra_outer_coords: Mapping[str, tuple[ArrayLike, str]] | None = None,
        film_readings: int = 0,
        grid: MapGrid | None = None,
        overwrite: bool = False,
    ) -> RunWriter:
        """Create a new run file and return its writer (already in SWMR mode).

        ``outer_values`` in ``outer_unit``; ``setpoints`` in A; ``bias`` in V (the grid of
        every sweep); ``directions`` is ``("forward",)`` or ``("forward", "backward")``,
        then the same with "_2", "_3", … for repeated sweeps;
        ``setpoint_bias`` and ``v_mod_rms`` in V. ``extra_outer_coords`` maps a name to
        ``(values, unit)``, one value per outer step (e.g. tip ``x``/``y`` for a position
        series). ``film_readings`` > 0 adds ``/entry/film_resistance`` (that many film
        readings per outer step, :meth:`write_film_resistance`). ``grid`` (a
        :class:`~andreev.storage.grid.MapGrid`, one visit per outer step) makes a grid
        run: the data on (grid_y, grid_x, setpoint, direction, bias), the outer steps its
        visits (dimension ``position``), ``/entry/drift`` for its drift checks, and
        ``extra_outer_coords`` ignored (the positions are stored on the grid). Name
        clashes: an outer name or extra coordinate that equals a data variable or fixed
        axis name (e.g. outer "temperature" vs the measured per-sweep ``temperature``, or
        extra "x" vs lock-in ``x``) is renamed to ``<outer>_nominal`` resp.
        ``<outer_dim>_<name>``; ``RunWriter.outer_dim`` and ``load(...).attrs
        ["outer_dim"]`` give the name actually used. Refuses to replace an existing file
        unless ``overwrite``.
        """
        path = Path(path)
        run = _plan(
            outer_name=outer_name,
            outer_values=outer_values,
            outer_unit=outer_unit,
            setpoints=setpoints,
            bias=bias,
            directions=directions,
            setpoint_bias=setpoint_bias,
            v_mod_rms=v_mod_rms,
            config_yaml=config_yaml,
            snapshot=snapshot,
            extra_attrs=extra_attrs,
            extra_outer_coords=extra_outer_coords,
            film_readings=film_readings,
            grid=grid,
        )
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        lock = WriterLock(path)
        try:
            f = create_file(path, lambda new: write_layout(new, path, run))
        except BaseException:
            lock.release()
            raise
        return cls(path, f, lock)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunWriter:
        """Re-open an existing run to resume it (append + SWMR), recovering a killed writer.

        Raises :class:`~andreev.errors.RunLockedError` if another live process is writing
        the run. How a file left by a killed writer is recovered:
        :mod:`andreev.storage.recovery`.
        """
        return open_for_resume(Path(path), mark_resumed, cls)

    # ---------------------------------------------------------------- writing
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"RunWriter for {self.path} is closed")

    def _check_index(self, i_outer: int, i_setpoint: int, i_direction: int) -> tuple[int, int, int]:
        n_o, n_s, n_d, _ = self.shape
        return (
            _check_int_index("i_outer", i_outer, n_o),
            _check_int_index("i_setpoint", i_setpoint, n_s),
            _check_int_index("i_direction", i_direction, n_d),
        )

    def _sweep_arrays(self, values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        n_b = self.shape[3]
        arrays = {}
        for name, given in values.items():
            arr = np.asarray(given, dtype=float)
            if arr.shape != (n_b,):
                raise ValueError(
                    f"{name} must have shape ({n_b},) to match the bias grid, got {arr.shape}"
                )
            arrays[name] = arr
        return arrays

    @staticmethod
    def _sweep_scalars(values: Mapping[str, Any]) -> dict[str, float]:
        scalars = {}
        for name, value in values.items():
            arr = np.asarray(value, dtype=float)
            if arr.shape != ():
                raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
            scalars[name] = float(arr)
        return scalars

    def write_sweep(
        self,
        i_outer: int,
        i_setpoint: int,
        i_direction: int,
        *,
        didv: ArrayLike,
        x: ArrayLike,
        y: ArrayLike,
        current: ArrayLike,
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
        code = status_code(status)
        arrays = self._sweep_arrays(dict(zip(SIGNALS, (didv, x, y, current), strict=True)))
        scalars = self._sweep_scalars(
            dict(zip(PER_SWEEP, (temperature, z, timestamp, g_normal), strict=True))
        )
        slot = sweep_slot(self._cells, i, j, k)
        for name, arr in arrays.items():
            self._data[name][slot] = arr
        for name, value in scalars.items():
            self._data[name][slot] = value
        fsync_file(self._f)
        kill_point("sweep-data")
        self._write_status(i, j, k, code)

    def _write_status(self, i: int, j: int, k: int, code: int) -> None:
        self._data["status"][sweep_slot(self._cells, i, j, k)] = np.uint8(code)
        self._status[i, j, k] = code
        fsync_file(self._f)
        kill_point("sweep-status")

    def set_status(self, i_outer: int, i_setpoint: int, i_direction: int, status: str) -> None:
        """Set one sweep's status (pending, done, failed, retaken); durable on return."""
        self._check_open()
        i, j, k = self._check_index(i_outer, i_setpoint, i_direction)
        self._write_status(i, j, k, status_code(status))

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
        self, i_outer: int, t: ArrayLike, temperature: ArrayLike, heater: ArrayLike
    ) -> None:
        """Store (replace) the temperature-settling trace of outer step ``i_outer``.

        ``t`` (s), ``temperature`` (K), ``heater`` (% of range), equal lengths, any length
        (0 allowed). Calling it again, e.g. with a growing trace while settling or after a
        resume, replaces the stored trace. Durable on return.
        """
        self._check_open()
        i = _check_int_index("i_outer", i_outer, self.shape[0])
        arrays = {
            name: np.asarray(values, dtype=float)
            for name, values in zip(SETTLING, (t, temperature, heater), strict=True)
        }
        shapes = {name: arr.shape for name, arr in arrays.items()}
        if any(len(s) != 1 for s in shapes.values()) or len(set(shapes.values())) != 1:
            raise ValueError(f"t, temperature and heater must be 1-D of equal length, got {shapes}")
        if self._cells is not None:
            raise ValueError(f"{self.path} is a grid run: it has no settling traces")
        group = self._settling[settling_name(i, self.shape[0])]
        n = arrays["t"].size
        for name, arr in arrays.items():
            ds = group[name]
            ds.resize((n,))
            if n:
                ds[:] = arr
        fsync_file(self._f)

    def write_film_resistance(
        self, i_outer: int, resistance: ArrayLike, temperature: ArrayLike, timestamp: ArrayLike
    ) -> None:
        """Store (replace) the film readings of outer step ``i_outer``: ``resistance`` (Ω),
        ``temperature`` (K) and ``timestamp`` (s, Unix), equal lengths, at most the
        ``film_readings`` the file was made for (the rest stay NaN). Durable on return.

        Raises:
            ValueError: the file has no ``/entry/film_resistance`` or the lengths differ.
        """
        self._check_open()
        i = _check_int_index("i_outer", i_outer, self.shape[0])
        if FILM_GROUP not in self._entry:
            raise ValueError(f"{self.path} was not made for film readings (film_readings = 0)")
        group = self._entry[FILM_GROUP]
        arrays = [
            np.atleast_1d(np.asarray(v, dtype=float)) for v in (resistance, temperature, timestamp)
        ]
        width = group["resistance"].shape[1]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1 or arrays[0].size > width:
            raise ValueError(f"resistance, temperature, timestamp: 1-D, equal, ≤ {width} values")
        for name, arr in zip(("resistance", "temperature", "time"), arrays, strict=True):
            row = np.full(width, np.nan)
            row[: arr.size] = arr
            group[name][i, :] = row
        fsync_file(self._f)

    def write_drift(
        self, i_check: int, *, sweeps: Mapping[str, Any], scalars: Mapping[str, float]
    ) -> None:
        """Store (replace) drift check ``i_check`` of a grid run in ``/entry/drift``:
        ``sweeps`` maps ``dIdV`` (S), ``x``, ``y`` (V), ``current`` (A) to
        (n_direction, n_bias) arrays on the bias grid; ``scalars`` ``time`` (s, Unix),
        ``reference_current`` (A), ``reference_z`` (m), ``temperature`` (K). Durable on
        return.

        Raises:
            ValueError: not a grid run with drift checks, or a name or shape is wrong.
        """
        self._check_open()
        if DRIFT_GROUP not in self._entry:
            raise ValueError(f"{self.path} has no drift checks")
        group = self._entry[DRIFT_GROUP]
        i = _check_int_index("i_check", i_check, group["time"].shape[0])
        if set(sweeps) != set(DRIFT_SIGNALS) or set(scalars) != set(DRIFT_SCALARS):
            raise ValueError(f"drift check needs {list(DRIFT_SIGNALS)} and {list(DRIFT_SCALARS)}")
        for name, values in sweeps.items():
            arr = np.asarray(values, dtype=float)
            if arr.shape != group[name].shape[1:]:
                raise ValueError(f"{name}: shape {arr.shape}, expected {group[name].shape[1:]}")
            group[name][i] = arr
        for name, value in scalars.items():
            group[name][i] = float(value)
        fsync_file(self._f)

    # ---------------------------------------------------------------- the live sweep
    def write_live(
        self,
        index: tuple[int, int, int],
        values: Mapping[str, ArrayLike],
        points: int,
        attempt: int = 0,
        *,
        started: float = float("nan"),
        force: bool = False,
    ) -> bool:
        """Mirror the sweep in progress at ``index`` = (i_outer, i_setpoint, i_direction)
        into ``/entry/live`` for live readers: ``values`` maps signal names (``dIdV`` S,
        ``x``, ``y`` V, ``current`` A) to arrays on the bias grid, NaN where not yet taken;
        ``points`` taken so far; ``started`` (s, Unix) the sweep's start. The arrays are
        written first, ``index`` and ``updated`` last, then flushed (no fsync) — only
        when ``force`` or at least :attr:`live_period` s after the last flush; returns True
        when flushed. A file made before the live group existed: nothing is written."""
        self._check_open()
        now = time.monotonic()
        if self._live is None or (not force and now < self._live_due):
            return False
        i, j, k = self._check_index(*index)
        arrays = self._sweep_arrays(values)
        for name, arr in arrays.items():
            if name not in SIGNALS:
                raise ValueError(f"live values must be among {list(SIGNALS)}, got {name!r}")
            self._live[name][:] = arr
        self._live["n_points"][()] = np.int64(points)
        self._live["attempt"][()] = np.int64(attempt)
        self._live["started"][()] = float(started)
        self._live["index"][:] = np.array([i, j, k], dtype="i8")
        self._live["updated"][()] = time.time()
        self._f.flush()
        self._live_due = now + self.live_period
        return True

    def _clear_live(self) -> None:
        """No sweep in progress: index back to -1, the arrays to NaN."""
        if self._live is None:
            return
        for name in SIGNALS:
            self._live[name][...] = np.nan
        self._live["n_points"][()] = np.int64(0)
        self._live["index"][:] = -1
        self._live["updated"][()] = time.time()

    # ---------------------------------------------------------------- closing
    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def close(self, exit_status: str = "completed") -> None:
        """Record end time and ``exit_status`` (running, completed, incomplete, aborted,
        failed), close the file and release the writer lock. A second call does nothing."""
        if self._closed:
            return
        if exit_status not in EXIT_STATUSES:
            raise ValueError(f"exit_status must be one of {EXIT_STATUSES}, got {exit_status!r}")
        try:
            self._entry["end_time"][()] = np.bytes_(now_iso().encode())
            self._entry["exit_status"][()] = np.bytes_(exit_status.encode())
            self._clear_live()
            fsync_file(self._f)
            kill_point("close-status")
        finally:
            self._closed = True
            try:
                self._f.close()
                kill_point("closed")
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
