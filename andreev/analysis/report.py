"""``andreev analyze RUN.h5``: fit every finished sweep, store the results, print a summary.

What is fitted (see PHYSICS.md, "Extracting the gaps from data"):

- tunnelling sweeps — the lowest setpoint, and any sweep whose G_N is below
  ``TUNNEL_MAX_G`` — with thermally smeared Dynes: Δ, Γ, G_N;
- every other finished sweep: the in-gap peak pair on d²I/dV² (Δc from peaks, inside the
  Δ of the tunnelling fit at the same outer step) and the film model (Δ, Δc, Γ, Andreev
  weight, G_N), which corrects Δc for the thermal and lock-in smearing that pulls the
  peaks inwards and still measures Δc once the peaks have merged;
- for a temperature series, Δc(T) at the highest setpoint fitted with
  Δc0·tanh(1.74·sqrt(Tc/T − 1)), from the peaks and from the film fits.

Temperatures are the per-sweep measured ones, the modulation the file's ``v_mod_rms``.
Results go to ``/entry/analysis`` of the run file (replaced on every run; raw data are
not touched) and to ``RUN.analysis.csv`` next to it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev import physics
from andreev.analysis.fits import FitResult, fit_dynes, fit_film
from andreev.analysis.peaks import (
    GapClosingResult,
    find_andreev_peaks,
    fit_gap_closing,
)

if TYPE_CHECKING:
    import xarray

#: sweeps with G_N below this (S) are treated as tunnelling spectra (besides the lowest setpoint)
TUNNEL_MAX_G = 0.01 * physics.G0
#: a film-fit Δc (and Andreev weight) counts only if it exceeds this many standard errors
FILM_SIGNIFICANCE = 3.0
FINISHED = ("done", "retaken")

#: per-sweep result columns: name → (unit, description)
COLUMNS: dict[str, tuple[str, str]] = {
    "gap": ("eV", "Dynes Δ (tunnelling sweeps)"),
    "gap_error": ("eV", "one-sigma error of gap"),
    "gamma": ("eV", "Dynes Γ"),
    "gamma_error": ("eV", "one-sigma error of gamma"),
    "g_normal_fit": ("S", "G_N fitted (Dynes or film)"),
    "dynes_chi2_red": ("1", "reduced chi² of the Dynes fit"),
    "gap_c_peaks": ("eV", "Δc from the d²I/dV² peak pair (NaN: no peak)"),
    "gap_c_peaks_error": ("eV", "one-sigma error of gap_c_peaks"),
    "peak_significance": ("1", "weaker side's lobe drop over its noise"),
    "film_gap": ("eV", "film-model Δ"),
    "film_gap_c": ("eV", "film-model Δc"),
    "film_gap_c_error": ("eV", "one-sigma error of film_gap_c"),
    "film_gamma": ("eV", "film-model Γ"),
    "film_andreev_weight": ("1", "film-model Andreev weight a_A·w(G_N)"),
    "film_andreev_weight_error": ("1", "one-sigma error of film_andreev_weight"),
    "film_chi2_red": ("1", "reduced chi² of the film fit"),
}
TEXT_COLUMNS = ("kind", "peak_flag", "dynes_message", "film_message")


@dataclass
class RunAnalysis:
    """Per-sweep results on (outer, setpoint, direction) plus the Δc(T) closing fits."""

    path: Path
    outer_dim: str
    outer_name: str
    outer_values: np.ndarray
    setpoints: np.ndarray
    directions: list[str]
    temperature: np.ndarray  # K, measured per sweep
    g_normal: np.ndarray  # S, recorded per sweep
    status: np.ndarray  # str
    values: dict[str, np.ndarray]
    text: dict[str, np.ndarray]
    fits: dict[tuple[int, int, int], dict[str, Any]] = field(default_factory=dict)
    closing: dict[str, GapClosingResult] = field(default_factory=dict)
    tunnelling_setpoints: list[int] = field(default_factory=list)
    v_mod_rms: float = 0.0

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.status.shape)  # type: ignore[return-value]


def _tunnelling_setpoints(ds: xarray.Dataset) -> list[int]:
    setpoints = np.asarray(ds["setpoint"].values, dtype=float)
    lowest = int(np.argmin(np.abs(setpoints)))
    out = {lowest}
    gn = np.asarray(ds["g_normal"].values, dtype=float)
    for j in range(setpoints.size):
        col = gn[:, j, :]
        if np.any(np.isfinite(col)) and np.nanmedian(col) < TUNNEL_MAX_G:
            out.add(j)
    return sorted(out)


def _is_temperature_series(ds: xarray.Dataset) -> bool:
    return str(ds.attrs.get("outer_name", "")).lower() == "temperature"


def analyze_dataset(
    ds: xarray.Dataset, path: Path | None = None, *, film: str = "all"
) -> RunAnalysis:
    """Fit every finished sweep of a loaded run (``andreev.storage.load``); no file I/O.

    ``film`` = "all" fits the film model to every contact sweep, "highest" only to the
    highest setpoint (what the Δc(T) closing fit uses; faster, for the figures).
    """
    if film not in ("all", "highest"):
        raise ValueError(f"film must be 'all' or 'highest', not {film!r}")
    outer_dim = str(ds.attrs.get("outer_dim", ds["dIdV"].dims[0]))
    bias = np.asarray(ds["bias"].values, dtype=float)
    didv = np.asarray(ds["dIdV"].values, dtype=float)
    temps = np.asarray(ds["temperature"].values, dtype=float)
    status = np.asarray(ds["status"].values).astype(str)
    vmod = float(ds.attrs.get("v_mod_rms", 0.0))
    n_o, n_s, n_d = status.shape
    values = {k: np.full((n_o, n_s, n_d), np.nan) for k in COLUMNS}
    text = {k: np.full((n_o, n_s, n_d), "", dtype=object) for k in TEXT_COLUMNS}
    tunnel = _tunnelling_setpoints(ds)
    res = RunAnalysis(
        path=Path(path) if path else Path(str(ds.attrs.get("path", "run"))),
        outer_dim=outer_dim,
        outer_name=str(ds.attrs.get("outer_name", outer_dim)),
        outer_values=np.asarray(ds[outer_dim].values, dtype=float),
        setpoints=np.asarray(ds["setpoint"].values, dtype=float),
        directions=[str(d) for d in ds["direction"].values],
        temperature=temps,
        g_normal=np.asarray(ds["g_normal"].values, dtype=float),
        status=status,
        values=values,
        text=text,
        tunnelling_setpoints=tunnel,
        v_mod_rms=vmod,
    )
    finished = np.isin(status, FINISHED)

    # 1. tunnelling: Dynes
    for i in range(n_o):
        for j in tunnel:
            for k in range(n_d):
                if not finished[i, j, k] or not np.isfinite(temps[i, j, k]):
                    continue
                r = fit_dynes(bias, didv[i, j, k], temperature=temps[i, j, k], v_mod_rms=vmod)
                res.fits[(i, j, k)] = {"dynes": r}
                text["kind"][i, j, k] = "tunnelling"
                text["dynes_message"][i, j, k] = r.message
                values["dynes_chi2_red"][i, j, k] = r.chi2_red
                if r.success:
                    values["gap"][i, j, k] = r.params["gap"]
                    values["gap_error"][i, j, k] = r.errors["gap"]
                    values["gamma"][i, j, k] = r.params["gamma"]
                    values["gamma_error"][i, j, k] = r.errors["gamma"]
                    values["g_normal_fit"][i, j, k] = r.params["g_normal"]

    # 2. point contacts: peaks (inside the tunnelling Δ of the same outer step) and film fit
    contact = [j for j in range(n_s) if j not in tunnel]
    j_top = max(contact, key=lambda jj: abs(res.setpoints[jj])) if contact else -1
    for i in range(n_o):
        gaps = values["gap"][i][tunnel]
        gap_i = float(np.nanmean(gaps)) if np.any(np.isfinite(gaps)) else None
        for j in range(n_s):
            if j in tunnel:
                continue
            for k in range(n_d):
                if not finished[i, j, k] or not np.isfinite(temps[i, j, k]):
                    continue
                t = float(temps[i, j, k])
                pk = find_andreev_peaks(
                    bias, didv[i, j, k], temperature=t, v_mod_rms=vmod, gap=gap_i
                )
                p0 = {"gap": gap_i} if gap_i else None
                if pk.found:
                    p0 = {**(p0 or {}), "gap_c": pk.gap_c}
                res.fits[(i, j, k)] = {"peaks": pk}
                text["kind"][i, j, k] = "contact"
                text["peak_flag"][i, j, k] = pk.flag
                values["gap_c_peaks"][i, j, k] = pk.gap_c
                values["gap_c_peaks_error"][i, j, k] = pk.error
                values["peak_significance"][i, j, k] = pk.significance
                if film == "highest" and j != j_top:
                    continue
                fr = fit_film(bias, didv[i, j, k], temperature=t, v_mod_rms=vmod, p0=p0)
                res.fits[(i, j, k)]["film"] = fr
                text["film_message"][i, j, k] = fr.message
                values["film_chi2_red"][i, j, k] = fr.chi2_red
                if fr.success:
                    values["g_normal_fit"][i, j, k] = fr.params["g_normal"]
                    values["film_gap"][i, j, k] = fr.params["gap"]
                    values["film_gamma"][i, j, k] = fr.params["gamma"]
                    values["film_andreev_weight"][i, j, k] = fr.params["andreev_weight"]
                    values["film_andreev_weight_error"][i, j, k] = fr.errors["andreev_weight"]
                    if _film_has_gap_c(fr):
                        values["film_gap_c"][i, j, k] = fr.params["gap_c"]
                        values["film_gap_c_error"][i, j, k] = fr.errors["gap_c"]
                    else:
                        text["film_message"][i, j, k] += "; no significant Andreev channel"

    # 3. Δc(T) closing, at the highest contact setpoint
    if _is_temperature_series(ds) and contact:
        j = j_top
        t = temps[:, j, :].ravel()
        for name in ("peaks", "film"):
            key = "gap_c_peaks" if name == "peaks" else "film_gap_c"
            y = values[key][:, j, :].ravel()
            e = values[key + "_error"][:, j, :].ravel()
            res.closing[name] = fit_gap_closing(t, y, e)
    return res


def _film_has_gap_c(fr: FitResult) -> bool:
    gc, e = fr.params["gap_c"], fr.errors["gap_c"]
    w, we = fr.params["andreev_weight"], fr.errors["andreev_weight"]
    return (
        math.isfinite(e)
        and math.isfinite(we)
        and gc > FILM_SIGNIFICANCE * e
        and w > FILM_SIGNIFICANCE * we
    )


def analyze_file(path: str | Path) -> RunAnalysis:
    """Load a run file and fit it (``analyze_dataset``); raises OSError/KeyError if unreadable."""
    from andreev.storage import load

    return analyze_dataset(load(path), Path(path))


# ---------------------------------------------------------------------------- output


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


def write_hdf5(an: RunAnalysis, path: str | Path) -> None:
    """Replace ``/entry/analysis`` of the run file with these results (raw data untouched).

    Opens the file "r+" (not SWMR); fails with OSError while a writer has it open.
    """
    import h5py

    from andreev import __version__

    with h5py.File(Path(path), "r+") as f:
        entry = f["entry"]
        if "analysis" in entry:
            del entry["analysis"]
        g = entry.create_group("analysis")
        g.attrs["NX_class"] = "NXprocess"
        g.attrs["program"] = "andreev analyze"
        g.attrs["version"] = __version__
        g.attrs["date"] = _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")
        g.attrs["dims"] = [an.outer_dim, "setpoint", "direction"]
        g.attrs["v_mod_rms"] = an.v_mod_rms
        g.attrs["tunnelling_setpoint_indices"] = np.asarray(an.tunnelling_setpoints, dtype=int)
        for name, (unit, desc) in COLUMNS.items():
            ds = g.create_dataset(name, data=an.values[name])
            ds.attrs["units"] = unit
            ds.attrs["long_name"] = desc
        str_dt = h5py.string_dtype()
        for name in TEXT_COLUMNS:
            ds = g.create_dataset(name, data=an.text[name].astype(str).astype(object), dtype=str_dt)
            ds.attrs["units"] = ""
        for name, c in an.closing.items():
            cg = g.create_group(f"gap_closing_{name}")
            cg.attrs["model"] = "gap_c0*tanh(1.74*sqrt(tc/T - 1))"
            cg.attrs["success"] = bool(c.success)
            cg.attrs["message"] = c.message
            cg.attrs["n_points"] = int(c.n_points)
            for key, unit in (
                ("tc", "K"),
                ("tc_error", "K"),
                ("gap_c0", "eV"),
                ("gap_c0_error", "eV"),
                ("chi2_red", "1"),
            ):
                ds = cg.create_dataset(key, data=float(getattr(c, key)))
                ds.attrs["units"] = unit


def _fmt(v: float, scale: float = 1e6, nd: int = 1) -> str:
    return "—" if not np.isfinite(v) else f"{v * scale:.{nd}f}"


def summary(an: RunAnalysis) -> str:
    """Short text table: Δ, Γ per outer step; Δc (peaks, film) at the highest setpoint; Tc."""
    n_o, n_s, _ = an.shape
    tunnel = an.tunnelling_setpoints
    contact = [j for j in range(n_s) if j not in tunnel]
    j_hi = max(contact, key=lambda jj: abs(an.setpoints[jj])) if contact else None
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
        with np.errstate(all="ignore"), _quiet():
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


class _quiet:
    """Silence numpy's all-NaN RuntimeWarnings in the summary."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)


def analyze_main(args: argparse.Namespace) -> int:
    """Entry point of ``andreev analyze RUN.h5``; returns the exit status.

    0 on success; 2 if the file is missing or unreadable as a run; 1 if the results could
    not be written into the file (the CSV is still written).
    """
    path = Path(args.run)
    if not path.is_file():
        print(f"andreev analyze: no such file: {path}", file=sys.stderr)
        return 2
    try:
        an = analyze_file(path)
    except (OSError, KeyError, ValueError) as exc:
        print(f"andreev analyze: cannot read {path} as a run file: {exc}", file=sys.stderr)
        return 2
    out_csv = write_csv(an, csv_path(path))
    print(summary(an))
    print(f"per-sweep results: {out_csv}")
    try:
        write_hdf5(an, path)
    except OSError as exc:
        print(
            f"andreev analyze: could not write /entry/analysis into {path} "
            f"(is a run still writing it?): {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"stored in {path}:/entry/analysis")
    return 0
