"""Creating the empty structure of a new run file (see :mod:`andreev.storage.schema`).

SWMR forbids new objects and attribute changes once it is switched on, so everything a
run will ever hold is created here, before: every dataset (NaN-filled), one resizable
settling group per outer index (the number of outer steps is known at creation, trace
lengths are not), and start/end time and exit status as datasets, not attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import andreev
from andreev.storage.grid import DRIFT_GROUP, DRIFT_SCALARS, DRIFT_SIGNALS, GRID_DIMS, MapGrid
from andreev.storage.schema import (
    EXIT_DTYPE,
    FILM_GROUP,
    FILM_RESISTANCE,
    FIXED_AXES,
    LIVE_GROUP,
    LONG_NAMES,
    PER_SWEEP,
    SETTLING,
    SIGNALS,
    STATUS_DTYPE,
    STATUS_NAMES,
    TIME_DTYPE,
    now_iso,
    settling_name,
)


@dataclass(frozen=True)
class RunLayout:
    """Everything a new run file is made from (validated by ``RunWriter.create``).

    Attributes:
        outer_name: the outer stepper's name as given; ``dim`` the name stored (clashes).
        outer: (values, unit) of the outer axis.
        setpoints: A; bias: V (the grid of every sweep); directions: forward[, backward]
            [, forward_2[, backward_2] …] (repeated sweeps).
        setpoint_bias, v_mod_rms: V.
        config_yaml: the experiment file's text; snapshot_json: the station snapshot.
        extra_attrs: attributes of /entry; extra: stored name → (values, unit, given name)
            of the extra per-outer coordinates.
        film_readings: film-resistance readings per outer step (0: no
            ``/entry/film_resistance``).
        grid: the tip positions of a grid run (:mod:`andreev.storage.grid`; None: no
            grid). The outer steps are then its visits, stored on (grid_y, grid_x).
    """

    outer_name: str
    dim: str
    outer: tuple[np.ndarray, str]
    setpoints: np.ndarray
    bias: np.ndarray
    directions: tuple[str, ...]
    setpoint_bias: float
    v_mod_rms: float
    config_yaml: str
    snapshot_json: str
    extra_attrs: dict[str, Any]
    extra: dict[str, tuple[np.ndarray, str, str]]
    film_readings: int = 0
    grid: MapGrid | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(n_outer, n_setpoint, n_direction, n_bias)."""
        return (self.outer[0].size, self.setpoints.size, len(self.directions), self.bias.size)


def write_layout(f: h5py.File, path: Path, run: RunLayout) -> None:
    """Create every group, dataset and attribute of a new run in the open file ``f``."""
    f.attrs["default"] = "entry"
    f.attrs["creator"] = f"andreev {andreev.__version__}"
    f.attrs["file_name"] = path.name
    f.attrs["HDF5_Version"] = h5py.version.hdf5_version
    f.attrs["h5py_version"] = h5py.version.version
    entry = _write_entry(f, run)
    data = entry.create_group("data")
    if run.grid is None:
        _write_data_attrs(data, run)
        _write_measured(data, run.shape)
        _write_axes(data, run)
    else:
        _write_grid_data(data, run, run.grid)
        _write_drift(entry, run, run.grid)
    _write_live(entry, run.shape)
    _write_settling(entry, run)
    if run.film_readings > 0:
        _write_film_resistance(entry, run)


def _write_entry(f: h5py.File, run: RunLayout) -> h5py.Group:
    entry = f.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry.attrs["default"] = "data"
    for key, value in run.extra_attrs.items():
        entry.attrs[key] = value
    entry.create_dataset("start_time", data=np.bytes_(now_iso().encode()), dtype=TIME_DTYPE)
    entry.create_dataset("end_time", data=np.bytes_(b""), dtype=TIME_DTYPE)
    entry.create_dataset("exit_status", data=np.bytes_(b"running"), dtype=EXIT_DTYPE)
    prog = entry.create_dataset("program_name", data="andreev")
    prog.attrs["version"] = andreev.__version__
    for name, value in (("setpoint_bias", run.setpoint_bias), ("v_mod_rms", run.v_mod_rms)):
        entry.create_dataset(name, data=value).attrs["units"] = "V"
    for name, mime, text in (
        ("experiment_config", "application/yaml", run.config_yaml),
        ("station_snapshot", "application/json", run.snapshot_json),
    ):
        note = entry.create_group(name)
        note.attrs["NX_class"] = "NXnote"
        note.create_dataset("type", data=mime)
        note.create_dataset("data", data=text, dtype=h5py.string_dtype("utf-8"))
    return entry


def _write_data_attrs(data: h5py.Group, run: RunLayout) -> None:
    data.attrs["NX_class"] = "NXdata"
    data.attrs["signal"] = "dIdV"
    data.attrs["auxiliary_signals"] = [s for s in SIGNALS if s != "dIdV"]
    data.attrs["axes"] = [run.dim, *FIXED_AXES]
    data.attrs["outer_name"] = run.outer_name
    for i, axis in enumerate([run.dim, *FIXED_AXES]):
        data.attrs[f"{axis}_indices"] = i
    for name in run.extra:
        data.attrs[f"{name}_indices"] = 0


def _write_measured(data: h5py.Group, shape: tuple[int, int, int, int]) -> None:
    """The NaN-filled signal and per-sweep datasets and the all-pending status."""
    n_o, n_s, n_d, n_b = shape
    for name, unit in SIGNALS.items():
        ds = data.create_dataset(
            name, shape=shape, dtype="f8", chunks=(1, 1, 1, n_b), fillvalue=np.nan
        )
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = LONG_NAMES[name]
    sweep_shape = (n_o, n_s, n_d)
    for name, unit in PER_SWEEP.items():
        ds = data.create_dataset(
            name, shape=sweep_shape, dtype="f8", chunks=(1, n_s, n_d), fillvalue=np.nan
        )
        ds.attrs["units"] = unit
    status = data.create_dataset(
        "status", shape=sweep_shape, dtype=STATUS_DTYPE, chunks=(1, n_s, n_d), fillvalue=0
    )
    status.attrs["mapping"] = json.dumps({n: i for i, n in enumerate(STATUS_NAMES)})


def _set_units(ds: h5py.Dataset, unit: str) -> None:
    """``units`` attribute, omitted when there is none (no empty attributes)."""
    if unit:
        ds.attrs["units"] = unit


def _write_live(entry: h5py.Group, shape: tuple[int, int, int, int]) -> None:
    """The sweep in progress, for live readers (``/entry/live``, see the schema)."""
    n_b = shape[3]
    live = entry.create_group(LIVE_GROUP)
    live.attrs["NX_class"] = "NXcollection"
    for name, unit in SIGNALS.items():
        ds = live.create_dataset(name, shape=(n_b,), dtype="f8", fillvalue=np.nan)
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = f"{LONG_NAMES[name]} of the sweep in progress"
    live.create_dataset("index", data=np.full(3, -1, dtype="i8"))
    live.create_dataset("n_points", data=np.int64(0))
    live.create_dataset("attempt", data=np.int64(0))
    for name in ("started", "updated"):
        live.create_dataset(name, data=np.nan).attrs["units"] = "s"


def _write_axes(data: h5py.Group, run: RunLayout) -> None:
    outer_ds = data.create_dataset(run.dim, data=run.outer[0])
    _set_units(outer_ds, run.outer[1])
    outer_ds.attrs["long_name"] = run.outer_name
    data.create_dataset("setpoint", data=run.setpoints).attrs["units"] = "A"
    data.create_dataset("direction", data=list(run.directions), dtype=h5py.string_dtype("utf-8"))
    data.create_dataset("bias", data=run.bias).attrs["units"] = "V"
    for name, (values, unit, given) in run.extra.items():
        ds = data.create_dataset(name, data=values)
        _set_units(ds, unit)
        ds.attrs["long_name"] = given


def _write_settling(entry: h5py.Group, run: RunLayout) -> None:
    settling = entry.create_group("settling")
    settling.attrs["NX_class"] = "NXcollection"
    if run.grid is not None:
        return  # no temperature steps: a grid run waits on no settling
    n_o = run.shape[0]
    for i in range(n_o):
        g = settling.create_group(settling_name(i, n_o))
        g.attrs["NX_class"] = "NXdata"
        g.attrs["signal"] = "temperature"
        g.attrs["auxiliary_signals"] = ["heater"]
        g.attrs["axes"] = ["t"]
        g.attrs["t_indices"] = 0
        g.attrs["outer_index"] = i
        g.attrs[run.dim] = run.outer[0][i]
        for name, unit in SETTLING.items():
            ds = g.create_dataset(
                name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(256,), fillvalue=np.nan
            )
            ds.attrs["units"] = unit


def _write_film_resistance(entry: h5py.Group, run: RunLayout) -> None:
    """``/entry/film_resistance``: NaN-filled (outer step, reading) arrays, R (Ω) against T (K)."""
    group = entry.create_group(FILM_GROUP)
    group.attrs["NX_class"] = "NXdata"
    group.attrs["signal"] = "resistance"
    group.attrs["axes"] = [run.dim, "reading"]
    group.attrs[f"{run.dim}_indices"] = 0
    group.attrs["reading_indices"] = 1
    group.attrs["auxiliary_signals"] = ["temperature", "time"]
    _set_units(group.create_dataset(run.dim, data=run.outer[0]), run.outer[1])
    group.create_dataset("reading", data=np.arange(run.film_readings))
    shape = (run.shape[0], run.film_readings)
    for name, (unit, long_name) in FILM_RESISTANCE.items():
        ds = group.create_dataset(name, shape=shape, dtype="f8", fillvalue=np.nan)
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = long_name


# ---------------------------------------------------------------- grid runs
#: gzip level of a grid run's signals (with the shuffle filter; see docs/architecture.md §5)
GRID_GZIP = 4


def _write_grid_data(data: h5py.Group, run: RunLayout, grid: MapGrid) -> None:
    """``/entry/data`` of a grid run: signals on (grid_y, grid_x, setpoint, direction,
    bias), float32, one sweep per chunk, shuffle + gzip; per-sweep datasets and the
    status on (grid_y, grid_x, setpoint, direction); the frame's axes and positions."""
    n_y, n_x = grid.shape
    _, n_s, n_d, n_b = run.shape
    axes = [*GRID_DIMS, *FIXED_AXES]
    data.attrs["NX_class"] = "NXdata"
    data.attrs["signal"] = "dIdV"
    data.attrs["auxiliary_signals"] = [s for s in SIGNALS if s != "dIdV"]
    data.attrs["axes"] = axes
    data.attrs["outer_name"] = run.outer_name
    for i, axis in enumerate(axes):
        data.attrs[f"{axis}_indices"] = i
    for name in ("position_x", "position_y", "visit"):
        data.attrs[f"{name}_indices"] = [0, 1]
    data.attrs["frame_centre"] = np.asarray(grid.centre, dtype=float)
    data.attrs["frame_angle"] = grid.angle
    data.attrs["drift_every"] = grid.drift_every
    for name, unit in SIGNALS.items():
        ds = data.create_dataset(
            name,
            shape=(n_y, n_x, n_s, n_d, n_b),
            dtype="f4",
            chunks=(1, 1, 1, 1, n_b),
            compression="gzip",
            compression_opts=GRID_GZIP,
            shuffle=True,
            fillvalue=np.nan,
        )
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = LONG_NAMES[name]
    sweep_shape = (n_y, n_x, n_s, n_d)
    for name, unit in PER_SWEEP.items():
        ds = data.create_dataset(
            name, shape=sweep_shape, dtype="f8", chunks=(1, n_x, n_s, n_d), fillvalue=np.nan
        )
        ds.attrs["units"] = unit
    status = data.create_dataset(
        "status", shape=sweep_shape, dtype=STATUS_DTYPE, chunks=(1, n_x, n_s, n_d), fillvalue=0
    )
    status.attrs["mapping"] = json.dumps({n: i for i, n in enumerate(STATUS_NAMES)})
    _write_grid_axes(data, run, grid)


def _write_grid_axes(data: h5py.Group, run: RunLayout, grid: MapGrid) -> None:
    px, py = grid.absolute()
    for name, values, unit, long_name in (
        ("grid_y", grid.y, "m", "frame coordinate along the frame's height"),
        ("grid_x", grid.x, "m", "frame coordinate along the frame's width"),
        ("position_x", px, "m", "tip x (absolute)"),
        ("position_y", py, "m", "tip y (absolute)"),
    ):
        ds = data.create_dataset(name, data=values)
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = long_name
    visit = data.create_dataset("visit", data=grid.visit_map())
    visit.attrs["long_name"] = "visit index (serpentine order; the engine's outer index)"
    data.create_dataset("setpoint", data=run.setpoints).attrs["units"] = "A"
    data.create_dataset("direction", data=list(run.directions), dtype=h5py.string_dtype("utf-8"))
    data.create_dataset("bias", data=run.bias).attrs["units"] = "V"


def _write_drift(entry: h5py.Group, run: RunLayout, grid: MapGrid) -> None:
    """``/entry/drift``: NaN-filled room for every drift check of the grid."""
    group = entry.create_group(DRIFT_GROUP)
    group.attrs["NX_class"] = "NXdata"
    group.attrs["signal"] = "dIdV"
    group.attrs["axes"] = ["check", "direction", "bias"]
    group.attrs["drift_every"] = grid.drift_every
    group.attrs["reference"] = np.asarray(grid.reference, dtype=float)
    group.attrs["reference_units"] = "m"
    n_c = grid.n_drift
    _, _, n_d, n_b = run.shape
    group.create_dataset("check", data=np.arange(n_c, dtype=np.int64))
    visit = group.create_dataset("visit", data=np.arange(n_c, dtype=np.int64) * grid.drift_every)
    visit.attrs["long_name"] = "taken before this visit"
    group.create_dataset("direction", data=list(run.directions), dtype=h5py.string_dtype("utf-8"))
    group.create_dataset("bias", data=run.bias).attrs["units"] = "V"
    for name, unit in DRIFT_SIGNALS.items():
        ds = group.create_dataset(name, shape=(n_c, n_d, n_b), dtype="f8", fillvalue=np.nan)
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = LONG_NAMES[name]
    for name, (unit, long_name) in DRIFT_SCALARS.items():
        ds = group.create_dataset(name, shape=(n_c,), dtype="f8", fillvalue=np.nan)
        ds.attrs["units"] = unit
        ds.attrs["long_name"] = long_name
