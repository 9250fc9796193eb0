"""A writer killed with SIGKILL: the lock refuses a second writer while it lives; afterwards
the file is readable, rebuilt on open, and the run resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import pytest

from andreev.storage import RunLockedError, RunWriter, load, load_settling
from tests.storage.runs import (
    CONFIG,
    check_sweep,
    sweep,
)

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    import runs as t
    from pathlib import Path
    w = t.make_run(Path(sys.argv[1]), directions=("forward",))
    w.write_settling_trace(0, [0.0, 1.0], [0.06, 0.05], [3.0, 2.0])
    w.write_sweep(0, 0, 0, **t.sweep(0, 0, 0))
    w.write_sweep(0, 1, 0, **t.sweep(0, 1, 0))
    # the sweep in flight: data written but never committed
    w._data["dIdV"][1, 0, 0, :] = 7.0
    print("ready", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill9_recovery_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(RunLockedError, match="another live process"):
            RunWriter.open(path)  # must not hijack a live writer
        assert load(path)["status"].values[0, :, 0].tolist() == ["done", "done"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    # The dead writer left the superblock marked open: plain HDF5 refuses to write.
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r+")

    ds = load(path)
    assert ds.attrs["exit_status"] == "killed"  # stored "running", writer dead
    assert ds["status"].values[..., 0].tolist() == [
        ["done", "done"],
        ["pending", "pending"],
        ["pending", "pending"],
    ]
    check_sweep(ds, 0, 0, 0)
    check_sweep(ds, 0, 1, 0)
    assert load_settling(path)[0]["temperature"].values.tolist() == [0.06, 0.05]

    with RunWriter.open(path) as w:
        assert w.first_unfinished() == (1, 0, 0)
        assert w.directions == ("forward",)
        assert w.outer_dim == "temperature_nominal"
        while (idx := w.first_unfinished()) is not None:
            w.write_sweep(*idx, **sweep(*idx))
        w.write_settling_trace(2, [0.0], [1.5], [40.0])
    assert not path.with_name(path.name + ".recovering").exists()

    ds = load(path)
    assert ds.attrs["exit_status"] == "completed"
    assert len(ds.attrs["resumed_at"]) == 1
    assert (ds["status"].values == "done").all()
    for i in range(3):
        for j in range(2):
            check_sweep(ds, i, j, 0)
    assert ds.attrs["config_yaml"] == CONFIG
    assert ds.attrs["sample"] == "InO-7"
    assert [t.sizes["t"] for t in load_settling(path)] == [2, 0, 1]
    with h5py.File(path, "r+") as f:  # the file is an ordinary, clean HDF5 file again
        assert f["entry/settling/outer_000/t"].maxshape == (None,)


def test_the_writer_lock_file_goes_on_windows_too(tmp_path: Path, monkeypatch) -> None:
    """Windows' branch (only the OS side faked: the platform seen by the module, msvcrt):
    the ``.lock`` beside the run file is removed once released, as on POSIX."""
    import types

    from andreev.storage import recovery
    from tests.engine.winfakes import FakeMsvcrt

    monkeypatch.setattr(recovery, "sys", types.SimpleNamespace(platform="win32"))
    monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt())
    run = tmp_path / "run.h5"
    lock = recovery.WriterLock(run)
    assert lock.path.exists() and recovery.writer_alive(run)
    lock.release()
    assert not lock.path.exists() and not recovery.writer_alive(run)
