"""``andreev analyze``: results into /entry/analysis and a CSV; raw data untouched."""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.analysis import report
from andreev.cli import main as cli_main
from andreev.physics import FilmModel


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


@pytest.fixture(scope="module")
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


def test_analyze_returns_zero_and_keeps_raw_data(analyzed: dict):
    assert analyzed["rc"] == (0, 0)
    assert analyzed["before"] == analyzed["after"]


def test_analysis_group_layout(analyzed: dict):
    with h5py.File(analyzed["path"], "r") as f:
        g = f["entry/analysis"]
        n_o, n_s, n_d = f["entry/data/status"].shape
        for name, (unit, _) in report.COLUMNS.items():
            assert g[name].shape == (n_o, n_s, n_d)
            assert g[name].attrs["units"] == unit
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
        assert closing.attrs["success"]
        np.testing.assert_array_equal(g["film_gap_c"][()], analyzed["first"])


def test_csv_next_to_the_file(analyzed: dict):
    path = report.csv_path(analyzed["path"])
    assert path.name == "run.analysis.csv" and path.parent == analyzed["path"].parent
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    with h5py.File(analyzed["path"], "r") as f:
        assert len(rows) == f["entry/data/status"].size
    assert {"gap_eV", "gamma_eV", "gap_c_peaks_eV", "film_gap_c_eV", "peak_flag"} <= set(rows[0])
    base = [r for r in rows if r["kind"] == "tunnelling" and float(r["temperature_K"]) < 0.1]
    assert base and all(abs(float(r["gap_eV"]) - 0.55e-3) < 0.01e-3 for r in base)


def test_summary_is_printed(analyzed: dict):
    out = analyzed["stdout"]
    assert "Δ/µeV" in out and "Tc =" in out and "run.analysis.csv" in out
    assert "Δc(T) closing from film" in out


def test_missing_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert report.analyze_main(argparse.Namespace(run=tmp_path / "nope.h5")) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    assert report.analyze_main(argparse.Namespace(run=junk)) == 2
    assert "cannot read" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    assert report.analyze_main(argparse.Namespace(run=other)) == 2
