"""Lake Shore 372 simulator over a raw socket: golden bytes, `\\r\\n`, errors, control."""

from __future__ import annotations

import re
import socket
import time

import pytest

from andreev.sim import SimConfig, World
from andreev.sim.ls372_server import LS372Server
from tests.sim.textwire import ask as wire_ask
from tests.sim.textwire import silent

NUMBER = rb"[-+]\d\.\d{5}E[-+]\d{2}"


@pytest.fixture
def world():
    return World(SimConfig(speedup=1000, seed=5))


@pytest.fixture
def server(world):
    srv = LS372Server(world).start()
    yield srv
    srv.stop()


@pytest.fixture
def conn(server):
    sock = socket.create_connection(server.address, timeout=2.0)
    yield sock
    sock.close()


def ask(sock, text: str, lines: int = 1) -> bytes:
    """Replies of the 372 end in CR LF."""
    return wire_ask(sock, text, lines, terminator=b"\r\n")


def test_idn_golden_with_either_line_ending(conn):
    assert ask(conn, "*IDN?\n") == b"LSCI,MODEL372,LSA0000,1.4\r\n"
    assert ask(conn, "*IDN?\r\n") == b"LSCI,MODEL372,LSA0000,1.4\r\n"


def test_reading_formats(conn):
    reply = ask(conn, "KRDG? A;RDGK? 6;SRDG? 6;RDGR? A;RDGPWR? 6;RDGST? 6\n", 6)
    lines = reply.split(b"\r\n")[:6]
    for line in lines[:5]:
        assert re.fullmatch(NUMBER, line), line
    assert lines[5] == b"0"
    t_sample, t_mc = float(lines[0]), float(lines[1])
    assert 0.045 < t_mc < 0.05 and t_sample == pytest.approx(t_mc, rel=0.01)
    assert float(lines[2]) > 1e3
    assert ask(conn, "KRDG? 06\n").startswith(b"+4.")
    assert ask(conn, "KRDG? 1\n").startswith(b"+3.0")  # PT2 plate
    assert ask(conn, "KRDG? 9;RDGST? 9\n", 2) == b"+0.00000E+00\r\n0\r\n"  # disabled channel


@pytest.mark.parametrize(
    ("command", "query", "reply"),
    [
        ("SETP 0,0.25", "SETP? 0", b"+2.50000E-01\r\n"),
        ("PID 0,4,60,0", "PID? 0", b"+4.00000E+00,+6.00000E+01,+0.00000E+00\r\n"),
        ("RANGE 0,3", "RANGE? 0", b"3\r\n"),
        ("OUTMODE 0,5,6,0,0,0,5", "OUTMODE? 0", b"5,6,0,0,0,5\r\n"),
        ("OUTMODE 0, 2, A, 0, 0, 0, 5", "OUTMODE? 0", b"2,A,0,0,0,5\r\n"),
        ("MOUT 0,12.5", "MOUT? 0", b"+1.25000E+01\r\n"),
        ("HTRSET 0,120,0,0,2", "HTRSET? 0", b"+1.20000E+02,0,+0.00000E+00,2\r\n"),
        ("RAMP 0,1,0.5", "RAMP? 0", b"1,+5.00000E-01\r\n"),
        ("SCAN 6,0", "SCAN?", b"06,0\r\n"),
        ("INSET 6,1,7,3,6,1", "INSET? 6", b"1,7,3,6,1\r\n"),
        ("INTYPE 6,1,5,0,12,0,1", "INTYPE? 6", b"1,5,0,12,0,1\r\n"),
        ("FILTER 6,1,10,2", "FILTER? 6", b"1,10,2\r\n"),
        ('INNAME 6,"MC RuOx"', "INNAME? 6", b"MC RuOx\r\n"),
        ("TLIMIT 6,5.0", "TLIMIT? 6", b"+5.00000E+00\r\n"),
        (
            "ZONE 0,1,0.1,4,60,0,0,3,0,0,0",
            "ZONE? 0,1",
            b"+1.00000E-01,+4.00000E+00,+6.00000E+01,+0.00000E+00,+0.00000E+00,3,"
            b"+0.00000E+00,0,0\r\n",
        ),
    ],
)
def test_settings_round_trip(conn, command, query, reply):
    conn.sendall(f"{command}\r\n".encode())
    assert ask(conn, f"{query}\r\n") == reply
    assert ask(conn, "*ESR?\n") == b"0\r\n"


def test_heater_queries(conn):
    assert ask(conn, "HTR? 0;HTRST? 0;RAMPST? 0\n", 3) == b"+0.00000E+00\r\n0\r\n0\r\n"


def test_errors_are_silent_and_set_esr(conn):
    assert silent(conn, "KRDG? 17\n")
    assert ask(conn, "*ESR?\n") == b"16\r\n"
    assert silent(conn, "BOGUS? 1\n")
    assert ask(conn, "*ESR?\n") == b"32\r\n"
    assert silent(conn, "RANGE 0,9\n")
    assert silent(conn, "PID 0,2000,1,0\n")
    # qcodes' stock driver sends the Model 336 form of HTRSET: refused, nothing changes
    assert silent(conn, "HTRSET 0,0,1,0,0,1\n")
    assert ask(conn, "*ESR?;RANGE? 0;HTRSET? 0\n", 3) == (
        b"16\r\n0\r\n+1.00000E+02,0,+0.00000E+00,1\r\n"
    )
    conn.sendall(b"BOGUS\n*CLS\n")
    assert ask(conn, "*ESR?\n") == b"0\r\n"


def test_at_most_two_connections(server):
    a = socket.create_connection(server.address, timeout=2)
    b = socket.create_connection(server.address, timeout=2)
    c = socket.create_connection(server.address, timeout=2)
    try:
        assert ask(a, "*IDN?\n").startswith(b"LSCI")
        assert ask(b, "*IDN?\n").startswith(b"LSCI")
        assert c.recv(10) == b""
    finally:
        for s in (a, b, c):
            s.close()


def test_closed_loop_moves_sample_towards_setpoint(conn):
    start = float(ask(conn, "KRDG? A\n"))  # before the heater: at speedup 1000 a busy
    # machine's few ms between commands are seconds of heating
    conn.sendall(b"OUTMODE 0,5,A,0,0,0,5;PID 0,5,40,0;RANGE 0,5;SETP 0,0.8\n")
    time.sleep(0.6)  # 600 s of world time
    reading = float(ask(conn, "KRDG? A\n"))
    assert start < 0.06
    assert reading == pytest.approx(0.8, rel=0.01)
    assert 0 < float(ask(conn, "HTR? 0\n")) < 100


def test_open_loop_and_off(conn):
    conn.sendall(b"OUTMODE 0,2,A,0,0,0,5;RANGE 0,4;MOUT 0,40\n")
    time.sleep(0.2)
    assert float(ask(conn, "HTR? 0\n")) == pytest.approx(40.0)
    conn.sendall(b"OUTMODE 0,0,A,0,0,0,5\n")
    time.sleep(0.01)
    assert float(ask(conn, "HTR? 0\n")) == 0.0


def test_faults(server, conn, world):
    server.faults.delay = 0.2
    t0 = time.monotonic()
    assert ask(conn, "*IDN?\n").startswith(b"LSCI")
    assert time.monotonic() - t0 >= 0.19
    server.faults.delay = 0.0
    server.faults.garbage_next = 1
    assert not ask(conn, "*IDN?\n").startswith(b"LSCI")
    server.faults.silent = True
    assert silent(conn, "SETP 0,0.3;SETP? 0\n")
    server.faults.silent = False
    assert ask(conn, "SETP? 0\n") == b"+3.00000E-01\r\n"  # silent: executed, not answered
    server.faults.drop_next = 1
    conn.sendall(b"SETP 0,0.5\n")
    assert conn.recv(10) == b""
    assert "SETP 0,0.5" not in server.received
    assert world.thermal.output.setpoint == pytest.approx(0.3)
