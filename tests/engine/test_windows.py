"""andreev's Windows code paths, run on any platform with only the operating system's
side faked (``tests.engine.winfakes``): Ctrl-Break (SIGBREAK) and closing the console
stop a run safely, the station lock's msvcrt path is removed on every exit, and the lock
of a station in the per-user state folder is one per file whatever the path's spelling
(backslashes, drive letters, case, ``\\\\?\\`` prefixes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from andreev.engine import stop as stop_module
from andreev.engine.events import Event, SweepDone
from andreev.engine.station_lock import StationLock, lock_path, state_lock_name
from andreev.engine.stop import StopFlag
from andreev.errors import RunLockedError
from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge
from andreev.storage import load
from tests.conftest import SIM_STATION
from tests.engine.winfakes import CTRL_C_EVENT, CTRL_CLOSE_EVENT, pretend_windows

ROOT = Path(__file__).resolve().parents[2]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="fakes Windows on POSIX")
pytestmark = posix_only


# ---- Ctrl-Break ------------------------------------------------------------------------
def test_ctrl_break_asks_for_a_stop_and_the_old_handler_comes_back(monkeypatch) -> None:
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)  # the OS side
    before = signal.getsignal(signal.SIGUSR1)
    flag = StopFlag()
    with flag.installed():
        assert signal.getsignal(signal.SIGUSR1) == flag._handle
        signal.raise_signal(signal.SIGUSR1)
        assert flag.is_set() and flag.reason == "SIGUSR1"
        signal.raise_signal(signal.SIGUSR1)  # a second Ctrl-Break: still only a stop
    assert signal.getsignal(signal.SIGUSR1) == before


# ---- closing the console ----------------------------------------------------------------
def test_console_close_sets_the_flag_and_holds_until_the_run_is_over(monkeypatch) -> None:
    kernel32 = pretend_windows(monkeypatch)
    flag = StopFlag()
    answers: list[tuple[int, float]] = []
    with flag.installed():
        (handler,) = kernel32.handlers
        assert kernel32.fire(CTRL_C_EVENT) == 0  # Ctrl-C comes as SIGINT, not here
        closer = threading.Thread(
            target=lambda: answers.append((kernel32.fire(CTRL_CLOSE_EVENT), time.monotonic()))
        )
        closer.start()
        deadline = time.monotonic() + 5
        while not flag.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flag.reason == "console closed"
        time.sleep(0.2)  # the instruments being made safe: Windows must wait
        assert not answers
        ended = time.monotonic()
    closer.join(5)
    assert answers and answers[0][0] == 1 and answers[0][1] >= ended
    assert kernel32.calls == [(handler, True), (handler, False)] and not kernel32.handlers


def test_a_console_close_handler_gives_up_after_its_grace(monkeypatch) -> None:
    kernel32 = pretend_windows(monkeypatch)
    flag = StopFlag()
    console = stop_module._ConsoleCloseHandler(flag, grace=0.2)
    started = time.monotonic()
    assert kernel32.fire(CTRL_CLOSE_EVENT) == 1
    assert 0.2 <= time.monotonic() - started < 2 and flag.reason == "console closed"
    console.remove()


SMALL_LADDER = {
    "procedure": "SetpointLadder",
    "name": "console",
    "parameters": {
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-7,
        "ladder_steps": 3,
        "setpoint_bias": 10.0e-3,
        "bias_start": -1.0e-3,
        "bias_stop": 1.0e-3,
        "bias_points": 21,
        "tip_settle": 0.1,
    },
}


def test_closing_the_console_mid_run_leaves_it_safe_and_closed(
    monkeypatch, sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    import yaml

    kernel32 = pretend_windows(monkeypatch)
    experiment = tmp_path / "console.yaml"
    experiment.write_text(yaml.safe_dump(SMALL_LADDER))
    seen: dict[str, object] = {}

    def close_console() -> None:  # Windows' own thread
        seen["answer"] = kernel32.fire(CTRL_CLOSE_EVENT)
        seen["status"] = load(seen["path"]).attrs["exit_status"]  # type: ignore[arg-type]

    def listener(event: Event) -> None:
        if isinstance(event, SweepDone) and "thread" not in seen:
            seen["thread"] = thread = threading.Thread(target=close_console)
            thread.start()

    result = run_experiment(
        experiment,
        sim_station,
        out_dir=tmp_path,
        listeners=[listener, lambda e: seen.setdefault("path", getattr(e, "path", None))],
    )
    seen["thread"].join(10)  # type: ignore[attr-defined]
    assert result.exit_status == "aborted"
    # the handler returned (Windows ends the process then) only once the file was closed
    assert seen["answer"] == 1 and seen["status"] == "aborted"
    assert "pending" in set(load(result.path).status.values.ravel())
    assert "console closed" in result.path.with_suffix(".log").read_text(encoding="utf-8")
    with sim_fridge.world.lock:
        sim_fridge.world.advance()
        junction = sim_fridge.world.junction
        assert junction.feedback and junction.bias == pytest.approx(10.0e-3, rel=1e-3)
        assert abs(junction.setpoint) == pytest.approx(1.0e-9, rel=1e-3)
    assert sim_fridge.world.crashes == [] and not kernel32.handlers


# ---- the station lock's Windows path ------------------------------------------------------
@pytest.fixture
def station(tmp_path: Path) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(SIM_STATION.read_text())
    return path


def test_the_windows_lock_goes_on_a_normal_exit_and_on_an_exception(
    monkeypatch, station: Path
) -> None:
    pretend_windows(monkeypatch)
    with StationLock(station, "andreev run") as lock:
        assert json.loads(lock.path.read_text())["command"] == "andreev run"
    assert not lock.path.exists()
    with pytest.raises(RuntimeError), StationLock(station) as lock:
        raise RuntimeError("a bug mid-run")
    assert not lock.path.exists()


HOLDER = """
import sys, time
from tests.engine.winfakes import install_msvcrt_for_subprocess
install_msvcrt_for_subprocess()
from andreev.engine.station_lock import StationLock
lock = StationLock(sys.argv[1], "andreev run").acquire()
print("held", flush=True)
time.sleep(30)
"""


def test_a_second_process_is_refused_on_the_windows_path(monkeypatch, station: Path) -> None:
    pretend_windows(monkeypatch)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(station)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"in use by pid {holder.pid}"):
            StationLock(station).acquire()
    finally:
        holder.kill()
        holder.wait()
    with StationLock(station) as lock:  # the holder is gone: its lock with it
        assert lock.held
    assert not lock.path.exists()


# ---- the lock's name in the state folder ---------------------------------------------------
@pytest.mark.parametrize(
    "spelling",
    [
        r"c:\lab\FRIDGE.yaml",
        "C:/Lab/Fridge.yaml",
        r"C:\Lab\sub\..\Fridge.yaml",
        r"\\?\C:\Lab\Fridge.yaml",
    ],
)
def test_one_windows_station_file_is_one_lock_however_spelt(spelling: str) -> None:
    assert state_lock_name(spelling, windows=True) == state_lock_name(
        r"C:\Lab\Fridge.yaml", windows=True
    )


def test_windows_lock_names_are_file_names_and_unc_paths_fold_too() -> None:
    unc = state_lock_name(r"\\server\share\Lab\f.yaml", windows=True)
    assert unc == state_lock_name(r"\\?\UNC\server\share\lab\F.YAML", windows=True)
    assert unc != state_lock_name(r"\\other\share\Lab\f.yaml", windows=True)
    assert state_lock_name(r"D:\Lab\f.yaml", windows=True) != state_lock_name(
        r"C:\Lab\f.yaml", windows=True
    )
    for path in (r"C:\Lab\Fridge.yaml", r"D:\Δµ lab\a:b*?.yaml", r"\\server\share\f.yaml"):
        name = state_lock_name(path, windows=True)
        assert not set(name) & set('<>:"/\\|?*') and name.endswith(".lock")


def test_posix_lock_names_keep_case_and_take_any_bytes() -> None:
    assert state_lock_name("/lab/Fridge.yaml", windows=False) != state_lock_name(
        "/lab/fridge.yaml", windows=False
    )
    undecodable = os.fsdecode(b"/lab/fr\xffidge.yaml")  # a non-UTF-8 file name
    assert state_lock_name(undecodable, windows=False).startswith("fr_idge-")


def test_a_read_only_folder_on_windows_puts_the_lock_in_localappdata(
    monkeypatch, tmp_path: Path
) -> None:
    pretend_windows(monkeypatch)
    monkeypatch.delenv("ANDREEV_STATE_DIR", raising=False)
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "AppData"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    path = lock_path(SIM_STATION)
    assert path.parent == tmp_path / "AppData" / "andreev" / "locks"
    assert path.name == state_lock_name(str(SIM_STATION.resolve()), windows=True)
