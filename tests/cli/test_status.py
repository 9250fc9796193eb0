"""``andreev status`` and ``andreev repair`` on a killed run file, a live one and junk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
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
    assert load(path).attrs["exit_status"] == "killed"
    out = andreev("repair", str(path))
    assert "nothing to repair" in out.stdout


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
        assert "another live process" in out.stdout and "not touching it" in out.stdout


@pytest.mark.parametrize("content", [None, b"not hdf5 at all", b"\x89HDF\r\n\x1a\n\x00"])
def test_status_and_repair_of_junk(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "junk.h5"
    if content is not None:
        path.write_bytes(content)
    for command in ("status", "repair"):
        out = andreev(command, str(path))
        assert out.returncode == 2
        assert out.stdout.startswith("error: ") and str(path) in out.stdout
        assert "Traceback" not in out.stdout + out.stderr
