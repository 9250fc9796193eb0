"""Reconnect-on-failure and clear timeout errors for our VISA instrument drivers.

:class:`ReconnectingVisaMixin` goes in front of a qcodes ``VisaInstrument`` subclass
(``class SR830(ReconnectingVisaMixin, qcodes SR830)``) and wraps ``write_raw`` /
``ask_raw``:

* **Closed connection** (the instrument or an Ethernet adapter dropped the socket, the
  peer reset it, pyvisa reports a lost connection): the VISA resource is re-opened at
  the same address, with the same terminators and timeout, and the request is sent
  once more. A closed socket is detected *before* a request is sent (so a write is
  not silently lost into a dead socket) and, with pyvisa-py TCP sockets, also while
  waiting for a reply (so the client does not wait for the whole timeout).
  Requests we send are idempotent settings or queries, so sending one twice is safe
  (a ``LIAS?``-like read-and-clear query loses at most one latched reading).
* **Timeout** (the instrument is silent: the SR830 and the Lake Shore 372 answer a
  failing query with nothing): :class:`InstrumentTimeoutError` names the instrument,
  the command and the timeout. The resource is re-opened as well, so that a late
  reply cannot be taken for the answer to the next query; the request is not retried.
  Once a query went unanswered, later ones wait at most a short probe timeout and,
  after several seconds of silence, fail at once naming the first unanswered command
  (:class:`~andreev.instruments.deadline.Silence`): a silent instrument costs seconds,
  not a timeout per request.
* **Garbage** (a reply that is not text): re-opened and asked once more; a second
  garbled reply raises :class:`InstrumentReplyError` naming the instrument and the
  command (never a ``UnicodeDecodeError``).

* **Interrupted query** (a second Ctrl-C raises KeyboardInterrupt between a query's
  write and its reply): the next request re-opens the resource first, so the late reply
  is never read as its own. (This replaces qcodes' ``DelayedKeyboardInterrupt``, which
  swaps the SIGINT handler twice per query: ~30 µs, a tenth of a point.)

A query on a pyvisa-py socket goes through the VISA library's session calls
(``visalib.write``/``visalib.read``, the read ending at the termination character) with
``TCP_NODELAY`` set on the socket; with other backends, through qcodes' ``ask_raw``.

Nothing here depends on the simulator; with NI-VISA or GPIB only the generic part (on
errors) is active, the socket checks need pyvisa-py.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from typing import Any

import pyvisa
import pyvisa.constants as vi_const
from pyvisa.errors import VisaIOError

from andreev.errors import InstrumentError
from andreev.instruments.deadline import Silence

__all__ = [
    "InstrumentConnectionError",
    "InstrumentReplyError",
    "InstrumentTimeoutError",
    "ReconnectingVisaMixin",
]

log = logging.getLogger(__name__)

_LOST_CONNECTION_CODES = {
    vi_const.StatusCode.error_connection_lost,
    vi_const.StatusCode.error_io,
    vi_const.StatusCode.error_invalid_object,
    vi_const.StatusCode.error_closing_failed,
}


#: bytes asked of the VISA library per read: pyvisa-py stops at the termination
#: character, so this only caps a reply (a longer one takes more reads)
_CHUNK = 1 << 20


class InstrumentTimeoutError(InstrumentError, TimeoutError):
    """The instrument did not answer a query within the VISA timeout."""


class InstrumentConnectionError(InstrumentError, ConnectionError):
    """The connection to the instrument was lost and could not be re-established."""


class InstrumentReplyError(InstrumentError):
    """The instrument's reply was not text (garbled), twice in a row."""


class _PeerClosed(Exception):
    """Internal: the socket was found closed by the peer."""


class ReconnectingVisaMixin:
    """Mixin for qcodes ``VisaInstrument`` subclasses; see the module docstring.

    Attributes:
        reconnect_count: how many times the resource was re-opened (int).
    """

    reconnect_count: int = 0
    #: a query's write went out and its reply is not read yet (see :meth:`_with_reconnect`)
    _in_flight: bool = False
    #: qcodes' own set-up query has been answered: from now on requests are the user's
    _andreev_connected: bool = False
    #: ((id of the VISA resource, its session), (pyvisa-py session, socket)) looked up last
    _pyvisa_py_of: tuple[tuple[int, Any], tuple[Any, socket.socket | None]] | None = None

    # provided by the qcodes VisaInstrument the mixin goes in front of
    name: str
    parameters: dict[str, Any]
    _visa_handle: pyvisa.resources.MessageBasedResource

    # -- helpers ---------------------------------------------------------------------

    def _socket(self) -> socket.socket | None:
        """The TCP socket under a pyvisa-py resource, or None (other backends)."""
        return self._pyvisa_py()[1]

    def _pyvisa_py(self) -> tuple[Any, socket.socket | None]:
        """(pyvisa-py session, its TCP socket) of the present resource; (None, None) with
        other backends or resources.

        Looked up once per VISA session (a re-opened resource is looked up again); the
        first time, Nagle's algorithm is switched off on the socket (``TCP_NODELAY``: a
        request is one short line, sent at once)."""
        handle = getattr(self, "_visa_handle", None)
        if handle is None:
            return None, None
        key = (id(handle), getattr(handle, "_session", None))
        known = self._pyvisa_py_of
        if known is not None and known[0] == key:
            return known[1]
        found = self._find_session(handle)
        if found[1] is not None:
            with contextlib.suppress(OSError):
                found[1].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pyvisa_py_of = (key, found)
        return found

    @staticmethod
    def _find_session(handle: Any) -> tuple[Any, socket.socket | None]:
        sessions = getattr(handle.visalib, "sessions", None)
        if not isinstance(sessions, dict):
            return None, None
        try:
            session = sessions.get(handle.session)
        except pyvisa.errors.InvalidSession:
            return None, None
        sock = getattr(session, "interface", None)
        return (session, sock) if isinstance(sock, socket.socket) else (None, None)

    def _peer_closed(self) -> bool:
        """True if the peer has closed the TCP connection (pyvisa-py sockets only).

        Pending reply bytes are left in place (peeked, not read).
        """
        sock = self._socket()
        if sock is None:
            return False
        try:
            if sock.fileno() < 0:
                return True
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _wait_for_reply(self, timeout_s: float | None) -> None:
        """Wait until reply bytes arrive; raise _PeerClosed if the socket closes first
        and a VISA timeout error if nothing arrives within ``timeout_s``.

        Only with pyvisa-py sockets and when nothing is buffered already; otherwise
        returns at once and the VISA read does the waiting.
        """
        session, sock = self._pyvisa_py()
        if sock is None:
            return
        if getattr(session, "_pending_buffer", None):
            return
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            remaining = 0.2 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise VisaIOError(vi_const.StatusCode.error_timeout)
            try:
                readable, _, _ = select.select([sock], [], [], min(remaining, 0.2))
            except (OSError, ValueError):
                raise _PeerClosed from None
            if readable:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        raise _PeerClosed
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    raise _PeerClosed from None
                return

    def reconnect(self) -> None:
        """Close and re-open the VISA resource at the same address, keeping terminators
        and timeout.

        Raises:
            InstrumentConnectionError: the resource could not be opened again.
        """
        old = self._visa_handle
        name = old.resource_name
        read_term, write_term = old.read_termination, old.write_termination
        timeout_ms = old.timeout
        manager = old.visalib.resource_manager
        with contextlib.suppress(Exception):
            old.close()
        try:
            if manager is None:
                raise RuntimeError("no resource manager")
            new = manager.open_resource(name)
        except Exception as exc:
            raise InstrumentConnectionError(
                f"{self.name}: lost the connection to {name} and could not re-open it: {exc}"
            ) from exc
        if not isinstance(new, pyvisa.resources.MessageBasedResource):
            new.close()
            raise InstrumentConnectionError(f"{self.name}: {name} is not message based")
        new.read_termination = read_term
        new.write_termination = write_term
        new.timeout = timeout_ms
        if not isinstance(new, pyvisa.resources.TCPIPSocket):
            with contextlib.suppress(Exception):
                new.clear()  # GPIB/USB: selected device clear flushes a stale reply
        self._visa_handle = new
        self._in_flight = False
        self.reconnect_count += 1
        log.info("%s: re-opened the VISA resource %s", self.name, name)

    @staticmethod
    def _is_connection_error(exc: BaseException) -> bool:
        if isinstance(exc, VisaIOError):
            return exc.error_code in _LOST_CONNECTION_CODES
        return isinstance(exc, (OSError, pyvisa.errors.InvalidSession)) and not isinstance(
            exc, TimeoutError
        )

    @property
    def silence(self) -> Silence:
        """What is known of this instrument's silence (bounded waits once silent)."""
        found = self.__dict__.get("_silence")
        if found is None:
            found = self.__dict__["_silence"] = Silence()
        return found

    def _timeout_error(self, cmd: str, waited: float | None) -> InstrumentTimeoutError:
        seconds = "inf" if waited is None else f"{waited:g}"
        if not self._andreev_connected:  # qcodes' own set-up query
            return InstrumentTimeoutError(
                f"{self.name}: not answering at {self._visa_handle.resource_name} (no reply "
                f"within {seconds} s while connecting; check that it is on, its address "
                f"and its cable)"
            )
        earlier = self.silence.describe()
        return InstrumentTimeoutError(
            f"{self.name}: no reply to {cmd!r} within {seconds} s from "
            f"{self._visa_handle.resource_name}"
            + (
                f" ({earlier})"
                if earlier
                else " (the instrument answers an illegal or failing query with silence; "
                "check the command, its arguments and the connection)"
            )
        )

    def _reply_timeout(self, cmd: str) -> float | None:
        """The wait for ``cmd``'s reply (s; None: no limit), bounded once silent."""
        session = self._pyvisa_py()[0]
        if session is not None:  # pyvisa-py keeps it in s (None: infinite)
            normal = session.timeout
        else:
            timeout_ms = self._visa_handle.timeout
            normal = None if timeout_ms is None or timeout_ms == float("inf") else timeout_ms / 1e3
        wait = self.silence.reply_timeout(3600.0 if normal is None else normal)
        if wait is None:
            raise InstrumentTimeoutError(
                f"{self.name}: {cmd!r} not sent, the instrument is {self.silence.describe()}"
            )
        return None if normal is None and wait == 3600.0 else wait

    def _with_reconnect(
        self, cmd: str, action: Any, waited: float | None = None, query: bool = False
    ) -> Any:
        """Run ``action()`` (one request); reconnect and retry once on a lost connection
        or a garbled reply. ``waited``: the reply timeout the action used (s).

        A write is sent only on a socket the peer has not closed (checked first: it
        would be lost silently); a ``query`` finds a closed socket while waiting for its
        reply and is sent again on a new connection. A query interrupted between its
        write and its reply (a second Ctrl-C raises KeyboardInterrupt wherever the main
        thread is) leaves its reply on the way: the next request re-opens the resource
        first, so that reply is never read as its own.
        """
        if self._in_flight or (not query and self._peer_closed()):
            self.reconnect()
        for attempt in (1, 2):
            try:
                return action()
            except UnicodeDecodeError as exc:
                if attempt == 2:
                    raise InstrumentReplyError(
                        f"{self.name}: the reply to {cmd!r} is not text, twice "
                        f"({exc.object[:16]!r}…); check the connection and the instrument"
                    ) from None
                log.warning("%s: garbled reply to %r; re-opening and asking again", self.name, cmd)
                self.reconnect()
            except (_PeerClosed, VisaIOError, OSError, pyvisa.errors.InvalidSession) as exc:
                is_timeout = (
                    isinstance(exc, VisaIOError)
                    and exc.error_code == vi_const.StatusCode.error_timeout
                )
                if is_timeout:
                    if self._peer_closed():
                        exc = _PeerClosed()
                    else:
                        error = self._timeout_error(cmd, waited)
                        self.silence.timed_out(cmd, waited if waited is not None else 0.0)
                        with contextlib.suppress(InstrumentConnectionError):
                            self.reconnect()  # drop any late reply
                        raise error from exc
                if not (isinstance(exc, _PeerClosed) or self._is_connection_error(exc)):
                    raise
                if attempt == 2:
                    raise InstrumentConnectionError(
                        f"{self.name}: connection lost again while sending {cmd!r} "
                        f"after re-opening it"
                    ) from (None if isinstance(exc, _PeerClosed) else exc)
                log.warning("%s: connection lost during %r; reconnecting", self.name, cmd)
                self.reconnect()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- qcodes hooks ----------------------------------------------------------------

    def _guard(self, cmd: str) -> None:
        """Raise SafetyError if ``cmd`` must not reach the instrument (drivers override;
        called before every write and query, so no code path can bypass it)."""

    def write_raw(self, cmd: str) -> None:
        """Send ``cmd`` (after :meth:`_guard`); re-open the connection and resend once if
        it was lost."""
        self._guard(cmd)

        def action() -> None:
            super(ReconnectingVisaMixin, self).write_raw(cmd)  # type: ignore[misc]

        self._with_reconnect(cmd, action)

    def ask_raw(self, cmd: str) -> str:
        """Query ``cmd`` (after :meth:`_guard`); reconnect and retry once on a lost
        connection.

        Raises:
            InstrumentTimeoutError: no reply within the timeout (not retried).
            InstrumentConnectionError: the connection could not be re-established.
        """
        self._guard(cmd)
        wait = self._reply_timeout(cmd)

        def action() -> str:
            handle = self._visa_handle
            if self._socket() is None:
                saved = handle.timeout
                handle.timeout = float("inf") if wait is None else wait * 1e3
                try:
                    return super(ReconnectingVisaMixin, self).ask_raw(cmd)  # type: ignore[misc]
                finally:
                    with contextlib.suppress(Exception):
                        self._visa_handle.timeout = saved
            return self._exchange(handle, cmd, wait)

        log_debug = self.visa_log.isEnabledFor(logging.DEBUG)  # type: ignore[attr-defined]
        if log_debug:
            self.visa_log.debug("Querying: %s", cmd)  # type: ignore[attr-defined]
        response = self._with_reconnect(cmd, action, wait, query=self._socket() is not None)
        self.silence.answered()
        if log_debug:
            self.visa_log.debug("Response: %s", response)  # type: ignore[attr-defined]
        return response

    def _exchange(self, handle: Any, cmd: str, wait: float | None) -> str:
        """Write ``cmd`` and read its reply through the VISA library's session calls
        (``visalib.write``/``visalib.read``: no per-call attribute juggling of the
        resource layer; the session's termination character ends the read at once).
        Marked in flight from the write until the reply is read (see
        :meth:`_with_reconnect`)."""
        lib, session = handle.visalib, handle.session
        self._in_flight = True
        lib.write(session, (cmd + handle.write_termination).encode(handle.encoding))
        self._wait_for_reply(wait)
        more = vi_const.StatusCode.success_max_count_read
        data, status = lib.read(session, _CHUNK)
        if status == more:  # a reply of more than _CHUNK bytes
            chunks = [data]
            with lib.ignore_warning(session, more):
                while status == more:
                    data, status = lib.read(session, _CHUNK)
                    chunks.append(data)
            data = b"".join(chunks)
        self._in_flight = False
        reply = data.decode(handle.encoding)
        term = handle.read_termination
        return reply[: -len(term)] if term and reply.endswith(term) else reply

    def connect_message(self, idn_param: str = "IDN", begin_time: float | None = None) -> None:
        """Log (instead of qcodes' print) which instrument answered and how long the
        connection took: below the command line nothing prints."""
        self._andreev_connected = True  # from now on, requests are the user's
        idn = {"vendor": None, "model": None, "serial": None, "firmware": None}
        idn.update(self.parameters[idn_param].get())
        started = float(begin_time or getattr(self, "_t0", None) or time.time())  # qcodes' t0
        log.info(
            "%s: connected to %s %s (serial %s, firmware %s) in %.2f s",
            self.name,
            idn["vendor"],
            idn["model"],
            idn["serial"],
            idn["firmware"],
            time.time() - started,
        )

    def event_status(self) -> int:
        """Read and clear the standard event status register (``*ESR?``), as an int.

        Bit 4 (16): execution error / bad parameter; bit 5 (32): illegal command.
        """
        return int(self.ask("*ESR?"))  # type: ignore[attr-defined]
