"""One TCP connection to the Nanonis programming interface, reconnecting.

Reconnect semantics (:meth:`NanonisTransport.call`): a request is sent only on a
connection that is idle (no unread bytes, not closed by the peer; checked before sending).
The header and then the body are read in full, with one deadline for the whole reply; the
echoed name must be the request's. On a timeout, a dropped connection or bytes that break
the protocol the socket is closed at once — a late reply can then never be read as the
answer to a later request — and the next request opens a new connection. A command marked
``idempotent`` in the command table (every ``…Get``) is retried once on the fresh
connection; any other command raises :class:`NanonisConnectionError` (or
:class:`NanonisTimeoutError`), because the controller may or may not have executed it:
the caller decides (read the state back). A reply with an error section raises
:class:`~andreev.instruments.nanonis.codec.NanonisError` and keeps the connection (the
stream is still in step).

Deadlines: every request has one (the reply timeout, wall s). A request that timed out
is re-sent (idempotent ones only) with a short probe timeout; once the controller is
silent, later requests wait at most that probe timeout and then fail at once
(:class:`~andreev.instruments.deadline.Silence`), so a
silent controller costs a run's safe state or ``andreev info`` seconds, not minutes.

Timeouts here are wall-clock seconds (socket timeouts).
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from typing import Any

from andreev.errors import InstrumentError
from andreev.instruments.deadline import Silence
from andreev.instruments.nanonis.codec import (
    COMMANDS,
    GAINSET_SHORT,
    HEADER_SIZE,
    Command,
    NanonisError,
    NanonisProtocolError,
    decode_reply,
    decode_reply_header,
    encode_request,
)

__all__ = [
    "DEFAULT_PORT",
    "NanonisConnectionError",
    "NanonisTimeoutError",
    "NanonisTransport",
    "parse_address",
]

#: the first port of the programming interface (6501–6504 by default)
DEFAULT_PORT = 6501


class NanonisConnectionError(InstrumentError, ConnectionError):
    """The connection failed or dropped during ``command``; the socket was closed."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"Nanonis {command}: {message}")
        self.command = command
        self.detail = message


class NanonisTimeoutError(NanonisConnectionError, TimeoutError):
    """No complete reply to ``command`` within the timeout; the socket was closed."""


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """(host, port) of ``"host:port"``, ``"tcp://host:port"``, ``"host"`` (port
    :data:`DEFAULT_PORT`) or a (host, port) tuple; ValueError otherwise."""
    if isinstance(address, tuple):
        return str(address[0]), int(address[1])
    text = str(address).strip()
    for prefix in ("tcp://", "TCP://"):
        text = text.removeprefix(prefix)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host or "127.0.0.1", int(port)
    if ":" not in text and text:
        return text, DEFAULT_PORT
    raise ValueError(f"Nanonis address must be 'host:port', got {address!r}")


class NanonisTransport:
    """One TCP connection to the Nanonis programming interface (see the module doc for
    the reconnect semantics).

    Args:
        host, port: the controller (ports 6501–6504 by default).
        timeout: default reply timeout (wall s) for a whole reply.
        connect_timeout: timeout of opening the connection (wall s; default ``timeout``).
        retries: how many times an idempotent command is re-sent on a fresh connection.

    Attributes:
        reconnects: number of connections opened after the first (for logs and tests).
        sent: number of requests written.
        paired: requests sent in one message after another (:meth:`call_pair`):
            their round trip was not exposed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 10.0,
        *,
        connect_timeout: float | None = None,
        retries: int = 1,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout if connect_timeout else timeout)
        self.retries = int(retries)
        self.reconnects = 0
        self.sent = 0
        self.paired = 0
        self._pending = b""  # bytes of the second reply of a pair, read with the first
        self._connections = 0
        self._sock: socket.socket | None = None
        self._lock = threading.RLock()
        self.silence = Silence()
        """Bounded waits once the controller stopped answering (:mod:`..deadline`)."""
        self.gainset_with_filter = True
        """Send ``Current.GainSet`` with the filter index (newer software); the driver
        sets this from whether ``Current.GainsGet`` lists filters."""

    # ---- connection ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while a socket is open (it may still turn out to be dead)."""
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection if there is none (raises OSError subclasses on failure)."""
        with self._lock:
            if self._sock is not None:
                return
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            if self._connections:
                self.reconnects += 1
            self._connections += 1

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        with self._lock:
            sock, self._sock = self._sock, None
            self._pending = b""
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> NanonisTransport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _idle_check(self) -> None:
        """Close the socket if the peer closed it or unread bytes wait on it."""
        sock = self._sock
        if sock is None:
            return
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            self.close()
            return
        if readable:
            self.close()  # EOF (peer closed) or stray bytes: never read them as a reply

    # ---- requests -------------------------------------------------------------------
    def call(
        self,
        cmd: str | Command,
        *args: Any,
        timeout: float | None = None,
        retry: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Send ``cmd`` with ``args`` (see
        :func:`~andreev.instruments.nanonis.codec.encode_request`) and return its decoded
        return values.

        ``timeout`` (wall s) bounds the whole reply (default: the transport's);
        ``retry=False``: not re-sent even when idempotent (it is itself the retry).
        Raises :class:`NanonisError` (error section), :class:`NanonisTimeoutError`,
        :class:`NanonisConnectionError` or :class:`NanonisProtocolError`."""
        spec = COMMANDS[cmd] if isinstance(cmd, str) else cmd
        if spec.name == "Current.GainSet" and not self.gainset_with_filter:
            spec = GAINSET_SHORT
            kwargs.pop("filter_index", None)
            args = args[:1]
        request = encode_request(spec, *args, **kwargs)
        limit = self.timeout if timeout is None else float(timeout)
        attempts = 1 + (self.retries if spec.idempotent and retry else 0)
        with self._lock:
            wait = self.silence.reply_timeout(limit)
            if wait is None:
                raise NanonisTimeoutError(spec.name, f"not sent: {self.silence.describe()}")
            for attempt in range(attempts):
                try:
                    values = self._exchange(spec, request, wait)
                except NanonisTimeoutError as exc:
                    earlier = self.silence.describe()
                    self.silence.timed_out(spec.name, wait)
                    retry_wait = self.silence.reply_timeout(limit)
                    if attempt + 1 < attempts and retry_wait is not None:
                        wait = retry_wait  # a resend gets the short probe timeout
                        continue
                    if earlier:  # say since when, not only this request
                        raise NanonisTimeoutError(spec.name, f"{exc.detail}; {earlier}") from exc
                    raise
                except NanonisError:
                    self.silence.answered()
                    raise
                except (NanonisConnectionError, NanonisProtocolError):
                    if attempt + 1 >= attempts:
                        raise
                    continue
                self.silence.answered()
                return values
            raise AssertionError("unreachable")

    def call_pair(
        self, first: tuple[Any, ...], second: tuple[Any, ...]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Two requests in one message, e.g. ``(("Current.Get",), ("Bias.Set", 0.01))``
        (each a command and its arguments): the controller executes them in order and
        answers both; one round trip instead of two. Returns both decoded replies.

        Both replies are read before an error section raises (the stream stays in step).
        On a timeout, a dropped connection or a broken reply the socket is closed and the
        error raised (nothing is re-sent: the caller reads the state back). Counted in
        :attr:`paired` (the second request's round trip is not exposed)."""
        specs = [COMMANDS[c[0]] if isinstance(c[0], str) else c[0] for c in (first, second)]
        request = b"".join(
            encode_request(spec, *c[1:]) for spec, c in zip(specs, (first, second), strict=True)
        )
        names = " + ".join(spec.name for spec in specs)
        with self._lock:
            wait = self.silence.reply_timeout(self.timeout)
            if wait is None:
                raise NanonisTimeoutError(names, f"not sent: {self.silence.describe()}")
            try:
                sock, deadline = self._send(specs[1], request, wait)
                replies = [self._receive(spec, sock, deadline, wait, True) for spec in specs]
                if self._pending:
                    self.close()
                    raise NanonisProtocolError(f"bytes beyond the replies to {names}")
            except NanonisTimeoutError:
                self.silence.timed_out(names, wait)
                raise
            self.silence.answered()
            self.sent += 1
            self.paired += 1
            for spec, (_values, err) in zip(specs, replies, strict=True):
                if err.is_error:
                    raise NanonisError(spec.name, err.message)
            return replies[0][0], replies[1][0]

    def _send(self, spec: Command, request: bytes, limit: float) -> tuple[socket.socket, float]:
        """Send ``request`` on an idle connection; returns (socket, reply deadline).

        Every send and receive is bounded by what is left of the deadline (the socket's
        timeout, set before each call: the wait happens in the system call itself, with
        no extra ``select`` round through Python per reply)."""
        self._idle_check()
        try:
            self.connect()
        except OSError as exc:
            self.close()
            raise NanonisConnectionError(
                spec.name, f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from exc
        sock = self._sock
        assert sock is not None
        deadline = time.monotonic() + limit
        try:
            sock.settimeout(limit)
            sock.sendall(request)
        except TimeoutError as exc:
            self.close()
            raise NanonisTimeoutError(
                spec.name, f"could not send to {self.host}:{self.port} within {limit:g} s"
            ) from exc
        except OSError as exc:
            self.close()
            raise NanonisConnectionError(spec.name, f"connection lost: {exc}") from exc
        self.sent += 1
        return sock, deadline

    def _exchange(self, spec: Command, request: bytes, limit: float) -> dict[str, Any]:
        sock, deadline = self._send(spec, request, limit)
        return self._receive(spec, sock, deadline, limit)

    def _receive(
        self,
        spec: Command,
        sock: socket.socket,
        deadline: float,
        limit: float,
        more: bool = False,
    ) -> Any:
        """Read and decode the reply to ``spec`` (raises as :meth:`call` describes).
        ``more`` (:meth:`call_pair`): the bytes of a following reply are kept for it, and
        (values, error section) is returned without raising on an error section."""
        try:
            name, body = self._read_reply(sock, deadline, more)
            if name != spec.name:
                raise NanonisProtocolError(f"reply to {spec.name!r} echoes {name!r}")
            values, err = decode_reply(spec, body)
        except TimeoutError as exc:
            self.close()
            raise NanonisTimeoutError(
                spec.name, f"no complete reply from {self.host}:{self.port} within {limit:g} s"
            ) from exc
        except NanonisProtocolError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise NanonisConnectionError(spec.name, f"connection lost: {exc}") from exc
        if more:
            return values, err
        if err.is_error:
            raise NanonisError(spec.name, err.message)
        return values

    def _read_reply(self, sock: socket.socket, deadline: float, more: bool) -> tuple[str, bytes]:
        """(echoed name, body) of one reply, read in as few system calls as the bytes
        arrive in (usually one). Bytes beyond the reply are the next reply's when
        ``more`` (kept for it), else they break the protocol (nothing else was asked)."""
        data, self._pending = self._pending, b""
        if len(data) < HEADER_SIZE:
            data = self._read_at_least(sock, HEADER_SIZE, data, deadline)
        name, size = decode_reply_header(data[:HEADER_SIZE])
        total = HEADER_SIZE + size
        if len(data) < total:
            data = self._read_at_least(sock, total, data, deadline)
        if len(data) > total:
            if not more:
                raise NanonisProtocolError(f"{len(data) - total} bytes beyond the reply")
            self._pending = data[total:]
        return name, data[HEADER_SIZE:total]

    @classmethod
    def _read_at_least(cls, sock: socket.socket, n: int, data: bytes, deadline: float) -> bytes:
        chunks = [data] if data else []
        got = len(data)
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("reply deadline passed")
            sock.settimeout(remaining)
            chunk = sock.recv(max(n - got, 1 << 16))  # TimeoutError at the deadline
            if not chunk:
                raise ConnectionResetError("connection closed by the controller")
            chunks.append(chunk)
            got += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
