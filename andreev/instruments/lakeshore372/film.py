"""The film channel of the 372: the film's four-terminal resistance on one scanner channel.

The station file names the channel and its settings in the bridge's ``init``
(``film_channel``, ``film_excitation`` A rms, ``film_dwell``/``film_pause`` s,
``film_filter`` s settle time, 0 = filter off) and the limit in ``safety:``
(``max_film_excitation``, A rms). Every ``INTYPE`` line for the film channel is checked
before it is sent (:func:`film_intype_problem`, called from the driver's guard):

- current excitation above the limit is refused;
- voltage excitation is refused: into a superconducting film (R → 0) a fixed voltage
  drives an unbounded current.

Reading the film (:meth:`FilmChannelMixin.read_film`) puts the scanner on the film
channel when it is elsewhere and waits the channel's pause + dwell in world time (the
372 gives no new reading before that); the control input A keeps regulating meanwhile.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from andreev.errors import SafetyError

__all__ = [
    "CURRENT_EXCITATIONS",
    "FilmChannelMixin",
    "FilmReading",
    "FilmRow",
    "FilmSettings",
    "excitation_index",
    "film_intype_problem",
]

log = logging.getLogger(__name__)

#: current-excitation ranges of a measurement input (A rms), INTYPE excitation 1–22
CURRENT_EXCITATIONS: tuple[float, ...] = tuple(1e-12 * 10 ** ((n - 1) / 2) for n in range(1, 23))
#: full scale of the resistance ranges 1–22 (Ω)
RESISTANCE_RANGES: tuple[float, ...] = tuple(2e-3 * 10 ** ((n - 1) / 2) for n in range(1, 23))


@dataclass(frozen=True)
class FilmSettings:
    """The film channel's configuration (station file, bridge ``init``).

    Attributes:
        channel: scanner channel 1–16 wired to the film.
        excitation: excitation current (A rms), rounded to the 372's steps.
        dwell: dwell time (s, 1–200).
        pause: pause after a channel change (s, 3–200).
        filter: reading filter settle time (s, 1–200), 0 = filter off.
    """

    channel: int
    excitation: float = 1e-9
    dwell: int = 2
    pause: int = 3
    filter: int = 0

    def __post_init__(self) -> None:
        if not 1 <= int(self.channel) <= 16:
            raise ValueError(f"film_channel must be 1–16, got {self.channel!r}")
        if not 1 <= int(self.dwell) <= 200 or not 3 <= int(self.pause) <= 200:
            raise ValueError("film_dwell must be 1–200 s and film_pause 3–200 s")
        if not 0 <= int(self.filter) <= 200:
            raise ValueError("film_filter must be 0 (off) or 1–200 s")
        if not self.excitation > 0:
            raise ValueError(f"film_excitation must be > 0 A, got {self.excitation!r}")


@dataclass(frozen=True)
class FilmRow:
    """The film and the sample read in one message (:meth:`FilmChannelMixin.read_row`):
    ``temperature`` (K, sample thermometer, mean of the readings before and after),
    ``resistance`` (Ω), ``status`` (RDGST bits), ``power`` (W, excitation power in the
    film), ``ramping`` (the setpoint ramp runs), ``time`` (world s), ``switch_cost``
    (world s spent switching the scanner)."""

    temperature: float
    resistance: float
    status: int
    power: float
    ramping: bool
    time: float
    switch_cost: float


@dataclass(frozen=True)
class FilmReading:
    """One reading of the film: ``resistance`` (Ω), ``status`` (RDGST bits, 0 valid),
    ``time`` (world s when read), ``switch_cost`` (world s spent on the channel switch)."""

    resistance: float
    status: int
    time: float
    switch_cost: float


def excitation_index(current: float) -> int:
    """The INTYPE excitation index (1–22) of the step nearest ``current`` (A) in log."""
    logs = [abs(math.log10(step / current)) for step in CURRENT_EXCITATIONS]
    return logs.index(min(logs)) + 1


def film_intype_problem(args: list[str], limit: float) -> str | None:
    """Why ``INTYPE <film>,mode,exc,…`` (``args`` after the channel) may not be sent, or
    None. ``limit``: the largest excitation current (A rms)."""
    if len(args) < 2:
        return None
    try:
        mode, index = int(float(args[0])), int(float(args[1]))
    except ValueError:
        return None
    if mode != 1:
        return (
            "voltage excitation of the film would drive an unbounded current once it is "
            "superconducting"
        )
    if not 1 <= index <= len(CURRENT_EXCITATIONS):
        return None  # the instrument refuses it
    current = CURRENT_EXCITATIONS[index - 1]
    if current > limit * (1 + 1e-6):
        return f"film excitation {current:.4g} A exceeds safety.max_film_excitation = {limit:.4g} A"
    return None


class FilmChannelMixin:
    """The film channel's methods, mixed into the 372 driver (which provides ``write``,
    ``ask``, ``clock``, ``safety``, ``scan``, ``_sleep`` and ``name``)."""

    film_settings: FilmSettings | None = None
    _film_configured: bool = False
    #: world time the scanner arrived on the film (None: elsewhere or unknown)
    _film_since: float | None = None

    def _inst(self) -> Any:
        """This driver, seen untyped (the qcodes members come from the other bases)."""
        return self

    def _film(self) -> FilmSettings:
        if self.film_settings is None:
            raise ValueError(f"{self._inst().name}: no film channel configured (film_channel)")
        return self.film_settings

    @property
    def film_channel(self) -> int | None:
        """The scanner channel of the film (None: none configured)."""
        return None if self.film_settings is None else int(self.film_settings.channel)

    def check_film_write(self, command: str) -> None:
        """Raise SafetyError if ``command`` (one command of a line) sets the film's
        excitation beyond the limit or to a voltage (called before anything is sent)."""
        if self.film_settings is None:
            return
        name, _, rest = command.strip().partition(" ")
        if name.upper() != "INTYPE" or not rest:
            return
        args = [a.strip() for a in rest.split(",")]
        try:
            channel = int(float(args[0]))
        except ValueError:
            return
        if channel != self.film_settings.channel:
            return
        inst = self._inst()
        problem = film_intype_problem(args[1:], inst.safety.max_film_excitation)
        if problem:
            raise SafetyError(f"{inst.name}: refused {command.strip()!r}: {problem}")

    def configure_film(self) -> None:
        """Write the film channel's INSET (enabled, dwell, pause), FILTER and INTYPE
        (current excitation, autorange, ohms) from the station's settings."""
        s, inst = self._film(), self._inst()
        inst.write(f"INSET {s.channel},1,{s.dwell},{s.pause},0,1")
        on, settle = (1, s.filter) if s.filter else (0, 10)
        inst.write(f"FILTER {s.channel},{on},{settle},10")
        self.set_film_excitation(s.excitation)
        self._film_configured = True

    def set_film_excitation(self, current: float) -> float:
        """Set the film's excitation to the 372 step nearest ``current`` (A rms), never
        above safety.max_film_excitation (checked before the write); returns the step (A)."""
        s, inst = self._film(), self._inst()
        inst.safety.check_film_excitation(float(current))
        limit = inst.safety.max_film_excitation
        index = excitation_index(float(current))
        while index > 1 and CURRENT_EXCITATIONS[index - 1] > limit * (1 + 1e-6):
            index -= 1
        inst.write(f"INTYPE {s.channel},1,{index},1,15,0,2")
        if CURRENT_EXCITATIONS[index - 1] > 0.1 * limit:
            log.warning(
                "%s: film excitation %.3g A is within a decade of safety.max_film_excitation "
                "(%.3g A): check the transition for self-heating",
                inst.name,
                CURRENT_EXCITATIONS[index - 1],
                limit,
            )
        return CURRENT_EXCITATIONS[index - 1]

    def film_excitation(self) -> float:
        """The film's excitation current as set (A rms; INTYPE? read back)."""
        fields = self._inst().ask(f"INTYPE? {self._film().channel}").split(",")
        return CURRENT_EXCITATIONS[int(float(fields[1])) - 1]

    def film_excitation_power(self) -> float:
        """The power the excitation dissipates in the film (W; RDGPWR?)."""
        return float(self._inst().ask(f"RDGPWR? {self._film().channel}"))

    def select_film(self, should_stop: Callable[[], bool] | None = None) -> float:
        """Put the scanner on the film and wait its pause + dwell (world s) when it was
        elsewhere; returns the world seconds that cost (0 when already there).

        ``SCAN`` has no reply, so the wait starts once ``SCAN?`` has answered: counted
        from before the write, a bridge that executed the switch late (busy, a slow
        link) would still be settling when the reading is asked for, and the 372 then
        answers with the film channel's previous reading (taken at another temperature).
        """
        s, inst = self._film(), self._inst()
        if not self._film_configured:
            self.configure_film()
        if self._film_since is not None:  # we put it there and have not left
            return 0.0
        started = inst.clock.now()
        inst.scan(s.channel, False)
        inst.ask("SCAN?")  # the switch has been executed: its pause starts now at the latest
        switched = inst.clock.now()
        self._film_since = switched
        inst._sleep(s.pause + s.dwell, should_stop)
        return float(inst.clock.now() - started)

    def read_film(self, should_stop: Callable[[], bool] | None = None) -> FilmReading:
        """One film reading (Ω) with the scanner switch and its settling handled."""
        cost = self.select_film(should_stop)
        s, inst = self._film(), self._inst()
        reply = inst.ask(f"RDGR? {s.channel};RDGST? {s.channel}").split(";")
        return FilmReading(float(reply[0]), int(float(reply[1])), inst.clock.now(), cost)

    def read_row(self, should_stop: Callable[[], bool] | None = None) -> FilmRow:
        """Sample temperature, film resistance, status, excitation power and ramp state
        in ONE message (``KRDG? <sample>;RDGR? n;KRDG? <sample>;RDGST? n;RDGPWR? n;
        RAMPST? 0;SCAN?``): the temperature is the mean of the two sample readings around
        the film's, so a drift in between cancels. The scanner switch and its settling
        are handled first (and again, once, when the reply shows the scanner moved)."""
        s, inst = self._film(), self._inst()
        cost = self.select_film(should_stop)
        for _ in range(2):
            sample = f"KRDG? {inst.sample_channel_id}"
            reply = inst.ask(
                f"{sample};RDGR? {s.channel};{sample};RDGST? {s.channel};RDGPWR? {s.channel};"
                "RAMPST? 0;SCAN?"
            ).split(";")
            if int(float(reply[6].split(",")[0])) == s.channel:
                break
            self._film_since = None  # moved by someone else: switch back and settle
            cost += self.select_film(should_stop)
        return FilmRow(
            temperature=0.5 * (float(reply[0]) + float(reply[2])),
            resistance=float(reply[1]),
            status=int(float(reply[3])),
            power=float(reply[4]),
            ramping=bool(int(float(reply[5]))),
            time=float(inst.clock.now()),
            switch_cost=cost,
        )

    def film_resistance(self, should_stop: Callable[[], bool] | None = None) -> float:
        """The film's four-terminal resistance (Ω)."""
        return self.read_film(should_stop).resistance

    def leave_film(self, channel: int) -> None:
        """Move the scanner to ``channel`` (e.g. back to the mixing chamber)."""
        self._inst().scan(int(channel), False)
        self._film_since = None
