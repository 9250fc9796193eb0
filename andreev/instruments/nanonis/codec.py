"""Client-side codec of the Nanonis TCP programming interface (no sockets, no state):
requests are encoded, replies decoded. The simulator has its own, independent codec
(the server side); nothing here encodes replies or decodes requests.

Wire format (big-endian throughout, see ``docs/protocols.md``):

* request: 40-byte header = command name (ASCII, NUL-padded to 32 bytes), i32 body size,
  u16 send-response flag (1), 2 zero bytes; then the body (the arguments);
* reply: 40-byte header = echoed name (32 bytes), i32 body size, 4 zero bytes; then the
  body = the return values followed by the error section (u32 status, 1 = error; i32
  message length; message bytes), present in every reply.

Each command is described declaratively by a :class:`Command`: its name, argument fields
and return fields, written in a small field language (:func:`fields`)::

    "i32 n; i32[n] indices"          # a 1-D array whose length is the earlier field n
    "str[] names"                    # i32 byte size, i32 count, (i32 len + bytes) each
    "f32[,] data"                    # i32 rows, i32 cols, row-major f32 data
    "?str[] filters; ?i32 filter"    # optional trailing fields (newer software versions)

Scalar types: ``i32 u16 u32 f32 f64``; ``str`` is an i32 length plus the bytes (UTF-8 on
encode, Latin-1 fallback on decode). On encode, a length field that sizes a later array
may be omitted: it is filled in from the array. Decoded values come back as a dict in
field order (arrays as numpy arrays, string arrays as lists of str).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from andreev.errors import InstrumentError

__all__ = [
    "COMMANDS",
    "GAINSET_SHORT",
    "HEADER_SIZE",
    "MAX_BODY_SIZE",
    "NAME_SIZE",
    "Command",
    "ErrorSection",
    "Field",
    "NanonisError",
    "NanonisProtocolError",
    "command",
    "decode_reply",
    "decode_reply_header",
    "encode_request",
    "fields",
    "pack_values",
    "unpack_values",
]

NAME_SIZE = 32
HEADER_SIZE = 40
MAX_BODY_SIZE = 256 * 1024 * 1024
"""Largest reply body (bytes) a client accepts; anything bigger is a corrupt header."""

_SCALARS: dict[str, tuple[str, int]] = {
    "i32": (">i", 4),
    "u16": (">H", 2),
    "u32": (">I", 4),
    "f32": (">f", 4),
    "f64": (">d", 8),
}
_NUMPY: dict[str, str] = {"i32": ">i4", "u16": ">u2", "u32": ">u4", "f32": ">f4", "f64": ">f8"}


class NanonisError(InstrumentError):
    """The controller answered ``command`` with an error section (status 1).

    Attributes:
        command: the command name, e.g. ``"ZCtrl.ZPosSet"``.
        message: the controller's error text.
    """

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"Nanonis {command}: {message}")
        self.command = command
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.command, self.message))


class NanonisProtocolError(InstrumentError):
    """The controller answered bytes that do not follow the protocol (bad header,
    truncated or overlong body)."""


@dataclass(frozen=True)
class Field:
    """One argument or return value.

    Attributes:
        name: key in the value dict.
        kind: ``i32 u16 u32 f32 f64 str`` (scalars), ``array`` (1-D numeric, length in
            the earlier field ``length``), ``strings`` (1-D string array with its own
            byte size and count) or ``matrix`` (2-D f32 with rows and cols).
        dtype: element type of an ``array`` (``i32 u16 u32 f32 f64``).
        length: name of the earlier field that holds an ``array``'s length.
        optional: may be absent at the end of a reply (newer/older software versions).
    """

    name: str
    kind: str
    dtype: str | None = None
    length: str | None = None
    optional: bool = False


_FIELD_RE = re.compile(
    r"^(?P<opt>\?)?(?P<type>i32|u16|u32|f32|f64|str)"
    r"(?:\[(?P<len>[A-Za-z_]\w*)?(?P<comma>,)?\])?\s+(?P<name>[A-Za-z_]\w*)$"
)


def fields(spec: str) -> tuple[Field, ...]:
    """Parse a field list such as ``"i32 n; f32[n] values; str[] names"`` (see module doc)."""
    out: list[Field] = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        m = _FIELD_RE.match(part)
        if m is None:
            raise ValueError(f"bad field spec {part!r}")
        typ, length, name = m["type"], m["len"], m["name"]
        bracket = "[" in part
        opt = m["opt"] is not None
        if not bracket:
            out.append(Field(name, typ, optional=opt))
        elif m["comma"]:
            if typ != "f32" or length:
                raise ValueError(f"only f32[,] 2-D arrays are supported: {part!r}")
            out.append(Field(name, "matrix", dtype="f32", optional=opt))
        elif typ == "str":
            if length:
                raise ValueError(f"string arrays carry their own count, write str[]: {part!r}")
            out.append(Field(name, "strings", optional=opt))
        else:
            if not length:
                raise ValueError(f"1-D array needs its length field, e.g. {typ}[n]: {part!r}")
            if length not in {f.name for f in out}:
                raise ValueError(f"length field {length!r} must come before {name!r}")
            out.append(Field(name, "array", dtype=typ, length=length, optional=opt))
    names = [f.name for f in out]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate field names in {spec!r}")
    seen_optional = False
    for f in out:
        if seen_optional and not f.optional:
            raise ValueError(f"optional fields must be trailing in {spec!r}")
        seen_optional |= f.optional
    return tuple(out)


def _fixed_struct(spec: tuple[Field, ...]) -> struct.Struct | None:
    """One big-endian ``struct`` for fields that are all required numeric scalars."""
    if any(f.kind not in _SCALARS or f.optional for f in spec):
        return None
    return struct.Struct(">" + "".join(_SCALARS[f.kind][0].lstrip(">") for f in spec))


@dataclass(frozen=True)
class Command:
    """Declarative description of one Nanonis command.

    Attributes:
        name: wire name, e.g. ``"Bias.Set"`` (at most 32 ASCII bytes).
        args: argument fields of the request body.
        returns: return fields of the reply body (before the error section).
        idempotent: re-sending it cannot change anything (Get commands, and setters of an
            absolute value: Bias.Set, ZCtrl.SetpntSet, ZCtrl.OnOffSet): the transport
            may retry it once on a fresh connection after a timeout or a drop.
    """

    name: str
    args: tuple[Field, ...] = ()
    returns: tuple[Field, ...] = ()
    idempotent: bool = False
    auto_lengths: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    fixed_args: struct.Struct | None = field(default=None, init=False, repr=False, compare=False)
    """The request body when every argument is a numeric scalar (one ``struct`` for the
    whole body: :func:`encode_request`'s fast path), else None."""
    fixed_returns: struct.Struct | None = field(default=None, init=False, repr=False, compare=False)
    """The return values when every one is a numeric scalar (:func:`decode_reply`'s fast
    path), else None."""

    def __post_init__(self) -> None:
        encoded = self.name.encode("ascii")
        if not encoded or len(encoded) > NAME_SIZE:
            raise ValueError(f"command name {self.name!r} must be 1–{NAME_SIZE} ASCII bytes")
        lengths = frozenset(f.length for f in self.args if f.length)
        object.__setattr__(self, "auto_lengths", lengths)
        object.__setattr__(self, "fixed_args", _fixed_struct(self.args))
        object.__setattr__(self, "fixed_returns", _fixed_struct(self.returns))

    @property
    def user_args(self) -> tuple[Field, ...]:
        """Argument fields a caller passes positionally (length fields are derived)."""
        return tuple(f for f in self.args if f.name not in self.auto_lengths)


def command(
    name: str, args: str = "", returns: str = "", *, idempotent: bool | None = None
) -> Command:
    """Make a :class:`Command`; ``idempotent`` defaults to True for names containing ``Get``."""
    if idempotent is None:
        idempotent = "Get" in name.rsplit(".", 1)[-1]
    return Command(name, fields(args), fields(returns), idempotent)


_TIMING = (
    "f32 z_averaging; f32 z_offset; f32 initial_settling; f32 max_slew_rate; "
    "f32 settling; f32 integration; f32 end_settling; f32 z_control_time"
)

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        command("Bias.Set", "f32 bias", idempotent=True),  # absolute: a resend is harmless
        command("Bias.Get", "", "f32 bias"),
        command("Current.Get", "", "f32 current"),
        command(
            "Current.GainsGet",
            "",
            "str[] gains; i32 gain_index; ?str[] filters; ?i32 filter_index",
        ),
        command("Current.GainSet", "i32 gain_index; i32 filter_index"),
        command("ZCtrl.SetpntSet", "f32 setpoint", idempotent=True),
        command("ZCtrl.SetpntGet", "", "f32 setpoint"),
        command("ZCtrl.OnOffSet", "u32 on", idempotent=True),
        command("ZCtrl.OnOffGet", "", "u32 on"),
        command("ZCtrl.ZPosSet", "f32 z"),
        command("ZCtrl.ZPosGet", "", "f32 z"),
        command("ZCtrl.GainSet", "f32 p; f32 t; f32 i"),
        command("ZCtrl.GainGet", "", "f32 p; f32 t; f32 i"),
        command("ZCtrl.Withdraw", "u32 wait; i32 timeout_ms"),
        command("ZCtrl.LimitsEnabledSet", "u32 enabled"),
        command("ZCtrl.LimitsEnabledGet", "", "u32 enabled"),
        command("ZCtrl.LimitsSet", "f32 high; f32 low"),
        command("ZCtrl.LimitsGet", "", "f32 high; f32 low"),
        command("ZCtrl.StatusGet", "", "u16 status"),
        command("SafeTip.OnOffSet", "u16 on"),
        command("SafeTip.PropsSet", "u16 auto_recover; u16 auto_pause; f32 threshold"),
        command("Signals.NamesGet", "", "str[] names"),
        command("Signals.ValGet", "i32 index; u32 wait", "f32 value"),
        command("FolMe.XYPosSet", "f64 x; f64 y; u32 wait"),
        command("FolMe.XYPosGet", "u32 wait", "f64 x; f64 y"),
        command("BiasSpectr.Open"),
        command(
            "BiasSpectr.PropsSet",
            "u16 save_all; i32 sweeps; u16 backward; i32 points; f32 z_offset; "
            "u16 autosave; u16 show_dialog",
        ),
        command("BiasSpectr.LimitsSet", "f32 start; f32 end"),
        command("BiasSpectr.TimingSet", _TIMING),
        command("BiasSpectr.ChsSet", "i32 n; i32[n] indices"),
        command(
            "BiasSpectr.Start",
            "u32 get_data; str base_name",
            "str[] channels; f32[,] data; i32 n_params; f32[n_params] params",
        ),
        command(
            "Util.VersionGet", "", "str product; str version; u32 host_release; u32 rt_release"
        ),
    )
}
GAINSET_SHORT = Command("Current.GainSet", fields("i32 gain_index"))
"""``Current.GainSet`` of software versions without preamp filters (gain index only)."""


# ---------------------------------------------------------------------------------------
# values <-> bytes
def _pack_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def _pack_field(f: Field, value: Any) -> bytes:
    if f.kind in _SCALARS:
        fmt = _SCALARS[f.kind][0]
        if f.kind in ("f32", "f64"):
            return struct.pack(fmt, float(value))
        return struct.pack(fmt, int(value))
    if f.kind == "str":
        return _pack_string(str(value))
    if f.kind == "array":
        return np.asarray(value, dtype=_NUMPY[str(f.dtype)]).ravel().tobytes()
    if f.kind == "strings":
        items = b"".join(_pack_string(str(s)) for s in value)
        return struct.pack(">ii", len(items), len(value)) + items
    if f.kind == "matrix":
        arr = np.asarray(value, dtype=">f4")
        if arr.ndim != 2:
            raise ValueError(f"{f.name}: a 2-D array is needed, got shape {arr.shape}")
        return struct.pack(">ii", *arr.shape) + np.ascontiguousarray(arr).tobytes()
    raise AssertionError(f.kind)


def pack_values(spec: Sequence[Field], values: Mapping[str, Any]) -> bytes:
    """Encode ``values`` (by field name) in field order; length fields that size a later
    array may be omitted (filled from the array) and are checked when given. Optional
    fields are written only if present in ``values``."""
    values = dict(values)
    for f in spec:
        if f.kind == "array" and f.length is not None and f.name in values:
            n = int(np.asarray(values[f.name]).size)
            given = values.get(f.length)
            if given is None:
                values[f.length] = n
            elif int(given) != n:
                raise ValueError(f"{f.length}={given} but {f.name} has {n} elements")
    out = []
    for f in spec:
        if f.name not in values:
            if f.optional:
                break
            raise ValueError(f"missing value for field {f.name!r}")
        try:
            out.append(_pack_field(f, values[f.name]))
        except (struct.error, OverflowError, TypeError) as exc:
            raise ValueError(
                f"cannot encode {f.name}={values[f.name]!r} as {f.kind}: {exc}"
            ) from exc
    return b"".join(out)


class _Reader:
    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.pos = offset

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise NanonisProtocolError(
                f"body truncated: need {n} bytes at offset {self.pos}, have "
                f"{len(self.data) - self.pos}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, kind: str) -> Any:
        fmt, size = _SCALARS[kind]
        return struct.unpack(fmt, self.take(size))[0]

    def string(self) -> str:
        n = self.scalar("i32")
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


def _unpack_field(f: Field, r: _Reader, values: dict[str, Any]) -> Any:
    if f.kind in _SCALARS:
        return r.scalar(f.kind)
    if f.kind == "str":
        return r.string()
    if f.kind == "array":
        n = int(values[str(f.length)])
        dtype = np.dtype(_NUMPY[str(f.dtype)])
        if n < 0:
            raise NanonisProtocolError(f"negative length {n} for {f.name}")
        raw = r.take(n * dtype.itemsize)
        return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
    if f.kind == "strings":
        size, count = r.scalar("i32"), r.scalar("i32")
        if size < 0 or count < 0 or count * 4 > size:
            raise NanonisProtocolError(f"bad string array header size={size} count={count}")
        start = r.pos
        items = [r.string() for _ in range(count)]
        if r.pos - start != size:
            raise NanonisProtocolError(
                f"string array {f.name}: byte size {size} but items took {r.pos - start}"
            )
        return items
    if f.kind == "matrix":
        rows, cols = r.scalar("i32"), r.scalar("i32")
        if rows < 0 or cols < 0:
            raise NanonisProtocolError(f"bad 2-D array shape {rows}×{cols}")
        raw = r.take(rows * cols * 4)
        return np.frombuffer(raw, dtype=">f4").astype(np.float32).reshape(rows, cols)
    raise AssertionError(f.kind)


def unpack_values(
    spec: Sequence[Field], data: bytes, offset: int = 0, *, stop_at_error_section: bool = False
) -> tuple[dict[str, Any], int]:
    """Decode ``spec`` from ``data`` starting at ``offset``; returns (values, new offset).

    With ``stop_at_error_section``, optional fields are skipped once the rest of ``data``
    is exactly one error section (how a reply without them ends)."""
    r = _Reader(data, offset)
    values: dict[str, Any] = {}
    for f in spec:
        if f.optional and (r.remaining == 0 or (stop_at_error_section and _is_error_tail(r))):
            break
        values[f.name] = _unpack_field(f, r, values)
    return values, r.pos


def _is_error_tail(r: _Reader) -> bool:
    if r.remaining < 8:
        return r.remaining == 0
    status, length = struct.unpack_from(">Ii", r.data, r.pos)
    return status in (0, 1) and length == r.remaining - 8


# ---------------------------------------------------------------------------------------
# headers and messages
def _name_bytes(name: str) -> bytes:
    raw = name.encode("ascii")
    if len(raw) > NAME_SIZE:
        raise ValueError(f"command name {name!r} longer than {NAME_SIZE} bytes")
    return raw.ljust(NAME_SIZE, b"\0")


def _parse_name(raw: bytes) -> str:
    name = raw.rstrip(b"\0")
    if b"\0" in name:
        raise NanonisProtocolError(f"command name field {raw!r} is not NUL-padded ASCII")
    try:
        return name.decode("ascii")
    except UnicodeDecodeError as exc:
        raise NanonisProtocolError(f"command name field {raw!r} is not ASCII") from exc


def _bind(cmd: Command, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    user = cmd.user_args
    if len(args) > len(user):
        raise TypeError(f"{cmd.name} takes {len(user)} argument(s), got {len(args)}")
    values = {f.name: v for f, v in zip(user, args, strict=False)}
    for key, v in kwargs.items():
        if key in values:
            raise TypeError(f"{cmd.name}: {key} given twice")
        if key not in {f.name for f in cmd.args}:
            raise TypeError(f"{cmd.name} has no argument {key!r}")
        values[key] = v
    return values


def encode_request(cmd: Command, *args: Any, **kwargs: Any) -> bytes:
    """Header + body of a request for ``cmd`` (arguments positional in field order, length
    fields omitted, or by name). The send-response flag is always 1."""
    fixed = cmd.fixed_args
    if fixed is not None and not kwargs and len(args) == len(cmd.args):
        try:  # every argument a numeric scalar, all given in order: one struct.pack
            pairs = zip(cmd.args, args, strict=True)
            body = fixed.pack(*(float(v) if f.kind[0] == "f" else int(v) for f, v in pairs))
        except (struct.error, OverflowError, TypeError, ValueError):
            pass  # the general path below says which value cannot be encoded
        else:
            return _name_bytes(cmd.name) + _REQUEST_SIZES.pack(fixed.size, 1, 0) + body
    body = pack_values(cmd.args, _bind(cmd, args, kwargs))
    return _name_bytes(cmd.name) + _REQUEST_SIZES.pack(len(body), 1, 0) + body


_REQUEST_SIZES = struct.Struct(">iHH")


@dataclass(frozen=True)
class ErrorSection:
    """The error section that ends every reply: ``status`` 1 = error, ``message``."""

    status: int
    message: str

    @property
    def is_error(self) -> bool:
        return self.status != 0


def decode_reply_header(header: bytes) -> tuple[str, int]:
    """(echoed name, body size) of a 40-byte reply header; raises
    :class:`NanonisProtocolError` on a malformed header."""
    if len(header) != HEADER_SIZE:
        raise NanonisProtocolError(f"header must be {HEADER_SIZE} bytes, got {len(header)}")
    name = _parse_name(header[:NAME_SIZE])
    (size,) = struct.unpack(">i", header[NAME_SIZE : NAME_SIZE + 4])
    if not 8 <= size <= MAX_BODY_SIZE:
        raise NanonisProtocolError(f"reply body size {size} outside 8 … {MAX_BODY_SIZE} bytes")
    return name, size


def _error_section(body: bytes, offset: int) -> ErrorSection:
    r = _Reader(body, offset)
    status, length = r.scalar("u32"), r.scalar("i32")
    raw = r.take(length)
    if r.remaining:
        raise NanonisProtocolError(f"{r.remaining} trailing bytes after the error section")
    return ErrorSection(int(status), raw.decode("utf-8", errors="replace"))


def decode_reply(cmd: Command, body: bytes) -> tuple[dict[str, Any], ErrorSection]:
    """Decode a reply body: (return values, error section).

    An error reply may carry no (or partial) return values: when the error section does
    not fit after the return values, the body is read as the error section alone (values
    ``{}``), so the controller's message always survives."""
    fixed = cmd.fixed_returns
    if fixed is not None and len(body) >= fixed.size + 8:
        status, length = _ERROR_HEAD.unpack_from(body, fixed.size)
        if length == len(body) - fixed.size - 8:  # the values, then exactly one section
            names = (f.name for f in cmd.returns)
            values = dict(zip(names, fixed.unpack_from(body), strict=True))
            if status == 0 and length == 0:
                return values, _NO_ERROR
            message = body[fixed.size + 8 :].decode("utf-8", errors="replace")
            return values, ErrorSection(int(status), message)
    try:
        values, end = unpack_values(cmd.returns, body, stop_at_error_section=True)
        err = _error_section(body, end)
    except NanonisProtocolError:
        tail = _tail_error_section(body)
        if tail is None or not tail.is_error:
            raise
        return {}, tail
    return values, err


_ERROR_HEAD = struct.Struct(">Ii")
_NO_ERROR = ErrorSection(0, "")


def _tail_error_section(body: bytes) -> ErrorSection | None:
    """Find an error section that ends the body exactly (scanning from the end)."""
    for start in range(len(body) - 8, -1, -1):
        status, length = struct.unpack_from(">Ii", body, start)
        if status in (0, 1) and length == len(body) - start - 8:
            return ErrorSection(status, body[start + 8 :].decode("utf-8", errors="replace"))
    return None
