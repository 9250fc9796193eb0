"""Timing of the spectrum fits, the peak finder and the whole per-contact analysis on
1000-point simulated spectra.

``fit_film`` fits Z_A and Γ_A too (model "film_za"); "fixed Z_A" is the projected fit
alone. ``analyze_contact`` is what ``andreev analyze`` does per contact sweep: peaks, BTK,
film, the BIC choice and the smearing-shift correction of Δc.

Prints figures only (no asserts): median wall time per call over several noisy spectra.
Run from the repository root: python benchmarks/fits.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from andreev import physics
from andreev.analysis import contact, fits, peaks

BIAS = np.linspace(-1.5e-3, 1.5e-3, 1000)
V_MOD = 10e-6
REPEATS = 7


def spectra(model: Callable[[], np.ndarray], rel: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    clean = model()
    scale = float(np.median(np.abs(clean)))
    return [clean + rel * scale * rng.standard_normal(clean.size) for _ in range(REPEATS)]


def bench(name: str, call: Callable[[np.ndarray], object], data: list[np.ndarray]) -> None:
    call(data[0])  # warm-up (imports, caches)
    times, nfev = [], []
    for y in data:
        t0 = time.perf_counter()
        r = call(y)
        times.append(time.perf_counter() - t0)
        nfev.append(getattr(r, "nfev", 0))
    med = statistics.median(times) * 1e3
    extra = f"  (median nfev {statistics.median(nfev):.0f})" if any(nfev) else ""
    print(f"{name:<44} {med:8.1f} ms   min {min(times) * 1e3:6.1f} ms{extra}")


def main() -> None:
    film = physics.FilmModel()
    print(f"{BIAS.size}-point spectra, V_mod = {V_MOD * 1e6:.0f} µV rms, {REPEATS} repeats")
    for t in (0.05, 0.5, 1.2):
        dyn = spectra(
            lambda t=t: 5e-7 * physics.dynes_conductance(BIAS, 0.55e-3, 0.02e-3, t, V_MOD), 0.01
        )
        bench(
            f"fit_dynes  T = {t} K",
            lambda y, t=t: fits.fit_dynes(BIAS, y, temperature=t, v_mod_rms=V_MOD),
            dyn,
        )
        btk = spectra(
            lambda t=t: 3e-4 * physics.btk_conductance(BIAS, 0.48e-3, 0.7, 0.01e-3, t, V_MOD), 0.005
        )
        bench(
            f"fit_btk    T = {t} K",
            lambda y, t=t: fits.fit_btk(BIAS, y, temperature=t, v_mod_rms=V_MOD),
            btk,
        )
        flm = spectra(lambda t=t: film.conductance(BIAS, 5e-4, t, V_MOD), 0.004)
        bench(
            f"fit_film   T = {t} K",
            lambda y, t=t: fits.fit_film(BIAS, y, temperature=t, v_mod_rms=V_MOD),
            flm,
        )
        bench(
            f"fit_film   T = {t} K, fixed Z_A",
            lambda y, t=t: fits.fit_film(
                BIAS, y, temperature=t, v_mod_rms=V_MOD, free_andreev=False
            ),
            flm,
        )
        bench(
            f"analyze_contact T = {t} K",
            lambda y, t=t: contact.analyze_contact(
                BIAS, y, temperature=t, v_mod_rms=V_MOD, noise=0.004 * 5e-4, gap=0.55e-3
            ),
            flm,
        )
        weak = spectra(lambda t=t: film.conductance(BIAS, 1e-5, t, V_MOD), 0.004)
        bench(
            f"fit_film   T = {t} K, G_N = 1e-5 S",
            lambda y, t=t: fits.fit_film(BIAS, y, temperature=t, v_mod_rms=V_MOD),
            weak,
        )
        bench(
            f"find_andreev_peaks T = {t} K",
            lambda y, t=t: peaks.find_andreev_peaks(
                BIAS, y, temperature=t, v_mod_rms=V_MOD, gap=0.55e-3
            ),
            flm,
        )
    clean = film.conductance(BIAS, 5e-4, 0.05, V_MOD)
    t0 = time.perf_counter()
    for _ in range(20):
        film.conductance(BIAS, 5e-4, 0.05, V_MOD)
    print(
        f"(one FilmModel.conductance evaluation at 50 mK: "
        f"{(time.perf_counter() - t0) / 20 * 1e3:.2f} ms; {clean.size} points)"
    )


if __name__ == "__main__":
    main()
