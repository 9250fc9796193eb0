"""Simulated Lake Shore 372 AC resistance bridge / temperature controller
(docs/protocols.md, "Lake Shore 372").

Raw TCP text protocol, at most 2 connections (a third is closed at once). Commands end
``\n`` or ``\r\n``; a message is executed only once its terminator arrived (a line cut
by a disconnect is dropped). Several commands per message may be separated by ``;``:
they run in order and the answers of the queries come back in ONE reply line joined by
``;`` (``KRDG? A;*ESR?`` -> ``+5.00000E-02;0\r\n``); replies end ``\r\n``.
No error queue: an unknown command sets ``*ESR`` bit 5, a bad argument bit 4, nothing of
a refused command is applied, and a failing query gives no answer.

Channels: ``A`` (control input, the sample thermometer, lags the mixing chamber; current
excitation only, INTYPE excitation 1-6 = 316 pA-100 nA, no resistance range, no
quadrature) and 1-16 of the scanner: 6 is the mixing chamber; 1 PT2 plate, 2 still,
3 cold plate and 5 magnet read fixed plausible temperatures; 4 (:data:`FILM_CHANNEL`, the
``film_channel`` argument) reads the film's four-terminal resistance
(:mod:`andreev.sim.film_resistance`: R(T) of the sample preset at the INTYPE excitation,
with its noise and self-heating; no curve, so ``KRDG?`` reads 0); the others are
disabled (``INSET`` enabled 0) and read 0.

The scanner (one measurement input behind 16 channels; the control input A has its own
and keeps regulating): only the channel ``SCAN`` is on is measured. After ``SCAN`` moves
to another channel, that channel's readings are new only once its pause + dwell
(``INSET``, world seconds) have passed; until then, and for every channel the scanner is
not on, ``KRDG?``/``SRDG?``/``QRDG?`` return the channel's last reading (a channel never
measured holds its first reading). Autoscan steps are not simulated (the scanner stays
where ``SCAN`` put it). Numbers are formatted ``+1.23456E+00``. Heater output 0 (sample heater)
drives :class:`andreev.sim.thermal.ThermalModel` (see its docstring for the PID units and
the setpoint ramp). Outputs 1 (warm-up) and 2 (still/analog) keep their settings
(``OUTMODE``, ``ANALOG``, ``STILL``, ``WARMUP``) and report them through ``AOUT?``; they
heat nothing. Curves 1, 2, 3, 5 and 6 hold the sim's RuOx calibration (log Ω/K, read
only); the others are empty. ``EMUL 1`` is stored but the command set stays the 372's.
``SETP`` read-back is immediate and returns the target during a ramp.
``HTRSET`` takes the 372 form ``HTRSET 0,resistance,max current,max user current,display``;
the Model 336 form that qcodes' stock driver sends (6 fields) is refused (ESR bit 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from andreev.sim.film_resistance import FilmResistance, preset_for
from andreev.sim.mnemonic import BadCommand as _BadCommand
from andreev.sim.mnemonic import BadParameter as _BadParameter
from andreev.sim.mnemonic import MnemonicServer
from andreev.sim.mnemonic import float_arg as _float
from andreev.sim.mnemonic import int_arg as _int
from andreev.sim.thermal import HEATER_RANGES, ThermalModel, Zone, ruox_resistance

__all__ = ["IDN", "LS372Server"]

IDN = "LSCI,MODEL372,LSA0000,1.4"


CHANNELS: tuple[str, ...] = ("A", *(str(i) for i in range(1, 17)))

#: fixed stages: channel -> (name, temperature K)
FIXED_STAGES: dict[str, tuple[str, float]] = {
    "1": ("PT2 plate", 3.05),
    "2": ("Still", 0.82),
    "3": ("Cold plate", 0.095),
    "5": ("Magnet", 3.4),
}


def _e(value: float) -> str:
    """The 372's number format, ``+1.23456E+00``."""
    return f"{value:+.5E}"


def _nargs(args: list[str], *counts: int) -> None:
    if len(args) not in counts:
        raise _BadParameter


def _channel(args: list[str], i: int = 0) -> str:
    try:
        raw = args[i].strip().upper()
    except IndexError:
        raise _BadParameter from None
    if raw == "A":
        return "A"
    try:
        value = int(raw)
    except ValueError:
        raise _BadParameter from None
    if not 1 <= value <= 16:
        raise _BadParameter
    return str(value)


@dataclass
class ChannelSettings:
    """Per-channel settings of the bridge (wire values)."""

    name: str = ""
    enabled: int = 0
    dwell: int = 7
    pause: int = 3
    curve: int = 0
    tempco: int = 1
    mode: int = 0  # INTYPE excitation mode 0 voltage, 1 current
    excitation: int = 2
    autorange: int = 1
    range: int = 22
    cs_shunt: int = 0
    units: int = 1
    filter_on: int = 1
    filter_settle: int = 10
    filter_window: int = 2
    tlimit: float = 0.0


#: the scanner channel wired to the film's four-terminal contacts
FILM_CHANNEL = "4"


def excitation_current(mode: int, index: int, resistance: float) -> float:
    """The excitation current (A rms) of a measurement input: current mode ``index``
    1–22 = 1 pA · 10^((n−1)/2); voltage mode 1–12 = 2 µV · 10^((n−1)/2) over the
    resistance (at least 1 Ω)."""
    if mode == 1:
        return 1e-12 * 10 ** ((index - 1) / 2)
    return 2e-6 * 10 ** ((index - 1) / 2) / max(resistance, 1.0)


def range_full_scale(index: int) -> float:
    """Full scale (Ω) of resistance range 1–22: 2 mΩ · 10^((n−1)/2) (… 63.2 MΩ)."""
    return 2e-3 * 10 ** ((index - 1) / 2)


def _default_channels(film_channel: str = FILM_CHANNEL) -> dict[str, ChannelSettings]:
    chans = {ch: ChannelSettings(name=f"Channel {ch}") for ch in CHANNELS}
    # the control input: current excitation only (3.16 nA), no resistance range
    chans["A"] = ChannelSettings(name="Sample", enabled=1, curve=1, mode=1, excitation=3)
    chans["6"] = ChannelSettings(name="MXC", enabled=1, curve=6)
    for ch, (name, _t) in FIXED_STAGES.items():
        chans[ch] = ChannelSettings(name=name, enabled=1, curve=int(ch))
    # the film: current excitation 1 nA (index 7), autorange, ohms, no curve
    chans[film_channel] = ChannelSettings(
        name="Film", enabled=1, curve=0, mode=1, excitation=7, autorange=1, range=15, units=2
    )
    return chans


@dataclass
class _AuxOutput:
    """Warm-up (1) and still/analog (2) outputs: settings only."""

    mode: int = 0
    input: str = "0"
    powerup: int = 0
    polarity: int = 0
    filter: int = 0
    delay: int = 5
    range: int = 0
    setpoint: float = 0.0
    p: float = 10.0
    i: float = 20.0
    d: float = 0.0
    manual: float = 0.0
    resistance: float = 1.0
    max_current: int = 0
    max_user_current: float = 0.0
    display: int = 1
    ramp_on: int = 0
    ramp_rate: float = 0.0


@dataclass
class _Analog:
    """``ANALOG`` settings of output 1 or 2 besides mode, input and polarity (kept in the
    output's :class:`_AuxOutput`): data source (1 K, 2 Ω), high and low values."""

    source: int = 1
    high: float = 0.0
    low: float = 0.0


#: curves that hold the sim's RuOx calibration (those the channels use at power-up)
CALIBRATED_CURVES = frozenset({1, 2, 3, 5, 6})
CURVE_NAME = "RX-102B-SIM"
CURVE_SERIAL = "SIM0000001"
#: the calibrated curves' breakpoints (K), from the highest temperature down, so that
#: log10(R) ascends with the index as Lake Shore curves require
CURVE_TEMPERATURES: tuple[float, ...] = tuple(40.0 * 10.0 ** (-0.05 * i) for i in range(70))
#: the control input's current excitation ranges (A), INTYPE excitation 1-6
CONTROL_EXCITATIONS = (316e-12, 1e-9, 3.16e-9, 10e-9, 31.6e-9, 100e-9)
#: quadrature of a reading: the RuOx in parallel with ~1 nF of wiring at 13.7 Hz
_OMEGA_C = 2 * math.pi * 13.7 * 1e-9


class LS372Server(MnemonicServer):
    """Lake Shore 372 protocol server on top of a :class:`~andreev.sim.world.World`.

    Attributes besides :class:`~andreev.sim.tcp.LineServer`'s: ``world``, ``esr``,
    ``channels`` (dict channel -> :class:`ChannelSettings`), ``scan`` ((channel, autoscan)).
    """

    reply_terminator = "\r\n"
    join_replies = True
    no_physics = frozenset({"*IDN", "*CLS", "*ESR", "*ESE", "*SRE", "*STB", "*OPC", "*TST"})

    def __init__(
        self, world: Any, host: str = "127.0.0.1", port: int = 0, film_channel: str = FILM_CHANNEL
    ) -> None:
        super().__init__(host, port, max_connections=2, name="ls372")
        self.world = world
        self.film_channel = str(int(film_channel))
        seed = int(getattr(world.config, "seed", 0))
        self.film = FilmResistance(preset_for(world), np.random.default_rng([seed, 7]))
        self._reset_state()
        self._handlers: dict[str, Callable[[bool, list[str]], str | None]] = {
            "*IDN": self._idn,
            "*RST": self._rst,
            "*CLS": self._cls,
            "*ESR": self._esr,
            "*ESE": self._ese,
            "*SRE": self._sre,
            "*STB": self._stb,
            "*OPC": self._opc,
            "*TST": self._tst,
            "KRDG": self._krdg,
            "RDGK": self._krdg,
            "SRDG": self._srdg,
            "RDGR": self._srdg,
            "RDGPWR": self._rdgpwr,
            "RDGST": self._rdgst,
            "SCAN": self._scan,
            "INSET": self._inset,
            "INTYPE": self._intype,
            "FILTER": self._filter,
            "INNAME": self._inname,
            "TLIMIT": self._tlimit,
            "OUTMODE": self._outmode,
            "RANGE": self._range,
            "SETP": self._setp,
            "PID": self._pid,
            "HTR": self._htr,
            "HTRST": self._htrst,
            "HTRSET": self._htrset,
            "MOUT": self._mout,
            "RAMP": self._ramp,
            "RAMPST": self._rampst,
            "ZONE": self._zone,
            "EMUL": self._emul,
            "QRDG": self._qrdg,
            "INCRV": self._incrv,
            "CRVHDR": self._crvhdr,
            "CRVPT": self._crvpt,
            "STILL": self._still,
            "ANALOG": self._analog,
            "AOUT": self._aout,
            "WARMUP": self._warmup,
        }

    def _reset_state(self) -> None:
        self.esr = 0
        self.ese = 0
        self.sre = 0
        self.channels = _default_channels(self.film_channel)
        self.scan = ("6", 0)
        #: world time the scanner arrived on its channel; readings held per channel
        self.scan_since = -math.inf
        self.held: dict[str, tuple[float, float, float]] = {}
        self.aux_outputs = {1: _AuxOutput(), 2: _AuxOutput()}
        self.emulation = 0
        self.still = 0.0
        self.warmup = (0, 0.0)
        self.analog = {out: _Analog() for out in (1, 2)}

    @property
    def thermal(self) -> ThermalModel:
        return self.world.thermal

    # ---- common ----------------------------------------------------------------------
    def _idn(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        return IDN

    def _rst(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        out = self.thermal.output
        self.thermal.set_mode(0)
        self.thermal.set_range(0)
        self.thermal.set_setpoint(0.0)
        out.ramp_on, out.ramp_rate, out.manual = 0, 0.0, 0.0
        self.thermal.set_pid(10.0, 20.0, 0.0)
        self.thermal.tlimits.clear()
        self._reset_state()

    def _cls(self, query: bool, args: list[str]) -> None:
        if query:
            raise _BadCommand
        self.esr = 0

    def _esr(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        value, self.esr = self.esr, 0
        return str(value)

    def _ese(self, query: bool, args: list[str]) -> str | None:
        if query:
            return str(self.ese)
        _nargs(args, 1)
        self.ese = _int(args, 0, 0, 255)
        return None

    def _sre(self, query: bool, args: list[str]) -> str | None:
        if query:
            return str(self.sre)
        _nargs(args, 1)
        self.sre = _int(args, 0, 0, 255)
        return None

    def _stb(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        return str(32 if self.esr & self.ese else 0)

    def _opc(self, query: bool, args: list[str]) -> str | None:
        if query:
            return "1"
        self.esr |= 1
        return None

    def _tst(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        return "0"

    # ---- readings --------------------------------------------------------------------
    def _true_temperature(self, ch: str) -> float:
        if ch in ("A", "6"):
            return self.thermal.true_temperature(ch)
        if ch in FIXED_STAGES:
            return FIXED_STAGES[ch][1]
        return 0.0

    def _temperature(self, ch: str) -> float:
        settings = self.channels[ch]
        if not settings.enabled:
            return 0.0
        if ch in ("A", "6"):
            return self.world.thermal.reading(ch)
        t = self._true_temperature(ch)
        if t <= 0:
            return 0.0
        noise = math.hypot(1e-4 * t, 2e-5) * float(self.thermal.rng.standard_normal())
        return t + noise

    def _status(self, ch: str) -> int:
        settings = self.channels[ch]
        if not settings.enabled:
            return 0
        if settings.cs_shunt:
            return 1
        if ch == self.film_channel:
            return self._film_status()
        t = self._true_temperature(ch)
        if t < 0.01:
            return 128
        if t > 40.0:
            return 64
        return 0

    def _query_channel(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        _nargs(args, 1)
        return _channel(args)

    def sync(self) -> None:
        """Advance the world, then let the film follow the sample stage (its lag)."""
        super().sync()
        world = self.world
        self.film.film_temperature(world.thermal.sample_temperature(), world.time)  # "A"

    # ---- the scanner and the film ------------------------------------------------------
    def _settled(self, ch: str) -> bool:
        """True when the scanner is on ``ch`` and its pause + dwell have passed."""
        s = self.channels[ch]
        return ch == self.scan[0] and self.world.time >= self.scan_since + s.pause + s.dwell

    def _reading(self, ch: str) -> tuple[float, float, float]:
        """(K, Ω, quadrature Ω) of channel ``ch``: live for A and the settled scanner
        channel, else the channel's last reading."""
        if ch == "A":
            return self._live(ch)
        if self._settled(ch) or ch not in self.held:
            self.held[ch] = self._live(ch)
        return self.held[ch]

    def _live(self, ch: str) -> tuple[float, float, float]:
        if ch == self.film_channel:
            return 0.0, self._film_reading(), 0.0
        t = self._temperature(ch)
        if t <= 0:
            return 0.0, 0.0, 0.0
        r = ruox_resistance(t)
        return t, r, (-_OMEGA_C * r * r if ch != "A" else 0.0)

    def _film_current(self) -> float:
        """The film's excitation current (A rms) at its present resistance."""
        s = self.channels[self.film_channel]
        bath = self.film.film_temperature(self.thermal.true_temperature("A"), self.world.time)
        return excitation_current(s.mode, s.excitation, self.film.resistance(bath))

    def _film_reading(self) -> float:
        """One reading of the film (Ω), clipped to the range's full scale."""
        s = self.channels[self.film_channel]
        if not s.enabled or s.cs_shunt:
            return 0.0
        bath = self.film.film_temperature(self.thermal.true_temperature("A"), self.world.time)
        averaging = s.dwell + (s.filter_settle if s.filter_on else 0)
        r = self.film.reading(bath, self._film_current(), averaging)
        if s.autorange:
            s.range = next((n for n in range(1, 23) if range_full_scale(n) >= abs(r)), 22)
        return max(min(r, range_full_scale(s.range)), -range_full_scale(s.range))

    def _film_status(self) -> int:
        s = self.channels[self.film_channel]
        bath = self.film.film_temperature(self.thermal.true_temperature("A"), self.world.time)
        r = self.film.resistance(self.film.electron_temperature(bath, self._film_current()))
        return 16 if r > range_full_scale(s.range) else 0

    def _film_power(self) -> float:
        """Power (W) the excitation dissipates in the film, I²·R(T_e)."""
        bath = self.film.film_temperature(self.thermal.true_temperature("A"), self.world.time)
        current = self._film_current()
        return current**2 * self.film.resistance(self.film.electron_temperature(bath, current))

    # ---- readings (queries) -------------------------------------------------------------
    def _krdg(self, query: bool, args: list[str]) -> str:
        # the usual KRDG? A without the general channel parse
        ch = "A" if query and args == ["A"] else self._query_channel(query, args)
        if ch == "A" and ch != self.film_channel:  # live, and no resistance needed
            t = self._temperature(ch)
            return _e(0.0 if t <= 0 else t)  # as _live's
        return _e(self._reading(ch)[0])

    def _srdg(self, query: bool, args: list[str]) -> str:
        ch = self._query_channel(query, args)
        return _e(self._reading(ch)[1])

    def _rdgpwr(self, query: bool, args: list[str]) -> str:
        ch = self._query_channel(query, args)
        s = self.channels[ch]
        if ch == self.film_channel:
            return _e(0.0 if not s.enabled or s.cs_shunt else self._film_power())
        t = self._true_temperature(ch)
        if not s.enabled or t <= 0 or s.cs_shunt:
            return _e(0.0)
        r = ruox_resistance(t)
        if ch == "A":  # control input: 316 pA … 100 nA
            power = CONTROL_EXCITATIONS[s.excitation - 1] ** 2 * r
        else:
            power = excitation_current(s.mode, s.excitation, r) ** 2 * r
        return _e(power)

    def _rdgst(self, query: bool, args: list[str]) -> str:
        ch = self._query_channel(query, args)
        return str(self._status(ch))

    # ---- inputs ----------------------------------------------------------------------
    def _scan(self, query: bool, args: list[str]) -> str | None:
        if query:
            if args:
                raise _BadParameter
            ch, auto = self.scan
            return f"{int(ch):02d},{auto}"
        _nargs(args, 2)
        ch = _channel(args, 0)
        if ch == "A":
            raise _BadParameter
        auto = _int(args, 1, 0, 1)
        if ch != self.scan[0]:  # a new channel: its pause + dwell start now
            self.scan_since = self.world.time
        self.scan = (ch, auto)
        return None

    def _inset(self, query: bool, args: list[str]) -> str | None:
        ch = _channel(args, 0)
        s = self.channels[ch]
        if query:
            _nargs(args, 1)
            return f"{s.enabled},{s.dwell},{s.pause},{s.curve},{s.tempco}"
        _nargs(args, 6)
        values = (
            _int(args, 1, 0, 1),
            _int(args, 2, 1, 200),
            _int(args, 3, 3, 200),
            _int(args, 4, 0, 59),
            _int(args, 5, 1, 2),
        )
        s.enabled, s.dwell, s.pause, s.curve, s.tempco = values
        if ch == "A":
            s.enabled = 1
        return None

    def _intype(self, query: bool, args: list[str]) -> str | None:
        ch = _channel(args, 0)
        s = self.channels[ch]
        if query:
            _nargs(args, 1)
            return f"{s.mode},{s.excitation},{s.autorange},{s.range},{s.cs_shunt},{s.units}"
        _nargs(args, 7)
        if ch == "A":
            # control input: current excitation only, ranges 1-6 (316 pA-100 nA),
            # autorange off/on; it has no resistance range: 0 keeps the field as it was
            rng = _int(args, 4, 0, 22)
            values = (
                _int(args, 1, 1, 1),
                _int(args, 2, 1, len(CONTROL_EXCITATIONS)),
                _int(args, 3, 0, 1),
                rng or s.range,
                _int(args, 5, 0, 1),
                _int(args, 6, 1, 2),
            )
        else:
            mode = _int(args, 1, 0, 1)
            values = (
                mode,
                _int(args, 2, 1, 22 if mode == 1 else 12),
                _int(args, 3, 0, 2),
                _int(args, 4, 1, 22),
                _int(args, 5, 0, 1),
                _int(args, 6, 1, 2),
            )
        s.mode, s.excitation, s.autorange, s.range, s.cs_shunt, s.units = values
        return None

    def _filter(self, query: bool, args: list[str]) -> str | None:
        ch = _channel(args, 0)
        s = self.channels[ch]
        if query:
            _nargs(args, 1)
            return f"{s.filter_on},{s.filter_settle},{s.filter_window}"
        _nargs(args, 4)
        s.filter_on, s.filter_settle, s.filter_window = (
            _int(args, 1, 0, 1),
            _int(args, 2, 1, 200),
            _int(args, 3, 1, 80),
        )
        return None

    def _inname(self, query: bool, args: list[str]) -> str | None:
        if not args:
            raise _BadParameter
        ch = _channel(args, 0)
        if query:
            _nargs(args, 1)
            return self.channels[ch].name
        if len(args) < 2:
            raise _BadParameter
        name = ",".join(args[1:]).strip().strip('"')
        if len(name) > 15:
            raise _BadParameter
        self.channels[ch].name = name
        return None

    def _tlimit(self, query: bool, args: list[str]) -> str | None:
        ch = _channel(args, 0)
        if query:
            _nargs(args, 1)
            return _e(self.channels[ch].tlimit)
        _nargs(args, 2)
        limit = _float(args, 1, 0.0, 9999.0)
        self.channels[ch].tlimit = limit
        if ch in ("A", "6"):
            self.thermal.tlimits[ch] = limit
        return None

    # ---- outputs ---------------------------------------------------------------------
    def _output(self, args: list[str]) -> int:
        return _int(args, 0, 0, 2)

    def _outmode(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        o = self.thermal.output if out == 0 else self.aux_outputs[out]
        if query:
            _nargs(args, 1)
            return f"{o.mode},{o.input},{o.powerup},{o.polarity},{o.filter},{o.delay}"
        _nargs(args, 7)
        mode = _int(args, 1, 0, 6)
        raw_input = args[2].strip().upper()
        if raw_input in ("A", "0"):
            channel = raw_input
        else:
            channel = _channel(args, 2)
        powerup = _int(args, 3, 0, 1)
        polarity = _int(args, 4, 0, 1)
        use_filter = _int(args, 5, 0, 1)
        delay = _int(args, 6, 1, 255)
        if out == 0:
            self.thermal.set_mode(mode, channel)
        else:
            o.mode, o.input = mode, channel
        o.powerup, o.polarity, o.filter, o.delay = powerup, polarity, use_filter, delay
        return None

    def _range(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        if query:
            _nargs(args, 1)
            return str(self.thermal.output.range if out == 0 else self.aux_outputs[out].range)
        _nargs(args, 2)
        if out == 0:
            self.thermal.set_range(_int(args, 1, 0, len(HEATER_RANGES) - 1))
        else:
            self.aux_outputs[out].range = _int(args, 1, 0, 1)
        return None

    def _setp(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        if query:
            _nargs(args, 1)
            value = self.thermal.output.setpoint if out == 0 else self.aux_outputs[out].setpoint
            return _e(value)
        _nargs(args, 2)
        value = _float(args, 1, 0.0, 9999.0)
        if out == 0:
            self.thermal.set_setpoint(value)
        else:
            self.aux_outputs[out].setpoint = value
        return None

    def _pid(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        o = self.thermal.output if out == 0 else self.aux_outputs[out]
        if query:
            _nargs(args, 1)
            return f"{_e(o.p)},{_e(o.i)},{_e(o.d)}"
        _nargs(args, 4)
        p = _float(args, 1, 0.0, 1000.0)
        i = _float(args, 2, 0.0, 10000.0)
        d = _float(args, 3, 0.0, 2500.0)
        if out == 0:
            self.thermal.set_pid(p, i, d)
        else:
            o.p, o.i, o.d = p, i, d
        return None

    def _htr(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        _nargs(args, 0, 1)
        out = self._output(args) if args else 0
        if out == 0:
            return _e(self.thermal.heater_percent())
        o = self.aux_outputs[out]
        return _e(o.manual if o.mode == 2 and o.range > 0 else 0.0)

    def _htrst(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        _nargs(args, 0, 1)
        if args:
            self._output(args)
        return "0"

    def _htrset(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        o = self.thermal.output if out == 0 else self.aux_outputs[out]
        if query:
            _nargs(args, 1)
            res = _e(o.resistance) if out == 0 else str(int(o.resistance))
            return f"{res},{o.max_current},{_e(o.max_user_current)},{o.display}"
        _nargs(args, 5)
        if out == 0:
            resistance = _float(args, 1, 1.0, 100000.0)
        else:
            resistance = float(_int(args, 1, 1, 2))
        max_current = _int(args, 2, 0, 2)
        max_user = _float(args, 3, 0.0, 2.0)
        display = _int(args, 4, 1, 2)
        if out == 0:
            self.thermal.set_resistance(resistance)
        else:
            o.resistance = resistance
        o.max_current, o.max_user_current, o.display = max_current, max_user, display
        return None

    def _mout(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        o = self.thermal.output if out == 0 else self.aux_outputs[out]
        if query:
            _nargs(args, 1)
            return _e(o.manual)
        _nargs(args, 2)
        o.manual = _float(args, 1, 0.0, 100.0)
        return None

    def _ramp(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        o = self.thermal.output if out == 0 else self.aux_outputs[out]
        if query:
            _nargs(args, 1)
            return f"{o.ramp_on},{_e(o.ramp_rate)}"
        _nargs(args, 3)
        o.ramp_on, o.ramp_rate = _int(args, 1, 0, 1), _float(args, 2, 0.0, 100.0)
        return None

    def _rampst(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        _nargs(args, 1)
        out = self._output(args)
        return str(int(self.thermal.ramping()) if out == 0 else 0)

    def _zone(self, query: bool, args: list[str]) -> str | None:
        out = self._output(args)
        if out == 2:
            raise _BadParameter
        index = _int(args, 1, 1, 10)
        zones = self.thermal.output.zones if out == 0 else self._warmup_zones()
        z = zones[index - 1]
        if query:
            _nargs(args, 2)
            return ",".join(
                [
                    _e(z.upper),
                    _e(z.p),
                    _e(z.i),
                    _e(z.d),
                    _e(z.mout),
                    str(z.range),
                    _e(z.rate),
                    str(z.relay1),
                    str(z.relay2),
                ]
            )
        _nargs(args, 11)
        zones[index - 1] = Zone(
            upper=_float(args, 2, 0.0, 9999.0),
            p=_float(args, 3, 0.0, 1000.0),
            i=_float(args, 4, 0.0, 10000.0),
            d=_float(args, 5, 0.0, 2500.0),
            mout=_float(args, 6, 0.0, 100.0),
            range=_int(args, 7, 0, len(HEATER_RANGES) - 1 if out == 0 else 1),
            rate=_float(args, 8, 0.0, 100.0),
            relay1=_int(args, 9, 0, 1),
            relay2=_int(args, 10, 0, 1),
        )
        return None

    def _warmup_zones(self) -> list[Zone]:
        zones = getattr(self, "_wzones", None)
        if zones is None:
            zones = self._wzones = [Zone() for _ in range(10)]
        return zones

    # ---- emulation, quadrature, curves -----------------------------------------------
    def _emul(self, query: bool, args: list[str]) -> str | None:
        if query:
            _nargs(args, 0)
            return str(self.emulation)
        _nargs(args, 1)
        self.emulation = _int(args, 0, 0, 1)
        return None

    def _qrdg(self, query: bool, args: list[str]) -> str:
        ch = self._query_channel(query, args)
        if ch == "A":  # the control input has no quadrature reading
            raise _BadParameter
        return _e(self._reading(ch)[2])

    def _incrv(self, query: bool, args: list[str]) -> str | None:
        ch = _channel(args, 0)
        if query:
            _nargs(args, 1)
            return f"{self.channels[ch].curve:02d}"
        _nargs(args, 2)
        self.channels[ch].curve = _int(args, 1, 0, 59)
        return None

    def _crvhdr(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand  # writing curves is not simulated
        _nargs(args, 1)
        curve = _int(args, 0, 1, 59)
        if curve not in CALIBRATED_CURVES:
            return f"{'User Curve':<15},{'':<10},3,+000.000,1"
        return f"{CURVE_NAME:<15},{CURVE_SERIAL:<10},4,+{CURVE_TEMPERATURES[0]:07.3f},1"

    def _crvpt(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand  # writing curves is not simulated
        _nargs(args, 2)
        curve = _int(args, 0, 1, 59)
        index = _int(args, 1, 1, 200)
        if curve not in CALIBRATED_CURVES or index > len(CURVE_TEMPERATURES):
            return "+0.000000,+0.000000,+0.00000E+00"
        t = CURVE_TEMPERATURES[index - 1]
        return f"{math.log10(ruox_resistance(t)):+.6f},{t:+.6f},{_e(0.0)}"

    # ---- still, analog and warm-up outputs -------------------------------------------
    def _still(self, query: bool, args: list[str]) -> str | None:
        if query:
            _nargs(args, 0)
            return _e(self.still)
        _nargs(args, 1)
        self.still = _float(args, 0, 0.0, 100.0)
        return None

    def _analog(self, query: bool, args: list[str]) -> str | None:
        out = _int(args, 0, 1, 2)
        o, a = self.aux_outputs[out], self.analog[out]
        if query:
            _nargs(args, 1)
            return (
                f"{o.polarity},{o.mode},{o.input},{a.source},{_e(a.high)},{_e(a.low)},"
                f"{_e(o.manual)}"
            )
        _nargs(args, 8)
        polarity = _int(args, 1, 0, 1)
        mode = _int(args, 2, 0, 4)
        raw_input = args[3].strip().upper()
        channel = raw_input if raw_input in ("A", "0") else _channel(args, 3)
        source = _int(args, 4, 1, 2)
        high = _float(args, 5, -1e5, 1e5)
        low = _float(args, 6, -1e5, 1e5)
        manual = _float(args, 7, -100.0 if polarity else 0.0, 100.0)
        o.polarity, o.mode, o.input, o.manual = polarity, mode, channel, manual
        a.source, a.high, a.low = source, high, low
        return None

    def _aout(self, query: bool, args: list[str]) -> str:
        if not query:
            raise _BadCommand
        _nargs(args, 1)
        out = _int(args, 0, 1, 2)
        return _e(self._analog_percent(out))

    def _analog_percent(self, out: int) -> float:
        """Present output of analog output 1 or 2 (% of full scale) by its mode."""
        o, a = self.aux_outputs[out], self.analog[out]
        low_end = -100.0 if o.polarity else 0.0
        if o.mode == 2:  # manual / open loop
            return o.manual
        if o.mode == 4:  # still
            return self.still
        if o.mode == 1 and o.input not in ("0",) and a.high != a.low:  # monitor
            t = self._temperature(o.input)
            value = t if a.source == 1 else (ruox_resistance(t) if t > 0 else 0.0)
            fraction = (value - a.low) / (a.high - a.low)
            return max(low_end, min(100.0, low_end + fraction * (100.0 - low_end)))
        if out == 1 and o.mode == 6:  # warm-up
            return self.warmup[1]
        return 0.0

    def _warmup(self, query: bool, args: list[str]) -> str | None:
        if query:
            _nargs(args, 0)
            control, percent = self.warmup
            return f"{control},{_e(percent)}"
        _nargs(args, 2)
        self.warmup = (_int(args, 0, 0, 1), _float(args, 1, 0.0, 100.0))
        return None
