"""A Prologix GPIB-Ethernet adapter in front of a simulated GPIB instrument (raw TCP).

What arrives from the network is split into lines at every unescaped CR or LF. A line
starting ``++`` is a command to the adapter; any other line is data for the instrument
at the adapter's GPIB address. In data, ESC (27) makes the next byte literal (the way to
send CR, LF, ESC or ``+``: ``FREQ1.5e+02`` travels as ``FREQ1.5e`` ESC ``+02``); an
unescaped ``+`` is dropped and unescaped CR/LF end the data. The instrument receives
the data with the ``++eos`` terminator and splits it into messages at LF, as a GPIB
instrument does. Its answers are read back by the adapter at once when ``++auto 1``
(read-after-write), else on ``++read``; with ``++eot_enable 1`` the ``++eot_char`` is
appended where the instrument asserted EOI (after each answer).

Adapter commands (answers end CR LF): ``++ver``; ``++addr [pad [sad]]``; ``++auto
[0|1]``; ``++eoi [0|1]``; ``++eos [0-3]``; ``++eot_enable [0|1]``; ``++eot_char [0-255]``;
``++mode [0|1]``; ``++read_tmo_ms [1-3000]``; ``++savecfg [0|1]``; ``++read [eoi|char]``;
``++clr`` (device clear: unread answers are dropped); ``++trg`` (``*TRG`` to the
instrument); ``++spoll`` (the status byte, ``*STB?``); ``++srq`` (0); ``++loc``,
``++llo``, ``++ifc``, ``++rst`` (accepted, no effect). A setting command with a bad
value, or an unknown command, is ignored. Adapter settings live per connection; the
defaults are those of an adapter configured for this instrument (address 8, ``++auto 1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from andreev.sim.tcp import Connection

__all__ = ["ESC", "VERSION", "PrologixMixin"]

ESC = 0x1B
VERSION = "Prologix GPIB-ETHERNET Controller version 01.06.06.00"
_EOS = {0: "\r\n", 1: "\r", 2: "\n", 3: ""}
#: settings with their ranges: name -> (attribute, low, high)
_SETTINGS: dict[str, tuple[str, int, int]] = {
    "auto": ("auto", 0, 1),
    "eoi": ("eoi", 0, 1),
    "eos": ("eos", 0, 3),
    "eot_enable": ("eot_enable", 0, 1),
    "eot_char": ("eot_char", 0, 255),
    "mode": ("mode", 0, 1),
    "read_tmo_ms": ("read_tmo_ms", 1, 3000),
    "savecfg": ("savecfg", 0, 1),
}


@dataclass
class _Adapter:
    """Per-connection adapter state."""

    addr: int = 8
    secondary: int | None = None
    auto: int = 1
    eoi: int = 1
    eos: int = 0
    eot_enable: int = 0
    eot_char: int = 0
    mode: int = 1
    read_tmo_ms: int = 500
    savecfg: int = 1
    pending: list[bytes] = field(default_factory=list)


def _split_lines(buffer: bytearray) -> tuple[list[tuple[bytes, bytes]], bytearray]:
    """Complete lines of ``buffer`` as (raw, unescaped data) pairs, and the rest.

    A line ends at an unescaped CR or LF; ESC makes the next byte literal; an unescaped
    ``+`` is kept in ``raw`` (for ``++`` commands) and dropped from the data."""
    lines: list[tuple[bytes, bytes]] = []
    raw, data = bytearray(), bytearray()
    i, start = 0, 0
    while i < len(buffer):
        b = buffer[i]
        if b == ESC:
            if i + 1 >= len(buffer):
                break  # the escaped byte has not arrived yet
            raw += buffer[i : i + 2]
            data.append(buffer[i + 1])
            i += 2
            continue
        if b in (0x0A, 0x0D):
            lines.append((bytes(raw), bytes(data)))
            raw, data = bytearray(), bytearray()
            start = i + 1
        else:
            raw.append(b)
            if b != ord("+"):
                data.append(b)
        i += 1
    return lines, bytearray(buffer[start:])


class PrologixMixin:
    """Give a :class:`~andreev.sim.tcp.LineServer` the adapter's connection handling.

    The server provides ``handle_message(line) -> list[str]``, ``encode_reply(reply) ->
    bytes``, ``encoding``; ``gpib_address`` is the instrument's address (default 8)."""

    gpib_address: int = 8

    def handle_connection(self, conn: Connection) -> None:
        adapter = _Adapter(addr=self.gpib_address)
        buffer = bytearray()
        while not conn.closed:
            chunk = conn.read_some()
            if chunk is None:
                return  # a line cut by the disconnect is dropped, never executed
            buffer += chunk
            lines, buffer = _split_lines(buffer)
            for raw, data in lines:
                if raw.startswith(b"++"):
                    self._adapter_command(conn, adapter, raw[2:].decode("latin-1").strip())
                elif data.strip() and not self._to_instrument(conn, adapter, data):
                    return

    # ---- data to the instrument ----------------------------------------------------------
    def _to_instrument(self, conn: Connection, adapter: _Adapter, data: bytes) -> bool:
        """Deliver one data line; False if the connection was dropped (fault)."""
        if adapter.addr != self.gpib_address or adapter.mode != 1:
            return True  # no listener at that address: the bytes go nowhere
        text = data.decode(self.encoding, errors="replace") + _EOS[adapter.eos]  # type: ignore[attr-defined]
        for message in text.split("\n"):
            line = message.strip()
            if not line:
                continue
            if not conn.begin_request():
                return False
            for reply in self.handle_message(line):  # type: ignore[attr-defined]
                chunk = self.encode_reply(reply)  # type: ignore[attr-defined]
                if adapter.eot_enable:
                    chunk += bytes([adapter.eot_char])
                adapter.pending.append(chunk)
        if adapter.auto:
            self._flush(conn, adapter)
        return True

    @staticmethod
    def _flush(conn: Connection, adapter: _Adapter) -> None:
        pending, adapter.pending = adapter.pending, []
        for chunk in pending:
            conn.reply(chunk)

    # ---- ++ commands ---------------------------------------------------------------------
    def _adapter_command(self, conn: Connection, adapter: _Adapter, text: str) -> None:
        name, _, rest = text.partition(" ")
        name = name.lower()
        args = rest.split()
        if name == "ver":
            self._answer(conn, VERSION)
        elif name == "addr":
            self._addr(conn, adapter, args)
        elif name in _SETTINGS:
            attr, low, high = _SETTINGS[name]
            if not args:
                self._answer(conn, str(getattr(adapter, attr)))
            elif len(args) == 1 and args[0].isdigit() and low <= int(args[0]) <= high:
                setattr(adapter, attr, int(args[0]))
        elif name == "read":
            self._flush(conn, adapter)
        elif name == "clr":
            adapter.pending.clear()
        elif name == "trg":
            self._to_instrument(conn, adapter, b"*TRG")
        elif name == "spoll":
            self._spoll(conn, adapter)
        elif name == "srq":
            self._answer(conn, "0")
        # ++loc, ++llo, ++ifc, ++rst and unknown commands: nothing to do

    def _addr(self, conn: Connection, adapter: _Adapter, args: list[str]) -> None:
        if not args:
            extra = f" {adapter.secondary}" if adapter.secondary is not None else ""
            self._answer(conn, f"{adapter.addr}{extra}")
            return
        if not all(a.isdigit() for a in args) or len(args) > 2 or not 0 <= int(args[0]) <= 30:
            return
        if len(args) == 2 and not 96 <= int(args[1]) <= 126:
            return
        adapter.addr = int(args[0])
        adapter.secondary = int(args[1]) if len(args) == 2 else None

    def _spoll(self, conn: Connection, adapter: _Adapter) -> None:
        if adapter.addr != self.gpib_address:
            return
        replies = self.handle_message("*STB?")  # type: ignore[attr-defined]
        if replies:
            self._answer(conn, replies[0])

    @staticmethod
    def _answer(conn: Connection, text: str) -> None:
        conn.reply((text + "\r\n").encode("latin-1"))
