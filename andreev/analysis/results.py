"""What ``andreev analyze`` keeps of a run's analysis: the CSV, the stored results, the summary.

- ``write_csv``: one row per fitted sweep, units in the column names, ``RUN.analysis.csv``
  next to the run (``csv_path``);
- ``result_group`` / ``store``: the per-sweep results on (outer, setpoint, direction) and
  the Δc(T) closing fits as an ``andreev.storage.ResultGroup``, written into
  ``/entry/analysis`` of the run file by ``andreev.storage.write_analysis`` (the one
  writer of run files; raw data untouched, the group replaced on every run);
- ``summary``: a short text table for the terminal (returned, never printed here).
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from andreev import physics
from andreev.analysis.peaks import GapClosingResult
from andreev.analysis.report import COLUMNS, TEXT_COLUMNS, RunAnalysis
from andreev.storage import ResultGroup, write_analysis

#: the closing model as stored with the fit
CLOSING_MODEL = "gap_c0*tanh(1.74*sqrt(tc/T - 1))"
#: the stored scalars of a closing fit and their units
CLOSING_FIELDS = (
    ("tc", "K"),
    ("tc_error", "K"),
    ("gap_c0", "eV"),
    ("gap_c0_error", "eV"),
    ("chi2_red", "1"),
)


@contextmanager
def quiet_nan() -> Iterator[None]:
    """Silence numpy's all-NaN RuntimeWarnings and floating-point warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def csv_path(run: str | Path) -> Path:
    """``RUN.analysis.csv`` next to ``RUN.h5``."""
    run = Path(run)
    return run.with_name(run.stem + ".analysis.csv")


def _rows(an: RunAnalysis) -> list[dict[str, Any]]:
    rows = []
    n_o, n_s, n_d = an.shape
    for i in range(n_o):
        for j in range(n_s):
            for k in range(n_d):
                if not an.text["kind"][i, j, k]:
                    continue
                row: dict[str, Any] = {
                    "i_outer": i,
                    an.outer_dim: an.outer_values[i],
                    "setpoint_A": an.setpoints[j],
                    "direction": an.directions[k],
                    "temperature_K": an.temperature[i, j, k],
                    "g_normal_S": an.g_normal[i, j, k],
                    "g_normal_G0": an.g_normal[i, j, k] / physics.G0,
                    "kind": an.text["kind"][i, j, k],
                    "peak_flag": an.text["peak_flag"][i, j, k],
                }
                for name, (unit, _) in COLUMNS.items():
                    row[f"{name}_{unit}" if unit != "1" else name] = an.values[name][i, j, k]
                row["dynes_message"] = an.text["dynes_message"][i, j, k]
                row["film_message"] = an.text["film_message"][i, j, k]
                rows.append(row)
    return rows


def write_csv(an: RunAnalysis, path: str | Path) -> Path:
    """One row per fitted sweep (units in the column names); returns the CSV path."""
    rows = _rows(an)
    path = Path(path)
    with open(path, "w", newline="") as fh:
        if not rows:
            fh.write("# no finished sweeps\n")
            return path
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for row in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return path


def _closing_group(c: GapClosingResult) -> ResultGroup:
    return ResultGroup(
        attrs={
            "model": CLOSING_MODEL,
            "success": bool(c.success),
            "message": c.message,
            "n_points": int(c.n_points),
        },
        datasets={key: (float(getattr(c, key)), unit, "") for key, unit in CLOSING_FIELDS},
    )


def result_group(an: RunAnalysis) -> ResultGroup:
    """The results as stored under ``/entry/analysis``.

    Attributes ``dims``, ``v_mod_rms`` (V), ``tunnelling_setpoint_indices``; one dataset
    per ``COLUMNS`` entry (with units and long_name) and per ``TEXT_COLUMNS`` entry (UTF-8)
    on (outer, setpoint, direction); a ``gap_closing_<source>`` group per closing fit
    (attrs model, success, message, n_points; scalars tc, gap_c0 and errors with units).
    """
    out = ResultGroup(
        attrs={
            "dims": [an.outer_dim, "setpoint", "direction"],
            "v_mod_rms": an.v_mod_rms,
            "tunnelling_setpoint_indices": np.asarray(an.tunnelling_setpoints, dtype=int),
        }
    )
    for name, (unit, desc) in COLUMNS.items():
        out.datasets[name] = (an.values[name], unit, desc)
    for name in TEXT_COLUMNS:
        out.datasets[name] = (an.text[name].astype(str), "", "")
    for name, c in an.closing.items():
        out.groups[f"gap_closing_{name}"] = _closing_group(c)
    return out


def store(an: RunAnalysis, path: str | Path) -> None:
    """Replace ``/entry/analysis`` of the run file with these results (raw data untouched).

    Raises RunLockedError while a writer holds the run, OSError if the file cannot be
    opened for writing.
    """
    write_analysis(Path(path), result_group(an), program="andreev analyze")


def _fmt(v: float, scale: float = 1e6, nd: int = 1) -> str:
    return "—" if not np.isfinite(v) else f"{v * scale:.{nd}f}"


def summary(an: RunAnalysis) -> str:
    """Short text table: Δ, Γ per outer step; Δc (peaks, film) at the highest setpoint; Tc."""
    n_o, n_s, _ = an.shape
    tunnel = an.tunnelling_setpoints
    j_hi = an.top_setpoint()
    lines = [f"{an.path.name}: {an.outer_name} series, {n_o} steps, {n_s} setpoints"]
    head = f"{an.outer_dim:>20} {'T/K':>6} {'Δ/µeV':>12} {'Γ/µeV':>10}"
    if j_hi is not None:
        head += f"   at {an.setpoints[j_hi] * 1e9:g} nA: {'Δc peaks/µeV':>14} {'Δc film/µeV':>13}"
    lines.append(head)
    for i in range(n_o):
        gap = an.values["gap"][i][tunnel]
        gerr = an.values["gap_error"][i][tunnel]
        gam = an.values["gamma"][i][tunnel]
        t = an.temperature[i][tunnel]
        with quiet_nan():
            line = (
                f"{an.outer_values[i]:>20.4g} {_fmt(np.nanmean(t), 1, 3):>6} "
                f"{_fmt(np.nanmean(gap)) + '±' + _fmt(np.nanmax(gerr)):>12} "
                f"{_fmt(np.nanmean(gam)):>10}"
            )
            if j_hi is not None:
                pk = an.values["gap_c_peaks"][i, j_hi]
                flags = sorted({str(f) for f in an.text["peak_flag"][i, j_hi] if f})
                fi = an.values["film_gap_c"][i, j_hi]
                fe = an.values["film_gap_c_error"][i, j_hi]
                pk_s = _fmt(np.nanmean(pk)) if np.any(np.isfinite(pk)) else "/".join(flags)
                fi_s = (
                    (_fmt(np.nanmean(fi)) + "±" + _fmt(np.nanmax(fe)))
                    if np.any(np.isfinite(fi))
                    else "—"
                )
                line += f"   {'':>{len(str(round(an.setpoints[j_hi] * 1e9)))}}"
                line += f"{pk_s:>20} {fi_s:>13}"
        lines.append(line)
    for name, c in an.closing.items():
        if c.success:
            lines.append(
                f"Δc(T) closing from {name}: Tc = {c.tc:.3f} ± {c.tc_error:.3f} K, "
                f"Δc0 = {c.gap_c0 * 1e6:.1f} ± {c.gap_c0_error * 1e6:.1f} µeV "
                f"({c.n_points} sweeps)"
            )
        else:
            lines.append(f"Δc(T) closing from {name}: no fit ({c.message})")
    return "\n".join(lines)
