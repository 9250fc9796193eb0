"""One run per station: the lock between two processes, a stale lock after SIGKILL, the
refusal naming who holds it, and the lock file removed on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from andreev.cli import main
from andreev.engine.station_lock import StationLock, lock_path, pid_alive
from andreev.errors import RunLockedError
from tests.conftest import EXPERIMENTS, SIM_STATION

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from andreev.engine.station_lock import StationLock
lock = StationLock(sys.argv[1], "andreev run").acquire()
lock.update(run_file="data/overnight-1.h5")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
print("released", flush=True)
"""


def _holder(station: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(station), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.fixture
def station(tmp_path: Path) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(SIM_STATION.read_text())
    return path


def test_the_lock_file_sits_beside_the_station_and_goes_on_exit(station: Path) -> None:
    with StationLock(station, "andreev info") as lock:
        assert lock.path == station.with_name("station.yaml.lock") == lock_path(station)
        info = json.loads(lock.path.read_text())
        assert info["pid"] == os.getpid() and info["command"] == "andreev info"
    assert not lock.path.exists()


def test_a_second_process_is_refused_with_who_holds_it(station: Path) -> None:
    holder = _holder(station, 30)
    try:
        with pytest.raises(RunLockedError) as info:
            StationLock(station).acquire()
        message = str(info.value)
        assert f"pid {holder.pid}" in message and "andreev run" in message
        assert "since 20" in message and "run file data/overnight-1.h5" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_second_andreev_run_is_one_line_and_moves_nothing(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = _holder(station, 30)
    try:
        code = main(
            [
                "run",
                str(EXPERIMENTS / "spectrum.yaml"),
                "--config",
                str(station),
                "--out",
                str(tmp_path / "data"),
            ]
        )
    finally:
        holder.kill()
        holder.wait()
    captured = capsys.readouterr()
    assert code == 1
    assert f"is in use by pid {holder.pid}" in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert not list((tmp_path / "data").glob("*.h5"))


def test_info_is_refused_while_a_run_holds_the_station(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = _holder(station, 30)
    try:
        assert main(["info", "--config", str(station)]) == 1
    finally:
        holder.kill()
        holder.wait()
    assert f"in use by pid {holder.pid}" in capsys.readouterr().out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_stale_lock_after_a_kill_is_taken_over(
    station: Path, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _holder(station, 30)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert not pid_alive(holder.pid)
    path = lock_path(station)
    assert json.loads(path.read_text())["pid"] == holder.pid  # left behind by the kill
    with caplog.at_level("WARNING"), StationLock(station) as lock:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert lock.held
    assert f"stale lock of pid {holder.pid}" in caplog.text and "not running" in caplog.text
    assert not path.exists()


def test_the_lock_is_free_again_once_the_holder_ends(station: Path) -> None:
    holder = _holder(station, 0.5)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "released"
    holder.wait()
    deadline = time.monotonic() + 5
    while lock_path(station).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with StationLock(station):
        pass


def test_a_read_only_folder_puts_the_lock_in_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANDREEV_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    path = lock_path(SIM_STATION)
    assert path.parent == tmp_path / "state" / "locks" and path.name.startswith("sim-")
