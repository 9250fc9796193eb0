"""Pure tests of the client-side Nanonis codec: golden bytes (written by hand here from
the protocol, docs/protocols.md) and round trips through replies built the same way."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from andreev.instruments.nanonis.codec import (
    COMMANDS,
    HEADER_SIZE,
    ErrorSection,
    NanonisProtocolError,
    command,
    decode_reply,
    decode_reply_header,
    encode_request,
    fields,
    pack_values,
)
from andreev.instruments.nanonis.gains import parse_gain


def _name(name: str) -> bytes:
    return name.encode() + b"\0" * (32 - len(name))


def _ok() -> bytes:
    return b"\0\0\0\0" + b"\0\0\0\0"  # u32 status 0, i32 length 0


def _s(text: str) -> bytes:
    return struct.pack(">i", len(text)) + text.encode()


def _reply(name: str, body: bytes) -> bytes:
    """A reply as the protocol lays it out: name, i32 body size, 4 zero bytes, body."""
    return _name(name) + struct.pack(">i", len(body)) + b"\0\0\0\0" + body


def _request_header(raw: bytes) -> tuple[str, int, int]:
    """(name, body size, send-response flag) of an encoded request, read by hand."""
    size, flag, pad = struct.unpack(">iHH", raw[32:HEADER_SIZE])
    assert pad == 0
    return raw[:32].rstrip(b"\0").decode("ascii"), size, flag


# ---- golden requests -------------------------------------------------------------------
def test_bias_set_golden_bytes() -> None:
    raw = encode_request(COMMANDS["Bias.Set"], 0.25)
    expected = (
        b"Bias.Set" + b"\x00" * 24 + b"\x00\x00\x00\x04" + b"\x00\x01" + b"\x00\x00"
    ) + b"\x3e\x80\x00\x00"  # 0.25 as big-endian f32
    assert raw == expected
    assert len(raw) == HEADER_SIZE + 4


def test_get_request_has_empty_body() -> None:
    raw = encode_request(COMMANDS["ZCtrl.SetpntGet"])
    assert raw == _name("ZCtrl.SetpntGet") + b"\0\0\0\0\0\x01\0\0"


def test_withdraw_golden_bytes() -> None:
    raw = encode_request(COMMANDS["ZCtrl.Withdraw"], 1, 5000)
    assert raw[HEADER_SIZE:] == b"\x00\x00\x00\x01" + b"\x00\x00\x13\x88"
    assert raw[32:36] == b"\x00\x00\x00\x08"


def test_chs_set_length_is_derived() -> None:
    raw = encode_request(COMMANDS["BiasSpectr.ChsSet"], [0, 3, 4])
    assert raw[HEADER_SIZE:] == struct.pack(">iiii", 3, 0, 3, 4)


def test_chs_set_explicit_length_is_checked() -> None:
    with pytest.raises(ValueError, match="n=2"):
        encode_request(COMMANDS["BiasSpectr.ChsSet"], n=2, indices=[1, 2, 3])


def test_spectr_start_request_string() -> None:
    raw = encode_request(COMMANDS["BiasSpectr.Start"], 1, "run")
    assert raw[HEADER_SIZE:] == b"\0\0\0\x01" + b"\0\0\0\x03run"


def test_props_set_layout() -> None:
    raw = encode_request(COMMANDS["BiasSpectr.PropsSet"], 2, 1, 1, 101, 0.0, 2, 2)
    assert raw[HEADER_SIZE:] == struct.pack(">HiHifHH", 2, 1, 1, 101, 0.0, 2, 2)
    assert struct.unpack(">i", raw[32:36])[0] == 2 + 4 + 2 + 4 + 4 + 2 + 2


def test_folme_uses_f64() -> None:
    raw = encode_request(COMMANDS["FolMe.XYPosSet"], 1e-9, -2e-9, 1)
    assert raw[HEADER_SIZE:] == struct.pack(">ddI", 1e-9, -2e-9, 1)


def test_request_header_round_trip() -> None:
    raw = encode_request(COMMANDS["ZCtrl.LimitsSet"], 1e-9, -1e-9)
    assert _request_header(raw) == ("ZCtrl.LimitsSet", 8, 1)


def test_too_many_arguments() -> None:
    with pytest.raises(TypeError):
        encode_request(COMMANDS["Bias.Set"], 1.0, 2.0)


def test_missing_argument() -> None:
    with pytest.raises(ValueError, match="missing"):
        encode_request(COMMANDS["ZCtrl.LimitsSet"], 1e-9)


def test_out_of_range_integer() -> None:
    with pytest.raises(ValueError, match="u16"):
        encode_request(COMMANDS["SafeTip.OnOffSet"], 70000)


# ---- golden replies --------------------------------------------------------------------
def test_decode_bias_get_reply() -> None:
    body = struct.pack(">f", -0.002) + _ok()
    header = _name("Bias.Get") + struct.pack(">i", len(body)) + b"\0\0\0\0"
    assert decode_reply_header(header) == ("Bias.Get", 12)
    values, err = decode_reply(COMMANDS["Bias.Get"], body)
    assert values["bias"] == pytest.approx(-0.002)
    assert err == ErrorSection(0, "")
    assert not err.is_error


def test_decode_error_reply_without_values() -> None:
    msg = "Z-Controller is on"
    body = struct.pack(">Ii", 1, len(msg)) + msg.encode()
    values, err = decode_reply(COMMANDS["ZCtrl.ZPosGet"], body)
    assert values == {}
    assert err.is_error and err.message == msg


def test_decode_error_reply_with_values() -> None:
    msg = "busy"
    body = struct.pack(">f", 1.5) + struct.pack(">Ii", 1, len(msg)) + msg.encode()
    values, err = decode_reply(COMMANDS["Bias.Get"], body)
    assert values["bias"] == 1.5
    assert err == ErrorSection(1, "busy")


def test_decode_gains_old_and_new_versions() -> None:
    names = ["10^5", "10^6", "LN 10^9"]
    items = b"".join(_s(n) for n in names)
    old = struct.pack(">ii", len(items), 3) + items + struct.pack(">i", 2)
    values, _ = decode_reply(COMMANDS["Current.GainsGet"], old + _ok())
    assert values == {"gains": names, "gain_index": 2}
    filt = b"".join(_s(n) for n in ["10 Hz", "1 kHz"])
    new = old + struct.pack(">ii", len(filt), 2) + filt + struct.pack(">i", 1)
    values, err = decode_reply(COMMANDS["Current.GainsGet"], new + _ok())
    assert values["filters"] == ["10 Hz", "1 kHz"] and values["filter_index"] == 1
    assert not err.is_error


def test_decode_spectr_start_reply() -> None:
    names = ["Bias calc (V)", "Current (A)"]
    items = b"".join(_s(n) for n in names)
    data = np.array([[-1.0, 0.0, 1.0], [-2e-9, 0.0, 2e-9]], dtype=">f4")
    body = (
        struct.pack(">ii", len(items), 2)
        + items
        + struct.pack(">ii", 2, 3)
        + data.tobytes()
        + struct.pack(">i", 2)
        + struct.pack(">ff", 0.5, 7.0)
        + _ok()
    )
    values, _ = decode_reply(COMMANDS["BiasSpectr.Start"], body)
    assert values["channels"] == names
    np.testing.assert_array_equal(values["data"], data.astype(np.float32))
    np.testing.assert_array_equal(values["params"], [0.5, 7.0])
    assert values["data"].dtype == np.float32 and values["data"].dtype.isnative


def test_truncated_body_is_a_protocol_error() -> None:
    with pytest.raises(NanonisProtocolError):
        decode_reply(COMMANDS["ZCtrl.LimitsGet"], struct.pack(">f", 1.0) + b"\0\0")


def test_trailing_bytes_are_a_protocol_error() -> None:
    body = struct.pack(">f", 1.0) + b"\x00" * 3 + _ok()
    with pytest.raises(NanonisProtocolError):
        decode_reply(COMMANDS["Bias.Get"], body)


def test_bad_string_array_size() -> None:
    items = _s("10^9")
    body = struct.pack(">ii", len(items) + 1, 1) + items + struct.pack(">i", 0) + _ok()
    with pytest.raises(NanonisProtocolError):
        decode_reply(COMMANDS["Signals.NamesGet"], body)


@pytest.mark.parametrize(
    "header",
    [
        b"\xff" * 40,  # not ASCII
        _name("Bias.Get") + struct.pack(">i", -5) + b"\0" * 4,  # negative size
        _name("Bias.Get") + struct.pack(">i", 2**30) + b"\0" * 4,  # absurd size
        b"Bias\0Get" + b"\0" * 24 + struct.pack(">i", 12) + b"\0" * 4,  # NUL inside
        b"\0" * 39,  # short
    ],
)
def test_bad_reply_headers(header: bytes) -> None:
    with pytest.raises(NanonisProtocolError):
        decode_reply_header(header)


# ---- field language and round trips ----------------------------------------------------
def test_field_language_errors() -> None:
    with pytest.raises(ValueError):
        fields("f32[m] values")  # length field not declared before
    with pytest.raises(ValueError):
        fields("i32[] values")
    with pytest.raises(ValueError):
        fields("?i32 a; i32 b")
    with pytest.raises(ValueError):
        fields("i32 a; f32 a")
    with pytest.raises(ValueError):
        fields("int a")


def test_idempotent_defaults() -> None:
    assert COMMANDS["Bias.Get"].idempotent and COMMANDS["ZCtrl.StatusGet"].idempotent
    # setters of an absolute value may be resent; actions may not
    assert COMMANDS["Bias.Set"].idempotent and COMMANDS["ZCtrl.SetpntSet"].idempotent
    assert not COMMANDS["BiasSpectr.Start"].idempotent
    assert not COMMANDS["ZCtrl.Withdraw"].idempotent


def test_every_command_name_fits() -> None:
    for name, cmd in COMMANDS.items():
        assert cmd.name == name and len(name) <= 32


_ALL = command(
    "Test.All",
    "i32 a; u16 b; u32 c; f32 d; f64 e; str f; i32 n; f64[n] g; str[] h; f32[,] m",
    "i32 a; u16 b; u32 c; f32 d; f64 e; str f; i32 n; f64[n] g; str[] h; f32[,] m",
)

_texts = st.text(max_size=12)
_f32 = st.floats(width=32, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    a=st.integers(-(2**31), 2**31 - 1),
    b=st.integers(0, 2**16 - 1),
    c=st.integers(0, 2**32 - 1),
    d=_f32,
    e=st.floats(allow_nan=False),
    f=_texts,
    g=st.lists(st.floats(allow_nan=False), max_size=5),
    h=st.lists(_texts, max_size=4),
    rows=st.integers(0, 3),
    cols=st.integers(0, 3),
)
def test_round_trip_all_types(a, b, c, d, e, f, g, h, rows, cols) -> None:
    m = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols) / 7
    values = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "h": h, "m": m}
    raw = encode_request(_ALL, **values)
    name, size, _ = _request_header(raw)
    assert name == "Test.All" and size == len(raw) - HEADER_SIZE
    # _ALL returns the fields it takes: the request body, then an empty error section,
    # is the reply body
    reply = _reply("Test.All", raw[HEADER_SIZE:] + _ok())
    rname, rsize = decode_reply_header(reply[:HEADER_SIZE])
    assert rname == "Test.All" and rsize == len(reply) - HEADER_SIZE
    out, err = decode_reply(_ALL, reply[HEADER_SIZE:])
    assert not err.is_error
    for key in ("a", "b", "c", "d", "e", "f", "h"):
        assert out[key] == values[key], key
    assert out["n"] == len(g)
    np.testing.assert_array_equal(out["g"], np.asarray(g, dtype=float))
    np.testing.assert_array_equal(out["m"], m)
    assert out["m"].shape == (rows, cols)


@settings(max_examples=30, deadline=None)
@given(message=st.text(max_size=40))
def test_error_reply_round_trip(message: str) -> None:
    text = message.encode("utf-8")
    reply = _reply("ZCtrl.ZPosSet", struct.pack(">Ii", 1, len(text)) + text)
    assert decode_reply_header(reply[:HEADER_SIZE]) == ("ZCtrl.ZPosSet", len(reply) - 40)
    values, err = decode_reply(COMMANDS["ZCtrl.ZPosSet"], reply[HEADER_SIZE:])
    assert values == {} and err.is_error and err.message == message


@pytest.mark.parametrize(
    ("name", "gain"),
    [("10^9", 1e9), ("LN 10^9", 1e9), ("HS 10^7", 1e7), ("3x10^8", 3e8), ("1e6", 1e6)],
)
def test_parse_gain(name: str, gain: float) -> None:
    assert parse_gain(name) == pytest.approx(gain)


def test_parse_gain_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        parse_gain("auto")


# ---- the one-struct fast paths agree with the general codec ----------------------------
_SCALAR_CMDS = [c for c in COMMANDS.values() if c.fixed_args is not None and c.args]


@pytest.mark.parametrize("cmd", _SCALAR_CMDS, ids=lambda c: c.name)
def test_fixed_args_encode_as_the_field_by_field_path(cmd) -> None:
    args = [1.5 if f.kind[0] == "f" else 3 for f in cmd.args]
    raw = encode_request(cmd, *args)
    body = pack_values(cmd.args, {f.name: v for f, v in zip(cmd.args, args, strict=True)})
    assert raw[HEADER_SIZE:] == body
    assert _request_header(raw) == (cmd.name, len(body), 1)


def test_fixed_args_refuse_what_the_general_path_refuses() -> None:
    with pytest.raises(ValueError, match="cannot encode on=-1"):
        encode_request(COMMANDS["SafeTip.OnOffSet"], -1)  # u16
    with pytest.raises(ValueError, match="cannot encode bias"):
        encode_request(COMMANDS["Bias.Set"], 1e300)  # beyond f32


def test_fixed_returns_decode_values_and_error_sections() -> None:
    cmd = COMMANDS["Current.Get"]
    assert cmd.fixed_returns is not None
    ok = struct.pack(">f", 2.5e-10) + _ok()
    values, err = decode_reply(cmd, ok)
    assert values == {"current": pytest.approx(2.5e-10)} and not err.is_error
    failed = struct.pack(">f", 0.0) + struct.pack(">Ii", 1, 4) + b"oops"
    values, err = decode_reply(cmd, failed)
    assert err == ErrorSection(1, "oops") and "current" in values
    alone = struct.pack(">Ii", 1, 3) + b"bad"  # an error reply without the value
    assert decode_reply(cmd, alone) == ({}, ErrorSection(1, "bad"))
    with pytest.raises(NanonisProtocolError):
        decode_reply(cmd, ok + b"\0")  # trailing byte
