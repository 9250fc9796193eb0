"""The analysis of a run as stored in ``/entry/analysis``, read back without re-fitting.

``andreev plot`` draws from what ``andreev analyze`` stored, so a figure and the stored
numbers cannot disagree. Fit curves are recomputed from the stored parameters with the
model functions (``fits.MODELS``) — an evaluation, not a fit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev.analysis.closing import GapClosingResult
from andreev.analysis.fits import MODELS
from andreev.analysis.report import COLUMNS, TEXT_COLUMNS, RunAnalysis, _empty_analysis

if TYPE_CHECKING:
    import xarray


def _closing(group: Any) -> GapClosingResult:
    d = {k: float(np.asarray(v[0])) for k, v in group.datasets.items()}
    a = group.attrs
    return GapClosingResult(
        gap_c0=d.get("gap_c0", math.nan),
        tc=d.get("tc", math.nan),
        gap_c0_error=d.get("gap_c0_error", math.nan),
        tc_error=d.get("tc_error", math.nan),
        success=bool(a.get("success", False)),
        message=str(a.get("message", "")),
        chi2_red=d.get("chi2_red", math.nan),
        n_points=int(a.get("n_points", 0)),
        tc_error_low=d.get("tc_error_low", math.nan),
        tc_error_high=d.get("tc_error_high", math.nan),
        n_sweeps=int(a.get("n_sweeps", 0)),
    )


def load_stored(ds: xarray.Dataset, path: str | Path) -> RunAnalysis | None:
    """The RunAnalysis stored in ``path`` (None when the file has no /entry/analysis or
    it lacks a column of this version)."""
    from andreev.storage import read_analysis

    group = read_analysis(Path(path))
    if group is None or any(k not in group.datasets for k in (*COLUMNS, *TEXT_COLUMNS)):
        return None
    res = _empty_analysis(ds, Path(path), np.full(ds["status"].shape, np.nan))
    for name in COLUMNS:
        res.values[name] = np.asarray(group.datasets[name][0], dtype=float)
    for name in TEXT_COLUMNS:
        res.text[name] = np.asarray(group.datasets[name][0]).astype(object)
    idx = np.asarray(group.attrs.get("tunnelling_setpoint_indices", []), dtype=int)
    res.tunnelling_setpoints = [int(j) for j in idx]
    for name, sub in group.groups.items():
        if name.startswith("gap_closing_"):
            res.closing[name.removeprefix("gap_closing_")] = _closing(sub)
    return res


#: the stored columns that give each model's parameters
_STORED_PARAMS = {
    "dynes": {"gap": "gap", "gamma": "gamma", "g_normal": "g_normal_fit"},
    "btk": {
        "gap": "btk_gap",
        "barrier": "btk_barrier",
        "gamma": "btk_gamma",
        "g_normal": "g_normal_fit",
    },
    "film_za": {
        "gap": "film_gap",
        "gap_c": "film_gap_c",
        "gamma": "film_gamma",
        "andreev_weight": "film_andreev_weight",
        "g_normal": "g_normal_fit",
        "barrier_andreev": "film_barrier_andreev",
        "gamma_andreev": "film_gamma_andreev",
    },
}


def stored_curve(
    an: RunAnalysis, idx: tuple[int, int, int], model: str, bias: np.ndarray
) -> np.ndarray | None:
    """dI/dV (S) of the stored ``model`` fit ("dynes", "btk", "film_za") of sweep ``idx`` at
    ``bias`` (V), at the sweep's measured T and the run's V_mod; None when not stored."""
    cols = _STORED_PARAMS[model]
    p = [float(an.values[cols[n]][idx]) for n in MODELS[model][0]]
    if not all(math.isfinite(v) for v in p):
        return None
    fn = MODELS[model][1]
    with np.errstate(all="ignore"):
        return np.asarray(fn(bias, p, float(an.temperature[idx]), an.v_mod_rms), dtype=float)
