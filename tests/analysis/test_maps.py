"""Maps of a grid run (the session's 6 × 5 GridSeries on the simulated fridge), analysed
serially (on a local Dask cluster and on a scheduler + 2 workers, with identical results:
tests/analysis/test_distributed.py); the Δ map follows the sim's own gap map, Δc does not
vary; the maps, histograms and Δc against Δ in /entry/analysis; Fig. 3 drawn; export
through xarray."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from andreev.analysis.export import to_csv, to_netcdf
from andreev.cli import main as cli_main
from andreev.storage import ResultGroup, load, read_analysis


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


def test_andreev_plot_draws_fig3_for_a_grid(analysed, tmp_path: Path, capsys) -> None:
    out = tmp_path / "figs"
    assert cli_main(["plot", str(analysed), "--out", str(out)]) == 0
    printed = [Path(p) for p in capsys.readouterr().out.split()]
    assert out / "fig3_grid_maps.png" in printed
    assert (out / "fig3_grid_maps.png").stat().st_size > 20_000


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
