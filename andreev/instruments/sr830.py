"""Stanford Research SR830 lock-in: qcodes' stock driver plus what a dI/dV sweep needs.

Lab wiring (see ``docs/architecture.md``): the SR830 sine output (``SLVL``, V rms) goes
through a summing box that divides it by ``1/modulation_divider`` (default 1e-3, i.e.
1 V rms → 1 mV rms) and adds it to the Nanonis bias; the STM current preamplifier
(gain G in V/A) feeds input A. The in-phase output therefore is

    X (V rms) = dI/dV (S) × SLVL (V rms) × modulation_divider × G (V/A),

so ``dI/dV = X / (modulation_rms × G)`` with ``modulation_rms = SLVL × modulation_divider``
(V rms at the junction) — :meth:`SR830.didv_from_x`.

The instrument is reached over GPIB or a Prologix GPIB–Ethernet adapter (raw TCP):
commands and replies end ``\\n``; ``OUTX 1`` (``OUTX 0`` on a serial port) is sent
before the first query so replies come back on the interface in use. Nothing here is
simulator specific. Lost connections are re-opened, silent queries raise
:class:`~andreev.instruments.visa_reconnect.InstrumentTimeoutError` (see
:mod:`andreev.instruments.visa_reconnect`).
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from typing import Any

import numpy as np
from qcodes.instrument_drivers.stanford_research import SR830 as _StockSR830
from qcodes.parameters import Parameter
from qcodes.validators import Numbers, Validator
from scipy.special import gammainccinv

from andreev.clock import REAL_TIME, Clock
from andreev.errors import SafetyError
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits, refuse_limits_left_behind
from andreev.instruments.visa_reconnect import ReconnectingVisaMixin

__all__ = [
    "AMPLITUDE_RANGE",
    "SLOPE_POLES",
    "SR830",
    "SR830_TIME_CONSTANTS",
    "LegalSensitivity",
    "check_modulation",
    "filter_settle_time",
    "modulation_problem",
    "settle_time_constants",
    "time_constant_problem",
]

log = logging.getLogger(__name__)

#: filter slopes (dB/oct) and the number of RC poles each means
SLOPE_POLES: dict[int, int] = {6: 1, 12: 2, 18: 3, 24: 4}
#: the sine output's amplitude range (``SLVL``, V rms)
AMPLITUDE_RANGE: tuple[float, float] = (0.004, 5.0)
_LIAS_OVERLOAD_BITS = 0b111  # input/amplifier, filter, output overload
_LIAS_NAMES = {
    0: "input/amplifier overload",
    1: "filter overload",
    2: "output overload",
    3: "reference unlock",
    4: "frequency range switch",
    5: "time constant changed",
    6: "data storage triggered",
}
_SLVL_RE = re.compile(r"^\s*SLVL\s+([-+0-9.eE]+)\s*$", re.IGNORECASE)


#: the SR830's time constants (s), OFLT 0 … 19 (the stock driver's ``time_constant``
#: takes exactly these values)
SR830_TIME_CONSTANTS: tuple[float, ...] = (
    10e-6, 30e-6, 100e-6, 300e-6, 1e-3, 3e-3, 10e-3, 30e-3, 100e-3, 300e-3,
    1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 10e3, 30e3,
)  # fmt: skip


def time_constant_problem(time_constant: float) -> str | None:
    """Why the lock-in cannot be set to ``time_constant`` (s): not one of the SR830's
    :data:`SR830_TIME_CONSTANTS` (the nearest is named; the dry run asks before the
    run file exists). None when it can."""
    tau = float(time_constant)
    if tau in SR830_TIME_CONSTANTS:
        return None
    nearest = min(SR830_TIME_CONSTANTS, key=lambda t: abs(math.log(t / tau)) if tau > 0 else t)
    return (
        f"time constant {tau:g} s is not one the SR830 has (1 or 3 × 10^n s from 10 µs to "
        f"30 ks); the nearest is {nearest:g} s"
    )


def settle_time_constants(poles: int, precision: float = 0.999) -> float:
    """Settling time of ``poles`` identical RC poles, in time constants.

    Solves ``e^{-x} Σ_{k<n} x^k/k! = 1 − precision`` for x (the residual of a step
    after x τ is the regularised upper incomplete gamma function Q(n, x)).

    Args:
        poles: number of poles n (1–4 for 6–24 dB/oct).
        precision: settled fraction of the step, 0 < precision < 1.
    """
    if poles < 1:
        raise ValueError(f"poles must be >= 1, got {poles}")
    if not 0.0 < precision < 1.0:
        raise ValueError(f"precision must be in (0, 1), got {precision}")
    return float(gammainccinv(poles, 1.0 - precision))


def filter_settle_time(time_constant: float, slope: int, precision: float = 0.999) -> float:
    """World seconds for the output filter to settle to ``precision`` after a step:
    ``time_constant`` (s) × :func:`settle_time_constants` of the ``slope``'s poles
    (6, 12, 18 or 24 dB/oct; ValueError otherwise)."""
    try:
        poles = SLOPE_POLES[int(slope)]
    except KeyError:
        raise ValueError(f"filter slope must be one of {sorted(SLOPE_POLES)} dB/oct") from None
    return settle_time_constants(poles, precision) * float(time_constant)


def modulation_problem(rms_at_junction: float, divider: float) -> str | None:
    """Why the SR830 cannot give ``rms_at_junction`` (V rms at the junction) through a
    summing box of ``divider`` (junction V per SLVL V): the SLVL needed lies outside
    :data:`AMPLITUDE_RANGE`. None when it can."""
    if not divider > 0:
        return f"modulation_divider must be > 0, got {divider!r}"
    slvl = float(rms_at_junction) / float(divider)
    low, high = AMPLITUDE_RANGE
    if low <= slvl <= high:
        return None
    return (
        f"{rms_at_junction:g} V needs an SR830 amplitude of {slvl:g} V with "
        f"modulation_divider {divider:g}; the SR830 gives {low:g} … {high:g} V"
    )


def check_modulation(rms_at_junction: float, divider: float, safety: SafetyLimits) -> None:
    """Everything a modulation of ``rms_at_junction`` (V rms at the junction) must pass
    before it is set: the SR830's amplitude range (ValueError, :func:`modulation_problem`)
    and the peak within safety.max_bias (SafetyError, the driver's own guard)."""
    reason = modulation_problem(rms_at_junction, divider)
    if reason is not None:
        raise ValueError(reason)
    safety.check_modulation(rms_at_junction)


class LegalSensitivity(Validator[float]):
    """Accepts only the SR830's 27 sensitivities (V or A, 1-2-5 steps); floats within
    a relative 1e-6 of a legal value (e.g. ``10**-6``) are accepted."""

    is_numeric = True

    def __init__(self, legal: list[float], unit: str) -> None:
        self._legal = sorted(float(v) for v in legal)
        self._unit = unit
        self._valid_values = tuple(self._legal)

    def nearest_index(self, value: float) -> int | None:
        """Index (0–26) of the legal value matching ``value``, or None."""
        for i, legal in enumerate(self._legal):
            if math.isclose(float(value), legal, rel_tol=1e-6):
                return i
        return None

    def validate(self, value: float, context: str = "") -> None:
        try:
            ok = isinstance(value, (int, float, np.floating, np.integer)) and (
                self.nearest_index(float(value)) is not None
            )
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"{value!r} is not a legal SR830 sensitivity ({self._unit}); allowed: "
                f"{', '.join(f'{v:g}' for v in self._legal)}; {context}"
            )

    def __repr__(self) -> str:
        return f"<LegalSensitivity {self._legal[0]:g}…{self._legal[-1]:g} {self._unit}>"


class SR830(ReconnectingVisaMixin, _StockSR830):
    """SR830 lock-in amplifier (qcodes' driver, subclassed).

    Args:
        name: qcodes instrument name.
        address: VISA resource, e.g. ``GPIB0::8::INSTR`` or
            ``TCPIP0::prologix-host::1234::SOCKET``.
        safety: hard limits (default :data:`~andreev.instruments.safety.DEFAULT_LIMITS`);
            the modulation peak at the junction (√2 × SLVL × modulation_divider) must
            stay within ``safety.max_bias``.
        clock: world clock used for all waits (default: real time).
        modulation_divider: junction modulation volts per SLVL volt (summing box).
        **kwargs: forwarded to the qcodes driver (``visalib="@py"``, ``timeout`` …).
    """

    default_terminator = "\n"

    def __init__(
        self,
        name: str,
        address: str,
        *,
        safety: SafetyLimits = DEFAULT_LIMITS,
        clock: Clock | None = None,
        modulation_divider: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        refuse_limits_left_behind(name, safety)
        if not modulation_divider > 0:
            raise ValueError(f"modulation_divider must be > 0, got {modulation_divider!r}")
        self.safety = safety
        self.clock = clock if clock is not None else REAL_TIME
        self.modulation_divider = float(modulation_divider)
        self._interface_selected = False
        with warnings.catch_warnings():
            # the stock driver's buffer parameters trip a qcodes deprecation warning
            # that is not ours to fix; keep it off the experimenter's console
            warnings.filterwarnings("ignore", message=r"Parameter ch\d_databuffer")
            super().__init__(name, address, **kwargs)
        # stock qcodes maps to "0\n"/"1\n", which never matches a terminated reply
        self.remove_parameter("output_interface")
        self.output_interface: Parameter = self.add_parameter(
            "output_interface",
            label="Output interface",
            get_cmd="OUTX?",
            set_cmd="OUTX {}",
            val_mapping={"RS232": 0, "GPIB": 1},
        )
        """Interface the instrument replies on (``OUTX``)."""
        self.amplitude.vals = Numbers(*AMPLITUDE_RANGE)

    # -- wiring into the stock driver ---------------------------------------------------

    def set_terminator(self, terminator: str | None) -> None:
        """Set terminators; on the first call (during ``__init__``, before any query)
        also select the reply interface with ``OUTX``."""
        super().set_terminator(terminator)
        if not self._interface_selected:
            self._interface_selected = True
            serial = self.visa_handle.resource_name.upper().startswith("ASRL")
            self.visa_handle.write("OUTX 0" if serial else "OUTX 1")

    def _install_sensitivity_validator(self, mode: str) -> None:
        if mode in ("a", "a-b"):
            self.sensitivity.vals = LegalSensitivity(list(self._N_TO_VOLT.values()), "V")
        else:
            self.sensitivity.vals = LegalSensitivity(list(self._N_TO_CURR.values()), "A")

    def _get_input_config(self, s: int) -> str:
        mode = super()._get_input_config(s)
        self._install_sensitivity_validator(mode)
        return mode

    def _set_input_config(self, s: str) -> int:
        n = super()._set_input_config(s)
        self._install_sensitivity_validator(s)
        return n

    def _set_sensitivity(self, s: float) -> int:
        mode = self.input_config()
        table = self._N_TO_VOLT if mode in ("a", "a-b") else self._N_TO_CURR
        for n, value in table.items():
            if math.isclose(float(s), float(value), rel_tol=1e-6):
                return n
        raise ValueError(f"{s!r} is not a legal SR830 sensitivity")

    def _guard(self, cmd: str) -> None:
        """Refuse a line that would set an unsafe modulation amplitude (SafetyError):
        SLVL × modulation_divider through :meth:`SafetyLimits.check_modulation`."""
        for part in cmd.split(";"):
            match = _SLVL_RE.match(part)
            if match is None:
                continue
            try:
                self.safety.check_modulation(float(match.group(1)) * self.modulation_divider)
            except SafetyError as exc:
                raise SafetyError(
                    f"{self.name}: refused SLVL {match.group(1)} V rms (modulation_divider "
                    f"{self.modulation_divider:g}): {exc}"
                ) from None

    # -- measurement helpers ------------------------------------------------------------

    def settle_time(self, precision: float = 0.999, *, refresh: bool = False) -> float:
        """World seconds for the output filter to settle to ``precision`` after a step.

        Returns x·τ, x from :func:`settle_time_constants` (:func:`filter_settle_time`),
        with the time constant and slope as this driver last set or read them; they are
        read (``OFLT?``, ``OFSL?``) the first time, and with ``refresh`` (the instrument
        may change the time constant itself, e.g. on a range switch).
        """
        if refresh:
            tau, slope = self.time_constant(), self.filter_slope()
        else:
            tau = self.time_constant.cache.get(get_if_invalid=True)
            slope = self.filter_slope.cache.get(get_if_invalid=True)
        return filter_settle_time(float(tau), int(slope), precision)

    def wait_settled(self, precision: float = 0.999) -> float:
        """Sleep :meth:`settle_time` on ``clock``; returns the time waited (s)."""
        wait = self.settle_time(precision)
        self.clock.sleep(wait)
        return wait

    def read_xy(self) -> tuple[float, float]:
        """X and Y (V rms, or A in current modes) at one instant, via ``SNAP? 1,2`` (the
        query written out: this is every point's read)."""
        x, y = self.ask("SNAP? 1,2").split(",")
        return float(x), float(y)

    def lia_status(self) -> int:
        """Latched LIA status bits (``LIAS?``; reading clears them) as an int.

        Bits: 0 input/amplifier overload, 1 filter overload, 2 output overload,
        3 reference unlock, 4 frequency range switch, 5 time constant changed by the
        instrument, 6 data storage triggered.
        """
        return int(self.ask("LIAS?"))

    @staticmethod
    def decode_lia_status(bits: int) -> list[str]:
        """Names of the bits set in a ``LIAS?`` value."""
        return [name for bit, name in _LIAS_NAMES.items() if bits & (1 << bit)]

    def overloaded(self) -> bool:
        """True if any overload bit (input, filter, output; LIAS bits 0–2) has latched
        since the last ``LIAS?`` read. Clears the latched bits."""
        return bool(self.lia_status() & _LIAS_OVERLOAD_BITS)

    def autorange_settled(
        self, max_changes: int = 26, precision: float = 0.999, headroom: float = 1.0
    ) -> int:
        """Adjust the sensitivity until the signal is in range, letting it settle.

        Each round reads R and the latched overload bits: on an overload or
        R > 0.9 × full scale / ``headroom`` the sensitivity is made coarser, on
        R < 0.1 × full scale / ``headroom`` finer (``headroom`` > 1 leaves room for a
        signal that will grow during a sweep, e.g. coherence peaks ~3× the normal
        state); after every change the driver sleeps :meth:`settle_time` on ``clock``
        (re-reading the time constant each time, since the instrument may change it:
        ``settle_time(refresh=True)``)
        and clears the latched status bits before the next reading.

        Args:
            max_changes: most sensitivity changes made.
            precision: settling precision passed to :meth:`settle_time`.

        Returns:
            The number of sensitivity changes made. If the signal is still out of
            range after ``max_changes`` (or at the end of the sensitivity scale) a
            warning is logged; call :meth:`overloaded` to check.
        """
        self.lia_status()  # clear stale latched bits
        changes = 0
        while True:
            r = abs(float(self.R()))
            over = self.overloaded()
            full_scale = float(self.sensitivity()) / headroom
            if over or r > 0.9 * full_scale:
                step = +1
            elif r < 0.1 * full_scale:
                step = -1
            else:
                return changes
            if changes >= max_changes:
                log.warning("%s: autorange gave up after %d changes", self.name, changes)
                return changes
            if not self._change_sensitivity(step):
                if step > 0:
                    log.warning("%s: overload at the coarsest sensitivity", self.name)
                return changes
            changes += 1
            self.clock.sleep(self.settle_time(precision, refresh=True))
            self.lia_status()  # clear bits latched by the range switch transient

    def configure(
        self, *, frequency: float, modulation_rms: float, time_constant: float, slope: int
    ) -> None:
        """Set the reference frequency (Hz), the modulation at the junction (V rms,
        checked first by :func:`check_modulation`: nothing is written when it fails),
        the time constant (s, one of the SR830's) and the filter slope (dB/oct)."""
        check_modulation(modulation_rms, self.modulation_divider, self.safety)
        self.frequency(float(frequency))
        self.modulation_rms = float(modulation_rms)
        self.time_constant(float(time_constant))
        self.filter_slope(int(slope))

    @property
    def modulation_rms(self) -> float:
        """Modulation at the junction (V rms) = SLVL (as last set or read; read from the
        instrument the first time) × modulation_divider. Setting it sets
        SLVL = value / modulation_divider."""
        return float(self.amplitude.cache.get(get_if_invalid=True)) * self.modulation_divider

    @modulation_rms.setter
    def modulation_rms(self, value: float) -> None:
        self.amplitude(float(value) / self.modulation_divider)

    def didv_from_x(
        self, x: float | np.ndarray, preamp_gain: float, *, modulation_rms: float | None = None
    ) -> float | np.ndarray:
        """Differential conductance (S) from the in-phase output.

        ``dI/dV = X / (modulation_rms × preamp_gain)``: X in V rms, preamp_gain in V/A,
        modulation_rms in V rms at the junction (read from the instrument when None).
        Works element-wise on numpy arrays too.
        """
        if not preamp_gain > 0:
            raise ValueError(f"preamp_gain must be > 0 V/A, got {preamp_gain!r}")
        v_mod = self.modulation_rms if modulation_rms is None else float(modulation_rms)
        if not v_mod > 0:
            raise ValueError(f"modulation_rms must be > 0 V, got {v_mod!r}")
        return x / (v_mod * preamp_gain)
