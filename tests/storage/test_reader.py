"""Reading a live run: a separate SWMR reader follows the writer; load() of a live file."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from andreev.storage import STATUS_NAMES, load
from tests.storage.runs import (
    check_sweep,
    make_run,
    sweep,
)

READER = textwrap.dedent(
    """
    import sys, h5py, numpy as np
    f = h5py.File(sys.argv[1], "r", libver="latest", swmr=True)
    status, didv = f["entry/data/status"], f["entry/data/dIdV"]
    print("open", flush=True)
    for line in sys.stdin:
        i, j, k = map(int, line.split())
        status.refresh()
        didv.refresh()
        print(int(status[i, j, k]), repr(float(didv[i, j, k, 0])), flush=True)
    """
)


def test_live_reader_follows_the_run(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    w = make_run(path)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"

        def ask(i: int, j: int, k: int) -> tuple[str, float]:
            reader.stdin.write(f"{i} {j} {k}\n")
            reader.stdin.flush()
            code, value = reader.stdout.readline().split()
            return STATUS_NAMES[int(code)], float(value)

        status, value = ask(0, 1, 1)
        assert status == "pending" and np.isnan(value)
        w.write_sweep(0, 1, 1, **sweep(0, 1, 1))
        assert ask(0, 1, 1) == ("done", sweep(0, 1, 1)["didv"][0])
        w.write_sweep(2, 0, 0, **sweep(2, 0, 0))
        w.set_status(0, 1, 1, "failed")
        assert ask(2, 0, 0) == ("done", sweep(2, 0, 0)["didv"][0])
        assert ask(0, 1, 1)[0] == "failed"
        # load() of the live file from the writing process itself
        ds = load(path)
        assert ds.attrs["exit_status"] == "running"
        assert ds.attrs["end_time"] == ""
        check_sweep(ds, 2, 0, 0)
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)
        w.close()
    assert reader.returncode == 0


def test_load_keeps_long_names_and_sees_the_analysis(tmp_path: Path) -> None:
    import h5py

    from andreev.storage import ResultGroup, read_analysis, write_analysis
    from andreev.storage.superblock import consistency_flags, superblock_version
    from tests.storage.runs import make_run, sweep

    path = tmp_path / "run.h5"
    with make_run(path) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    ds = load(path)
    assert ds["dIdV"].attrs["long_name"] == "dI/dV" and ds["dIdV"].attrs["units"] == "S"
    assert ds.attrs["has_analysis"] == 0
    results = ResultGroup(datasets={"gap": (np.array([1.2e-3]), "V", "superconducting gap")})
    write_analysis(path, results)
    ds = load(path)
    assert ds.attrs["has_analysis"] == 1
    assert ds["dIdV"].attrs["long_name"] == "dI/dV"
    stored = read_analysis(path)
    assert stored is not None and stored.datasets["gap"][1:] == ("V", "superconducting gap")
    # still a clean HDF5 1.10 file, readable without SWMR
    assert consistency_flags(path) == 0 and superblock_version(path) == 3
    with h5py.File(path, "r", libver="v110") as f:
        assert "analysis" in f["entry"] and f["entry/data/dIdV"].shape[0] == 3


def test_a_run_file_cut_short_is_refused_at_once_not_read_for_ever(tmp_path: Path) -> None:
    """A partial copy of a run file: HDF5's SWMR reads of it retry without end (a
    ``--resume`` of one hung for more than 10 min). ``load``, ``run_status``, ``repair``,
    ``andreev status`` and ``andreev analyze`` refuse it at once, saying how much of it
    is there (``--resume``: the bad-input battery; ``watch``: tests/gui/test_reader.py)."""
    from andreev.storage.superblock import truncation_problem
    from tests.storage.runs import make_run, sweep

    whole = tmp_path / "whole.h5"
    with make_run(whole) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    assert truncation_problem(whole) is None
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[:3000])
    assert truncation_problem(cut) == (
        f"cut short: 3000 of the {whole.stat().st_size} bytes its HDF5 superblock declares "
        "(a partial copy, or a full disk?); not a whole run file"
    )
    tiny = tmp_path / "tiny.h5"
    tiny.write_bytes(whole.read_bytes()[:10])
    assert truncation_problem(tiny) == (
        "cut short: 10 bytes, inside its HDF5 superblock; not a whole run file"
    )
    # in processes of their own: a regression fails on the timeout, never hangs the suite
    readers = CUT_READERS.format(path=str(cut))
    done = subprocess.run([sys.executable, "-c", readers], capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == [b"load", b"run_status", b"repair"]
    for command in ("status", "analyze"):
        done = subprocess.run(
            [sys.executable, "-m", "andreev", command, str(cut)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "is cut short: 3000 of the" in done.stderr, command


def test_superblock_readers_agree_on_files_they_cannot_use(tmp_path: Path) -> None:
    """``truncation_problem`` cannot tell (None) where ``consistency_flags`` refuses: not
    HDF5, a superblock version without an end of file; both see a cut superblock."""
    from andreev.errors import RunFileError
    from andreev.storage.superblock import SIGNATURE, consistency_flags, truncation_problem

    cases = {
        "text.h5": (b"not an HDF5 file at all, " * 4, None, "is not an HDF5 file"),
        "v0.h5": (SIGNATURE + b"\0" * 92, None, "superblock version 0 has no"),
        "cut.h5": (
            SIGNATURE + bytes([3, 8, 8, 0]) + b"\0" * 20,
            "cut short: 32 bytes",
            "truncated",
        ),
    }
    for name, (content, problem, refusal) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        got = truncation_problem(path)
        if problem is None:
            assert got is None, (name, got)
        else:
            assert got is not None and got.startswith(problem), (name, got)
        with pytest.raises(RunFileError, match=refusal):
            consistency_flags(path)


CUT_READERS = """
from andreev.errors import RunFileError
from andreev.storage import load, repair, run_status
for read in (load, run_status, repair):
    try:
        read({path!r})
    except RunFileError as exc:
        assert "is cut short: 3000 of the" in str(exc), exc
        print(read.__name__)
"""
