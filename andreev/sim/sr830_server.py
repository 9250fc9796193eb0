"""Simulated SR830 lock-in behind a Prologix-style raw TCP socket (PROTOCOLS.md).

Text lines ending ``\\n`` (a ``\\r`` is tolerated); lines starting ``++`` (Prologix
commands) are ignored; several commands per line separated by ``;``; a command is a
mnemonic, optional ``?`` (query; spaces around it allowed, e.g. ``DDEF ? 1``) and
comma-separated arguments. Replies end ``\\n``. Errors carry no text: an unknown command
or a wrong form sets ``*ESR`` bit 5 (command error), a bad or missing argument sets bit 4
(execution error), and a failing query gets no reply.

Numbers: measured values (OUTP?, SNAP?, OUTR?, OAUX?) and floating settings as ``%.6g``
(e.g. ``1.23456e-05``), SLVL? with 3 decimals, PHAS? and offsets with 2, integers plainly.
The instrument state is ``world.lockin`` (:class:`andreev.sim.lockin.LockinState`); the
input follows the junction through ``world.advance()`` (see :mod:`andreev.sim.world`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from andreev.sim.lockin import SENSITIVITIES, LockinState
from andreev.sim.mnemonic import BadCommand as _BadCommand
from andreev.sim.mnemonic import BadParameter as _BadParameter
from andreev.sim.mnemonic import MnemonicServer
from andreev.sim.mnemonic import float_arg as _float
from andreev.sim.mnemonic import int_arg as _int

__all__ = ["IDN", "SR830Server"]

IDN = "Stanford_Research_Systems,SR830,s/n00000,ver1.07"


#: integer settings of LockinState: mnemonic -> (attribute, min, max)
_LOCKIN_INTS: dict[str, tuple[str, int, int]] = {
    "FMOD": ("reference_source", 0, 1),
    "RSLP": ("reference_trigger", 0, 2),
    "ISRC": ("input_source", 0, 3),
    "IGND": ("ground", 0, 1),
    "ICPL": ("coupling", 0, 1),
    "ILIN": ("line_filter", 0, 3),
    "SENS": ("sens_index", 0, 26),
    "RMOD": ("reserve", 0, 2),
    "OFLT": ("tc_index", 0, 19),
    "OFSL": ("slope_index", 0, 3),
    "SYNC": ("sync", 0, 1),
}
#: integer settings kept by the server (interface, buffer, …): mnemonic -> (min, max, default)
_SERVER_INTS: dict[str, tuple[int, int, int]] = {
    "OUTX": (0, 1, 1),
    "OVRM": (0, 1, 1),
    "LOCL": (0, 2, 0),
    "ALRM": (0, 1, 1),
    "KCLK": (0, 1, 1),
    "SRAT": (0, 14, 4),
    "SEND": (0, 1, 1),
    "TSTR": (0, 1, 0),
    "*ESE": (0, 255, 0),
    "*SRE": (0, 255, 0),
    "*PSC": (0, 1, 1),
    "ERRE": (0, 255, 0),
    "LIAE": (0, 255, 0),
}
_ACTIONS = ("STRT", "PAUS", "REST", "TRIG", "*TRG", "SSET", "RSET")


def _g(value: float) -> str:
    return f"{value:.6g}"


class SR830Server(MnemonicServer):
    """SR830 protocol server on top of a :class:`~andreev.sim.world.World`.

    Besides :class:`~andreev.sim.tcp.LineServer`'s attributes: ``world``, ``esr`` (the
    standard event status register, int), ``settings`` (server-side integer settings such
    as OUTX, OVRM, SRAT).
    """

    reply_terminator = "\n"
    ignore_prefixes = ("++",)

    def __init__(self, world: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, name="sr830")
        self.world = world
        self.esr = 0
        self.err_status = 0
        self.settings: dict[str, int] = {k: v[2] for k, v in _SERVER_INTS.items()}
        self.front_panel: dict[int, int] = {1: 0, 2: 0}
        self._handlers: dict[str, Callable[[bool, list[str]], str | None]] = {
            "*IDN": self._idn,
            "*RST": self._rst,
            "*CLS": self._cls,
            "*ESR": self._esr,
            "*STB": self._stb,
            "ERRS": self._errs,
            "LIAS": self._lias,
            "FREQ": self._freq,
            "SLVL": self._slvl,
            "PHAS": self._phas,
            "HARM": self._harm,
            "OUTP": self._outp,
            "OUTR": self._outr,
            "SNAP": self._snap,
            "OAUX": self._oaux,
            "AUXV": self._auxv,
            "OEXP": self._oexp,
            "AOFF": self._aoff,
            "AGAN": self._agan,
            "ARSV": self._arsv,
            "APHS": self._aphs,
            "DDEF": self._ddef,
            "FPOP": self._fpop,
            "SPTS": self._spts,
            "TRCA": self._trace,
            "TRCB": self._trace,
            "TRCL": self._trace,
        }

    # ---- dispatch --------------------------------------------------------------------
    @property
    def lockin(self) -> LockinState:
        return self.world.lockin

    def execute(self, name: str, query: bool, args: list[str]) -> str | None:
        if name in _LOCKIN_INTS:
            attr, low, high = _LOCKIN_INTS[name]
            if query:
                if args:
                    raise _BadParameter
                return str(getattr(self.lockin, attr))
            if len(args) != 1:
                raise _BadParameter
            setattr(self.lockin, attr, _int(args, 0, low, high))
            return None
        if name in _SERVER_INTS:
            low, high, _default = _SERVER_INTS[name]
            if query:
                return str(self.settings[name])
            if len(args) != 1:
                raise _BadParameter
            self.settings[name] = _int(args, 0, low, high)
            return None
        if name in _ACTIONS:
            if query:
                raise _BadCommand
            if name in ("SSET", "RSET"):
                _int(args, 0, 1, 9)
            return None
        return super().execute(name, query, args)

    # ---- status ----------------------------------------------------------------------
    def _idn(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        return IDN

    def _rst(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        self.lockin.reset(self.world.time)
        self.settings.update({k: v[2] for k, v in _SERVER_INTS.items() if k != "OUTX"})
        self.front_panel = {1: 0, 2: 0}

    def _cls(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        self.esr = 0
        self.err_status = 0
        self.lockin.status = 0

    def _esr(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if args:
            bit = _int(args, 0, 0, 7)
            value = (self.esr >> bit) & 1
            self.esr &= ~(1 << bit)
            return str(value)
        value, self.esr = self.esr, 0
        return str(value)

    def _stb(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        stb = 1 << 1  # IFC: no command execution in progress
        if self.err_status & self.settings["ERRE"]:
            stb |= 1 << 2
        if self.lockin.status & self.settings["LIAE"]:
            stb |= 1 << 3
        if self.esr & self.settings["*ESE"]:
            stb |= 1 << 5
        if args:
            return str((stb >> _int(args, 0, 0, 7)) & 1)
        return str(stb)

    def _errs(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if args:
            bit = _int(args, 0, 0, 7)
            value = (self.err_status >> bit) & 1
            self.err_status &= ~(1 << bit)
            return str(value)
        value, self.err_status = self.err_status, 0
        return str(value)

    def _lias(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if args:
            return str(self.lockin.read_status(_int(args, 0, 0, 7)))
        return str(self.lockin.read_status())

    # ---- reference -------------------------------------------------------------------
    def _freq(self, query: bool, args: list[str]) -> str | None:
        lk = self.lockin
        if query:
            return _g(lk.frequency)
        value = _float(args, 0, 1e-3, 102e3)
        if value * lk.harmonic > 102e3:
            raise _BadParameter
        lk.set_frequency(round(value, 4 if value < 10 else 3 if value < 100 else 2))
        return None

    def _slvl(self, query: bool, args: list[str]) -> str | None:
        lk = self.lockin
        if query:
            return f"{lk.amplitude:.3f}"
        value = _float(args, 0, 0.004, 5.0)
        lk.amplitude = round(value / 0.002) * 0.002
        return None

    def _phas(self, query: bool, args: list[str]) -> str | None:
        lk = self.lockin
        if query:
            return f"{lk.phase:.2f}"
        value = _float(args, 0, -360.0, 729.99)
        wrapped = (value + 180.0) % 360.0 - 180.0
        lk.phase = round(wrapped, 2)
        return None

    def _harm(self, query: bool, args: list[str]) -> str | None:
        lk = self.lockin
        if query:
            return str(lk.harmonic)
        value = _int(args, 0, 1, 19999)
        if value * lk.frequency > 102e3:
            raise _BadParameter
        lk.harmonic = value
        return None

    # ---- outputs ---------------------------------------------------------------------
    def _values(self) -> dict[int, float]:
        """Every SNAP quantity at one instant (index -> value)."""
        lk = self.lockin
        x, y = lk.read_xy(self.world.time)
        r = math.hypot(x, y)
        theta = math.degrees(math.atan2(y, x))
        values = {1: x, 2: y, 3: r, 4: theta, 9: lk.frequency}
        for i in range(4):
            values[5 + i] = lk.aux_in[i]
        ch1 = {0: x, 1: r, 2: x / lk.sensitivity, 3: lk.aux_in[0], 4: lk.aux_in[1]}
        ch2 = {0: y, 1: theta, 2: y / lk.sensitivity, 3: lk.aux_in[2], 4: lk.aux_in[3]}
        values[10] = ch1[lk.display[1][0]]
        values[11] = ch2[lk.display[2][0]]
        return values

    def _outp(self, query: bool, args: list[str]) -> str:
        if not query or len(args) != 1:
            raise _BadCommand if not query else _BadParameter
        i = _int(args, 0, 1, 4)
        return _g(self._values()[i])

    def _outr(self, query: bool, args: list[str]) -> str:
        if not query or len(args) != 1:
            raise _BadCommand if not query else _BadParameter
        i = _int(args, 0, 1, 2)
        return _g(self._values()[9 + i])

    def _snap(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if not 2 <= len(args) <= 6:
            raise _BadParameter
        indices = [_int(args, k, 1, 11) for k in range(len(args))]
        values = self._values()
        return ",".join(_g(values[i]) for i in indices)

    def _oaux(self, query: bool, args: list[str]) -> str:
        if not query or len(args) != 1:
            raise _BadCommand if not query else _BadParameter
        return _g(self.lockin.aux_in[_int(args, 0, 1, 4) - 1])

    def _auxv(self, query: bool, args: list[str]) -> str | None:
        i = _int(args, 0, 1, 4)
        if query:
            if len(args) != 1:
                raise _BadParameter
            return f"{self.lockin.aux_out[i - 1]:.3f}"
        if len(args) != 2:
            raise _BadParameter
        self.lockin.aux_out[i - 1] = round(_float(args, 1, -10.5, 10.5), 3)
        return None

    def _oexp(self, query: bool, args: list[str]) -> str | None:
        i = _int(args, 0, 1, 3)
        if query:
            if len(args) != 1:
                raise _BadParameter
            offset, expand = self.lockin.offsets[i]
            return f"{offset:.2f},{expand}"
        if len(args) != 3:
            raise _BadParameter
        self.lockin.offsets[i] = (round(_float(args, 1, -105.0, 105.0), 2), _int(args, 2, 0, 2))
        return None

    def _aoff(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        i = _int(args, 0, 1, 3)
        values = self._values()
        offset = max(-105.0, min(105.0, 100.0 * values[i] / self.lockin.sensitivity))
        self.lockin.offsets[i] = (round(offset, 2), self.lockin.offsets[i][1])

    def _agan(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        lk = self.lockin
        r = max(abs(lk.output()), abs(lk.input))
        for index, sens in enumerate(SENSITIVITIES):
            if r < 0.8 * sens:
                lk.sens_index = index
                break
        else:
            lk.sens_index = len(SENSITIVITIES) - 1

    def _arsv(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        lk = self.lockin
        u = abs(lk.input)
        lk.reserve = 2 if u < 5 * lk.sensitivity else 1 if u < 50 * lk.sensitivity else 0

    def _aphs(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        lk = self.lockin
        out = lk.output()
        if abs(out) > 0:
            new = lk.phase + math.degrees(math.atan2(out.imag, out.real))
            lk.phase = round((new + 180.0) % 360.0 - 180.0, 2)

    def _ddef(self, query: bool, args: list[str]) -> str | None:
        ch = _int(args, 0, 1, 2)
        if query:
            if len(args) != 1:
                raise _BadParameter
            j, k = self.lockin.display[ch]
            return f"{j},{k}"
        if len(args) != 3:
            raise _BadParameter
        self.lockin.display[ch] = (_int(args, 1, 0, 4), _int(args, 2, 0, 2))
        return None

    def _fpop(self, query: bool, args: list[str]) -> str | None:
        ch = _int(args, 0, 1, 2)
        if query:
            if len(args) != 1:
                raise _BadParameter
            return str(self.front_panel[ch])
        if len(args) != 2:
            raise _BadParameter
        self.front_panel[ch] = _int(args, 1, 0, 1)
        return None

    def _spts(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        return "0"

    def _trace(self, query: bool, args: list[str]) -> None:
        # the data buffer is not simulated: it is always empty, so any read fails
        if not query:
            raise _BadCommand
        raise _BadParameter
