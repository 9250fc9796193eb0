"""Maps and statistics of a grid run (``GridSeries``): the per-sweep results on the grid.

Nothing is fitted here: ``andreev analyze`` has fitted every sweep (serially or on
Dask, in the engine's visit order); the maps are those results arranged on the scan
frame's rows and columns (:func:`andreev.storage.load_grid`), the two directions
averaged:

- ``gap`` (eV): the Dynes Δ at the tunnelling setpoints, the film-model Δ at contacts;
- ``gap_c`` (eV): Δc (``gap_c``: the d²I/dV² read-out, else the film fit's);
- ``g_normal`` (S): the measured G_N;
- ``model``: the chosen model (:data:`MODEL_CODES`; −1 where none), forward sweep.

The map of Δ is the one at the lowest tunnelling setpoint, the map of Δc the one at the
highest contact setpoint (Fig. 3); their histograms and Δc against Δ point by point
(Pearson r and the least-squares slope) are the statistics. All of it is stored by
:func:`add_maps` as ``/entry/analysis/maps`` (through ``andreev.storage``).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.analysis.report import RunAnalysis
from andreev.storage import ResultGroup, load_grid

__all__ = ["MODEL_CODES", "GridMaps", "add_maps", "correlation", "grid_maps", "histogram"]

#: stored code of each chosen model (−1: no fit, 3: any other)
MODEL_CODES: dict[str, int] = {"dynes": 0, "btk": 1, "film": 2}
#: histogram bins of the Δ and Δc maps
BINS = 20


@dataclass
class GridMaps:
    """The per-sweep results of a grid run on (grid_y, grid_x, setpoint).

    Attributes:
        x, y: frame coordinates of the columns and rows (m); position_x, position_y:
            absolute tip positions (n_y, n_x) (m); setpoints (A).
        gap, gap_c (eV), g_normal (S): (n_y, n_x, n_setpoint), NaN where not fitted.
        model: (n_y, n_x, n_setpoint) int, :data:`MODEL_CODES`.
        gap_index, gap_c_index: the setpoint of the Δ map (lowest tunnelling one) and of
            the Δc map (highest contact one); None when there is none.
    """

    x: np.ndarray
    y: np.ndarray
    position_x: np.ndarray
    position_y: np.ndarray
    setpoints: np.ndarray
    gap: np.ndarray
    gap_c: np.ndarray
    g_normal: np.ndarray
    model: np.ndarray
    gap_index: int | None
    gap_c_index: int | None

    def delta(self) -> np.ndarray:
        """The map of Δ (n_y, n_x) (eV): at :attr:`gap_index` (all NaN without one)."""
        return _at(self.gap, self.gap_index)

    def delta_c(self) -> np.ndarray:
        """The map of Δc (n_y, n_x) (eV): at :attr:`gap_c_index` (all NaN without one)."""
        return _at(self.gap_c, self.gap_c_index)


def _at(values: np.ndarray, j: int | None) -> np.ndarray:
    return values[:, :, j] if j is not None else np.full(values.shape[:2], np.nan)


def _on_grid(order: np.ndarray, shape: tuple[int, int], visits: np.ndarray) -> np.ndarray:
    """(n_visit, …) values in visit order → (n_y, n_x, …) on the grid (NaN elsewhere)."""
    out = np.full((*shape, *visits.shape[1:]), np.nan)
    n = min(order.shape[0], visits.shape[0])
    out[order[:n, 0], order[:n, 1]] = visits[:n]
    return out


def _mean_directions(values: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: not fitted
        return np.nanmean(np.asarray(values, dtype=float), axis=-1)


def _model_codes(names: np.ndarray) -> np.ndarray:
    codes = [MODEL_CODES.get(str(m), 3) if m else -1 for m in names.ravel()]
    return np.asarray(codes, dtype=float).reshape(names.shape)


def grid_maps(an: RunAnalysis) -> GridMaps | None:
    """The results of ``an`` (a grid run's, in visit order) on the grid; None when the
    run is no grid."""
    grid = load_grid(an.path)
    if grid is None:
        return None
    tunnelling = an.tunnelling_setpoints
    gap_visits = np.where(
        np.isin(np.arange(len(an.setpoints)), tunnelling)[None, :, None],
        an.values["gap"],
        an.values["film_gap"],
    )
    px, py = grid.absolute()
    place = lambda v: _on_grid(grid.order, grid.shape, v)  # noqa: E731
    return GridMaps(
        x=grid.x,
        y=grid.y,
        position_x=px,
        position_y=py,
        setpoints=np.asarray(an.setpoints, dtype=float),
        gap=place(_mean_directions(gap_visits)),
        gap_c=place(_mean_directions(an.values["gap_c"])),
        g_normal=place(_mean_directions(an.values["g_normal_measured"])),
        model=place(_model_codes(an.text["model"][..., 0])),
        gap_index=min(tunnelling, key=lambda j: abs(an.setpoints[j])) if tunnelling else None,
        gap_c_index=an.top_setpoint(),
    )


def histogram(values: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of the finite ``values`` (``bins`` bins over their range)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return np.zeros(bins, dtype=np.int64), np.full(bins + 1, np.nan)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low, high = low - 0.5 * abs(low or 1.0) * 1e-3, high + 0.5 * abs(high or 1.0) * 1e-3
    counts, edges = np.histogram(finite, bins=bins, range=(low, high))
    return counts.astype(np.int64), edges


def correlation(delta: np.ndarray, delta_c: np.ndarray) -> tuple[float, float, int]:
    """Δc against Δ point by point: Pearson r, the least-squares slope dΔc/dΔ and the
    number of points where both are finite (r and slope NaN under three points or
    without spread)."""
    a, b = np.asarray(delta, dtype=float).ravel(), np.asarray(delta_c, dtype=float).ravel()
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    if n < 3 or np.std(a[both]) == 0 or np.std(b[both]) == 0:
        return math.nan, math.nan, n
    r = float(np.corrcoef(a[both], b[both])[0, 1])
    slope = float(np.polyfit(a[both], b[both], 1)[0])
    return r, slope, n


def _stats(name: str, values: np.ndarray, unit: str) -> dict[str, tuple[Any, str, str]]:
    counts, edges = histogram(values)
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else math.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return {
        f"{name}_hist": (counts, "1", f"histogram of the {name} map (counts per bin)"),
        f"{name}_hist_edges": (edges, unit, f"bin edges of {name}_hist"),
        f"{name}_mean": (mean, unit, f"mean of the {name} map"),
        f"{name}_std": (std, unit, f"standard deviation of the {name} map"),
    }


def map_group(maps: GridMaps) -> ResultGroup:
    """``/entry/analysis/maps``: the maps on (grid_y, grid_x, setpoint), the frame's
    coordinates, the Δ and Δc maps' histograms and statistics, Δc against Δ."""
    delta, delta_c = maps.delta(), maps.delta_c()
    r, slope, n = correlation(delta, delta_c)
    group = ResultGroup(
        attrs={
            "dims": ["grid_y", "grid_x", "setpoint"],
            "model_codes": json.dumps({**MODEL_CODES, "other": 3, "none": -1}),
            "gap_setpoint_index": -1 if maps.gap_index is None else maps.gap_index,
            "gap_c_setpoint_index": -1 if maps.gap_c_index is None else maps.gap_c_index,
            "gap_c_vs_gap_r": r,
            "gap_c_vs_gap_slope": slope,
            "gap_c_vs_gap_points": n,
        }
    )
    group.datasets.update(
        {
            "grid_x": (maps.x, "m", "frame coordinate of the columns"),
            "grid_y": (maps.y, "m", "frame coordinate of the rows"),
            "position_x": (maps.position_x, "m", "tip x (absolute)"),
            "position_y": (maps.position_y, "m", "tip y (absolute)"),
            "setpoint": (maps.setpoints, "A", "setpoint current"),
            "gap": (maps.gap, "eV", "Δ: Dynes (tunnelling) or film model (contact)"),
            "gap_c": (maps.gap_c, "eV", "Δc (analysis column gap_c)"),
            "g_normal": (maps.g_normal, "S", "measured G_N"),
            "model": (maps.model, "", "chosen model (attr model_codes)"),
            "delta": (delta, "eV", "the map of Δ (setpoint gap_setpoint_index)"),
            "delta_c": (delta_c, "eV", "the map of Δc (setpoint gap_c_setpoint_index)"),
        }
    )
    group.datasets.update(_stats("delta", delta, "eV"))
    group.datasets.update(_stats("delta_c", delta_c, "eV"))
    return group


def add_maps(group: ResultGroup, an: RunAnalysis) -> None:
    """Add ``maps`` (:func:`map_group`) to the results of a grid run (nothing otherwise)."""
    maps = grid_maps(an)
    if maps is not None:
        group.groups["maps"] = map_group(maps)
