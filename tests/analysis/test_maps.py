"""Maps of a grid run (the session's 6 × 5 GridSeries on the simulated fridge): analysed
serially, on a local Dask cluster and on a scheduler + 2 workers started here, with
identical results; the Δ map follows the sim's own gap map, Δc does not vary; the maps,
histograms and Δc against Δ in /entry/analysis; Fig. 3 drawn; export through xarray."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from andreev.analysis import distributed
from andreev.analysis.export import to_csv, to_netcdf
from andreev.cli import main as cli_main
from andreev.storage import ResultGroup, load, read_analysis

pytest.importorskip("distributed")


def _same(a: ResultGroup, b: ResultGroup) -> None:
    """Equal stored results, bit for bit (but the date written), sub-groups included."""
    assert {k for k in a.attrs if k != "date"} == {k for k in b.attrs if k != "date"}
    for key, value in a.attrs.items():
        if key != "date":
            assert np.asarray(value).tolist() == np.asarray(b.attrs[key]).tolist() or (
                np.asarray(value).dtype.kind == "f"
                and np.array_equal(value, b.attrs[key], equal_nan=True)
            ), key
    assert a.datasets.keys() == b.datasets.keys()
    for key, (values, units, _) in a.datasets.items():
        mine, theirs = np.asarray(values), np.asarray(b.datasets[key][0])
        if mine.dtype.kind == "f":
            np.testing.assert_array_equal(mine, theirs, err_msg=key)
        else:
            assert mine.tolist() == theirs.tolist(), key
        assert units == b.datasets[key][1]
    assert a.groups.keys() == b.groups.keys()
    for key, group in a.groups.items():
        _same(group, b.groups[key])


@pytest.fixture(scope="module")
def analysed(grid_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the grid run, analysed serially through the CLI."""
    path = tmp_path_factory.mktemp("maps") / "grid.h5"
    shutil.copy2(grid_run.path, path)
    assert cli_main(["analyze", str(path), "--workers", "1"]) == 0
    return path


def _maps(path: Path) -> ResultGroup:
    stored = read_analysis(path)
    assert stored is not None and "maps" in stored.groups
    return stored.groups["maps"]


def test_local_cluster_and_scheduler_give_the_serial_results(
    analysed: Path, tmp_path: Path
) -> None:
    serial = read_analysis(analysed)
    assert serial is not None
    local, remote = tmp_path / "local.h5", tmp_path / "scheduler.h5"
    for copy in (local, remote):
        shutil.copy2(analysed, copy)
    assert cli_main(["analyze", str(local), "--workers", "2"]) == 0
    with distributed.local_scheduler(2) as address:
        assert cli_main(["analyze", str(remote), "--scheduler", address]) == 0
    for copy in (local, remote):
        other = read_analysis(copy)
        assert other is not None
        _same(serial, other)


def test_delta_follows_the_sim_gap_map_and_delta_c_does_not_vary(grid_run, analysed) -> None:
    maps = _maps(analysed)
    delta = np.asarray(maps.datasets["delta"][0])
    delta_c = np.asarray(maps.datasets["delta_c"][0])
    px, py = (np.asarray(maps.datasets[n][0]) for n in ("position_x", "position_y"))
    truth = np.vectorize(grid_run.world.gap_at)(px, py)  # the sim's own Δ(x, y), eV
    assert np.isfinite(delta).all() and np.isfinite(delta_c).all()
    r = np.corrcoef(delta.ravel(), truth.ravel())[0, 1]
    assert r > 0.8, r
    assert np.std(truth) / np.mean(truth) > 0.1  # the frame does see the map vary
    assert np.std(delta) / np.mean(delta) > 0.1
    assert np.std(delta_c) / np.mean(delta_c) < 0.02  # Δc is uniform in the sim
    assert np.mean(delta_c) == pytest.approx(grid_run.world.film.gap_c0, rel=0.15)
    assert abs(maps.attrs["gap_c_vs_gap_slope"]) < 0.05  # Δc does not follow Δ


def test_maps_histograms_and_statistics_are_stored(analysed) -> None:
    maps = _maps(analysed)
    assert maps.datasets["gap"][0].shape == (5, 6, 2) and maps.datasets["gap"][1] == "eV"
    assert maps.datasets["model"][0].shape == (5, 6, 2)
    assert maps.attrs["gap_setpoint_index"] == 0 and maps.attrs["gap_c_setpoint_index"] == 1
    model = np.asarray(maps.datasets["model"][0])
    assert (model[:, :, 0] == 0).all()  # tunnelling: Dynes everywhere
    assert set(np.unique(model[:, :, 1])) <= {1.0, 2.0}  # contact: BTK or film
    for name in ("delta", "delta_c"):
        assert np.asarray(maps.datasets[f"{name}_hist"][0]).sum() == 30
        assert np.asarray(maps.datasets[f"{name}_hist_edges"][0]).size == 21
    assert maps.attrs["gap_c_vs_gap_points"] == 30
    g_n = np.asarray(maps.datasets["g_normal"][0])
    assert np.nanmedian(g_n[:, :, 1]) / np.nanmedian(g_n[:, :, 0]) > 100  # 1 µA vs 1 nA


def test_fig3_from_the_grid(analysed, tmp_path: Path) -> None:
    """What ``andreev plot`` adds for a grid run (``figure_set.make_figures`` calls
    ``fig_grid.grid_figures``), drawn from the stored analysis; nothing for other runs."""
    from andreev.analysis import fig_grid, figures

    _, an, stored = figures.run_analysis(analysed)
    assert stored
    (figure,) = fig_grid.grid_figures(an, tmp_path)
    assert figure.name == "fig3_grid_maps.png" and figure.stat().st_size > 20_000


def test_export_round_trips_through_xarray(grid_run, tmp_path: Path) -> None:
    import xarray as xr

    out = to_netcdf(grid_run.path, tmp_path / "grid.nc")
    ds = load(grid_run.path)
    with xr.open_dataset(out) as back:
        assert back["dIdV"].dims == ("grid_y", "grid_x", "setpoint", "direction", "bias")
        np.testing.assert_array_equal(back["dIdV"].values, ds["dIdV"].values)
        np.testing.assert_array_equal(back["position_x"].values, ds["position_x"].values)
        assert back["position_x"].attrs["units"] == "m"
    files = to_csv(grid_run.path, tmp_path / "csv")
    assert len(files) == 60
    header = files[0].read_text().splitlines()
    assert any(line.startswith("# position_x:") for line in header)
    rows = [line for line in header if not line.startswith("#")]
    assert rows[0] == "bias,dIdV,x,y,current" and len(rows) == 1 + 121
