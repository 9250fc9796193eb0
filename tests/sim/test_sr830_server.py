"""SR830 simulator over a raw socket: golden bytes, errors, `++` lines, `;`, faults."""

from __future__ import annotations

import re
import socket
import struct
import time

import numpy as np
import pytest

from andreev.sim import SimConfig, World
from andreev.sim.lockin import LockinState
from andreev.sim.sr830_buffer import filter_outputs, trcl_bytes
from andreev.sim.sr830_server import SR830Server
from tests.sim.textwire import ask, silent
from tests.sim.textwire import read_exact as textwire_read_exact

NUMBER = r"-?\d+(\.\d+)?(e[-+]\d+)?"


@pytest.fixture
def world():
    return World(SimConfig(speedup=1000, seed=11))


@pytest.fixture
def server(world):
    srv = SR830Server(world).start()
    yield srv
    srv.stop()


@pytest.fixture
def conn(server):
    sock = socket.create_connection(server.address, timeout=2.0)
    yield sock
    sock.close()


def test_idn_golden(conn):
    assert ask(conn, "*IDN?\n") == b"Stanford_Research_Systems,SR830,s/n00000,ver1.07\n"


def test_prologix_lines_ignored_and_semicolons(conn, server):
    reply = ask(conn, "++mode 1\n++addr 8\nSLVL 0.1; OFLT 8;OFSL 1 ;SLVL?;OFLT?;OFSL?\n", 3)
    assert reply == b"0.100\n8\n1\n"
    assert not any(c.startswith("++") for c in server.received)
    assert server.received[:3] == ["SLVL 0.1", "OFLT 8", "OFSL 1"]


def test_snap_reply_format(conn):
    assert ask(conn, "SNAP? 9,5\n") == b"1000,0\n"
    reply = ask(conn, "SNAP? 1,2,3,4,9,10\n").decode()
    assert reply.endswith("\n") and "\r" not in reply
    values = reply.strip().split(",")
    assert len(values) == 6 and all(re.fullmatch(NUMBER, v) for v in values)
    x, y, r = (float(v) for v in values[:3])
    assert r == pytest.approx((x * x + y * y) ** 0.5, rel=1e-4)
    assert float(values[4]) == 1000.0 and float(values[5]) == pytest.approx(x, rel=1e-4)


def test_snap_wrong_count_fails_silently(conn):
    assert silent(conn, "SNAP? 1\n")
    assert ask(conn, "*ESR?\n") == b"16\n"
    assert silent(conn, "SNAP? 1,2,3,4,5,6,7\n")
    assert ask(conn, "*ESR?\n") == b"16\n"
    assert ask(conn, "*ESR?\n") == b"0\n"  # cleared on read


def test_illegal_command_sets_bit5_bad_parameter_bit4(conn):
    assert silent(conn, "FOOB?\n")
    assert ask(conn, "*ESR?\n") == b"32\n"
    assert silent(conn, "SENS 27\n")
    assert silent(conn, "SLVL 6\n")
    assert silent(conn, "OUTP? 7\n")
    assert ask(conn, "*ESR?;SENS?\n", 2) == b"16\n26\n"
    conn.sendall(b"FOOB 1\n*CLS\n")
    assert ask(conn, "*ESR?\n") == b"0\n"


@pytest.mark.parametrize(
    ("command", "query", "reply"),
    [
        ("FREQ 137.5", "FREQ?", b"137.5\n"),
        ("PHAS 370", "PHAS?", b"10.00\n"),
        ("HARM 2", "HARM?", b"2\n"),
        ("FMOD 1", "FMOD?", b"1\n"),
        ("RSLP 2", "RSLP?", b"2\n"),
        ("ISRC 1", "ISRC?", b"1\n"),
        ("IGND 1", "IGND?", b"1\n"),
        ("ICPL 1", "ICPL?", b"1\n"),
        ("ILIN 2", "ILIN?", b"2\n"),
        ("SENS 17", "SENS?", b"17\n"),
        ("RMOD 2", "RMOD?", b"2\n"),
        ("OFLT 19", "OFLT?", b"19\n"),
        ("OFSL 3", "OFSL?", b"3\n"),
        ("SYNC 1", "SYNC?", b"1\n"),
        ("OUTX 0", "OUTX?", b"0\n"),
        ("AUXV 2, -1.25", "AUXV? 2", b"-1.250\n"),
        ("OEXP 1,12.5,1", "OEXP? 1", b"12.50,1\n"),
        ("DDEF 1,1,0", "DDEF ? 1", b"1,0\n"),
        ("FPOP 2,1", "FPOP? 2", b"1\n"),
        ("OVRM 0", "OVRM?", b"0\n"),
    ],
)
def test_settings_round_trip(conn, command, query, reply):
    conn.sendall(f"{command}\n".encode())
    assert ask(conn, f"{query}\n") == reply
    assert ask(conn, "*ESR?\n") == b"0\n"


def test_reset_and_queries_every_stock_driver_init_command(conn):
    conn.sendall(b"SENS 3;OFLT 2\n*RST\n")
    assert ask(conn, "SENS?;OFLT?;SLVL?\n", 3) == b"26\n8\n1.000\n"
    assert ask(conn, "SRAT ?;SPTS ?;DDEF ? 2;ISRC?;OAUX? 3\n", 5) == b"4\n0\n0,0\n0\n0\n"


def test_outputs_follow_the_junction_and_overload(conn, world):
    conn.sendall(b"SLVL 0.5;OFLT 4;SENS 26\n")
    x = float(ask(conn, "OUTP? 1\n"))
    with world.lock:
        expected = world.lockin_input().real
    assert x == pytest.approx(expected, rel=0.01)
    ask(conn, "LIAS?\n")
    conn.sendall(b"SENS 0\n")
    ask(conn, "OUTP? 1\n")
    status = int(ask(conn, "LIAS?\n"))
    assert status & 4
    conn.sendall(b"SENS 26\n")
    ask(conn, "LIAS?\n")  # latched until read
    assert ask(conn, "LIAS? 2\n") == b"0\n"


def test_force_overload_fault(conn, world):
    world.faults.force_overload = True
    assert int(ask(conn, "LIAS?\n")) & 5 == 5
    assert ask(conn, "LIAS? 0\n") == b"1\n"
    world.faults.force_overload = False
    ask(conn, "LIAS?\n")
    assert ask(conn, "LIAS?\n") == b"0\n"


def test_auto_functions(conn):
    conn.sendall(b"SLVL 0.5;OFLT 4;SENS 26;PHAS 40\n")
    ask(conn, "OUTP? 1\n")
    conn.sendall(b"APHS;AGAN\n")
    ask(conn, "*ESR?\n")
    assert abs(float(ask(conn, "PHAS?\n"))) < 1.0
    assert int(ask(conn, "SENS?\n")) < 26


def test_faults_at_socket_level(server, conn):
    server.faults.garbage_next = 1
    assert ask(conn, "*IDN?\n") != b"Stanford_Research_Systems,SR830,s/n00000,ver1.07\n"
    server.faults.silent = True
    assert silent(conn, "*IDN?\n")
    server.faults.silent = False
    server.faults.drop_next = 1
    conn.sendall(b"SENS 5\n")
    assert conn.recv(10) == b""
    with socket.create_connection(server.address, timeout=2) as again:
        assert ask(again, "SENS?\n") == b"26\n"  # the dropped command never ran
    assert "SENS 5" not in server.received


# ---- written from the SR830 manual, chapter 5 ------------------------------------------
@pytest.mark.parametrize("name", ["*ESE", "*SRE", "ERRE", "LIAE"])
def test_status_enable_bit_forms(conn, name):
    assert ask(conn, f"{name} 0;{name}?\n") == b"0\n"
    assert ask(conn, f"{name} 5,1;{name}?;{name}? 5;{name}? 4\n", 3) == b"32\n1\n0\n"
    assert ask(conn, f"{name} 2,1;{name}?\n") == b"36\n"
    assert ask(conn, f"{name} 5,0;{name}?;{name}? 2\n", 2) == b"4\n1\n"
    assert ask(conn, f"{name} 255;{name}? 7\n") == b"1\n"
    # out of range bit, value or form: refused, register unchanged, ESR bit 4
    for bad in (f"{name} 8,1", f"{name} 1,2", f"{name} 256", f"{name} 1,1,1", f"{name}? 8"):
        assert silent(conn, bad + "\n"), bad
        assert ask(conn, "*ESR?\n") == b"16\n"
    assert ask(conn, f"{name}?\n") == b"255\n"


def test_bit_form_enables_drive_the_status_byte(conn):
    # *ESE bit 5 (command error) enabled -> an unknown command sets STB bit 5 (ESB)
    ask(conn, "*ESE 0;*ESE 5,1;*ESE?\n")
    conn.sendall(b"BOGUS\n")
    assert ask(conn, "*STB? 5\n") == b"1\n"
    ask(conn, "*ESR?\n")
    assert ask(conn, "*STB? 5\n") == b"0\n"


def _settle_world(world, dt):
    t0 = world.clock.now()
    while world.clock.now() < t0 + dt:
        time.sleep(0.01)


def test_buffer_fills_at_the_sample_rate_in_world_time(conn, world):
    assert ask(conn, "SRAT 0;SEND 0;REST;SRAT?;SEND?;SPTS?\n", 3) == b"0\n0\n0\n"
    t_a = world.clock.now()
    n0 = int(ask(conn, "STRT;SPTS?\n"))
    t_b = world.clock.now()
    rate = 0.0625
    assert 1 <= n0 <= int((t_b - t_a) * rate) + 1  # the first point at once
    _settle_world(world, 200.0)
    t_c = world.clock.now()
    n = int(ask(conn, "PAUS;SPTS?\n"))
    t_d = world.clock.now()
    assert int((t_c - t_b) * rate) + 1 <= n <= int((t_d - t_a) * rate) + 1
    _settle_world(world, 100.0)
    assert int(ask(conn, "SPTS?\n")) == n  # paused: nothing more
    conn.sendall(b"STRT\n")
    _settle_world(world, 100.0)
    assert int(ask(conn, "SPTS?\n")) > n  # resumed
    assert ask(conn, "REST;SPTS?\n") == b"0\n"


def test_buffer_traces_ascii_binary_and_scaled_agree(conn, world):
    ask(conn, "SRAT 4;SEND 0;DDEF 1,0,0;DDEF 2,1,0;REST;STRT;SPTS?\n")
    _settle_world(world, 20.0)
    ask(conn, "PAUS;SPTS?\n")
    ascii1 = ask(conn, "TRCA? 1,0,5\n")
    assert re.fullmatch(rf"({NUMBER},){{4}}{NUMBER}\n", ascii1.decode()), ascii1
    values = [float(v) for v in ascii1.split(b",")]
    conn.sendall(b"TRCB? 1,0,5\n")
    raw = textwire_read_exact(conn, 20)
    binary = struct.unpack("<5f", raw)
    assert binary == pytest.approx(values, rel=1e-5, abs=1e-30)
    conn.sendall(b"TRCL? 1,0,5\n")
    raw = textwire_read_exact(conn, 20)
    pairs = struct.unpack("<10h", raw)
    scaled = [m * 2.0 ** (e - 124) for m, e in zip(pairs[::2], pairs[1::2], strict=True)]
    assert scaled == pytest.approx(values, rel=1e-4, abs=1e-30)
    # trace 2 holds CH2 = theta (degrees)
    thetas = [float(v) for v in ask(conn, "TRCA? 2,0,5\n").split(b",")]
    assert all(-180.0 <= v <= 180.0 for v in thetas)
    # nothing is sent after a binary transfer: the next reply follows at once
    assert ask(conn, "SPTS?\n").strip().isdigit()


def test_buffer_read_beyond_stored_points_fails(conn):
    assert silent(conn, "TRCA? 1,0,1\n")  # empty buffer
    assert ask(conn, "*ESR?\n") == b"16\n"
    assert silent(conn, "TRCA? 3,0,1\n")
    assert silent(conn, "TRCA? 1,0\n")
    assert ask(conn, "*ESR?\n") == b"16\n"


def test_one_shot_stops_full_and_loop_keeps_the_newest(conn, world):
    ask(conn, "SRAT 13;SEND 0;REST;STRT;SPTS?\n")
    _settle_world(world, 40.0)  # 512 Hz x 40 s > 16383 points
    assert ask(conn, "SPTS?\n") == b"16383\n"
    last = ask(conn, "TRCA? 1,16382,1\n")
    _settle_world(world, 5.0)
    assert ask(conn, "SPTS?;TRCA? 1,16382,1\n", 2) == b"16383\n" + last
    ask(conn, "SEND 1;REST;STRT;SPTS?\n")
    _settle_world(world, 40.0)
    assert ask(conn, "SPTS?\n") == b"16383\n"


def test_trigger_mode_stores_one_point_per_trigger(conn):
    ask(conn, "SRAT 14;TSTR 0;REST;STRT;SPTS?\n")
    assert ask(conn, "SPTS?\n") == b"0\n"
    conn.sendall(b"TRIG\nTRIG\n*TRG\n")
    assert ask(conn, "SPTS?\n") == b"3\n"
    # TSTR 1: a trigger starts the scan (and, at SRAT 14, stores its point)
    assert ask(conn, "REST;TSTR 1;TSTR?;TRIG;SPTS?\n", 2) == b"1\n1\n"


def test_fast_and_strd(conn):
    assert ask(conn, "FAST?\n") == b"0\n"
    assert ask(conn, "FAST 2;FAST?\n") == b"2\n"
    assert silent(conn, "FAST 3\n")
    assert ask(conn, "*ESR?;FAST?\n", 2) == b"16\n2\n"
    assert silent(conn, "STRD?\n")
    assert ask(conn, "*ESR?\n") == b"32\n"


def test_strd_starts_half_a_second_later():
    world = World(SimConfig(speedup=1, seed=3))
    with SR830Server(world) as srv:
        sock = socket.create_connection(srv.address, timeout=2.0)
        try:
            assert ask(sock, "SRAT 13;SEND 0;REST;STRD;SPTS?\n") == b"0\n"
            time.sleep(0.7)
            assert int(ask(sock, "SPTS?\n")) > 20
        finally:
            sock.close()


def test_rst_resets_the_buffer(conn, world):
    ask(conn, "SRAT 14;STRT;TRIG;SPTS?\n")
    assert ask(conn, "*RST;SPTS?;SRAT?;SEND?\n", 3) == b"0\n4\n1\n"


def test_buffer_filter_evolution_matches_the_lockin_filter():
    """The buffer's vectorised filter equals stepping the lock-in's own filter."""
    for slope in range(4):
        lk = LockinState(slope_index=slope, tc_index=5)
        lk.set_input(0.0, 1.0 + 0.5j)
        lk.advance(0.002)
        lk.set_input(0.002, -0.3 + 0.2j)  # a new input from the state at 2 ms
        stages, u = np.array(lk._y), lk.input
        times = np.array([0.002, 0.0025, 0.004, 0.01, 0.05])
        got = filter_outputs(stages, 0.002, u, times, lk.time_constant, lk.poles)
        expected = []
        for t in times:
            lk.advance(float(t))
            expected.append(lk.output())
        assert got == pytest.approx(np.array(expected), rel=1e-9, abs=1e-12)


def test_trcl_encoding_round_trips():
    values = [1.0, -2.5e-6, 3.14159e3, 0.0, -1e-12]
    raw = trcl_bytes(values)
    pairs = struct.unpack(f"<{2 * len(values)}h", raw)
    decoded = [m * 2.0 ** (e - 124) for m, e in zip(pairs[::2], pairs[1::2], strict=True)]
    assert decoded == pytest.approx(values, rel=1e-4, abs=1e-30)
