"""A small synthetic run file for the analysis tests, written with storage.RunWriter.

Temperature series 0.05 … 2 K × setpoints 1 nA … 1 µA at V_set = 2 mV (G_N = I/V),
forward and backward sweeps over ±1.5 mV, dI/dV from andreev.physics.FilmModel (sim
defaults) with seeded Gaussian noise. Built once per session; tests that change a file
get their own copy (``run_file``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.cli import main as cli_main
from andreev.physics import FilmModel
from andreev.storage import RunWriter

TEMPERATURES = (0.05, 0.4, 0.8, 1.0, 1.2, 1.3, 1.6, 2.0)  # K
SETPOINTS = (1e-9, 1e-8, 1e-7, 1e-6)  # A
SETPOINT_BIAS = 2e-3  # V
V_MOD_RMS = 10e-6  # V
BIAS = np.linspace(-1.5e-3, 1.5e-3, 601)  # V
NOISE = 0.004  # relative to G_N
FILM = FilmModel()


def write_synthetic_run(
    path: Path,
    seed: int = 7,
    setpoints: tuple[float, ...] = SETPOINTS,
    temperatures: tuple[float, ...] = TEMPERATURES,
) -> Path:
    """Write the synthetic run (``setpoints`` A × ``temperatures`` K) to ``path``."""
    rng = np.random.default_rng(seed)
    with RunWriter.create(
        path,
        outer_name="temperature",
        outer_values=temperatures,
        outer_unit="K",
        setpoints=setpoints,
        bias=BIAS,
        directions=("forward", "backward"),
        setpoint_bias=SETPOINT_BIAS,
        v_mod_rms=V_MOD_RMS,
        config_yaml="synthetic: true\n",
        snapshot={"source": "tests/analysis/conftest.py"},
    ) as w:
        t0 = 1.7e9
        for i, t_nom in enumerate(temperatures):
            for j, i_set in enumerate(setpoints):
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


def raw_digest(path: Path) -> str:
    """Hash of every dataset and attribute outside /entry/analysis."""
    h = hashlib.sha256()

    def visit(name: str, obj: h5py.HDFObject) -> None:
        if name.startswith("entry/analysis"):
            return
        h.update(name.encode())
        for key in sorted(obj.attrs):
            h.update(key.encode() + repr(obj.attrs[key]).encode())
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            if isinstance(value, np.ndarray) and value.dtype != object:
                h.update(value.dtype.str.encode() + value.tobytes())
            else:  # strings: hash their text, not the addresses of Python objects
                h.update(repr(value.tolist() if isinstance(value, np.ndarray) else value).encode())

    with h5py.File(path, "r") as f:
        for key in sorted(f.attrs):
            h.update(key.encode() + repr(f.attrs[key]).encode())
        f.visititems(visit)
    return h.hexdigest()


@pytest.fixture(scope="session")
def analyzed(synthetic_run: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the synthetic run, analysed twice through the CLI; with the digests."""
    path = tmp_path_factory.mktemp("analyzed") / "run.h5"
    shutil.copy2(synthetic_run, path)
    before = raw_digest(path)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc1 = cli_main(["analyze", str(path)])
    with h5py.File(path, "r") as f:
        first = f["entry/analysis/film_gap_c"][()]
    rc2 = cli_main(["analyze", str(path)])  # re-run replaces the group
    return {
        "path": path,
        "before": before,
        "after": raw_digest(path),
        "rc": (rc1, rc2),
        "first": first,
        "stdout": buf.getvalue(),
    }


@pytest.fixture()
def analyzed_file(analyzed: dict, tmp_path: Path) -> Path:
    """A private copy of the analysed synthetic run (``run.h5``): figures drawn from it read
    /entry/analysis instead of fitting again."""
    dst = tmp_path / "run.h5"
    shutil.copy2(analyzed["path"], dst)
    return dst
