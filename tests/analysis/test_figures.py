"""The standard figures are produced from a run file."""

from __future__ import annotations

from pathlib import Path

import pytest

from andreev.analysis import figure_set, figures
from andreev.errors import RunFileError

NAMES = (
    "fig1_setpoints.png",
    "figS3_d2_setpoints.png",
    "fig2_temperature.png",
    "fig3_gaps.png",
    "figS4_tunnelling_temperature.png",
    "figS2_tunnelling_fit.png",
)
PNG = b"\x89PNG\r\n\x1a\n"


def test_make_figures_writes_every_figure(synthetic_run: Path, tmp_path: Path):
    out = tmp_path / "figs"
    paths = figure_set.make_figures(synthetic_run, out)
    assert [p.name for p in paths] == list(NAMES)
    for name in NAMES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, name


def test_default_folder_is_next_to_the_run(analyzed_file: Path):
    figure_set.make_figures(analyzed_file)
    folder = analyzed_file.with_name("run_figures")
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)


def test_missing_file(tmp_path: Path):
    with pytest.raises(RunFileError, match="no such file"):
        figure_set.make_figures(tmp_path / "nope.h5")


def test_plot_draws_from_the_stored_analysis(analyzed: dict, tmp_path: Path):
    """After ``andreev analyze`` the figures come from /entry/analysis: no re-fitting."""
    _, an, stored = figures.run_analysis(analyzed["path"])
    assert stored and not an.fits  # nothing was fitted to draw
    assert an.closing["film"].success
    paths = figure_set.make_figures(analyzed["path"], tmp_path / "stored")
    assert [p.name for p in paths] == list(NAMES)
