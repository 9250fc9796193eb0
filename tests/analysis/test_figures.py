"""``andreev plot``: every figure is produced from a run file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from andreev.analysis import figures

NAMES = ("fig1_setpoints.png", "fig2_temperature.png", "fig3_gaps.png", "figS2_tunnelling_fit.png")
PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_writes_every_figure(synthetic_run: Path, tmp_path: Path):
    out = tmp_path / "figs"
    assert figures.plot_main(argparse.Namespace(run=synthetic_run, out=out)) == 0
    for name in NAMES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, name


def test_default_folder_is_next_to_the_run(run_file: Path):
    assert figures.plot_main(argparse.Namespace(run=run_file, out=None)) == 0
    folder = run_file.with_name("run_figures")
    assert sorted(p.name for p in folder.iterdir()) == sorted(NAMES)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert figures.plot_main(argparse.Namespace(run=tmp_path / "nope.h5", out=None)) == 2
    assert "no such file" in capsys.readouterr().err
