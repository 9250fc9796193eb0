"""Physics through the wire: a bias set over the Nanonis protocol moves the SR830's X
to what the film's dI/dV predicts, after the lock-in's time constant. Raw sockets on
both sides, with a tiny encoder of this file's own."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from andreev.sim import SimFridge
from tests.conftest import make_world

TAU_INDEX = 12  # OFLT 12 = 10 s (world): 10 ms of wall time at speedup 1000


def nanonis(sock: socket.socket, name: str, body: bytes = b"") -> bytes:
    sock.sendall(name.encode().ljust(32, b"\0") + struct.pack(">iHH", len(body), 1, 0) + body)
    head = b""
    while len(head) < 40:
        head += sock.recv(40 - len(head))
    size = struct.unpack(">i", head[32:36])[0]
    reply = b""
    while len(reply) < size:
        reply += sock.recv(size - len(reply))
    status, length = struct.unpack(">Ii", reply[-8:])  # error section, no message
    assert (status, length) == (0, 0)
    return reply


def lockin(sock: socket.socket, line: str) -> str:
    sock.sendall((line + "\n").encode())
    if "?" not in line:
        return ""
    data = b""
    while not data.endswith(b"\n"):
        data += sock.recv(4096)
    return data.decode().strip()


@pytest.fixture
def fridge() -> Iterator[SimFridge]:
    with SimFridge(make_world(), ports={"lockin": 0, "bridge": 0, "stm": 0}) as sim:
        yield sim


def expected_x(fridge: SimFridge, slvl: float) -> float:
    world = fridge.world
    with world.lock:
        world.advance()
        j = world.junction
        film = world.film_at(j.x, j.y)
        g = film.conductance(
            j.bias, j.g_normal(), world.sample_temperature(), slvl * world.modulation_divider
        )
        return float(g) * slvl * world.modulation_divider * j.gains[j.gain_index]


def test_bias_step_reaches_lockin_x_after_the_time_constant(fridge: SimFridge) -> None:
    stm = socket.create_connection(fridge.addresses["stm"], timeout=5)
    li = socket.create_connection(fridge.addresses["lockin"], timeout=5)
    try:
        lockin(li, f"OUTX 1;SLVL 0.010;OFLT {TAU_INDEX};OFSL 1;SENS 24")  # 12 dB/oct, 200 mV
        nanonis(stm, "ZCtrl.OnOffSet", struct.pack(">I", 0))  # hold the tip
        nanonis(stm, "Bias.Set", struct.pack(">f", 10e-3))
        time.sleep(0.3)  # 30 τ: settled on the normal state
        x_normal = float(lockin(li, "OUTP? 1"))
        assert x_normal == pytest.approx(expected_x(fridge, 0.010), rel=0.02)

        nanonis(stm, "Bias.Set", struct.pack(">f", 0.3e-3))  # inside the gap
        x_soon = float(lockin(li, "OUTP? 1"))  # well within one τ
        time.sleep(0.2)  # 20 τ
        x_gap = float(lockin(li, "OUTP? 1"))
        inside = expected_x(fridge, 0.010)
        assert inside < 0.3 * x_normal  # the gap suppresses dI/dV
        assert x_soon > 0.5 * x_normal  # the filter has not followed yet
        assert x_gap == pytest.approx(inside, rel=0.03, abs=2e-3 * x_normal)

        gap = fridge.world.gap_at(0.0, 0.0)  # the local Δ (eV) under the tip
        nanonis(stm, "Bias.Set", struct.pack(">f", gap + 10e-6))  # the coherence peak
        time.sleep(0.2)
        x_peak = float(lockin(li, "OUTP? 1"))
        assert x_peak > 1.5 * x_normal
        assert x_peak == pytest.approx(expected_x(fridge, 0.010), rel=0.03)
    finally:
        stm.close()
        li.close()
