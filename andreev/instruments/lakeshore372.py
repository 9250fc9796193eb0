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

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import qcodes.validators as vals
from qcodes.instrument_drivers.Lakeshore import LakeshoreModel372 as _StockModel372
from qcodes.instrument_drivers.Lakeshore.Lakeshore_model_372 import (
    LakeshoreModel372Channel as _StockChannel,
)
from qcodes.instrument_drivers.Lakeshore.Lakeshore_model_372 import (
    LakeshoreModel372Output as _StockOutput,
)
from qcodes.parameters import Group, GroupParameter, Parameter

from andreev.clock import REAL_TIME, Clock
from andreev.errors import SafetyError
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits
from andreev.instruments.visa_reconnect import ReconnectingVisaMixin

__all__ = [
    "HeaterBand",
    "LakeshoreModel372",
    "LakeshoreModel372Channel",
    "LakeshoreModel372Output",
    "SettlingTrace",
    "band_for",
    "check_temperature_setpoint",
    "setpoint_problem",
    "validate_bands",
]

log = logging.getLogger(__name__)

SAMPLE_HEATER = 0
N_ZONES = 10
_MAX_SAMPLE_RANGE = 8
_COMMAND_RE = re.compile(r"^\s*([A-Za-z*]+\??)\s*(.*)$")


# -- heater bands -----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class HeaterBand:
    """Sample-heater range and PID used for setpoints up to ``upper`` (K, inclusive).

    Attributes:
        upper: upper edge of the band (K).
        range: sample-heater range index 1–8 (1 = 31.6 µA … 8 = 100 mA).
        P: proportional gain (0–1000).
        I: integral (0–10000).
        D: derivative (0–2500).
    """

    upper: float
    range: int
    P: float
    I: float
    D: float

    def as_dict(self) -> dict[str, float | int]:
        """The band as ``{upper, range, P, I, D}``."""
        return {"upper": self.upper, "range": self.range, "P": self.P, "I": self.I, "D": self.D}


_BAND_KEYS = ("upper", "range", "P", "I", "D")
_BAND_LIMITS = {"P": (0.0, 1000.0), "I": (0.0, 10000.0), "D": (0.0, 2500.0)}


def _band_from_mapping(item: Mapping[str, Any] | HeaterBand, index: int) -> HeaterBand:
    if isinstance(item, HeaterBand):
        item = item.as_dict()
    if not isinstance(item, Mapping):
        raise ValueError(f"bands[{index}]: expected a mapping {{upper, range, P, I, D}}")
    missing = [k for k in _BAND_KEYS if k not in item]
    extra = [k for k in item if k not in _BAND_KEYS]
    if missing or extra:
        raise ValueError(
            f"bands[{index}]: keys must be exactly {list(_BAND_KEYS)} "
            f"(missing {missing}, unknown {extra})"
        )
    upper = float(item["upper"])
    if not (math.isfinite(upper) and upper > 0):
        raise ValueError(f"bands[{index}].upper: must be a positive temperature (K), got {upper}")
    heater_range = item["range"]
    if isinstance(heater_range, bool) or int(heater_range) != heater_range:
        raise ValueError(f"bands[{index}].range: must be an integer 1–8, got {heater_range!r}")
    heater_range = int(heater_range)
    if not 1 <= heater_range <= _MAX_SAMPLE_RANGE:
        raise ValueError(f"bands[{index}].range: must be 1–8, got {heater_range}")
    gains = {}
    for key, (low, high) in _BAND_LIMITS.items():
        value = float(item[key])
        if not low <= value <= high:
            raise ValueError(f"bands[{index}].{key}: must be {low:g}–{high:g}, got {value}")
        gains[key] = value
    return HeaterBand(upper=upper, range=heater_range, **gains)


def validate_bands(bands: Iterable[Mapping[str, Any] | HeaterBand]) -> tuple[HeaterBand, ...]:
    """Check and sort heater bands (by ``upper``).

    Raises:
        ValueError: a band is malformed (keys, range 1–8, PID limits) or two bands
            share an upper edge, or the list is empty.
    """
    parsed = sorted(_band_from_mapping(item, i) for i, item in enumerate(bands))
    if not parsed:
        raise ValueError("bands: at least one band is needed")
    uppers = [b.upper for b in parsed]
    if len(set(uppers)) != len(uppers):
        raise ValueError(f"bands: upper edges must be distinct, got {uppers}")
    return tuple(parsed)


def band_for(temperature: float, bands: Sequence[HeaterBand]) -> HeaterBand:
    """The band of ``bands`` (sorted, :func:`validate_bands`) that covers ``temperature``
    (K): the lowest ``upper`` ≥ T. ValueError when none does or there are none."""
    if not bands:
        raise ValueError("no heater bands configured and the ZONE table is empty")
    for band in bands:
        if temperature <= band.upper:
            return band
    raise ValueError(
        f"no heater band covers {temperature:g} K (highest band ends at {bands[-1].upper:g} K)"
    )


def check_temperature_setpoint(
    temperature: float, bands: Sequence[HeaterBand] | None, safety: SafetyLimits
) -> HeaterBand | None:
    """The checks :meth:`LakeshoreModel372.set_temperature` makes before its first write:
    ``temperature`` (K) ≤ safety.max_temperature, and the heater range of the band that
    covers it ≤ safety.max_heater_range (SafetyError); a band must cover it (ValueError).
    With ``bands`` None (the instrument's ZONE table, unknown without it) only the
    temperature is checked. Returns the band, or None."""
    safety.check_temperature(temperature)
    if bands is None:
        return None
    band = band_for(temperature, bands)
    safety.check_heater_range(band.range)
    return band


def setpoint_problem(
    temperature: float,
    bands: Iterable[Mapping[str, Any] | HeaterBand] | None,
    safety: SafetyLimits,
) -> str | None:
    """Why :meth:`LakeshoreModel372.set_temperature` would refuse ``temperature`` (K) with
    these ``bands`` (as in the station file) and limits, or None: the dry run's form of
    :func:`check_temperature_setpoint`."""
    try:
        check_temperature_setpoint(
            temperature, None if bands is None else validate_bands(bands), safety
        )
    except (SafetyError, ValueError) as exc:
        return str(exc)
    return None


# -- settling trace -------------------------------------------------------------------


@dataclass
class SettlingTrace:
    """What :meth:`LakeshoreModel372.wait_until_stable` saw.

    Attributes:
        t: world seconds since the wait started (s).
        temperature: sample temperature (K).
        heater: sample-heater output (% of range).
        status: ``RDGST?`` bits of the sample channel.
        stable: True if the stability criterion was met.
        reason: why the wait ended ("stable", "timeout: …", "aborted").
        setpoint: the target temperature (K).
        tolerance: the |T − T_set| tolerance used (K).
        max_rate: the |dT/dt| limit used (K/s).
    """

    t: np.ndarray
    temperature: np.ndarray
    heater: np.ndarray
    status: np.ndarray
    stable: bool
    reason: str
    setpoint: float
    tolerance: float
    max_rate: float
    rate: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def elapsed(self) -> float:
        """World seconds the wait took (s)."""
        return float(self.t[-1]) if len(self.t) else 0.0


def default_tolerance(temperature: float) -> float:
    """Default stability tolerance |T − T_set| (K): max(0.5 % T, 0.3 mK)."""
    return max(0.005 * abs(temperature), 0.3e-3)


def _fit_slope(t: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope dy/dt."""
    tc = t - t.mean()
    denom = float(np.dot(tc, tc))
    return float(np.dot(tc, y - y.mean()) / denom) if denom > 0 else math.inf


@dataclass
class _Watch:
    """The readings of one :meth:`LakeshoreModel372.wait_until_stable` and the stability
    criterion over them (K, world s since the wait started)."""

    setpoint: float
    tolerance: float
    max_rate: float
    hold_time: float
    window: float
    t: list[float] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)
    heater: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    good_since: float | None = None

    def add(self, now: float, temperature: float, heater: float, status: int) -> bool:
        """Record a reading at ``now``; True once the criterion held for hold_time."""
        self.t.append(now)
        self.temperature.append(temperature)
        self.heater.append(heater)
        self.status.append(status)
        rate = self._rate(now)
        self.rate.append(rate)
        good = (
            abs(temperature - self.setpoint) <= self.tolerance
            and abs(rate) <= self.max_rate
            and status == 0
        )
        if not good:
            self.good_since = None
            return False
        if self.good_since is None:
            self.good_since = now
        return now - self.good_since >= self.hold_time

    def _rate(self, now: float) -> float:
        """dT/dt (K/s) fitted over the last ``window``; inf until it holds 3 readings
        spanning half the window."""
        t_arr = np.asarray(self.t)
        recent = t_arr >= now - self.window
        if recent.sum() >= 3 and now - t_arr[recent][0] >= 0.5 * self.window:
            return _fit_slope(t_arr[recent], np.asarray(self.temperature)[recent])
        return math.inf

    def timeout_reason(self) -> str:
        """The reason of a wait that ran out of time, with the last reading."""
        return (
            f"timeout: not stable at {self.setpoint:g} K after {self.t[-1]:.4g} s "
            f"(last T {self.temperature[-1]:.6g} K, dT/dt {self.rate[-1]:.3g} K/s, "
            f"RDGST {self.status[-1]})"
        )

    def trace(self, stable: bool, reason: str) -> SettlingTrace:
        """The :class:`SettlingTrace` of the readings so far."""
        return SettlingTrace(
            t=np.asarray(self.t, dtype=float),
            temperature=np.asarray(self.temperature, dtype=float),
            heater=np.asarray(self.heater, dtype=float),
            status=np.asarray(self.status, dtype=int),
            stable=stable,
            reason=reason,
            setpoint=float(self.setpoint),
            tolerance=self.tolerance,
            max_rate=self.max_rate,
            rate=np.asarray(self.rate, dtype=float),
        )


# -- qcodes channels -------------------------------------------------------------------


def _parse_input_channel(raw: str | int) -> int | str:
    text = str(raw).strip().strip('"')
    if text.upper() == "A":
        return "A"
    return int(float(text))


class LakeshoreModel372Channel(_StockChannel):
    """A sensor channel (1–16 or the control input ``A``) with ``status_bits``."""

    def __init__(self, parent: Any, name: str, channel: str, **kwargs: Any) -> None:
        super().__init__(parent, name, channel, **kwargs)
        self.status_bits: Parameter = self.add_parameter(
            "status_bits",
            get_cmd=f"RDGST? {self._channel}",
            get_parser=int,
            label="Reading status bits",
            docstring="RDGST? as an int: 1 CS OVL, 2 VCM OVL, 4 VMIX OVL, 8 VDIF OVL, "
            "16 R.OVER, 32 R.UNDER, 64 T.OVER, 128 T.UNDER; 0 = valid reading.",
        )
        """RDGST? as an int (0 = valid reading)."""
        # stock qcodes passes Strings(15), i.e. a *minimum* length of 15; the 372 takes
        # names of at most 15 characters
        self.sensor_name.vals = vals.Strings(0, 15)

    @property
    def channel_id(self) -> str:
        """The channel as the instrument names it ("1"…"16" or "A")."""
        return self._channel


class LakeshoreModel372Output(_StockOutput):
    """A heater output; control input may be 1–16 or ``A``; HTRSET in the 372 form.

    ``output_heater_resistance`` (Ω), ``output_max_current`` (0 user, 1 0.45 A,
    2 0.63 A; warm-up heater only, 0 for the others), ``output_max_user_current`` (A)
    and ``output_display`` ("current"/"power") form the group
    ``HTRSET <out>,<resistance>,<max current>,<max user current>,<1|2>``; the stock
    336-only ``output_type`` is removed.
    """

    _input_channel_parameter_kwargs: ClassVar[dict[str, Any]] = {
        "get_parser": _parse_input_channel,
        "vals": vals.MultiType(vals.Ints(1, 16), vals.Enum("A")),
    }

    def __init__(self, parent: Any, output_name: str, output_index: int, **kwargs: Any) -> None:
        super().__init__(parent, output_name, output_index, **kwargs)
        # The stock setpoint sleeps 0.5 s wall after each SETP (a read-back may show the
        # old value); we never read it back at once, and waits belong on the world clock.
        self.setpoint.post_delay = 0
        self.setpoint.vals = vals.Numbers(0, 400)
        for stale in (
            "output_type",
            "output_heater_resistance",
            "output_max_current",
            "output_max_user_current",
            "output_display",
        ):
            self.remove_parameter(stale)
        self.output_heater_resistance: GroupParameter = self.add_parameter(
            "output_heater_resistance",
            label="Heater resistance",
            unit="Ohm",
            vals=vals.Numbers(1, 2000),
            set_parser=lambda v: f"{float(v):g}",
            get_parser=float,
            parameter_class=GroupParameter,
        )
        """Heater resistance (Ω; sample heater 1–2000 Ω, warm-up 25 or 50 Ω)."""
        self.output_max_current: GroupParameter = self.add_parameter(
            "output_max_current",
            label="Max current setting",
            vals=vals.Ints(0, 2),
            get_parser=lambda v: int(float(v)),
            parameter_class=GroupParameter,
        )
        """Max current (warm-up heater: 0 user, 1 0.45 A, 2 0.63 A; 0 otherwise)."""
        self.output_max_user_current: GroupParameter = self.add_parameter(
            "output_max_user_current",
            label="Max user current",
            unit="A",
            vals=vals.Numbers(0, 0.63),
            set_parser=lambda v: f"{float(v):g}",
            get_parser=float,
            parameter_class=GroupParameter,
        )
        """Max user current (A; warm-up heater only, 0 otherwise)."""
        self.output_display: GroupParameter = self.add_parameter(
            "output_display",
            label="Heater display",
            val_mapping={"current": 1, "power": 2},
            parameter_class=GroupParameter,
        )
        """Heater output display: current or power."""
        self.heater_group = Group(
            [
                self.output_heater_resistance,
                self.output_max_current,
                self.output_max_user_current,
                self.output_display,
            ],
            set_cmd=f"HTRSET {output_index},{{output_heater_resistance}},"
            f"{{output_max_current}},{{output_max_user_current}},{{output_display}}",
            get_cmd=f"HTRSET? {output_index}",
        )

    def configure_heater(self, resistance: float, display: str = "current") -> None:
        """Write ``HTRSET <out>,<resistance>,0,0,<1|2>`` in one command (Ω)."""
        self.heater_group.set_parameters(
            {
                "output_heater_resistance": resistance,
                "output_max_current": 0,
                "output_max_user_current": 0.0,
                "output_display": display,
            }
        )


# -- the instrument --------------------------------------------------------------------


class LakeshoreModel372(ReconnectingVisaMixin, _StockModel372):
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
        **kwargs: Any,
    ) -> None:
        self.safety = safety
        self.clock = clock if clock is not None else REAL_TIME
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
            if upper > 0 and 1 <= heater_range <= _MAX_SAMPLE_RANGE and upper not in bands:
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
        try:  # every check before the first write (OUTMODE)
            check_temperature_setpoint(temperature, self._bands(), self.safety)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        heater = self.sample_heater
        heater.output_group.update()
        wanted_input = _parse_input_channel(self.sample_channel_id)
        if heater.mode.get_latest() != "closed_loop" or heater.input_channel.get_latest() != (
            wanted_input
        ):
            heater.output_group.set_parameters(
                {"mode": "closed_loop", "input_channel": wanted_input}
            )
        heater.setpoint(float(temperature))
        return self.apply_band(temperature)

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
        watch = _Watch(
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
            if watch.add(now, *reading):
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
