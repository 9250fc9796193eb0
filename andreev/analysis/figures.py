"""``andreev plot RUN.h5 [--out DIR]``: the standard figures of a run as PNG files.

- ``fig1_setpoints.png``: dI/dV/G_N at every setpoint at base temperature, offset, each
  labelled with its G_N in units of G0 = 2e²/h; full range and a zoom on the gap.
- ``fig2_temperature.png``: the temperature evolution at the highest setpoint, and a colour
  map of d²I/dV² versus bias and temperature with Δc(T) (peaks, film fit) on top.
- ``fig3_gaps.png``: Δ and Δc versus temperature (or the outer stepper) with the fitted
  closing of Δc; Δc versus G_N at base temperature.
- ``figS2_tunnelling_fit.png``: a tunnelling (Dynes) fit with its residuals.

matplotlib (Agg backend) is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from andreev import physics
from andreev.analysis.peaks import second_derivative
from andreev.analysis.report import RunAnalysis, analyze_dataset, load_run
from andreev.analysis.results import pm_interval, quiet_nan
from andreev.analysis.stored import load_stored, stored_curve

MV = 1e3  # V → mV
UEV = 1e6  # eV → µeV


def default_out(run: str | Path) -> Path:
    """``RUN_figures/`` next to ``RUN.h5``."""
    run = Path(run)
    return run.with_name(run.stem + "_figures")


def fmt_current(amps: float) -> str:
    """A setpoint current as "1 nA", "100 nA", "1 µA"."""
    a = abs(float(amps))
    if a >= 1e-6:
        return f"{amps * 1e6:.3g} µA"
    if a >= 1e-9:
        return f"{amps * 1e9:.3g} nA"
    return f"{amps * 1e12:.3g} pA"


def _pm(value: float, error: float, scale: float) -> str:
    """ "v ± e" with the error to two significant digits (value scaled by ``scale``)."""
    v, e = value * scale, error * scale
    if not np.isfinite(e) or e <= 0:
        return f"{v:.4g} ± ?"
    nd = max(0, 1 - int(np.floor(np.log10(e))))
    return f"{v:.{nd}f} ± {e:.{nd}f}"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(
    plt: Any, fig: Any, path: Path, rect: tuple[float, float, float, float] | None = None
) -> Path:
    """Lay out (within ``rect``), write as a 120 dpi PNG, close; returns ``path``."""
    if rect is None:
        fig.tight_layout()
    else:
        fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _finished(an: RunAnalysis) -> np.ndarray:
    return np.isin(an.status, ("done", "retaken"))


def _base_index(an: RunAnalysis) -> int:
    """Outer index at the lowest measured temperature (first one if no temperature)."""
    with np.errstate(all="ignore"):
        t = np.array(
            [
                np.nanmedian(row[_finished(an)[i]]) if np.any(_finished(an)[i]) else np.inf
                for i, row in enumerate(an.temperature)
            ]
        )
    t = np.where(np.isfinite(t), t, np.inf)
    return int(np.argmin(t))


def _sweep(ds: Any, an: RunAnalysis, i: int, j: int) -> tuple[np.ndarray | None, int]:
    """dI/dV (S) of the first finished direction at (i, j), and that direction's index."""
    for k in range(len(an.directions)):
        if _finished(an)[i, j, k]:
            return np.asarray(ds["dIdV"].values[i, j, k], dtype=float), k
    return None, -1


def _g_n(an: RunAnalysis, i: int, j: int, k: int, didv: np.ndarray) -> float:
    """The measured G_N (S) of a sweep (``g_normal_measured``), else its nominal value."""
    g = an.values["g_normal_measured"][i, j, k]
    if not (np.isfinite(g) and g > 0):
        g = an.g_normal[i, j, k]
    if not (np.isfinite(g) and g > 0):
        g = float(np.nanmedian(didv[-len(didv) // 10 :]))
    return float(g)


def _top_setpoint(an: RunAnalysis) -> int:
    """The top contact setpoint, or the largest setpoint when all are tunnelling ones."""
    j = an.top_setpoint()
    return (
        j if j is not None else max(range(len(an.setpoints)), key=lambda jj: abs(an.setpoints[jj]))
    )


def run_kind(an: RunAnalysis) -> str:
    """ "temperature", "position", "ladder" (a single outer step) or "parameter"."""
    name = an.outer_name.lower()
    if name in ("temperature", "position"):
        return name
    return "ladder" if len(an.outer_values) == 1 else "parameter"


def run_title(an: RunAnalysis) -> str:
    """What the run is, for figure titles."""
    kind = run_kind(an)
    n = len(an.outer_values)
    return {
        "temperature": f"temperature series, {n} temperatures",
        "position": f"position series, {n} tip positions",
        "ladder": "setpoint ladder",
    }.get(kind, f"series in {an.outer_name}, {n} steps")


def _outer_axis(an: RunAnalysis) -> tuple[np.ndarray, str, bool]:
    """Values and label for the outer direction: measured T for a temperature series, the
    tip position (nm, along the coordinate that varies) for a position series."""
    kind = run_kind(an)
    if kind == "temperature":
        with quiet_nan():
            t = np.nanmedian(an.temperature.reshape(an.temperature.shape[0], -1), axis=1)
        return t, "temperature T (K, measured)", True
    if kind == "position" and an.positions is not None:
        x, y = an.positions
        if np.ptp(y) > np.ptp(x):
            return y * 1e9, f"tip position y (nm; x = {np.mean(x) * 1e9:.3g} nm)", False
        return x * 1e9, f"tip position x (nm; y = {np.mean(y) * 1e9:.3g} nm)", False
    return an.outer_values, f"{an.outer_name} (outer step)", False


# ---------------------------------------------------------------------------- figures


def fig_setpoints(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Spectra at every setpoint at base temperature, offset, labelled with G_N/G0."""
    plt = _plt()
    bias = np.asarray(ds["bias"].values, dtype=float)
    i = _base_index(an)
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.5), gridspec_kw={"width_ratios": [1.3, 1]})
    cmap = plt.get_cmap("viridis")
    n_s = len(an.setpoints)
    order = np.argsort(np.abs(an.setpoints))
    offset_step = 1.0
    t_base = float("nan")
    for n, j in enumerate(order):
        didv, k = _sweep(ds, an, i, int(j))
        if didv is None:
            continue
        t_base = float(an.temperature[i, j, k])
        gn = _g_n(an, i, int(j), k, didv)
        g = didv / gn + n * offset_step
        colour = cmap(0.85 * n / max(n_s - 1, 1))  # stop before viridis' pale yellow
        label = f"G_N = {gn / physics.G0:.3g} G₀ ({fmt_current(an.setpoints[j])})"
        for ax in axes:
            ax.plot(bias * MV, g, color=colour, lw=1.2, label=label)
            ax.axhline(n * offset_step + 1.0, color=colour, lw=0.5, ls=":")
    axes[0].set_xlabel("bias V (mV)")
    axes[0].set_ylabel("dI/dV / G_N  (curves offset by 1 for clarity; dotted: 1)")
    axes[0].set_title("full range")
    zoom = 0.35
    gaps = an.values["gap"][np.isfinite(an.values["gap"])]
    if gaps.size:
        zoom = float(min(1.4 * np.median(gaps) * MV, np.max(np.abs(bias)) * MV))
    axes[1].set_xlim(-zoom, zoom)
    axes[1].set_xlabel("bias V (mV)")
    collective = bool(np.any(an.text["model"] == "film"))
    axes[1].set_title(
        "zoom on the gap: in-gap (Andreev) peaks at ±Δc"
        if collective
        else "zoom on the gap (no collective gap in this run: BTK)"
    )
    fig.suptitle(
        f"Spectra at every setpoint, base temperature T = {t_base * 1e3:.0f} mK ({an.path.name})"
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles[::-1],
        labels[::-1],
        loc="lower center",
        ncol=min(len(labels), 4),
        fontsize=9,
        title="measured normal-state conductance G_N (G₀ = 2e²/h) and setpoint current",
    )
    return _save(plt, fig, out / "fig1_setpoints.png", rect=(0, 0.1, 1, 1))


def _evolution_panel(
    ds: Any, an: RunAnalysis, ax: Any, j: int, yvals: np.ndarray, colour: Any
) -> tuple[list[np.ndarray], list[float], float]:
    """Offset dI/dV/G_N at setpoint ``j`` per outer step, coloured by ``colour(y)``.

    Returns the d²I/dV²/G_N rows (1/mV), their outer values and the last G_N (S).
    """
    bias = np.asarray(ds["bias"].values, dtype=float)
    rows: list[np.ndarray] = []
    row_y: list[float] = []
    gn_top = float("nan")
    for n, i in enumerate(np.argsort(yvals)):
        didv, k = _sweep(ds, an, int(i), j)
        if didv is None or not np.isfinite(yvals[i]):
            continue
        gn = _g_n(an, int(i), j, k, didv)
        gn_top = gn
        ax.plot(bias * MV, didv / gn + 0.4 * n, color=colour(yvals[i]), lw=1.1)
        t = float(an.temperature[i, j, k])
        _, d2, _, _ = second_derivative(bias, didv, temperature=t, v_mod_rms=an.v_mod_rms)
        rows.append(d2 / gn / MV)  # 1/mV, normalised to G_N
        row_y.append(float(yvals[i]))
    return rows, row_y, gn_top


def _gap_span(an: RunAnalysis, bias: np.ndarray, factor: float, default: float) -> float:
    """Half-width (mV) of a zoom on the gap: ``factor`` × the median Dynes Δ."""
    gaps = an.values["gap"][np.isfinite(an.values["gap"])]
    if not gaps.size:
        return default
    return float(min(factor * np.median(gaps) * MV, np.max(np.abs(bias)) * MV))


def _gap_c_markers(an: RunAnalysis, ax: Any, j: int, yvals: np.ndarray) -> None:
    """±Δc (peaks, film fit; mean over directions) at setpoint ``j`` on the map."""
    for key, marker, colour, lab in (
        ("gap_c_peaks", "o", "black", "±Δc from d²I/dV² peaks"),
        ("film_gap_c", "D", "lime", "±Δc from film-model fit"),
    ):
        with quiet_nan():
            gcm = np.nanmean(an.values[key][:, j, :], axis=1)
        ok = np.isfinite(gcm) & np.isfinite(yvals)
        if not np.any(ok):
            continue
        for sgn in (1, -1):
            ax.plot(
                sgn * gcm[ok] * MV,
                yvals[ok],
                marker,
                mfc="none",
                mec=colour,
                ms=7,
                mew=1.5,
                ls="none",
                label=lab if sgn == 1 else None,
            )


def _closing_curve_on_map(an: RunAnalysis, ax: Any, y_range: tuple[float, float]) -> None:
    """±Δc(T) of the closing fit (film, else peaks) and its Tc on the d²I/dV² map."""
    closing = an.closing.get("film") or an.closing.get("peaks")
    if closing is None or not closing.success:
        return
    tt = np.linspace(y_range[0], min(closing.tc, y_range[1]), 200)
    cc = closing.curve(tt) * MV
    ax.plot(cc, tt, color="lime", lw=1)
    ax.plot(-cc, tt, color="lime", lw=1, label="Δc(T) = Δc0 tanh(1.74√(Tc/T−1))")
    ax.axhline(closing.tc, color="gray", ls="--", lw=1, label=f"fitted Tc = {closing.tc:.2f} K")


def _d2_map(
    fig: Any, ax: Any, bias: np.ndarray, rows: list[np.ndarray], row_y: list[float], span: float
) -> None:
    """Colour map of d²I/dV²/G_N versus bias (|V| ≤ ``span`` mV) and the outer values."""
    z = np.array(rows)
    sel = np.abs(bias * MV) <= span
    # colour scale from the in-gap region, so Δc is visible; coherence peaks saturate
    inner = np.abs(bias * MV) <= 0.6 * span / 1.5
    lim = float(np.nanpercentile(np.abs(z[:, inner]), 99.5)) or 1.0
    mesh = ax.pcolormesh(
        bias[sel] * MV,
        np.array(row_y),
        z[:, sel],
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        shading="nearest",
    )
    cb2 = fig.colorbar(mesh, ax=ax)
    cb2.set_label("d²I/dV² / G_N (1/mV; scale set inside the gap, saturates at ±Δ)")


def fig_temperature(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Temperature evolution at the highest setpoint + d²I/dV² colour map with Δc(T)."""
    plt = _plt()
    from matplotlib.colors import Normalize

    bias = np.asarray(ds["bias"].values, dtype=float)
    j = _top_setpoint(an)
    yvals, ylabel, is_temp = _outer_axis(an)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6.5))
    finite_y = yvals[np.isfinite(yvals)]
    y_range = (float(np.min(finite_y)), float(np.max(finite_y)))
    norm = Normalize(vmin=y_range[0], vmax=y_range[1])
    cmap = plt.get_cmap("plasma")
    rows, row_y, gn_top = _evolution_panel(ds, an, ax1, j, yvals, lambda y: cmap(norm(y)))
    cb1 = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax1)
    cb1.set_label(ylabel)
    ax1.set_xlabel("bias V (mV)")
    ax1.set_ylabel("dI/dV / G_N  (offset by 0.4 per step)")
    ax1.set_title(
        f"evolution at the highest setpoint, G_N = {gn_top / physics.G0:.3g} G₀ "
        f"({fmt_current(an.setpoints[j])})",
        fontsize=10,
    )
    span = _gap_span(an, bias, 1.5, 0.8)
    if rows:
        _d2_map(fig, ax2, bias, rows, row_y, span)
        _gap_c_markers(an, ax2, j, yvals)
        if is_temp:
            _closing_curve_on_map(an, ax2, y_range)
        ax2.legend(loc="upper right", fontsize=8, framealpha=0.9)
        ax2.set_xlim(-span, span)
    ax2.set_xlabel("bias V (mV)")
    ax2.set_ylabel(ylabel)
    if is_temp:
        ax2.set_ylim(bottom=max(0.0, ax2.get_ylim()[0]))
    ax2.set_title("d²I/dV² (red > 0, blue < 0) with the collective gap Δc", fontsize=10)
    what = {"temperature": "Evolution with temperature", "position": "Evolution across positions"}
    fig.suptitle(
        f"{what.get(run_kind(an), 'Evolution along the run')} ({an.path.name}, {run_title(an)})"
    )
    return _save(plt, fig, out / f"fig2_{run_kind(an)}.png")


def _mean_err(v: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the last axis of finite values, error = max(std/√n, mean of errors)."""
    with quiet_nan():
        m = np.nanmean(v, axis=-1)
        n = np.sum(np.isfinite(v), axis=-1)
        sd = np.nanstd(v, axis=-1) / np.sqrt(np.maximum(n, 1))
        me = np.nanmean(np.where(np.isfinite(v), e, np.nan), axis=-1)
    return m, np.fmax(sd, me)


#: the two Δc estimates as plotted: result column, marker, colour, label
GAP_C_SERIES = (
    ("gap_c_peaks", "o", "C3", "Δc (d²I/dV² read-out − smearing shift)"),
    ("film_gap_c", "D", "C2", "Δc (film-model fit)"),
)


def _errorbars(
    ax: Any, x: np.ndarray, v: np.ndarray, e: np.ndarray, ok: np.ndarray, **style: Any
) -> None:
    """Energies ``v`` ± ``e`` (eV, shown in µeV) at ``x`` where ``ok``."""
    ax.errorbar(x[ok], v[ok] * UEV, yerr=e[ok] * UEV, **style)


def _closing_curves(an: RunAnalysis, ax: Any, yvals: np.ndarray) -> None:
    """The fitted Δc(T) closings (film, peaks) with their Tc."""
    for name, colour in (("film", "C2"), ("peaks", "C3")):
        c = an.closing.get(name)
        if c is None or not c.success:
            continue
        tt = np.linspace(max(float(np.nanmin(yvals)), 1e-3), c.tc * 1.15, 300)
        ax.plot(
            tt,
            c.curve(tt) * UEV,
            color=colour,
            lw=1,
            label=f"BCS-like closing ({name}): Tc = "
            f"{pm_interval(c.tc, c.tc_error_low, c.tc_error_high)} K",
        )
        ax.axvline(c.tc, color=colour, ls="--", lw=0.8)


def _gaps_vs_outer(an: RunAnalysis, ax: Any) -> None:
    """Δ (tunnelling) and Δc (top setpoint) versus temperature / the outer step."""
    yvals, xlabel, is_temp = _outer_axis(an)
    tun = an.tunnelling_setpoints
    j = _top_setpoint(an)
    gap, gap_e = _mean_err(
        an.values["gap"][:, tun, :].reshape(len(yvals), -1),
        an.values["gap_error"][:, tun, :].reshape(len(yvals), -1),
    )
    label = "Δ (Dynes fit, tunnelling setpoint)"
    _errorbars(ax, yvals, gap, gap_e, np.isfinite(gap), fmt="s", color="C0", label=label)
    for key, fmt, colour, lab in GAP_C_SERIES:
        v, e = _mean_err(an.values[key][:, j, :], an.values[key + "_error"][:, j, :])
        ok = np.isfinite(v)
        if np.any(ok):
            label = f"{lab}, {fmt_current(an.setpoints[j])}"
            _errorbars(ax, yvals, v, e, ok, fmt=fmt, color=colour, mfc="none", label=label)
    if is_temp:
        _closing_curves(an, ax, yvals)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("energy gap (µeV)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"gaps across the {run_title(an)}", fontsize=10)
    ax.legend(fontsize=8, loc="center left", framealpha=0.9)


def _gaps_vs_conductance(an: RunAnalysis, ax: Any) -> None:
    """Δc and Δ versus G_N at base temperature."""
    i = _base_index(an)
    with quiet_nan():
        gn = np.nanmedian(an.values["g_normal_measured"][i], axis=-1)
    x = gn / physics.G0
    for key, fmt, colour, lab in GAP_C_SERIES:
        v, e = _mean_err(an.values[key][i], an.values[key + "_error"][i])
        ok = np.isfinite(v) & (gn > 0)
        if np.any(ok):
            _errorbars(ax, x, v, e, ok, fmt=fmt, color=colour, mfc="none", label=lab)
    g0, g0e = _mean_err(an.values["gap"][i], an.values["gap_error"][i])
    ok = np.isfinite(g0) & (gn > 0)
    if np.any(ok):
        _errorbars(ax, x, g0, g0e, ok, fmt="s", color="C0", label="Δ (Dynes fit)")
    ax.set_xscale("log")
    ax.set_xlabel("measured normal-state conductance G_N (units of G₀ = 2e²/h)")
    ax.set_ylabel("energy gap (µeV)")
    ax.set_ylim(bottom=0)
    t_base = np.nanmedian(an.temperature[i])
    ax.set_title(
        f"gaps across setpoints at base temperature ({t_base * 1e3:.0f} mK)",
        fontsize=10,
    )
    ax.legend(fontsize=8, framealpha=0.9)


def fig_gaps(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Δ and Δc versus temperature/outer step, and Δc versus G_N at base temperature."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.5))
    _gaps_vs_outer(an, ax1)
    _gaps_vs_conductance(an, ax2)
    fig.suptitle(f"Single-particle gap Δ and collective gap Δc ({an.path.name}, {run_title(an)})")
    return _save(plt, fig, out / "fig3_gaps.png")


def _base_dynes_sweep(an: RunAnalysis) -> tuple[int, int, int] | None:
    """(i, j, k) of the first Dynes-fitted sweep at the base-temperature outer step."""
    i = _base_index(an)
    n_d = an.shape[2]
    for j in an.tunnelling_setpoints:
        for k in range(n_d):
            if np.isfinite(an.values["gap"][i, j, k]):
                return i, j, k
    return None


def _fit_text(an: RunAnalysis, idx: tuple[int, int, int], scale: float) -> str:
    """The stored Δ, Γ, G_N (G_N scaled by ``scale``), χ², flag and the fixed inputs."""
    v = an.values
    gn = v["g_normal_fit"][idx]
    return (
        f"Δ = {_pm(v['gap'][idx], v['gap_error'][idx], UEV)} µeV\n"
        f"Γ = {_pm(v['gamma'][idx], v['gamma_error'][idx], UEV)} µeV\n"
        f"G_N = {gn * scale:.4g} nS ({gn / physics.G0:.3g} G₀; nominal "
        f"{v['g_normal_nominal'][idx] / physics.G0:.3g} G₀)\n"
        f"T = {an.temperature[idx] * 1e3:.0f} mK (measured, fixed), "
        f"V_mod = {an.v_mod_rms * 1e6:.1f} µV rms (fixed)\n"
        f"reduced χ² = {v['dynes_chi2_red'][idx]:.2f} against the measured noise "
        f"({an.text['noise_source'][idx]}): {an.text['fit_flag'][idx]}"
    )


def _fit_panels(ds: Any, an: RunAnalysis, axes: tuple[Any, Any], idx: tuple[int, int, int]) -> None:
    """Measured dI/dV with the stored Dynes fit (top) and the residuals (bottom), in nS."""
    ax1, ax2 = axes
    bias = np.asarray(ds["bias"].values, dtype=float)
    didv = np.asarray(ds["dIdV"].values[idx], dtype=float)
    curve = stored_curve(an, idx, "dynes", bias)
    scale = 1e9  # S → nS
    ax1.plot(bias * MV, didv * scale, ".", ms=3, color="gray", label="measured dI/dV")
    if curve is not None:
        label = "thermally smeared Dynes fit"
        ax1.plot(bias * MV, curve * scale, color="C3", lw=1.5, label=label)
        ax2.plot(bias * MV, (didv - curve) * scale, ".", ms=3, color="C0")
        noise = an.values["noise"][idx] * scale
        ax2.axhspan(-noise, noise, color="C1", alpha=0.2, label="± measured point noise")
        ax2.legend(loc="upper right", fontsize=8)
    box = {"facecolor": "white", "alpha": 0.9, "edgecolor": "0.7"}
    ax1.text(
        0.02,
        0.97,
        _fit_text(an, idx, scale),
        transform=ax1.transAxes,
        va="top",
        fontsize=9,
        bbox=box,
    )
    ax1.legend(loc="upper right", fontsize=9)
    ax1.set_title(
        f"Tunnelling fit at I_set = {fmt_current(an.setpoints[idx[1]])}, "
        f"{an.directions[idx[2]]} sweep ({an.path.name})",
        fontsize=10,
    )
    ax2.axhline(0, color="k", lw=0.8)


def fig_tunnelling_fit(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """The base-temperature tunnelling Dynes fit and its residuals."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    found = _base_dynes_sweep(an)
    if found is None:
        message = "no finished tunnelling sweep to show"
        ax1.text(0.5, 0.5, message, ha="center", transform=ax1.transAxes)
    else:
        _fit_panels(ds, an, (ax1, ax2), found)
    ax1.set_ylabel("dI/dV (nS)")
    ax2.set_ylabel("data − fit (nS)")
    ax2.set_xlabel("bias V (mV)")
    return _save(plt, fig, out / "figS2_tunnelling_fit.png")


def run_analysis(run: str | Path) -> tuple[Any, RunAnalysis, bool]:
    """(dataset, analysis, stored?) of a run: the stored /entry/analysis when there is one
    (no re-fitting), else a fresh analysis (film fits at the top setpoint only)."""
    run = Path(run)
    ds = load_run(run)
    an = load_stored(ds, run)
    if an is not None:
        return ds, an, True
    return ds, analyze_dataset(ds, run, film="highest"), False
