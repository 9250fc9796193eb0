"""``andreev run`` on what Windows does differently, on any platform (only the OS side
faked, ``tests.engine.winfakes``): the station's lock file is gone after every way a run
ends (completed, Ctrl-C, Ctrl-Break, a crash), on the lock's msvcrt path too; and a
cp1252 console (``PYTHONIOENCODING=cp1252``) prints a run and a dry run whose paths hold
Δ and µ without a UnicodeEncodeError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from andreev.cli import main
from andreev.engine.station_lock import lock_path
from andreev.sim import SimFridge
from tests.cli.test_run_cli import SMALL
from tests.engine.winfakes import pretend_windows

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fakes Windows on POSIX")
LONGER = {**SMALL, "parameters": {**SMALL["parameters"], "ladder_steps": 3, "bias_points": 41}}


def _signal_mid_run(fridge: SimFridge, signum: int) -> threading.Thread:
    """Send ``signum`` to this process once the lock-in has taken a few points."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(c.startswith("SNAP") for c in list(fridge.servers["lockin"].received)) >= 5:
                os.kill(os.getpid(), signum)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    ("platform", "ending", "code"),
    [
        ("windows", "completed", 0),
        ("windows", "ctrl-break", 130),
        ("windows", "crash", 1),
        ("posix", "ctrl-c", 130),
        ("posix", "crash", 1),
    ],
)
def test_the_station_lock_goes_however_the_run_ends(
    platform: str,
    ending: str,
    code: int,
    sim_fridge: SimFridge,
    sim_station: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if platform == "windows":
        pretend_windows(monkeypatch)
        monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    # a late signal must never end the test process: SIGUSR1 ignored outside the run
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    monkeypatch.setenv("ANDREEV_STATE_DIR", str(tmp_path / "state"))
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(LONGER if ending.startswith("ctrl") else SMALL))
    out = tmp_path / "data"
    if ending == "crash":  # the run folder cannot be made: an OSError mid-command
        (tmp_path / "afile").write_text("")
        out = tmp_path / "afile" / "data"
    if ending in ("ctrl-c", "ctrl-break"):
        _signal_mid_run(sim_fridge, signal.SIGINT if ending == "ctrl-c" else signal.SIGUSR1)
    try:
        got = main(["run", str(experiment), "--config", str(sim_station), "--out", str(out)])
    finally:
        signal.signal(signal.SIGUSR1, previous)
    captured = capsys.readouterr()
    assert got == code, captured.out + captured.err
    assert not lock_path(sim_station).exists()
    assert "Traceback" not in captured.out + captured.err
    if ending == "crash":
        assert "NotADirectoryError" in captured.err
    if code == 130:
        assert "run aborted:" in captured.out and "continue with: andreev run --resume" in (
            captured.out
        )


def test_a_cp1252_console_prints_a_run_and_a_dry_run(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "Δµ"
    folder.mkdir()
    experiment = folder / "gap Δ at 1 µA.yaml"
    one = {**SMALL, "parameters": {**SMALL["parameters"], "ladder_steps": 1, "ladder_stop": 1e-9}}
    experiment.write_text(yaml.safe_dump(one))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONIOENCODING": "cp1252",
        "ANDREEV_STATE_DIR": str(tmp_path / "state"),
    }
    base = [sys.executable, "-m", "andreev", "run", str(experiment), "--config", str(sim_station)]
    for extra in (["--dry-run"], ["--out", str(folder / "data")]):
        done = subprocess.run(
            [*base, *extra], capture_output=True, env=env, cwd=tmp_path, timeout=120
        )
        out, err = done.stdout.decode("cp1252"), done.stderr.decode("cp1252")
        assert done.returncode == 0, out + err
        assert "UnicodeEncodeError" not in out + err and "Traceback" not in out + err
        assert "gap ? at 1 µA.yaml" in out  # Δ is not in cp1252: shown as ?; µ is
    assert "run completed:" in out and "?µ" in out
    assert len(list((folder / "data").glob("*.h5"))) == 1
