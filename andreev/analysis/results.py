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
from andreev.analysis.closing import GapClosingResult
from andreev.analysis.maps import add_maps
from andreev.analysis.report import COLUMNS, NO_TUNNELLING, TEXT_COLUMNS, RunAnalysis
from andreev.storage import ResultGroup, write_analysis

#: the closing model as stored with the fit
CLOSING_MODEL = "gap_c0*tanh(1.74*sqrt(tc/T - 1))"
#: the stored scalars of a closing fit and their units
CLOSING_FIELDS = (
    ("tc", "K"),
    ("tc_error", "K"),
    ("tc_error_low", "K"),
    ("tc_error_high", "K"),
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
                    "g_normal_nominal_G0": an.g_normal[i, j, k] / physics.G0,
                    "g_normal_measured_G0": an.values["g_normal_measured"][i, j, k] / physics.G0,
                }
                for name, (unit, _) in COLUMNS.items():
                    row[f"{name}_{unit}" if unit != "1" else name] = an.values[name][i, j, k]
                for name in TEXT_COLUMNS:
                    row[name] = an.text[name][i, j, k]
                rows.append(row)
    return rows


def write_csv(an: RunAnalysis, path: str | Path) -> Path:
    """One row per fitted sweep (units in the column names); returns the CSV path."""
    rows = _rows(an)
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
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
            "n_sweeps": int(c.n_sweeps),
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
    add_maps(out, an)  # a grid run: its maps and statistics (analysis.maps)
    return out


def store(an: RunAnalysis, path: str | Path) -> None:
    """Replace ``/entry/analysis`` of the run file with these results (raw data untouched).

    Raises RunLockedError while a writer holds the run, OSError if the file cannot be
    opened for writing.
    """
    write_analysis(Path(path), result_group(an), program="andreev analyze")


def pm(value: float, error: float, scale: float = 1.0, unit: str = "") -> str:
    """ "v ± e unit" with the error to two significant digits and the value to the same
    decimal place (both times ``scale``); "—" for a non-finite value, "v ± ?" without error."""
    v, e = value * scale, error * scale
    if not np.isfinite(v):
        return "—"
    if not (np.isfinite(e) and e > 0):
        return f"{v:.4g} ± ?{(' ' + unit) if unit else ''}"
    nd = max(0, 1 - int(np.floor(np.log10(e))))
    return f"{v:.{nd}f} ± {e:.{nd}f}{(' ' + unit) if unit else ''}"


def pm_interval(value: float, low: float, high: float) -> str:
    """ "v +high/−low" with the larger side to two significant digits (the value to the same
    decimal place); "v ± e" when the sides agree to that precision; "—" if non-finite."""
    if not (np.isfinite(value) and np.isfinite(low) and np.isfinite(high)):
        return pm(value, max(low, high))
    e = max(low, high)
    nd = max(0, 1 - int(np.floor(np.log10(e)))) if e > 0 else 3
    if f"{low:.{nd}f}" == f"{high:.{nd}f}":
        return pm(value, e)
    return f"{value:.{nd}f} +{high:.{nd}f}/−{low:.{nd}f}"


def _mean_pm(
    an: RunAnalysis, name: str, i: int, cols: list[int], scale: float, held: bool = False
) -> str:
    """Weighted mean ± error of ``name`` over the sweeps (i, cols, every direction and
    repeat), without those flagged "hysteresis" when any others agree. ``held``: a value
    stored with error 0 was held fixed in the fit (Z_A of a warm sweep, from the contact's
    coldest one) and is shown as "v (held)"."""
    v = an.values[name][i, cols].ravel()
    e = an.values[name + "_error"][i, cols].ravel()
    ok = np.isfinite(v) & np.isfinite(e) & (e > 0)
    agree = ok & (an.text["direction_flag"][i, cols].ravel() != "hysteresis")
    ok = agree if np.any(agree) else ok
    if not np.any(ok):
        fixed = np.isfinite(v) & (e == 0)
        if held and np.any(fixed):
            return f"{float(np.mean(v[fixed])) * scale:.4g} (held)"
        return "—"
    w = 1.0 / e[ok] ** 2
    return pm(float(np.sum(w * v[ok]) / np.sum(w)), float(np.sqrt(1.0 / np.sum(w))), scale)


def _hysteresis_note(an: RunAnalysis, i: int, j: int) -> set[str]:
    """{"hysteresis k/n"} when k of the n analysed sweeps of (i, j) disagree, else {}."""
    flags = [str(f) for f in an.text["direction_flag"][i, j] if f]
    k = flags.count("hysteresis")
    return {f"hysteresis {k}/{len(flags)}"} if k else set()


def _top_cell(an: RunAnalysis, i: int, j: int) -> str:
    """Model (BIC margin), Δc (corrected peaks; film fit), Z or Z_A, χ²_red and flags."""
    models = sorted({str(m) for m in an.text["model"][i, j] if m})
    model = "/".join(models) or "—"
    with quiet_nan():
        margin = np.nanmin(an.values["model_margin"][i, j])
        if "film" in models:
            z = _mean_pm(an, "film_barrier_andreev", i, [j], 1.0, held=True)
            chi = np.nanmax(an.values["film_chi2_red"][i, j])
        else:
            z = _mean_pm(an, "btk_barrier", i, [j], 1.0)
            chi = np.nanmax(an.values["btk_chi2_red"][i, j])
    peaks = _mean_pm(an, "gap_c_peaks", i, [j], 1e6)
    if peaks == "—":
        flags = sorted({str(f) for f in an.text["peak_flag"][i, j] if f})
        peaks = "/".join(flags) if "film" in models else "no collective gap"
    film = _mean_pm(an, "film_gap_c", i, [j], 1e6)
    notes = sorted(
        {str(f) for f in an.text["fit_flag"][i, j] if f and f != "ok"} | _hysteresis_note(an, i, j)
    )
    margin_s = f"{margin:.3g}" if np.isfinite(margin) else "—"
    return f"{model:>5} {margin_s:>8} {peaks:>17} {film:>13} {z:>13} {chi:>6.2f} " + ",".join(notes)


def summary(an: RunAnalysis) -> str:
    """Text table per outer step: T, Δ (tunnelling), measured G_N at the highest setpoint,
    and there the chosen model with its BIC margin, Δc (corrected d²I/dV² read-out, film
    fit), Z (BTK) or Z_A (film), χ²_red and flags; then the Δc(T) closing fits."""
    n_o, n_s, _ = an.shape
    tunnel = an.tunnelling_setpoints
    j_hi = an.top_setpoint()
    lines = [f"{an.path.name}: {an.outer_name} series, {n_o} steps, {n_s} setpoints"]
    head = f"{an.outer_dim:>20} {'T/K':>6} {'Δ/µeV':>14}"
    if j_hi is not None:
        head += (
            f" | at {an.setpoints[j_hi] * 1e9:g} nA: {'G_N/G0':>7} {'model':>5} {'ΔBIC':>8} "
            f"{'Δc peaks/µeV':>17} {'Δc fit/µeV':>13} {'Z or Z_A':>13} {'χ²_red':>6} flags"
        )
    lines.append(head)
    for i in range(n_o):
        with quiet_nan():
            t = float(np.nanmean(an.temperature[i][tunnel or slice(None)]))
            line = (
                f"{an.outer_values[i]:>20.4g} {t:>6.3f} {_mean_pm(an, 'gap', i, tunnel, 1e6):>14}"
            )
            if j_hi is not None:
                gn = float(np.nanmean(an.values["g_normal_measured"][i, j_hi])) / physics.G0
                line += f" | {'':>{len(f'at {an.setpoints[j_hi] * 1e9:g} nA:')}} {gn:>7.3g} "
                line += _top_cell(an, i, j_hi)
        lines.append(line)
    if n_o == 1 and n_s > 1:
        lines += _setpoint_lines(an)
    if not tunnel:
        lines.append(NO_TUNNELLING)
    lines += _closing_lines(an)
    lines.append(
        "G_N measured: the chosen fit's (else high-bias ÷ Dynes excess); Δc peaks = "
        "d²I/dV² read-out − smearing shift (from the film fit); errors 1σ, never shrunk "
        "by χ²_red < 1."
    )
    return "\n".join(lines)


def _setpoint_lines(an: RunAnalysis) -> list[str]:
    """Per setpoint of a single-step run: measured G_N, model, BIC margin, Δc, Z, χ²."""
    lines = [
        f"{'setpoint':>10} {'G_N/G0':>8} {'nominal':>8} {'model':>5} {'ΔBIC':>8} "
        f"{'Δc/µeV':>17} {'Δc fit/µeV':>13} {'Z or Z_A':>13} {'χ²_red':>6} flags"
    ]
    for j in range(an.shape[1]):
        with quiet_nan():
            gn = float(np.nanmean(an.values["g_normal_measured"][0, j])) / physics.G0
            nom = float(np.nanmean(an.values["g_normal_nominal"][0, j])) / physics.G0
        if j in an.tunnelling_setpoints:
            gap = _mean_pm(an, "gap", 0, [j], 1e6)
            chi = float(np.nanmax(an.values["dynes_chi2_red"][0, j]))
            notes = ",".join(sorted(_hysteresis_note(an, 0, j)))
            lines.append(
                f"{an.setpoints[j] * 1e9:>8.3g}nA {gn:>8.3g} {nom:>8.3g} dynes  Δ = {gap} µeV,"
                f" χ²_red {chi:.2f} {notes}".rstrip()
            )
            continue
        lines.append(
            f"{an.setpoints[j] * 1e9:>8.3g}nA {gn:>8.3g} {nom:>8.3g} " + _top_cell(an, 0, j)
        )
    return lines


def _closing_lines(an: RunAnalysis) -> list[str]:
    out = []
    names = {"peaks": "corrected d²I/dV² peaks", "film": "film fits"}
    for name, c in an.closing.items():
        src = names.get(name, name)
        if c.success:
            tc = pm_interval(c.tc, c.tc_error_low, c.tc_error_high)
            gap0 = pm(c.gap_c0, c.gap_c0_error, 1e6, "µeV")
            out.append(
                f"Tc from Δc(T) of the {src}: Tc = {tc} K, Δc0 = {gap0}, "
                f"χ²_red {c.chi2_red:.2f} ({c.n_points} temperatures, {c.n_sweeps} sweeps; "
                f"{c.message})"
            )
        else:
            out.append(f"Tc from Δc(T) of the {src}: no fit ({c.message})")
    return out
