"""`andreev sim`: prints one address per instrument, serves, exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.yaml"


def config_with_free_ports(tmp_path: Path) -> Path:
    doc = yaml.safe_load(CONFIG.read_text())
    doc["sim"]["ports"] = {"lockin": 0, "bridge": 0, "stm": 0}
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_andreev_sim_serves_until_signal(tmp_path, sig):
    cfg = config_with_free_ports(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "andreev", "sim", "--config", str(cfg), "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        addresses = {}
        for line in lines:
            m = re.fullmatch(r"(lockin|bridge|stm) 127\.0\.0\.1:(\d+)", line)
            assert m, lines
            addresses[m.group(1)] = int(m.group(2))
        assert set(addresses) == {"lockin", "bridge", "stm"}
        with socket.create_connection(("127.0.0.1", addresses["lockin"]), timeout=5) as s:
            s.sendall(b"*IDN?\n")
            assert s.recv(100).startswith(b"Stanford_Research_Systems,SR830")
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_bad_config_exits_2(tmp_path):
    from argparse import Namespace

    from andreev.sim.serve import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("sim:\n  sede: 1\n")
    assert main(Namespace(config=bad, speedup=None, seed=None)) == 2


def test_a_speedup_above_the_maximum_is_refused_with_the_range(tmp_path, capsys):
    from argparse import Namespace

    from andreev.sim.config import MAX_SPEEDUP
    from andreev.sim.serve import main

    station = tmp_path / "station.yaml"
    station.write_text("sim: {}\n")
    assert main(Namespace(config=station, speedup=MAX_SPEEDUP * 10, seed=None)) == 2
    err = capsys.readouterr().err
    assert "--speedup" in err and f"{MAX_SPEEDUP:g}" in err and "outside the allowed range" in err
    station.write_text(f"clock: {{speedup: {MAX_SPEEDUP * 10:g}}}\n")
    assert main(Namespace(config=station, speedup=None, seed=None)) == 2
    assert "clock.speedup" in capsys.readouterr().err
