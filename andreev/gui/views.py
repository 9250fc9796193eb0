"""What the live panels draw, computed from a :class:`~andreev.gui.reader.RunSnapshot`
(numpy only, no Qt, so it is tested without a display).

- spectra: dI/dV normalised by the sweep's g_normal (the nominal I_set/V_set for the
  sweep in progress), on the run's bias grid;
- the d²I/dV² map: one row per outer step at one setpoint and direction, d²I/dV²/G_N in
  1/V by the analysis' Savitzky–Golay derivative (rows not measured yet are NaN; the
  sweep in progress fills its row over the points measured so far);
- the temperature timeline in world seconds since the run started: the settling waits,
  the per-sweep temperatures, and for a temperature series the setpoint with its band;
- the status lines (sweep i of N, exit status, ETA, last log line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from andreev.gui.reader import RunSnapshot

__all__ = [
    "Timeline",
    "d2_row",
    "eta_seconds",
    "format_duration",
    "latest_index",
    "normalised_spectrum",
    "status_lines",
    "temperature_band",
    "temperature_timeline",
]

Index = tuple[int, int, int]


def nominal_g_normal(snap: RunSnapshot, j: int) -> float:
    """I_set/V_set of setpoint ``j`` (S), what the engine stores as g_normal."""
    v_set = abs(snap.layout.setpoint_bias)
    return float(snap.layout.setpoints[j]) / v_set if v_set > 0 else float("nan")


def normalised_spectrum(snap: RunSnapshot, index: Index) -> tuple[np.ndarray, bool] | None:
    """(dI/dV / G_N on the bias grid, is_live) of sweep ``index``; None when it has no
    finite point. The sweep in progress comes from the live group."""
    i, j, k = index
    live = snap.live
    if live is not None and live.index == index:
        didv, g_n, is_live = live.didv, nominal_g_normal(snap, j), True
    else:
        didv, g_n, is_live = snap.didv[i, j, k], float(snap.g_normal[i, j, k]), False
        if not math.isfinite(g_n) or g_n == 0:
            g_n = nominal_g_normal(snap, j)
    if not np.isfinite(didv).any() or not math.isfinite(g_n) or g_n == 0:
        return None
    return didv / g_n, is_live


def latest_index(snap: RunSnapshot) -> Index | None:
    """The sweep in progress, else the most recently started sweep with data."""
    if snap.live is not None:
        return snap.live.index
    ts = np.where(np.isfinite(snap.timestamp), snap.timestamp, -np.inf)
    if not np.isfinite(ts).any():
        return None
    i, j, k = np.unravel_index(int(np.argmax(ts)), ts.shape)
    return int(i), int(j), int(k)


def d2_row(snap: RunSnapshot, index: Index) -> np.ndarray:
    """d²I/dV² / G_N (1/V) of sweep ``index`` on the bias grid; NaN where unmeasured."""
    from andreev.analysis.peaks import second_derivative

    bias = snap.layout.bias
    out = np.full(bias.shape, np.nan)
    spec = normalised_spectrum(snap, index)
    if spec is None:
        return out
    g, _ = spec
    ok = np.isfinite(g)
    # the measured points of a sweep form one contiguous run of the grid
    idx = np.flatnonzero(ok)
    if idx.size < 7:
        return out
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if not ok[lo:hi].all():
        return out
    temperature = float(snap.temperature[index])
    if not math.isfinite(temperature) and snap.live is not None:
        temperature = snap.live.temperature
    if not math.isfinite(temperature):
        temperature = 0.05
    order = np.argsort(bias[lo:hi])
    b, d2, _, _ = second_derivative(
        bias[lo:hi][order],
        g[lo:hi][order],
        temperature=temperature,
        v_mod_rms=snap.layout.v_mod_rms,
    )
    if b.size == hi - lo:
        out[lo:hi][order] = d2
    return out


def temperature_band(snap: RunSnapshot, target: float) -> float:
    """Half-width (K) of the suspender's band around ``target`` (K): the experiment's
    ``temperature_band``, or when that is 0 the TemperatureSeries default
    max(2 % T, 2 mK) (procedures/temperature.py)."""
    given = float(snap.layout.parameters.get("temperature_band", 0.0) or 0.0)
    return given or max(0.02 * target, 2e-3)


@dataclass
class Timeline:
    """Temperature against world time since the run began (s, K).

    ``settling``: one (t, T) per settling wait, placed to end where the first sweep of
    its step began (the approach in between takes seconds) or, before that sweep, to
    begin after the previous step's last sweep or wait; ``sweeps``: (t, T) of
    every sweep with a temperature; ``setpoint``: step curve (t, T_set) and ``band``
    (t, lower, upper), empty unless the outer axis is a temperature.
    """

    settling: list[tuple[np.ndarray, np.ndarray]]
    sweeps: tuple[np.ndarray, np.ndarray]
    setpoint: tuple[np.ndarray, np.ndarray]
    band: tuple[np.ndarray, np.ndarray, np.ndarray]
    speedup: float


def _world(snap: RunSnapshot, unix: np.ndarray | float) -> np.ndarray:
    return (np.asarray(unix, dtype=float) - snap.layout.start_unix) * snap.layout.speedup


def _step_start(snap: RunSnapshot, i: int) -> float | None:
    """Unix time of the first sweep of outer step ``i`` (live included), or None."""
    ts = snap.timestamp[i]
    candidates = list(ts[np.isfinite(ts)])
    if snap.live is not None and snap.live.index[0] == i:
        candidates.append(snap.live.started)
    return float(min(candidates)) if candidates else None


def _place_settling(snap: RunSnapshot, i: int, t: np.ndarray, cursor: float) -> np.ndarray:
    """World times (s since the start) of settling trace ``t`` of outer step ``i``: ending
    where the step's first sweep began; else (no sweep of that step) starting at
    ``cursor``, the end of what came before it."""
    start = _step_start(snap, i)
    if start is not None:
        return float(_world(snap, start)) - (t[-1] - t)
    return cursor + (t - t[0])


def temperature_timeline(snap: RunSnapshot) -> Timeline:
    """The temperature panel's curves (see :class:`Timeline`)."""
    settling = []
    step_starts: dict[int, float] = {}
    cursor = 0.0  # world s: end of the last sweep or wait placed so far
    for trace in sorted(snap.settling, key=lambda tr: tr.outer_index):
        i = trace.outer_index
        before = snap.timestamp[:i][np.isfinite(snap.timestamp[:i])]
        if before.size:
            cursor = max(cursor, float(_world(snap, before.max())))
        if trace.t.size == 0:
            continue
        t = _place_settling(snap, i, trace.t, cursor)
        settling.append((t, trace.temperature))
        step_starts[i] = float(t[0])
        cursor = max(cursor, float(t[-1]))
    ok = np.isfinite(snap.timestamp) & np.isfinite(snap.temperature)
    order = np.argsort(snap.timestamp[ok])
    sweeps = (_world(snap, snap.timestamp[ok][order]), snap.temperature[ok][order])
    if snap.live is not None and math.isfinite(snap.live.temperature):
        sweeps = (
            np.append(sweeps[0], _world(snap, snap.live.updated)),
            np.append(sweeps[1], snap.live.temperature),
        )
    setpoint, band = _setpoint_curves(snap, step_starts, sweeps[0])
    return Timeline(settling, sweeps, setpoint, band, snap.layout.speedup)


def _setpoint_curves(
    snap: RunSnapshot, starts: dict[int, float], sweep_t: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Step curves of T_set and its band over the steps that have begun."""
    empty = np.array([])
    if snap.layout.outer_unit != "K":
        return (empty, empty), (empty, empty, empty)
    begun: dict[int, float] = dict(starts)
    for i in range(snap.layout.outer_values.size):
        start = _step_start(snap, i)
        if start is not None:
            begun.setdefault(i, float(_world(snap, start)))
    if not begun:
        return (empty, empty), (empty, empty, empty)
    now = float(_world(snap, snap.read_at)) if snap.exit_status == "running" else -np.inf
    end = max([now, *sweep_t, *begun.values()])
    steps = sorted(begun.items(), key=lambda item: item[1])
    t, target = [], []
    for n, (i, t0) in enumerate(steps):
        t1 = steps[n + 1][1] if n + 1 < len(steps) else end
        value = float(snap.layout.outer_values[i])
        t += [t0, t1]
        target += [value, value]
    t_arr, target_arr = np.asarray(t), np.asarray(target)
    half = np.asarray([temperature_band(snap, v) for v in target_arr])
    return (t_arr, target_arr), (t_arr, target_arr - half, target_arr + half)


def format_duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``12 s``."""
    if not math.isfinite(seconds):
        return "—"
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{seconds:.0f} s"


def eta_seconds(snap: RunSnapshot) -> float:
    """Wall seconds until the run ends, from the pace of the finished sweeps (gaps of a
    resume are left out); NaN when it cannot be told or the run is over."""
    if snap.exit_status != "running" or snap.writer_alive is False:
        return float("nan")
    remaining = snap.n_sweeps - snap.n_finished - snap.n_failed
    if remaining <= 0:
        return 0.0
    ts = np.sort(snap.timestamp[snap.finished & np.isfinite(snap.timestamp)])
    if ts.size < 2:
        return float("nan")
    gaps = np.diff(ts)
    gaps = gaps[gaps <= 10 * np.median(gaps) + 1e-9]
    per_sweep = float(np.mean(gaps))
    # the sweep under way has been going since the last one started (at most one sweep)
    under_way = min(max(0.0, snap.read_at - float(ts[-1])), per_sweep)
    return per_sweep * remaining - under_way


def _describe_sweep(snap: RunSnapshot, index: Index) -> str:
    i, j, k = index
    lay = snap.layout
    unit = f" {lay.outer_unit}" if lay.outer_unit else ""
    return (
        f"{lay.outer_dim} = {lay.outer_values[i]:.4g}{unit}, "
        f"setpoint {lay.setpoints[j]:.3g} A, {lay.directions[k]}"
    )


def _state(snap: RunSnapshot) -> str:
    if snap.exit_status != "running":
        return snap.exit_status
    if snap.writer_alive is False:
        return "cut (the writer is gone; continue with andreev run --resume)"
    return "running"


def status_lines(snap: RunSnapshot) -> list[str]:
    """Lines of the status panel: run, sweep i of N, state and ETA, last log line."""
    lay = snap.layout
    done, total = snap.n_finished, snap.n_sweeps
    lines = [f"{lay.path.name}: {lay.experiment_name or '?'} ({lay.procedure or '?'})"]
    current = snap.live.index if snap.live is not None else None
    if snap.exit_status == "running" and snap.writer_alive is not False:
        number = min(done + snap.n_failed + 1, total)
        text = f"sweep {number} of {total}"
        if current is not None:
            n_pts = snap.live.n_points if snap.live is not None else 0
            text += f" ({_describe_sweep(snap, current)}: {n_pts}/{lay.bias.size} points)"
    else:
        text = f"{done} of {total} sweeps taken"
    if snap.n_failed:
        text += f", {snap.n_failed} failed"
    lines.append(text)
    state = f"status: {_state(snap)}"
    if snap.exit_status == "running" and snap.writer_alive is not False:
        state += f", ETA {format_duration(eta_seconds(snap))}"
    elif snap.end_time:
        state += f", ended {snap.end_time[:19].replace('T', ' ')}"
    lines.append(state)
    lines.append(f"log: {snap.log_line}" if snap.log_line else "log: (no RUN.log)")
    return lines
