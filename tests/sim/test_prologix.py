"""The Prologix GPIB-Ethernet adapter in front of the simulated SR830, pinned on the wire
from the adapter's manual: ESC un-escaping, the ``++`` commands, read-after-write, and
the rule that a line cut by a disconnect is never executed."""

from __future__ import annotations

import socket
import time

import pytest

from andreev.sim import SimConfig, World
from andreev.sim.sr830_server import SR830Server
from tests.sim.textwire import ask, client, read_lines, silent

ESC = b"\x1b"


@pytest.fixture
def server():
    with SR830Server(World(SimConfig(speedup=1000, seed=21))) as srv:
        yield srv


@pytest.fixture
def conn(server):
    with client(server) as sock:
        yield sock


def send(sock: socket.socket, data: bytes, lines: int = 1, terminator: bytes = b"\n") -> bytes:
    """Send raw bytes (ESC included) and read ``lines`` answers."""
    sock.sendall(data)
    return read_lines(sock, lines, terminator)


def test_escaped_plus_reaches_the_instrument(conn):
    assert send(conn, b"FREQ1.5e" + ESC + b"+02\nFREQ?\n") == b"150\n"
    assert send(conn, b"SLVL 5e" + ESC + b"-01;SLVL?\n") == b"0.500\n"


def test_unescaped_plus_is_dropped_and_escaped_esc_kept(conn, server):
    assert send(conn, b"FREQ 2.5e+02\nFREQ?\n") == b"250\n"
    assert "FREQ 2.5e02" in server.received
    # ESC ESC is a literal ESC for the instrument: an unknown command (ESR bit 5)
    assert silent(conn, "X" + "\x1b\x1b" + "\n")
    assert send(conn, b"*ESR?\n") == b"32\n"


def test_escaped_lf_is_data_and_ends_the_gpib_message(conn):
    # an escaped LF travels to the instrument, which takes LF as its own terminator
    assert send(conn, b"SLVL 0.2" + ESC + b"\nSLVL?\n") == b"0.200\n"


def test_cr_or_lf_ends_a_line(conn):
    assert send(conn, b"*IDN?\r") == b"Stanford_Research_Systems,SR830,s/n00000,ver1.07\n"
    assert send(conn, b"SLVL 0.3\r\nSLVL?\r\n") == b"0.300\n"


def test_ver_and_addr(conn):
    assert send(conn, b"++ver\n", terminator=b"\r\n") == (
        b"Prologix GPIB-ETHERNET Controller version 01.06.06.00\r\n"
    )
    assert send(conn, b"++addr\n", terminator=b"\r\n") == b"8\r\n"
    assert send(conn, b"++addr 5\n++addr\n", terminator=b"\r\n") == b"5\r\n"
    # nobody listens at address 5: the instrument gets nothing
    assert silent(conn, "FREQ 300\nFREQ?\n")
    assert send(conn, b"++addr 8 96\n++addr\n", terminator=b"\r\n") == b"8 96\r\n"
    assert send(conn, b"++addr 8\nFREQ?\n") == b"1000\n"
    assert send(conn, b"++addr 31\n++addr\n", terminator=b"\r\n") == b"8\r\n"  # ignored


def test_auto_read_after_write_and_read(conn):
    assert send(conn, b"++auto\n", terminator=b"\r\n") == b"1\r\n"
    conn.sendall(b"++auto 0\n")
    assert silent(conn, "*IDN?\n")  # the answer waits in the instrument
    assert send(conn, b"++read eoi\n") == b"Stanford_Research_Systems,SR830,s/n00000,ver1.07\n"
    assert silent(conn, "++read\n")  # nothing left to read
    conn.sendall(b"SLVL?\nFREQ?\n")
    assert send(conn, b"++read 10\n", 2) == b"1.000\n1000\n"
    assert send(conn, b"++auto\n", terminator=b"\r\n") == b"0\r\n"
    assert send(conn, b"++auto 1\nFREQ?\n") == b"1000\n"


def test_clr_drops_unread_answers(conn):
    conn.sendall(b"++auto 0\nFREQ?\n++clr\n")
    assert silent(conn, "++read\n")


def test_eoi_eos_and_eot(conn):
    assert send(conn, b"++eoi\n", terminator=b"\r\n") == b"1\r\n"
    assert send(conn, b"++eoi 0\n++eoi\n", terminator=b"\r\n") == b"0\r\n"
    assert send(conn, b"++eos\n", terminator=b"\r\n") == b"0\r\n"
    for eos in (1, 2, 3, 0):
        assert send(conn, f"++eos {eos}\n++eos\n".encode(), terminator=b"\r\n") == (
            f"{eos}\r\n".encode()
        )
        assert send(conn, b"FREQ?\n") == b"1000\n"
    assert send(conn, b"++eos 4\n++eos\n", terminator=b"\r\n") == b"0\r\n"  # ignored
    conn.sendall(b"++eot_char 42\n++eot_enable 1\n")
    assert send(conn, b"FREQ?\n", terminator=b"*") == b"1000\n*"
    assert send(conn, b"++eot_enable\n", terminator=b"\r\n") == b"1\r\n"


def test_mode_read_tmo_spoll_trg(conn):
    assert send(conn, b"++mode\n", terminator=b"\r\n") == b"1\r\n"
    assert send(conn, b"++read_tmo_ms 1200\n++read_tmo_ms\n", terminator=b"\r\n") == b"1200\r\n"
    assert send(conn, b"++spoll\n", terminator=b"\r\n") == b"2\r\n"  # IFC: idle
    assert send(conn, b"SRAT 14;REST;STRT\n++trg\n++trg\nSPTS?\n") == b"2\n"
    assert silent(conn, "++loc\n++llo\n++ifc\n++bogus\n")


def test_adapter_settings_are_per_connection(server, conn):
    conn.sendall(b"++auto 0\n")
    with client(server) as other:
        assert ask(other, "FREQ?\n") == b"1000\n"


def test_line_cut_by_disconnect_is_never_executed(server):
    a = socket.create_connection(server.address, timeout=2.0)
    a.sendall(b"FREQ 300;SLVL 2")
    a.close()
    time.sleep(0.2)
    b = socket.create_connection(server.address, timeout=2.0)
    try:
        assert ask(b, "FREQ?;SLVL?\n", 2) == b"1000\n1.000\n"
        b.sendall(b"FREQ 4")
        time.sleep(0.05)
        assert ask(b, "00;FREQ?\n") == b"400\n"  # a message waits for its terminator
    finally:
        b.close()
