"""Fig. 3 across tip positions, runs and samples: ``andreev plot A.h5 B.h5 …``.

From the stored analysis of each run (a fresh one where a run was not analysed):
- the histogram of the tunnelling Δ over every position and run;
- Δc (corrected d²I/dV² read-out at the highest setpoint, base temperature) against the Δ
  of the same position — Δ varies from place to place, Δc does not;
- Δc0/k_B·Tc for every temperature series with a closing fit (both from its fit).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from andreev import physics
from andreev.analysis import figures as F
from andreev.analysis.directions import combined
from andreev.analysis.report import RunAnalysis


def _points(an: RunAnalysis) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Δ, Δ error, Δc, Δc error) in eV per outer step at the top contact setpoint (only
    the base-temperature step of a temperature series)."""
    tun = an.tunnelling_setpoints
    gap, gap_e = combined(an, "gap")
    with np.errstate(all="ignore"):
        g = np.nanmean(gap[:, tun], axis=1)
        ge = np.nanmean(gap_e[:, tun], axis=1)
    j = an.top_setpoint()
    if j is None:
        nan = np.full(g.shape, np.nan)
        return g, ge, nan, nan
    gc, gce = combined(an, "gap_c_peaks")
    keep = np.ones(g.shape, dtype=bool)
    if F.run_kind(an) == "temperature":
        keep[:] = False
        keep[F._base_index(an)] = True
    return g[keep], ge[keep], gc[keep, j], gce[keep, j]


def _ratio(an: RunAnalysis) -> tuple[float, float, str] | None:
    """Δc0/(k_B Tc) and its error from the run's closing fit (peaks, else film)."""
    for name in ("peaks", "film"):
        c = an.closing.get(name)
        if c is not None and c.success and c.tc > 0:
            r = c.gap_c0 / (physics.K_B_EV * c.tc)
            e = r * math.hypot(c.gap_c0_error / c.gap_c0, c.tc_error / c.tc)
            return r, e, name
    return None


def fig_runs(runs: list[Path], out: Path) -> Path:
    """Write ``fig3_runs.png`` combining ``runs``; returns its path."""
    plt = F._plt()
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5.5))
    all_gaps = []
    for n, run in enumerate(runs):
        _, an, stored = F.run_analysis(run)
        g, ge, gc, gce = _points(an)
        all_gaps.append(g[np.isfinite(g)])
        colour = f"C{n % 10}"
        label = f"{run.stem} ({F.run_title(an)}{'' if stored else ', not stored: fitted now'})"
        ok = np.isfinite(g) & np.isfinite(gc)
        ax2.errorbar(
            g[ok] * F.UEV,
            gc[ok] * F.UEV,
            xerr=ge[ok] * F.UEV,
            yerr=gce[ok] * F.UEV,
            fmt="o",
            color=colour,
            label=label,
        )
        r = _ratio(an)
        if r is not None:
            ax3.errorbar(
                [n], [r[0]], yerr=[r[1]], fmt="D", color=colour, label=f"{run.stem}: Tc from {r[2]}"
            )
    gaps = np.concatenate(all_gaps) if all_gaps else np.array([])
    if gaps.size:
        lo, hi = float(np.min(gaps)) * F.UEV, float(np.max(gaps)) * F.UEV
        span = max(hi - lo, 0.05 * hi)
        bins = np.linspace(lo - 0.1 * span, hi + 0.1 * span, max(6, min(30, gaps.size // 2)))
        ax1.hist(gaps * F.UEV, bins=bins, color="C0", alpha=0.8)
    ax1.set_xlabel("single-particle gap Δ (µeV, Dynes fit of tunnelling)")
    ax1.set_ylabel("number of tip positions / steps")
    ax1.set_title(f"Δ over {gaps.size} positions/steps in {len(runs)} run(s)", fontsize=10)
    ax2.set_xlabel("Δ at the position (µeV)")
    ax2.set_ylabel("Δc at the highest setpoint (µeV, read-out − smearing shift)")
    ax2.set_ylim(bottom=0)
    ax2.set_xlim(left=0)
    ax1.ticklabel_format(useOffset=False)
    ax2.set_title("Δc against Δ (base temperature)", fontsize=10)
    ax2.legend(fontsize=7)
    ax3.set_xticks(range(len(runs)), [r.stem for r in runs], rotation=20, fontsize=8)
    ax3.set_ylabel("Δc0 / k_B Tc (closing fit of Δc(T))")
    ax3.axhline(1.764, color="gray", ls=":", lw=1, label="BCS 1.764")
    ax3.set_ylim(bottom=0)
    ax3.set_title("collective gap over k_B Tc per temperature series", fontsize=10)
    ax3.legend(fontsize=7)
    fig.suptitle("Fig. 3 — gaps across tip positions, runs and samples")
    return F._save(plt, fig, out / "fig3_runs.png")
