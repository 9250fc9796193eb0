"""``andreev status`` and ``andreev repair`` on a killed run file, a live one and junk."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from andreev.storage import load

KILLED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, sys.argv[2])
    import runs as t
    from pathlib import Path
    w = t.make_run(Path(sys.argv[1]))
    for idx in [(0, 0, 0), (0, 0, 1), (0, 1, 0)]:
        w.write_sweep(*idx, **t.sweep(*idx))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def andreev(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "andreev", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_status_and_repair_of_a_killed_run(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    storage_tests = Path(__file__).parents[1] / "storage"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(path), str(storage_tests)])
    assert proc.returncode == -signal.SIGKILL

    out = andreev("status", str(path))
    assert out.returncode == 0, out.stderr
    assert "exit status: killed" in out.stdout
    assert "writer:      none" in out.stdout
    assert "1 done, 0 failed, 5 pending of 6" in out.stdout
    assert f"andreev run --resume {path}" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr

    out = andreev("repair", str(path))
    assert out.returncode == 0, out.stderr
    assert "exit status running -> killed" in out.stdout
    assert f"resume with: andreev run --resume {path}" in out.stdout
    assert load(path).attrs["exit_status"] == "killed"
    out = andreev("repair", str(path))
    assert "nothing to repair" in out.stdout


def test_repair_of_a_completed_run_offers_no_resume(tmp_path: Path) -> None:
    from tests.storage.runs import make_run, sweep

    path = tmp_path / "done.h5"
    with make_run(path) as w:
        while (idx := w.first_unfinished()) is not None:
            w.write_sweep(*idx, **sweep(*idx))
    out = andreev("repair", str(path))
    assert out.returncode == 0, out.stderr
    assert "nothing to repair (closed cleanly, exit status completed)" in out.stdout
    assert "resume" not in out.stdout


def test_the_eta_of_a_live_run_is_a_clock_time_and_a_duration(tmp_path: Path) -> None:
    from andreev.cli.status import _lines
    from andreev.storage import run_status
    from tests.storage.runs import make_run, sweep

    path = tmp_path / "live.h5"
    with make_run(path) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
        w.write_sweep(0, 0, 1, **sweep(0, 0, 1))
        w.write_sweep(0, 1, 0, **sweep(0, 1, 0))
        # as a rate of 14 s per sweep gives for the three pending
        st = dataclasses.replace(run_status(path), eta=time.time() + 42.0)
        (eta,) = [line for line in _lines(st) if line.startswith("ETA:")]
    assert re.fullmatch(r"ETA: +\d{4}-\d\d-\d\d \d\d:\d\d \(in about 4[12]\.\d s\)", eta), eta


def test_status_while_writing_and_repair_refused(tmp_path: Path) -> None:
    from tests.storage.runs import make_run, sweep

    path = tmp_path / "live.h5"
    with make_run(path) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
        out = andreev("status", str(path))
        assert "exit status: running" in out.stdout
        assert f"alive (pid {os.getpid()}" in out.stdout
        out = andreev("repair", str(path))
        assert out.returncode == 1
        assert "another live process" in out.stderr and "not touching it" in out.stderr


@pytest.mark.parametrize("content", [None, b"not hdf5 at all", b"\x89HDF\r\n\x1a\n\x00"])
def test_status_and_repair_of_junk(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "junk.h5"
    if content is not None:
        path.write_bytes(content)
    for command in ("status", "repair"):
        out = andreev(command, str(path))
        assert out.returncode == 2 and not out.stdout
        assert out.stderr.startswith("error: ") and str(path) in out.stderr
        assert "Traceback" not in out.stdout + out.stderr


def test_the_resume_line_names_the_runs_station_file(tmp_path: Path) -> None:
    """A run stores its station file's absolute path; ``status`` and ``repair`` put it in
    the ``--resume`` line (a placeholder when the file is gone or was never stored)."""
    from tests.storage import runs

    station = tmp_path / "fridge.yaml"
    station.write_text("instruments: {}\n", encoding="utf-8")
    path = tmp_path / "run.h5"
    extra = {"sample": "InO-7", "station_file": str(station)}
    with runs.make_run(path, extra_attrs=extra) as w:
        w.write_sweep(0, 0, 0, **runs.sweep(0, 0, 0))
        w.close("aborted")
    for command in ("status", "repair"):
        out = andreev(command, str(path))
        assert out.returncode == 0, out.stderr
        assert f"resume with: andreev run --resume {path} --config {station}" in out.stdout
    station.unlink()
    out = andreev("status", str(path))
    assert f"resume with: andreev run --resume {path} --config STATION.yaml" in out.stdout
