"""TCP plumbing: connections, `;` splitting, joined replies, cut lines, `received`, faults."""

from __future__ import annotations

import socket
import time

import pytest

from andreev.sim.tcp import LineServer, RawReply
from tests.sim.textwire import read_lines


class EchoServer(LineServer):
    """Answers every query `X?` with `X!`; other commands are silent."""

    ignore_prefixes = ("++",)

    def handle_command(self, command: str) -> str | None:
        return command[:-1] + "!" if command.endswith("?") else None


@pytest.fixture
def server():
    srv = EchoServer(max_connections=2).start()
    yield srv
    srv.stop()


def connect(srv, timeout: float = 1.0) -> socket.socket:
    sock = socket.create_connection(srv.address, timeout=timeout)
    return sock


def test_address_and_port_zero(server):
    host, port = server.address
    assert host == "127.0.0.1" and port > 0


def test_split_ignore_and_record(server):
    with connect(server) as s:
        s.sendall(b"++addr 8\na?; b ;c?\n\n")
        assert read_lines(s, 2) == b"a!\nc!\n"
    assert server.received == ["a?", "b", "c?"]


def test_several_connections_and_limit(server):
    a, b = connect(server), connect(server)
    c = connect(server)
    try:
        a.sendall(b"1?\n")
        b.sendall(b"2?\n")
        assert read_lines(a, 1) == b"1!\n"
        assert read_lines(b, 1) == b"2!\n"
        assert c.recv(10) == b""  # third connection closed at once
    finally:
        for s in (a, b, c):
            s.close()


def test_drop_next_closes_without_executing(server):
    server.faults.drop_next = 1
    with connect(server) as s:
        s.sendall(b"x?\n")
        assert s.recv(10) == b""
    assert server.received == []
    with connect(server) as s:
        s.sendall(b"y?\n")
        assert read_lines(s, 1) == b"y!\n"
    assert server.faults.drop_next == 0


def test_garbage_next(server):
    server.faults.garbage_next = 1
    with connect(server) as s:
        s.sendall(b"x?\n")
        garbage = read_lines(s, 1)
        s.sendall(b"y?\n")
        assert read_lines(s, 1) == b"y!\n"
    assert garbage.endswith(b"\n") and garbage != b"x!\n"


def test_delay(server):
    server.faults.delay = 0.3
    with connect(server, timeout=2) as s:
        t0 = time.monotonic()
        s.sendall(b"x?\n")
        assert read_lines(s, 1) == b"x!\n"
        assert time.monotonic() - t0 >= 0.29


def test_silent_executes_but_never_answers(server):
    server.faults.silent = True
    with connect(server, timeout=0.3) as s:
        s.sendall(b"x?\n")
        with pytest.raises(TimeoutError):
            s.recv(10)
    assert server.received == ["x?"]
    server.faults.clear()
    assert not server.faults.silent


def test_stop_closes_connections():
    srv = EchoServer().start()
    s = connect(srv)
    srv.stop()
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    finally:
        s.close()


def test_line_cut_by_disconnect_is_not_executed(server):
    with connect(server) as s:
        s.sendall(b"x?;y")
    time.sleep(0.2)
    assert server.received == []
    with connect(server) as s:
        s.sendall(b"x?")
        time.sleep(0.05)
        s.sendall(b";y?\n")
        assert read_lines(s, 2) == b"x!\ny!\n"
    assert server.received == ["x?", "y?"]


class JoiningServer(EchoServer):
    join_replies = True
    reply_terminator = "\r\n"


def test_joined_replies_and_raw_replies():
    with JoiningServer() as srv, connect(srv) as s:
        s.sendall(b"a?;b;c?\n")
        assert read_lines(s, 1, b"\r\n") == b"a!;c!\r\n"
    assert JoiningServer().encode_reply(RawReply("\x00\xff")) == b"\x00\xff"
