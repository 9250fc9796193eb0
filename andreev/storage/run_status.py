"""How a run stands, from its file alone: sweeps done / failed / pending, exit status,
whether its writer is alive, and an ETA (what ``andreev status`` shows)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from andreev.storage.reader import effective_exit_status, open_read
from andreev.storage.recovery import lock_holder, writer_alive
from andreev.storage.schema import LIVE_GROUP, STATUS_NAMES, text

__all__ = ["RunStatus", "run_status"]

_DONE = (STATUS_NAMES.index("done"), STATUS_NAMES.index("retaken"))
_FAILED = STATUS_NAMES.index("failed")


@dataclass(frozen=True)
class RunStatus:
    """A run file's state. Sweeps count whole (outer, setpoint) sweeps, all directions.

    Attributes:
        path: the run file.
        exit_status: stored exit status, "killed" for "running" with a dead writer.
        writer_alive: a live process holds the writer lock; ``writer``: what the lock
            file says of it (pid, start), "" when none.
        done, failed, pending, total: sweep counts.
        start_time, end_time: ISO 8601 ("" while running).
        seconds_per_sweep: mean time between finished sweeps' timestamps (s), NaN
            when fewer than two.
        eta: Unix time the pending sweeps should be finished at (NaN when unknown or
            no writer is alive).
        live: (i_outer, i_setpoint, i_direction, points, attempt) of the sweep in
            progress, None when none.
        station_file: the absolute path of the station file the run was started with
            ("" for files written before it was stored).
    """

    path: Path
    exit_status: str
    writer_alive: bool
    writer: str
    done: int
    failed: int
    pending: int
    total: int
    start_time: str
    end_time: str
    seconds_per_sweep: float
    eta: float
    live: tuple[int, ...] | None
    station_file: str = ""


def _rate(timestamps: np.ndarray) -> float:
    """Mean seconds between the finished sweeps' timestamps (NaN under two)."""
    ts = np.sort(timestamps[np.isfinite(timestamps)])
    if ts.size < 2:
        return float("nan")
    return float((ts[-1] - ts[0]) / (ts.size - 1))


def _live_row(entry: Any) -> np.ndarray:
    """(i_outer, i_setpoint, i_direction, points, attempt); -1s when none."""
    if LIVE_GROUP not in entry:
        return np.full(5, -1)
    live = entry[LIVE_GROUP]
    index = np.asarray(live["index"][()], dtype=int)
    return np.array([*index, int(live["n_points"][()]), int(live["attempt"][()])])


def run_status(path: str | os.PathLike[str]) -> RunStatus:
    """Read the state of the run at ``path`` (live, finished or killed; nothing is
    written). Raises FileNotFoundError or RunFileError like :func:`open_read`."""
    path = Path(path)
    with open_read(path) as f:
        entry, data = f["entry"], f["entry/data"]
        codes = np.asarray(data["status"][()])
        ts = np.asarray(data["timestamp"][()], dtype=float)
        stored = text(entry["exit_status"][()])
        start, end = text(entry["start_time"][()]), text(entry["end_time"][()])
        live_row = _live_row(entry)
        station_file = text(entry.attrs.get("station_file", ""))
    done_mask = np.isin(codes, _DONE).all(axis=-1)
    failed_mask = (codes == _FAILED).any(axis=-1) & ~done_mask
    done, failed = int(done_mask.sum()), int(failed_mask.sum())
    total = int(done_mask.size)
    alive = writer_alive(path)
    rate = _rate(ts[..., 0][done_mask]) if done_mask.any() else float("nan")
    pending = total - done - failed
    eta = time.time() + pending * rate if alive and np.isfinite(rate) else float("nan")
    return RunStatus(
        path=path,
        exit_status=effective_exit_status(path, stored),
        writer_alive=alive,
        writer=lock_holder(path) if alive else "",
        done=done,
        failed=failed,
        pending=pending,
        total=total,
        start_time=start,
        end_time=end,
        seconds_per_sweep=rate,
        eta=eta,
        live=tuple(int(v) for v in live_row) if int(live_row[0]) >= 0 else None,
        station_file=station_file,
    )
