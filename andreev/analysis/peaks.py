"""In-gap (Andreev) peaks from d²I/dV² (the closing of Δc(T): ``andreev.analysis.closing``).

d²I/dV² is the derivative of the measured dI/dV taken by a Savitzky–Golay smoothing
derivative (``scipy.signal.savgol_filter``, ``deriv=1``). Its window is not fixed:

- it spans the lock-in modulation's FWHM (2.45 V_rms), or half the total resolution
  (thermal 3.53 k_B T and lock-in FWHM in quadrature) when that is wider — the data hold
  nothing narrower than the modulation, so a narrower window only adds noise, while a
  window much wider than half the resolution would itself shift the peaks;
- it is widened further only if the noise requires it, until the white-noise std of the
  derivative, σ·‖c‖ (``c`` the filter coefficients, σ the point noise of dI/dV), falls
  below ``NOISE_TARGET`` × G_N / resolution (the slope of a feature of full height and
  resolution width).

A peak of dI/dV at +V shows in d²I/dV² as a positive lobe just inside and a negative lobe
just outside, crossing zero at the peak (mirror image at −V, d²I/dV² being odd). Where a
peak merges with a larger neighbour into a shoulder the lobes remain but no longer
straddle zero; the crossing is then taken at the lobes' mid-level. A feature counts only
if the drop between its lobes exceeds ``threshold`` × √2 × σ(d²I/dV²) on *both* bias signs
and the two positions agree within the tolerance; otherwise the result is "no peak"
(``found=False``, ``gap_c`` NaN) — never a made-up value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import find_peaks, savgol_coeffs, savgol_filter

from andreev import physics
from andreev.analysis.spectrum import high_bias_conductance, noise_sigma

#: target derivative noise, as a fraction of G_N / resolution FWHM (see module doc)
NOISE_TARGET = 0.02
#: polynomial order of the Savitzky–Golay derivative
POLYORDER = 3
#: default significance, in units of the noise of the lobe-to-lobe drop
THRESHOLD = 5.0


def resolution_fwhm(temperature: float, v_mod_rms: float) -> float:
    """Energy resolution (V): thermal 3.53 k_B T and lock-in 2.45 V_rms FWHM in quadrature."""
    thermal = 3.53 * physics.K_B_EV * max(float(temperature), 0.0)
    lockin = 2.45 * max(float(v_mod_rms), 0.0)
    return math.hypot(thermal, lockin)


def _uniform(bias: np.ndarray, didv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, finite, uniformly spaced copy (interpolated if the steps are uneven)."""
    bias = np.asarray(bias, dtype=float)
    didv = np.asarray(didv, dtype=float)
    ok = np.isfinite(bias) & np.isfinite(didv)
    b, g = bias[ok], didv[ok]
    order = np.argsort(b, kind="stable")
    b, g = b[order], g[order]
    b, idx = np.unique(b, return_index=True)
    g = g[idx]
    if b.size > 2:
        steps = np.diff(b)
        if np.ptp(steps) > 1e-3 * np.mean(steps):
            grid = np.linspace(b[0], b[-1], b.size)
            g = np.interp(grid, b, g)
            b = grid
    return b, g


def _deriv_noise_gain(window: int, step: float, polyorder: int = POLYORDER) -> float:
    """‖c‖: white noise σ in dI/dV becomes σ·‖c‖ in the SG derivative (units 1/V)."""
    c = savgol_coeffs(window, polyorder, deriv=1, delta=step)
    return float(np.sqrt(np.sum(c**2)))


def smoothing_window(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    noise: float | None = None,
) -> int:
    """Savitzky–Golay window (odd number of points) for d²I/dV² of this spectrum.

    bias (V), didv (S), temperature (K), v_mod_rms (V rms), noise (S; estimated from the
    data when None). See the module docstring for the rule.
    """
    b, g = _uniform(bias, didv)
    n = b.size
    min_win = POLYORDER + 2 if (POLYORDER + 2) % 2 else POLYORDER + 3
    max_win = max(min_win, (n // 5) | 1)
    if n < min_win + 2:
        return min_win
    step = float(np.mean(np.diff(b)))
    res = max(resolution_fwhm(temperature, v_mod_rms), step)
    base = max(2.45 * max(float(v_mod_rms), 0.0), 0.5 * res)
    win = max(min_win, round(base / step) | 1)
    sigma = noise_sigma(g, b) if noise is None else float(noise)
    g_scale = abs(high_bias_conductance(b, g))
    if math.isfinite(sigma) and sigma > 0 and g_scale > 0:
        target = NOISE_TARGET * g_scale / res
        while win < max_win and sigma * _deriv_noise_gain(win, step) > target:
            win += 2
    return int(min(win, max_win))


def second_derivative(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    window: int | None = None,
    noise: float | None = None,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """d²I/dV² (S/V) of a measured dI/dV by a Savitzky–Golay smoothing derivative.

    ``noise`` (S) is the point noise of dI/dV (estimated from the data when None).
    Returns (bias V sorted/uniform, d2 S/V, window points, noise std of d2 S/V).
    """
    b, g = _uniform(bias, didv)
    if b.size < POLYORDER + 3:
        return b, np.full_like(b, np.nan), 0, float("nan")
    step = float(np.mean(np.diff(b)))
    if window is None:
        window = smoothing_window(b, g, temperature=temperature, v_mod_rms=v_mod_rms, noise=noise)
    window = int(window) | 1
    window = min(window, b.size if b.size % 2 else b.size - 1)
    d2 = savgol_filter(g, window, POLYORDER, deriv=1, delta=step, mode="interp")
    point = noise_sigma(g, b) if noise is None else float(noise)
    sigma = point * _deriv_noise_gain(window, step)
    return b, d2, window, float(sigma)


@dataclass
class PeakResult:
    """In-gap peak pair of one spectrum.

    ``gap_c`` (eV = V) is the paper's read-out: the mean |V| of the d²I/dV² peaks at the
    change of slope just outside the ±V conductance peaks (the outer lobes, where dI/dV
    falls fastest), as measured — not yet corrected for the smearing shift
    (``andreev.analysis.gap_c``); ``peak_max`` the mean |V| of the dI/dV maxima.
    ``error`` (eV) is the one-sigma error of ``gap_c`` (noise-propagated lobe positions
    and half the ± asymmetry in quadrature); both NaN and
    ``found`` False when there is no significant symmetric pair. ``flag`` is "ok",
    "no peak", "unpaired" (significant on one sign only, or ± disagree) or "merged"
    (dI/dV has one zero-bias maximum: the pair is not resolved). ``significance`` is the
    weaker side's lobe-to-lobe drop over its noise; ``v_plus``/``v_minus`` the positions (V).
    """

    gap_c: float
    error: float
    found: bool
    flag: str
    significance: float = float("nan")
    v_plus: float = float("nan")
    v_minus: float = float("nan")
    window: int = 0
    shoulder: bool = False
    candidates: list[tuple[float, float, float]] = field(default_factory=list)
    peak_max: float = float("nan")


@dataclass
class _Feature:
    pos: float  # |V| of the dI/dV peak (V)
    err: float  # position std from noise (V)
    drop: float  # lobe-to-lobe drop of d2 (S/V)
    shoulder: bool
    lobe: float = float("nan")  # |V| of the outer d²I/dV² lobe: the slope change (V)
    lobe_err: float = float("nan")  # its position std from noise (V)


def _lobe(u: np.ndarray, s: np.ndarray, b: int, sig: float, span: float) -> tuple[float, float]:
    """|V| (V) of the outer lobe (the d²I/dV² extremum at index ``b``) refined by the vertex
    of the parabola through it and its neighbours, and its noise std (V).

    The vertex moves by δ(slope)/curvature; the slope of the smoothed d²I/dV² over a window
    of ``span`` (V) carries noise ≈ √12·σ/span, σ the noise of d²I/dV².
    """
    if not 0 < b < u.size - 1:
        return float(u[b]), float("inf")
    h = float(u[b + 1] - u[b])
    s0, s1, s2 = float(s[b - 1]), float(s[b]), float(s[b + 1])
    curv = (s0 - 2.0 * s1 + s2) / (h * h)
    if not curv > 0:
        return float(u[b]), float("inf")
    x = float(u[b]) + float(np.clip(0.5 * h * (s0 - s2) / (s0 - 2.0 * s1 + s2), -h, h))
    return x, math.sqrt(12.0) * sig / (curv * max(span, h))


def _crossing(
    u: np.ndarray, s: np.ndarray, i0: int, i1: int, level: float, sig: float
) -> tuple[float, float] | None:
    """First downward crossing of ``level`` between indices i0 < i1: (position, noise std)."""
    seg = s[i0 : i1 + 1] - level
    idx = np.nonzero((seg[:-1] >= 0) & (seg[1:] < 0))[0]
    if idx.size == 0:
        return None
    k = i0 + int(idx[0])
    s0, s1 = s[k] - level, s[k + 1] - level
    frac = s0 / (s0 - s1)
    pos = u[k] + frac * (u[k + 1] - u[k])
    slope = abs(s1 - s0) / abs(u[k + 1] - u[k])
    return float(pos), float(sig / slope) if slope > 0 else float("inf")


def _features(
    u: np.ndarray, s: np.ndarray, sig: float, min_drop: float, span: float = 0.0
) -> list[_Feature]:
    """Peak features on one bias sign; u = |V| ascending, s = ±d2 oriented as for V > 0;
    ``span`` (V) the smoothing window (for the lobe's position error)."""
    if u.size < 5:
        return []
    prom = 0.5 * min_drop
    maxima, _ = find_peaks(s, prominence=prom)
    minima, _ = find_peaks(-s, prominence=prom)
    out: list[_Feature] = []
    for a in maxima:
        later_min = minima[minima > a]
        if later_min.size == 0:
            continue
        b = int(later_min[0])
        if np.any((maxima > a) & (maxima < b)):
            continue  # a stronger pairing starts from the next maximum
        drop = float(s[a] - s[b])
        if drop < min_drop:
            continue
        shoulder = not (s[a] > 0 > s[b])
        level = 0.0 if not shoulder else 0.5 * (s[a] + s[b])
        cr = _crossing(u, s, int(a), b, level, sig)
        if cr is None:
            continue
        lobe, lobe_err = _lobe(u, s, b, sig, span)
        out.append(_Feature(cr[0], cr[1], drop, shoulder, lobe, lobe_err))
    return out


def _merged(u: np.ndarray, s: np.ndarray, min_drop: float, limit: float) -> bool:
    """True if dI/dV has a single zero-bias maximum: d2 falls from ~0 at V=0 to a dip."""
    sel = u < limit
    if np.count_nonzero(sel) < 3:
        return False
    ss = s[sel]
    return bool(ss.min() < -min_drop and ss[: max(int(np.argmin(ss)), 1)].max() < 0.5 * min_drop)


#: noise realisations of the lobe-position error (``_lobe_scatter``)
SCATTER_DRAWS = 24


def _noise_gain_of(u: np.ndarray, window: int) -> float:
    """‖c‖ of the derivative filter on the uniform grid ``u`` (V)."""
    return _deriv_noise_gain(window, float(np.mean(np.diff(u))))


def _lobe_near(u: np.ndarray, s: np.ndarray, x0: float, half: float) -> float:
    """|V| (V) of the d²I/dV² minimum of ``s`` within ``half`` (V) of ``x0`` (refined)."""
    sel = np.nonzero(np.abs(u - x0) <= half)[0]
    if sel.size < 3:
        return float("nan")
    b = int(sel[np.argmin(s[sel])])
    return _lobe(u, s, b, 0.0, 1.0)[0]


def _lobe_scatter(
    bias: np.ndarray, didv: np.ndarray, window: int, point_noise: float, fp: _Feature, fn: _Feature
) -> tuple[float, float]:
    """Noise std (V) of the two lobe positions, by re-reading them after adding
    ``SCATTER_DRAWS`` seeded draws of the measured white noise ``point_noise`` (S) to dI/dV:
    the read-out moves by as much as the noise already in the data moves it."""
    b, g = _uniform(bias, didv)
    step = float(np.mean(np.diff(b)))
    half = max(0.5 * window * step, 2.0 * step)
    rng = np.random.default_rng(20261129)
    pos, neg = [], []
    for _ in range(SCATTER_DRAWS):
        gk = g + point_noise * rng.standard_normal(g.size)
        d2 = savgol_filter(gk, window, POLYORDER, deriv=1, delta=step, mode="interp")
        pos.append(_lobe_near(b[b > 0], d2[b > 0], fp.lobe, half))
        neg.append(_lobe_near(-b[b < 0][::-1], -d2[b < 0][::-1], fn.lobe, half))
    return float(np.nanstd(pos)), float(np.nanstd(neg))


def find_andreev_peaks(
    bias: np.ndarray,
    didv: np.ndarray,
    *,
    temperature: float,
    v_mod_rms: float,
    gap: float | None = None,
    threshold: float = THRESHOLD,
    tolerance: float | None = None,
    window: int | None = None,
    noise: float | None = None,
    scatter: bool = True,
) -> PeakResult:
    """Find the symmetric in-gap peak pair ±Δc of a dI/dV spectrum on d²I/dV².

    bias (V), didv (S), temperature (K, measured), v_mod_rms (V rms) set the smoothing;
    ``gap`` (eV) is the single-particle gap (e.g. from a tunnelling fit) — only features
    at least one resolution width inside it count; when None the outermost significant
    peak pair is taken as the coherence peaks. ``threshold`` is the significance (in noise
    std) both sides must reach; ``tolerance`` (V) is the largest |V+ − V−| accepted
    (default: max(2 bias steps, resolution/2)); ``noise`` (S) the point noise of dI/dV
    (estimated from the data when None); ``scatter`` False skips the noise draws of the
    position error (for noise-free model curves; ``error`` is then the ± asymmetry only).
    """
    u_all, d2, win, sig = second_derivative(
        bias, didv, temperature=temperature, v_mod_rms=v_mod_rms, window=window, noise=noise
    )
    if win == 0 or not math.isfinite(sig):
        return PeakResult(float("nan"), float("nan"), False, "no peak", window=win)
    step = float(np.mean(np.diff(u_all)))
    res = max(resolution_fwhm(temperature, v_mod_rms), step)
    sig = max(sig, 1e-300)
    min_drop = threshold * math.sqrt(2.0) * sig
    tol = tolerance if tolerance is not None else max(2.0 * step, 0.5 * res)

    pos = u_all > 0
    neg = u_all < 0
    u_p, s_p = u_all[pos], d2[pos]
    u_n, s_n = -u_all[neg][::-1], -d2[neg][::-1]
    span = win * step
    feats_p = _features(u_p, s_p, sig, min_drop, span)
    feats_n = _features(u_n, s_n, sig, min_drop, span)

    if gap is None or not (math.isfinite(gap) and gap > 0):
        outer = [f.pos for f in feats_p + feats_n if not f.shoulder]
        gap_lim = max(outer) if outer else float(np.max(np.abs(u_all)))
    else:
        gap_lim = float(gap)
    limit = gap_lim - res
    feats_p = [f for f in feats_p if f.pos < limit]
    feats_n = [f for f in feats_n if f.pos < limit]
    cands = [(f.pos, f.drop / (math.sqrt(2.0) * sig), 1.0) for f in feats_p] + [
        (-f.pos, f.drop / (math.sqrt(2.0) * sig), -1.0) for f in feats_n
    ]

    best: tuple[float, _Feature, _Feature] | None = None
    for fp in feats_p:
        for fn in feats_n:
            if abs(fp.pos - fn.pos) <= tol:
                score = min(fp.drop, fn.drop)
                if best is None or score > best[0]:
                    best = (score, fp, fn)
    if best is None:
        merged = _merged(u_p, s_p, min_drop, limit) and _merged(u_n, s_n, min_drop, limit)
        flag = "merged" if merged else ("unpaired" if feats_p or feats_n else "no peak")
        return PeakResult(float("nan"), float("nan"), False, flag, window=win, candidates=cands)
    _, fp, fn = best
    gap_c = 0.5 * (fp.lobe + fn.lobe)
    e_p, e_n = (
        _lobe_scatter(bias, didv, win, sig / _noise_gain_of(u_all, win), fp, fn)
        if scatter
        else (0.0, 0.0)
    )
    stat2 = 0.25 * (e_p**2 + e_n**2)
    # half the ± difference has variance stat2 from noise alone: count only its excess
    asym2 = (0.5 * (fp.lobe - fn.lobe)) ** 2
    err = math.sqrt(stat2 + max(asym2 - stat2, 0.0))
    return PeakResult(
        gap_c=float(gap_c),
        error=float(err),
        found=bool(math.isfinite(err)),
        flag="ok" if math.isfinite(err) else "no peak",
        significance=float(min(fp.drop, fn.drop) / (math.sqrt(2.0) * sig)),
        v_plus=float(fp.lobe),
        v_minus=float(-fn.lobe),
        peak_max=float(0.5 * (fp.pos + fn.pos)),
        window=win,
        shoulder=fp.shoulder or fn.shoulder,
        candidates=cands,
    )
