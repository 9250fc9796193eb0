"""Follow a run file that another process may be writing (read-only, SWMR, never blocking).

:class:`RunFollower` re-opens the file at every :meth:`~RunFollower.poll` with
``h5py.File(path, "r", libver="latest", swmr=True, locking=False)`` (see
:func:`open_for_reading`) and closes it before returning, so that:

- the writer is never blocked: ``locking=False`` takes no OS lock (HDF5's default shared
  lock of a reader would make a resuming writer's ``r+`` open fail with EAGAIN), and no
  handle is kept between polls, so the file of a killed writer can be recovered and
  atomically replaced (``RunWriter.open``) while it is watched;
- a file that does not exist yet, is being created (before the writer switches SWMR on,
  HDF5 refuses readers) or is being replaced simply gives no new snapshot: the poll
  records the reason in :attr:`RunFollower.problem` and returns the last good snapshot;
- a finished file and the file of a killed writer read like a live one.

Only what changed is read again: per poll the small per-sweep arrays (status,
timestamp, temperature, g_normal) and, for the sweeps whose status or timestamp
changed, their dI/dV rows; the settling traces; the optional ``/entry/live`` group of the
sweep in progress (see :data:`LIVE_GROUP`); the last line of ``RUN.log`` next to the
file; and whether the writer process named in ``RUN.h5.lock`` is alive.

Units as in the file: dI/dV and g_normal in S, bias in V, setpoints in A, temperatures
in K, timestamps in s (Unix, wall), settling ``t`` in s of world time since the wait began.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from andreev.storage import FINISHED, STATUS_NAMES
from andreev.storage.grid import VISIT_DIM, by_visit, is_grid, sweep_slot, visit_cells
from andreev.storage.superblock import truncation_problem

__all__ = [
    "LIVE_GROUP",
    "LiveSweep",
    "RunFollower",
    "RunLayout",
    "RunSnapshot",
    "SettlingTrace",
    "open_for_reading",
    "writer_alive",
]

LIVE_GROUP = "entry/live"
"""Group of the sweep in progress, when the writer provides it (created with the layout,
before SWMR is switched on). Datasets:

- ``index`` (3,) int: (i_outer, i_setpoint, i_direction) of the sweep being measured,
  all −1 when none;
- ``n_points`` () int: points measured so far;
- ``dIdV`` (n_bias,) f8, S: the points measured so far on the ``bias`` grid (grid order,
  NaN where not measured yet); ``x``, ``y``, ``current`` likewise (optional here);
- ``temperature`` () f8, K: the latest sample temperature;
- ``started`` () f8, s (Unix): when the sweep began; ``updated`` () f8, s (Unix): the
  last write.

The writer writes the arrays first and ``index``/``updated`` last, then flushes (no
fsync) about once a second; the reader takes the group only when ``index`` and
``updated`` read the same before and after the arrays.
"""

SETTLING_EVERY = 5.0
"""Seconds between two reads of unchanged settling traces (see RunFollower)."""

_FINISHED_CODES = np.array([STATUS_NAMES.index(s) for s in FINISHED], dtype=np.uint8)


def _text(value: Any) -> str:
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _iso_to_unix(text: str) -> float:
    try:
        return _dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return float("nan")


@dataclass(frozen=True)
class RunLayout:
    """What does not change during a run: the grid, the experiment and the clock."""

    path: Path
    start_time: str
    outer_dim: str
    outer_name: str
    outer_unit: str
    outer_values: np.ndarray
    setpoints: np.ndarray
    bias: np.ndarray
    directions: tuple[str, ...]
    setpoint_bias: float
    v_mod_rms: float
    procedure: str
    experiment_name: str
    parameters: dict[str, Any]
    speedup: float

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(n_outer, n_setpoint, n_direction, n_bias)."""
        return (
            self.outer_values.size,
            self.setpoints.size,
            len(self.directions),
            self.bias.size,
        )

    @property
    def start_unix(self) -> float:
        """Start of the run (s, Unix)."""
        return _iso_to_unix(self.start_time)


@dataclass(frozen=True)
class SettlingTrace:
    """One temperature-settling wait: ``t`` (world s since the wait began), K, %."""

    outer_index: int
    t: np.ndarray
    temperature: np.ndarray
    heater: np.ndarray


@dataclass(frozen=True)
class LiveSweep:
    """The sweep in progress (from :data:`LIVE_GROUP`)."""

    index: tuple[int, int, int]
    didv: np.ndarray
    n_points: int
    temperature: float
    started: float
    updated: float


@dataclass
class RunSnapshot:
    """Everything the panels show, as read at ``read_at`` (s, Unix)."""

    layout: RunLayout
    didv: np.ndarray
    g_normal: np.ndarray
    temperature: np.ndarray
    timestamp: np.ndarray
    status: np.ndarray
    exit_status: str
    end_time: str
    settling: list[SettlingTrace]
    live: LiveSweep | None
    log_line: str
    writer_alive: bool | None
    read_at: float
    version: int = 0
    resumed_at: list[str] = field(default_factory=list)

    @property
    def finished(self) -> np.ndarray:
        """Boolean (n_outer, n_setpoint, n_direction): sweeps done or retaken."""
        return np.isin(self.status, list(FINISHED))

    @property
    def n_sweeps(self) -> int:
        return int(self.status.size)

    @property
    def n_finished(self) -> int:
        return int(self.finished.sum())

    @property
    def n_failed(self) -> int:
        return int((self.status == "failed").sum())


def writer_alive(path: Path) -> bool | None:
    """Whether the process named in ``RUN.h5.lock`` is alive; None without a lock file
    (the writer closed the run) or where it cannot be told (Windows)."""
    lock = path.with_name(path.name + ".lock")
    try:
        text = lock.read_text(encoding="ascii", errors="replace").split()
    except OSError:
        return None
    if sys.platform == "win32" or len(text) < 2 or text[0] != "pid" or not text[1].isdigit():
        return None
    try:
        os.kill(int(text[1]), 0)  # signal 0: existence check only, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def open_for_reading(path: Path) -> h5py.File:
    """Open a run file read-only in SWMR mode without taking an OS lock.

    When this process itself writes the file (a GUI running the engine in a thread),
    HDF5 shares the open file and insists on the writer's locking setting ("file locking
    flag values don't match"); the open is then repeated with that setting, which takes
    no new lock either.
    """
    try:
        return h5py.File(path, "r", libver="latest", swmr=True, locking=False)
    except OSError as exc:
        if "locking flag values don't match" not in str(exc):
            raise
    return h5py.File(path, "r", libver="latest", swmr=True)


def last_log_line(path: Path, max_bytes: int = 4096) -> str:
    """The last non-empty line of the log next to the run (``RUN.log``), or ""."""
    log = path.with_suffix(".log")
    try:
        with open(log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _read_layout(path: Path, f: h5py.File) -> RunLayout:
    import yaml

    entry, data = f["entry"], f["entry/data"]
    axes = [_text(a) for a in data.attrs["axes"]]
    if is_grid(data):  # a grid run is followed in visit order (the engine's)
        axes[0], visits = VISIT_DIM, np.arange(len(visit_cells(data)), dtype=float)
    config = yaml.safe_load(_text(entry["experiment_config/data"][()])) or {}
    try:
        station = yaml.safe_load(_text(entry.attrs.get("station_yaml", ""))) or {}
        speedup = float((station.get("clock") or {}).get("speedup", 1.0))
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        speedup = 1.0
    return RunLayout(
        path=path,
        start_time=_text(entry["start_time"][()]),
        outer_dim=axes[0],
        outer_name=_text(data.attrs.get("outer_name", axes[0])),
        outer_unit=_text(data[axes[0]].attrs.get("units", "")) if axes[0] in data else "",
        outer_values=visits if is_grid(data) else np.asarray(data[axes[0]][()], dtype=float),
        setpoints=np.asarray(data["setpoint"][()], dtype=float),
        bias=np.asarray(data["bias"][()], dtype=float),
        directions=tuple(_text(d) for d in data["direction"][()]),
        setpoint_bias=float(entry["setpoint_bias"][()]),
        v_mod_rms=float(entry["v_mod_rms"][()]),
        procedure=_text(entry.attrs.get("procedure", config.get("procedure", ""))),
        experiment_name=_text(entry.attrs.get("experiment_name", config.get("name", ""))),
        parameters=dict(config.get("parameters") or {}),
        speedup=speedup if speedup > 0 else 1.0,
    )


def _read_live(f: h5py.File, shape: tuple[int, int, int, int]) -> LiveSweep | None:
    if LIVE_GROUP not in f:
        return None
    g = f[LIVE_GROUP]

    def stamp() -> tuple[tuple[int, ...], float]:
        return tuple(int(v) for v in g["index"][()]), float(g["updated"][()])

    before = stamp()
    didv = np.asarray(g["dIdV"][()], dtype=float)
    n_points = int(g["n_points"][()])
    temperature = float(g["temperature"][()]) if "temperature" in g else float("nan")
    started = float(g["started"][()]) if "started" in g else before[1]
    if stamp() != before or didv.shape != (shape[3],):
        raise _Torn
    index = before[0]
    if len(index) != 3 or not all(0 <= v < n for v, n in zip(index, shape[:3], strict=True)):
        return None
    return LiveSweep(
        (index[0], index[1], index[2]), didv, n_points, temperature, started, before[1]
    )


class _Torn(Exception):
    """The live group changed while it was read; keep the previous one."""


class RunFollower:
    """Follows one run file; call :meth:`poll` from a timer (about every 0.5 s).

    Attributes:
        path: the run file.
        snapshot: the last good :class:`RunSnapshot` (None until the file could be read).
        problem: why the last poll gave nothing new ("" when it read the file).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.snapshot: RunSnapshot | None = None
        self.problem = ""
        self._layout: RunLayout | None = None
        self._didv: np.ndarray | None = None
        self._seen: tuple[np.ndarray, np.ndarray] | None = None
        self._signature: tuple = ()
        self._version = 0
        self._settling: list[SettlingTrace] = []
        self._settling_read = -math.inf

    def poll(self) -> RunSnapshot | None:
        """Read what changed; return the newest snapshot (the previous one when the file
        cannot be read right now, see :attr:`problem`; None before the first good read).
        Never raises for the file's state: missing, being created, being replaced."""
        if not self.path.exists():
            self.problem = f"waiting for {self.path} to appear"
            return self.snapshot
        alive = writer_alive(self.path)  # once per poll: the snapshot shows it too
        try:
            # a partial copy: HDF5's SWMR reads of it would retry for ever (a live writer's
            # file is not checked, as storage's open_read does; where liveness cannot be
            # told, a false alarm would only skip one poll)
            cut = None if alive else truncation_problem(self.path)
        except OSError:
            cut = None
        if cut is not None:
            self.problem = f"cannot read: {cut}"
            return self.snapshot
        try:
            f = open_for_reading(self.path)
        except (OSError, ValueError) as exc:
            self.problem = f"cannot open yet ({_short(exc)})"
            return self.snapshot
        try:
            with f:
                snap = self._read(f, alive)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            self.problem = f"cannot read yet ({_short(exc)})"
            return self.snapshot
        self.problem = ""
        self.snapshot = snap
        return snap

    # ------------------------------------------------------------------ reading
    def _read(self, f: h5py.File, alive: bool | None) -> RunSnapshot:
        """The snapshot of open file ``f``; ``alive``: :func:`writer_alive` this poll."""
        entry, data = f["entry"], f["entry/data"]
        start = _text(entry["start_time"][()])
        if self._layout is None or self._layout.start_time != start:
            self._layout = _read_layout(self.path, f)
            self._didv, self._seen, self._settling = None, None, []
        layout = self._layout
        cells = visit_cells(data) if is_grid(data) else None
        status_codes = np.asarray(by_visit(cells, data["status"][()]), dtype=np.uint8)
        per_sweep = {
            n: np.asarray(by_visit(cells, data[n][()]), dtype=float)
            for n in ("g_normal", "temperature")
        }
        timestamp = np.asarray(by_visit(cells, data["timestamp"][()]), dtype=float)
        settling = self._settling_traces(entry["settling"], status_codes, timestamp)
        self._update_didv(data["dIdV"], status_codes, timestamp, cells)
        assert self._didv is not None
        live = self._live(f, layout, status_codes)
        snap = RunSnapshot(
            layout=layout,
            didv=self._didv.copy(),
            g_normal=per_sweep["g_normal"],
            temperature=per_sweep["temperature"],
            timestamp=timestamp,
            status=np.asarray(STATUS_NAMES)[status_codes],
            exit_status=_text(entry["exit_status"][()]),
            end_time=_text(entry["end_time"][()]),
            settling=settling,
            live=live,
            log_line=last_log_line(self.path),
            writer_alive=alive,
            read_at=time.time(),
            resumed_at=[_text(v) for v in np.atleast_1d(entry.attrs.get("resumed_at", []))],
        )
        signature = (
            status_codes.tobytes(),
            timestamp.tobytes(),
            snap.exit_status,
            None if live is None else (live.index, live.updated, live.n_points),
            tuple(s.t.size for s in settling),
            snap.log_line,
            snap.writer_alive,
        )
        if signature != self._signature:
            self._signature = signature
            self._version += 1
        snap.version = self._version
        return snap

    def _settling_traces(
        self, group: h5py.Group, codes: np.ndarray, timestamp: np.ndarray
    ) -> list[SettlingTrace]:
        """The settling traces, read again when a sweep landed or every
        :data:`SETTLING_EVERY` s (they change once per outer step; reading them costs
        half of a poll)."""
        changed = self._seen is None or not (
            np.array_equal(self._seen[0], codes)
            and np.array_equal(self._seen[1], timestamp, equal_nan=True)
        )
        now = time.monotonic()
        if changed or now - self._settling_read >= SETTLING_EVERY or not self._settling:
            self._settling = _read_settling(group)
            self._settling_read = now
        return self._settling

    def _update_didv(
        self, ds: h5py.Dataset, codes: np.ndarray, timestamp: np.ndarray, cells: Any = None
    ) -> None:
        """Read dI/dV rows of sweeps whose status or timestamp changed (all the first time);
        ``cells``: the visits' (row, column) of a grid run (storage.grid), else None."""
        if self._didv is None or self._seen is None or self._didv.shape[:-1] != codes.shape:
            self._didv = np.asarray(by_visit(cells, ds[()]), dtype=float)
            self._seen = (codes.copy(), timestamp.copy())
            return
        old_codes, old_ts = self._seen
        same_ts = (old_ts == timestamp) | (np.isnan(old_ts) & np.isnan(timestamp))
        changed = np.argwhere((old_codes != codes) | ~same_ts)
        for i, j, k in changed:
            self._didv[i, j, k, :] = ds[sweep_slot(cells, int(i), int(j), int(k))]
        self._seen = (codes.copy(), timestamp.copy())

    def _live(self, f: h5py.File, layout: RunLayout, codes: np.ndarray) -> LiveSweep | None:
        previous = self.snapshot.live if self.snapshot is not None else None
        try:
            live = _read_live(f, layout.shape)
        except _Torn:
            live = previous
        if live is None or codes[live.index] in _FINISHED_CODES:
            return None  # the finished sweep is in /entry/data now
        return live


def _read_settling(group: h5py.Group) -> list[SettlingTrace]:
    traces = []
    for n, name in enumerate(sorted(group)):
        g = group[name]
        arrays = [np.asarray(g[k][()], dtype=float) for k in ("t", "temperature", "heater")]
        size = min(a.size for a in arrays)  # a writer may be between two resizes
        index = int(g.attrs.get("outer_index", n))
        traces.append(SettlingTrace(index, *(a[:size] for a in arrays)))
    return traces


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
