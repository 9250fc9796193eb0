"""Nanonis STM controller (SPECS) over its TCP programming interface, as a qcodes Instrument.

The package's layers: :mod:`~andreev.instruments.nanonis.codec` (bytes of requests and
replies, the command table), :mod:`~andreev.instruments.nanonis.transport` (one
reconnecting TCP connection), :mod:`~andreev.instruments.nanonis.gains` (preamp gains),
:mod:`~andreev.instruments.nanonis.approach` (the safe setpoint walk),
:mod:`~andreev.instruments.nanonis.spectroscopy` (controller-side sweeps) and this
module: :class:`NanonisSTM`, the instrument with safety-checked parameters that fills the
:class:`~andreev.instruments.roles.STMController` role.

The driver trusts what it set itself (:class:`DriverState`: the bias, the feedback
hold, the setpoint, the preamp gains) instead of reading it back before every write,
and forgets it on any error or reconnect: a sweep point costs one ``Bias.Set``.

Timeouts are wall-clock seconds (socket timeouts); durations the controller spends on a
command (a bias sweep, a withdraw) are world seconds and are converted with the
instrument's :class:`~andreev.clock.Clock` (``world / speedup``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter

from andreev.clock import REAL_TIME, Clock
from andreev.errors import InstrumentError, SafetyError
from andreev.instruments.nanonis import approach, spectroscopy
from andreev.instruments.nanonis.codec import NanonisError
from andreev.instruments.nanonis.gains import (
    Gains,
    clip_current,
    gain_index,
    gains_from_reply,
    highest_gain,
)
from andreev.instruments.nanonis.spectroscopy import SpectroscopyTiming
from andreev.instruments.nanonis.transport import (
    NanonisConnectionError,
    NanonisTimeoutError,
    NanonisTransport,
    parse_address,
)
from andreev.instruments.roles import ControllerSweep
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyLimits, refuse_limits_left_behind

__all__ = ["ZCTRL_STATUS", "DriverState", "NanonisSTM"]

log = logging.getLogger(__name__)

ZCTRL_STATUS = {
    1: "off",
    2: "on",
    3: "hold",
    4: "switching off",
    5: "safe tip",
    6: "withdrawing",
}
"""``ZCtrl.StatusGet`` codes."""

#: deepest z offset (m, negative = closer) a controller-side sweep may hold the tip at
MAX_Z_OFFSET_IN = 5e-10


def _checked_z_limits(limits: Sequence[float] | None) -> tuple[float, float] | None:
    """The station's (high, low) Z limits (m) as floats; ValueError unless two finite
    numbers with high > low."""
    if limits is None:
        return None
    values = tuple(float(v) for v in limits)
    if len(values) != 2 or not all(math.isfinite(v) for v in values) or not values[0] > values[1]:
        raise ValueError(f"z_limits must be (high, low) in m with high > low, got {limits!r}")
    return values[0], values[1]


@dataclass
class DriverState:
    """What :class:`NanonisSTM` set itself and trusts without asking (forgotten on any
    error or reconnect).

    Attributes:
        bias: the bias it last wrote (V), None when unknown (read ``Bias.Get`` first).
        held: True while the feedback is off because the driver switched it off: a bias
            ramp near or through zero needs no ``ZCtrl.OnOffGet`` then.
        setpoint: the feedback setpoint it last wrote or read (A), None when unknown.
        gains: the preamp gains it last read, None when unknown or switched since.
    """

    bias: float | None = None
    held: bool = False
    setpoint: float | None = None
    gains: Gains | None = None


class NanonisSTM(Instrument):
    """Nanonis STM controller as a qcodes Instrument (SI units: V, A, m, s).

    Args:
        name: qcodes instrument name.
        address: ``"host:port"`` of the programming interface (default 127.0.0.1:6501).
        safety: hard limits checked before anything is sent (default
            :data:`~andreev.instruments.safety.DEFAULT_LIMITS`).
        clock: world clock to sleep on (default real time).
        timeout: reply timeout of ordinary commands (wall s).
        bias_step: largest bias step of a ramp (V).
        clip_fraction: the largest |current| allowed at a preamp gain, as a fraction of
            its clip level ``clip_voltage / gain`` (setpoints above it are refused; the
            approach switches the gain below it).
        clip_voltage: preamp output limit (V).
        barrier_height: tunnel barrier (eV) for the predicted tip travel per decade.
        feedback_timeout: how long to wait for the Z controller to confirm on/off (world s).
        z_limits: the station's working Z limits (high, low) in m, or None: narrower limits
            found on the controller (an approach killed while its window was armed) are
            widened back to them by :meth:`restore_z_limits`, which :meth:`safe_state`
            (a run's start, a resume, the end) calls before anything moves.

    Parameters: ``bias`` (V), ``setpoint`` (A), ``feedback`` (bool), ``z`` (m),
    ``z_limits`` ((high, low) m), ``limits_enabled`` (bool), ``preamp_gain`` (V/A),
    ``tip_x``, ``tip_y`` (m), ``current`` (A, read-only), ``status`` (str, read-only:
    off, on, hold, switching off, safe tip, withdrawing).

    Role methods (:class:`~andreev.instruments.roles.STMController`): :meth:`set_bias`,
    :meth:`get_bias`, :meth:`set_feedback`, :meth:`read_current`, :meth:`get_setpoint`,
    :meth:`get_preamp_gain`, :meth:`get_z`, :meth:`move_tip`, :meth:`approach_setpoint`,
    :meth:`safe_state`, :meth:`controller_sweep`.

    Lateral moves (``tip_x``/``tip_y``, :meth:`move_tip`) are sent as they are; bring the
    tip to a tunnelling state (:meth:`safe_state`) before moving it.
    """

    def __init__(
        self,
        name: str,
        address: str | tuple[str, int] = "127.0.0.1:6501",
        *,
        safety: SafetyLimits = DEFAULT_LIMITS,
        clock: Clock | None = None,
        timeout: float = 10.0,
        bias_step: float = 1e-3,
        clip_fraction: float = 0.3,
        clip_voltage: float = 10.0,
        barrier_height: float = 4.5,
        feedback_timeout: float = 5.0,
        z_limits: Sequence[float] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_limits_left_behind(name, safety)
        self.station_z_limits = _checked_z_limits(z_limits)
        super().__init__(name, **kwargs)
        host, port = parse_address(address)
        self.address = where = f"{host}:{port}"
        self.safety = safety
        self.clock = clock if clock is not None else REAL_TIME
        self.bias_step = float(bias_step)
        self.clip_fraction = float(clip_fraction)
        self.clip_voltage = float(clip_voltage)
        self.barrier_height = float(barrier_height)
        self.feedback_timeout = float(feedback_timeout)
        self.move_timeout = 120.0  # wall s for a lateral move (FolMe, wait until done)
        self.transport = NanonisTransport(host, port, timeout=timeout)
        self._signal_names: list[str] | None = None
        self._state = DriverState()
        self._reconnects_seen = 0
        self._last_bias_write = -math.inf  # world s of the last Bias.Set (slew rate)
        try:
            self.transport.connect()
        except OSError as exc:
            self.close()
            raise NanonisConnectionError("connect", f"cannot reach {where}: {exc}") from exc
        self._add_parameters()

    def _add_parameters(self) -> None:
        """The qcodes parameters (a declarative table)."""
        self.bias: Parameter = self.add_parameter(
            "bias",
            label="Bias",
            unit="V",
            get_cmd=self.get_bias,
            set_cmd=self._set_bias,
            vals=vals.Numbers(),
            docstring="Sample bias (V); |V| ≤ safety.max_bias, ≥ min_feedback_bias while the "
            "feedback regulates; ramped at ≤ safety.max_bias_slew_rate in ≤ bias_step steps.",
        )
        self.setpoint: Parameter = self.add_parameter(
            "setpoint",
            label="Setpoint current",
            unit="A",
            get_cmd=self.get_setpoint,
            set_cmd=self._set_setpoint,
            vals=vals.Numbers(),
            docstring="Z controller setpoint (A); |I| ≤ safety.max_setpoint_current and ≤ "
            "clip_fraction of the preamp clip level at the present gain.",
        )
        self.feedback: Parameter = self.add_parameter(
            "feedback",
            label="Z feedback",
            get_cmd=self.feedback_on,
            set_cmd=self._set_feedback,
            vals=vals.Bool(),
            docstring="Z controller on/off; a set waits until ZCtrl.StatusGet confirms.",
        )
        self.z: Parameter = self.add_parameter(
            "z",
            label="Tip height",
            unit="m",
            get_cmd=self.get_z,
            set_cmd=self._set_z,
            vals=vals.Numbers(),
            docstring="Tip height (m, larger = further away); settable only with feedback off.",
        )
        self.z_limits: Parameter = self.add_parameter(
            "z_limits",
            label="Z limits (high, low)",
            unit="m",
            get_cmd=self.get_z_limits,
            set_cmd=self.set_z_limits,
            vals=vals.Sequence(vals.Numbers(), length=2),
            docstring="Z controller limits (high, low) in m, high > low.",
        )
        self.limits_enabled: Parameter = self.add_parameter(
            "limits_enabled",
            label="Z limits enabled",
            get_cmd=lambda: bool(self._call("ZCtrl.LimitsEnabledGet")["enabled"]),
            set_cmd=self.enable_z_limits,
            vals=vals.Bool(),
        )
        self.preamp_gain: Parameter = self.add_parameter(
            "preamp_gain",
            label="Current preamp gain",
            unit="V/A",
            get_cmd=lambda: self.read_gains().gain,
            set_cmd=self._set_preamp_gain,
            vals=vals.Numbers(min_value=0),
            docstring="Preamp gain (V/A) read from the Current.GainsGet names; set by value.",
        )
        self.tip_x: Parameter = self.add_parameter(
            "tip_x",
            label="Tip x",
            unit="m",
            get_cmd=lambda: self._get_xy()[0],
            set_cmd=lambda x: self._set_xy(x=x),
            vals=vals.Numbers(),
        )
        self.tip_y: Parameter = self.add_parameter(
            "tip_y",
            label="Tip y",
            unit="m",
            get_cmd=lambda: self._get_xy()[1],
            set_cmd=lambda y: self._set_xy(y=y),
            vals=vals.Numbers(),
        )
        self.current: Parameter = self.add_parameter(
            "current",
            label="Tunnel current",
            unit="A",
            get_cmd=self.read_current,
            set_cmd=False,
        )
        self.status: Parameter = self.add_parameter(
            "status",
            label="Z controller status",
            get_cmd=self._get_status,
            set_cmd=False,
        )

    # ---- plumbing -----------------------------------------------------------------------
    def _call(
        self, name: str, *args: Any, timeout: float | None = None, retry: bool = True
    ) -> dict[str, Any]:
        """One request; any error or a new connection forgets the state this driver set
        (:meth:`forget_state`): after either the controller may not be where it was left.
        ``retry=False``: not re-sent on a fresh connection (it is itself a retry)."""
        try:
            reply = self.transport.call(name, *args, timeout=timeout, retry=retry)
        except BaseException:
            self.forget_state()
            raise
        if self.transport.reconnects != self._reconnects_seen:
            self._reconnects_seen = self.transport.reconnects
            self.forget_state()
        return reply

    def forget_state(self) -> None:
        """Forget the bias, feedback hold, setpoint and gains this driver set or read
        (:class:`DriverState`): the next use reads them back from the controller. Called
        on every error and reconnect; call it when something else may have changed them
        (e.g. the Nanonis software's own panels)."""
        self._state = DriverState()

    @property
    def known_state(self) -> DriverState:
        """What this driver set or read and still trusts (a copy)."""
        return dataclasses.replace(self._state)

    def _wall(self, world_seconds: float) -> float:
        return world_seconds / self.clock.speedup

    def close(self) -> None:
        """Close the TCP connection and the qcodes instrument."""
        with contextlib.suppress(Exception):
            self.transport.close()
        super().close()

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial, firmware from ``Util.VersionGet``."""
        try:
            v = self._call("Util.VersionGet")
        except (NanonisError, NanonisConnectionError):
            return {"vendor": "SPECS", "model": "Nanonis", "serial": None, "firmware": None}
        return {
            "vendor": "SPECS",
            "model": str(v["product"]),
            "serial": None,
            "firmware": f"{v['version']} (host {v['host_release']}, RT {v['rt_release']})",
        }

    # ---- bias ----------------------------------------------------------------------------
    def get_bias(self) -> float:
        """The applied bias (V), read from the controller."""
        bias = float(self._call("Bias.Get")["bias"])
        self._state.bias = bias
        return bias

    def _present_bias(self) -> float:
        """The bias (V) this driver set and still trusts, else read from the controller."""
        known = self._state.bias
        return self.get_bias() if known is None else known

    def set_bias(self, bias: float) -> None:
        """Ramp the bias to ``bias`` (V): |V| ≤ safety.max_bias; with the feedback on the
        ramp may neither end below min_feedback_bias nor cross zero (SafetyError, nothing
        sent); steps ≤ ``bias_step`` at ≤ safety.max_bias_slew_rate."""
        self._set_bias(bias)
        self.bias.cache.set(float(bias))

    def _set_bias(self, target: float) -> None:
        target = float(target)
        self.safety.check_bias(target, feedback_on=False)
        start = self._present_bias()
        self._check_bias_path(start, target)
        if target == start and self._state.bias is not None:
            return  # already there, and this driver put it there
        self._ramp_bias(start, target)

    def _check_bias_path(self, start: float, target: float, retry: bool = True) -> None:
        """Refuse (SafetyError) a ramp that would pass below min_feedback_bias with the
        feedback on: the target itself, or a change of sign. ``retry``: whether the
        feedback query may be re-sent on a fresh connection."""
        low = self.safety.min_feedback_bias
        if abs(target) >= low and abs(start) >= low and start * target > 0:
            return  # the whole path stays away from zero: no need to ask for the feedback
        if self._state.held:
            return  # this driver switched the feedback off itself and nothing happened since
        if self._feedback_on(retry):
            self.safety.check_bias(target, feedback_on=True)
            if start * target < 0:
                raise SafetyError(
                    f"bias ramp {start:.4g} V → {target:.4g} V crosses zero while the "
                    "feedback regulates; switch the feedback off first"
                )

    def _ramp_bias(self, start: float, target: float) -> None:
        """Steps of ≤ ``bias_step``, each written no sooner than step / max slew rate
        after the previous write (world s; the wait is taken before a step, so a single
        step, as between two points of a sweep whose settling is longer, waits nothing)."""
        delta = target - start
        if delta == 0:
            self._call("Bias.Set", target)
            self._state.bias = target
            return
        n = max(1, math.ceil(abs(delta) / self.bias_step - 1e-6))
        dwell = abs(delta) / n / self.safety.max_bias_slew_rate  # world s per step
        clock = self.clock
        for k in range(1, n + 1):
            value = target if k == n else start + delta * k / n
            clock.wait_until(self._last_bias_write + dwell)  # sleep, then spin: on time
            self._call("Bias.Set", value)
            self._last_bias_write = clock.now()
            self._state.bias = value

    # ---- setpoint, gains -------------------------------------------------------------------
    def get_setpoint(self) -> float:
        """The feedback's setpoint (A): as this driver wrote or read it last, else read
        (``ZCtrl.SetpntGet``)."""
        if self._state.setpoint is None:
            self._state.setpoint = float(self._call("ZCtrl.SetpntGet")["setpoint"])
        return self._state.setpoint

    def send_setpoint(self, setpoint: float) -> None:
        """Write the setpoint (A) as it is (``ZCtrl.SetpntSet``): the primitive of the
        approach, which checked the limits and manages the gain; use ``setpoint(...)``
        for a checked write."""
        self._state.setpoint = None
        self._call("ZCtrl.SetpntSet", float(setpoint))
        self._state.setpoint = float(setpoint)

    def read_current(self) -> float:
        """The tunnelling current (A)."""
        return float(self._call("Current.Get")["current"])

    def read_current_then_set_bias(self, bias: float) -> float:
        """The tunnelling current (A) at the present bias, then the bias set to ``bias``
        (V) as :meth:`set_bias` does (the same checks first: SafetyError, nothing sent).
        When the write is a single step of at most ``bias_step`` from a bias this driver
        set, both requests go in one message (:meth:`NanonisTransport.call_pair`): one
        round trip. Otherwise, the current is read and the bias ramped as usual."""
        target = float(bias)
        self.safety.check_bias(target, feedback_on=False)
        start = self._state.bias
        if start is None or target == start or abs(target - start) > self.bias_step * (1 + 1e-6):
            current = self.read_current()
            self.set_bias(target)
            return current
        self._check_bias_path(start, target)
        self.clock.wait_until(
            self._last_bias_write + abs(target - start) / self.safety.max_bias_slew_rate
        )
        try:
            reply, _ = self.transport.call_pair(("Current.Get",), ("Bias.Set", target))
        except NanonisConnectionError as exc:
            self.forget_state()
            if isinstance(exc, NanonisTimeoutError):
                raise
            return self._pair_once_more(start, target)
        except BaseException:
            self.forget_state()
            raise
        self._last_bias_write = self.clock.now()
        if self.transport.reconnects != self._reconnects_seen:
            self._reconnects_seen = self.transport.reconnects
            self.forget_state()
        self._state.bias = target
        self.bias.cache.set(target)
        return float(reply["current"])

    def _pair_once_more(self, start: float, target: float) -> float:
        """The retry of a pair whose connection dropped (the controller may or may not
        have set ``target``): one request at a time, none re-sent again: the bias back at
        ``start`` (V) if it moved, the current there (A), then ``target`` (V). The
        segment is checked again (the feedback state was forgotten with the connection)
        and both steps keep to the slew rate."""
        log.warning("%s: connection dropped under Current.Get + Bias.Set; once more", self.name)
        dwell = abs(target - start) / self.safety.max_bias_slew_rate
        self._check_bias_path(start, target, retry=False)  # the feedback may be asked again
        now = float(self._call("Bias.Get", retry=False)["bias"])
        if not math.isclose(now, start, rel_tol=1e-6, abs_tol=1e-9):
            self.clock.wait_until(self.clock.now() + dwell)  # the moved step may be recent
            self._call("Bias.Set", start, retry=False)
            self._last_bias_write = self.clock.now()
        current = float(self._call("Current.Get", retry=False)["current"])
        self.clock.wait_until(self._last_bias_write + dwell)
        self._call("Bias.Set", target, retry=False)
        self._last_bias_write = self.clock.now()
        self._state.bias = target
        self.bias.cache.set(target)
        return current

    def clip_current(self, gain: float) -> float:
        """Preamp clip level (A) at ``gain`` (V/A): ``clip_voltage / gain``."""
        return clip_current(gain, self.clip_voltage)

    def max_current(self, gain: float) -> float:
        """Largest |current| (A) allowed at ``gain``: ``clip_fraction`` of the clip level."""
        return self.clip_fraction * self.clip_current(gain)

    def _check_setpoint_for_gain(self, setpoint: float, gain: float) -> None:
        if abs(setpoint) > self.max_current(gain):
            raise SafetyError(
                f"setpoint {setpoint:.4g} A exceeds {self.clip_fraction:g} of the preamp clip "
                f"level {self.clip_current(gain):.4g} A at gain {gain:.3g} V/A: a clipped "
                "current under feedback drives the tip in; switch to a lower gain first "
                "(approach_setpoint does)"
            )

    def _set_setpoint(self, value: float) -> None:
        value = float(value)
        self.safety.check_setpoint(value)
        self._check_setpoint_for_gain(value, self.read_gains().gain)
        self.send_setpoint(value)

    def read_gains(self) -> Gains:
        """The preamp gains: as this driver read them last unless it switched the gain
        since, else read (``Current.GainsGet``, which also tells the transport whether
        ``Current.GainSet`` takes a filter index)."""
        if self._state.gains is None:
            gains = gains_from_reply(self._call("Current.GainsGet"))
            self.transport.gainset_with_filter = gains.has_filters
            self._state.gains = gains
        return self._state.gains

    def get_preamp_gain(self) -> float:
        """The current preamplifier's gain (V/A)."""
        return self.read_gains().gain

    def _set_preamp_gain(self, value: float) -> None:
        gains = self.read_gains()
        index = gain_index(gains, float(value))
        if self.feedback_on():
            self._check_setpoint_for_gain(self.get_setpoint(), gains.values[index])
        self._write_gain_index(index)

    def _write_gain_index(self, index: int) -> None:
        self._state.gains = None
        self._call("Current.GainSet", index, -1)

    def gain_for(self, current: float, gains: Sequence[float] | None = None) -> float:
        """Highest preamp gain (V/A) at which ``|current|`` (A) stays within
        ``clip_fraction`` of the clip level; raises SafetyError if none does."""
        values = self.read_gains().values if gains is None else list(gains)
        return highest_gain(current, values, self.clip_voltage, self.clip_fraction)

    def switch_gain(self, gains: Gains, value: float, *, feedback: bool, settle: float) -> None:
        """Switch the preamp to ``value`` (V/A); with ``feedback`` the tip is held
        (feedback off) meanwhile and regulates again after ``settle`` (world s)."""
        index = gain_index(gains, value)
        if feedback:
            self.regulate(False)
        self._write_gain_index(index)
        self.clock.sleep(settle)
        if feedback:
            self.regulate(True)

    # ---- feedback, z --------------------------------------------------------------------
    def feedback_on(self) -> bool:
        """True while the Z feedback regulates (asked of the controller)."""
        return self._feedback_on(True)

    def _feedback_on(self, retry: bool) -> bool:
        on = bool(self._call("ZCtrl.OnOffGet", retry=retry)["on"])
        if on:
            self._state.held = False  # switched on behind this driver's back
        return on

    def _get_status(self) -> str:
        code = int(self._call("ZCtrl.StatusGet")["status"])
        return ZCTRL_STATUS.get(code, f"unknown ({code})")

    def set_feedback(self, on: bool) -> None:
        """Switch the Z feedback on (regulate: bias ≥ min_feedback_bias, setpoint within
        the limits and the gain's clip level, else SafetyError) or off (hold the tip);
        waits until ``ZCtrl.StatusGet`` confirms."""
        self._set_feedback(on)
        self.feedback.cache.set(bool(on))

    def _set_feedback(self, on: bool) -> None:
        on = bool(on)
        if on:
            self.safety.check_bias(self._present_bias(), feedback_on=True)
            setpoint = self.get_setpoint()
            self.safety.check_setpoint(setpoint)
            self._check_setpoint_for_gain(setpoint, self.read_gains().gain)
        self.regulate(on)

    def regulate(self, on: bool) -> None:
        """Send ``ZCtrl.OnOffSet`` and wait until the status confirms: the unchecked
        primitive (use :meth:`set_feedback`)."""
        self._state.held = False
        self._call("ZCtrl.OnOffSet", 1 if on else 0)
        self._wait_feedback(on)
        self._state.held = not on

    def _wait_feedback(self, on: bool) -> None:
        """Poll ``ZCtrl.StatusGet`` until it reports on (2) / off (1); InstrumentError
        when it does not within ``feedback_timeout`` (world s)."""
        want = 2 if on else 1
        deadline = self.clock.now() + self.feedback_timeout
        while True:
            code = int(self._call("ZCtrl.StatusGet")["status"])
            if code == want:
                return
            if self.clock.now() > deadline:
                raise InstrumentError(
                    f"{self.name}: Z controller status {ZCTRL_STATUS.get(code, code)!r} after "
                    f"{self.feedback_timeout:g} s; expected {ZCTRL_STATUS[want]!r}"
                )
            self.clock.sleep(min(0.01, self.feedback_timeout / 20))

    def get_z(self) -> float:
        """The tip height (m, larger = further away)."""
        return float(self._call("ZCtrl.ZPosGet")["z"])

    def _set_z(self, z: float) -> None:
        if self.feedback_on():
            raise SafetyError("ZCtrl.ZPosSet only with the feedback off (feedback is on)")
        self._call("ZCtrl.ZPosSet", float(z))

    def get_z_limits(self) -> tuple[float, float]:
        """The Z controller's (high, low) limits (m)."""
        r = self._call("ZCtrl.LimitsGet")
        return float(r["high"]), float(r["low"])

    def set_z_limits(self, limits: Sequence[float]) -> None:
        """Set the Z controller's (high, low) limits (m, high > low; ValueError)."""
        high, low = (float(v) for v in limits)
        if not high > low:
            raise ValueError(f"Z limits need high > low, got high={high:g} m, low={low:g} m")
        self._call("ZCtrl.LimitsSet", high, low)

    def restore_z_limits(self) -> tuple[float, float] | None:
        """Widen the controller's Z limits back to the station's (``z_limits``) when they
        are narrower (logged); the limits set, or None when nothing changed."""
        return approach.restore_z_limits(self, self.station_z_limits, self.name)

    def enable_z_limits(self, on: bool) -> None:
        """Enable (True) or disable the Z limits."""
        self._call("ZCtrl.LimitsEnabledSet", 1 if on else 0)

    def withdraw(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Withdraw the tip (feedback off, tip to the top of its range). ``timeout``:
        world s the controller may take when ``wait``."""
        ms = round(timeout * 1e3)
        self.forget_state()
        self._call(
            "ZCtrl.Withdraw",
            1 if wait else 0,
            ms,
            timeout=self.transport.timeout + self._wall(timeout),
        )

    # ---- lateral position ----------------------------------------------------------------
    def _get_xy(self) -> tuple[float, float]:
        r = self._call("FolMe.XYPosGet", 1)
        return float(r["x"]), float(r["y"])

    def _set_xy(self, x: float | None = None, y: float | None = None) -> None:
        if x is None or y is None:
            cx, cy = self._get_xy()
            x = cx if x is None else x
            y = cy if y is None else y
        self._call("FolMe.XYPosSet", float(x), float(y), 1, timeout=self.move_timeout)

    def move_tip(self, x: float, y: float) -> None:
        """Move the tip laterally to (``x``, ``y``) (m) in one move, waiting until it is
        there; sent as it is, at the present setpoint (tunnel first: :meth:`safe_state`)."""
        self._set_xy(float(x), float(y))
        self.tip_x.cache.set(float(x))
        self.tip_y.cache.set(float(y))

    # ---- signals ---------------------------------------------------------------------------
    def signal_names(self, refresh: bool = False) -> list[str]:
        """Signal names by index (``Signals.NamesGet``, cached)."""
        if self._signal_names is None or refresh:
            self._signal_names = list(self._call("Signals.NamesGet")["names"])
        return list(self._signal_names)

    def signal_index(self, name: str) -> int:
        """Index of the signal ``name`` (e.g. ``"Current (A)"``); KeyError if unknown."""
        names: list[str] = []
        for refresh in (False, True):
            names = self.signal_names(refresh=refresh)
            if name in names:
                return names.index(name)
        raise KeyError(f"no signal {name!r}; the controller has {names}")

    # ---- procedures -------------------------------------------------------------------------
    #: Walk the setpoint to ``target`` (A) in log steps with the feedback on, switching
    #: the preamp gain before it would clip: the algorithm of
    #: :func:`~andreev.instruments.nanonis.approach.approach_setpoint`, with this
    #: instrument as the controller (limits checked before anything is sent; on an
    #: anomaly the tip is withdrawn and ``ApproachError`` raised). Returns the steps.
    approach_setpoint = approach.approach_setpoint

    def bias_spectroscopy(
        self,
        start: float,
        end: float,
        points: int,
        *,
        backward: bool = False,
        sweeps: int = 1,
        settling: float = 1e-3,
        integration: float = 2e-3,
        initial_settling: float = 0.01,
        end_settling: float = 0.01,
        z_averaging: float = 0.01,
        z_offset: float = 0.0,
        z_control_time: float = 0.05,
        max_slew_rate: float | None = None,
        channels: Sequence[str] = ("Current (A)", "LI Demod 1 X (A)"),
    ) -> dict[str, np.ndarray]:
        """Controller-side bias sweep (``BiasSpectr.*``); times in world s, bias in V.

        The Z controller holds the tip during the sweep (its own behaviour), so the sweep
        may cross zero bias; both endpoints must satisfy |V| ≤ safety.max_bias, and the
        slew rate is at most safety.max_bias_slew_rate. ``z_offset`` (m) is added to the
        held z (negative = closer). Channel indices are resolved by name with
        ``Signals.NamesGet``.

        Returns {channel name: array} with ``"Bias calc (V)"`` (the bias of each point)
        and one entry per returned channel (``"<name> [bwd]"`` or ``"<stem> [bwd] (unit)"``
        for the backward sweep, as the controller names it); arrays are float64.
        """
        start, end, points, sweeps = float(start), float(end), int(points), int(sweeps)
        self.safety.check_bias(start, feedback_on=False)
        self.safety.check_bias(end, feedback_on=False)
        if points < 2 or sweeps < 1:
            raise ValueError("need points ≥ 2 and sweeps ≥ 1")
        slew = self.safety.max_bias_slew_rate
        if max_slew_rate is not None:
            slew = min(slew, float(max_slew_rate))
        if z_offset < -MAX_Z_OFFSET_IN:
            raise SafetyError(f"Z offset {z_offset:g} m would push the tip more than 5 Å in")
        timing = SpectroscopyTiming(
            z_averaging,
            z_offset,
            initial_settling,
            slew,
            settling,
            integration,
            end_settling,
            z_control_time,
        )
        indices = [self.signal_index(c) for c in channels]
        self._call("BiasSpectr.Open")
        self._call("BiasSpectr.PropsSet", 2, sweeps, 1 if backward else 2, points, z_offset, 2, 2)
        self._call("BiasSpectr.LimitsSet", start, end)
        self._call("BiasSpectr.TimingSet", *timing.as_args())
        self._call("BiasSpectr.ChsSet", indices)
        expected = timing.duration(start, end, points, sweeps, backward, self._present_bias())
        held = self._state.held
        self._state.bias = None  # the controller moves the bias
        reply = self._call(
            "BiasSpectr.Start",
            1,
            "",
            timeout=self.transport.timeout + 2.0 * self._wall(expected) + 1.0,
        )
        self._state.held = held  # the controller restores the Z controller's state
        return spectroscopy.rows_by_name(reply)

    def controller_sweep(
        self, start: float, end: float, points: int, *, backward: bool, settling: float
    ) -> ControllerSweep:
        """Let the controller sweep the bias from ``start`` to ``end`` (V), ``points``
        points, ``settling`` world s per point, with its own lock-in on the current.

        Returns the bias of each point (V, as swept) and, per direction, "current" (A),
        "x" and "y" (A rms). The controller holds the tip during the sweep; switching
        the feedback off before and restoring the setpoint after is the caller's."""
        rows = self.bias_spectroscopy(
            start,
            end,
            points,
            backward=backward,
            settling=settling,
            integration=0.0,
            channels=spectroscopy.sweep_channels(),
        )
        return spectroscopy.controller_sweep_from(rows, backward)

    def safe_state(
        self, bias: float, setpoint: float, *, steps_per_decade: int = 4, settle: float = 0.5
    ) -> None:
        """Go to a tunnelling state: bias ``bias`` (V), setpoint ``setpoint`` (A),
        feedback on — e.g. before a temperature step.

        Everything is checked first (|bias| ≥ min_feedback_bias, setpoint ≤ max, a preamp
        gain exists). With the feedback on, the order keeps the conductance at or below
        the larger of its start and end values: a lower setpoint is walked down first (at
        the present bias, by :meth:`approach_setpoint`), then the bias ramped, then a
        higher setpoint walked up. A ramp that changes the bias' sign (or starts below
        min_feedback_bias) holds the tip (feedback off) while it crosses zero. With the
        feedback off, the bias is ramped, the gain and setpoint set, the feedback switched
        on. Before anything moves, Z limits narrower than the station's are widened
        back (:meth:`restore_z_limits`)."""
        bias, setpoint = float(bias), float(setpoint)
        self.safety.check_bias(bias, feedback_on=True)
        self.safety.check_setpoint(setpoint)
        gain_needed = self.gain_for(setpoint)
        self.restore_z_limits()
        cur_bias = self.get_bias()
        if not self.feedback_on():
            self._ramp_bias(cur_bias, bias)
            self._set_gain_and_setpoint(gain_needed, setpoint)
            self._set_feedback(True)
            return
        cur_sp = self.get_setpoint()
        usable = abs(cur_bias) >= self.safety.min_feedback_bias
        if usable and cur_sp * setpoint > 0 and abs(setpoint) < abs(cur_sp):
            self.approach_setpoint(setpoint, steps_per_decade, settle)
            cur_sp = setpoint
        if usable and cur_bias * bias > 0:
            self._ramp_bias(cur_bias, bias)
        else:
            self.regulate(False)
            self._ramp_bias(cur_bias, bias)
            low = math.copysign(min(abs(cur_sp), abs(setpoint)), setpoint)
            self._set_gain_and_setpoint(self.gain_for(low), low)
            self._set_feedback(True)
        self.approach_setpoint(setpoint, steps_per_decade, settle)

    def _set_gain_and_setpoint(self, gain: float, setpoint: float) -> None:
        """With the feedback off: preamp to ``gain`` (V/A), then the setpoint (A)."""
        gains = self.read_gains()
        if gains.gain != gain:
            self._write_gain_index(gain_index(gains, gain))
        self.send_setpoint(setpoint)
