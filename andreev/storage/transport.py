"""The run file of a transport run (the film's R(T)): its own NXdata, written like every run.

Layout (NeXus-shaped, SI units)::

    /entry                      NXentry; attrs experiment_name, procedure, resumed_at
      start_time, end_time, exit_status, program_name
      experiment_config         NXnote: the experiment YAML (a resume rebuilds the plan)
      station_snapshot          NXnote: every setting of every instrument (JSON)
      transport                 NXdata: signal resistance (Ω), axes temperature (K)
        resistance, temperature, time, timestamp, setpoint, excitation, power,
        switch_cost, segment, status, valid   (one row per reading, growing)
      transport_segments        NXcollection: the plan's segments and their status
        start, end (K), direction (+1 up, −1 down, 0 hold), status (pending/done/failed)

Rows are appended in chunks; every chunk is flushed and fsynced before the call returns
(a killed writer loses at most the chunk in flight), and a segment's "done" is written
after its rows. SWMR as :mod:`andreev.storage.writer`: every object exists before
``swmr_mode``; the row datasets only grow. Resuming (:meth:`TransportWriter.open`)
takes the writer lock, recovers a killed writer's file (:mod:`~andreev.storage.recovery`)
and marks the rows of unfinished segments ``valid = 0`` (kept for the record, ignored
by :func:`load_transport`'s default): an unfinished segment is taken again whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import andreev
from andreev.storage.reader import open_read
from andreev.storage.recovery import (
    WriterLock,
    create_file,
    fsync_file,
    mark_resumed,
    open_for_resume,
)
from andreev.storage.schema import (
    EXIT_DTYPE,
    EXIT_STATUSES,
    TIME_DTYPE,
    json_default,
    now_iso,
    text,
)

__all__ = [
    "ROWS",
    "SEGMENT_STATUS",
    "TransportWriter",
    "is_transport_run",
    "load_transport",
]

#: the row datasets: name → (dtype, units, long name)
ROWS: dict[str, tuple[str, str, str]] = {
    "resistance": ("f8", "Ohm", "film four-terminal resistance"),
    "temperature": ("f8", "K", "sample temperature"),
    "time": ("f8", "s", "world time since the run started"),
    "timestamp": ("f8", "s", "Unix time"),
    "setpoint": ("f8", "K", "temperature setpoint (ramping)"),
    "excitation": ("f8", "A", "film excitation current (rms)"),
    "power": ("f8", "W", "excitation power in the film"),
    "switch_cost": ("f8", "s", "world time spent switching the scanner to the film"),
    "segment": ("i4", "", "index of the segment"),
    "status": ("u2", "", "RDGST bits of the film reading (0 valid)"),
    "valid": ("u1", "", "1: the row belongs to a finished or running segment"),
}
SEGMENT_STATUS = ("pending", "done", "failed")
_CHUNK = 256


def _create_layout(
    f: h5py.File, segments: np.ndarray, config_yaml: str, snapshot: Mapping[str, Any]
) -> h5py.Group:
    """Every group and dataset of a new transport run (before SWMR)."""
    f.attrs["default"] = "entry"
    f.attrs["creator"] = f"andreev {andreev.__version__}"
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "transport"
    entry.create_dataset("start_time", data=np.bytes_(now_iso().encode()), dtype=TIME_DTYPE)
    entry.create_dataset("end_time", data=np.bytes_(b""), dtype=TIME_DTYPE)
    entry.create_dataset("exit_status", data=np.bytes_(b"running"), dtype=EXIT_DTYPE)
    entry.create_dataset("program_name", data="andreev").attrs["version"] = andreev.__version__
    for name, mime, body in (
        ("experiment_config", "application/yaml", config_yaml),
        ("station_snapshot", "application/json", json.dumps(dict(snapshot), default=json_default)),
    ):
        note = entry.create_group(name)
        note.attrs["NX_class"] = "NXnote"
        note.create_dataset("type", data=mime)
        note.create_dataset("data", data=body, dtype=h5py.string_dtype("utf-8"))
    data = entry.create_group("transport")
    data.attrs["NX_class"] = "NXdata"
    data.attrs["signal"] = "resistance"
    data.attrs["axes"] = ["temperature"]
    data.attrs["temperature_indices"] = 0
    data.attrs["auxiliary_signals"] = ["time", "setpoint", "power"]
    for name, (dtype, units, long_name) in ROWS.items():
        ds = data.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(_CHUNK,))
        ds.attrs["units"] = units
        ds.attrs["long_name"] = long_name
    seg = entry.create_group("transport_segments")
    seg.attrs["NX_class"] = "NXcollection"
    seg.attrs["status_names"] = list(SEGMENT_STATUS)
    for i, (name, units) in enumerate((("start", "K"), ("end", "K"), ("direction", ""))):
        seg.create_dataset(name, data=segments[:, i]).attrs["units"] = units
    seg.create_dataset("status", data=np.zeros(len(segments), dtype="u1"))
    return entry


def _mark_resumed(f: h5py.File) -> None:
    """The edits of a resume, made in the recovered copy: those of every run
    (:func:`~andreev.storage.recovery.mark_resumed`), and unfinished segments' rows
    invalid."""
    mark_resumed(f)
    _invalidate_unfinished(f["entry"])


class TransportWriter:
    """Writer of a transport run file (see the module docstring). Make one with
    :meth:`create` or :meth:`open` (resume); :meth:`close` records the exit status."""

    def __init__(self, path: Path, file: h5py.File, lock: WriterLock) -> None:
        """Internal: use :meth:`create` or :meth:`open`."""
        self.path, self._f, self._lock = path, file, lock
        self._entry = file["entry"]
        self._data = self._entry["transport"]
        seg = self._entry["transport_segments"]
        self.segments = np.stack([seg["start"][()], seg["end"][()], seg["direction"][()]], 1)
        self._status = np.asarray(seg["status"][()], dtype=np.uint8)
        self._closed = False

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        segments: Sequence[tuple[float, float, int]],
        config_yaml: str,
        snapshot: Mapping[str, Any],
        extra_attrs: Mapping[str, Any] | None = None,
    ) -> TransportWriter:
        """A new transport run at ``path`` (refused if it exists), in SWMR mode.

        ``segments``: (start K, end K, direction +1/−1/0) of each part of the plan."""
        path = Path(path)
        if path.exists():
            raise FileExistsError(path)
        table = np.asarray(segments, dtype=float).reshape(-1, 3)
        if table.size == 0:
            raise ValueError("a transport run needs at least one segment")

        def build(f: h5py.File) -> None:
            entry = _create_layout(f, table, config_yaml, snapshot)
            for key, value in (extra_attrs or {}).items():
                entry.attrs[key] = value

        lock = WriterLock(path)
        try:  # laid out aside and renamed into place: never half-built, HDF5 1.10 format
            f = create_file(path, build)
        except BaseException:
            lock.release()
            raise
        return cls(path, f, lock)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> TransportWriter:
        """Re-open a transport run to resume it; rows of unfinished segments become
        invalid. Raises RunLockedError while another process writes it."""
        return open_for_resume(Path(path), _mark_resumed, cls)

    # ---- writing -------------------------------------------------------------------
    def append(self, rows: Mapping[str, Any]) -> None:
        """Append readings: every name of :data:`ROWS` but ``valid`` (1-D, equal lengths);
        durable (flush + fsync) on return."""
        self._check_open()
        names = [n for n in ROWS if n != "valid"]
        missing = set(names) - set(rows)
        if missing:
            raise ValueError(f"missing columns: {sorted(missing)}")
        arrays = {n: np.atleast_1d(np.asarray(rows[n], dtype=ROWS[n][0])) for n in names}
        sizes = {a.size for a in arrays.values()}
        if len(sizes) != 1:
            raise ValueError(
                f"columns of unequal length: { {n: a.size for n, a in arrays.items()} }"
            )
        arrays["valid"] = np.ones(sizes.pop(), dtype="u1")
        for name, arr in arrays.items():
            ds = self._data[name]
            n = ds.shape[0]
            ds.resize((n + arr.size,))
            ds[n:] = arr
        fsync_file(self._f)

    def set_segment_status(self, index: int, status: str) -> None:
        """Mark segment ``index`` pending, done or failed; durable on return."""
        self._check_open()
        code = SEGMENT_STATUS.index(status)
        self._entry["transport_segments/status"][index] = np.uint8(code)
        self._status[index] = code
        fsync_file(self._f)

    def segment_status(self) -> list[str]:
        """Status of every segment."""
        return [SEGMENT_STATUS[c] for c in self._status]

    def first_unfinished(self) -> int | None:
        """Index of the first segment not done (None: all done)."""
        todo = np.flatnonzero(self._status != SEGMENT_STATUS.index("done"))
        return None if todo.size == 0 else int(todo[0])

    @property
    def rows(self) -> int:
        """Number of rows written so far."""
        return int(self._data["resistance"].shape[0])

    # ---- closing -------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"TransportWriter for {self.path} is closed")

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def close(self, exit_status: str = "completed") -> None:
        """Record the end time and ``exit_status``, close, release the lock (once)."""
        if self._closed:
            return
        if exit_status not in EXIT_STATUSES:
            raise ValueError(f"exit_status must be one of {EXIT_STATUSES}, got {exit_status!r}")
        try:
            self._entry["end_time"][()] = np.bytes_(now_iso().encode())
            self._entry["exit_status"][()] = np.bytes_(exit_status.encode())
            fsync_file(self._f)
        finally:
            self._closed = True
            try:
                self._f.close()
            finally:
                self._lock.release()


def _invalidate_unfinished(entry: h5py.Group) -> None:
    """Rows of segments that are not done: valid = 0 (the segment is taken again)."""
    status = entry["transport_segments/status"][()]
    data = entry["transport"]
    segment, valid = data["segment"][()], data["valid"][()]
    done = np.flatnonzero(status == SEGMENT_STATUS.index("done"))
    keep = np.isin(segment, done).astype("u1")
    if valid.size and np.any(keep != valid):
        data["valid"][:] = np.minimum(valid, keep)


def is_transport_run(path: str | os.PathLike[str]) -> bool:
    """True when the run file holds a transport NXdata."""
    with open_read(path) as f:
        return "entry/transport" in f


def load_transport(path: str | os.PathLike[str], *, all_rows: bool = False) -> dict[str, Any]:
    """The rows of a transport run (live, finished or left by a killed writer) as arrays
    (keys of :data:`ROWS`, SI), the valid ones unless ``all_rows``; plus ``"segments"``
    ((n, 3): start K, end K, direction), ``"segment_status"``, ``"exit_status"``,
    ``"config_yaml"`` and ``"attrs"`` (the entry's attributes)."""
    with open_read(path) as f:
        entry = f["entry"]
        data = entry["transport"]
        for name in ROWS:
            data[name].refresh()
        out: dict[str, Any] = {name: data[name][()] for name in ROWS}
        mask = np.ones(out["valid"].size, bool) if all_rows else out["valid"].astype(bool)
        for name in ROWS:
            out[name] = out[name][mask]
        seg = entry["transport_segments"]
        seg["status"].refresh()
        out["segments"] = np.stack([seg["start"][()], seg["end"][()], seg["direction"][()]], 1)
        out["segment_status"] = [SEGMENT_STATUS[c] for c in seg["status"][()]]
        out["exit_status"] = text(entry["exit_status"][()])
        out["config_yaml"] = text(entry["experiment_config/data"][()])
        out["attrs"] = {k: v for k, v in entry.attrs.items()}
    return out
