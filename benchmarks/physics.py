"""Benchmark: a 1000-point FilmModel spectrum by FFT smearing vs direct quadrature.

Run as ``python benchmarks/physics.py``. Prints figures, asserts nothing.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from andreev.physics import G0, FilmModel, andreev_coefficients, dynes_dos, smeared_quad

N_POINTS = 1000
TEMPERATURE = 0.05  # K
V_MOD_RMS = 10e-6  # V
G_NORMAL = 0.1 * G0  # S
BIAS = np.linspace(-3e-3, 3e-3, N_POINTS)  # V
N_SUBSET = 20  # quadrature is timed on this many points and scaled to N_POINTS


def main() -> None:
    film = FilmModel()
    film.conductance(BIAS, G_NORMAL, TEMPERATURE, V_MOD_RMS)  # warm-up
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        g_fft = film.conductance(BIAS, G_NORMAL, TEMPERATURE, V_MOD_RMS)
        times.append(time.perf_counter() - t0)
    t_fft = statistics.median(times)

    gam = film.gamma(TEMPERATURE)
    dc = float(film.gap_c(TEMPERATURE))
    mix = film.andreev_amplitude * film.andreev_weight(G_NORMAL)

    def g0(e: np.ndarray) -> np.ndarray:
        a, _ = andreev_coefficients(e, dc, film.barrier_andreev, film.gamma_andreev)
        return dynes_dos(e, film.gap, gam) + 2.0 * mix * a

    pick = np.linspace(0, N_POINTS - 1, N_SUBSET).astype(int)
    points = [-film.gap, -dc, dc, film.gap]
    qtimes = []
    for _ in range(3):
        t0 = time.perf_counter()
        g_quad = smeared_quad(BIAS[pick], g0, TEMPERATURE, V_MOD_RMS, points=points)
        qtimes.append(time.perf_counter() - t0)
    t_quad = statistics.median(qtimes) * N_POINTS / N_SUBSET
    err = np.max(np.abs(g_fft[pick] / G_NORMAL - g_quad))

    print(f"FilmModel spectrum: {N_POINTS} points, -3..3 mV, T = {TEMPERATURE * 1e3:.0f} mK, ")
    print(f"  v_mod = {V_MOD_RMS * 1e6:.0f} uV rms, G_N = {G_NORMAL / G0:.1f} G0")
    print(f"FFT path (median of {len(times)}):          {t_fft * 1e3:8.3f} ms")
    print(
        f"direct quadrature (median of {len(qtimes)} runs on {N_SUBSET} points, "
        f"scaled x{N_POINTS // N_SUBSET}): {t_quad * 1e3:8.1f} ms"
    )
    print(f"ratio quadrature/FFT:                  {t_quad / t_fft:8.0f}")
    print(f"max |g_FFT - g_quad| on the subset:    {err:8.1e} (units of G_N)")

    film.current(1e-3, G_NORMAL, TEMPERATURE)  # build the table
    ctimes = []
    for k in range(2000):
        t0 = time.perf_counter()
        film.current(1e-3 + 1e-8 * k, G_NORMAL, TEMPERATURE)
        ctimes.append(time.perf_counter() - t0)
    print(f"single-value current() (median of 2000): {statistics.median(ctimes) * 1e6:6.1f} us")
    stimes = []
    for k in range(200):
        t0 = time.perf_counter()
        film.conductance(1e-3 + 1e-8 * k, G_NORMAL, TEMPERATURE, V_MOD_RMS)
        stimes.append(time.perf_counter() - t0)
    print(f"single-value conductance() (median of 200): {statistics.median(stimes) * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
