"""Forward/backward sweeps and their repeats at one setpoint: averaged when they agree.

The sweeps of one (outer step, setpoint) — "forward", "backward" and, with the
procedures' ``repeats``, "forward_2", "backward_2", … — measure the same spectrum. Their
results are compared quantity by quantity (``COMPARED``: Δc, Δ, Z). Each sweep is
compared with the weighted mean of the *others*: it agrees when every difference is
within ``AGREE_SIGMA`` standard errors of that difference, √(σ_k² + σ_others²) (for two
sweeps: |v₁ − v₂| ≤ 3·√(σ₁² + σ₂²)); the worst sweep beyond is removed and the rest
compared again. A sweep that does not agree is flagged "hysteresis" and left out of the
average; the agreeing ones are flagged "agree" and averaged (weighted by
1/σ²). With two sweeps, or when more than half disagree, nothing tells which is right:
all are flagged "hysteresis" and nothing is averaged.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from andreev.analysis.report import RunAnalysis

#: agreement threshold, in standard errors of the difference
AGREE_SIGMA = 3.0
#: the per-sweep quantities (value column, error column) compared between sweeps
COMPARED = (
    ("gap_c_peaks", "gap_c_peaks_error"),
    ("film_gap_c", "film_gap_c_error"),
    ("gap", "gap_error"),
    ("btk_barrier", "btk_barrier_error"),
)


def _scores(v: np.ndarray, e: np.ndarray) -> np.ndarray:
    """|v_k − weighted mean of the others| / √(e_k² + σ²(mean of the others)) (≥ 2 values)."""
    w = 1.0 / e**2
    out = np.empty(v.size)
    for k in range(v.size):
        others = np.arange(v.size) != k
        w_o = float(np.sum(w[others]))
        mean_o = float(np.sum(w[others] * v[others])) / w_o
        out[k] = abs(v[k] - mean_o) / math.sqrt(e[k] ** 2 + 1.0 / w_o)
    return out


def outliers(v: np.ndarray, e: np.ndarray) -> np.ndarray:
    """True for every sweep whose value ``v`` differs from the weighted mean of the others
    by more than ``AGREE_SIGMA`` standard errors of the difference (σ from ``e``), the
    worst removed first and the rest compared again; sweeps without a finite value and
    error are never outliers."""
    v, e = np.asarray(v, dtype=float), np.asarray(e, dtype=float)
    out = np.zeros(v.size, dtype=bool)
    kept = list(np.nonzero(np.isfinite(v) & np.isfinite(e) & (e > 0))[0])
    while len(kept) >= 2:
        z = _scores(v[kept], e[kept])
        if not np.max(z) > AGREE_SIGMA:
            break
        if len(kept) == 2:  # two that disagree: nothing tells which is right
            out[kept] = True
            break
        out[kept.pop(int(np.argmax(z)))] = True
    return out


def _flags(an: RunAnalysis, i: int, j: int, done: list[int]) -> list[str]:
    """ "agree"/"hysteresis" for the analysed sweeps ``done`` of (i, j)."""
    bad = np.zeros(len(done), dtype=bool)
    for v, e in COMPARED:
        bad |= outliers(an.values[v][i, j, done], an.values[e][i, j, done])
    if np.any(bad) and (len(done) == 2 or np.count_nonzero(bad) > len(done) / 2):
        bad[:] = True
    return ["hysteresis" if b else "agree" for b in bad]


def flag_directions(an: RunAnalysis) -> None:
    """Set ``direction_flag`` to "agree" or "hysteresis" where two or more sweeps of a
    setpoint were analysed ("" where only one)."""
    n_o, n_s, n_d = an.shape
    for i in range(n_o):
        for j in range(n_s):
            done = [k for k in range(n_d) if an.text["kind"][i, j, k]]
            if len(done) < 2:
                continue
            for k, flag in zip(done, _flags(an, i, j, done), strict=True):
                an.text["direction_flag"][i, j, k] = flag


def agreeing(an: RunAnalysis, i: int, j: int) -> np.ndarray:
    """Mask over the directions of (i, j): the sweeps to average (not "hysteresis")."""
    return np.asarray(an.text["direction_flag"][i, j] != "hysteresis", dtype=bool)


def combined(an: RunAnalysis, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per (outer, setpoint): the weighted mean of ``name`` over the agreeing sweeps and
    its error (from the ``name + "_error"`` column), NaN where none agree or none has a
    value. Without an error column the plain mean (error NaN)."""
    v = an.values[name]
    e = an.values.get(name + "_error")
    n_o, n_s, _ = an.shape
    mean = np.full((n_o, n_s), np.nan)
    err = np.full((n_o, n_s), np.nan)
    for i in range(n_o):
        for j in range(n_s):
            use = agreeing(an, i, j)
            vv = v[i, j][use]
            if e is None:
                if np.any(np.isfinite(vv)):
                    mean[i, j] = float(np.nanmean(vv))
                continue
            ee = e[i, j][use]
            ok = np.isfinite(vv) & np.isfinite(ee) & (ee > 0)
            if np.any(ok):
                w = 1.0 / ee[ok] ** 2
                mean[i, j] = float(np.sum(w * vv[ok]) / np.sum(w))
                err[i, j] = math.sqrt(1.0 / float(np.sum(w)))
    return mean, err
