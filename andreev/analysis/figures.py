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

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from andreev import physics
from andreev.analysis.peaks import second_derivative
from andreev.analysis.report import RunAnalysis, analyze_dataset

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
    g = an.g_normal[i, j, k]
    if not (np.isfinite(g) and g > 0):
        g = an.values["g_normal_fit"][i, j, k]
    if not (np.isfinite(g) and g > 0):
        g = float(np.nanmedian(didv[-len(didv) // 10 :]))
    return float(g)


def _top_setpoint(an: RunAnalysis) -> int:
    contact = [j for j in range(len(an.setpoints)) if j not in an.tunnelling_setpoints]
    js = contact or list(range(len(an.setpoints)))
    return max(js, key=lambda j: abs(an.setpoints[j]))


def _outer_axis(an: RunAnalysis) -> tuple[np.ndarray, str, bool]:
    """Values and label for the outer direction: measured T when it is a temperature run."""
    if an.outer_name.lower() == "temperature":
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t = np.nanmedian(an.temperature.reshape(an.temperature.shape[0], -1), axis=1)
        return t, "temperature T (K, measured)", True
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
    axes[1].set_title("zoom on the gap: in-gap (Andreev) peaks at ±Δc")
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
        title="normal-state conductance G_N (G₀ = 2e²/h) and setpoint current",
    )
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = out / "fig1_setpoints.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fig_temperature(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Temperature evolution at the highest setpoint + d²I/dV² colour map with Δc(T)."""
    plt = _plt()
    from matplotlib.colors import Normalize

    bias = np.asarray(ds["bias"].values, dtype=float)
    j = _top_setpoint(an)
    yvals, ylabel, is_temp = _outer_axis(an)
    n_o = len(an.outer_values)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6.5))
    finite_y = yvals[np.isfinite(yvals)]
    norm = Normalize(vmin=float(np.min(finite_y)), vmax=float(np.max(finite_y)))
    cmap = plt.get_cmap("plasma")
    rows, row_y, gn_top = [], [], float("nan")
    for n, i in enumerate(np.argsort(yvals)):
        didv, k = _sweep(ds, an, int(i), j)
        if didv is None or not np.isfinite(yvals[i]):
            continue
        gn = _g_n(an, int(i), j, k, didv)
        gn_top = gn
        ax1.plot(bias * MV, didv / gn + 0.4 * n, color=cmap(norm(yvals[i])), lw=1.1)
        t = float(an.temperature[i, j, k])
        _, d2, _, _ = second_derivative(bias, didv, temperature=t, v_mod_rms=an.v_mod_rms)
        rows.append(d2 / gn / MV)  # 1/mV, normalised to G_N
        row_y.append(yvals[i])
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    cb1 = fig.colorbar(sm, ax=ax1)
    cb1.set_label(ylabel)
    ax1.set_xlabel("bias V (mV)")
    ax1.set_ylabel("dI/dV / G_N  (offset by 0.4 per step)")
    ax1.set_title(
        f"evolution at the highest setpoint, G_N = {gn_top / physics.G0:.3g} G₀ "
        f"({fmt_current(an.setpoints[j])})",
        fontsize=10,
    )
    span = 0.8
    gaps = an.values["gap"][np.isfinite(an.values["gap"])]
    if gaps.size:
        span = float(min(1.5 * np.median(gaps) * MV, np.max(np.abs(bias)) * MV))
    if rows:
        z = np.array(rows)
        sel = np.abs(bias * MV) <= span
        # colour scale from the in-gap region, so Δc is visible; coherence peaks saturate
        inner = np.abs(bias * MV) <= 0.6 * span / 1.5
        lim = float(np.nanpercentile(np.abs(z[:, inner]), 99.5)) or 1.0
        mesh = ax2.pcolormesh(
            bias[sel] * MV,
            np.array(row_y),
            z[:, sel],
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            shading="nearest",
        )
        cb2 = fig.colorbar(mesh, ax=ax2)
        cb2.set_label("d²I/dV² / G_N (1/mV; scale set inside the gap, saturates at ±Δ)")
        # Δc on top: peaks and film fits (mean over directions)
        for key, marker, colour, lab in (
            ("gap_c_peaks", "o", "black", "±Δc from d²I/dV² peaks"),
            ("film_gap_c", "D", "lime", "±Δc from film-model fit"),
        ):
            gc = an.values[key][:, j, :]
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    gcm = np.nanmean(gc, axis=1)
            ok = np.isfinite(gcm) & np.isfinite(yvals)
            if np.any(ok):
                for sgn in (1, -1):
                    ax2.plot(
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
        closing = an.closing.get("film") or an.closing.get("peaks")
        if closing is not None and closing.success and is_temp:
            tt = np.linspace(float(np.min(finite_y)), min(closing.tc, float(np.max(finite_y))), 200)
            cc = closing.curve(tt) * MV
            ax2.plot(cc, tt, color="lime", lw=1)
            ax2.plot(-cc, tt, color="lime", lw=1, label="Δc(T) = Δc0 tanh(1.74√(Tc/T−1))")
            ax2.axhline(
                closing.tc, color="gray", ls="--", lw=1, label=f"fitted Tc = {closing.tc:.2f} K"
            )
        ax2.legend(loc="upper right", fontsize=8, framealpha=0.9)
        ax2.set_xlim(-span, span)
    ax2.set_xlabel("bias V (mV)")
    ax2.set_ylabel(ylabel)
    ax2.set_title("d²I/dV² (red > 0, blue < 0) with the collective gap Δc", fontsize=10)
    fig.suptitle(f"Temperature evolution ({an.path.name}, {n_o} steps)")
    fig.tight_layout()
    path = out / "fig2_temperature.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _mean_err(v: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the last axis of finite values, error = max(std/√n, mean of errors)."""
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(v, axis=-1)
        n = np.sum(np.isfinite(v), axis=-1)
        sd = np.nanstd(v, axis=-1) / np.sqrt(np.maximum(n, 1))
        me = np.nanmean(np.where(np.isfinite(v), e, np.nan), axis=-1)
    return m, np.fmax(sd, me)


def fig_gaps(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Δ and Δc versus temperature/outer step, and Δc versus G_N at base temperature."""
    plt = _plt()
    yvals, xlabel, is_temp = _outer_axis(an)
    tun = an.tunnelling_setpoints
    j = _top_setpoint(an)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.5))
    gap, gap_e = _mean_err(
        an.values["gap"][:, tun, :].reshape(len(yvals), -1),
        an.values["gap_error"][:, tun, :].reshape(len(yvals), -1),
    )
    ok = np.isfinite(gap)
    ax1.errorbar(
        yvals[ok],
        gap[ok] * UEV,
        yerr=gap_e[ok] * UEV,
        fmt="s",
        color="C0",
        label="Δ (Dynes fit, tunnelling setpoint)",
    )
    for key, fmt, colour, lab in (
        ("gap_c_peaks", "o", "C3", "Δc (d²I/dV² peaks)"),
        ("film_gap_c", "D", "C2", "Δc (film-model fit)"),
    ):
        v, e = _mean_err(an.values[key][:, j, :], an.values[key + "_error"][:, j, :])
        ok = np.isfinite(v)
        if np.any(ok):
            ax1.errorbar(
                yvals[ok],
                v[ok] * UEV,
                yerr=e[ok] * UEV,
                fmt=fmt,
                color=colour,
                mfc="none",
                label=f"{lab}, {fmt_current(an.setpoints[j])}",
            )
    if is_temp:
        for name, colour in (("film", "C2"), ("peaks", "C3")):
            c = an.closing.get(name)
            if c is not None and c.success:
                tt = np.linspace(max(float(np.nanmin(yvals)), 1e-3), c.tc * 1.15, 300)
                ax1.plot(
                    tt,
                    c.curve(tt) * UEV,
                    color=colour,
                    lw=1,
                    label=f"BCS-like closing ({name}): Tc = {c.tc:.2f} ± {c.tc_error:.2f} K",
                )
                ax1.axvline(c.tc, color=colour, ls="--", lw=0.8)
    ax1.set_xlabel(xlabel)
    ax1.set_ylabel("energy gap (µeV)")
    ax1.set_ylim(bottom=0)
    ax1.set_title("gaps across the run: Δ survives, Δc closes", fontsize=10)
    ax1.legend(fontsize=8, loc="center left", framealpha=0.9)

    i = _base_index(an)
    gn = np.array([np.nanmedian(an.g_normal[i, jj, :]) for jj in range(len(an.setpoints))])
    for key, fmt, colour, lab in (
        ("gap_c_peaks", "o", "C3", "Δc (d²I/dV² peaks)"),
        ("film_gap_c", "D", "C2", "Δc (film-model fit)"),
    ):
        v, e = _mean_err(an.values[key][i], an.values[key + "_error"][i])
        ok = np.isfinite(v) & (gn > 0)
        if np.any(ok):
            ax2.errorbar(
                gn[ok] / physics.G0,
                v[ok] * UEV,
                yerr=e[ok] * UEV,
                fmt=fmt,
                color=colour,
                mfc="none",
                label=lab,
            )
    g0, g0e = _mean_err(an.values["gap"][i], an.values["gap_error"][i])
    ok = np.isfinite(g0) & (gn > 0)
    if np.any(ok):
        ax2.errorbar(
            gn[ok] / physics.G0,
            g0[ok] * UEV,
            yerr=g0e[ok] * UEV,
            fmt="s",
            color="C0",
            label="Δ (Dynes fit)",
        )
    ax2.set_xscale("log")
    ax2.set_xlabel("normal-state conductance G_N (units of G₀ = 2e²/h)")
    ax2.set_ylabel("energy gap (µeV)")
    ax2.set_ylim(bottom=0)
    t_base = np.nanmedian(an.temperature[i])
    ax2.set_title(
        f"gaps across setpoints at base temperature ({t_base * 1e3:.0f} mK)"
        "\nfilm fits at the highest setpoint only (all in `andreev analyze`)",
        fontsize=10,
    )
    ax2.legend(fontsize=8, framealpha=0.9)
    fig.suptitle(f"Single-particle gap Δ and collective gap Δc ({an.path.name})")
    fig.tight_layout()
    path = out / "fig3_gaps.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fig_tunnelling_fit(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """The base-temperature tunnelling Dynes fit and its residuals."""
    plt = _plt()
    bias = np.asarray(ds["bias"].values, dtype=float)
    i = _base_index(an)
    fit, key = None, None
    for (ii, jj, kk), d in sorted(an.fits.items()):
        if ii == i and "dynes" in d:
            fit, key = d["dynes"], (ii, jj, kk)
            break
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    if fit is None or key is None:
        ax1.text(
            0.5, 0.5, "no finished tunnelling sweep to show", ha="center", transform=ax1.transAxes
        )
    else:
        ii, jj, kk = key
        didv = np.asarray(ds["dIdV"].values[ii, jj, kk], dtype=float)
        scale = 1e9  # S → nS
        ax1.plot(bias * MV, didv * scale, ".", ms=3, color="gray", label="measured dI/dV")
        ax1.plot(
            bias * MV,
            fit.curve(bias) * scale,
            color="C3",
            lw=1.5,
            label="thermally smeared Dynes fit",
        )
        p, e = fit.params, fit.errors
        txt = (
            f"Δ = {_pm(p['gap'], e['gap'], UEV)} µeV\n"
            f"Γ = {_pm(p['gamma'], e['gamma'], UEV)} µeV\n"
            f"G_N = {_pm(p['g_normal'], e['g_normal'], scale)} nS "
            f"({p['g_normal'] / physics.G0:.3g} G₀)\n"
            f"T = {fit.temperature * 1e3:.0f} mK (measured, fixed), "
            f"V_mod = {fit.v_mod_rms * 1e6:.1f} µV rms (fixed)\n"
            f"reduced χ² = {fit.chi2_red:.2f}; {fit.message}"
        )
        ax1.text(
            0.02,
            0.97,
            txt,
            transform=ax1.transAxes,
            va="top",
            fontsize=9,
            bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": "0.7"},
        )
        ax1.legend(loc="upper right", fontsize=9)
        ax1.set_title(
            f"Tunnelling fit at I_set = {fmt_current(an.setpoints[jj])}, "
            f"{an.directions[kk]} sweep ({an.path.name})",
            fontsize=10,
        )
        ax2.plot(bias * MV, fit.residuals * scale, ".", ms=3, color="C0")
        ax2.axhline(0, color="k", lw=0.8)
    ax1.set_ylabel("dI/dV (nS)")
    ax2.set_ylabel("data − fit (nS)")
    ax2.set_xlabel("bias V (mV)")
    fig.tight_layout()
    path = out / "figS2_tunnelling_fit.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def make_figures(run: str | Path, out: str | Path | None = None) -> list[Path]:
    """Write the four standard figures of ``run`` into ``out``; returns their paths."""
    from andreev.storage import load

    run = Path(run)
    out = Path(out) if out is not None else default_out(run)
    out.mkdir(parents=True, exist_ok=True)
    ds = load(run)
    an = analyze_dataset(ds, run, film="highest")
    return [
        fig_setpoints(ds, an, out),
        fig_temperature(ds, an, out),
        fig_gaps(ds, an, out),
        fig_tunnelling_fit(ds, an, out),
    ]


def plot_main(args: argparse.Namespace) -> int:
    """Entry point of ``andreev plot RUN.h5 [--out DIR]``; returns the exit status.

    0 on success, 2 if the run file is missing or unreadable.
    """
    run = Path(args.run)
    if not run.is_file():
        print(f"andreev plot: no such file: {run}", file=sys.stderr)
        return 2
    out = getattr(args, "out", None)
    try:
        paths = make_figures(run, out)
    except (OSError, KeyError, ValueError) as exc:
        print(f"andreev plot: cannot read {run} as a run file: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0
