"""Raw-socket helpers for the text-line simulators (SR830, Lake Shore 372), written
independently of the servers' own code."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any


def read_lines(sock: socket.socket, n: int = 1, terminator: bytes = b"\n") -> bytes:
    """Read until ``n`` terminators arrived (or the peer closed)."""
    data = b""
    while data.count(terminator) < n:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def ask(sock: socket.socket, text: str, lines: int = 1, terminator: bytes = b"\n") -> bytes:
    """Send ``text`` and read ``lines`` replies ending in ``terminator``."""
    sock.sendall(text.encode())
    return read_lines(sock, lines, terminator)


def silent(sock: socket.socket, text: str, wait: float = 0.3) -> bool:
    """True if ``text`` gets no reply within ``wait`` seconds."""
    sock.sendall(text.encode())
    previous = sock.gettimeout()
    sock.settimeout(wait)
    try:
        sock.recv(100)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(previous)
    return False


def read_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes (a binary transfer), or fewer if the peer closed."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def client(server: Any, timeout: float = 2.0) -> Iterator[socket.socket]:
    """A raw socket connected to ``server.address``, closed on exit."""
    sock = socket.create_connection(server.address, timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()
