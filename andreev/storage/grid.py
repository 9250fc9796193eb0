"""Grid runs (``GridSeries``): N × M tip positions in a scan frame, stored as real 5-D data.

The engine and :class:`~andreev.storage.RunWriter` address a sweep of a grid run as of
every run, by (visit index ``k``, setpoint, direction): ``k`` counts the tip positions
in the order they are visited. Storage alone maps ``k`` → (``iy``, ``ix``), the row and
column of the frame (:attr:`MapGrid.order`, serpentine), and keeps the signals on
``(grid_y, grid_x, setpoint, direction, bias)`` on disk, so that a map is a slice of
a dataset and not a reshuffle. Resume works point by point as for every run: the status
array is kept on the grid too, and the writer reads it back in visit order.

Frame (as the Nanonis scan frame): centre (x, y) in m, size (width, height) in m, angle
in degrees, positive clockwise. Frame coordinates ``u`` (along the width) and ``v``
(along the height), centred on the frame's centre, give the absolute tip position

    x = x_c + u cos θ + v sin θ,    y = y_c − u sin θ + v cos θ.

``grid_x`` holds the ``u`` of the columns, ``grid_y`` the ``v`` of the rows (m, in the
frame); ``position_x``, ``position_y`` (grid_y, grid_x) the absolute positions (m).
Serpentine: row 0 left to right, row 1 right to left, … (the tip never jumps back
across the frame between two rows).

Drift check: every ``drift_every`` visits (before visit 0, K, 2K …) a tunnelling
spectrum at a reference point (the frame's centre by default), stored in
``/entry/drift`` (:data:`DRIFT_SIGNALS`, :data:`DRIFT_SCALARS`), ``drift_slot(k)``
of them; all created with the layout (SWMR forbids new objects later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from andreev.storage.schema import text

if TYPE_CHECKING:
    import xarray

__all__ = [
    "DRIFT_GROUP",
    "DRIFT_SCALARS",
    "DRIFT_SIGNALS",
    "GRID_DIMS",
    "VISIT_DIM",
    "MapGrid",
    "by_visit",
    "is_grid",
    "serpentine",
    "sweep_slot",
    "to_visits",
    "visit_cells",
]

#: the two map dimensions of a grid run's data (never ``x``/``y``: the lock-in's signals)
GRID_DIMS = ("grid_y", "grid_x")
#: the engine's outer dimension of a grid run: the visit index (as a ``PositionSeries``)
VISIT_DIM = "position"
#: group under /entry of the drift-check spectra
DRIFT_GROUP = "drift"
#: drift-check arrays on (check, direction, bias) and their units
DRIFT_SIGNALS: dict[str, str] = {"dIdV": "S", "x": "V", "y": "V", "current": "A"}
#: drift-check scalars on (check,): name → (units, long name)
DRIFT_SCALARS: dict[str, tuple[str, str]] = {
    "time": ("s", "Unix time of the drift spectrum's start"),
    "reference_current": ("A", "tunnelling current at the reference before the spectrum"),
    "reference_z": ("m", "tip height at the reference before the spectrum"),
    "temperature": ("K", "sample temperature during the spectrum"),
}


def serpentine(n_y: int, n_x: int) -> np.ndarray:
    """(n_y · n_x, 2) int array of (iy, ix) in serpentine order: even rows left to
    right, odd rows right to left."""
    rows = []
    for iy in range(n_y):
        cols = range(n_x) if iy % 2 == 0 else range(n_x - 1, -1, -1)
        rows += [(iy, ix) for ix in cols]
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class MapGrid:
    """The tip positions of a grid run and the order they are visited in.

    Attributes:
        x: (n_x,) frame coordinate ``u`` of the columns (m); y: (n_y,) ``v`` of the rows (m).
        centre: frame centre (x, y) (m); angle: frame angle (degrees, positive clockwise).
        order: (n_visit, 2) (iy, ix) of each visit, in visiting order.
        drift_every: a drift spectrum before every ``drift_every``-th visit (0: none).
        reference: absolute (x, y) (m) of the drift check's reference point.
    """

    x: np.ndarray
    y: np.ndarray
    centre: tuple[float, float]
    angle: float
    order: np.ndarray
    drift_every: int = 0
    reference: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def frame(
        cls,
        centre: tuple[float, float],
        size: tuple[float, float],
        points: tuple[int, int],
        angle: float = 0.0,
        *,
        drift_every: int = 0,
        reference: tuple[float, float] | None = None,
    ) -> MapGrid:
        """``points`` = (n_x, n_y) positions spread evenly over a frame of ``size`` =
        (width, height) (m) around ``centre`` (m), rotated by ``angle`` (degrees,
        clockwise), visited in serpentine order; the drift reference defaults to the
        centre."""
        n_x, n_y = (int(p) for p in points)
        if n_x < 1 or n_y < 1:
            raise ValueError(f"points must be ≥ 1 each, got {points}")
        return cls(
            x=_spread(float(size[0]), n_x),
            y=_spread(float(size[1]), n_y),
            centre=(float(centre[0]), float(centre[1])),
            angle=float(angle),
            order=serpentine(n_y, n_x),
            drift_every=max(0, int(drift_every)),
            reference=(float(centre[0]), float(centre[1])) if reference is None else reference,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(n_y, n_x)."""
        return (self.y.size, self.x.size)

    @property
    def n_visits(self) -> int:
        """Tip positions of the grid."""
        return int(self.order.shape[0])

    @property
    def n_drift(self) -> int:
        """Drift checks of the whole grid (before visit 0, K, 2K …)."""
        return math.ceil(self.n_visits / self.drift_every) if self.drift_every else 0

    def drift_slot(self, k: int) -> int | None:
        """The drift check taken before visit ``k`` (its index in ``/entry/drift``), or None."""
        if self.drift_every and k % self.drift_every == 0:
            return k // self.drift_every
        return None

    def absolute(self) -> tuple[np.ndarray, np.ndarray]:
        """Absolute tip positions ``position_x``, ``position_y`` (n_y, n_x) (m)."""
        u, v = np.meshgrid(self.x, self.y)
        theta = math.radians(self.angle)
        c, s = math.cos(theta), math.sin(theta)
        return self.centre[0] + u * c + v * s, self.centre[1] - u * s + v * c

    def visit_positions(self) -> np.ndarray:
        """(n_visit, 2) absolute (x, y) (m) of each visit, in visiting order."""
        px, py = self.absolute()
        iy, ix = self.order[:, 0], self.order[:, 1]
        return np.column_stack([px[iy, ix], py[iy, ix]])

    def visit_map(self) -> np.ndarray:
        """(n_y, n_x) int: the visit index of each grid point."""
        out = np.full(self.shape, -1, dtype=np.int64)
        out[self.order[:, 0], self.order[:, 1]] = np.arange(self.n_visits)
        return out


def _spread(size: float, n: int) -> np.ndarray:
    """``n`` frame coordinates (m) evenly over ``size`` centred on 0 (one point: 0)."""
    return np.linspace(-size / 2, size / 2, n) if n > 1 else np.zeros(1)


# ------------------------------------------------------------------ reading the layout
def is_grid(data: h5py.Group) -> bool:
    """True for the ``/entry/data`` group of a grid run."""
    axes = [text(a) for a in data.attrs["axes"]]
    return tuple(axes[:2]) == GRID_DIMS


def visit_cells(data: h5py.Group) -> np.ndarray:
    """(n_visit, 2) (iy, ix) of each visit of a grid run, from its ``visit`` map."""
    visit = np.asarray(data["visit"][()], dtype=np.int64)
    flat = np.argsort(visit, axis=None, kind="stable")
    flat = flat[visit.ravel()[flat] >= 0]
    return np.column_stack(np.unravel_index(flat, visit.shape)).astype(np.int64)


def sweep_slot(cells: np.ndarray | None, i: int, j: int, k: int) -> tuple[int, ...]:
    """The on-disk index of sweep (visit ``i``, setpoint ``j``, direction ``k``): itself,
    or (iy, ix, j, k) for a grid run (``cells`` from :func:`visit_cells`)."""
    if cells is None:
        return (i, j, k)
    iy, ix = cells[i]
    return (int(iy), int(ix), j, k)


def by_visit(cells: np.ndarray | None, values: np.ndarray) -> np.ndarray:
    """An array on (grid_y, grid_x, …) in visit order, (n_visit, …) (as is without a grid)."""
    if cells is None:
        return values
    return np.asarray(values)[cells[:, 0], cells[:, 1]]


def grid_coords(data: h5py.Group) -> dict[str, Any]:
    """xarray coordinates of a grid run: ``grid_y``, ``grid_x`` (m, frame), the 2-D
    ``position_x``, ``position_y`` (m, absolute) and ``visit`` (visit index)."""
    coords: dict[str, Any] = {}
    for name in (*GRID_DIMS, "position_x", "position_y", "visit"):
        ds = data[name]
        attrs = {"units": text(ds.attrs.get("units", ""))}
        if "long_name" in ds.attrs:
            attrs["long_name"] = text(ds.attrs["long_name"])
        dims = (name,) if name in GRID_DIMS else GRID_DIMS
        coords[name] = (dims, ds[()], attrs)
    return coords


def to_visits(ds: xarray.Dataset) -> xarray.Dataset:
    """A loaded grid run (``load``) on (``position``, setpoint, direction, bias) in visit
    order, as a ``PositionSeries`` loads: coordinates ``position`` (visit index),
    ``position_x``, ``position_y`` (m), ``grid_iy``, ``grid_ix``; signals as float64.
    A run that is no grid is returned as it is."""
    import xarray as xr

    if tuple(ds["dIdV"].dims[:2]) != GRID_DIMS:
        return ds
    visit = np.asarray(ds["visit"].values)
    flat = np.argsort(visit, axis=None, kind="stable")
    flat = flat[visit.ravel()[flat] >= 0]
    iy, ix = np.unravel_index(flat, visit.shape)
    data_vars = {}
    for name, var in ds.data_vars.items():
        values = np.asarray(var.values)[iy, ix]
        if values.dtype.kind == "f":
            values = values.astype(np.float64)
        data_vars[name] = ((VISIT_DIM, *var.dims[2:]), values, dict(var.attrs))
    coords: dict[str, Any] = {
        VISIT_DIM: (VISIT_DIM, np.arange(iy.size, dtype=float), {"units": ""}),
        "grid_iy": (VISIT_DIM, iy.astype(np.int64), {"units": ""}),
        "grid_ix": (VISIT_DIM, ix.astype(np.int64), {"units": ""}),
    }
    for name in ("position_x", "position_y"):
        coords[name] = (VISIT_DIM, np.asarray(ds[name].values)[iy, ix], dict(ds[name].attrs))
    for name in ("setpoint", "direction", "bias"):
        coords[name] = (name, ds[name].values, dict(ds[name].attrs))
    attrs = {**ds.attrs, "outer_dim": VISIT_DIM, "outer_name": VISIT_DIM}
    return xr.Dataset(data_vars=data_vars, coords=coords, attrs=attrs)
