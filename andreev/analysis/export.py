"""Export of a run for colleagues without andreev: netCDF (xarray) or CSV per spectrum.

netCDF: the whole ``andreev.storage.load`` dataset (signals, per-sweep variables, the
coordinates with their units), attributes netCDF cannot hold (lists, dicts, booleans,
None) as JSON text, so the file opens with ``xarray.open_dataset`` and compares equal in
its data. CSV: one file per finished sweep, columns bias (V), dIdV (S), x (V), y (V),
current (A), and a ``#`` header with the run, the units and the sweep's coordinates
(outer value, setpoint, direction, measured temperature, recorded G_N). Nothing here
prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev.storage import FINISHED, SIGNALS, load

if TYPE_CHECKING:
    import xarray

#: the engines tried for netCDF, in order
ENGINES = ("h5netcdf", "netcdf4")


def netcdf_attr(value: Any) -> Any:
    """``value`` as a netCDF attribute: str and numbers (and numeric arrays) as they are,
    booleans as 0/1, anything else as JSON text."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, str | int | float | np.integer | np.floating):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value
    return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, default=str)


def for_netcdf(ds: xarray.Dataset) -> xarray.Dataset:
    """A copy of ``ds`` whose dataset and variable attributes netCDF can hold."""
    out = ds.copy()
    out.attrs = {k: netcdf_attr(v) for k, v in ds.attrs.items()}
    for name in list(out.variables):
        out[name].attrs = {k: netcdf_attr(v) for k, v in ds[name].attrs.items()}
    return out


def to_netcdf(run: str | Path, out: str | Path) -> Path:
    """Write the run at ``run`` as netCDF-4 to ``out``; the path written."""
    import importlib.util

    engine = next((e for e in ENGINES if importlib.util.find_spec(e)), None)
    for_netcdf(load(run)).to_netcdf(Path(out), engine=engine)  # type: ignore[arg-type]
    return Path(out)


def csv_header(ds: xarray.Dataset, idx: tuple[int, int, int]) -> list[str]:
    """The ``#`` header lines of sweep ``idx`` (outer, setpoint, direction index)."""
    i, j, k = idx
    outer = str(ds.attrs["outer_dim"])
    unit = ds[outer].attrs.get("units", "")
    extra = [
        f"# {name}: {float(c.values[i])!r} {c.attrs.get('units', '')}"
        for name, c in ds.coords.items()
        if c.dims == (outer,) and name != outer
    ]
    return [
        f"# run: {ds.attrs.get('path', '')}",
        f"# outer ({ds.attrs.get('outer_name', outer)}): {float(ds[outer].values[i])!r} {unit}",
        *extra,
        f"# setpoint: {float(ds['setpoint'].values[j])!r} A",
        f"# setpoint_bias: {float(ds.attrs['setpoint_bias'])!r} V",
        f"# direction: {ds['direction'].values[k]}",
        f"# temperature: {float(ds['temperature'].values[i, j, k])!r} K (measured)",
        f"# g_normal: {float(ds['g_normal'].values[i, j, k])!r} S (I_set/V_set, recorded)",
        f"# v_mod_rms: {float(ds.attrs['v_mod_rms'])!r} V",
        f"# status: {ds['status'].values[i, j, k]}",
        "# units: bias V, " + ", ".join(f"{n} {u}" for n, u in SIGNALS.items()),
    ]


def csv_name(ds: xarray.Dataset, stem: str, idx: tuple[int, int, int]) -> str:
    """File name of sweep ``idx``: ``STEM_o003_s01_forward.csv``."""
    i, j, k = idx
    return f"{stem}_o{i:03d}_s{j:02d}_{ds['direction'].values[k]}.csv"


def to_csv(run: str | Path, out: str | Path) -> list[Path]:
    """One CSV per finished sweep of the run at ``run`` into the folder ``out`` (made if
    missing); the paths written, in index order."""
    ds = load(run, by_visit=True)  # a grid run: one CSV per visit, its position in the header
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    status = np.asarray(ds["status"].values).astype(str)
    bias = np.asarray(ds["bias"].values, dtype=float)
    written = []
    for idx in np.ndindex(*status.shape):
        if status[idx] not in FINISHED:
            continue
        cols = [bias] + [np.asarray(ds[n].values[idx], dtype=float) for n in SIGNALS]
        path = folder / csv_name(ds, Path(run).stem, idx)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join(csv_header(ds, idx)) + "\n")
            f.write(",".join(["bias", *SIGNALS]) + "\n")
            np.savetxt(f, np.column_stack(cols), delimiter=",", fmt="%.10g")
        written.append(path)
    return written
