"""A small synthetic run file for the analysis tests, written with storage.RunWriter.

Temperature series 0.05 … 2 K × setpoints 1 nA … 1 µA at V_set = 2 mV (G_N = I/V),
forward and backward sweeps over ±1.5 mV, dI/dV from andreev.physics.FilmModel (sim
defaults) with seeded Gaussian noise. Built once per session; tests that change a file
get their own copy (``run_file``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from andreev.physics import FilmModel
from andreev.storage import RunWriter

TEMPERATURES = (0.05, 0.4, 0.8, 1.0, 1.2, 1.3, 1.6, 2.0)  # K
SETPOINTS = (1e-9, 1e-8, 1e-7, 1e-6)  # A
SETPOINT_BIAS = 2e-3  # V
V_MOD_RMS = 10e-6  # V
BIAS = np.linspace(-1.5e-3, 1.5e-3, 601)  # V
NOISE = 0.004  # relative to G_N
FILM = FilmModel()


def write_synthetic_run(path: Path, seed: int = 7) -> Path:
    """Write the synthetic run to ``path`` and return it."""
    rng = np.random.default_rng(seed)
    with RunWriter.create(
        path,
        outer_name="temperature",
        outer_values=TEMPERATURES,
        outer_unit="K",
        setpoints=SETPOINTS,
        bias=BIAS,
        directions=("forward", "backward"),
        setpoint_bias=SETPOINT_BIAS,
        v_mod_rms=V_MOD_RMS,
        config_yaml="synthetic: true\n",
        snapshot={"source": "tests/analysis/conftest.py"},
    ) as w:
        t0 = 1.7e9
        for i, t_nom in enumerate(TEMPERATURES):
            for j, i_set in enumerate(SETPOINTS):
                g_n = i_set / SETPOINT_BIAS
                for k in range(2):
                    t_meas = t_nom * (1.0 + 0.002 * rng.standard_normal())
                    didv = FILM.conductance(BIAS, g_n, t_meas, V_MOD_RMS)
                    didv = didv + NOISE * g_n * rng.standard_normal(BIAS.size)
                    gain = 1e-3 * V_MOD_RMS * 1e8  # X = dI/dV · V_mod · preamp gain (V/S)
                    w.write_sweep(
                        i,
                        j,
                        k,
                        didv=didv,
                        x=didv * gain,
                        y=1e-3 * g_n * gain * rng.standard_normal(BIAS.size),
                        current=FILM.current(BIAS, g_n, t_meas),
                        temperature=t_meas,
                        z=1e-10 * (3.0 - np.log10(i_set / 1e-9)),
                        timestamp=t0 + 60.0 * (8 * i + 2 * j + k),
                        g_normal=g_n,
                    )
    return path


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only path of the session's synthetic run file (copy it before changing it)."""
    return write_synthetic_run(tmp_path_factory.mktemp("run") / "synthetic.h5")


@pytest.fixture()
def run_file(synthetic_run: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic run, safe to analyse in place."""
    dst = tmp_path / "run.h5"
    shutil.copy2(synthetic_run, dst)
    return dst
