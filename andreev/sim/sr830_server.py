"""Simulated SR830 lock-in behind a Prologix GPIB-Ethernet adapter (docs/protocols.md,
"SR830" and "Prologix").

The adapter layer (:mod:`andreev.sim.prologix`) un-escapes the data, answers the ``++``
commands and hands the instrument its messages. A message holds several commands
separated by ``;``; a command is a mnemonic, optional ``?`` (query; spaces around it
allowed, e.g. ``DDEF ? 1``) and comma-separated arguments. Each answer goes out as its own
line ending ``\n``. Errors carry no text: an unknown command or a wrong form sets
``*ESR`` bit 5 (command error), a bad or missing argument sets bit 4 (execution error),
and a failing query gets no reply.

Numbers: measured values (OUTP?, SNAP?, OUTR?, OAUX?, TRCA?) and floating settings as
``%.6g`` (e.g. ``1.23456e-05``), SLVL? with 3 decimals, PHAS? and offsets with 2,
integers plainly. The status enables ``*ESE``, ``*SRE``, ``ERRE``, ``LIAE`` take the value
form (``*ESE 36``) and the bit form (``*ESE 5,1`` sets bit 5; ``*ESE? 5`` reads it).
The data buffer (:mod:`andreev.sim.sr830_buffer`) stores CH1/CH2 at the sample rate in
world time; ``TRCB?`` and ``TRCL?`` answer binary without terminator.
The instrument state is ``world.lockin`` (:class:`andreev.sim.lockin.LockinState`); the
input follows the junction through ``world.advance()`` (see :mod:`andreev.sim.world`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from andreev.sim.lockin import SENSITIVITIES, LockinState
from andreev.sim.mnemonic import BadCommand as _BadCommand
from andreev.sim.mnemonic import BadParameter as _BadParameter
from andreev.sim.mnemonic import MnemonicServer
from andreev.sim.mnemonic import float_arg as _float
from andreev.sim.mnemonic import int_arg as _int
from andreev.sim.prologix import PrologixMixin
from andreev.sim.sr830_buffer import STRD_DELAY, DataBuffer, filter_outputs, trcl_bytes
from andreev.sim.tcp import RawReply

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
    "*ESE": (0, 255, 0),
    "*SRE": (0, 255, 0),
    "*PSC": (0, 1, 1),
    "ERRE": (0, 255, 0),
    "LIAE": (0, 255, 0),
}
#: status-enable registers that also take the bit forms ``NAME i,j`` and ``NAME? i``
_ENABLES = ("*ESE", "*SRE", "ERRE", "LIAE")
#: buffer settings: mnemonic -> (DataBuffer attribute, min, max)
_BUFFER_INTS: dict[str, tuple[str, int, int]] = {
    "SRAT": ("rate_index", 0, 14),
    "SEND": ("loop", 0, 1),
    "TSTR": ("trigger_starts", 0, 1),
    "FAST": ("fast", 0, 2),
}
_ACTIONS = ("SSET", "RSET")


def _g(value: float) -> str:
    return f"{value:.6g}"


#: the reply format of SNAP? with n values (2 to 6): n × "%.6g" joined by commas
_SNAP_FORMATS = {n: ",".join(["%.6g"] * n) for n in range(2, 7)}


class SR830Server(PrologixMixin, MnemonicServer):
    """SR830 protocol server on top of a :class:`~andreev.sim.world.World`.

    Besides :class:`~andreev.sim.tcp.LineServer`'s attributes: ``world``, ``esr`` (the
    standard event status register, int), ``settings`` (server-side integer settings such
    as OUTX, OVRM, SRAT).
    """

    reply_terminator = "\n"
    #: identity, status registers and interface settings: no world advance needed
    no_physics = frozenset(
        {"*IDN", "*ESR", "ERRS", "*CLS", "FPOP", *_ACTIONS, *_SERVER_INTS, *_ENABLES} - {"*STB"}
    )
    #: stored settings: their queries read no physics
    settings_queries = frozenset(
        {"FREQ", "SLVL", "PHAS", "HARM", "AUXV", "OEXP", "DDEF", *_LOCKIN_INTS, *_BUFFER_INTS}
    )

    def __init__(self, world: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, name="sr830")
        self.world = world
        self.esr = 0
        self.err_status = 0
        self.settings: dict[str, int] = {k: v[2] for k, v in _SERVER_INTS.items()}
        self.front_panel: dict[int, int] = {1: 0, 2: 0}
        self.buffer = DataBuffer()
        self._snap_indices: dict[str, list[int]] = {}  # SNAP? arguments -> indices
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
            "TRCA": self._trca,
            "TRCB": self._trcb,
            "TRCL": self._trcl,
            "STRT": self._strt,
            "STRD": self._strd,
            "PAUS": self._paus,
            "REST": self._rest,
            "TRIG": self._trig,
            "*TRG": self._trig,
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
        if name in _ENABLES:
            return self._enable(name, query, args)
        if name in _BUFFER_INTS:
            attr, low, high = _BUFFER_INTS[name]
            if query:
                if args:
                    raise _BadParameter
                return str(int(getattr(self.buffer, attr)))
            if len(args) != 1:
                raise _BadParameter
            value = _int(args, 0, low, high)
            setattr(self.buffer, attr, bool(value) if attr in ("loop", "trigger_starts") else value)
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
        self.buffer = DataBuffer()

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
        x, y = self.lockin.read_xy(self.world.time)
        return {i: self._value(i, x, y) for i in range(1, 12)}

    def _value(self, i: int, x: float, y: float) -> float:
        """SNAP quantity ``i`` (1 X … 11 CH2) for outputs X, Y (V rms), pure Python."""
        lk = self.lockin
        if i == 1:
            return x
        if i == 2:
            return y
        if i == 3:
            return math.hypot(x, y)
        if i == 4:
            return math.degrees(math.atan2(y, x))
        if i <= 8:
            return float(lk.aux_in[i - 5])
        if i == 9:
            return lk.frequency
        j = lk.display[i - 9][0]
        if j == 0:
            return x if i == 10 else y
        if j == 1:
            return math.hypot(x, y) if i == 10 else math.degrees(math.atan2(y, x))
        if j == 2:
            return (x if i == 10 else y) / lk.sensitivity
        return float(lk.aux_in[j - 3 if i == 10 else j - 1])

    def _displays(self, x: Any, y: Any) -> tuple[Any, Any]:
        """(CH1, CH2) display values for outputs X, Y (V rms; floats or arrays) under the
        DDEF settings."""
        lk = self.lockin
        r, theta = np.hypot(x, y), np.degrees(np.arctan2(y, x))
        ch1 = {0: x, 1: r, 2: x / lk.sensitivity, 3: lk.aux_in[0], 4: lk.aux_in[1]}
        ch2 = {0: y, 1: theta, 2: y / lk.sensitivity, 3: lk.aux_in[2], 4: lk.aux_in[3]}
        one = np.ones_like(np.asarray(x, dtype=float))
        return ch1[lk.display[1][0]] * one, ch2[lk.display[2][0]] * one

    def _outp(self, query: bool, args: list[str]) -> str:
        if not query or len(args) != 1:
            raise _BadCommand if not query else _BadParameter
        i = _int(args, 0, 1, 4)
        return _g(self._value(i, *self.lockin.read_xy(self.world.time)))

    def _outr(self, query: bool, args: list[str]) -> str:
        if not query or len(args) != 1:
            raise _BadCommand if not query else _BadParameter
        i = _int(args, 0, 1, 2)
        return _g(self._value(9 + i, *self.lockin.read_xy(self.world.time)))

    def _snap(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if not 2 <= len(args) <= 6:
            raise _BadParameter
        key = ",".join(args)
        indices = self._snap_indices.get(key)
        if indices is None:  # parsed once per distinct argument list
            indices = [_int(args, k, 1, 11) for k in range(len(args))]
            if len(self._snap_indices) >= 64:
                self._snap_indices.clear()
            self._snap_indices[key] = indices
        x, y = self.world.lockin.read_xy(self.world.time)
        # X and Y as they are (the usual SNAP? 1,2), the others through _value
        values = [x if i == 1 else y if i == 2 else self._value(i, x, y) for i in indices]
        return _SNAP_FORMATS[len(values)] % tuple(values)  # "%.6g" is f"{v:.6g}"

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

    # ---- status enables (value and bit forms) ------------------------------------------
    def _enable(self, name: str, query: bool, args: list[str]) -> str | None:
        """``NAME j`` / ``NAME i,j`` (bit i to j) / ``NAME?`` / ``NAME? i`` (bit i)."""
        value = self.settings[name]
        if query:
            if len(args) > 1:
                raise _BadParameter
            return str((value >> _int(args, 0, 0, 7)) & 1) if args else str(value)
        if len(args) == 1:
            self.settings[name] = _int(args, 0, 0, 255)
        elif len(args) == 2:
            bit, on = _int(args, 0, 0, 7), _int(args, 1, 0, 1)
            self.settings[name] = value | (1 << bit) if on else value & ~(1 << bit)
        else:
            raise _BadParameter
        return None

    # ---- data buffer -----------------------------------------------------------------
    def sync(self) -> None:
        """Advance the world; store the buffer points that fell due in between, read
        from the filter as it evolved from the previous request with the new input."""
        buf, lk = self.buffer, self.world.lockin
        if buf.state != "running" or buf.rate_index == 14:
            self.world.advance()
            return
        t_prev, stages = self.world.time, np.array(lk._y)
        self.world.advance()
        u = lk.input

        def sample(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = filter_outputs(stages, t_prev, u, times, lk.time_constant, lk.poles)
            noise = lk.rng.normal(0.0, lk.output_noise_rms(), (2, len(times)))
            return self._displays(z.real + noise[0], z.imag + noise[1])

        buf.fill(self.world.time, sample)

    def _action(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        if args:
            raise _BadParameter

    def _strt(self, query: bool, args: list[str]) -> None:
        self._action(query, args)
        self.buffer.start(self.world.time)
        self.buffer.fill(self.world.time, self._now_displays)

    def _strd(self, query: bool, args: list[str]) -> None:
        self._action(query, args)
        self.buffer.start(self.world.time, STRD_DELAY)

    def _paus(self, query: bool, args: list[str]) -> None:
        self._action(query, args)
        self.buffer.pause()

    def _rest(self, query: bool, args: list[str]) -> None:
        self._action(query, args)
        self.buffer.reset()

    def _trig(self, query: bool, args: list[str]) -> None:
        self._action(query, args)
        self.buffer.trigger(self.world.time, self._now_displays)
        self.buffer.fill(self.world.time, self._now_displays)

    def _now_displays(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(CH1, CH2) at the present world time (for each of ``times``)."""
        ch1, ch2 = self._displays(*self.lockin.read_xy(self.world.time))
        return np.full(len(times), ch1), np.full(len(times), ch2)

    def _spts(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        if args:
            raise _BadParameter
        return str(self.buffer.points)

    def _trace_points(self, query: bool, args: list[str]) -> list[float]:
        if not query:
            raise _BadCommand
        if len(args) != 3:
            raise _BadParameter
        trace, start, count = _int(args, 0, 1, 2), _int(args, 1, 0, 16382), _int(args, 2, 1, 16383)
        try:
            return self.buffer.read(trace, start, count)
        except ValueError:
            raise _BadParameter from None

    def _trca(self, query: bool, args: list[str]) -> str:
        return ",".join(_g(v) for v in self._trace_points(query, args))

    def _trcb(self, query: bool, args: list[str]) -> str:
        values = self._trace_points(query, args)
        return RawReply(struct.pack(f"<{len(values)}f", *values).decode("latin-1"))

    def _trcl(self, query: bool, args: list[str]) -> str:
        return RawReply(trcl_bytes(self._trace_points(query, args)).decode("latin-1"))
