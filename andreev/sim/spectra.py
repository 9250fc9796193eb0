"""Tabulated spectra of one film for the simulator: dI/dV and I(V) in microseconds.

:class:`FilmSpectra` tabulates the normalised channels of a
:class:`~andreev.physics.FilmModel` on a bias grid and answers scalar requests in pure
Python (no numpy call per request) and whole sweeps with one ``np.interp``:

- **Grid.** Fine (step max(:data:`FINE_STEP`, min(k_B T, V_rms)/8), a fraction of the
  narrowest smeared feature) over ±F, F = max(:data:`FINE_HALF_WIDTH`, 8 Δ + 40 k_B T +
  4 V_p), where the structure is; coarse (step :data:`COARSE_STEP`) from F out to the
  table's half-width W (≥ max_bias). Out there N(E) − 1 ≈ Δ²/2E² is smooth on the
  scale of the smearing (its correction is < 1e-7), so the coarse channels are the
  unsmeared ones at the temperature's parameters. Beyond W: dI/dV is held at its edge
  value and I(V) continues linearly.
- **Temperature.** Tables sit on temperature nodes evenly spaced in ln T, 10 % apart
  below 0.3 Tc (where only the thermal smearing changes) and 4 % above (where Γ(T) and
  Δc(T) move), linear interpolation between the two nodes around T (second order: a few
  1e-3 of the sharpest Andreev peak): the cache key never holds the drifting exact
  temperature, and a ramp from base to 1 K builds ~30 tables. Below :data:`T_MIN` the
  T = 0 table. The two nodes' channel values at a request's bias are remembered, so a
  new temperature between the same nodes costs one logarithm and the weights (a few
  µs per control interval while the fridge warms, not a table lookup per channel).
- **G_N.** The preformed kind is linear in its two channels, G = G_N (c0 + mix(G_N) c1):
  no G_N in the key. The bcs kind depends on G_N through the transparency: nodes 1 %
  apart in ln τ (as :meth:`FilmModel.current`), linear between them.
- **Lock-in.** dI/dV tables carry the lock-in smearing of the modulation (a key: it
  takes discrete SLVL values); I(V) tables are thermally smeared only.

The numbers are :meth:`FilmModel.conductance`'s: the channels are the ones it sums
(:func:`andreev.physics.dynes_conductance`, :func:`andreev.physics.smeared` of the
Andreev coefficient, the bcs kind through :meth:`FilmModel.conductance` itself).
"""

from __future__ import annotations

import dataclasses
import math
from array import array
from collections import OrderedDict
from typing import Any

import numpy as np

from andreev.physics import (
    G0,
    K_B_EV,
    FilmModel,
    andreev_coefficients,
    bcs_gap,
    dynes_conductance,
    dynes_dos,
    smeared,
)

__all__ = ["FilmSpectra", "film_key"]

FINE_STEP = 1e-6  # V, at least; k_B T/8 and V_rms/8 when wider
FINE_HALF_WIDTH = 4e-3  # V, at least
COARSE_STEP = 20e-6  # V
#: ln-T spacing of the temperature nodes below and above T_SPLIT · Tc
LN_T_STEP_LOW = 0.10
LN_T_STEP_HIGH = 0.04
T_SPLIT = 0.3
T_MIN = 1e-3  # K
TAU_STEP = 0.01  # ln τ spacing of the bcs kind's transparency nodes
TABLES_PER_FILM = 12


def film_key(film: FilmModel) -> tuple[Any, ...]:
    """The parameters that define ``film``'s spectra (hashable)."""
    return tuple(getattr(film, f.name) for f in dataclasses.fields(film) if f.init)


def _doubles(values: np.ndarray) -> array:
    """``values`` as an array('d') (a bytes copy: no Python float per element)."""
    out = array("d")
    out.frombytes(np.ascontiguousarray(values, dtype=float).tobytes())
    return out


class _Curve:
    """One tabulated channel: fine table over ±F, coarse tables from F to W on each side."""

    __slots__ = (
        "arrays",
        "coarse_neg",
        "coarse_pos",
        "fine",
        "half",
        "hc_inv",
        "hf_inv",
        "nc",
        "nf",
        "w",
    )

    def __init__(
        self, fine: np.ndarray, pos: np.ndarray, neg: np.ndarray, half: float, width: float
    ) -> None:
        # array('d'): indexing gives Python floats (no numpy scalar per request)
        self.fine, self.coarse_pos, self.coarse_neg = (_doubles(a) for a in (fine, pos, neg))
        #: numpy views (fine, coarse_pos, coarse_neg) of the same memory
        self.arrays = tuple(np.frombuffer(a) for a in (self.fine, self.coarse_pos, self.coarse_neg))
        self.half, self.w = half, width
        self.nf, self.nc = len(fine) - 1, len(pos) - 1
        self.hf_inv = self.nf / (2.0 * half)
        self.hc_inv = self.nc / (width - half) if width > half else 0.0

    def at(self, v: float) -> float:
        """Linear interpolation at bias ``v`` (V), pure Python."""
        if -self.half < v < self.half:
            x = (v + self.half) * self.hf_inv
            i = int(x)
            f = x - i
            a = self.fine
            return a[i] + f * (a[i + 1] - a[i]) if i < self.nf else a[i]
        table = self.coarse_pos if v > 0 else self.coarse_neg
        x = (abs(v) - self.half) * self.hc_inv
        if x >= self.nc:
            return table[self.nc]
        i = int(x)
        f = x - i
        return table[i] + f * (table[i + 1] - table[i])

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole table as (bias, value) arrays in increasing bias (for ``np.interp``)."""
        fine_v = np.linspace(-self.half, self.half, self.nf + 1)
        coarse_v = np.linspace(self.half, self.w, self.nc + 1)
        fine, pos, neg = self.arrays
        v = np.concatenate((-coarse_v[:0:-1], fine_v, coarse_v[1:]))
        y = np.concatenate((neg[:0:-1], fine, pos[1:]))
        return v, y


class _Table:
    """dI/dV and I(V) channels of one (T node, v_mod, τ node): normalised (G_N = 1)."""

    __slots__ = ("cond", "cur", "grids")

    def __init__(self, cond: list[_Curve], cur: list[_Curve]) -> None:
        self.cond, self.cur = cond, cur
        self.grids: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}

    def arrays(self, which: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """(bias grid, channel values) of the dI/dV (0) or I(V) (1) channels."""
        if which not in self.grids:
            curves = self.cond if which == 0 else self.cur
            pairs = [c.grid() for c in curves]
            self.grids[which] = ([p[0] for p in pairs], [p[1] for p in pairs])
        v, ys = self.grids[which]
        return v[0], ys


class FilmSpectra:
    """Fast dI/dV (S) and I (A) of one film (see the module docstring).

    ``half_width`` (V): the table covers ±half_width (at least the station's max_bias).
    """

    def __init__(self, film: FilmModel, half_width: float = 0.1) -> None:
        self.film = film
        self.width = float(half_width)
        self.bcs = film.kind == "bcs"
        self._tables: OrderedDict[tuple[float, float, int | None], _Table] = OrderedDict()
        self._memo: dict[tuple[float, float, float], list[tuple[_Table, float, float]]] = {}
        self._sums_memo: dict[tuple[int, float, float, float], tuple[float, float]] = {}
        self._node_memo: dict[tuple[float, float, float], tuple[float, ...]] = {}
        self._last_place: tuple[float, tuple[tuple[float, ...], float]] = (math.nan, ((), 0.0))
        self._pairs: dict[tuple[float, int], tuple[float, ...]] = {}
        self._pair_memo: dict[tuple[float, tuple[float, ...], float], tuple[float, ...]] = {}
        self._last_mix: tuple[float, float] = (math.nan, 0.0)

    # ---- nodes --------------------------------------------------------------------
    def _t_nodes(self, t: float) -> tuple[tuple[float, float], ...]:
        """The two temperature nodes around ``t`` (K) and their weights."""
        pair, f = self._t_place(t)
        if len(pair) == 1:
            return ((pair[0], 1.0),)
        return ((pair[0], 1.0 - f), (pair[1], f))

    def _t_place(self, t: float) -> tuple[tuple[float, ...], float]:
        """(the two node temperatures (K) around ``t``, the weight of the upper one), or
        ((0.0,), 0.0) below :data:`T_MIN` (the last answer and the node temperatures are
        remembered: the dI/dV and the current of one request ask for the same T)."""
        last = self._last_place
        if last[0] == t:
            return last[1]
        if t < T_MIN:
            place: tuple[tuple[float, ...], float] = ((0.0,), 0.0)
        else:
            split = T_SPLIT * self.film.tc
            s = math.log(t / split)
            step = LN_T_STEP_LOW if s < 0 else LN_T_STEP_HIGH
            u = s / step
            u0 = math.floor(u)
            pair = self._pairs.get((step, u0))
            if pair is None:
                pair = (split * math.exp(u0 * step), split * math.exp((u0 + 1) * step))
                self._pairs[(step, u0)] = pair
            place = (pair, u - u0)
        self._last_place = (t, place)
        return place

    def _tau_nodes(self, gn: float) -> tuple[tuple[int, float], ...]:
        tau = min(gn / (self.film.n_channels * G0), 1.0)
        u = math.log(tau) / TAU_STEP
        u0 = math.floor(u)
        f = u - u0
        return ((u0, 1.0 - f), (u0 + 1, f))

    def _weights(self, gn: float, t: float, v_mod: float) -> list[tuple[_Table, float, float]]:
        """(table, weight, mix) triples whose weighted sum is the normalised spectrum
        (the last few answers are remembered: requests repeat (G_N, T, v_mod) often)."""
        key = (gn, t, v_mod)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        out = self._weights_new(gn, t, v_mod)
        if len(self._memo) >= 8:
            self._memo.clear()
        self._memo[key] = out
        return out

    def _weights_new(self, gn: float, t: float, v_mod: float) -> list[tuple[_Table, float, float]]:
        out = []
        if self.bcs:
            for tn, wt in self._t_nodes(t):
                for un, wu in self._tau_nodes(gn):
                    if wt * wu != 0.0:
                        out.append((self.table(tn, v_mod, un), wt * wu, 0.0))
            return out
        mix = self.film.andreev_amplitude * self.film.andreev_weight(gn)
        for tn, wt in self._t_nodes(t):
            if wt != 0.0:
                out.append((self.table(tn, v_mod, None), wt, mix))
        return out

    # ---- scalar requests ------------------------------------------------------------
    def _sums(self, which: int, bias: float, t: float, v_mod: float) -> tuple[float, float]:
        """Preformed kind: (Σ w·c0, Σ w·c1) of the dI/dV (0) or I(V) (1) channels over
        the temperature nodes at ``bias``: the spectrum is G_N (s0 + mix(G_N) s1), so a
        moving G_N (the feedback moving the tip) costs no table lookup (remembered).
        A new T between the same two nodes costs only the weights: each node's channel
        values at ``bias`` are remembered too (:meth:`_node_values`)."""
        key = (which, bias, t, v_mod)
        hit = self._sums_memo.get(key)
        if hit is not None:
            return hit
        s0 = s1 = 0.0
        k = 2 * (1 - which)  # the node values are (i0, i1, g0, g1)
        for tn, w in self._t_nodes(t):
            if w != 0.0:
                values = self._node_values(bias, tn, v_mod)
                s0 += w * values[k]
                s1 += w * values[k + 1]
        if len(self._sums_memo) >= 64:
            self._sums_memo.clear()
        self._sums_memo[key] = (s0, s1)
        return s0, s1

    def _node_values(self, bias: float, tn: float, v_mod: float) -> tuple[float, ...]:
        """(i0, i1, g0, g1): the current (A/S) and dI/dV (normalised, smeared by
        ``v_mod``) channels of temperature node ``tn`` (K) at ``bias`` (V) (remembered:
        a table's values never change)."""
        key = (bias, tn, v_mod)
        hit = self._node_memo.get(key)
        if hit is not None:
            return hit
        table = self.table(tn, v_mod, None)
        c, g = table.cur, table.cond
        edge = self.width
        v = min(max(bias, -edge), edge)
        i0, i1 = c[0].at(v), c[1].at(v)
        if v != bias:  # beyond the table: dI/dV (unsmeared) held at its edge value
            g_edge = self.table(tn, 0.0, None).cond if v_mod else g
            i0 += g_edge[0].at(v) * (bias - v)
            i1 += g_edge[1].at(v) * (bias - v)
        out = (i0, i1, g[0].at(bias), g[1].at(bias))
        if len(self._node_memo) >= 256:
            self._node_memo.clear()
        self._node_memo[key] = out
        return out

    def _mix(self, gn: float) -> float:
        """Weight of the preformed kind's Andreev channel at G_N (S) (the last answer is
        remembered)."""
        last = self._last_mix
        if last[0] == gn:
            return last[1]
        mix = self.film.andreev_amplitude * self.film.andreev_weight(gn)
        self._last_mix = (gn, mix)
        return mix

    def conductance(self, bias: float, gn: float, t: float, v_mod: float) -> float:
        """dI/dV (S) at bias (V), G_N (S), T (K), lock-in modulation v_mod (V rms)."""
        if gn <= 0:
            return 0.0
        if not self.bcs:
            s0, s1 = self._sums(0, bias, t, v_mod)
            return gn * (s0 + self._mix(gn) * s1)
        total = 0.0
        for table, w, mix in self._weights(gn, t, v_mod):
            c = table.cond
            g = c[0].at(bias)
            if mix != 0.0:
                g += mix * c[1].at(bias)
            total += w * g
        return gn * total

    def current(self, bias: float, gn: float, t: float) -> float:
        """I (A) at bias (V), G_N (S), T (K): ∫_0^V dI/dV' dV' without lock-in smearing."""
        if gn <= 0:
            return 0.0
        if not self.bcs:
            s0, s1 = self._sums(1, bias, t, 0.0)
            return gn * (s0 + self._mix(gn) * s1)
        total = 0.0
        edge = self.width
        for table, w, mix in self._weights(gn, t, 0.0):
            c = table.cur
            v = min(max(bias, -edge), edge)
            i = c[0].at(v)
            if mix != 0.0:
                i += mix * c[1].at(v)
            if v != bias:  # beyond the table: dI/dV held at its edge value
                g = table.cond[0].at(v) + (mix * table.cond[1].at(v) if mix != 0.0 else 0.0)
                i += g * (bias - v)
            total += w * i
        return gn * total

    def current_and_conductance(
        self, bias: float, gn: float, t: float, v_mod: float
    ) -> tuple[float, float]:
        """(I (A), dI/dV (S)) at bias (V), G_N (S), T (K), modulation v_mod (V rms): the
        values of :meth:`current` and :meth:`conductance`, the temperature nodes and the
        channel values at ``bias`` looked up once for both (what one request needs)."""
        if gn <= 0:
            return 0.0, 0.0
        if self.bcs:
            return self.current(bias, gn, t), self.conductance(bias, gn, t, v_mod)
        pair, f = self._t_place(t)
        if f == 0.0:  # on a node (or below T_MIN): one table
            i0, i1, g0, g1 = self._node_values(bias, pair[0], v_mod)
        else:  # the two nodes' values, remembered together (one lookup)
            key = (bias, pair, v_mod)
            v = self._pair_memo.get(key)
            if v is None:
                low, high = pair
                v = self._node_values(bias, low, v_mod) + self._node_values(bias, high, v_mod)
                if len(self._pair_memo) >= 256:
                    self._pair_memo.clear()
                self._pair_memo[key] = v
            w = 1.0 - f
            i0, i1 = w * v[0] + f * v[4], w * v[1] + f * v[5]
            g0, g1 = w * v[2] + f * v[6], w * v[3] + f * v[7]
        mix = self._mix(gn)
        return gn * (i0 + mix * i1), gn * (g0 + mix * g1)

    # ---- whole sweeps --------------------------------------------------------------
    def conductance_array(self, bias: np.ndarray, gn: float, t: float, v_mod: float) -> np.ndarray:
        """dI/dV (S) at every bias (V) of an array (one temperature, one G_N)."""
        return gn * self._array(0, np.asarray(bias, dtype=float), gn, t, v_mod)

    def current_array(self, bias: np.ndarray, gn: float, t: float) -> np.ndarray:
        """I (A) at every bias (V) of an array (one temperature, one G_N)."""
        b = np.asarray(bias, dtype=float)
        clipped = np.clip(b, -self.width, self.width)
        out = self._array(1, clipped, gn, t, 0.0)
        beyond = b != clipped
        if np.any(beyond):
            out = out + self._array(0, clipped, gn, t, 0.0) * np.where(beyond, b - clipped, 0.0)
        return gn * out

    def _array(self, which: int, b: np.ndarray, gn: float, t: float, v_mod: float) -> np.ndarray:
        out = np.zeros(b.shape)
        if gn <= 0:
            return out
        for table, w, mix in self._weights(gn, t, v_mod):
            grid, ys = table.arrays(which)
            val = np.interp(b, grid, ys[0])
            if mix != 0.0:
                val = val + mix * np.interp(b, grid, ys[1])
            out += w * val
        return out

    # ---- tables ---------------------------------------------------------------------
    def table(self, t: float, v_mod: float, tau_node: int | None) -> _Table:
        """The table of temperature node ``t`` (K), modulation ``v_mod`` (V rms) and
        transparency node ``tau_node`` (bcs kind), built on first use (LRU cached)."""
        key = (t, v_mod, tau_node)
        hit = self._tables.get(key)
        if hit is not None:
            self._tables.move_to_end(key)
            return hit
        cond = [self._curve(k, t, v_mod, tau_node) for k in range(1 if self.bcs else 2)]
        if v_mod:  # I(V) carries no lock-in smearing: the v_mod = 0 table's
            cur = self.table(t, 0.0, tau_node).cur
        else:
            cur = [_integrated(c) for c in cond]
        table = _Table(cond, cur)
        self._tables[key] = table
        while len(self._tables) > TABLES_PER_FILM:
            self._tables.popitem(last=False)
            self._memo.clear()
            self._sums_memo.clear()
        return table

    def _channel(self, k: int, t: float, tau_node: int | None) -> tuple[Any, Any]:
        """Channel ``k`` as (smeared(bias, v_mod), unsmeared(bias)) callables, normalised.

        bcs kind: the film's BTK conductance at the transparency node. Preformed kind:
        0 = the pseudogap's Dynes DOS N(Δ, Γ(T)); 1 = the Andreev channel 2A(Δc(T), Z_A,
        Γ_A) (weighted by mix(G_N) at request time), as in :class:`FilmModel`."""
        film = self.film
        if self.bcs:
            assert tau_node is not None
            gn = film.n_channels * G0 * math.exp(tau_node * TAU_STEP)
            frozen = dataclasses.replace(film, gap=float(bcs_gap(t, film.gap, film.tc)))
            return (
                lambda b, v: np.asarray(film.conductance(b, gn, t, v)) / gn,
                lambda b: np.asarray(frozen.conductance(b, gn, 0.0, 0.0)) / gn,
            )
        if k == 0:
            gap, gam = film.gap, film.gamma(t)
            return (
                lambda b, v: dynes_conductance(b, gap, gam, t, v),
                lambda b: dynes_dos(b, gap, gam),
            )
        dc, za, ga = float(film.gap_c(t)), film.barrier_andreev, film.gamma_andreev
        if dc <= 0:
            return (lambda b, v: np.zeros(np.shape(b))), (lambda b: np.zeros(np.shape(b)))

        def two_a(e: np.ndarray) -> np.ndarray:
            return 2.0 * andreev_coefficients(e, dc, za, ga)[0]

        return (
            # 2A has asymptote 0: smear 1 + 2A and subtract 1 (smeared's convention)
            lambda b, v: smeared(b, lambda e: 1.0 + two_a(e), t, v, feature_width=ga) - 1.0,
            two_a,
        )

    def _grid(self, t: float, v_mod: float) -> tuple[float, int]:
        """Half-width F (V) and number of steps of the fine grid."""
        smearing = [s for s in (K_B_EV * t, v_mod) if s > 0]
        step = max(FINE_STEP, min(smearing) / 8.0) if smearing else FINE_STEP
        gap = max(self.film.gap, self.film.gap_c0)
        half = max(FINE_HALF_WIDTH, 8 * gap + 40 * K_B_EV * t + 4 * math.sqrt(2) * v_mod)
        n = math.ceil(half / step)
        half = min(n * step, self.width)
        return half, 2 * n

    def _curve(self, k: int, t: float, v_mod: float, tau_node: int | None) -> _Curve:
        half, nf = self._grid(t, v_mod)
        smeared_fn, bare_fn = self._channel(k, t, tau_node)
        fine = np.asarray(smeared_fn(np.linspace(-half, half, nf + 1), v_mod), dtype=float)
        nc = max(math.ceil((self.width - half) / COARSE_STEP), 1)
        coarse = np.linspace(half, max(self.width, half + COARSE_STEP), nc + 1)
        # out there: unsmeared, with the parameters of temperature t
        pos = np.asarray(bare_fn(coarse), dtype=float)
        neg = np.asarray(bare_fn(-coarse), dtype=float)
        pos[0], neg[0] = fine[-1], fine[0]  # continuous at ±F
        return _Curve(fine, pos, neg, half, float(coarse[-1]))


def _cumulative(values: np.ndarray, step: float) -> np.ndarray:
    """Running trapezoid integral of ``values`` sampled every ``step``, starting at 0."""
    out = np.empty_like(values)
    out[0] = 0.0
    np.cumsum(0.5 * step * (values[1:] + values[:-1]), out=out[1:])
    return out


def _integrated(c: _Curve) -> _Curve:
    """The running integral from 0 V of a channel (odd in V for an even channel)."""
    g_fine, g_pos, g_neg = c.arrays
    fine = _cumulative(np.asarray(g_fine), 2.0 * c.half / c.nf)
    fine -= fine[c.nf // 2]
    coarse_step = (c.w - c.half) / c.nc
    pos = fine[-1] + _cumulative(np.asarray(g_pos), coarse_step)
    neg = fine[0] - _cumulative(np.asarray(g_neg), coarse_step)
    return _Curve(fine, pos, neg, c.half, c.w)
