"""Supplementary figures of one run (drawn from the stored analysis, no re-fitting).

- ``figS3_d2_setpoints.png``: d²I/dV² across the setpoints at base temperature, offset,
  with the corrected Δc of each sweep;
- ``figS4_tunnelling_temperature.png``: the tunnelling spectra against temperature, with
  the fitted Δ (it stays above Tc) and Tc;
- ``figS5_reference_film.png``: a conventional (reference) film — spectra across setpoints
  with their BTK fits, g(0)/G_N and Z against the measured G_N.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from andreev import physics
from andreev.analysis import figures as F
from andreev.analysis.peaks import second_derivative
from andreev.analysis.report import RunAnalysis
from andreev.analysis.results import pm_interval, quiet_nan
from andreev.analysis.stored import stored_curve


def fig_d2_setpoints(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Fig. S3: d²I/dV²/G_N at every setpoint at base temperature (offset)."""
    plt = F._plt()
    bias = np.asarray(ds["bias"].values, dtype=float)
    i = F._base_index(an)
    fig, ax = plt.subplots(figsize=(8, 7))
    cmap = plt.get_cmap("viridis")
    order = np.argsort(np.abs(an.setpoints))
    span = F._gap_span(an, bias, 1.4, 0.8)
    offset, t_base = 0.0, float("nan")
    for n, j in enumerate(order):
        didv, k = F._sweep(ds, an, i, int(j))
        if didv is None:
            continue
        t_base = float(an.temperature[i, j, k])
        gn = F._g_n(an, i, int(j), k, didv)
        _, d2, _, _ = second_derivative(
            bias,
            didv,
            temperature=t_base,
            v_mod_rms=an.v_mod_rms,
            noise=an.values["noise"][i, j, k],
        )
        d2 = d2 / gn / F.MV
        sel = np.abs(bias * F.MV) <= span
        scale = float(np.nanmax(np.abs(d2[sel]))) or 1.0
        colour = cmap(0.85 * n / max(len(order) - 1, 1))
        label = f"{gn / physics.G0:.3g} G₀ ({F.fmt_current(an.setpoints[j])}), ×{1 / scale:.2g}"
        ax.plot(bias[sel] * F.MV, d2[sel] / scale + offset, color=colour, lw=1.1, label=label)
        gc = an.values["gap_c_peaks"][i, j, k]
        if np.isfinite(gc):
            ax.plot([gc * F.MV, -gc * F.MV], [offset, offset], "v", color="C3", ms=6)
        offset += 1.2
    ax.plot([], [], "v", color="C3", label="±Δc (read-out − smearing shift)")
    ax.set_xlabel("bias V (mV)")
    ax.set_ylabel("d²I/dV² / G_N, each scaled to ±1 and offset by 1.2")
    ax.set_title(
        f"Fig. S3 — d²I/dV² across setpoints at T = {t_base * 1e3:.0f} mK\n"
        f"({an.path.name}, {F.run_title(an)})",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="upper left", title="measured G_N (setpoint)", title_fontsize=7)
    return F._save(plt, fig, out / "figS3_d2_setpoints.png")


def fig_tunnelling_temperature(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Fig. S4: tunnelling spectra against temperature with the fitted Δ and Tc."""
    plt = F._plt()
    from matplotlib.colors import Normalize

    bias = np.asarray(ds["bias"].values, dtype=float)
    temps, _, _ = F._outer_axis(an)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.5))
    if not an.tunnelling_setpoints:
        fig.suptitle("Fig. S4: no tunnelling setpoint (every measured G_N ≥ 0.01 G0)")
        return F._save(plt, fig, out / "figS4_tunnelling_temperature.png")
    j = an.tunnelling_setpoints[0]
    norm = Normalize(vmin=float(np.nanmin(temps)), vmax=float(np.nanmax(temps)))
    cmap = plt.get_cmap("plasma")
    for n, i in enumerate(np.argsort(temps)):
        didv, k = F._sweep(ds, an, int(i), j)
        if didv is None:
            continue
        gn = F._g_n(an, int(i), j, k, didv)
        ax1.plot(bias * F.MV, didv / gn + 0.3 * n, color=cmap(0.9 * norm(temps[i])), lw=1.0)
    cb = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax1)
    cb.set_label("temperature T (K, measured)")
    ax1.set_xlabel("bias V (mV)")
    ax1.set_ylabel("dI/dV / G_N (offset by 0.3 per temperature)")
    ax1.set_title(f"tunnelling spectra at {F.fmt_current(an.setpoints[j])}", fontsize=10)
    gap, err = F._mean_err(an.values["gap"][:, j, :], an.values["gap_error"][:, j, :])
    ok = np.isfinite(gap)
    ax2.errorbar(
        temps[ok],
        gap[ok] * F.UEV,
        yerr=err[ok] * F.UEV,
        fmt="s",
        color="C0",
        label="Δ (Dynes fit of the tunnelling spectrum)",
    )
    for name, colour in (("film", "C2"), ("peaks", "C3")):
        c = an.closing.get(name)
        if c is not None and c.success:
            ax2.axvline(
                c.tc,
                color=colour,
                ls="--",
                lw=1,
                label=f"Tc from Δc(T) ({name}): "
                f"{pm_interval(c.tc, c.tc_error_low, c.tc_error_high)} K",
            )
    ax2.set_xlabel("temperature T (K, measured)")
    ax2.set_ylabel("single-particle gap Δ (µeV)")
    top = float(np.nanmax(gap[ok])) * F.UEV * 1.25 if np.any(ok) else 1.0
    ax2.set_ylim(0, top)
    ax2.set_xlim(left=0)
    ax2.legend(fontsize=8, loc="lower left")
    ax2.set_title("Δ from tunnelling against temperature", fontsize=10)
    fig.suptitle(f"Fig. S4 — tunnelling spectra against temperature ({an.path.name})")
    return F._save(plt, fig, out / "figS4_tunnelling_temperature.png")


def is_reference_film(an: RunAnalysis) -> bool:
    """True when no contact sweep of the run shows a collective gap (every chosen model
    is plain BTK): a conventional film."""
    models = {str(m) for m in an.text["model"].ravel() if m and m != "dynes"}
    return models == {"btk"}


def _btk_spectra(ds: Any, an: RunAnalysis, ax: Any, i: int) -> None:
    bias = np.asarray(ds["bias"].values, dtype=float)
    cmap = F._plt().get_cmap("viridis")
    order = [j for j in np.argsort(np.abs(an.setpoints))]
    for n, j in enumerate(order):
        didv, k = F._sweep(ds, an, i, int(j))
        if didv is None:
            continue
        gn = F._g_n(an, i, int(j), k, didv)
        colour = cmap(0.85 * n / max(len(order) - 1, 1))
        ax.plot(bias * F.MV, didv / gn + 0.5 * n, ".", ms=2, color=colour)
        ax.annotate(
            f"{gn / physics.G0:.3g} G₀",
            (bias[-1] * F.MV, didv[-1] / gn + 0.5 * n),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color=colour,
        )
        curve = stored_curve(an, (i, int(j), k), "btk", bias)
        if curve is not None:
            ax.plot(bias * F.MV, curve / gn + 0.5 * n, color="k", lw=0.8)
    ax.plot([], [], "k-", lw=0.8, label="BTK fit")
    ax.set_xlabel("bias V (mV)")
    ax.set_ylabel("dI/dV / G_N (offset by 0.5; measured G_N at the right)")
    ax.margins(x=0.12)
    ax.legend(fontsize=8)


def fig_reference_film(ds: Any, an: RunAnalysis, out: Path) -> Path:
    """Fig. S5: the reference film — spectra with BTK fits, g(0)/G_N and Z against G_N."""
    plt = F._plt()
    i = F._base_index(an)
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 5.5))
    _btk_spectra(ds, an, ax1, i)
    ax1.set_title("spectra across setpoints with BTK fits", fontsize=10)
    with quiet_nan():
        gn = an.values["g_normal_measured"][i].ravel() / physics.G0
        ratio = an.values["zero_bias_ratio"][i].ravel()
        z = an.values["btk_barrier"][i].ravel()
        ze = an.values["btk_barrier_error"][i].ravel()
    ok = np.isfinite(gn) & np.isfinite(ratio) & (gn > 0)
    ax2.plot(gn[ok], ratio[ok], "o", color="C0")
    ax2.set_xscale("log")
    ax2.set_xlabel("measured G_N (G₀ = 2e²/h)")
    ax2.set_ylabel("g(0)/G_N (zero-bias conductance)")
    ax2.set_title("in-gap conductance rises with transparency", fontsize=10)
    ok = np.isfinite(gn) & np.isfinite(z) & np.isfinite(ze) & (gn > 0) & (ze < z)
    ax3.errorbar(
        gn[ok], z[ok], yerr=ze[ok], fmt="s", color="C1", label="BTK barrier Z per setpoint"
    )
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel("measured G_N (G₀ = 2e²/h)")
    ax3.set_ylabel("barrier strength Z (BTK fit)")
    ax3.legend(fontsize=8)
    ax3.set_title("Z from the BTK fits (no collective gap: BTK chosen by BIC)", fontsize=10)
    t = float(np.nanmedian(an.temperature[i]))
    fig.suptitle(f"Fig. S5 — reference film at T = {t * 1e3:.0f} mK ({an.path.name})")
    return F._save(plt, fig, out / "figS5_reference_film.png")
