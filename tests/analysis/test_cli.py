"""``andreev analyze`` and ``andreev plot`` on the command line: output and exit codes.

(The handlers live in ``andreev.cli.analysis``; their tests sit here with the analysis
they drive.)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pytest

from andreev.cli import main as cli_main
from andreev.storage import RunWriter

PNG_NAMES = ("fig1_setpoints.png", "fig2_temperature.png", "fig3_gaps.png")


def test_summary_is_printed(analyzed: dict):
    out = analyzed["stdout"]
    assert "Δ/µeV" in out and "Tc =" in out and "run.analysis.csv" in out
    assert "Tc from Δc(T) of the film fits" in out
    assert " (held)" in out  # the warm sweeps' Z_A, held from the contact's coldest fit
    assert "stored in" in out


def test_missing_and_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert cli_main(["analyze", str(tmp_path / "nope.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    assert cli_main(["analyze", str(junk)]) == 2
    assert "cannot read" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    assert cli_main(["analyze", str(other)]) == 2
    assert cli_main(["plot", str(other)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_run_being_written_is_not_overwritten(run_file: Path, capsys: pytest.CaptureFixture[str]):
    with RunWriter.open(run_file):
        assert cli_main(["analyze", str(run_file)]) == 1
    captured = capsys.readouterr()
    assert "could not write /entry/analysis" in captured.err
    assert "per-sweep results" in captured.out  # the CSV is still written
    assert run_file.with_name("run.analysis.csv").is_file()


def test_plot_prints_the_figure_paths(analyzed_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "figs"
    assert cli_main(["plot", str(analyzed_file), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert {Path(p).name for p in printed} >= set(PNG_NAMES)


def test_plot_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert cli_main(["plot", str(tmp_path / "nope.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "nope_figures").exists()


def test_plot_combines_several_runs(analyzed: dict, tmp_path: Path, capsys):
    """Two analysed runs (both drawn from their /entry/analysis: the re-fitting path is
    tested in test_figures)."""
    second = tmp_path / "synthetic.h5"
    shutil.copy2(analyzed["path"], second)
    out = tmp_path / "many"
    assert cli_main(["plot", str(analyzed["path"]), str(second), "--out", str(out)]) == 0
    printed = [Path(p) for p in capsys.readouterr().out.split()]
    assert out / "fig3_runs.png" in printed
    assert (out / "run" / "fig1_setpoints.png").is_file()
    assert (out / "synthetic" / "fig1_setpoints.png").is_file()


def test_default_workers_the_core_count_serial_for_a_small_job(tmp_path: Path) -> None:
    """Without --workers: a local cluster of one worker per core, but the serial loop for
    fewer than SMALL_JOB_SWEEPS sweeps in all (a cluster's start would cost more)."""
    import os

    import numpy as np

    from andreev.cli.analysis import SMALL_JOB_SWEEPS, _default_workers

    def planned(name: str, n_outer: int) -> Path:
        path = tmp_path / name
        RunWriter.create(
            path,
            outer_name="position",
            outer_values=np.arange(n_outer, dtype=float),
            outer_unit="1",
            setpoints=(1e-9, 1e-6),
            bias=np.linspace(-1e-3, 1e-3, 5),
            directions=("forward",),
            setpoint_bias=2e-3,
            v_mod_rms=1e-5,
            config_yaml="planned: true\n",
            snapshot={},
        ).close()
        return path

    small = planned("small.h5", SMALL_JOB_SWEEPS // 2 - 1)  # 2 setpoints each
    other = planned("other.h5", 1)
    cores = os.cpu_count() or 1
    assert _default_workers([small], None) == 1
    assert _default_workers([small, other], None) == cores  # 200 sweeps in all
    assert _default_workers([small], "tcp://127.0.0.1:8786") == cores
    assert _default_workers([tmp_path / "missing.h5"], None) == 1


def test_workers_and_scheduler_exclude_each_other(run_file: Path, capsys) -> None:
    argv = ["analyze", str(run_file), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    assert cli_main(argv) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_an_unreachable_scheduler_or_no_workers_is_one_line(
    run_file: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from andreev.analysis import distributed

    monkeypatch.setattr(distributed, "SCHEDULER_TIMEOUT", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    assert cli_main(["analyze", str(run_file), "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert f"andreev analyze: cannot reach the Dask scheduler {address}: " in err
    assert cli_main(["analyze", str(run_file), "--workers", "0"]) == 2
    assert "--workers: must be a whole number ≥ 1, got '0'" in capsys.readouterr().err
