"""Reading run files: live (SWMR), finished, or left by a killed writer, into xarray."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from andreev.errors import RunFileError
from andreev.storage.grid import (
    DRIFT_GROUP,
    MapGrid,
    grid_coords,
    is_grid,
    to_visits,
    visit_cells,
)
from andreev.storage.recovery import STALE_FLAGS_MESSAGES, writer_alive
from andreev.storage.schema import (
    LONG_NAMES,
    PER_SWEEP,
    RESERVED_ATTRS,
    SIGNALS,
    STATUS_NAMES,
    text,
)
from andreev.storage.superblock import truncation_problem

if TYPE_CHECKING:
    import xarray

__all__ = [
    "effective_exit_status",
    "load",
    "load_drift",
    "load_grid",
    "load_settling",
    "open_read",
    "read_config_yaml",
]


def open_read(path: str | os.PathLike[str]) -> h5py.File:
    """Open a run file read-only in SWMR mode (works on live, finished and killed-writer
    files).

    Raises:
        FileNotFoundError: no such file.
        RunFileError: not an HDF5 run file, one cut short (a partial copy: HDF5's SWMR
            reads of it would retry for ever), or one left marked "open for (non-SWMR)
            write" that only ``andreev repair`` can recover.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    if (cut := truncation_problem(path)) is not None and not writer_alive(path):
        raise RunFileError(f"{path} is {cut}")
    try:
        return h5py.File(path, "r", swmr=True)
    except (OSError, RuntimeError) as exc:
        if any(m in str(exc) for m in STALE_FLAGS_MESSAGES):
            raise RunFileError(
                f"{path} was left open for write by a killed writer; "
                f"recover it with: andreev repair {path}"
            ) from exc
        raise RunFileError(f"{path} cannot be read as an HDF5 run file: {exc}") from exc


def effective_exit_status(path: str | os.PathLike[str], stored: str) -> str:
    """The stored exit status, except "running" with no live writer: "killed"."""
    if stored == "running" and not writer_alive(path):
        return "killed"
    return stored


def read_config_yaml(path: str | os.PathLike[str]) -> str:
    """The experiment YAML stored in a run file (works on a file left by a killed writer)."""
    with open_read(path) as f:
        return text(f["entry/experiment_config/data"][()])


def _var_attrs(ds: h5py.Dataset) -> dict[str, str]:
    attrs = {"units": text(ds.attrs.get("units", ""))}
    if "long_name" in ds.attrs:
        attrs["long_name"] = text(ds.attrs["long_name"])
    return attrs


def _coords(data: h5py.Group, axes: list[str]) -> dict[str, Any]:
    """The axes plus the extra per-outer coordinates (``<name>_indices`` = 0), or a grid
    run's 2-D coordinates (:func:`~andreev.storage.grid.grid_coords`)."""
    coords: dict[str, Any] = {}
    for axis in axes:
        ds = data[axis]
        values = ds[()]
        if axis == "direction":
            values = np.asarray([text(v) for v in values])
        coords[axis] = (axis, values, _var_attrs(ds))
    if is_grid(data):
        return {**coords, **grid_coords(data)}
    for key in data.attrs:
        name = key.removesuffix("_indices")
        if key.endswith("_indices") and name not in axes and name in data:
            ds = data[name]
            coords[name] = (axes[0], ds[()], _var_attrs(ds))
    return coords


def _data_vars(data: h5py.Group, axes: list[str]) -> dict[str, Any]:
    dims4 = tuple(axes)  # five with a grid: (grid_y, grid_x, setpoint, direction, bias)
    dims3 = dims4[:-1]
    data_vars: dict[str, Any] = {}
    for name in SIGNALS:
        ds = data[name]
        attrs = {"long_name": LONG_NAMES[name], **_var_attrs(ds)}
        data_vars[name] = (dims4, ds[()], attrs)
    for name in PER_SWEEP:
        ds = data[name]
        data_vars[name] = (dims3, ds[()], _var_attrs(ds))
    codes = np.asarray(data["status"][()], dtype=np.intp)
    data_vars["status"] = (
        dims3,
        np.asarray(STATUS_NAMES)[codes],
        {"units": "", "allowed": list(STATUS_NAMES)},
    )
    return data_vars


def _run_attrs(entry: h5py.Group, axes: list[str], path: str | os.PathLike[str]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "start_time": text(entry["start_time"][()]),
        "end_time": text(entry["end_time"][()]),
        "exit_status": effective_exit_status(path, text(entry["exit_status"][()])),
        "program_name": text(entry["program_name"][()]),
        "program_version": text(entry["program_name"].attrs["version"]),
        "config_yaml": text(entry["experiment_config/data"][()]),
        "snapshot_json": text(entry["station_snapshot/data"][()]),
        "setpoint_bias": float(entry["setpoint_bias"][()]),
        "v_mod_rms": float(entry["v_mod_rms"][()]),
        "outer_name": text(entry["data"].attrs["outer_name"]),
        "outer_dim": axes[0],
        "path": str(Path(path)),
    }
    attrs["resumed_at"] = [text(v) for v in np.atleast_1d(entry.attrs.get("resumed_at", []))]
    for key, value in entry.attrs.items():
        if key in RESERVED_ATTRS:
            continue
        attrs[key] = text(value) if isinstance(value, bytes | np.bytes_) else value
    return attrs


def load(path: str | os.PathLike[str], *, by_visit: bool = False) -> xarray.Dataset:
    """Read a run (live, finished, or left by a killed writer) into an ``xarray.Dataset``.

        Data variables ``dIdV`` (S), ``x``, ``y`` (V), ``current`` (A) on (outer, setpoint,
        direction, bias); ``temperature`` (K, measured), ``z`` (m), ``timestamp`` (s, Unix),
        ``g_normal`` (S), ``status`` (str) on (outer, setpoint, direction). Coordinates: the
        outer one (named ``attrs["outer_dim"]``, see :meth:`RunWriter.create` on name
        clashes) plus any extra per-outer coordinates, ``setpoint`` (A), ``direction``,
        ``bias`` (V). Every variable has ``attrs["units"]``. Dataset attrs: ``start_time``,
        ``end_time``, ``exit_status``, ``program_name``, ``program_version``, ``config_yaml``,
        ``snapshot_json``, ``setpoint_bias`` (V), ``v_mod_rms`` (V), ``outer_name``,
        ``outer_dim``, ``resumed_at``, ``path``, ``has_analysis`` (1 when ``/entry/analysis``
    exists: :func:`~andreev.storage.read_analysis` reads it) and the run's extra attrs.
    ``exit_status`` is "killed" for a file still marked "running" whose writer is dead.
    The signals carry ``long_name`` (dI/dV, lock-in X …).

    A grid run (:mod:`~andreev.storage.grid`) loads on (``grid_y``, ``grid_x``,
    setpoint, direction, bias) (the per-sweep variables without ``bias``) with the
    coordinates ``grid_y``, ``grid_x`` (m, in the frame), ``position_x``, ``position_y``
    (m, absolute, 2-D) and ``visit`` (visit index, 2-D); attrs ``outer_dim`` is
    "grid_y" and ``map_dims`` ["grid_y", "grid_x"]. ``by_visit``: in the engine's order
    instead, one ``position`` per visit (:func:`~andreev.storage.grid.to_visits`; the
    same for a run that is no grid).
    """
    import xarray as xr

    with open_read(path) as f:
        entry = f["entry"]
        data = entry["data"]
        axes = [text(a) for a in data.attrs["axes"]]
        coords = _coords(data, axes)
        data_vars = _data_vars(data, axes)
        attrs = _run_attrs(entry, axes, path)
        attrs["has_analysis"] = int("analysis" in entry)
        if is_grid(data):
            attrs["map_dims"] = axes[:2]
    ds = xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
    return to_visits(ds) if by_visit else ds


def load_grid(path: str | os.PathLike[str]) -> MapGrid | None:
    """The tip positions of a grid run as stored (frame axes, centre, angle, the visits'
    order, the drift reference), or None when the run is no grid."""
    with open_read(path) as f:
        data = f["entry/data"]
        if not is_grid(data):
            return None
        centre = tuple(float(v) for v in data.attrs["frame_centre"])
        drift = f.get(f"entry/{DRIFT_GROUP}")
        reference = tuple(float(v) for v in drift.attrs["reference"]) if drift else centre
        return MapGrid(
            x=np.asarray(data["grid_x"][()], dtype=float),
            y=np.asarray(data["grid_y"][()], dtype=float),
            centre=(centre[0], centre[1]),
            angle=float(data.attrs["frame_angle"]),
            order=visit_cells(data),
            drift_every=int(data.attrs.get("drift_every", 0)),
            reference=(reference[0], reference[1]),
        )


def load_drift(path: str | os.PathLike[str]) -> xarray.Dataset | None:
    """The drift checks of a grid run (``/entry/drift``) or None when it has none:
    ``dIdV`` (S), ``x``, ``y`` (V), ``current`` (A) on (check, direction, bias);
    ``time`` (s, Unix; NaN: not taken), ``reference_current`` (A), ``reference_z`` (m),
    ``temperature`` (K) and ``visit`` on (check,); attrs ``reference`` (x, y) (m) and
    ``drift_every``."""
    import xarray as xr

    with open_read(path) as f:
        if f"entry/{DRIFT_GROUP}" not in f:
            return None
        g = f[f"entry/{DRIFT_GROUP}"]
        out = {}
        for name, item in g.items():
            if name in ("check", "direction", "bias"):
                continue
            dims = ("check", "direction", "bias")[: item.ndim]
            out[name] = (dims, item[()], _var_attrs(item))
        coords = {
            "check": ("check", g["check"][()]),
            "direction": ("direction", np.asarray([text(v) for v in g["direction"][()]])),
            "bias": ("bias", g["bias"][()], {"units": "V"}),
        }
        attrs = {
            "reference": np.asarray(g.attrs["reference"]),
            "drift_every": int(g.attrs["drift_every"]),
        }
    return xr.Dataset(out, coords=coords, attrs=attrs)


def load_settling(path: str | os.PathLike[str]) -> list[xarray.Dataset]:
    """Settling traces of a run, one ``xarray.Dataset`` per outer index (empty ones included).

    Each has ``temperature`` (K) and ``heater`` (%) on dimension ``t`` (s), and attrs
    ``outer_index`` and the outer value. Safe on live and killed-writer files.
    """
    import xarray as xr

    out = []
    with open_read(path) as f:
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
                        k: ("t", arrays[k][:n], {"units": text(g[k].attrs["units"])})
                        for k in ("temperature", "heater")
                    },
                    coords={"t": ("t", arrays["t"][:n], {"units": "s"})},
                    attrs=attrs,
                )
            )
    return out


def load_film_resistance(path: str | os.PathLike[str]) -> dict[str, np.ndarray] | None:
    """The film readings taken at each outer step (``/entry/film_resistance``), or None
    when the run did not take any: ``resistance`` (Ω), ``temperature`` (K), ``time``
    (s, Unix), each (n_outer, film_readings), NaN where not (yet) read; ``outer`` (the
    outer axis' values). Safe on live and killed-writer files."""
    with open_read(path) as f:
        if "entry/film_resistance" not in f:
            return None
        group = f["entry/film_resistance"]
        dim = text(group.attrs["axes"][0])
        out = {name: group[name][()] for name in ("resistance", "temperature", "time")}
        out["outer"] = group[dim][()]
    return out
