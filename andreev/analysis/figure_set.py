"""The figures of one run, chosen by its run type: the main figures (:mod:`figures`) and
the supplementary ones (:mod:`fig_supp`). Above both, so they never import each other."""

from __future__ import annotations

from pathlib import Path

from andreev.analysis import fig_grid, fig_supp
from andreev.analysis.figures import (
    default_out,
    fig_gaps,
    fig_setpoints,
    fig_temperature,
    fig_tunnelling_fit,
    run_analysis,
    run_kind,
)

__all__ = ["make_figures"]


def make_figures(run: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the figures of ``run`` for its run type into ``out``; returns their paths.

    Drawn from ``/entry/analysis`` when the run was analysed (``andreev analyze``), else
    from a fresh analysis. ``out`` defaults to ``default_out(run)``. Raises RunFileError if
    ``run`` is missing or not a run file (then nothing is written).
    """
    run = Path(run)
    ds, an, _ = run_analysis(run)
    out = Path(out) if out is not None else default_out(run)
    out.mkdir(parents=True, exist_ok=True)
    paths = [fig_setpoints(ds, an, out), fig_supp.fig_d2_setpoints(ds, an, out)]
    if len(an.outer_values) > 1:
        paths += [fig_temperature(ds, an, out), fig_gaps(ds, an, out)]
    if run_kind(an) == "temperature":
        paths.append(fig_supp.fig_tunnelling_temperature(ds, an, out))
    paths.append(fig_tunnelling_fit(ds, an, out))
    if fig_supp.is_reference_film(an):
        paths.append(fig_supp.fig_reference_film(ds, an, out))
    paths += fig_grid.grid_figures(an, out)  # a grid run: Fig. 3 from its maps
    return paths
