"""Lake Shore 372 AC resistance bridge / temperature controller (qcodes driver, subclassed).

Additions to qcodes' stock ``LakeshoreModel372``:

* the control input ``A`` as a sensor channel (``bridge.A``; stock qcodes has ch01–ch16),
  and as a legal control input of the heater outputs (``OUTMODE 0,5,A,…``);
* the 372's own ``HTRSET <out>,<resistance Ω>,<max current>,<max user current>,<1|2>``
  (the stock driver sends the Model 336 form);
* the scanner (``SCAN ch,autoscan`` / ``SCAN?``) and reading status (``RDGST?``) as int
  bits (``channel.status_bits``) and decoded (:meth:`decode_status`);
* heater bands (upper edge K inclusive, sample-heater range, P, I, D), :meth:`apply_band`,
  the ZONE table (:meth:`write_zones`, :meth:`read_zones`), :meth:`set_temperature`,
  :meth:`wait_until_stable` and :meth:`safe_state`;
* safety: every line sent is checked before it reaches the instrument — a sample-heater
  ``RANGE`` (also qcodes' ``output_range`` parameter and ``ZONE`` rows) above
  ``safety.max_heater_range`` or a sample-heater ``SETP`` above
  ``safety.max_temperature`` raises :class:`SafetyError` and nothing is written;
* reconnect / clear timeouts from :mod:`andreev.instruments.visa_reconnect`.

Lab wiring: output 0 (sample heater) heats the mixing chamber; channel 6 reads the
mixing chamber, the control input ``A`` reads the sample (which lags the MC).
All temperatures in K, times in world seconds on ``clock``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import qcodes.validators as vals
from qcodes.instrument_drivers.Lakeshore import LakeshoreModel372 as _StockModel372
from qcodes.parameters import Group, GroupParameter

from andreev.clock import REAL_TIME, Clock
from andreev.errors import SafetyError
from andreev.instruments.lakeshore372.bands import (
    MAX_SAMPLE_RANGE,
    HeaterBand,
    band_for,
    check_temperature_setpoint,
    validate_bands,
)
from andreev.instruments.lakeshore372.channels import (
    LakeshoreModel372Channel,
    LakeshoreModel372Output,
    parse_input_channel,
)
from andreev.instruments.lakeshore372.film import FilmChannelMixin, FilmSettings
from andreev.instruments.lakeshore372.ramp import RampMixin
from andreev.instruments.lakeshore372.settling import (
    SettlingTrace,
    StabilityWatch,
    default_tolerance,
)
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits, refuse_limits_left_behind
from andreev.instruments.visa_reconnect import ReconnectingVisaMixin

__all__ = ["N_ZONES", "SAMPLE_HEATER", "LakeshoreModel372"]

log = logging.getLogger(__name__)

SAMPLE_HEATER = 0
N_ZONES = 10
_COMMAND_RE = re.compile(r"^\s*([A-Za-z*]+\??)\s*(.*)$")


class LakeshoreModel372(FilmChannelMixin, RampMixin, ReconnectingVisaMixin, _StockModel372):
    """Lake Shore 372 driver (qcodes' stock one, subclassed); see the module docstring.

    Args:
        name: qcodes instrument name.
        address: VISA resource, e.g. ``TCPIP0::host::7777::SOCKET`` or ``ASRL3::INSTR``.
        safety: hard limits (max_temperature K, max_heater_range) checked before writes
            (default :data:`~andreev.instruments.safety.DEFAULT_LIMITS`).
        clock: world clock for all waits (default: real time).
        bands: heater bands ``[{upper K, range, P, I, D}, …]`` (validated and sorted);
            None: :meth:`apply_band` uses the instrument's ZONE table.
        sample_channel: the thermometer of the sample: "A" (control input) or 1–16.
        safe_heater_range: sample-heater range set by :meth:`safe_state` (default off).
        film_channel: the scanner channel (1–16) wired to the film's four-terminal
            contacts (None: no film); see :mod:`.film`.
        film_excitation: the film's excitation current (A rms), ≤ safety.max_film_excitation.
        film_dwell, film_pause: the film channel's dwell and pause (s).
        film_filter: the film reading filter's settle time (s), 0 = off.
        **kwargs: forwarded to the qcodes driver (``visalib="@py"``, ``timeout`` …).
    """

    CHANNEL_CLASS = LakeshoreModel372Channel
    channel_name_command: ClassVar[dict[str, str]] = {
        **_StockModel372.channel_name_command,
        "A": "A",
    }
    input_channel_parameter_values_to_channel_name_on_instrument: ClassVar[dict[Any, str]] = {
        **_StockModel372.input_channel_parameter_values_to_channel_name_on_instrument,
        "A": "A",
    }

    def __init__(
        self,
        name: str,
        address: str,
        *,
        safety: SafetyLimits = DEFAULT_LIMITS,
        clock: Clock | None = None,
        bands: Sequence[Mapping[str, Any] | HeaterBand] | None = None,
        sample_channel: str | int = "A",
        safe_heater_range: int = 0,
        film_channel: int | None = None,
        film_excitation: float = 1e-9,
        film_dwell: int = 2,
        film_pause: int = 3,
        film_filter: int = 0,
        **kwargs: Any,
    ) -> None:
        refuse_limits_left_behind(name, safety)
        self.safety = safety
        self.film_settings = None
        if film_channel is not None:
            film = FilmSettings(int(film_channel), film_excitation, film_dwell, film_pause)
            self.film_settings = dataclasses.replace(film, filter=film_filter)
            safety.check_film_excitation(film.excitation)
        self.clock = clock if clock is not None else REAL_TIME
        #: called after every reading of :meth:`wait_until_stable` with the
        #: StabilityWatch, the elapsed and the timeout (world s); None: nobody listens
        self.settling_listener: Callable[[StabilityWatch, float, float], None] | None = None
        self.bands: tuple[HeaterBand, ...] | None = None if bands is None else validate_bands(bands)
        self._sample_channel_name = self._channel_name(sample_channel)
        safety.check_heater_range(safe_heater_range)
        self.safe_heater_range = int(safe_heater_range)
        super().__init__(name, address, **kwargs)
        for output_name, index in (
            ("sample_heater", 0),
            ("warmup_heater", 1),
            ("analog_heater", 2),
        ):
            self._replace_output(output_name, index)

        self.scan_channel: GroupParameter = self.add_parameter(
            "scan_channel",
            label="Scanner channel",
            vals=vals.Ints(1, 16),
            get_parser=lambda v: int(float(v)),
            parameter_class=GroupParameter,
        )
        """Channel the scanner is on (1–16)."""
        self.autoscan: GroupParameter = self.add_parameter(
            "autoscan",
            label="Autoscan",
            val_mapping={True: 1, False: 0},
            parameter_class=GroupParameter,
        )
        """Whether the scanner steps through the enabled channels."""
        self.scanner_group = Group(
            [self.scan_channel, self.autoscan],
            set_cmd="SCAN {scan_channel},{autoscan}",
            get_cmd="SCAN?",
        )

    # the stock outputs are replaced by ours (input A, 372 HTRSET form)
    def _replace_output(self, output_name: str, index: int) -> None:
        self.submodules.pop(output_name, None)
        self.instrument_modules.pop(output_name, None)
        output = LakeshoreModel372Output(self, output_name, index)
        setattr(self, output_name, self.add_submodule(output_name, output))

    @classmethod
    def _channel_name(cls, channel: str | int) -> str:
        text = str(channel).strip()
        if text.upper() == "A":
            return "A"
        if text.lower().startswith("ch"):
            text = text[2:]
        try:
            number = int(text)
        except ValueError:
            raise ValueError(f"sample_channel must be 'A' or 1–16, got {channel!r}") from None
        if not 1 <= number <= 16:
            raise ValueError(f"sample_channel must be 'A' or 1–16, got {channel!r}")
        return f"ch{number:02}"

    @property
    def sample(self) -> LakeshoreModel372Channel:
        """The sample thermometer channel (``sample_channel``)."""
        return self.submodules[self._sample_channel_name]  # type: ignore[return-value]

    @property
    def sample_channel_id(self) -> str:
        """The sample channel as the instrument names it ("A" or "1"…"16")."""
        return self.sample.channel_id

    # -- safety -----------------------------------------------------------------------

    def _guard(self, line: str) -> None:
        """Raise SafetyError if ``line`` would set an unsafe sample-heater range or
        setpoint; called for every line before it is sent."""
        for command in line.split(";"):
            match = _COMMAND_RE.match(command)
            if match is None:
                continue
            mnemonic = match.group(1).upper()
            if mnemonic.endswith("?"):
                continue
            self.check_film_write(command)
            args = [a.strip() for a in match.group(2).split(",")] if match.group(2) else []
            if mnemonic not in ("RANGE", "SETP", "ZONE") or not args:
                continue
            try:
                output = int(float(args[0]))
            except ValueError:
                continue
            if output != SAMPLE_HEATER:
                continue
            try:
                if mnemonic == "RANGE" and len(args) >= 2:
                    self.safety.check_heater_range(int(float(args[1])))
                elif mnemonic == "SETP" and len(args) >= 2:
                    self.safety.check_temperature(float(args[1]))
                elif mnemonic == "ZONE" and len(args) >= 8:
                    self.safety.check_heater_range(int(float(args[7])))
            except SafetyError as exc:
                raise SafetyError(f"{self.name}: refused {command.strip()!r}: {exc}") from None

    # -- scanner, status -------------------------------------------------------------

    def scan(self, channel: int, autoscan: bool = False) -> None:
        """Put the scanner on ``channel`` (1–16), autoscan on/off (one ``SCAN`` write)."""
        self.scanner_group.set_parameters({"scan_channel": channel, "autoscan": autoscan})

    @staticmethod
    def decode_status(bits: int) -> list[str]:
        """Names of the ``RDGST?`` bits set in ``bits`` (empty list: valid reading)."""
        names = LakeshoreModel372Channel.SENSOR_STATUSES
        return [names[b] for b in sorted(names) if b and bits & b]

    # -- bands and zones -------------------------------------------------------------

    def read_zones(self, output: int = SAMPLE_HEATER) -> tuple[HeaterBand, ...]:
        """The instrument's ZONE table as bands (zones with upper > 0 and range > 0)."""
        bands: dict[float, HeaterBand] = {}
        for zone in range(1, N_ZONES + 1):
            fields = [f.strip() for f in self.ask(f"ZONE? {output},{zone}").split(",")]
            upper, p, i, d = (float(f) for f in fields[:4])
            heater_range = int(float(fields[5]))
            if upper > 0 and 1 <= heater_range <= MAX_SAMPLE_RANGE and upper not in bands:
                bands[upper] = HeaterBand(upper, heater_range, p, i, d)
        return tuple(sorted(bands.values()))

    def write_zones(self, bands: Sequence[Mapping[str, Any] | HeaterBand] | None = None) -> None:
        """Write ``bands`` (default: the configured ones) into the sample heater's ZONE
        table (at most 10); unused zones repeat the last band. Every range is checked
        against safety.max_heater_range before the first write."""
        table = self.bands if bands is None else validate_bands(bands)
        if table is None:
            raise ValueError("no bands configured")
        if len(table) > N_ZONES:
            raise ValueError(f"the ZONE table holds {N_ZONES} bands, got {len(table)}")
        for band in table:
            self.safety.check_heater_range(band.range)
        rows = list(table) + [table[-1]] * (N_ZONES - len(table))
        for zone, band in enumerate(rows, start=1):
            self.write(
                f"ZONE {SAMPLE_HEATER},{zone},{band.upper:g},{band.P:g},{band.I:g},"
                f"{band.D:g},0,{band.range},0,0,0"
            )

    def band_for(self, temperature: float) -> HeaterBand:
        """The band whose range covers ``temperature`` (K): the lowest ``upper`` ≥ T.

        Uses the configured bands, else the instrument's ZONE table.

        Raises:
            ValueError: no band covers ``temperature`` or none is configured.
        """
        try:
            return band_for(temperature, self._bands())
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None

    def _bands(self) -> tuple[HeaterBand, ...]:
        """The configured bands, else the instrument's ZONE table."""
        return self.bands if self.bands is not None else self.read_zones()

    def _set_range(self, heater_range: int) -> None:
        heater = self.sample_heater
        heater.output_range(heater.INVERSE_RANGES[int(heater_range)])

    def apply_band(self, temperature: float) -> HeaterBand:
        """Set the sample heater's PID and RANGE for ``temperature`` (K).

        The range is checked against safety.max_heater_range before anything is written.
        Returns the band applied.
        """
        band = self.band_for(temperature)
        self.safety.check_heater_range(band.range)
        self.sample_heater.pid_group.set_parameters({"P": band.P, "I": band.I, "D": band.D})
        self._set_range(band.range)
        return band

    def sample_temperature(self) -> float:
        """The sample thermometer's reading (K)."""
        return float(self.sample.temperature())

    def set_temperature(self, temperature: float) -> HeaterBand:
        """Regulate the sample at ``temperature`` (K).

        Checks ``temperature`` ≤ safety.max_temperature and the band's heater range ≤
        safety.max_heater_range before any write (:func:`check_temperature_setpoint`);
        then puts the sample heater in closed loop on the sample channel (``OUTMODE``
        only if it differs), writes ``SETP``, then the band's PID and ``RANGE``
        (:meth:`apply_band`). Returns the band used.
        """
        self.check_setpoint_allowed(temperature)  # every check before the first write
        heater = self.sample_heater
        heater.output_group.update()
        wanted_input = parse_input_channel(self.sample_channel_id)
        if heater.mode.get_latest() != "closed_loop" or heater.input_channel.get_latest() != (
            wanted_input
        ):
            heater.output_group.set_parameters(
                {"mode": "closed_loop", "input_channel": wanted_input}
            )
        heater.setpoint(float(temperature))
        return self.apply_band(temperature)

    def check_setpoint_allowed(self, temperature: float) -> None:
        """Raise SafetyError/ValueError unless ``temperature`` (K) is a setpoint within
        safety.max_temperature whose band's heater range is allowed (nothing written)."""
        try:
            check_temperature_setpoint(temperature, self._bands(), self.safety)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None

    def safe_state(self, heater_range: int | None = None) -> None:
        """Turn the sample heater to a safe range (default ``safe_heater_range``, 0 = off).

        The setpoint and control mode are left alone.
        """
        target = self.safe_heater_range if heater_range is None else int(heater_range)
        self.safety.check_heater_range(target)
        self._set_range(target)

    # -- waiting ---------------------------------------------------------------------

    def _sleep(self, seconds: float, should_stop: Callable[[], bool] | None) -> bool:
        """Sleep ``seconds`` of world time in ≤ 0.1 s wall slices; True if aborted."""
        end = self.clock.now() + seconds
        slice_world = 0.1 * self.clock.speedup
        while True:
            if should_stop is not None and should_stop():
                return True
            remaining = end - self.clock.now()
            if remaining <= 0:
                return False
            self.clock.sleep(min(remaining, slice_world))

    def wait_until_stable(
        self,
        setpoint: float,
        tolerance: float | None = None,
        hold_time: float = 60.0,
        timeout: float = 3600.0,
        poll: float = 2.0,
        should_stop: Callable[[], bool] | None = None,
        *,
        window: float | None = None,
        max_rate: float | None = None,
    ) -> SettlingTrace:
        """Wait until the sample temperature is stable at ``setpoint``; never raises on
        timeout — check ``.stable`` of the returned trace.

        Stable means, continuously for ``hold_time``: |T − setpoint| ≤ ``tolerance``
        (default max(0.5 % T, 0.3 mK)), |dT/dt| ≤ ``max_rate`` (default
        tolerance / hold_time, slope of a least-squares line over the last ``window``
        seconds, default max(hold_time / 2, 3 poll), at least 3 readings) and ``RDGST?`` = 0.

        Args:
            setpoint: target temperature (K).
            tolerance: allowed |T − setpoint| (K).
            hold_time: how long both conditions must hold (world s).
            timeout: the wait ends unstable after this long (world s).
            poll: time between readings (world s).
            should_stop: polled at least every 0.1 wall s; True aborts the wait.
            window: time span of the slope fit (world s).
            max_rate: allowed |dT/dt| (K/s).

        Returns:
            SettlingTrace with ``stable`` and ``reason`` ("stable", "timeout …",
            "aborted"). The wait ends within about one reading (three queries) of
            ``timeout``; ``should_stop`` is honoured within 0.1 wall s while sleeping.
        """
        if not (hold_time >= 0 and timeout > 0 and poll > 0):
            raise ValueError("hold_time >= 0, timeout > 0 and poll > 0 are required")
        tol = default_tolerance(setpoint) if tolerance is None else float(tolerance)
        watch = StabilityWatch(
            setpoint=float(setpoint),
            tolerance=tol,
            max_rate=(tol / max(hold_time, poll)) if max_rate is None else float(max_rate),
            hold_time=hold_time,
            window=max(hold_time / 2, 3 * poll) if window is None else float(window),
        )
        t0 = self.clock.now()
        read_time = 0.0  # world s one reading takes (decaying maximum)
        while True:
            if should_stop is not None and should_stop():
                return watch.trace(False, "aborted")
            started = self.clock.now()
            reading = self._read_sample()
            finished = self.clock.now()
            read_time = max(finished - started, 0.5 * read_time)
            now = finished - t0
            stable = watch.add(now, *reading)
            if self.settling_listener is not None:
                self.settling_listener(watch, now, timeout)
            if stable:
                return watch.trace(True, "stable")
            remaining = timeout - now
            if remaining <= read_time:  # another reading would end after the timeout
                return watch.trace(False, watch.timeout_reason())
            if self._sleep(min(poll, remaining - read_time), should_stop):
                return watch.trace(False, "aborted")

    def _read_sample(self) -> tuple[float, float, int]:
        """One reading: sample temperature (K), sample heater (% of range), RDGST bits."""
        channel = self.sample
        temperature = float(channel.temperature())
        heater = float(self.sample_heater.output())
        return temperature, heater, int(channel.status_bits())
