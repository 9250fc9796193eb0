"""andreev export: netCDF round-trips through xarray, CSV per spectrum with its header."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from andreev.analysis.export import netcdf_attr
from andreev.storage import load


def _export(run: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "andreev", "export", str(run), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_netcdf_round_trips(synthetic_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.nc"
    _export(synthetic_run, "--to", "netcdf", "--out", str(out))
    ds = load(synthetic_run)
    with xr.open_dataset(out) as back:
        for name in ("dIdV", "x", "y", "current", "temperature", "g_normal", "z"):
            np.testing.assert_array_equal(back[name].values, ds[name].values)
            assert back[name].attrs["units"] == ds[name].attrs["units"]
        for name in ds.coords:
            np.testing.assert_array_equal(back[name].values, ds[name].values)
        assert back["status"].values.astype(str).tolist() == ds["status"].values.tolist()
        assert back.attrs["config_yaml"] == ds.attrs["config_yaml"]
        assert back.attrs["v_mod_rms"] == ds.attrs["v_mod_rms"]
        assert back.attrs["resumed_at"] == "[]"


def test_netcdf_attr_conversions() -> None:
    assert netcdf_attr(True) == 1
    assert netcdf_attr("a") == "a" and netcdf_attr(2.5) == 2.5
    assert netcdf_attr(["a", "b"]) == '["a", "b"]'
    assert netcdf_attr({"k": None}) == '{"k": null}'
    np.testing.assert_array_equal(netcdf_attr(np.arange(3.0)), np.arange(3.0))


def test_csv_per_spectrum_with_header(synthetic_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    stdout = _export(synthetic_run, "--to", "csv", "--out", str(folder))
    ds = load(synthetic_run)
    files = sorted(folder.glob("*.csv"))
    n_done = int(np.isin(ds["status"].values, ["done", "retaken"]).sum())
    assert len(files) == n_done and f"{n_done} spectra" in stdout
    i, j, k = 3, 2, 1
    path = folder / f"{synthetic_run.stem}_o{i:03d}_s{j:02d}_backward.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# "))
    outer = ds.attrs["outer_dim"]
    assert header["outer (temperature)"] == f"{float(ds[outer].values[i])!r} K"
    assert header["setpoint"] == f"{float(ds['setpoint'].values[j])!r} A"
    assert header["direction"] == "backward"
    t = float(ds["temperature"].values[i, j, k])
    assert header["temperature"] == f"{t!r} K (measured)"
    assert header["g_normal"].startswith(repr(float(ds["g_normal"].values[i, j, k])))
    assert header["units"] == "bias V, dIdV S, x V, y V, current A"
    rows = [line.split(",") for line in lines if not line.startswith("#")]
    assert rows[0] == ["bias", "dIdV", "x", "y", "current"]
    values = np.asarray(rows[1:], dtype=float)
    np.testing.assert_allclose(values[:, 0], ds["bias"].values, rtol=1e-9)
    np.testing.assert_allclose(values[:, 1], ds["dIdV"].values[i, j, k], rtol=1e-9)


def test_a_missing_or_unreadable_run_is_one_line_on_stderr(tmp_path: Path, capsys) -> None:
    from andreev.cli import main as cli_main

    assert cli_main(["export", str(tmp_path / "nope.h5"), "--to", "csv"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("andreev export: ") and "no such file" in err
    junk = tmp_path / "junk.h5"
    junk.write_text("not a run")
    assert cli_main(["export", str(junk), "--to", "netcdf"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and str(junk) in err
