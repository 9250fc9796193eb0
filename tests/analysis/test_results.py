"""Results of ``andreev analyze``: /entry/analysis (through andreev.storage) and the CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from andreev.analysis import report, results
from andreev.physics import FilmModel
from andreev.storage import read_analysis


def test_analyze_returns_zero_and_keeps_raw_data(analyzed: dict):
    assert analyzed["rc"] == (0, 0)
    assert analyzed["before"] == analyzed["after"]


def test_analysis_group_layout(analyzed: dict):
    with h5py.File(analyzed["path"], "r") as f:
        g = f["entry/analysis"]
        n_o, n_s, n_d = f["entry/data/status"].shape
        assert g.attrs["NX_class"] == "NXprocess" and g.attrs["program"] == "andreev analyze"
        axes = [a.decode() if isinstance(a, bytes) else a for a in f["entry/data"].attrs["axes"]]
        assert list(g.attrs["dims"]) == axes[:3]
        assert list(g.attrs["tunnelling_setpoint_indices"]) == [0]
        for name, (unit, desc) in report.COLUMNS.items():
            assert g[name].shape == (n_o, n_s, n_d)
            assert g[name].attrs["units"] == unit
            assert g[name].attrs["long_name"] == desc
        kinds = g["kind"].asstr()[()]
        assert set(kinds[:, 0, :].ravel()) == {"tunnelling"}
        assert set(kinds[:, 1:, :].ravel()) == {"contact"}
        gap = g["gap"][()][:, 0, :]
        np.testing.assert_allclose(gap, FilmModel().gap, rtol=0.02)
        assert np.all(np.isnan(g["gap_c_peaks"][()][:, 0, :]))  # no peaks sought in tunnelling
        # Δc from peaks at base temperature, highest setpoint
        assert np.all(np.abs(g["gap_c_peaks"][()][0, -1, :] - FilmModel().gap_c0) < 10e-6)
        closing = g["gap_closing_film"]
        assert abs(closing["tc"][()] - FilmModel().tc) < 0.1
        assert closing["tc"].attrs["units"] == "K"
        assert closing.attrs["success"]
        assert closing.attrs["model"] == results.CLOSING_MODEL
        np.testing.assert_array_equal(g["film_gap_c"][()], analyzed["first"])


def test_stored_results_read_back_through_storage(analyzed: dict):
    stored = read_analysis(analyzed["path"])
    assert stored is not None
    values, unit, _ = stored.datasets["film_gap_c"]
    assert unit == "eV"
    np.testing.assert_array_equal(values, analyzed["first"])
    assert set(stored.groups) == {"gap_closing_peaks", "gap_closing_film"}
    assert stored.datasets["peak_flag"][0][0, -1, 0] == "ok"


def test_csv_next_to_the_file(analyzed: dict):
    path = results.csv_path(analyzed["path"])
    assert path.name == "run.analysis.csv" and path.parent == analyzed["path"].parent
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    with h5py.File(analyzed["path"], "r") as f:
        assert len(rows) == f["entry/data/status"].size
    assert {"gap_eV", "gamma_eV", "gap_c_peaks_eV", "film_gap_c_eV", "peak_flag"} <= set(rows[0])
    base = [r for r in rows if r["kind"] == "tunnelling" and float(r["temperature_K"]) < 0.1]
    assert base and all(abs(float(r["gap_eV"]) - 0.55e-3) < 0.01e-3 for r in base)


def test_csv_is_utf8_whatever_the_platform_encoding(analyzed: dict, tmp_path: Path):
    """A console or locale with an 8-bit default (ASCII here, cp1252 on a Windows fridge
    PC) must not break the CSV: its text columns carry "d²I/dV²"."""
    out = tmp_path / "run.csv"
    code = (
        "import sys; from pathlib import Path; from andreev.analysis import figures, results;"
        "_, an, stored = figures.run_analysis(Path(sys.argv[1]));"
        "results.write_csv(an, Path(sys.argv[2]))"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env.pop("PYTHONIOENCODING", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(analyzed["path"]), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "d²I/dV²" in out.read_text(encoding="utf-8")
