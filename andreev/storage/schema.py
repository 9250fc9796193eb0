"""The run file's schema: names, status codes, units, dtypes and small shared helpers.

Dimensions of a run are ``(outer, setpoint, direction, bias)``; ``outer`` is the outer
stepper ("temperature", "position", a qcodes parameter's name, or "step"). Units are SI
(V, A, S, K, s) and stored as a ``units`` attribute on every dataset that has a unit
(none on ``status`` and ``direction``: no attribute is ever empty). The file format is
HDF5 1.10's (``libver`` bounds v110..v110), readable by any HDF5 ≥ 1.10 tool once
closed, without SWMR.

File layout (``<outer>`` is the outer dimension's name, see *Name clashes* in
:meth:`andreev.storage.RunWriter.create`)::

    /                                 attrs: default="entry", creator, file_name, HDF5_Version
    └── entry                         NXentry; attrs: default="data", + extra_attrs
        ├── start_time                ISO 8601 text (fixed length)
        ├── end_time                  ISO 8601 text, "" while running
        ├── exit_status               running | completed | incomplete | aborted | failed
        │                             | killed ("running" with no live writer = killed;
        │                             ``andreev repair`` writes "killed")
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
        ├── live                      NXcollection: the sweep in progress (flushed, not
        │   │                         fsynced, about once a second; arrays written first,
        │   │                         ``index`` and ``updated`` last)
        │   ├── index                 int64 (3,): i_outer, i_setpoint, i_direction; all -1
        │   │                         when no sweep is in progress
        │   ├── n_points, attempt     int64 (): points taken so far, retake number (0 first)
        │   ├── dIdV, x, y, current   (n_bias,) S, V, V, A: grid order, NaN where not taken
        │   └── started, updated      s (Unix): the sweep's start, the last write
        ├── settling                  NXcollection, one NXdata per outer index
        │   └── outer_000 …           t (s), temperature (K), heater (%) resizable (maxshape None)
        ├── film_resistance           NXdata (only when the plan reads the film at each outer
        │                             step): resistance (Ω), temperature (K), time (s, Unix),
        │                             (n_outer, film_readings); axes <outer>, reading
        └── analysis                  NXprocess, written later by :func:`write_analysis`

Every float dataset is NaN until written. A backward sweep is stored on the same ``bias``
grid as a forward one: element ``k`` of every array belongs to ``bias[k]`` whatever the
direction, so the caller reverses backward readings into grid order.

A grid run (``GridSeries``; :mod:`andreev.storage.grid`) differs in ``data`` and adds
``drift``; its outer steps are the visits ``k`` of the frame's points (the engine's
``position``), stored at their row and column::

    ├── data                      NXdata, axes=["grid_y", "grid_x", "setpoint", "direction",
    │   │                         "bias"]; attrs frame_centre (m), frame_angle (deg), drift_every
    │   ├── dIdV, x, y, current   (n_y, n_x, n_setpoint, n_direction, n_bias) float32,
    │   │                         chunks of one sweep, shuffle + gzip
    │   ├── temperature, z, timestamp, g_normal, status   (n_y, n_x, n_setpoint, n_direction)
    │   ├── grid_y, grid_x        (n_y,), (n_x,) m, frame coordinates; position_x,
    │   │                         position_y (n_y, n_x) m, absolute; visit (n_y, n_x) int: k
    ├── drift                     NXdata: dIdV, x, y, current (check, direction, bias); time (s),
    │                             reference_current (A), reference_z (m), temperature (K),
    │                             visit (before which visit); attr reference (x, y) m
    └── settling                  empty
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import h5py
import numpy as np

STATUS_NAMES: tuple[str, ...] = ("pending", "done", "failed", "retaken")
"""Per-sweep states; their index is the stored enum value."""
#: "incomplete": the run went through its plan but some sweeps are failed (resume
#: retakes them)
EXIT_STATUSES: tuple[str, ...] = (
    "running",
    "completed",
    "incomplete",
    "aborted",
    "failed",
    "killed",
)
FINISHED: frozenset[str] = frozenset({"done", "retaken"})

SIGNALS: dict[str, str] = {"dIdV": "S", "x": "V", "y": "V", "current": "A"}
"""Per-point datasets on (outer, setpoint, direction, bias) and their units."""
PER_SWEEP: dict[str, str] = {"temperature": "K", "z": "m", "timestamp": "s", "g_normal": "S"}
"""Per-sweep scalar datasets on (outer, setpoint, direction) and their units."""
FIXED_AXES = ("setpoint", "direction", "bias")
#: group under /entry of the sweep in progress (what ``andreev watch`` reads)
LIVE_GROUP = "live"
#: film readings at each outer step (a series with ``film_readings`` > 0): NXdata of
#: (outer step, reading) arrays, name → (units, long name)
FILM_GROUP = "film_resistance"
FILM_RESISTANCE: dict[str, tuple[str, str]] = {
    "resistance": ("Ohm", "film four-terminal resistance"),
    "temperature": ("K", "sample temperature when the film was read"),
    "time": ("s", "Unix time of the reading"),
}
RESERVED: frozenset[str] = frozenset({*SIGNALS, *PER_SWEEP, "status", *FIXED_AXES})
#: attributes of /entry that ``extra_attrs`` may not set
RESERVED_ATTRS: frozenset[str] = frozenset({"NX_class", "default", "resumed_at"})
#: settling traces: dataset name → units
SETTLING: dict[str, str] = {"t": "s", "temperature": "K", "heater": "%"}

STATUS_DTYPE = h5py.enum_dtype({n: i for i, n in enumerate(STATUS_NAMES)}, basetype="u1")
LONG_NAMES = {
    "dIdV": "dI/dV",
    "x": "lock-in X",
    "y": "lock-in Y",
    "current": "tunnel current",
}
TIME_DTYPE = "S40"
EXIT_DTYPE = "S16"


def now_iso() -> str:
    """The local time now, ISO 8601 with microseconds and the UTC offset."""
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="microseconds")


def text(value: Any) -> str:
    """A stored string (bytes, numpy bytes, 0-d array or str) as str."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


def json_default(obj: Any) -> Any:
    """``json.dumps`` fallback for numpy arrays and scalars (anything else: its str)."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def settling_name(i: int, n_outer: int) -> str:
    """Name of outer step ``i``'s settling group (``outer_000`` …, wider if needed)."""
    return f"outer_{i:0{max(3, len(str(n_outer - 1)))}d}"


def status_code(status: str) -> int:
    """The stored enum value of a sweep status; ValueError for an unknown one."""
    if status not in STATUS_NAMES:
        raise ValueError(f"status must be one of {STATUS_NAMES}, got {status!r}")
    return STATUS_NAMES.index(status)
