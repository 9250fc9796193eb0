"""Forward and backward sweeps (and repeats) of one setpoint: averaged when they agree.

Two sweeps of the same setpoint at the same outer step measure the same spectrum. Their
results are compared quantity by quantity (``COMPARED``: Δc, Δ, Z): they agree when every
difference is within ``AGREE_SIGMA`` combined standard errors. Agreeing results are
averaged (weighted by 1/σ²); disagreeing ones are flagged "hysteresis" and not averaged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from andreev.analysis.report import RunAnalysis

#: agreement threshold, in combined standard errors
AGREE_SIGMA = 3.0
#: the per-sweep quantities (value column, error column) compared between directions
COMPARED = (
    ("gap_c_peaks", "gap_c_peaks_error"),
    ("film_gap_c", "film_gap_c_error"),
    ("gap", "gap_error"),
    ("btk_barrier", "btk_barrier_error"),
)


def _disagree(v: np.ndarray, e: np.ndarray) -> bool:
    ok = np.isfinite(v) & np.isfinite(e) & (e > 0)
    if np.count_nonzero(ok) < 2:
        return False
    v, e = v[ok], e[ok]
    mean = float(np.sum(v / e**2) / np.sum(1 / e**2))
    return bool(np.any(np.abs(v - mean) > AGREE_SIGMA * np.sqrt(e**2 + 1.0 / np.sum(1 / e**2))))


def flag_directions(an: RunAnalysis) -> None:
    """Set ``direction_flag`` to "agree" or "hysteresis" where two or more sweeps of a
    setpoint were analysed ("" where only one)."""
    n_o, n_s, n_d = an.shape
    for i in range(n_o):
        for j in range(n_s):
            done = [k for k in range(n_d) if an.text["kind"][i, j, k]]
            if len(done) < 2:
                continue
            bad = any(
                _disagree(an.values[v][i, j, done], an.values[e][i, j, done]) for v, e in COMPARED
            )
            for k in done:
                an.text["direction_flag"][i, j, k] = "hysteresis" if bad else "agree"


def combined(an: RunAnalysis, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per (outer, setpoint): the weighted mean of ``name`` over the directions and its
    error (from the ``name + "_error"`` column), NaN where flagged "hysteresis" or absent.
    Without an error column the plain mean (error NaN)."""
    v = an.values[name]
    e = an.values.get(name + "_error")
    n_o, n_s, _ = an.shape
    mean = np.full((n_o, n_s), np.nan)
    err = np.full((n_o, n_s), np.nan)
    for i in range(n_o):
        for j in range(n_s):
            if "hysteresis" in set(an.text["direction_flag"][i, j]):
                continue
            vv = v[i, j]
            if e is None:
                if np.any(np.isfinite(vv)):
                    mean[i, j] = float(np.nanmean(vv))
                continue
            ee = e[i, j]
            ok = np.isfinite(vv) & np.isfinite(ee) & (ee > 0)
            if np.any(ok):
                w = 1.0 / ee[ok] ** 2
                mean[i, j] = float(np.sum(w * vv[ok]) / np.sum(w))
                err[i, j] = math.sqrt(1.0 / float(np.sum(w)))
    return mean, err
