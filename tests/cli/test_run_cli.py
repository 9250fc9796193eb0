"""``andreev run`` on the simulated fridge: -p overrides stored in the run file, the
station's notify: command, the lock released, the plan and progress counting alike."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from andreev.cli import main
from andreev.engine.station_lock import lock_path

SMALL = {
    "procedure": "SetpointLadder",
    "name": "small",
    "parameters": {
        "ladder_start": 1.0e-9,
        "ladder_stop": 4.0e-9,
        "ladder_steps": 2,
        "bias_start": -1.0e-3,
        "bias_stop": 1.0e-3,
        "bias_points": 21,
        "tip_settle": 0.1,
        "approach_settle": 0.1,
        "lockin_time_constant": 0.003,
        "lockin_slope": 12,
    },
}

NOTIFIER = """
import json, os, sys
keys = ("ANDREEV_RUN_FILE", "ANDREEV_STATUS", "ANDREEV_SUMMARY")
open(sys.argv[1], "w").write(json.dumps({k: os.environ[k] for k in keys}))
"""


def _station_with(sim_station: Path, **extra: object) -> Path:
    data = yaml.safe_load(sim_station.read_text())
    data.update(extra)
    sim_station.write_text(yaml.safe_dump(data, sort_keys=False))
    return sim_station


def test_p_overrides_are_used_and_stored_and_notify_runs(
    sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from andreev.storage import load, read_config_yaml

    report = tmp_path / "notified.json"
    station = _station_with(sim_station, notify=[sys.executable, "-c", NOTIFIER, str(report)])
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(SMALL, sort_keys=False))
    out = tmp_path / "data"
    argv = ["run", str(experiment), "--config", str(station), "--out", str(out)]
    code = main([*argv, "-p", "bias_points=31", "-p", "ladder_stop=2e-9", "-p", "backward=true"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    (run_file,) = out.glob("*.h5")
    assert load(run_file).bias.size == 31
    stored = yaml.safe_load(read_config_yaml(run_file))
    assert stored["parameters"]["bias_points"] == 31
    assert stored["parameters"]["ladder_stop"] == 2e-9
    assert "-p bias_points=31" in read_config_yaml(run_file)
    assert stored["parameters"]["backward"] is True
    # the plan and the progress count the same sweeps (both directions are one sweep)
    assert "sweeps: 2 (1 step(s) × 2 setpoint(s), each forward + backward)" in captured.out
    assert "2/2 sweeps (100 %)" in captured.err and ", ends " in captured.err
    assert not lock_path(station).exists()
    notified = json.loads(report.read_text())
    assert notified["ANDREEV_STATUS"] == "completed"
    assert notified["ANDREEV_RUN_FILE"] == str(run_file)
    assert (
        "andreev run completed" in notified["ANDREEV_SUMMARY"]
        and "2/2 sweeps" in (notified["ANDREEV_SUMMARY"])
    )
    assert "Traceback" not in captured.out + captured.err


def test_a_failing_notifier_is_logged_and_the_run_still_completes(
    sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    station = _station_with(sim_station, notify=[sys.executable, "-c", "raise SystemExit(3)"])
    experiment = tmp_path / "small.yaml"
    small = yaml.safe_load(yaml.safe_dump(SMALL))
    small["parameters"]["ladder_steps"] = 1
    small["parameters"]["ladder_stop"] = 1e-9
    experiment.write_text(yaml.safe_dump(small))
    code = main(["run", str(experiment), "--config", str(station), "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 0
    assert "notify:" in err and "exited 3" in err


def test_notify_times_out_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from andreev.cli.notify import notify

    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    assert notify(slow, tmp_path / "x.h5", "failed", "x", timeout=0.5) is False
    assert "did not finish within 0.5 s" in caplog.text
    assert notify([str(tmp_path / "no-such-program")], None, "failed", "x") is False
    assert notify([], None, "completed", "x") is True


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: data)" in text and "KEY=VALUE" in text
    assert "config/sim.yaml of the andreev project" in text
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    assert "(default:" in capsys.readouterr().out


def test_the_default_station_is_the_projects_not_the_working_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from andreev.cli.common import default_station

    monkeypatch.chdir(tmp_path)
    assert default_station() == Path(__file__).resolve().parents[2] / "config" / "sim.yaml"
    experiment = Path(__file__).resolve().parents[2] / "config" / "experiments" / "demo.yaml"
    assert main(["run", str(experiment), "--dry-run"]) == 0
    assert "nothing was moved" in capsys.readouterr().out


def test_the_missing_default_station_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import andreev.cli.common as common

    monkeypatch.setattr(common, "project_root", lambda: tmp_path)
    experiment = Path(__file__).resolve().parents[2] / "config" / "experiments" / "demo.yaml"
    assert main(["run", str(experiment), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"not at {tmp_path / 'config' / 'sim.yaml'}" in err and "--config" in err


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import andreev.cli.run as run

    def broken(args: object) -> int:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setenv("ANDREEV_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(run, "run_main", broken)
    assert main(["run", "x.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "ZeroDivisionError: float division by zero" in err
    assert "Traceback" in (tmp_path / "andreev-errors.log").read_text()
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "run", "x.yaml"])


def test_a_cp1252_console_prints_what_it_cannot_show_as_question_marks(tmp_path: Path) -> None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; from andreev.cli.common import console_safe; console_safe(); "
        "print('gap \\u0394 = 0.55 meV')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env={"PYTHONPATH": str(root), "PYTHONIOENCODING": "cp1252"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == b"gap ? = 0.55 meV"


def test_instruments_nobody_listens_on_are_one_line_naming_the_instrument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from tests.conftest import SIM_STATION

    def dead_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    data = yaml.safe_load(SIM_STATION.read_text())
    data["instruments"]["lockin"]["address"] = f"TCPIP0::127.0.0.1::{dead_port()}::SOCKET"
    data["instruments"]["bridge"]["address"] = f"TCPIP0::127.0.0.1::{dead_port()}::SOCKET"
    data["instruments"]["stm"]["address"] = f"127.0.0.1:{dead_port()}"
    report = tmp_path / "notified.json"
    data["notify"] = [sys.executable, "-c", NOTIFIER, str(report)]
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump(data))
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "data"
    code = main(["run", str(experiment), "--config", str(station), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    (line,) = captured.err.strip().splitlines()
    assert re.search(r"station.yaml: instruments: cannot connect to (lockin|bridge|stm) at ", line)
    assert line.count(" at ") == 1  # the one instrument that failed
    assert "Traceback" not in captured.out + captured.err
    assert not list(tmp_path.rglob("*.h5")) and not lock_path(station).exists()
    notified = json.loads(report.read_text())  # a run that fails notifies too
    assert notified["ANDREEV_STATUS"] == "failed" and notified["ANDREEV_RUN_FILE"] == ""
    assert "Connection refused" in notified["ANDREEV_SUMMARY"]


def _one_sweep_run(station: Path, tmp_path: Path) -> Path:
    """A completed run of one sweep (its file)."""
    experiment = tmp_path / "small.yaml"
    small = yaml.safe_load(yaml.safe_dump(SMALL))
    small["parameters"].update(ladder_steps=1, ladder_stop=1e-9)
    experiment.write_text(yaml.safe_dump(small))
    out = tmp_path / "data"
    assert main(["run", str(experiment), "--config", str(station), "--out", str(out)]) == 0
    (run_file,) = out.glob("*.h5")
    return run_file


def test_resuming_a_completed_run_touches_no_instrument(
    sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_file = _one_sweep_run(sim_station, tmp_path)
    capsys.readouterr()
    # the instruments are gone: a resume that connected would fail
    bad = yaml.safe_load(sim_station.read_text())
    bad["instruments"]["lockin"]["address"] = "TCPIP0::127.0.0.1::1::SOCKET"
    station = tmp_path / "gone.yaml"
    station.write_text(yaml.safe_dump(bad))
    assert main(["run", "--resume", str(run_file), "--config", str(station)]) == 0
    assert "nothing to resume" in capsys.readouterr().out


def test_an_instrument_garbling_at_connect_is_one_clean_line(
    sim_fridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock-in garbles its replies while the station opens: one line naming it and
    what went wrong, without the context qcodes appends to the error's arguments."""
    sim_fridge.servers["lockin"].faults.garbage_next = 2
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "data"
    code = main(["run", str(experiment), "--config", str(sim_station), "--out", str(out)])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(lines) == 1, captured.err
    assert lines[0].startswith("error: lockin: ") and "getting " not in lines[0], lines[0]
    assert not lines[0].startswith("error: (")  # not a tuple of qcodes' context
    assert not list(tmp_path.rglob("*.h5")) and not lock_path(sim_station).exists()


def test_a_silent_lockin_at_connect_is_one_line_without_the_drivers_own_query(
    sim_fridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lock-in that accepts and never answers: one bounded line naming it and its
    address, not the query the driver made on its own (``SRAT ?``) nor qcodes' context."""
    import time

    sim_fridge.servers["lockin"].faults.silent = True
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(SMALL))
    started = time.monotonic()
    code = main(["run", str(experiment), "--config", str(sim_station), "--out", str(tmp_path)])
    took = time.monotonic() - started
    sim_fridge.servers["lockin"].faults.silent = False
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert code == 1 and took < 30
    assert "cannot connect to lockin at TCPIP0::127.0.0.1::" in line
    assert "no reply within" in line
    assert "SRAT" not in line and "getting " not in line and "('" not in line, line
    assert not list(tmp_path.rglob("*.h5")) and not lock_path(sim_station).exists()


@pytest.mark.parametrize("fault", ["drop_next", "garbage_next"])
def test_a_bridge_reply_dropped_or_garbled_once_leaves_a_clean_completed_run(
    sim_fridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    """One lost or garbled bridge reply (its identity query at connect): the run
    completes, the console shows one warning and no traceback (qcodes' own records go
    to the run's log), and the snapshot has the bridge's identity, not None."""
    import h5py

    setattr(sim_fridge.servers["bridge"].faults, fault, 1)
    run_file = _one_sweep_run(sim_station, tmp_path)
    captured = capsys.readouterr()
    console = captured.out + captured.err
    assert "Traceback" not in console and "qcodes" not in console, console
    with h5py.File(run_file, "r") as f:
        snapshot = json.loads(f["entry/station_snapshot/data"][()])
    assert snapshot["instruments"]["bridge"]["parameters"]["IDN"]["value"]["model"] == "372"


def test_qcodes_records_go_to_the_runs_log_never_the_console(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """qcodes logs a failed snapshot update with its traceback: while a run lasts that
    record goes to the run's log, and andreev's own warnings still reach the console."""
    import logging

    from andreev.cli.run import _RunLogging

    run_file = tmp_path / "run.h5"
    with _RunLogging(None) as logs:
        logs.run_file(run_file)
        try:
            raise TimeoutError("no reply")
        except TimeoutError:
            logging.getLogger("qcodes.instrument.base").warning(
                "Snapshot: Could not update parameter: IDN", exc_info=True
            )
        logging.getLogger("andreev.engine").warning("bridge: garbled reply; asking again")
    console = capsys.readouterr().err
    assert "Traceback" not in console and "Snapshot" not in console
    assert "garbled reply" in console
    log = run_file.with_suffix(".log").read_text(encoding="utf-8")
    assert "Snapshot: Could not update parameter: IDN" in log and "Traceback" in log


def test_a_failed_run_is_one_error_line_then_its_file_and_the_resume_line(
    sim_fridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A preamp that always clips: the run fails with one error line on the console, the
    file's exit status and the line to continue; the traceback once, in the run's log."""
    from andreev.storage import load

    with sim_fridge.world.lock:
        sim_fridge.world.faults.force_clip = True
    experiment = tmp_path / "small.yaml"
    experiment.write_text(yaml.safe_dump(SMALL))
    out = tmp_path / "data"
    code = main(["run", str(experiment), "--config", str(sim_station), "--out", str(out)])
    captured = capsys.readouterr()
    (run_file,) = out.glob("*.h5")
    assert code == 1
    assert "Traceback" not in captured.out + captured.err
    errors = [line for line in captured.err.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "preamp clipping" in errors[0], captured.err
    assert f"run failed: {run_file}" in captured.out
    assert f"continue with: andreev run --resume {run_file} --config {sim_station}" in (
        captured.out
    )
    assert load(run_file).attrs["exit_status"] == "failed"
    assert run_file.with_suffix(".log").read_text().count("Traceback") == 1
    assert not lock_path(sim_station).exists()


def test_resuming_a_file_another_process_writes_touches_no_instrument(
    sim_fridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from andreev.storage.recovery import WriterLock

    run_file = _one_sweep_run(sim_station, tmp_path)
    capsys.readouterr()
    for server in sim_fridge.servers.values():
        server.clear_received()
    writer = WriterLock(run_file)  # as a live writer holds it (another station file, say)
    try:
        code = main(["run", "--resume", str(run_file), "--config", str(sim_station)])
    finally:
        writer.release()
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, lines
    assert "is being written by another live process (pid " in lines[0]
    assert all(not server.received for server in sim_fridge.servers.values())
