"""The paper's Fig. 4 and Table S1 from a transport run and spectroscopy runs.

- :func:`fig4` — R(T) of the film (warming and cooling sweeps) with the temperature
  scales Δc/k_B and Δ/k_B of the spectroscopy runs given with it (read from their
  ``/entry/analysis``, as ``andreev analyze`` stored it), on a log temperature axis, and
  an inset on the transition with the Tc criteria (onset, 50 %, zero resistance).
- :func:`table_s1` — per sample: Tc (transport, 50 % of R_N), Tc (Δc closing, from the
  spectroscopy runs' closing fit), Δ (mean and spread over the tunnelling sweeps), Δc
  (closing fit's Δc(0), else the median of the sweeps' Δc), Δc/k_B Tc;
  :func:`format_table_s1` (text) and :func:`write_table_s1_csv`.

Which run is which: a file with ``/entry/transport`` is a transport run, any other is a
spectroscopy run. The sample of a run: the ``sample`` attribute of ``/entry`` if set,
else ``sim.sample`` of the station file stored with the run, else "sample".
matplotlib (Agg backend) is imported inside the functions.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from andreev.analysis.transport import TransportAnalysis, transport_analysis
from andreev.physics import K_B_EV
from andreev.storage import read_analysis
from andreev.storage.reader import open_read
from andreev.storage.schema import text
from andreev.storage.transport import is_transport_run, load_transport

__all__ = [
    "GapScales",
    "TableS1Row",
    "fig4",
    "format_table_s1",
    "gap_scales",
    "sample_label",
    "table_s1",
    "write_table_s1_csv",
]

#: closing-fit groups, in order of preference (``gap_closing_<source>``)
CLOSING_PREFERENCE = ("film", "peaks")


@dataclass
class GapScales:
    """The gaps of one spectroscopy run (eV, K)."""

    path: Path
    sample: str
    gap_mean: float = math.nan
    gap_spread: float = math.nan  # standard deviation over the sweeps
    gap_min: float = math.nan
    gap_max: float = math.nan
    gap_c: float = math.nan
    gap_c_error: float = math.nan
    tc_closing: float = math.nan
    tc_closing_error: float = math.nan
    n_gap: int = 0


def sample_label(path: str | Path) -> str:
    """The sample a run was taken on (module docstring)."""
    with open_read(path) as f:
        attrs = f["entry"].attrs
        if "sample" in attrs:
            return text(attrs["sample"])
        station = text(attrs.get("station_yaml", ""))
    try:
        doc = yaml.safe_load(station) or {}
        return str((doc.get("sim") or {}).get("sample") or "sample")
    except (yaml.YAMLError, AttributeError):
        return "sample"


def _finite(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _closing(groups: dict[str, Any]) -> Any:
    """The preferred successful closing-fit group, or None."""
    names = [f"gap_closing_{n}" for n in CLOSING_PREFERENCE]
    names += sorted(g for g in groups if g.startswith("gap_closing_") and g not in names)
    for name in names:
        g = groups.get(name)
        if g is not None and bool(g.attrs.get("success", False)):
            return g
    return None


def gap_scales(path: str | Path) -> GapScales:
    """Δ, Δc and the Δc closing temperature of an analysed spectroscopy run.

    Raises:
        ValueError: the run has no ``/entry/analysis`` (run ``andreev analyze`` first).
    """
    stored = read_analysis(path)
    if stored is None:
        raise ValueError(f"{path}: no /entry/analysis; run `andreev analyze {path}` first")
    out = GapScales(Path(path), sample_label(path))
    gaps = _finite(stored.datasets.get("gap", ([],))[0])
    if gaps.size:
        out.gap_mean, out.gap_spread = float(gaps.mean()), float(gaps.std())
        out.gap_min, out.gap_max, out.n_gap = float(gaps.min()), float(gaps.max()), gaps.size
    closing = _closing(stored.groups)
    if closing is not None:
        d = closing.datasets
        out.gap_c, out.gap_c_error = float(d["gap_c0"][0]), float(d["gap_c0_error"][0])
        out.tc_closing, out.tc_closing_error = float(d["tc"][0]), float(d["tc_error"][0])
    else:
        for name in ("film_gap_c", "gap_c_peaks"):
            values = _finite(stored.datasets.get(name, ([],))[0])
            if values.size:
                out.gap_c, out.gap_c_error = float(np.median(values)), float(values.std())
                break
    return out


# ---- Fig. 4 ----------------------------------------------------------------------------
def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_sweeps(ax: Any, data: dict[str, Any], scale: float) -> None:
    direction = data["segments"][:, 2][data["segment"]]
    styles = {1: ("warming", "tab:red"), -1: ("cooling", "tab:blue"), 0: ("steps", "k")}
    for code, (label, colour) in styles.items():
        m = direction == code
        if m.any():
            order = np.argsort(data["time"][m])
            t, r = data["temperature"][m][order], data["resistance"][m][order]
            ax.plot(t, r / scale, ".-", ms=2, lw=0.8, color=colour, label=label)


def _draw_scales(ax: Any, scales: Sequence[GapScales]) -> None:
    for n, s in enumerate(scales):
        tag = "" if len(scales) == 1 else f" ({s.path.stem})"
        if math.isfinite(s.gap_c):
            lo, hi = (s.gap_c - s.gap_c_error) / K_B_EV, (s.gap_c + s.gap_c_error) / K_B_EV
            ax.axvspan(lo, max(hi, lo * 1.01), color="tab:green", alpha=0.25,
                       label="Δc/k_B" + tag if n == 0 or tag else None)  # fmt: skip
        if math.isfinite(s.gap_mean):
            ax.axvspan(s.gap_min / K_B_EV, s.gap_max / K_B_EV, color="tab:orange", alpha=0.15,
                       label="Δ/k_B (range)" + tag)  # fmt: skip
            ax.axvline(s.gap_mean / K_B_EV, color="tab:orange", lw=1.5, label="Δ/k_B (mean)" + tag)


def _log_ticks(ax: Any) -> None:
    """Plain-number ticks on the log temperature axis."""
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    lo, hi = ax.get_xlim()
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 50) if lo <= t <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _draw_criteria(ax: Any, an: TransportAnalysis) -> None:
    colours = {"onset": "0.4", "midpoint": "k", "zero": "tab:purple"}
    for name, colour in colours.items():
        values = [getattr(s, name) for s in an.sweeps.values()]
        values = [v for v in values if math.isfinite(v)]
        if values:
            ax.axvline(float(np.mean(values)), color=colour, ls="--", lw=0.8, label=name)


def fig4(
    transport: str | Path, spectra: Sequence[str | Path] = (), out: str | Path | None = None
) -> Path:
    """Draw Fig. 4 (module docstring) to ``out`` (default ``RUN_fig4.png`` next to the
    transport run); returns the PNG's path."""
    transport = Path(transport)
    data = load_transport(transport)
    an = transport_analysis(transport)
    scales = [gap_scales(p) for p in spectra]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    r_n = max(float(np.nanmax(data["resistance"])), 1.0)
    scale, unit = (1e3, "kΩ") if r_n > 2e3 else (1.0, "Ω")
    _draw_sweeps(ax, data, scale)
    _draw_scales(ax, scales)
    ax.set_xscale("log")
    t_all = [float(np.nanmin(data["temperature"])), float(np.nanmax(data["temperature"]))]
    t_all += [s.gap_max / K_B_EV for s in scales if math.isfinite(s.gap_max)]
    t_all += [s.gap_c / K_B_EV for s in scales if math.isfinite(s.gap_c)]
    ax.set_xlim(0.7 * min(t_all), 1.3 * max(t_all))
    ax.set_ylim(-0.05 * r_n / scale, 1.15 * r_n / scale)
    ax.set_xlabel("T (K)")
    ax.set_ylabel(f"R ({unit})")
    label = sample_label(transport)
    label = transport.stem if label == "sample" else label
    ax.set_title(f"{label}: R(T), Tc = {an.tc:.3f} ± {an.tc_error:.3f} K (50 % R_N)", fontsize=10)
    ax.legend(loc="upper right", fontsize=7)
    _log_ticks(ax)
    inset = ax.inset_axes((0.47, 0.14, 0.36, 0.42))  # the empty lower right
    _draw_sweeps(inset, data, scale)
    _draw_criteria(inset, an)
    widths = [s.width for s in an.sweeps.values() if math.isfinite(s.width)]
    span = 4 * max(max(widths, default=0.05), 0.02)
    if math.isfinite(an.tc):
        inset.set_xlim(an.tc - span, an.tc + span)
    inset.tick_params(labelsize=6)
    inset.legend(fontsize=5, loc="upper left")
    out = Path(out) if out is not None else transport.with_name(transport.stem + "_fig4.png")
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


# ---- Table S1 --------------------------------------------------------------------------
@dataclass
class TableS1Row:
    """One sample of Table S1 (K, eV; ratio dimensionless)."""

    sample: str
    tc_transport: float = math.nan
    tc_transport_error: float = math.nan
    tc_closing: float = math.nan
    tc_closing_error: float = math.nan
    gap_mean: float = math.nan
    gap_spread: float = math.nan
    gap_c: float = math.nan
    gap_c_error: float = math.nan
    ratio: float = math.nan  # Δc / (k_B Tc,transport)


def _fill(row: TableS1Row, transports: list[Path], spectra: list[GapScales]) -> None:
    tcs = [transport_analysis(p) for p in transports]
    tcs = [a for a in tcs if math.isfinite(a.tc)]
    if tcs:
        row.tc_transport = float(np.mean([a.tc for a in tcs]))
        row.tc_transport_error = float(np.sqrt(np.mean([a.tc_error**2 for a in tcs])))
    closing = [s for s in spectra if math.isfinite(s.tc_closing)]
    if closing:
        row.tc_closing = float(np.mean([s.tc_closing for s in closing]))
        row.tc_closing_error = float(np.sqrt(np.mean([s.tc_closing_error**2 for s in closing])))
    gaps = [s for s in spectra if s.n_gap]
    if gaps:  # pooled over the runs: mean and spread of every sweep's Δ
        weights = np.array([s.n_gap for s in gaps], float)
        means = np.array([s.gap_mean for s in gaps])
        row.gap_mean = float(np.average(means, weights=weights))
        second = np.average([s.gap_spread**2 + s.gap_mean**2 for s in gaps], weights=weights)
        row.gap_spread = float(np.sqrt(max(second - row.gap_mean**2, 0.0)))
    gap_c = [s for s in spectra if math.isfinite(s.gap_c)]
    if gap_c:
        row.gap_c = float(np.mean([s.gap_c for s in gap_c]))
        row.gap_c_error = float(np.sqrt(np.mean([s.gap_c_error**2 for s in gap_c])))
    if math.isfinite(row.gap_c) and math.isfinite(row.tc_transport):
        row.ratio = row.gap_c / (K_B_EV * row.tc_transport)


def table_s1(paths: Sequence[str | Path], sample: str | None = None) -> list[TableS1Row]:
    """Table S1 from transport and analysed spectroscopy runs, one row per sample (all
    in one row named ``sample`` when given)."""
    groups: dict[str, tuple[list[Path], list[GapScales]]] = {}
    for p in map(Path, paths):
        label = sample or sample_label(p)
        transports, spectra = groups.setdefault(label, ([], []))
        if is_transport_run(p):
            transports.append(p)
        else:
            spectra.append(gap_scales(p))
    rows = []
    for label, (transports, spectra) in groups.items():
        row = TableS1Row(label)
        _fill(row, transports, spectra)
        rows.append(row)
    return rows


def _pm(value: float, error: float, fmt: str) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:{fmt}} ± {error:{fmt}}" if math.isfinite(error) else f"{value:{fmt}}"


def format_table_s1(rows: Sequence[TableS1Row]) -> str:
    """Table S1 as text (Tc in K, Δ and Δc in meV)."""
    head = f"{'sample':<10} {'Tc transport (K)':>18} {'Tc Δc closing (K)':>18} "
    head += f"{'Δ (meV)':>16} {'Δc (meV)':>16} {'Δc/kB·Tc':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.sample:<10} {_pm(r.tc_transport, r.tc_transport_error, '.3f'):>18} "
            f"{_pm(r.tc_closing, r.tc_closing_error, '.3f'):>18} "
            f"{_pm(r.gap_mean * 1e3, r.gap_spread * 1e3, '.3f'):>16} "
            f"{_pm(r.gap_c * 1e3, r.gap_c_error * 1e3, '.3f'):>16} "
            f"{(f'{r.ratio:.2f}' if math.isfinite(r.ratio) else '—'):>9}"
        )
    lines.append("Tc transport: 50 % of R_N; Δ: mean ± spread (1 σ) over the sweeps.")
    return "\n".join(lines)


def write_table_s1_csv(rows: Sequence[TableS1Row], path: str | Path) -> Path:
    """Table S1 as CSV (K, eV); returns the path."""
    path = Path(path)
    units = {"sample": "sample", "ratio": "gap_c_over_kB_tc"}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        names = list(asdict(rows[0]) if rows else asdict(TableS1Row("")))
        columns = [units.get(n, n + ("_K" if n.startswith("tc") else "_eV")) for n in names]
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([v if isinstance(v, str) else f"{v:.6g}" for v in asdict(r).values()])
    return path
