"""Lake Shore 372 simulator over a raw socket: golden bytes, `\\r\\n`, errors, control.

The wire tests below the first section are written from the Model 372 manual's
chapter 6: compound messages, emulation, quadrature, curves, the still / analog /
warm-up outputs, the control input's INTYPE, setpoint ramping in world time, and the
rule that a message runs only when its terminator arrives."""

from __future__ import annotations

import itertools
import math
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
    reply = ask(conn, "KRDG? A;RDGK? 6;SRDG? 6;RDGR? A;RDGPWR? 6;RDGST? 6\n")
    lines = reply[:-2].split(b";")
    assert len(lines) == 6
    for line in lines[:5]:
        assert re.fullmatch(NUMBER, line), line
    assert lines[5] == b"0"
    t_sample, t_mc = float(lines[0]), float(lines[1])
    assert 0.045 < t_mc < 0.05 and t_sample == pytest.approx(t_mc, rel=0.01)
    assert float(lines[2]) > 1e3
    assert ask(conn, "KRDG? 06\n").startswith(b"+4.")
    assert ask(conn, "KRDG? 1\n").startswith(b"+3.0")  # PT2 plate
    assert ask(conn, "KRDG? 9;RDGST? 9\n") == b"+0.00000E+00;0\r\n"  # disabled channel


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
    assert ask(conn, "HTR? 0;HTRST? 0;RAMPST? 0\n") == b"+0.00000E+00;0;0\r\n"


def test_errors_are_silent_and_set_esr(conn):
    assert silent(conn, "KRDG? 17\n")
    assert ask(conn, "*ESR?\n") == b"16\r\n"
    assert silent(conn, "BOGUS? 1\n")
    assert ask(conn, "*ESR?\n") == b"32\r\n"
    assert silent(conn, "RANGE 0,9\n")
    assert silent(conn, "PID 0,2000,1,0\n")
    # qcodes' stock driver sends the Model 336 form of HTRSET: refused, nothing changes
    assert silent(conn, "HTRSET 0,0,1,0,0,1\n")
    assert ask(conn, "*ESR?;RANGE? 0;HTRSET? 0\n") == b"16;0;+1.00000E+02,0,+0.00000E+00,1\r\n"
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


# ---- compound messages ---------------------------------------------------------------
def test_compound_message_gets_one_reply_line(conn):
    assert ask(conn, "*IDN?;*ESR?\n") == b"LSCI,MODEL372,LSA0000,1.4;0\r\n"
    reply = ask(conn, "KRDG? A;*ESR?\r\n")
    assert re.fullmatch(NUMBER + rb";0\r\n", reply), reply


def test_compound_with_commands_and_queries_in_order(conn):
    assert ask(conn, "SETP 0,0.1;SETP? 0;RANGE 0,3;RANGE? 0;*ESR?\n") == (b"+1.00000E-01;3;0\r\n")


def test_client_appending_esr_to_every_query_stays_in_step(conn):
    for _ in range(5):
        assert ask(conn, "RANGE? 0;*ESR?\n") == b"0;0\r\n"
        assert ask(conn, "SCAN?;*ESR?\n") == b"06,0;0\r\n"
    # a failing query in the middle: its answer is missing, the error shows in *ESR?
    assert ask(conn, "RANGE? 0;BOGUS?;*ESR?\n") == b"0;32\r\n"


# ---- terminator rule -----------------------------------------------------------------
def test_line_cut_by_disconnect_is_never_executed(server):
    a = socket.create_connection(server.address, timeout=3.0)
    a.sendall(b"RANGE 0,4;SETP 0,0.2")  # no terminator
    a.close()
    time.sleep(0.2)
    b = socket.create_connection(server.address, timeout=3.0)
    try:
        assert ask(b, "RANGE? 0;SETP? 0\n") == b"0;+0.00000E+00\r\n"
    finally:
        b.close()


def test_message_waits_for_its_terminator(conn):
    conn.sendall(b"RANGE 0,")
    time.sleep(0.1)
    conn.sendall(b"2;RANGE? ")
    time.sleep(0.1)
    assert ask(conn, "0\n") == b"2\r\n"


# ---- emulation, quadrature -----------------------------------------------------------
def test_emul_set_and_query(conn):
    assert ask(conn, "EMUL?\n") == b"0\r\n"
    assert ask(conn, "EMUL 1;EMUL?\n") == b"1\r\n"
    assert ask(conn, "EMUL 0;EMUL?;*ESR?\n") == b"0;0\r\n"
    assert ask(conn, "EMUL 2;EMUL?;*ESR?\n") == b"0;16\r\n"


def test_qrdg_measurement_inputs_only(conn):
    reply = ask(conn, "QRDG? 6\n")
    assert re.fullmatch(NUMBER + rb"\r\n", reply)
    assert -1e3 < float(reply) < 0.0
    assert ask(conn, "QRDG? 9\n") == b"+0.00000E+00\r\n"  # disabled channel
    assert silent(conn, "QRDG? A\n")
    assert ask(conn, "*ESR?\n") == b"16\r\n"


# ---- curves --------------------------------------------------------------------------
def test_incrv_set_and_query(conn):
    assert ask(conn, "INCRV? 6\n") == b"06\r\n"
    assert ask(conn, "INCRV 6,12;INCRV? 6;INSET? 6\n") == b"12;1,7,3,12,1\r\n"
    assert ask(conn, "INCRV 6,60;INCRV? 6;*ESR?\n") == b"12;16\r\n"


def test_crvhdr_format(conn):
    assert ask(conn, "CRVHDR? 6\n") == b"RX-102B-SIM    ,SIM0000001,4,+040.000,1\r\n"
    assert ask(conn, "CRVHDR? 30\n") == b"User Curve     ,          ,3,+000.000,1\r\n"
    assert silent(conn, "CRVHDR? 0\n")
    assert ask(conn, "*ESR?\n") == b"16\r\n"


def test_crvpt_points_ascend_in_log_ohms_and_match_the_readings(conn):
    first = ask(conn, "CRVPT? 6,1\n")
    assert re.fullmatch(rb"\+\d\.\d{6},\+\d{2}\.\d{6},\+0\.00000E\+00\r\n", first), first
    units = []
    temps = []
    for i in range(1, 71):
        u, t, _ = ask(conn, f"CRVPT? 6,{i}\n").split(b",")
        units.append(float(u))
        temps.append(float(t))
    assert all(b > a for a, b in itertools.pairwise(units))
    assert all(b < a for a, b in itertools.pairwise(temps))
    assert ask(conn, "CRVPT? 6,71\n") == b"+0.000000,+0.000000,+0.00000E+00\r\n"
    # the bridge's own K and Ω readings lie on the curve (log-linear interpolation)
    k, r = ask(conn, "KRDG? 6;SRDG? 6\n").split(b";")
    logr = math.log10(float(r))
    i = next(n for n, u in enumerate(units) if u > logr)
    frac = (logr - units[i - 1]) / (units[i] - units[i - 1])
    t_curve = 10 ** (math.log10(temps[i - 1]) + frac * math.log10(temps[i] / temps[i - 1]))
    assert t_curve == pytest.approx(float(k), rel=0.02)
    assert silent(conn, "CRVPT? 6,201\n")


# ---- still, analog, warm-up ----------------------------------------------------------
def test_still_set_and_query(conn):
    assert ask(conn, "STILL?\n") == b"+0.00000E+00\r\n"
    assert ask(conn, "STILL 12.5;STILL?\n") == b"+1.25000E+01\r\n"
    assert ask(conn, "STILL 101;STILL?;*ESR?\n") == b"+1.25000E+01;16\r\n"


def test_analog_query_fields_and_aout(conn):
    assert ask(conn, "ANALOG 2,0,2,6,1,+1.0,+0.0,+40.0;*ESR?\n") == b"0\r\n"
    assert ask(conn, "ANALOG? 2\n") == (b"0,2,6,1,+1.00000E+00,+0.00000E+00,+4.00000E+01\r\n")
    assert ask(conn, "OUTMODE? 2\n").startswith(b"2,6,")  # same output, same mode
    assert ask(conn, "AOUT? 2\n") == b"+4.00000E+01\r\n"  # manual mode
    assert ask(conn, "STILL 7;ANALOG 2,0,4,6,1,1,0,0;AOUT? 2\n") == b"+7.00000E+00\r\n"


def test_analog_monitor_scales_the_reading(conn):
    # monitor the mixing chamber in kelvin: 0 % at 0 K, 100 % at 0.1 K
    ask(conn, "ANALOG 1,0,1,6,1,0.1,0,0;*ESR?\n")
    t = float(ask(conn, "KRDG? 6\n"))
    aout = float(ask(conn, "AOUT? 1\n"))
    assert aout == pytest.approx(100 * t / 0.1, rel=0.02)


def test_analog_refuses_bad_fields(conn):
    assert silent(conn, "ANALOG 0,0,2,6,1,1,0,0\n")  # outputs 1 and 2 only
    assert silent(conn, "ANALOG 2,0,2,6,1,1,0,-5\n")  # negative manual while unipolar
    assert silent(conn, "ANALOG 2,0,2,6\n")
    assert ask(conn, "*ESR?\n") == b"16\r\n"
    assert ask(conn, "ANALOG 2,1,2,6,1,1,0,-5;AOUT? 2\n") == b"-5.00000E+00\r\n"


def test_warmup_set_and_query(conn):
    assert ask(conn, "WARMUP?\n") == b"0,+0.00000E+00\r\n"
    assert ask(conn, "WARMUP 1,30;WARMUP?\n") == b"1,+3.00000E+01\r\n"
    ask(conn, "OUTMODE 1,6,A,0,0,1,5;*ESR?\n")
    assert ask(conn, "AOUT? 1\n") == b"+3.00000E+01\r\n"
    assert ask(conn, "WARMUP 2,30;*ESR?\n") == b"16\r\n"


# ---- INTYPE on the control input -----------------------------------------------------
def test_intype_control_input(conn):
    assert ask(conn, "INTYPE? A\n") == b"1,3,1,22,0,1\r\n"
    assert ask(conn, "INTYPE A,1,6,1,0,0,2;INTYPE? A;*ESR?\n") == b"1,6,1,22,0,2;0\r\n"
    # the control input has no resistance range: 0 leaves the field alone
    assert ask(conn, "INTYPE A,1,2,0,12,0,1;INTYPE? A\n") == b"1,2,0,12,0,1\r\n"
    for bad in ("INTYPE A,0,2,0,0,0,1", "INTYPE A,1,7,0,0,0,1", "INTYPE A,1,2,2,0,0,1"):
        assert silent(conn, bad + "\n"), bad
        assert ask(conn, "*ESR?\n") == b"16\r\n"
    assert ask(conn, "INTYPE? A\n") == b"1,2,0,12,0,1\r\n"
    # measurement inputs keep their own ranges (voltage mode, excitation ≤ 12)
    assert ask(conn, "INTYPE 6,0,12,2,22,0,1;INTYPE? 6;*ESR?\n") == b"0,12,2,22,0,1;0\r\n"


def test_rdgpwr_of_control_input_follows_its_excitation(conn):
    p3 = float(ask(conn, "RDGPWR? A\n"))
    ask(conn, "INTYPE A,1,5,0,0,0,1;*ESR?\n")
    p5 = float(ask(conn, "RDGPWR? A\n"))
    assert p5 / p3 == pytest.approx((31.6 / 3.16) ** 2, rel=0.05)


# ---- setpoint ramping ----------------------------------------------------------------
def test_ramp_set_query_and_ramp_status_in_world_time(conn, world):
    assert ask(conn, "RAMP? 0\n") == b"0,+0.00000E+00\r\n"
    ask(conn, "OUTMODE 0,5,A,0,0,1,5;SETP 0,0.05;*ESR?\n")
    assert ask(conn, "RAMP 0,1,0.003;RAMP? 0;RAMPST? 0\n") == b"1,+3.00000E-03;0\r\n"
    # 0.05 K -> 0.10 K at 0.003 K/min takes 1000 s of world time
    t0 = world.clock.now()
    assert ask(conn, "SETP 0,0.1;RAMPST? 0\n") == b"1\r\n"
    while world.clock.now() < t0 + 600:
        time.sleep(0.05)
    before = world.clock.now()
    status = ask(conn, "RAMPST? 0\n")
    if before < t0 + 950:
        assert status == b"1\r\n"
    while world.clock.now() < t0 + 1050:
        time.sleep(0.05)
    assert ask(conn, "RAMPST? 0;SETP? 0\n") == b"0;+1.00000E-01\r\n"


def test_ramp_refuses_bad_rate(conn):
    assert silent(conn, "RAMP 0,1,101\n")
    assert silent(conn, "RAMP 0,2,1\n")
    assert ask(conn, "*ESR?;RAMP? 0\n") == b"16;0,+0.00000E+00\r\n"
