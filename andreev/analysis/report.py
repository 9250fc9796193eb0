"""The analysis of a run: fit every finished sweep of a loaded run file.

What is fitted (see docs/physics.md, "Extracting the gaps from data"):

- the point noise of every sweep, from the difference of its forward and backward sweeps
  when both exist, else from the residuals of a local smooth fit outside the gaps; every
  fit uses it, so χ²_red ≈ 1 for a right model and a fit beyond ``POOR_FIT_CHI2`` is
  flagged "poor fit";
- tunnelling sweeps — the setpoints whose measured high-bias conductance is below
  ``TUNNEL_MAX_G``, whatever their nominal current (none: the summary says so, and no
  contact spectrum is fitted with the tunnelling model) — with thermally smeared Dynes:
  Δ, Γ, G_N;
- every other finished sweep (``andreev.analysis.contact``): plain BTK (Z per sweep) and
  the film model (Δ, Δc, Γ, Andreev weight, G_N, the contact's Z_A and Γ_A), the model
  chosen by BIC with its margin; Δc read at the d²I/dV² slope change and corrected for
  the smearing shift computed from the film fit (``andreev.analysis.gap_c``). In a
  temperature series the contact's Andreev weight, Z_A and Γ_A come from its coldest
  sweep and are held for the warmer ones, their joint uncertainty propagated into Δc
  (``andreev.analysis.held``; the message says so);
- measured G_N per sweep: the chosen fit's G_N when the fit is good, else the high-bias
  conductance (``g_normal_source``); the recorded I_set/V_set is kept as the nominal;
- forward/backward agreement (``andreev.analysis.directions``);
- for a temperature series, Δc(T) at the highest setpoint fitted with
  Δc0·tanh(1.74·sqrt(Tc/T − 1)), from the corrected peaks and from the film fits.

Temperatures are the per-sweep measured ones, the modulation the file's ``v_mod_rms``.
``andreev.analysis.results`` writes the results (``/entry/analysis`` of the run file
through ``andreev.storage``, ``RUN.analysis.csv``) and the summary text; nothing here
prints or writes files.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev import physics
from andreev.analysis.closing import GapClosingResult, fit_gap_closing
from andreev.analysis.contact import ContactResult, analyze_contact, final_gap_c, fit_flag
from andreev.analysis.directions import flag_directions
from andreev.analysis.fits import FitResult, fit_dynes
from andreev.analysis.held import held_from
from andreev.analysis.spectrum import (
    high_bias_conductance,
    noise_sigma,
    pair_drift,
    pair_noise_sigma,
    point_sigma,
    sorted_finite,
)
from andreev.errors import RunFileError

if TYPE_CHECKING:
    import xarray

#: setpoints whose measured high-bias conductance is below this (S) are tunnelling spectra
TUNNEL_MAX_G = 0.01 * physics.G0
#: what the summary says when no setpoint is tunnelling-like
NO_TUNNELLING = (
    "no tunnelling setpoint: every setpoint's measured G_N ≥ 0.01 G0 (a contact), so no "
    "Dynes Δ; Δ only from the contact fits (btk_gap, film_gap)"
)
FINISHED = ("done", "retaken")

#: per-sweep result columns: name → (unit, description)
COLUMNS: dict[str, tuple[str, str]] = {
    "noise": ("S", "white point noise of dI/dV (see noise_source)"),
    "drift": ("1", "relative rms of the slow drift of G (median over the run's sweep pairs)"),
    "g_normal_nominal": ("S", "I_set/V_set as recorded by the run (a label, not measured)"),
    "g_normal_measured": ("S", "measured G_N (see g_normal_source)"),
    "zero_bias_ratio": ("1", "measured dI/dV at zero bias over the measured G_N"),
    "gap": ("eV", "Dynes Δ (tunnelling sweeps)"),
    "gap_error": ("eV", "one-sigma error of gap"),
    "gamma": ("eV", "Dynes Γ"),
    "gamma_error": ("eV", "one-sigma error of gamma"),
    "g_normal_fit": ("S", "G_N of the chosen fit (Dynes, BTK or film)"),
    "dynes_chi2_red": ("1", "reduced chi² of the Dynes fit"),
    "btk_gap": ("eV", "BTK Δ"),
    "btk_gap_error": ("eV", "one-sigma error of btk_gap"),
    "btk_barrier": ("1", "BTK barrier Z"),
    "btk_barrier_error": ("1", "one-sigma error of btk_barrier"),
    "btk_gamma": ("eV", "BTK Γ"),
    "btk_chi2_red": ("1", "reduced chi² of the BTK fit"),
    "film_gap": ("eV", "film-model Δ"),
    "film_gap_c": ("eV", "film-model Δc (only where the film model is chosen)"),
    "film_gap_c_error": ("eV", "one-sigma error of film_gap_c"),
    "film_gamma": ("eV", "film-model Γ"),
    "film_andreev_weight": ("1", "film-model Andreev weight a_A·w(G_N)"),
    "film_andreev_weight_error": ("1", "one-sigma error of film_andreev_weight"),
    "film_barrier_andreev": ("1", "film-model Andreev barrier Z_A (fitted or held, see message)"),
    "film_barrier_andreev_error": ("1", "one-sigma error of film_barrier_andreev"),
    "film_gamma_andreev": ("eV", "film-model Andreev broadening Γ_A"),
    "film_gamma_andreev_error": ("eV", "one-sigma error of film_gamma_andreev"),
    "film_chi2_red": ("1", "reduced chi² of the film fit"),
    "model_margin": ("1", "BIC of the other model minus BIC of the chosen one"),
    "gap_c_read": ("eV", "d²I/dV² read-out of Δc at the slope change, as measured"),
    "gap_c_shift": ("eV", "smearing shift of the read-out computed from the film fit"),
    "gap_c_shift_error": ("eV", "one-sigma error of gap_c_shift"),
    "gap_c_peaks": ("eV", "Δc = read-out − shift (NaN: no collective gap or no peak)"),
    "gap_c_peaks_error": ("eV", "one-sigma error of gap_c_peaks (noise and shift)"),
    "gap_c": ("eV", "Δc: gap_c_peaks, else (peaks not resolved) film_gap_c; see gap_c_source"),
    "gap_c_error": ("eV", "one-sigma error of gap_c"),
    "peak_significance": ("1", "weaker side's lobe drop over its noise"),
}
TEXT_COLUMNS = (
    "kind",
    "model",
    "fit_flag",
    "noise_source",
    "g_normal_source",
    "peak_flag",
    "gap_c_source",
    "direction_flag",
    "dynes_message",
    "btk_message",
    "film_message",
)


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
    positions: tuple[np.ndarray, np.ndarray] | None = None  # tip x, y (m) per outer step

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


def _high_bias(bias: np.ndarray, didv: np.ndarray) -> np.ndarray:
    """High-bias conductance (S) of every sweep (NaN where unfinished)."""
    out = np.full(didv.shape[:-1], np.nan)
    for idx in np.ndindex(*didv.shape[:-1]):
        if np.count_nonzero(np.isfinite(didv[idx])) > 8:
            out[idx] = high_bias_conductance(bias, didv[idx])
    return out


def _tunnelling_setpoints(setpoints: np.ndarray, g_high: np.ndarray) -> list[int]:
    """Every setpoint whose median measured high-bias conductance (S) is below
    ``TUNNEL_MAX_G``, whatever its nominal current; none when even the lowest is a contact
    (no Dynes fit of a contact spectrum: ``NO_TUNNELLING`` says so in the summary)."""
    out = []
    for j in range(setpoints.size):
        col = g_high[:, j, :]
        if np.any(np.isfinite(col)) and np.nanmedian(col) < TUNNEL_MAX_G:
            out.append(j)
    return out


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


def _empty_analysis(ds: xarray.Dataset, path: Path | None, g_high: np.ndarray) -> RunAnalysis:
    """A RunAnalysis of ``ds`` with every result NaN / empty."""
    outer_dim = str(ds.attrs.get("outer_dim", ds["dIdV"].dims[0]))
    status = np.asarray(ds["status"].values).astype(str)
    setpoints = np.asarray(ds["setpoint"].values, dtype=float)
    res = RunAnalysis(
        path=Path(path) if path else Path(str(ds.attrs.get("path", "run"))),
        outer_dim=outer_dim,
        outer_name=str(ds.attrs.get("outer_name", outer_dim)),
        outer_values=np.asarray(ds[outer_dim].values, dtype=float),
        setpoints=setpoints,
        directions=[str(d) for d in ds["direction"].values],
        temperature=np.asarray(ds["temperature"].values, dtype=float),
        g_normal=np.asarray(ds["g_normal"].values, dtype=float),
        status=status,
        values={k: np.full(status.shape, np.nan) for k in COLUMNS},
        text={k: np.full(status.shape, "", dtype=object) for k in TEXT_COLUMNS},
        tunnelling_setpoints=_tunnelling_setpoints(setpoints, g_high),
        v_mod_rms=float(ds.attrs.get("v_mod_rms", 0.0)),
    )
    res.values["g_normal_nominal"][...] = res.g_normal
    for xn, yn in ((f"{outer_dim}_x", f"{outer_dim}_y"), ("x", "y")):
        if xn in ds.coords and yn in ds.coords:
            res.positions = (
                np.asarray(ds[xn].values, dtype=float),
                np.asarray(ds[yn].values, dtype=float),
            )
            break
    return res


def _measure_noise(res: RunAnalysis, sw: _Sweeps) -> None:
    """Point noise per sweep: from the forward/backward difference when both exist,
    else from the residuals of a local smooth fit outside the gaps."""
    _, n_s, n_d = res.shape
    for i, j, k in sw.indices(list(range(n_s))):
        other = [kk for kk in range(n_d) if kk != k and sw.usable[i, j, kk]]
        sigma, source = math.nan, "local fit"
        if other:
            sigma = pair_noise_sigma(sw.didv[i, j, k], sw.didv[i, j, other[0]])
            res.values["drift"][i, j, k] = pair_drift(sw.didv[i, j, k], sw.didv[i, j, other[0]])
            source = "forward/backward"
        if not (math.isfinite(sigma) and sigma > 0):
            sigma, source = noise_sigma(sw.didv[i, j, k], sw.bias), "local fit"
        res.values["noise"][i, j, k] = sigma
        res.text["noise_source"][i, j, k] = source
    _pool_drift(res)


def _pool_drift(res: RunAnalysis) -> None:
    """The drift is a property of the set-up (the junction's 1/f), and one pair of sweeps
    measures it poorly: every sweep gets the median over the run's pairs (0 without any)."""
    d = res.values["drift"]
    finite = d[np.isfinite(d)]
    level = float(np.median(finite)) if finite.size else 0.0
    d[np.isfinite(res.values["noise"])] = level


def fit_tunnelling_sweep(
    bias: np.ndarray,
    didv: np.ndarray,
    temperature: float,
    v_mod_rms: float,
    noise: float,
    drift: float,
) -> FitResult:
    """The Dynes fit of one tunnelling sweep: bias (V), dI/dV (S), temperature (K),
    modulation (V rms), white noise (S; NaN/0: unknown) and drift (1) of ``point_sigma``."""
    sigma = point_sigma(didv, noise, drift) if math.isfinite(noise) and noise > 0 else None
    return fit_dynes(bias, didv, temperature=temperature, v_mod_rms=v_mod_rms, sigma=sigma)


def tunnelling_indices(res: RunAnalysis, sw: _Sweeps) -> list[tuple[int, int, int]]:
    """(i, j, k) of the tunnelling sweeps to fit, in index order."""
    return sw.indices(res.tunnelling_setpoints)


def _fit_tunnelling(res: RunAnalysis, sw: _Sweeps) -> None:
    """Dynes fits of the tunnelling sweeps: Δ, Γ, G_N."""
    for idx in tunnelling_indices(res, sw):
        r = fit_tunnelling_sweep(
            sw.bias,
            sw.didv[idx],
            float(sw.temperature[idx]),
            sw.v_mod_rms,
            float(res.values["noise"][idx]),
            float(res.values["drift"][idx]),
        )
        store_dynes(res, idx, r)


def store_dynes(res: RunAnalysis, idx: tuple[int, int, int], r: FitResult) -> None:
    """Put the Dynes fit of tunnelling sweep ``idx`` into ``res``."""
    values, text = res.values, res.text
    res.fits[idx] = {"dynes": r}
    text["kind"][idx] = "tunnelling"
    text["model"][idx] = "dynes"
    text["fit_flag"][idx] = fit_flag(r)
    text["dynes_message"][idx] = r.message
    values["dynes_chi2_red"][idx] = r.chi2_red
    if r.success:
        values["gap"][idx] = r.params["gap"]
        values["gap_error"][idx] = r.errors["gap"]
        values["gamma"][idx] = r.params["gamma"]
        values["gamma_error"][idx] = r.errors["gamma"]
        values["g_normal_fit"][idx] = r.params["g_normal"]


def _store_btk(res: RunAnalysis, idx: tuple[int, int, int], fr: FitResult) -> None:
    res.text["btk_message"][idx] = fr.message
    res.values["btk_chi2_red"][idx] = fr.chi2_red
    if fr.success:
        for name, key in (("btk_gap", "gap"), ("btk_barrier", "barrier")):
            res.values[name][idx] = fr.params[key]
            res.values[name + "_error"][idx] = fr.errors[key]
        res.values["btk_gamma"][idx] = fr.params["gamma"]


def _store_film(res: RunAnalysis, idx: tuple[int, int, int], cr: ContactResult) -> None:
    fr = cr.film
    if fr is None:
        return
    values = res.values
    res.text["film_message"][idx] = fr.message + ("" if cr.collective else "; no collective gap")
    values["film_chi2_red"][idx] = fr.chi2_red
    if not fr.success:
        return
    values["film_gap"][idx] = fr.params["gap"]
    values["film_gamma"][idx] = fr.params["gamma"]
    for name in ("andreev_weight", "barrier_andreev", "gamma_andreev"):
        values["film_" + name][idx] = fr.params.get(name, fr.extra.get(name, math.nan))
        values["film_" + name + "_error"][idx] = fr.errors.get(name, 0.0)
    if cr.collective:
        values["film_gap_c"][idx] = fr.params["gap_c"]
        values["film_gap_c_error"][idx] = fr.errors["gap_c"]


def _store_contact(res: RunAnalysis, idx: tuple[int, int, int], cr: ContactResult) -> None:
    res.fits[idx] = {"peaks": cr.peaks, "btk": cr.btk, **({"film": cr.film} if cr.film else {})}
    values, text = res.values, res.text
    text["kind"][idx] = "contact"
    text["model"][idx] = cr.model
    text["fit_flag"][idx] = fit_flag(cr.chosen) if cr.chosen is not None else ""
    text["peak_flag"][idx] = cr.peaks.flag
    values["model_margin"][idx] = cr.margin
    values["peak_significance"][idx] = cr.peaks.significance
    values["gap_c_read"][idx] = cr.peaks.gap_c
    values["gap_c_shift"][idx] = cr.gap_c.shift
    values["gap_c_shift_error"][idx] = cr.gap_c.shift_error
    values["gap_c_peaks"][idx] = cr.gap_c.gap_c
    values["gap_c_peaks_error"][idx] = cr.gap_c.error
    final = final_gap_c(cr)
    values["gap_c"][idx] = final.gap_c
    values["gap_c_error"][idx] = final.error
    text["gap_c_source"][idx] = final.source if math.isfinite(final.gap_c) else ""
    _store_btk(res, idx, cr.btk)
    _store_film(res, idx, cr)
    chosen = cr.chosen
    if chosen is not None and chosen.success:
        values["g_normal_fit"][idx] = chosen.params["g_normal"]


def _contact_order(res: RunAnalysis, sw: _Sweeps, temp_series: bool) -> list[tuple[int, int, int]]:
    """Contact sweeps to fit; for a temperature series coldest first per (setpoint,
    direction), so that the contact's weight, Z_A, Γ_A come from its coldest sweep."""
    idxs = sw.indices(res.contact_setpoints())
    if temp_series:
        idxs.sort(key=lambda t: (t[1], t[2], float(np.nan_to_num(sw.temperature[t], nan=1e9))))
    return idxs


@dataclass(frozen=True)
class ContactJob:
    """What one contact sweep's fit needs besides its dI/dV: index (i, j, k), temperature
    (K), white noise (S), drift (1), the tunnelling Δ at its outer step (eV, None: none)
    and whether to fit the film model."""

    idx: tuple[int, int, int]
    temperature: float
    noise: float
    drift: float
    gap: float | None
    film: bool


#: weight, Z_A, Γ_A held per (setpoint, direction): (film_kw, T (K) of the source fit)
Held = dict[tuple[int, int], tuple[dict[str, Any], float]]


def contact_jobs(res: RunAnalysis, sw: _Sweeps, film: str, temp_series: bool) -> list[ContactJob]:
    """The contact sweeps to fit, in fitting order (``_contact_order``)."""
    j_top = res.top_setpoint()
    gap_of: dict[int, float | None] = {}
    for i, gaps in enumerate(res.values["gap"][:, res.tunnelling_setpoints]):
        gap_of[i] = float(np.nanmean(gaps)) if np.any(np.isfinite(gaps)) else None
    return [
        ContactJob(
            idx=idx,
            temperature=float(sw.temperature[idx]),
            noise=float(res.values["noise"][idx]),
            drift=float(res.values["drift"][idx]),
            gap=gap_of[idx[0]],
            film=film == "all" or idx[1] == j_top,
        )
        for idx in _contact_order(res, sw, temp_series)
    ]


def fit_contact_jobs(
    bias: np.ndarray,
    v_mod_rms: float,
    didv_of: Callable[[tuple[int, int, int]], np.ndarray],
    jobs: list[ContactJob],
    *,
    temp_series: bool,
    held: Held | None = None,
    until_held: bool = False,
) -> tuple[list[tuple[ContactJob, ContactResult, float | None]], Held]:
    """Fit contact sweeps in order: (job, result, temperature (K) of the fit whose weight,
    Z_A, Γ_A were held, or None) per job, and the held values after them. In a temperature series
    the first good film fit of a (setpoint, direction) sets what its later sweeps hold;
    ``until_held`` stops after the job that set one (a chain's prefix)."""
    held = dict(held or {})
    out: list[tuple[ContactJob, ContactResult, float | None]] = []
    for job in jobs:
        key = job.idx[1:]
        kw, t0 = held.get(key, (None, None))
        didv = didv_of(job.idx)
        ok = math.isfinite(job.noise) and job.noise > 0
        cr = analyze_contact(
            bias,
            didv,
            temperature=job.temperature,
            v_mod_rms=v_mod_rms,
            noise=job.noise,
            sigma=point_sigma(didv, job.noise, job.drift) if ok else None,
            gap=job.gap,
            film=job.film,
            film_kw=kw,
        )
        out.append((job, cr, t0 if kw is not None and cr.film is not None else None))
        if kw is None and temp_series and (found := held_from(cr.film)) is not None:
            held[key] = (found, job.temperature)
            if until_held:
                break
    return out, held


def store_contacts(
    res: RunAnalysis, outcomes: list[tuple[ContactJob, ContactResult, float | None]]
) -> None:
    """Put fitted contact sweeps (``fit_contact_jobs``) into ``res``."""
    for job, cr, t0 in outcomes:
        _store_contact(res, job.idx, cr)
        if t0 is not None:
            res.text["film_message"][job.idx] += f"; weight, Z_A, Γ_A held at the {t0:.3g} K fit"


def _fit_contacts(res: RunAnalysis, sw: _Sweeps, film: str, temp_series: bool) -> None:
    """Every contact sweep: peaks, BTK and (all, or only at the top setpoint) the film fit."""
    jobs = contact_jobs(res, sw, film, temp_series)
    outcomes, _ = fit_contact_jobs(
        sw.bias, sw.v_mod_rms, lambda idx: sw.didv[idx], jobs, temp_series=temp_series
    )
    store_contacts(res, outcomes)


def _measured_g_normal(res: RunAnalysis, sw: _Sweeps, g_high: np.ndarray) -> None:
    """G_N measured per sweep: the chosen fit's (its flag said when poor); without one,
    the high-bias conductance divided by the Dynes excess |V|/√(V² − Δ²) of the tunnelling
    Δ at the same outer step (or not divided, without one); and g(0)/G_N."""
    values, text = res.values, res.text
    vmax = 0.925 * float(np.nanmax(np.abs(sw.bias)))
    for idx in sw.indices(list(range(res.shape[1]))):
        fitted = values["g_normal_fit"][idx]
        if math.isfinite(fitted):
            flag = text["fit_flag"][idx]
            values["g_normal_measured"][idx] = fitted
            text["g_normal_source"][idx] = f"{text['model'][idx]} fit" + (
                f" ({flag})" if flag != "ok" else ""
            )
        else:
            gaps = values["gap"][idx[0], res.tunnelling_setpoints]
            gap = float(np.nanmean(gaps)) if np.any(np.isfinite(gaps)) else math.nan
            excess = vmax / math.sqrt(vmax**2 - gap**2) if 0 < gap < 0.95 * vmax else 1.0
            values["g_normal_measured"][idx] = g_high[idx] / excess
            text["g_normal_source"][idx] = (
                "high-bias conductance ÷ Dynes excess" if excess > 1 else "high-bias conductance"
            )
        b, g = sorted_finite(sw.bias, sw.didv[idx])
        near = np.abs(b) <= max(2.0 * float(np.mean(np.diff(b))), 1e-12)
        if np.any(near) and values["g_normal_measured"][idx] > 0:
            values["zero_bias_ratio"][idx] = (
                float(np.mean(g[near])) / values["g_normal_measured"][idx]
            )


def _fit_closing(res: RunAnalysis) -> None:
    """Δc(T) closing fits at the top contact setpoint, from the corrected peaks and from
    the film fits (both only where the film model with a collective gap was chosen); the
    sweeps of one temperature step are combined (``closing``)."""
    j = res.top_setpoint()
    if j is None:
        return
    temps = res.temperature[:, j, :]
    steps = np.broadcast_to(np.arange(temps.shape[0])[:, None], temps.shape).ravel()
    for name, key in (("peaks", "gap_c_peaks"), ("film", "film_gap_c")):
        y = res.values[key][:, j, :].ravel()
        e = res.values[key + "_error"][:, j, :].ravel()
        res.closing[name] = fit_gap_closing(temps.ravel(), y, e, groups=steps)


def analyze_dataset(
    ds: xarray.Dataset, path: Path | None = None, *, film: str = "all"
) -> RunAnalysis:
    """Fit every finished sweep of a loaded run (``andreev.storage.load``); no file I/O.

    1. point noise per sweep; 2. tunnelling sweeps: Dynes; 3. contact sweeps: peaks, BTK
    and the film model, the model chosen by BIC (``andreev.analysis.contact``), Δc read out
    and corrected; 4. measured G_N; 5. forward/backward agreement; 6. for a temperature
    series, Δc(T) closing at the highest contact setpoint. ``film`` = "all" fits the film
    model to every contact sweep, "highest" only to the highest setpoint. Raises ValueError
    for another ``film``.
    """
    prep = prepare(ds, path, film=film)
    _fit_tunnelling(prep.res, prep.sweeps)
    _fit_contacts(prep.res, prep.sweeps, film, prep.temp_series)
    return finish(prep)


@dataclass(frozen=True)
class Prepared:
    """A run ready for its per-sweep fits: the empty results with the point noise and the
    run's pooled drift measured, the arrays, the high-bias conductance (S)."""

    res: RunAnalysis
    sweeps: _Sweeps
    g_high: np.ndarray
    temp_series: bool


def prepare(ds: xarray.Dataset, path: Path | None = None, *, film: str = "all") -> Prepared:
    """Steps before the fits (run-level: noise, the drift pooled over the run, which
    setpoints are tunnelling). Raises ValueError for a ``film`` other than "all"/"highest"."""
    if film not in ("all", "highest"):
        raise ValueError(f"film must be 'all' or 'highest', not {film!r}")
    bias = np.asarray(ds["bias"].values, dtype=float)
    didv = np.asarray(ds["dIdV"].values, dtype=float)
    g_high = _high_bias(bias, didv)
    res = _empty_analysis(ds, path, g_high)
    temps = res.temperature
    sw = _Sweeps(
        bias=bias,
        didv=didv,
        temperature=temps,
        v_mod_rms=res.v_mod_rms,
        usable=np.isin(res.status, FINISHED) & np.isfinite(temps),
    )
    _measure_noise(res, sw)
    return Prepared(res, sw, g_high, _is_temperature_series(ds))


def finish(prep: Prepared) -> RunAnalysis:
    """Steps after the fits (measured G_N, directions, Δc(T) closing); the results."""
    _measured_g_normal(prep.res, prep.sweeps, prep.g_high)
    flag_directions(prep.res)
    if prep.temp_series:
        _fit_closing(prep.res)
    return prep.res


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
        return load(path, by_visit=True)  # a grid run in visit order (storage.grid)
    except (OSError, KeyError, ValueError, RunFileError) as exc:
        raise RunFileError(f"cannot read {path} as a run file: {exc}") from exc
