"""TCP plumbing shared by the simulated instruments (threaded, 127.0.0.1).

API (kept stable; ``nanonis_server.py`` builds on it):

``TCPServer(host="127.0.0.1", port=0, *, max_connections=None, name="")``
    Base class. ``start()`` binds (port 0 = any free port) and serves in a background
    thread, one thread per connection; ``stop()`` closes the listener and every open
    connection and joins the threads; usable as a context manager. ``address`` is
    ``(host, port)`` after ``start()``. ``max_connections``: connections beyond this
    number are accepted and closed at once (the Lake Shore 372 allows 2).

    Subclasses implement ``handle_connection(conn: Connection) -> None``, called in the
    connection's own thread; return to close the connection. Binary servers read with
    ``conn.read_exact(n)``, text servers with ``conn.readline()``; both return ``None``
    at end of stream. For each request a handler

    1. calls ``conn.begin_request()`` once the request is fully read and returns at once
       if it is ``False`` (``drop_next`` fault: the connection was closed and the request
       must not be executed),
    2. records what it parsed with ``self.record(name)`` (``received``),
    3. executes it and sends any reply with ``conn.reply(data: bytes)``, which applies the
       ``silent``, ``delay`` and ``garbage_next`` faults.

    ``garbage(data) -> bytes`` makes the bytes sent instead of a reply under the
    ``garbage_next`` fault; override it for a protocol-specific garbage reply.

``server.faults`` (:class:`ServerFaults`, change at any time from any thread):
    ``drop_next`` (int): close the connection on each of the next N requests instead
    of executing them; ``delay`` (wall s) before every reply; ``garbage_next`` (int): the
    next N replies are garbage; ``silent`` (bool): requests are executed but never
    answered. ``faults.clear()`` resets all.

``server.received``: list (thread-safe appends) of every command the server parsed, in
    order; ``server.clear_received()`` empties it.

``LineServer(TCPServer)``: text protocol. Reads lines ending ``\\n`` (a trailing
    ``\\r`` is stripped); a message is executed only once its terminator arrived (a line
    cut by a disconnect is dropped unexecuted). Skips empty lines and lines starting with
    ``ignore_prefixes`` (e.g. ``"++"``), splits a line on ``;`` into commands, records each
    stripped command in ``received`` and calls ``handle_command(command: str) -> str |
    None``; each non-None result is sent followed by ``reply_terminator``, or, with
    ``join_replies``, all results of one message go in one line joined by ``;`` (IEEE
    488.2 compound queries). Class attributes: ``reply_terminator`` (str, default
    ``"\\n"``), ``ignore_prefixes`` (tuple of str), ``encoding`` ("latin-1"),
    ``join_replies`` (bool, default False).
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass, field

__all__ = ["Connection", "LineServer", "RawReply", "ServerFaults", "TCPServer"]


class RawReply(str):
    """A reply a :class:`LineServer` sends as it is, without its terminator (a binary
    transfer; the text is the bytes decoded as latin-1)."""


@dataclass
class ServerFaults:
    """Fault injection of one server; attributes may be set from any thread.

    Attributes:
        drop_next: close the connection on each of the next N requests (not executed).
        delay: wall-clock seconds to wait before each reply (s).
        garbage_next: the next N replies are replaced by garbage bytes.
        silent: requests are read and executed but never answered.
    """

    drop_next: int = 0
    delay: float = 0.0
    garbage_next: int = 0
    silent: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take_drop(self) -> bool:
        """Consume one pending drop; True if this request must be dropped."""
        with self._lock:
            if self.drop_next > 0:
                self.drop_next -= 1
                return True
            return False

    def take_garbage(self) -> bool:
        """Consume one pending garbage reply; True if this reply must be garbage."""
        with self._lock:
            if self.garbage_next > 0:
                self.garbage_next -= 1
                return True
            return False

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self.drop_next = 0
            self.delay = 0.0
            self.garbage_next = 0
            self.silent = False


class Connection:
    """One client connection, handed to :meth:`TCPServer.handle_connection`."""

    def __init__(self, server: TCPServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.closed = False
        self._send_lock = threading.Lock()

    def readline(self, limit: int = 1 << 16) -> bytes | None:
        """Next line including its ``\\n`` (bytes), or None at end of stream."""
        try:
            line = self.rfile.readline(limit)
        except (OSError, ValueError):
            return None
        return line or None

    def read_some(self, limit: int = 4096) -> bytes | None:
        """Whatever arrived (1 to ``limit`` bytes, waiting for at least one), or None at
        end of stream."""
        try:
            data = self.rfile.read1(limit)
        except (OSError, ValueError):
            return None
        return data or None

    def read_exact(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or None if the stream ends first."""
        if n == 0:
            return b""
        try:
            data = self.rfile.read(n)
        except (OSError, ValueError):
            return None
        if data is None or len(data) < n:
            return None
        return data

    def begin_request(self) -> bool:
        """Call once per request after reading it. False: dropped (connection closed)."""
        if self.server.faults.take_drop():
            self.close()
            return False
        return True

    def reply(self, data: bytes) -> None:
        """Send a reply, applying the server's silent/delay/garbage faults."""
        faults = self.server.faults
        if faults.silent or self.closed:
            return
        if faults.delay > 0:
            time.sleep(faults.delay)
        if faults.take_garbage():
            data = self.server.garbage(data)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.rfile.close()
        with contextlib.suppress(OSError):
            self.sock.close()


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        owner: TCPServer = self.server.owner  # type: ignore[attr-defined]
        owner._run_connection(self.request)


class _ThreadingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = sys.platform != "win32"
    block_on_close = False


class TCPServer:
    """Threaded TCP server on ``host`` (see the module docstring for the API)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_connections: int | None = None,
        name: str = "",
    ) -> None:
        self.host = host
        self.port = int(port)
        self.max_connections = max_connections
        self.name = name or type(self).__name__
        self.faults = ServerFaults()
        self.received: list[str] = []
        self._received_lock = threading.Lock()
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[Connection] = set()
        self._conns_lock = threading.Lock()

    # ---- life cycle -------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the server listens on (valid after ``start()``)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._server is not None

    def start(self) -> TCPServer:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        srv = _ThreadingServer((self.host, self.port), _Handler)
        srv.owner = self  # type: ignore[attr-defined]
        self._server = srv
        self._thread = threading.Thread(
            target=srv.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-accept",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection and wait for the accept thread."""
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TCPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- records ----------------------------------------------------------------
    def record(self, command: str) -> None:
        """Append a parsed command to ``received`` (thread-safe)."""
        with self._received_lock:
            self.received.append(command)

    def clear_received(self) -> None:
        """Empty ``received``."""
        with self._received_lock:
            self.received.clear()

    @property
    def connection_count(self) -> int:
        """Number of open client connections."""
        with self._conns_lock:
            return len(self._conns)

    # ---- hooks ------------------------------------------------------------------
    def handle_connection(self, conn: Connection) -> None:
        """Serve one connection until it ends (override)."""
        raise NotImplementedError

    def garbage(self, data: bytes) -> bytes:
        """Bytes sent instead of ``data`` under the ``garbage_next`` fault."""
        pattern = b"\xde\xad\xbe\xef"
        n = max(len(data), 4)
        return (pattern * (n // 4 + 1))[:n]

    # ---- internals --------------------------------------------------------------
    def _run_connection(self, sock: socket.socket) -> None:
        conn = Connection(self, sock)
        with self._conns_lock:
            if self.max_connections is not None and len(self._conns) >= self.max_connections:
                full = True
            else:
                full = False
                self._conns.add(conn)
        if full:
            conn.close()
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.handle_connection(conn)
        except (OSError, ValueError):
            pass
        finally:
            conn.close()
            with self._conns_lock:
                self._conns.discard(conn)


class LineServer(TCPServer):
    """Text-line server: one command per ``;``-separated item of a line."""

    reply_terminator: str = "\n"
    ignore_prefixes: tuple[str, ...] = ()
    encoding: str = "latin-1"
    join_replies: bool = False

    def handle_command(self, command: str) -> str | None:
        """Execute one command (stripped, non-empty); return the reply text or None."""
        raise NotImplementedError

    def garbage(self, data: bytes) -> bytes:
        """A line of non-numeric bytes, properly terminated."""
        return b"\xff#GARBAGE@!" + self.reply_terminator.encode(self.encoding)

    def handle_connection(self, conn: Connection) -> None:
        while not conn.closed:
            raw = conn.readline()
            if raw is None or not raw.endswith(b"\n"):
                return  # end of stream; a line cut by a disconnect is never executed
            line = raw.decode(self.encoding, errors="replace").strip()
            if not line or line.startswith(self.ignore_prefixes):
                continue
            if not conn.begin_request():
                return
            replies = self.handle_message(line)
            if not replies:
                continue
            if self.join_replies:
                replies = [";".join(replies)]
            for reply in replies:
                conn.reply(self.encode_reply(reply))

    def encode_reply(self, reply: str) -> bytes:
        """The bytes of one reply: the text and the terminator (none for a RawReply)."""
        if isinstance(reply, RawReply):
            return reply.encode("latin-1")
        return (reply + self.reply_terminator).encode(self.encoding)

    def handle_message(self, line: str) -> list[str]:
        """Execute every ``;``-separated command of one message in order; the replies."""
        replies: list[str] = []
        for part in line.split(";"):
            command = part.strip()
            if not command:
                continue
            self.record(command)
            reply = self.handle_command(command)
            if reply is not None:
                replies.append(reply)
        return replies
