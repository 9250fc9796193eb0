"""The simulated Nanonis controller over raw 127.0.0.1 sockets, with golden bytes.

The tiny codec here is written independently of the server's own."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from andreev.sim.nanonis_server import SIGNALS, NanonisServer
from andreev.sim.world import SimConfig, World

PAD = b"\x00"


@pytest.fixture
def world() -> World:
    return World(SimConfig(seed=1234, speedup=1000.0))


@pytest.fixture
def server(world: World) -> Iterator[NanonisServer]:
    srv = NanonisServer(world)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sock(server: NanonisServer) -> Iterator[socket.socket]:
    s = socket.create_connection(server.address, timeout=5)
    try:
        yield s
    finally:
        s.close()


def recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def header(name: str, size: int, respond: int = 1) -> bytes:
    return name.encode().ljust(32, PAD) + struct.pack(">iHH", size, respond, 0)


def query(s: socket.socket, name: str, body: bytes = b"") -> tuple[bytes, bytes]:
    """Send one request; return (reply header, reply body)."""
    s.sendall(header(name, len(body)) + body)
    head = recv_exact(s, 40)
    size = struct.unpack(">i", head[32:36])[0]
    return head, recv_exact(s, size)


def ok(body: bytes) -> bytes:
    """Strip and check an empty (status 0) error section; return the values."""
    assert body[-8:] == b"\x00" * 8, body
    return body[:-8]


class Decoder:
    """Minimal independent big-endian decoder of reply values."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def i32(self) -> int:
        return self.take(">i")[0]

    def u32(self) -> int:
        return self.take(">I")[0]

    def f32(self) -> float:
        return self.take(">f")[0]

    def strings(self) -> list[str]:
        size, n = self.take(">ii")
        start, out = self.pos, []
        for _ in range(n):
            length = self.i32()
            out.append(self.data[self.pos : self.pos + length].decode())
            self.pos += length
        assert self.pos - start == size
        return out

    def string(self) -> str:
        length = self.i32()
        text = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        return text

    def f32_2d(self) -> np.ndarray:
        rows, cols = self.take(">ii")
        flat = self.take(f">{rows * cols}f")
        return np.array(flat, dtype=float).reshape(rows, cols)

    def error(self) -> tuple[int, str]:
        status, length = self.take(">Ii")
        msg = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        assert self.pos == len(self.data)
        return status, msg


# ---- golden bytes ---------------------------------------------------------------------
def test_request_and_reply_header_layout(sock: socket.socket) -> None:
    request = b"Bias.Get" + b"\x00" * 24 + bytes.fromhex("0000000000010000")
    assert len(request) == 40 and request == header("Bias.Get", 0)
    sock.sendall(request)
    reply = recv_exact(sock, 40 + 12)
    assert reply == (
        b"Bias.Get"
        + b"\x00" * 24
        + bytes.fromhex("0000000c00000000")
        # f32 10 mV, then the error section: status 0, message length 0
        + bytes.fromhex("3c23d70a0000000000000000")
    )


def test_unknown_command_replies_with_the_error_section(sock: socket.socket) -> None:
    head, body = query(sock, "Foo.Bar", b"\x00\x00\x00\x01")
    assert head[:32] == b"Foo.Bar".ljust(32, PAD)
    assert head[36:40] == b"\x00" * 4
    assert body[:4] == b"\x00\x00\x00\x01"  # status 1 = error
    length = struct.unpack(">i", body[4:8])[0]
    assert length == len(body) - 8 > 0
    assert "Foo.Bar" in body[8:].decode()
    # the connection is still usable
    assert ok(query(sock, "Bias.Get")[1]) == bytes.fromhex("3c23d70a")


def test_bias_set_get_round_trip(sock: socket.socket, world: World) -> None:
    head, body = query(sock, "Bias.Set", bytes.fromhex("bb23d70a"))  # −2.5 mV
    assert head == b"Bias.Set".ljust(32, PAD) + bytes.fromhex("0000000800000000")
    assert body == b"\x00" * 8
    assert world.junction.bias == pytest.approx(-2.5e-3)
    head, body = query(sock, "Bias.Get")
    assert body == bytes.fromhex("bb23d70a0000000000000000")


def test_current_gains_get_reply(sock: socket.socket) -> None:
    _, body = query(sock, "Current.GainsGet")

    def arr(items: list[bytes]) -> bytes:
        raw = b"".join(struct.pack(">i", len(i)) + i for i in items)
        return struct.pack(">ii", len(raw), len(items)) + raw

    gains = [b"10^5", b"10^6", b"10^7", b"10^8", b"10^9", b"10^10"]
    filters = [b"10 Hz", b"100 Hz", b"1 kHz", b"10 kHz", b"100 kHz"]
    expected = arr(gains) + bytes.fromhex("00000004") + arr(filters) + bytes.fromhex("00000002")
    assert expected[:8] == bytes.fromhex("0000003100000006")  # 6·4 + 25 bytes, 6 items
    assert body == expected + b"\x00" * 8
    # select 10^8 keeping the filter (−1), then read it back
    assert query(sock, "Current.GainSet", struct.pack(">ii", 3, -1))[1] == b"\x00" * 8
    d = Decoder(ok(query(sock, "Current.GainsGet")[1]))
    assert d.strings() == [g.decode() for g in gains] and d.i32() == 3
    assert d.strings()[2] == "1 kHz" and d.i32() == 2
    status, msg = Decoder(query(sock, "Current.GainSet", struct.pack(">ii", 9, -1))[1]).error()
    assert status == 1 and "gain index" in msg


def test_bias_spectr_start_runs_the_sweep_controller_side(
    sock: socket.socket, world: World, server: NanonisServer
) -> None:
    world.lockin.amplitude = 0.01  # 10 µV rms at the junction
    z_before = world.junction.z
    points, settle, integ = 21, 0.01, 0.02
    props = struct.pack(">HiHifHH", 0, 1, 1, points, 0.0, 2, 2)  # backward on
    timing = struct.pack(">8f", 0.05, 0.0, 0.01, 1.0, settle, integ, 0.01, 0.05)
    for name, body in [
        ("BiasSpectr.Open", b""),
        ("BiasSpectr.PropsSet", props),
        ("BiasSpectr.LimitsSet", struct.pack(">ff", -5e-3, 5e-3)),
        ("BiasSpectr.TimingSet", timing),
        ("BiasSpectr.ChsSet", struct.pack(">6i", 5, 0, 1, 2, 3, 4)),
    ]:
        assert query(sock, name, body)[1] == b"\x00" * 8, name
    t0 = world.clock.now()
    base = b"spectrum"
    _, body = query(sock, "BiasSpectr.Start", struct.pack(">Ii", 1, len(base)) + base)
    elapsed = world.clock.now() - t0
    d = Decoder(body)
    names = d.strings()
    data = d.f32_2d()
    n_params = d.i32()
    params = d.take(f">{n_params}f")
    assert d.error() == (0, "")

    fwd = ["Current (A)", "Bias (V)", "Z (m)", "LI Demod 1 X (A)", "LI Demod 1 Y (A)"]
    bwd = ["Current [bwd] (A)", "Bias [bwd] (V)", "Z [bwd] (m)"]
    bwd += ["LI Demod 1 X [bwd] (A)", "LI Demod 1 Y [bwd] (A)"]
    assert names == ["Bias calc (V)", *fwd, *bwd]
    assert data.shape == (11, points)
    bias = np.linspace(-5e-3, 5e-3, points)
    assert data[0] == pytest.approx(bias, abs=1e-9)
    assert data[2] == pytest.approx(bias, abs=1e-9)  # measured bias
    assert data[7] == pytest.approx(bias, abs=1e-9)  # backward, aligned on the same columns
    # feedback held: Z constant during the sweep, equal to the averaged Z (param 0)
    assert np.ptp(data[3]) == 0 and data[3][0] == pytest.approx(params[0], rel=1e-6)
    assert params[0] == pytest.approx(z_before, abs=2e-12)
    # current odd in bias, ~G_N·V outside the gap
    g_n = 1e-9 / 1e-2
    assert data[1][-1] == pytest.approx(g_n * 5e-3, rel=0.1)
    assert data[1][0] == pytest.approx(-g_n * 5e-3, rel=0.1)
    # lock-in X = dI/dV × v_mod: gapped at zero bias, ≈ G_N·v_mod far outside
    x = data[4]
    assert x[-1] == pytest.approx(g_n * 1e-5, rel=0.15)
    assert x[points // 2] < 0.3 * x[-1]
    assert np.all(np.abs(data[5]) < 0.05 * x[-1])  # Y is noise
    assert data[9] == pytest.approx(x, rel=0.02, abs=1e-3 * x[-1])  # backward ≈ forward
    # the sweep took its world time: 2 × points × (settling + integration) at least
    assert elapsed > 2 * points * (settle + integ)
    assert params[2] - params[1] > 2 * points * (settle + integ)
    # afterwards: bias restored, feedback back on
    assert world.junction.bias == pytest.approx(0.01)
    assert world.junction.feedback
    assert Decoder(ok(query(sock, "ZCtrl.StatusGet")[1])).take(">H")[0] == 2
    assert server.received[-2:] == ["BiasSpectr.Start", "ZCtrl.StatusGet"]


def test_bias_spectr_start_without_data(sock: socket.socket) -> None:
    query(sock, "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 0, 2, 5, 0.0, 0, 0))
    _, body = query(sock, "BiasSpectr.Start", struct.pack(">Ii", 0, 0))
    assert body == bytes.fromhex("0000000000000000000000000000000000000000") + (b"\x00" * 8)


def test_several_connections_at_once(server: NanonisServer, world: World) -> None:
    errors: list[BaseException] = []
    socks = [socket.create_connection(server.address, timeout=10) for _ in range(4)]
    query(socks[0], "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 1, 2, 50, 0.0, 0, 0))
    query(socks[0], "BiasSpectr.TimingSet", struct.pack(">8f", 0, 0, 0, 10, 0.05, 0.05, 0, 0))

    def sweep() -> None:
        try:
            d = Decoder(query(socks[0], "BiasSpectr.Start", struct.pack(">Ii", 1, 0))[1])
            assert d.strings() == ["Bias calc (V)", "Current (A)"]
        except BaseException as exc:
            errors.append(exc)

    def poll(s: socket.socket, k: int) -> None:
        try:
            for _ in range(30):
                d = Decoder(ok(query(s, "Signals.ValGet", struct.pack(">iI", 2, 1))[1]))
                assert 0 < d.f32() < 1e-9  # Z in metres, tunnelling
                d = Decoder(ok(query(s, "FolMe.XYPosGet", struct.pack(">I", 0))[1]))
                assert d.take(">dd") == (0.0, 0.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweep)]
    threads += [threading.Thread(target=poll, args=(s, k)) for k, s in enumerate(socks[1:])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for s in socks:
        s.close()
    assert not errors, errors
    assert server.received.count("Signals.ValGet") == 90
    assert server.received.count("BiasSpectr.Start") == 1


# ---- behaviour --------------------------------------------------------------------------
def test_z_controller_commands(sock: socket.socket, world: World) -> None:
    assert ok(query(sock, "ZCtrl.OnOffGet")[1]) == bytes.fromhex("00000001")
    status, msg = Decoder(query(sock, "ZCtrl.ZPosSet", struct.pack(">f", 5e-10))[1]).error()
    assert status == 1 and "Z-controller is on" in msg
    ok(query(sock, "ZCtrl.OnOffSet", struct.pack(">I", 0))[1])
    assert ok(query(sock, "ZCtrl.StatusGet")[1]) == bytes.fromhex("0001")
    ok(query(sock, "ZCtrl.ZPosSet", struct.pack(">f", 5e-10))[1])
    assert Decoder(ok(query(sock, "ZCtrl.ZPosGet")[1])).f32() == pytest.approx(5e-10)
    ok(query(sock, "ZCtrl.GainSet", struct.pack(">fff", 2e-11, 1e-3, 0.0))[1])
    p, t, i = Decoder(ok(query(sock, "ZCtrl.GainGet")[1])).take(">fff")
    assert (p, t) == pytest.approx((2e-11, 1e-3)) and i == pytest.approx(2e-8)  # I = P/T
    ok(query(sock, "ZCtrl.LimitsSet", struct.pack(">ff", 5e-8, -2e-8))[1])
    assert Decoder(ok(query(sock, "ZCtrl.LimitsGet")[1])).take(">ff") == pytest.approx(
        (5e-8, -2e-8)
    )
    ok(query(sock, "ZCtrl.LimitsEnabledSet", struct.pack(">I", 1))[1])
    ok(query(sock, "ZCtrl.Withdraw", struct.pack(">Ii", 1, 1000))[1])
    assert world.junction.withdrawn and not world.junction.feedback
    assert Decoder(ok(query(sock, "ZCtrl.ZPosGet")[1])).f32() == pytest.approx(5e-8)
    ok(query(sock, "ZCtrl.SetpntSet", struct.pack(">f", 2e-9))[1])
    assert Decoder(ok(query(sock, "ZCtrl.SetpntGet")[1])).f32() == pytest.approx(2e-9)
    ok(query(sock, "SafeTip.OnOffSet", struct.pack(">H", 1))[1])
    ok(query(sock, "SafeTip.PropsSet", struct.pack(">HHf", 2, 1, 5e-8))[1])


def test_clipping_under_feedback_crashes_the_tip(sock: socket.socket, world: World) -> None:
    ok(query(sock, "ZCtrl.SetpntSet", struct.pack(">f", 1e-7))[1])  # 10^9 clips at 10 nA
    world.clock.sleep(2.0)
    world.advance()
    assert world.crashes and "clipped" in world.crashes[0]["reason"]
    current = Decoder(ok(query(sock, "Current.Get")[1])).f32()
    assert current == pytest.approx(1e-8, rel=1e-6)  # the preamp output at its limit


def test_force_clip_world_fault(sock: socket.socket, world: World) -> None:
    world.faults.force_clip = True
    ok(query(sock, "Current.GainSet", struct.pack(">ii", 2, -1))[1])  # 10^7: clips at 1 µA
    assert Decoder(ok(query(sock, "Current.Get")[1])).f32() == pytest.approx(1e-6)


def test_signals_and_position(sock: socket.socket, world: World) -> None:
    d = Decoder(ok(query(sock, "Signals.NamesGet")[1]))
    names = d.strings()
    assert tuple(names) == SIGNALS
    assert names[:5] == ["Current (A)", "Bias (V)", "Z (m)", "LI Demod 1 X (A)", "LI Demod 1 Y (A)"]
    assert Decoder(ok(query(sock, "Signals.ValGet", struct.pack(">iI", 1, 1))[1])).f32() == (
        pytest.approx(0.01)
    )
    x = Decoder(ok(query(sock, "Signals.ValGet", struct.pack(">iI", 3, 1))[1])).f32()
    assert x == pytest.approx(world.conductance() * world.v_mod_rms(), rel=1e-5)
    status, msg = Decoder(query(sock, "Signals.ValGet", struct.pack(">iI", 99, 1))[1]).error()
    assert status == 1 and "99" in msg
    ok(query(sock, "FolMe.XYPosSet", struct.pack(">ddI", 12.5e-9, -3e-9, 1))[1])
    assert Decoder(ok(query(sock, "FolMe.XYPosGet", struct.pack(">I", 1))[1])).take(">dd") == (
        12.5e-9,
        -3e-9,
    )
    assert (world.junction.x, world.junction.y) == (12.5e-9, -3e-9)


def test_version_and_short_body(sock: socket.socket) -> None:
    d = Decoder(ok(query(sock, "Util.VersionGet")[1]))
    assert "Nanonis" in d.string()
    d.string()
    assert d.take(">II")[0] > 0
    status, msg = Decoder(query(sock, "Bias.Set", b"\x00\x01")[1]).error()
    assert status == 1 and "arguments" in msg


def test_no_reply_without_the_response_flag(sock: socket.socket, world: World) -> None:
    sock.sendall(header("Bias.Set", 4, respond=0) + struct.pack(">f", 0.02))
    _, body = query(sock, "Bias.Get")  # the first bytes back belong to this reply
    assert Decoder(ok(body)).f32() == pytest.approx(0.02)


def test_tcp_faults(server: NanonisServer, sock: socket.socket, world: World) -> None:
    server.faults.drop_next = 1
    sock.sendall(header("Bias.Set", 4) + struct.pack(">f", 0.03))
    assert sock.recv(100) == b""  # closed, not executed
    assert world.junction.bias == pytest.approx(0.01)
    with socket.create_connection(server.address, timeout=5) as s2:
        server.faults.garbage_next = 1
        s2.sendall(header("Bias.Get", 0))
        garbage = recv_exact(s2, 40 + 12)  # same length as the reply it replaces
        assert not garbage.startswith(b"Bias.Get")
    with socket.create_connection(server.address, timeout=5) as s3:
        assert Decoder(ok(query(s3, "Bias.Get")[1])).f32() == pytest.approx(0.01)


def test_every_documented_command_is_served(server: NanonisServer) -> None:
    documented = """Bias.Set Bias.Get Current.Get Current.GainsGet Current.GainSet
    ZCtrl.SetpntSet ZCtrl.SetpntGet ZCtrl.OnOffSet ZCtrl.OnOffGet ZCtrl.ZPosSet
    ZCtrl.ZPosGet ZCtrl.GainSet ZCtrl.GainGet ZCtrl.Withdraw ZCtrl.LimitsEnabledSet
    ZCtrl.LimitsSet ZCtrl.LimitsGet ZCtrl.StatusGet SafeTip.OnOffSet SafeTip.PropsSet
    Signals.NamesGet Signals.ValGet BiasSpectr.Open BiasSpectr.PropsSet BiasSpectr.LimitsSet
    BiasSpectr.TimingSet BiasSpectr.ChsSet BiasSpectr.Start Util.VersionGet
    FolMe.XYPosSet FolMe.XYPosGet ZCtrl.LimitsEnabledGet SafeTip.OnOffGet SafeTip.PropsGet
    Signals.ValsGet ZCtrl.TipLiftSet ZCtrl.TipLiftGet ZCtrl.SwitchOffDelaySet
    ZCtrl.SwitchOffDelayGet ZCtrl.WithdrawRateSet ZCtrl.WithdrawRateGet ZCtrl.Home
    LockIn.ModOnOffSet LockIn.ModOnOffGet LockIn.ModAmpSet LockIn.ModAmpGet
    LockIn.ModPhasFreqSet LockIn.ModPhasFreqGet LockIn.DemodPhasSet LockIn.DemodPhasGet
    BiasSpectr.PropsGet BiasSpectr.AdvPropsSet BiasSpectr.AdvPropsGet BiasSpectr.LimitsGet
    BiasSpectr.TimingGet BiasSpectr.ChsGet BiasSpectr.Stop BiasSpectr.StatusGet""".split()
    assert set(documented) <= set(server.commands)


def test_lower_case_command_names_are_accepted(sock: socket.socket) -> None:
    head, body = query(sock, "bias.get")
    assert head[:8] == b"bias.get"
    assert Decoder(ok(body)).f32() == pytest.approx(0.01)


def test_in_the_sim_fridge_the_lockin_amplitude_sets_the_modulation() -> None:
    from andreev.sim.fridge import SimFridge

    world = World(SimConfig(seed=1234, speedup=1000.0))
    with SimFridge(world) as fridge:
        assert isinstance(fridge.servers["stm"], NanonisServer)
        with (
            socket.create_connection(fridge.addresses["stm"], timeout=5) as stm,
            socket.create_connection(fridge.addresses["lockin"], timeout=5) as lockin,
        ):
            x = []
            for slvl in ("0.010", "0.100"):
                lockin.sendall(f"SLVL {slvl}\n".encode())
                lockin.sendall(b"SLVL?\n")
                assert float(lockin.makefile("rb").readline()) == pytest.approx(float(slvl))
                body = query(stm, "Signals.ValGet", struct.pack(">iI", 3, 1))[1]
                x.append(Decoder(ok(body)).f32())
    assert x[0] == pytest.approx(world.conductance() * 0.010e-3, rel=0.05)
    assert x[1] / x[0] == pytest.approx(10.0, rel=0.05)


# ---- written from the Nanonis TCP protocol document ------------------------------------
def error_of(body: bytes) -> tuple[int, str]:
    """(status, message) of a reply that carries no values."""
    return Decoder(body).error()


@pytest.mark.parametrize(
    ("setter", "getter", "value"),
    [
        ("ZCtrl.TipLiftSet", "ZCtrl.TipLiftGet", 2.5e-10),
        ("ZCtrl.SwitchOffDelaySet", "ZCtrl.SwitchOffDelayGet", 0.25),
        ("ZCtrl.WithdrawRateSet", "ZCtrl.WithdrawRateGet", 5e-8),
    ],
)
def test_z_controller_settings_round_trip(sock, setter, getter, value) -> None:
    assert query(sock, setter, struct.pack(">f", value))[1] == b"\x00" * 8
    assert ok(query(sock, getter)[1]) == struct.pack(">f", value)
    status, msg = error_of(query(sock, setter, struct.pack(">f", float("nan")))[1])
    assert status == 1 and msg
    assert ok(query(sock, getter)[1]) == struct.pack(">f", value)


def test_home_switches_off_and_retracts(sock, world) -> None:
    ok(query(sock, "ZCtrl.LimitsSet", struct.pack(">ff", 4e-8, -2e-8))[1])
    ok(query(sock, "ZCtrl.LimitsEnabledSet", struct.pack(">I", 1))[1])
    assert query(sock, "ZCtrl.Home")[1] == b"\x00" * 8
    assert ok(query(sock, "ZCtrl.OnOffGet")[1]) == struct.pack(">I", 0)
    assert Decoder(ok(query(sock, "ZCtrl.ZPosGet")[1])).f32() == pytest.approx(4e-8)


def test_safetip_getters_mirror_setters(sock) -> None:
    assert ok(query(sock, "SafeTip.OnOffGet")[1]) == struct.pack(">H", 0)
    ok(query(sock, "SafeTip.OnOffSet", struct.pack(">H", 1))[1])
    assert ok(query(sock, "SafeTip.OnOffGet")[1]) == struct.pack(">H", 1)
    ok(query(sock, "SafeTip.PropsSet", struct.pack(">HHf", 1, 2, 5e-9))[1])
    assert ok(query(sock, "SafeTip.PropsGet")[1]) == struct.pack(">HHf", 1, 0, 5e-9)
    ok(query(sock, "SafeTip.PropsSet", struct.pack(">HHf", 0, 0, 5e-9))[1])  # 0: no change
    assert ok(query(sock, "SafeTip.PropsGet")[1]) == struct.pack(">HHf", 1, 0, 5e-9)


def test_controller_lockin_settings_round_trip(sock) -> None:
    for mod in (1, 2):
        assert ok(query(sock, "LockIn.ModOnOffGet", struct.pack(">i", mod))[1]) == bytes(4)
    ok(query(sock, "LockIn.ModOnOffSet", struct.pack(">iI", 2, 1))[1])
    assert ok(query(sock, "LockIn.ModOnOffGet", struct.pack(">i", 2))[1]) == struct.pack(">I", 1)
    ok(query(sock, "LockIn.ModAmpSet", struct.pack(">if", 1, 2e-3))[1])
    assert ok(query(sock, "LockIn.ModAmpGet", struct.pack(">i", 1))[1]) == struct.pack(">f", 2e-3)
    ok(query(sock, "LockIn.ModPhasFreqSet", struct.pack(">id", 1, 733.5))[1])
    assert ok(query(sock, "LockIn.ModPhasFreqGet", struct.pack(">i", 1))[1]) == struct.pack(
        ">d", 733.5
    )
    assert ok(query(sock, "LockIn.ModFreqGet", struct.pack(">i", 1))[1]) == struct.pack(">d", 733.5)
    ok(query(sock, "LockIn.DemodPhasSet", struct.pack(">if", 1, 45.0))[1])
    assert ok(query(sock, "LockIn.DemodPhasGet", struct.pack(">i", 1))[1]) == struct.pack(
        ">f", 45.0
    )
    for name, body in [
        ("LockIn.ModOnOffSet", struct.pack(">iI", 9, 1)),
        ("LockIn.ModOnOffSet", struct.pack(">iI", 1, 2)),
        ("LockIn.ModAmpSet", struct.pack(">if", 1, -1.0)),
        ("LockIn.ModPhasFreqSet", struct.pack(">id", 1, 0.0)),
        ("LockIn.DemodPhasGet", struct.pack(">i", 0)),
    ]:
        status, msg = error_of(query(sock, name, body)[1])
        assert status == 1 and msg, name


def _demod_xy(sock) -> tuple[float, float]:
    body = struct.pack(">3iI", 2, 3, 4, 1)
    d = Decoder(ok(query(sock, "Signals.ValsGet", body)[1]))
    assert d.i32() == 2
    return d.take(">2f")


def test_controller_lockin_drives_the_demodulated_signal(sock, world) -> None:
    world.lockin.amplitude = 0.0  # no SR830 modulation at the junction
    x_off, _ = _demod_xy(sock)
    assert x_off == 0.0
    ok(query(sock, "LockIn.ModAmpSet", struct.pack(">if", 1, 1e-3))[1])
    ok(query(sock, "LockIn.ModOnOffSet", struct.pack(">iI", 1, 1))[1])
    x1, _ = _demod_xy(sock)
    g = world.conductance()
    assert x1 == pytest.approx(g * 1e-3 / 2**0.5, rel=0.01)
    ok(query(sock, "LockIn.DemodPhasSet", struct.pack(">if", 1, 90.0))[1])
    x2, y2 = _demod_xy(sock)
    assert abs(x2) < 0.01 * abs(x1) and y2 == pytest.approx(-x1, rel=0.01)


def test_signals_vals_get(sock, world) -> None:
    ok(query(sock, "Bias.Set", struct.pack(">f", 0.0125))[1])
    d = Decoder(ok(query(sock, "Signals.ValsGet", struct.pack(">3iI", 2, 1, 2, 1))[1]))
    assert d.i32() == 2
    bias, z = d.take(">2f")
    assert bias == pytest.approx(0.0125)
    assert z == pytest.approx(world.junction.z, abs=1e-11)
    assert d.pos == len(d.data)
    status, msg = error_of(query(sock, "Signals.ValsGet", struct.pack(">2iI", 1, 99, 1))[1])
    assert status == 1 and "99" in msg


def _spectr_settings(sock) -> None:
    for name, body in [
        ("BiasSpectr.PropsSet", struct.pack(">HiHifHH", 1, 3, 1, 11, 0.0, 2, 2)),
        ("BiasSpectr.LimitsSet", struct.pack(">ff", -2e-3, 4e-3)),
        (
            "BiasSpectr.TimingSet",
            struct.pack(">8f", 0.01, 0.0, 0.002, 2.0, 0.001, 0.001, 0.002, 0.01),
        ),
        ("BiasSpectr.ChsSet", struct.pack(">3i", 2, 0, 3)),
    ]:
        assert query(sock, name, body)[1] == b"\x00" * 8, name


def _strings(items: list[str]) -> bytes:
    raw = [s.encode() for s in items]
    return struct.pack(">ii", sum(4 + len(r) for r in raw), len(raw)) + b"".join(
        struct.pack(">i", len(r)) + r for r in raw
    )


def test_bias_spectr_getters_mirror_setters(sock) -> None:
    _spectr_settings(sock)
    props = ok(query(sock, "BiasSpectr.PropsGet")[1])
    params = ["Z averaged (m)", "Start time (s)", "End time (s)", "Bias before (V)", "Setpoint (A)"]
    assert props == (
        struct.pack(">HiHi", 1, 3, 1, 11)
        + _strings(["Current (A)", "LI Demod 1 X (A)"])
        + _strings(params)
        + _strings([])
    )
    assert ok(query(sock, "BiasSpectr.LimitsGet")[1]) == struct.pack(">ff", -2e-3, 4e-3)
    assert ok(query(sock, "BiasSpectr.TimingGet")[1]) == struct.pack(
        ">8f", 0.01, 0.0, 0.002, 2.0, 0.001, 0.001, 0.002, 0.01
    )
    assert ok(query(sock, "BiasSpectr.ChsGet")[1]) == struct.pack(">3i", 2, 0, 3)
    assert ok(query(sock, "BiasSpectr.AdvPropsGet")[1]) == struct.pack(">4H", 1, 1, 0, 0)
    ok(query(sock, "BiasSpectr.AdvPropsSet", struct.pack(">4H", 2, 0, 1, 1))[1])
    assert ok(query(sock, "BiasSpectr.AdvPropsGet")[1]) == struct.pack(">4H", 0, 1, 1, 1)
    assert ok(query(sock, "BiasSpectr.StatusGet")[1]) == struct.pack(">I", 0)


def test_nan_means_no_change_in_bias_spectr_settings(sock, world) -> None:
    _spectr_settings(sock)
    ok(query(sock, "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 1, 2, 5, 1e-10, 0, 0))[1])
    nan = float("nan")
    ok(query(sock, "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 0, 0, 0, nan, 0, 0))[1])
    assert ok(query(sock, "BiasSpectr.PropsGet")[1])[:12] == struct.pack(">HiHi", 1, 1, 0, 5)
    timing = (nan, nan, nan, 3.0, nan, nan, nan, nan)
    ok(query(sock, "BiasSpectr.TimingSet", struct.pack(">8f", *timing))[1])
    assert ok(query(sock, "BiasSpectr.TimingGet")[1]) == struct.pack(
        ">8f", 0.01, 0.0, 0.002, 3.0, 0.001, 0.001, 0.002, 0.01
    )
    status, _ = error_of(
        query(sock, "BiasSpectr.TimingSet", struct.pack(">8f", *[float("inf")] * 8))[1]
    )
    assert status == 1
    # the sweep runs with the Z offset set before the NaN: finite data, Z restored
    z_before = world.junction.z
    d = Decoder(ok(query(sock, "BiasSpectr.Start", struct.pack(">Ii", 1, 0))[1]))
    d.strings()
    data = d.f32_2d()
    assert data.shape == (3, 5) and np.isfinite(data).all()
    n = d.i32()
    params = d.take(f">{n}f")
    assert np.isfinite(params).all()
    assert world.junction.z == pytest.approx(z_before, abs=2e-11)


def test_bias_spectr_stop_and_status(server, world) -> None:
    a = socket.create_connection(server.address, timeout=10)
    b = socket.create_connection(server.address, timeout=10)
    try:
        ok(query(a, "Bias.Set", struct.pack(">f", 0.01))[1])
        slow = struct.pack(">8f", 0.01, 0.0, 0.01, 1.0, 5.0, 5.0, 0.01, 0.01)  # 10 s/point
        ok(query(a, "BiasSpectr.TimingSet", slow)[1])
        ok(query(a, "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 1, 2, 200, 0.0, 0, 0))[1])
        result: dict[str, bytes] = {}
        thread = threading.Thread(
            target=lambda: result.update(
                body=query(a, "BiasSpectr.Start", struct.pack(">Ii", 1, 0))[1]
            )
        )
        thread.start()
        deadline = world.clock.now() + 100.0
        while ok(query(b, "BiasSpectr.StatusGet")[1]) != struct.pack(">I", 1):
            assert world.clock.now() < deadline
        assert query(b, "BiasSpectr.Stop")[1] == b"\x00" * 8
        thread.join(timeout=10)
        assert not thread.is_alive()
        status, msg = Decoder(result["body"]).error() if len(result["body"]) < 200 else (0, "")
        assert status == 1 and "stopped" in msg
        assert ok(query(b, "BiasSpectr.StatusGet")[1]) == struct.pack(">I", 0)
        assert Decoder(ok(query(b, "Bias.Get")[1])).f32() == pytest.approx(0.01)
        assert ok(query(b, "ZCtrl.OnOffGet")[1]) == struct.pack(">I", 1)
    finally:
        a.close()
        b.close()


def test_adv_props_without_reset_bias_or_z_hold(sock, world) -> None:
    _spectr_settings(sock)
    ok(query(sock, "Bias.Set", struct.pack(">f", 0.01))[1])
    ok(query(sock, "BiasSpectr.AdvPropsSet", struct.pack(">4H", 2, 2, 0, 0))[1])
    ok(query(sock, "BiasSpectr.PropsSet", struct.pack(">HiHifHH", 0, 1, 2, 0, 0.0, 0, 0))[1])
    ok(query(sock, "BiasSpectr.Start", struct.pack(">Ii", 0, 0))[1])
    # the bias stays at the sweep's end, the feedback regulated throughout
    assert Decoder(ok(query(sock, "Bias.Get")[1])).f32() == pytest.approx(4e-3)
    assert ok(query(sock, "ZCtrl.OnOffGet")[1]) == struct.pack(">I", 1)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("Bias.Set", struct.pack(">ff", 0.5, 0.5)),  # 4 bytes too many
        ("Bias.Set", b"\x00\x01"),  # too short
        ("Bias.Get", b"\x00\x00\x00\x00"),  # a getter takes nothing
        ("BiasSpectr.ChsSet", struct.pack(">3i", 3, 0, 1)),  # count says 3, carries 2
        ("BiasSpectr.Start", struct.pack(">Ii", 1, 10) + b"abc"),  # string cut short
        ("ZCtrl.Withdraw", struct.pack(">I", 1)),
        ("Signals.ValsGet", struct.pack(">2i", 1, 0)),  # wait flag missing
    ],
)
def test_body_not_matching_the_arguments_is_refused_and_serving_goes_on(
    sock, world, name, body
) -> None:
    world.junction.bias = 0.002
    head, reply = query(sock, name, body)
    assert head[:32] == name.encode().ljust(32, PAD)
    status, msg = error_of(reply)
    assert status == 1 and "does not match the arguments" in msg
    assert world.junction.bias == pytest.approx(0.002)  # nothing ran
    assert Decoder(ok(query(sock, "Bias.Get")[1])).f32() == pytest.approx(0.002)


def test_non_ascii_command_name_gets_a_utf8_error(sock) -> None:
    raw = "Bias.Sét".encode("latin-1")
    sock.sendall(raw.ljust(32, PAD) + struct.pack(">iHH", 0, 1, 0))
    head = recv_exact(sock, 40)
    assert head[:32] == raw.ljust(32, PAD)
    size = struct.unpack(">i", head[32:36])[0]
    status, length = struct.unpack(">Ii", recv_exact(sock, 8))
    message = recv_exact(sock, length)
    assert size == 8 + length and status == 1
    text = message.decode("utf-8")  # valid UTF-8
    assert "Command not found" in text and "Bias.S\\xe9t" in text
    assert Decoder(ok(query(sock, "Bias.Get")[1])).f32() == pytest.approx(0.0, abs=1)


def test_util_version_get_golden(sock) -> None:
    body = ok(query(sock, "Util.VersionGet")[1])
    product, version = b"Nanonis SPM Control Software", b"Generic 5e (simulated)"
    assert body == (
        struct.pack(">i", len(product))
        + product
        + struct.pack(">i", len(version))
        + version
        + struct.pack(">II", 13520, 13520)
    )
