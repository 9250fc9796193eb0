"""The simulator's own codec of the Nanonis TCP interface (server side): request
header, argument signatures checked against a body before anything runs, a reader of
request values and a writer of reply values with the error section.

Independent of the drivers' codec (``andreev.instruments``), so that a bug in one
side's encoding cannot hide in the other's decoding. Big-endian throughout.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

__all__ = [
    "ARGUMENTS",
    "HEADER",
    "ArgumentError",
    "CommandError",
    "Reader",
    "Writer",
    "check_body",
    "flag",
]

HEADER = struct.Struct(">32siH2x")


#: request arguments per command, checked against the body before anything runs:
#: i i32, I u32, H u16, f f32, d f64, s string (i32 length + bytes), A i32 count + that
#: many i32; alternatives separated by "|"
ARGUMENTS: dict[str, str] = {
    "Bias.Set": "f",
    "Current.GainSet": "i|ii",
    "ZCtrl.SetpntSet": "f",
    "ZCtrl.OnOffSet": "I",
    "ZCtrl.ZPosSet": "f",
    "ZCtrl.GainSet": "fff",
    "ZCtrl.Withdraw": "Ii",
    "ZCtrl.LimitsEnabledSet": "I",
    "ZCtrl.LimitsSet": "ff",
    "ZCtrl.TipLiftSet": "f",
    "ZCtrl.SwitchOffDelaySet": "f",
    "ZCtrl.WithdrawRateSet": "f",
    "SafeTip.OnOffSet": "H",
    "SafeTip.PropsSet": "HHf",
    "Signals.ValGet": "iI",
    "Signals.ValsGet": "AI",
    "BiasSpectr.PropsSet": "HiHifHH",
    "BiasSpectr.AdvPropsSet": "HHHH",
    "BiasSpectr.LimitsSet": "ff",
    "BiasSpectr.TimingSet": "ffffffff",
    "BiasSpectr.ChsSet": "A",
    "BiasSpectr.Start": "Is",
    "FolMe.XYPosSet": "ddI",
    "FolMe.XYPosGet": "I",
    "LockIn.ModOnOffSet": "iI",
    "LockIn.ModOnOffGet": "i",
    "LockIn.ModAmpSet": "if",
    "LockIn.ModAmpGet": "i",
    "LockIn.ModPhasFreqSet": "id",
    "LockIn.ModPhasFreqGet": "i",
    "LockIn.ModFreqSet": "id",
    "LockIn.ModFreqGet": "i",
    "LockIn.DemodPhasSet": "if",
    "LockIn.DemodPhasGet": "i",
}
"""Commands not listed take no arguments."""

_SIZES = {"i": 4, "I": 4, "H": 2, "f": 4, "d": 8}


def _body_matches(signature: str, body: bytes) -> bool:
    """True if ``body`` is exactly the arguments ``signature`` describes."""
    pos = 0
    for code in signature:
        if code in _SIZES:
            pos += _SIZES[code]
            continue
        if pos + 4 > len(body):
            return False
        (n,) = struct.unpack_from(">i", body, pos)
        if n < 0:
            return False
        pos += 4 + (n if code == "s" else 4 * n)
    return pos == len(body)


def _fixed_sizes(signatures: str) -> frozenset[int] | None:
    """The body sizes (bytes) a command without strings or arrays accepts, else None."""
    if any(code not in _SIZES for code in signatures.replace("|", "")):
        return None
    return frozenset(sum(_SIZES[c] for c in sig) for sig in signatures.split("|"))


#: command -> accepted body sizes, for commands whose arguments have fixed sizes
_FIXED: dict[str, frozenset[int] | None] = {k: _fixed_sizes(v) for k, v in ARGUMENTS.items()}
_NO_ARGUMENTS = frozenset({0})


def check_body(name: str, body: bytes) -> str | None:
    """None if ``body`` fits the command's arguments, else the error text."""
    sizes = _FIXED.get(name, _NO_ARGUMENTS)
    if sizes is not None and len(body) in sizes:
        return None
    signatures = ARGUMENTS.get(name, "").split("|")
    if any(_body_matches(sig, body) for sig in signatures):
        return None
    forms = " or ".join(repr(sig) if sig else "none" for sig in signatures)
    return (
        f"{name}: the body ({len(body)} bytes) does not match the arguments "
        f"(expected {forms}; i i32, I u32, H u16, f f32, d f64, s string, A i32 array)"
    )


_I32, _U32, _U16, _F32, _F64 = (struct.Struct(f) for f in (">i", ">I", ">H", ">f", ">d"))
#: the error section of a reply without error (status 0, empty message)
NO_ERROR = struct.pack(">Ii", 0, 0)


class ArgumentError(Exception):
    """A request body that does not decode as the command's arguments."""


class CommandError(Exception):
    """A well-formed request the controller refuses (its message goes on the wire)."""


class Reader:
    """Big-endian reader over a request body."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, fmt: struct.Struct) -> Any:
        size = fmt.size
        if self.pos + size > len(self.data):
            raise ArgumentError(
                f"body too short: need {size} more bytes at offset {self.pos} of {len(self.data)}"
            )
        (value,) = fmt.unpack_from(self.data, self.pos)
        self.pos += size
        return value

    def i32(self) -> int:
        return int(self._take(_I32))

    def u32(self) -> int:
        return int(self._take(_U32))

    def u16(self) -> int:
        return int(self._take(_U16))

    def f32(self) -> float:
        return float(self._take(_F32))

    def f64(self) -> float:
        return float(self._take(_F64))

    def raw_string(self, n: int) -> str:
        if n < 0 or self.pos + n > len(self.data):
            raise ArgumentError(f"bad string length {n} at offset {self.pos}")
        text = self.data[self.pos : self.pos + n].decode("latin-1")
        self.pos += n
        return text

    def remaining(self) -> int:
        return len(self.data) - self.pos


class Writer:
    """Big-endian writer of reply values."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def i32(self, v: int) -> Writer:
        self.parts.append(struct.pack(">i", int(v)))
        return self

    def u32(self, v: int) -> Writer:
        self.parts.append(struct.pack(">I", int(v)))
        return self

    def u16(self, v: int) -> Writer:
        self.parts.append(struct.pack(">H", int(v)))
        return self

    def f32(self, v: float) -> Writer:
        self.parts.append(_F32.pack(float(v)))
        return self

    def f64(self, v: float) -> Writer:
        self.parts.append(struct.pack(">d", float(v)))
        return self

    def string(self, s: str) -> Writer:
        raw = s.encode("latin-1")
        self.parts.append(struct.pack(">i", len(raw)) + raw)
        return self

    def string_array(self, items: list[str] | tuple[str, ...]) -> Writer:
        """i32 byte size (items with their 4-byte prefixes), i32 count, items."""
        encoded = [s.encode("latin-1") for s in items]
        size = sum(4 + len(e) for e in encoded)
        self.parts.append(struct.pack(">ii", size, len(encoded)))
        for e in encoded:
            self.parts.append(struct.pack(">i", len(e)) + e)
        return self

    def f32_2d(self, array: np.ndarray) -> Writer:
        """i32 rows, i32 cols, row-major big-endian f32 data."""
        a = np.asarray(array, dtype=">f4")
        if a.ndim != 2:
            raise ValueError("2-D array expected")
        self.parts.append(struct.pack(">ii", a.shape[0], a.shape[1]) + a.tobytes(order="C"))
        return self

    def f32_1d(self, values: np.ndarray | list[float]) -> Writer:
        self.parts.append(np.asarray(values, dtype=">f4").tobytes())
        return self

    def body(self, error: str | None = None) -> bytes:
        """The values followed by the error section (status 1 with a message on error)."""
        if not error:
            return b"".join(self.parts) + NO_ERROR if self.parts else NO_ERROR
        msg = error.encode("utf-8")
        section = struct.pack(">Ii", 1 if error else 0, len(msg)) + msg
        return b"".join(self.parts) + section


def flag(value: int, current: bool) -> bool:
    """Nanonis Set flag: 0 no change, 1 on, 2 off."""
    if value == 0:
        return current
    if value == 1:
        return True
    if value == 2:
        return False
    raise CommandError(f"flag {value} not in 0 (no change), 1 (on), 2 (off)")
