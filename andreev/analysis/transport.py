"""Tc of the film from its R(T) (a TransportRT run), by the usual criteria.

For each sweep direction (up, down; steps runs: one "steps" set):

1. **Normal state** R_N(T): a least-squares fit ``R = A + B·ln T`` to the readings more
   than max(5 × the rough width, 30 mK) above the rough 50 % point (the weak insulating
   upturn of InO-1…3, or a flat metal); a constant when fewer than 4 points remain.
2. The criteria on r = R/R_N(T), each the highest temperature (coming down from the
   normal state) where r falls below its level, by linear interpolation between the two
   readings around the crossing:

   - **onset**: r = 0.9 (90 % of R_N);
   - **midpoint** (the Tc quoted): r = 0.5;
   - **zero resistance**: R below ``max(1 % R_N, 3 σ)`` for every reading below it
     (σ: the spread of the readings on the superconducting side);
   - **width**: T(90 %) − T(10 %).
3. **Uncertainty** of the midpoint: the reading's noise over the local slope,
   σ_R/|dR/dT|, in quadrature with the temperature step between the two readings
   around the crossing (uniform, step/√12).

Up against down: the thermal lag between the film and the thermometer shifts a
warming sweep up and a cooling sweep down; ``lag`` = Tc(up) − Tc(down) is reported,
and the quoted Tc is their mean, with an uncertainty of the statistical errors (halved
as two sweeps) in quadrature with |lag|/2 (the systematic of the lag).

Warnings: an excitation power above ``heating_power_warning`` (W; from the run's
experiment, default 1e-10 W) — the film self-heats and its transition appears at lower
temperature; a sweep without a normal state or a zero-resistance state.

:func:`analyze_transport` stores the results under ``/entry/analysis`` of the run file
(through :func:`andreev.storage.write_analysis`) and writes ``RUN.analysis.csv``.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from andreev.storage import ResultGroup, write_analysis
from andreev.storage.transport import load_transport

__all__ = [
    "CRITERIA",
    "TcResult",
    "TransportAnalysis",
    "analyze_transport",
    "tc_criteria",
    "transport_analysis",
    "transport_result_group",
    "transport_summary",
    "write_transport_csv",
]

#: the criteria as stored with the results
CRITERIA = {
    "onset": "T where R falls to 90 % of the normal-state R_N(T)",
    "midpoint": "T where R falls to 50 % of R_N(T) (the quoted Tc)",
    "ten_percent": "T where R falls to 10 % of R_N(T)",
    "zero": "highest T below which every reading is under max(1 % R_N, 3 sigma)",
    "width": "T(90 %) - T(10 %)",
    "normal_state": "least-squares R_N = A + B ln T above the transition",
}
DEFAULT_HEATING_WARNING = 1e-10


@dataclass
class TcResult:
    """The criteria of one sweep direction (temperatures K, resistances Ω)."""

    direction: str
    n_points: int
    r_normal: float = math.nan
    onset: float = math.nan
    midpoint: float = math.nan
    ten_percent: float = math.nan
    zero: float = math.nan
    width: float = math.nan
    midpoint_error: float = math.nan
    zero_threshold: float = math.nan
    normal_slope: float = math.nan
    message: str = ""


@dataclass
class TransportAnalysis:
    """Tc of one transport run: per direction, combined, and the warnings."""

    path: Path
    sweeps: dict[str, TcResult]
    tc: float = math.nan
    tc_error: float = math.nan
    lag: float = math.nan
    excitation: float = math.nan
    max_power: float = math.nan
    warnings: list[str] = field(default_factory=list)


def _crossing(t: np.ndarray, r: np.ndarray, level: float) -> tuple[float, int]:
    """The highest T where ``r`` (sorted by descending ``t``) falls below ``level``,
    linearly interpolated; (nan, -1) when it never does or starts below."""
    below = np.flatnonzero(r < level)
    if below.size == 0 or below[0] == 0:
        return math.nan, -1
    k = int(below[0])
    t1, t2, r1, r2 = t[k - 1], t[k], r[k - 1], r[k]
    return float(t1 + (level - r1) * (t2 - t1) / (r2 - r1)), k


def _normal_state(t: np.ndarray, res: np.ndarray, t_from: float) -> tuple[np.ndarray, float]:
    """R_N at every ``t`` from the fit above ``t_from``; and the fit's slope dR/dlnT."""
    above = t >= t_from
    if above.sum() >= 4 and np.ptp(t[above]) > 0.02:
        b, a = np.polyfit(np.log(t[above]), res[above], 1)
        return a + b * np.log(t), float(b)
    if above.any():
        return np.full_like(t, float(np.median(res[above]))), 0.0
    return np.full_like(t, float(np.max(res))), 0.0


def tc_criteria(temperature: Any, resistance: Any, direction: str = "") -> TcResult:
    """The Tc criteria (module docstring) of one sweep: ``temperature`` (K) and
    ``resistance`` (Ω) readings in any order."""
    order = np.argsort(np.asarray(temperature, float))[::-1]
    t = np.asarray(temperature, float)[order]
    res = np.asarray(resistance, float)[order]
    out = TcResult(direction, int(t.size))
    if t.size < 6:
        out.message = "fewer than 6 readings"
        return out
    top = float(np.percentile(res, 95))
    rough50, _ = _crossing(t, res / top, 0.5)
    rough90, _ = _crossing(t, res / top, 0.9)
    rough10, _ = _crossing(t, res / top, 0.1)
    if not math.isfinite(rough50):
        out.message = "no transition in the readings"
        return out
    rough_width = rough90 - rough10 if math.isfinite(rough90 - rough10) else 0.03
    r_n, out.normal_slope = _normal_state(t, res, rough50 + max(5 * rough_width, 0.03))
    ratio = res / r_n
    out.onset, _ = _crossing(t, ratio, 0.9)
    out.midpoint, k = _crossing(t, ratio, 0.5)
    out.ten_percent, _ = _crossing(t, ratio, 0.1)
    out.width = out.onset - out.ten_percent
    out.r_normal = float(np.interp(out.midpoint, t[::-1], r_n[::-1]))
    _midpoint_error(out, t, res, k)
    _zero(out, t, res, r_n)
    return out


def _midpoint_error(out: TcResult, t: np.ndarray, res: np.ndarray, k: int) -> None:
    """σ of the midpoint: σ_R/|dR/dT| ⊕ step/√12 (module docstring)."""
    if k < 1:
        return
    step = abs(float(t[k - 1] - t[k]))
    slope = abs(float(res[k - 1] - res[k])) / max(step, 1e-9)
    low = t < out.ten_percent - max(out.width, 0.01)
    sigma_r = float(np.std(res[low])) if low.sum() >= 3 else 0.0
    from_noise = sigma_r / slope if slope > 0 else math.inf
    out.midpoint_error = math.hypot(from_noise, step / math.sqrt(12.0))


def _zero(out: TcResult, t: np.ndarray, res: np.ndarray, r_n: np.ndarray) -> None:
    """The zero-resistance criterion (highest T below which all readings are ~0)."""
    low = t < out.ten_percent - max(out.width, 0.01)
    sigma = float(np.std(res[low])) if low.sum() >= 3 else 0.0
    out.zero_threshold = max(0.01 * out.r_normal, 3.0 * sigma)
    ascending_above = (res[::-1] >= out.zero_threshold).astype(bool)  # t ascending
    first_above = np.flatnonzero(ascending_above)
    if first_above.size == 0 or first_above[0] == 0:
        out.message = (out.message + "; " if out.message else "") + "no zero-resistance state"
        return
    k = int(first_above[0])
    ta, ra = t[::-1], res[::-1]
    level = out.zero_threshold
    out.zero = float(ta[k - 1] + (level - ra[k - 1]) * (ta[k] - ta[k - 1]) / (ra[k] - ra[k - 1]))


def _heating_threshold(config_yaml: str) -> float:
    try:
        doc = yaml.safe_load(config_yaml) or {}
        value = (doc.get("parameters") or {}).get("heating_power_warning")
        return DEFAULT_HEATING_WARNING if value is None else float(value)
    except (yaml.YAMLError, AttributeError, TypeError, ValueError):
        return DEFAULT_HEATING_WARNING


def transport_analysis(path: str | Path) -> TransportAnalysis:
    """The criteria of every sweep direction of a transport run, combined (no writing)."""
    data = load_transport(path)
    direction = data["segments"][:, 2][data["segment"]] if data["segment"].size else []
    names = {1: "up", -1: "down", 0: "steps"}
    sweeps = {}
    for code, name in names.items():
        mask = np.asarray(direction) == code
        if mask.sum():
            sweeps[name] = tc_criteria(data["temperature"][mask], data["resistance"][mask], name)
    out = TransportAnalysis(Path(path), sweeps)
    if data["power"].size:
        out.max_power = float(np.max(data["power"]))
        out.excitation = float(np.median(data["excitation"]))
    _combine(out)
    _warn(out, _heating_threshold(data["config_yaml"]))
    return out


def _combine(out: TransportAnalysis) -> None:
    """Tc = mean over the directions; error: statistical ⊕ |lag|/2."""
    good = [s for s in out.sweeps.values() if math.isfinite(s.midpoint)]
    if not good:
        return
    mids = np.array([s.midpoint for s in good])
    errs = np.array([s.midpoint_error for s in good])
    out.tc = float(mids.mean())
    statistical = float(np.sqrt(np.nansum(errs**2))) / len(good)
    up, down = out.sweeps.get("up"), out.sweeps.get("down")
    if up is not None and down is not None:
        out.lag = up.midpoint - down.midpoint
    systematic = abs(out.lag) / 2 if math.isfinite(out.lag) else 0.0
    out.tc_error = math.hypot(statistical, systematic)


def _warn(out: TransportAnalysis, heating: float) -> None:
    if heating > 0 and math.isfinite(out.max_power) and out.max_power > heating:
        out.warnings.append(
            f"excitation power up to {out.max_power:.3g} W (> {heating:.3g} W): the film "
            "self-heats, its transition appears at a lower temperature; lower the excitation"
        )
    for s in out.sweeps.values():
        if s.message:
            out.warnings.append(f"{s.direction}: {s.message}")


#: units of the stored TcResult fields (temperatures K unless named here)
_FIELD_UNITS = {"n_points": "", "r_normal": "Ohm", "zero_threshold": "Ohm", "normal_slope": "Ohm"}
#: the CSV's columns: (column, TcResult field)
_CSV_COLUMNS = (
    ("direction", "direction"),
    ("n_points", "n_points"),
    ("r_normal_Ohm", "r_normal"),
    ("onset_K", "onset"),
    ("midpoint_K", "midpoint"),
    ("midpoint_error_K", "midpoint_error"),
    ("ten_percent_K", "ten_percent"),
    ("zero_K", "zero"),
    ("width_K", "width"),
    ("zero_threshold_Ohm", "zero_threshold"),
    ("message", "message"),
)


def transport_result_group(an: TransportAnalysis) -> ResultGroup:
    """The results as stored under ``/entry/analysis`` (attrs: the criteria stated; one
    group per direction; tc, tc_error, lag, excitation, max_power with units)."""
    group = ResultGroup(
        attrs={
            "kind": "transport",
            "criteria": [f"{k}: {v}" for k, v in CRITERIA.items()],
            "warnings": list(an.warnings) or [""],
        },
        datasets={
            "tc": (an.tc, "K", "Tc, midpoint (50 % R_N), mean of the directions"),
            "tc_error": (an.tc_error, "K", "one-sigma error of tc (statistical + lag/2)"),
            "lag": (an.lag, "K", "Tc(up) - Tc(down)"),
            "excitation": (an.excitation, "A", "film excitation current"),
            "max_power": (an.max_power, "W", "largest excitation power in the film"),
        },
    )
    for name, s in an.sweeps.items():
        sub = ResultGroup(attrs={"direction": name, "message": s.message})
        for key, value in asdict(s).items():
            if key not in ("direction", "message"):
                sub.datasets[key] = (value, _FIELD_UNITS.get(key, "K"), CRITERIA.get(key, ""))
        group.groups[f"transport_{name}"] = sub
    return group


def write_transport_csv(an: TransportAnalysis, path: str | Path) -> Path:
    """One row per direction and a "combined" row (units in the column names)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=[c for c, _ in _CSV_COLUMNS])
        w.writeheader()
        for s in an.sweeps.values():
            d = asdict(s)
            w.writerow({column: _fmt(d[name]) for column, name in _CSV_COLUMNS})
        combined = {"direction": "combined", "midpoint_K": _fmt(an.tc)}
        combined.update(midpoint_error_K=_fmt(an.tc_error), message=f"lag {_fmt(an.lag)} K")
        w.writerow(combined)
    return path


def _fmt(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


def analyze_transport(path: str | Path, *, store: bool = True) -> TransportAnalysis:
    """Analyse a transport run: the criteria per direction and combined; with ``store``
    the results replace ``/entry/analysis`` of the (closed) run file and
    ``RUN.analysis.csv`` is written next to it."""
    an = transport_analysis(path)
    if store:
        write_analysis(Path(path), transport_result_group(an), program="andreev analyze")
        path = Path(path)
        write_transport_csv(an, path.with_name(path.stem + ".analysis.csv"))
    return an


def transport_summary(an: TransportAnalysis) -> str:
    """A short text report of the criteria (returned, never printed here)."""
    lines = [
        f"{an.path.name}: transport R(T), {sum(s.n_points for s in an.sweeps.values())} readings"
    ]
    lines.append(f" {'sweep':<6} {'onset/K':>8} {'50 %/K':>14} {'10 %/K':>8} {'zero/K':>8} "
                 f"{'width/mK':>9} {'R_N/Ω':>9}")  # fmt: skip
    for s in an.sweeps.values():
        lines.append(
            f" {s.direction:<6} {s.onset:8.4f} {s.midpoint:8.4f}±{s.midpoint_error:.4f} "
            f"{s.ten_percent:8.4f} {s.zero:8.4f} {s.width * 1e3:9.1f} {s.r_normal:9.1f}"
        )
    lines.append(f"Tc (50 % R_N) = {an.tc:.4f} ± {an.tc_error:.4f} K; lag up − down = "
                 f"{an.lag * 1e3:.1f} mK")  # fmt: skip
    lines += [f"warning: {w}" for w in an.warnings]
    return "\n".join(lines)
