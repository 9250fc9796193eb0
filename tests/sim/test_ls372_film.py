"""The 372's film channel and its scanner, bytes in and out: the film's four-terminal
resistance on channel 4, INTYPE excitation and range, the cost of a channel switch
(pause + dwell in world time) and the control input regulating meanwhile."""

from __future__ import annotations

import re
import socket
import time

import numpy as np
import pytest

from andreev.sim import SimConfig, World
from andreev.sim.ls372_server import FILM_CHANNEL, LS372Server
from tests.sim.textwire import ask as wire_ask

NUMBER = rb"[-+]\d\.\d{5}E[-+]\d{2}"
SPEEDUP = 10.0


@pytest.fixture
def server():
    srv = LS372Server(World(SimConfig(speedup=SPEEDUP, seed=3))).start()
    yield srv
    srv.stop()


@pytest.fixture
def conn(server):
    sock = socket.create_connection(server.address, timeout=2.0)
    yield sock
    sock.close()


def ask(sock, text: str) -> bytes:
    return wire_ask(sock, text, 1, terminator=b"\r\n")


def number(reply: bytes) -> float:
    assert re.fullmatch(NUMBER + rb"\r\n", reply), reply
    return float(reply)


def normal_film(server, current: float = 1e-9) -> float:
    """Move the film's transition far below base: it reads its normal state (Ω) at its
    electron temperature (heated by ``current`` A)."""
    film = server.film = server.film.with_tc(0.01)
    return film.normal(film.electron_temperature(server.world.sample_temperature(), current))


def test_film_channel_power_up_settings(conn):
    assert FILM_CHANNEL == "4"
    assert ask(conn, "INNAME? 4\n") == b"Film\r\n"
    assert ask(conn, "INSET? 4\n") == b"1,7,3,0,1\r\n"
    assert ask(conn, "INTYPE? 4\n") == b"1,7,1,15,0,2\r\n"  # 1 nA, autorange, 20 kΩ, ohms


def test_switching_channels_costs_pause_and_dwell(server, conn):
    assert ask(conn, "SCAN?\n") == b"06,0\r\n"
    assert number(ask(conn, "RDGR? 4\n")) == pytest.approx(0.0, abs=50.0)  # film at base
    r_n = normal_film(server)
    # the scanner is on 6: channel 4 holds its last reading
    assert number(ask(conn, "SRDG? 4\n")) == pytest.approx(0.0, abs=50.0)
    assert ask(conn, "INSET 4,1,1,3,0,1;INSET? 4\n") == b"1,1,3,0,1\r\n"  # 4 s = 0.4 wall s
    t0 = time.monotonic()
    assert ask(conn, "SCAN 4,0;SCAN?;SRDG? 4\n").startswith(b"04,0;")
    held = number(ask(conn, "SRDG? 4\n"))
    if time.monotonic() - t0 < 0.3:  # still within pause + dwell
        assert held == pytest.approx(0.0, abs=50.0)
    time.sleep(4.5 / SPEEDUP)
    assert number(ask(conn, "SRDG? 4\n")) == pytest.approx(r_n, rel=0.01)
    # leaving the channel freezes it again; channel 6 needs its own pause + dwell
    mc_before = number(ask(conn, "KRDG? 6\n"))
    assert ask(conn, "SCAN 6,0;*OPC?\n") == b"1\r\n"
    assert number(ask(conn, "KRDG? 6\n")) == mc_before


def test_the_control_input_keeps_reading_while_the_scanner_is_on_the_film(conn):
    ask(conn, "SCAN 4,0;*OPC?\n")
    readings = {number(ask(conn, "KRDG? A\n")) for _ in range(5)}
    assert len(readings) > 1  # live (noisy) readings, not a held value
    assert all(0.04 < t < 0.06 for t in readings)


def test_excitation_sets_noise_and_power(server, conn):
    r_n = normal_film(server)
    ask(conn, "INSET 4,1,1,3,0,1;FILTER 4,0,10,2;SCAN 4,0;*OPC?\n")
    time.sleep(4.5 / SPEEDUP)

    def spread(exc: int) -> float:
        ask(conn, f"INTYPE 4,1,{exc},1,15,0,2;*OPC?\n")
        return float(np.std([number(ask(conn, "SRDG? 4\n")) for _ in range(40)]))

    assert spread(3) > 10 * spread(13)  # 10 pA against 1 µA
    ask(conn, "INTYPE 4,1,7,1,15,0,2;*OPC?\n")  # 1 nA
    power = number(ask(conn, "RDGPWR? 4\n"))
    assert power == pytest.approx(1e-18 * r_n, rel=0.02)


def test_range_overload_without_autorange(server, conn):
    normal_film(server)
    ask(conn, "INSET 4,1,1,3,0,1;SCAN 4,0;*OPC?\n")
    time.sleep(4.5 / SPEEDUP)
    assert ask(conn, "INTYPE 4,1,7,0,5,0,2;INTYPE? 4\n") == b"1,7,0,5,0,2\r\n"
    assert ask(conn, "RDGST? 4;SRDG? 4\n") == b"16;+2.00000E-01\r\n"  # R.OVER, full scale
    assert ask(conn, "KRDG? 4\n") == b"+0.00000E+00\r\n"  # no curve on the film
    ask(conn, "INTYPE 4,1,7,1,5,0,2;*OPC?\n")
    number(ask(conn, "SRDG? 4\n"))
    assert ask(conn, "RDGST? 4;INTYPE? 4\n") == b"0;1,7,1,15,0,2\r\n"  # autorange to 20 kΩ
