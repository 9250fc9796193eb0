"""SIGKILL at each risky instant of the writer (``ANDREEV_KILL_AT``): the file opens
again, ``status`` and ``repair`` work on it, a resume completes it and the sweeps
finished before the kill are intact. Also a file left marked "open for write, not
SWMR" (by older versions: the ~2 ms window of a non-SWMR re-open)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.errors import RunFileError
from andreev.storage import RunWriter, load, repair, run_status
from andreev.storage.recovery import KILL_POINTS
from andreev.storage.superblock import (
    WRITE_ACCESS,
    consistency_flags,
    lookup3,
    superblock_version,
)
from tests.storage.runs import check_sweep, sweep

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

#: creates a run, writes two sweeps, closes; re-opens it, writes one more, closes
LIFE = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[2])
    import runs as t
    from pathlib import Path
    from andreev.storage import RunWriter
    path = Path(sys.argv[1])
    if not path.exists():
        w = t.make_run(path, directions=("forward",))
        w.write_sweep(0, 0, 0, **t.sweep(0, 0, 0))
        w.write_sweep(0, 1, 0, **t.sweep(0, 1, 0))
        w.close("incomplete")
    w = RunWriter.open(path)
    w.write_sweep(1, 0, 0, **t.sweep(1, 0, 0))
    w.close("incomplete")
    """
)
#: opens the run file r+ outside SWMR and dies there (what older versions risked)
LEGACY_KILL = textwrap.dedent(
    """
    import os, signal, sys, h5py
    f = h5py.File(sys.argv[1], "r+")
    f["entry/exit_status"][()] = b"running"
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _run(script: str, path: Path, kill_at: str | None = None) -> int:
    env = dict(os.environ)
    env.pop("ANDREEV_KILL_AT", None)
    if kill_at:
        env["ANDREEV_KILL_AT"] = kill_at
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def _prepared(tmp_path: Path) -> Path:
    """A run with two finished sweeps, closed 'incomplete'."""
    path = tmp_path / "run.h5"
    with RunWriter.create(path, **_make_kwargs()) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
        w.write_sweep(0, 1, 0, **sweep(0, 1, 0))
    return path


def _make_kwargs() -> dict:
    from tests.storage import runs

    return {
        "outer_name": "temperature",
        "outer_values": runs.TEMPS,
        "outer_unit": "K",
        "setpoints": runs.SETPOINTS,
        "bias": runs.BIAS,
        "directions": ("forward",),
        "setpoint_bias": -5e-3,
        "v_mod_rms": 2e-5,
        "config_yaml": runs.CONFIG,
        "snapshot": runs.SNAPSHOT,
    }


def _finish_and_check(path: Path, finished_before: list[tuple[int, int, int]]) -> None:
    """Resume to the end; every sweep finished before the kill is intact."""
    with RunWriter.open(path) as w:
        while (idx := w.first_unfinished()) is not None:
            w.write_sweep(*idx, **sweep(*idx))
    ds = load(path)
    assert ds.attrs["exit_status"] == "completed"
    for idx in finished_before:
        check_sweep(ds, *idx)
    assert (ds["status"].values == "done").all()
    assert consistency_flags(path) == 0
    with h5py.File(path, "r", libver="v110") as f:  # plain, non-SWMR, 1.10 format
        assert f["entry/data/dIdV"].shape[0] == 3
    assert superblock_version(path) == 3


@pytest.mark.parametrize("point", [p for p in KILL_POINTS if p != "rebuild-unflagged"])
def test_kill_at_each_risky_instant(tmp_path: Path, point: str) -> None:
    path = tmp_path / "run.h5"
    assert _run(LIFE, path, point) == -signal.SIGKILL
    if point == "create-laid-out":  # killed before the rename: no run file at all
        assert not path.exists()
        assert _run(LIFE, path) == 0
        _finish_and_check(path, [(0, 0, 0), (0, 1, 0), (1, 0, 0)])
        return
    status = run_status(path)
    assert not status.writer_alive
    assert status.exit_status in ("killed", "incomplete")
    ds = load(path)
    before = [(0, j, 0) for j in range(2) if ds["status"].values[0, j, 0] == "done"]
    if point not in ("create-renamed", "create-opened"):
        assert len(before) == 2 or point.startswith("sweep")
    assert "repaired" in repair(path) or "nothing to repair" in repair(path)
    assert load(path).attrs["exit_status"] in ("killed", "incomplete")
    _finish_and_check(path, before)


def test_legacy_open_for_write_file_is_repaired_and_resumed(tmp_path: Path) -> None:
    path = _prepared(tmp_path)
    assert _run(LEGACY_KILL, path) == -signal.SIGKILL
    assert consistency_flags(path) & WRITE_ACCESS
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")
    with pytest.raises(RunFileError, match="andreev repair"):
        load(path)
    # a repair killed half-way leaves the original as it was
    assert (
        _run(
            "from andreev.storage import repair; import sys; repair(sys.argv[1])",
            path,
            "rebuild-unflagged",
        )
        == -signal.SIGKILL
    )
    assert consistency_flags(path) & WRITE_ACCESS
    assert repair(path).endswith("exit status running -> killed)")
    assert load(path).attrs["exit_status"] == "killed"
    assert run_status(path).done == 2
    _finish_and_check(path, [(0, 0, 0), (0, 1, 0)])


def test_legacy_file_resumes_without_repair(tmp_path: Path) -> None:
    path = _prepared(tmp_path)
    assert _run(LEGACY_KILL, path) == -signal.SIGKILL
    _finish_and_check(path, [(0, 0, 0), (0, 1, 0)])


def test_status_of_a_live_writer(tmp_path: Path) -> None:
    path = _prepared(tmp_path)
    with RunWriter.open(path) as w:
        st = run_status(path)
        assert st.writer_alive and st.exit_status == "running"
        assert f"pid {os.getpid()}" in st.writer
        assert (st.done, st.failed, st.pending, st.total) == (2, 0, 4, 6)
        w.set_status(1, 0, 0, "failed")
        w.write_live((1, 1, 0), {"dIdV": np.full(7, 1e-6)}, points=3, force=True)
        st = run_status(path)
        assert st.failed == 1 and st.live == (1, 1, 0, 3, 0)
        assert np.isfinite(st.eta)
    st = run_status(path)
    assert not st.writer_alive and st.exit_status == "completed" and st.live is None


def test_lookup3_matches_hdf5(tmp_path: Path) -> None:
    path = _prepared(tmp_path)
    block = path.read_bytes()[:48]
    assert lookup3(block[:44]) == int.from_bytes(block[44:48], "little")
    assert lookup3(b"") == 0xDEADBEEF
