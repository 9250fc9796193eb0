"""Fig. 3 from a grid run: how Δ and Δc spread across the sample (in the paper Δ does,
Δc does not).

``fig3_grid_maps.png``: the map of Δ (lowest tunnelling setpoint) beside the map of Δc
(highest contact setpoint) and the chosen model, on the scan frame's coordinates in nm;
below, the histograms of both maps (in meV, on one scale) and Δc against Δ point by
point with Pearson r. Drawn from :func:`andreev.analysis.maps.grid_maps` (the stored or
fresh per-sweep results arranged on the grid; nothing is fitted). matplotlib is imported
only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from andreev.analysis import figures as F
from andreev.analysis.maps import MODEL_CODES, GridMaps, correlation, grid_maps
from andreev.analysis.report import RunAnalysis

__all__ = ["fig_grid_maps", "grid_figures"]

NM = 1e9
MEV = 1e3


def _extent(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """imshow extent (nm) of cells centred on the frame coordinates ``x``, ``y`` (m)."""

    def edges(v: np.ndarray) -> tuple[float, float]:
        step = float(np.diff(v).mean()) if v.size > 1 else 1e-9
        return (float(v[0]) - step / 2) * NM, (float(v[-1]) + step / 2) * NM

    return (*edges(x), *edges(y))


def _map_panel(
    ax: Any, fig: Any, maps: GridMaps, values: np.ndarray, title: str, **kw: Any
) -> None:
    image = ax.imshow(values, origin="lower", extent=_extent(maps.x, maps.y), aspect="equal", **kw)
    ax.set_xlabel("frame x (nm)")
    ax.set_ylabel("frame y (nm)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.85)


def _hist_panel(ax: Any, delta: np.ndarray, delta_c: np.ndarray) -> None:
    both = np.concatenate([delta[np.isfinite(delta)], delta_c[np.isfinite(delta_c)]]) * MEV
    bins = np.linspace(both.min(), both.max(), 31) if both.size else 10
    for values, label, colour in ((delta, "Δ", "C0"), (delta_c, "Δc", "C3")):
        finite = values[np.isfinite(values)] * MEV
        if finite.size:
            ax.hist(
                finite, bins=bins, color=colour, alpha=0.7, label=f"{label} (N = {finite.size})"
            )
    ax.set_xlabel("gap (meV)")
    ax.set_ylabel("points")
    ax.set_title("histograms of the two maps", fontsize=9)
    ax.legend(fontsize=8)


def _scatter_panel(ax: Any, delta: np.ndarray, delta_c: np.ndarray) -> None:
    r, slope, n = correlation(delta, delta_c)
    ax.plot(delta.ravel() * MEV, delta_c.ravel() * MEV, "o", ms=4, color="C2")
    ax.set_xlabel("Δ (meV)")
    ax.set_ylabel("Δc (meV)")
    ax.ticklabel_format(useOffset=False)
    ax.set_title(f"Δc against Δ: r = {r:.2f}, slope {slope:.2g} ({n} points)", fontsize=9)


def fig_grid_maps(maps: GridMaps, an: RunAnalysis, out: Path) -> Path:
    """Fig. 3 of a grid run (see the module docstring) as ``fig3_grid_maps.png``."""
    plt = F._plt()
    delta, delta_c = maps.delta(), maps.delta_c()
    fig, axes = plt.subplots(2, 3, figsize=(15, 9))
    with F.quiet_nan():
        finite = np.concatenate([v[np.isfinite(v)] for v in (delta, delta_c)]) * MEV
        scale = {"vmin": finite.min(), "vmax": finite.max()} if finite.size else {}

        def label(j: int | None) -> str:
            return "" if j is None else f" at {F.fmt_current(maps.setpoints[j])}"

        _map_panel(axes[0, 0], fig, maps, delta * MEV, f"Δ (meV){label(maps.gap_index)}", **scale)
        _map_panel(
            axes[0, 1], fig, maps, delta_c * MEV, f"Δc (meV){label(maps.gap_c_index)}", **scale
        )
        j = maps.gap_c_index if maps.gap_c_index is not None else maps.gap_index
        model = maps.model[:, :, j] if j is not None else np.full(delta.shape, np.nan)
        names = ", ".join(f"{c} {m}" for m, c in MODEL_CODES.items())
        _map_panel(
            axes[0, 2], fig, maps, model, f"chosen model ({names})", cmap="viridis", vmin=-1, vmax=3
        )
        _hist_panel(axes[1, 0], delta, delta_c)
        _scatter_panel(axes[1, 1], delta, delta_c)
    axes[1, 2].axis("off")
    axes[1, 2].text(
        0.0,
        0.9,
        f"{an.path.name}\n{maps.gap.shape[1]} × {maps.gap.shape[0]} points (x × y)\n"
        f"frame {np.ptp(maps.x) * NM:.0f} × {np.ptp(maps.y) * NM:.0f} nm\n"
        f"spread (std/mean): Δ {_spread(delta)}, Δc {_spread(delta_c)}",
        va="top",
        fontsize=10,
    )
    fig.suptitle(
        f"Fig. 3 — Δ and Δc across the frame: spread Δ {_spread(delta)}, Δc {_spread(delta_c)}",
        fontsize=12,
    )
    return F._save(plt, fig, out / "fig3_grid_maps.png", rect=(0, 0, 1, 0.96))


def _spread(values: np.ndarray) -> str:
    """std/mean of the finite values, as a percentage ("—" when fewer than two)."""
    v = values[np.isfinite(values)]
    if v.size < 2 or np.mean(v) == 0:
        return "—"
    return f"{100 * np.std(v) / abs(np.mean(v)):.2g} %"


def grid_figures(an: RunAnalysis, out: Path) -> list[Path]:
    """The figures of a grid run (``[]`` for any other run)."""
    maps = grid_maps(an)
    return [] if maps is None else [fig_grid_maps(maps, an, out)]
