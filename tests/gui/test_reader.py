"""RunFollower on files that are missing, finished, growing, carrying a live sweep, or
left by a killed writer; it never blocks a writer (h5py + numpy only, no Qt)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from andreev.gui.reader import RunFollower, open_for_reading, writer_alive
from andreev.storage import RunWriter, load
from tests.gui import runs

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_missing_file_then_created(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    follower = RunFollower(path)
    assert follower.poll() is None
    assert "waiting" in follower.problem
    runs.make_run(path, 4)
    snap = follower.poll()
    assert snap is not None and follower.problem == ""
    assert snap.n_finished == 4 and snap.n_sweeps == 9
    assert snap.exit_status == "completed"
    assert snap.layout.outer_dim == "temperature_nominal" and snap.layout.outer_unit == "K"
    assert snap.layout.speedup == 100.0
    assert snap.layout.parameters["temperature_band"] == 0.01


def test_snapshot_matches_storage_load(tmp_path: Path) -> None:
    path = runs.make_run(tmp_path / "run.h5", 5)
    snap = RunFollower(path).poll()
    ds = load(path)
    np.testing.assert_array_equal(snap.didv, ds.dIdV.values)
    np.testing.assert_array_equal(snap.g_normal, ds.g_normal.values)
    np.testing.assert_array_equal(snap.status, ds.status.values)
    assert len(snap.settling) == 3 and snap.settling[0].t.size == 150
    assert snap.settling[2].t.size == 0


def test_new_sweeps_are_read_and_version_moves_only_on_change(tmp_path: Path) -> None:
    path = runs.make_run(tmp_path / "run.h5", 2, exit_status="aborted")
    follower = RunFollower(path)
    first = follower.poll()
    assert follower.poll().version == first.version  # nothing changed
    with RunWriter.open(path) as writer:  # resume: two more sweeps
        runs.write(writer, 0, 2, 1.0e9)
        runs.write(writer, 1, 0, 1.0e9 + 10)
    snap = follower.poll()
    assert snap.version > first.version
    assert snap.n_finished == 4 and snap.exit_status == "completed"
    np.testing.assert_allclose(snap.didv[1, 0, 0], runs.spectrum(1, 0))
    assert np.isnan(first.didv[1, 0, 0]).all()  # an older snapshot is not changed
    assert len(snap.resumed_at) == 1


def test_reader_in_the_writers_own_process(tmp_path: Path) -> None:
    """A GUI runs the engine in a thread: the follower reads the file it writes."""
    path = tmp_path / "run.h5"
    writer = runs.create(path)
    try:
        follower = RunFollower(path)
        assert follower.poll().n_finished == 0
        runs.write(writer, 0, 0, 1.0e9)
        snap = follower.poll()
        assert snap.n_finished == 1 and snap.exit_status == "running"
        assert snap.writer_alive is True
    finally:
        writer.close()
    assert follower.poll().exit_status == "completed"


HOLD_OPEN = """
import sys, time
from pathlib import Path
from andreev.gui.reader import open_for_reading
f = open_for_reading(Path(sys.argv[1]))
print("open", flush=True)
sys.stdin.readline()
f.close()
"""


def test_a_reader_holding_the_file_does_not_block_a_resuming_writer(tmp_path: Path) -> None:
    path = runs.make_run(tmp_path / "run.h5", 2, exit_status="aborted")
    reader = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        with RunWriter.open(path) as writer:  # r+ open: refused if the reader held a lock
            runs.write(writer, 0, 2, 1.0e9)
    finally:
        reader.communicate("\n", timeout=30)
    with open_for_reading(path) as f:
        assert f["entry/data/status"][0, 2, 0] == 1


def live_writer(path: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.gui.runs", mode, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )


def step(proc: subprocess.Popen, expected: str) -> None:
    line = proc.stdout.readline().strip()
    assert line == expected, (line, proc.poll())


def test_live_sweep_in_progress_then_written(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    proc = live_writer(path, "live")
    follower = RunFollower(path)
    try:
        for n_points in (20, 40, 60):
            step(proc, f"live {n_points}")
            snap = follower.poll()
            assert snap.live is not None and snap.live.index == (0, 2, 0)
            assert snap.live.n_points == n_points
            assert np.isfinite(snap.live.didv).sum() == n_points
            np.testing.assert_allclose(snap.live.didv[:n_points], runs.spectrum(0, 2)[:n_points])
            assert snap.writer_alive is True
            proc.stdin.write("\n")
            proc.stdin.flush()
        step(proc, "written")
        snap = follower.poll()
        assert snap.live is None  # finished: the sweep is in /entry/data now
        assert snap.n_finished == 3
        proc.stdin.write("\n")
        proc.stdin.flush()
        step(proc, "closed")
    finally:
        proc.communicate(timeout=30)
    assert follower.poll().exit_status == "completed"
    assert writer_alive(path) is None  # the lock file went with the writer


def test_killed_writer_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    proc = live_writer(path, "die")
    step(proc, "live 20")
    proc.stdin.write("\n")
    proc.stdin.flush()
    step(proc, "live 40")
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(timeout=30) == -9
    snap = RunFollower(path).poll()
    assert snap is not None
    assert snap.exit_status == "running" and snap.writer_alive is False
    assert snap.n_finished == 2
    assert snap.live is not None and snap.live.n_points == 40


@pytest.mark.parametrize("content", ["", "pid x\n", "pid 999999999\n"])
def test_writer_alive_from_lock_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "run.h5"
    (tmp_path / "run.h5.lock").write_text(content)
    assert writer_alive(path) is (False if content.startswith("pid 9") else None)


def test_settling_trace_alone_shows_within_the_settling_period(tmp_path, monkeypatch) -> None:
    from andreev.gui import reader

    path = runs.make_run(tmp_path / "run.h5", 3, exit_status="aborted")
    follower = RunFollower(path)
    assert follower.poll().settling[1].t.size == 0
    with RunWriter.open(path) as writer:  # the wait for step 1 ends; no sweep yet
        runs.settle(writer, 1)
        writer.close("aborted")
    monkeypatch.setattr(reader, "SETTLING_EVERY", 3600.0)
    assert follower.poll().settling[1].t.size == 0  # not read again yet
    monkeypatch.setattr(reader, "SETTLING_EVERY", 0.0)
    assert follower.poll().settling[1].t.size == 150


CUT_FOLLOWER = """
import sys
from andreev.gui.reader import RunFollower
follower = RunFollower(sys.argv[1])
print(follower.poll() is None, follower.problem)
"""


def test_a_file_cut_short_is_reported_not_read_for_ever(tmp_path: Path) -> None:
    """A partial copy of a run file (HDF5's SWMR reads of it retry without end): the
    follower says so at once and keeps polling (in a process of its own, so that a
    regression fails on the timeout instead of hanging the suite)."""
    whole = runs.make_run(tmp_path / "whole.h5", 2)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole.read_bytes()[:3000])
    done = subprocess.run(
        [sys.executable, "-c", CUT_FOLLOWER, str(cut)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("True cannot read: cut short: 3000 of the "), done.stdout
    follower = RunFollower(whole)  # the whole file reads as before
    assert follower.poll() is not None and follower.problem == ""
