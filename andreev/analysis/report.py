"""The analysis of a run: fit every finished sweep of a loaded run file.

What is fitted (see docs/physics.md, "Extracting the gaps from data"):

- tunnelling sweeps — the lowest setpoint, and any sweep whose G_N is below
  ``TUNNEL_MAX_G`` — with thermally smeared Dynes: Δ, Γ, G_N;
- every other finished sweep: the in-gap peak pair on d²I/dV² (Δc from peaks, inside the
  Δ of the tunnelling fit at the same outer step) and the film model (Δ, Δc, Γ, Andreev
  weight, G_N), which corrects Δc for the thermal and lock-in smearing that pulls the
  peaks inwards and still measures Δc once the peaks have merged;
- for a temperature series, Δc(T) at the highest setpoint fitted with
  Δc0·tanh(1.74·sqrt(Tc/T − 1)), from the peaks and from the film fits.

Temperatures are the per-sweep measured ones, the modulation the file's ``v_mod_rms``.
``andreev.analysis.results`` writes the results (``/entry/analysis`` of the run file
through ``andreev.storage``, ``RUN.analysis.csv``) and the summary text; nothing here
prints or writes files.
"""

from __future__ import annotations

import math
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
from andreev.errors import RunFileError

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
        """(n_outer, n_setpoint, n_direction)."""
        n_o, n_s, n_d = self.status.shape
        return int(n_o), int(n_s), int(n_d)

    def contact_setpoints(self) -> list[int]:
        """Indices of the setpoints that are not tunnelling ones."""
        return [j for j in range(len(self.setpoints)) if j not in self.tunnelling_setpoints]

    def top_setpoint(self) -> int | None:
        """The contact setpoint of largest |current| (None without contact setpoints)."""
        contact = self.contact_setpoints()
        return max(contact, key=lambda j: abs(self.setpoints[j])) if contact else None


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


@dataclass(frozen=True)
class _Sweeps:
    """The measured arrays of a loaded run that the fits read."""

    bias: np.ndarray  # V
    didv: np.ndarray  # S, (outer, setpoint, direction, bias)
    temperature: np.ndarray  # K, measured per sweep
    v_mod_rms: float  # V rms
    usable: np.ndarray  # finished and with a finite temperature

    def indices(self, setpoints: list[int]) -> list[tuple[int, int, int]]:
        """(i, j, k) of the usable sweeps at these setpoint indices, in index order."""
        n_o, _, n_d = self.usable.shape
        return [
            (i, j, k)
            for i in range(n_o)
            for j in setpoints
            for k in range(n_d)
            if self.usable[i, j, k]
        ]


def _empty_analysis(ds: xarray.Dataset, path: Path | None) -> RunAnalysis:
    """A RunAnalysis of ``ds`` with every result NaN / empty."""
    outer_dim = str(ds.attrs.get("outer_dim", ds["dIdV"].dims[0]))
    status = np.asarray(ds["status"].values).astype(str)
    return RunAnalysis(
        path=Path(path) if path else Path(str(ds.attrs.get("path", "run"))),
        outer_dim=outer_dim,
        outer_name=str(ds.attrs.get("outer_name", outer_dim)),
        outer_values=np.asarray(ds[outer_dim].values, dtype=float),
        setpoints=np.asarray(ds["setpoint"].values, dtype=float),
        directions=[str(d) for d in ds["direction"].values],
        temperature=np.asarray(ds["temperature"].values, dtype=float),
        g_normal=np.asarray(ds["g_normal"].values, dtype=float),
        status=status,
        values={k: np.full(status.shape, np.nan) for k in COLUMNS},
        text={k: np.full(status.shape, "", dtype=object) for k in TEXT_COLUMNS},
        tunnelling_setpoints=_tunnelling_setpoints(ds),
        v_mod_rms=float(ds.attrs.get("v_mod_rms", 0.0)),
    )


def _fit_tunnelling(res: RunAnalysis, sw: _Sweeps) -> None:
    """Dynes fits of the tunnelling sweeps: Δ, Γ, G_N."""
    values, text = res.values, res.text
    for idx in sw.indices(res.tunnelling_setpoints):
        r = fit_dynes(
            sw.bias, sw.didv[idx], temperature=sw.temperature[idx], v_mod_rms=sw.v_mod_rms
        )
        res.fits[idx] = {"dynes": r}
        text["kind"][idx] = "tunnelling"
        text["dynes_message"][idx] = r.message
        values["dynes_chi2_red"][idx] = r.chi2_red
        if r.success:
            values["gap"][idx] = r.params["gap"]
            values["gap_error"][idx] = r.errors["gap"]
            values["gamma"][idx] = r.params["gamma"]
            values["gamma_error"][idx] = r.errors["gamma"]
            values["g_normal_fit"][idx] = r.params["g_normal"]


def _store_film(res: RunAnalysis, idx: tuple[int, int, int], fr: FitResult) -> None:
    values, text = res.values, res.text
    res.fits[idx]["film"] = fr
    text["film_message"][idx] = fr.message
    values["film_chi2_red"][idx] = fr.chi2_red
    if not fr.success:
        return
    values["g_normal_fit"][idx] = fr.params["g_normal"]
    values["film_gap"][idx] = fr.params["gap"]
    values["film_gamma"][idx] = fr.params["gamma"]
    values["film_andreev_weight"][idx] = fr.params["andreev_weight"]
    values["film_andreev_weight_error"][idx] = fr.errors["andreev_weight"]
    if _film_has_gap_c(fr):
        values["film_gap_c"][idx] = fr.params["gap_c"]
        values["film_gap_c_error"][idx] = fr.errors["gap_c"]
    else:
        text["film_message"][idx] += "; no significant Andreev channel"


def _fit_contact(
    res: RunAnalysis, sw: _Sweeps, idx: tuple[int, int, int], gap: float | None, film: bool
) -> None:
    """Peaks (inside the tunnelling Δ ``gap``, eV) and, if ``film``, the film fit."""
    t = float(sw.temperature[idx])
    didv = sw.didv[idx]
    pk = find_andreev_peaks(sw.bias, didv, temperature=t, v_mod_rms=sw.v_mod_rms, gap=gap)
    p0 = {"gap": gap} if gap else None
    if pk.found:
        p0 = {**(p0 or {}), "gap_c": pk.gap_c}
    res.fits[idx] = {"peaks": pk}
    res.text["kind"][idx] = "contact"
    res.text["peak_flag"][idx] = pk.flag
    res.values["gap_c_peaks"][idx] = pk.gap_c
    res.values["gap_c_peaks_error"][idx] = pk.error
    res.values["peak_significance"][idx] = pk.significance
    if film:
        fr = fit_film(sw.bias, didv, temperature=t, v_mod_rms=sw.v_mod_rms, p0=p0)
        _store_film(res, idx, fr)


def _fit_contacts(res: RunAnalysis, sw: _Sweeps, film: str) -> None:
    """Every contact sweep: peaks and (all, or only at the top setpoint) the film fit."""
    j_top = res.top_setpoint()
    gap_of: dict[int, float | None] = {}
    for i, gaps in enumerate(res.values["gap"][:, res.tunnelling_setpoints]):
        gap_of[i] = float(np.nanmean(gaps)) if np.any(np.isfinite(gaps)) else None
    for idx in sw.indices(res.contact_setpoints()):
        fit_film_here = film == "all" or idx[1] == j_top
        _fit_contact(res, sw, idx, gap_of[idx[0]], fit_film_here)


def _fit_closing(res: RunAnalysis) -> None:
    """Δc(T) closing fits at the top contact setpoint, from the peaks and the film fits."""
    j = res.top_setpoint()
    if j is None:
        return
    temps = res.temperature[:, j, :].ravel()
    for name, key in (("peaks", "gap_c_peaks"), ("film", "film_gap_c")):
        y = res.values[key][:, j, :].ravel()
        e = res.values[key + "_error"][:, j, :].ravel()
        res.closing[name] = fit_gap_closing(temps, y, e)


def analyze_dataset(
    ds: xarray.Dataset, path: Path | None = None, *, film: str = "all"
) -> RunAnalysis:
    """Fit every finished sweep of a loaded run (``andreev.storage.load``); no file I/O.

    1. tunnelling sweeps: Dynes; 2. contact sweeps: peaks (inside the tunnelling Δ of
    the same outer step) and the film fit; 3. for a temperature series, Δc(T) closing at
    the highest contact setpoint. ``film`` = "all" fits the film model to every contact
    sweep, "highest" only to the highest setpoint (what the Δc(T) closing fit uses;
    faster, for the figures). Raises ValueError for another ``film``.
    """
    if film not in ("all", "highest"):
        raise ValueError(f"film must be 'all' or 'highest', not {film!r}")
    res = _empty_analysis(ds, path)
    temps = res.temperature
    sw = _Sweeps(
        bias=np.asarray(ds["bias"].values, dtype=float),
        didv=np.asarray(ds["dIdV"].values, dtype=float),
        temperature=temps,
        v_mod_rms=res.v_mod_rms,
        usable=np.isin(res.status, FINISHED) & np.isfinite(temps),
    )
    _fit_tunnelling(res, sw)
    _fit_contacts(res, sw, film)
    if _is_temperature_series(ds):
        _fit_closing(res)
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


def analyze_file(path: str | Path, *, film: str = "all") -> RunAnalysis:
    """Load a run file (``andreev.storage.load``) and fit it (``analyze_dataset``).

    Raises RunFileError if the file is missing, not HDF5 or not an andreev run.
    """
    return analyze_dataset(load_run(path), Path(path), film=film)


def load_run(path: str | Path) -> xarray.Dataset:
    """The run at ``path`` as an ``xarray.Dataset``; RunFileError if there is none."""
    from andreev.storage import load

    path = Path(path)
    if not path.is_file():
        raise RunFileError(f"no such file: {path}")
    try:
        return load(path)
    except (OSError, KeyError, ValueError, RunFileError) as exc:
        raise RunFileError(f"cannot read {path} as a run file: {exc}") from exc
