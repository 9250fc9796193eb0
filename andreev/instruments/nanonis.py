"""Nanonis STM controller (SPECS) over its TCP programming interface, as a qcodes Instrument.

Three layers:

* :mod:`andreev.instruments.nanonis_codec` — the pure byte codec and the declarative
  command table;
* :class:`NanonisTransport` — one TCP connection, one request at a time, with timeouts and
  reconnection;
* :class:`NanonisSTM` — the qcodes Instrument with safety-checked parameters and the
  procedures ``withdraw``, ``approach_setpoint``, ``bias_spectroscopy``, ``safe_state``.

Reconnect semantics (:meth:`NanonisTransport.call`): a request is sent only on a
connection that is idle (no unread bytes, not closed by the peer; checked before sending).
The header and then the body are read in full, with one deadline for the whole reply; the
echoed name must be the request's. On a timeout, a dropped connection or bytes that break
the protocol the socket is closed at once — a late reply can then never be read as the
answer to a later request — and the next request opens a new connection. A command marked
``idempotent`` in the command table (every ``…Get``) is retried once on the fresh
connection; any other command raises :class:`NanonisConnectionError` (or
:class:`NanonisTimeoutError`), because the controller may or may not have executed it:
the caller decides (read the state back). A reply with an error section raises
:class:`NanonisError` and keeps the connection (the stream is still in step).

Timeouts are wall-clock seconds (socket timeouts); durations the controller spends on a
command (a bias sweep, a withdraw) are world seconds and are converted with the
instrument's :class:`~andreev.clock.Clock` (``world / speedup``).
"""

from __future__ import annotations

import contextlib
import math
import re
import select
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter

from andreev.clock import REAL_TIME, Clock
from andreev.instruments.nanonis_codec import (
    COMMANDS,
    GAINSET_SHORT,
    HEADER_SIZE,
    Command,
    NanonisError,
    NanonisProtocolError,
    decode_reply,
    decode_reply_header,
    encode_request,
)
from andreev.instruments.safety import DEFAULT_LIMITS, SafetyError, SafetyLimits

__all__ = [
    "ApproachError",
    "ApproachStep",
    "NanonisConnectionError",
    "NanonisError",
    "NanonisProtocolError",
    "NanonisSTM",
    "NanonisTimeoutError",
    "NanonisTransport",
    "decade_length",
    "parse_gain",
]

_HBAR = 1.054571817e-34  # J s
_M_E = 9.1093837015e-31  # kg
_E = 1.602176634e-19  # C

ZCTRL_STATUS = {
    1: "off",
    2: "on",
    3: "hold",
    4: "switching off",
    5: "safe tip",
    6: "withdrawing",
}
"""``ZCtrl.StatusGet`` codes."""


class NanonisConnectionError(ConnectionError):
    """The connection failed or dropped during ``command``; the socket was closed."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"Nanonis {command}: {message}")
        self.command = command


class NanonisTimeoutError(NanonisConnectionError, TimeoutError):
    """No complete reply to ``command`` within the timeout; the socket was closed."""


def decade_length(barrier_height: float = 4.5) -> float:
    """Tip travel (m) per decade of tunnelling current for a barrier ``barrier_height``
    (eV): ``ln 10 / 2κ`` with ``κ = sqrt(2 m φ)/ħ`` (≈1.06 Å at 4.5 eV)."""
    kappa = math.sqrt(2.0 * _M_E * barrier_height * _E) / _HBAR
    return math.log(10.0) / (2.0 * kappa)


_POW_RE = re.compile(r"(\d+(?:\.\d*)?)\s*\^\s*([+-]?\d+)")
_MANT_RE = re.compile(r"(\d+(?:\.\d*)?)\s*[x×*]\s*$")


def parse_gain(name: str) -> float:
    """Preamp gain (V/A) from a ``Current.GainsGet`` name: ``"10^9"``, ``"LN 10^9"``,
    ``"HS 10^7"``, ``"3x10^8"`` or a plain number such as ``"1e9"``. Raises ValueError."""
    m = _POW_RE.search(name)
    if m:
        value = float(m[1]) ** int(m[2])
        mant = _MANT_RE.search(name[: m.start()])
        return value * float(mant[1]) if mant else value
    for token in reversed(name.replace(",", " ").split()):
        try:
            value = float(token)
        except ValueError:
            continue
        if value > 0:
            return value
    raise ValueError(f"cannot read a preamp gain from {name!r}")


def _parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    if isinstance(address, tuple):
        return str(address[0]), int(address[1])
    text = str(address).strip()
    for prefix in ("tcp://", "TCP://"):
        text = text.removeprefix(prefix)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host or "127.0.0.1", int(port)
    if ":" not in text and text:
        return text, 6501
    raise ValueError(f"Nanonis address must be 'host:port', got {address!r}")


# ---------------------------------------------------------------------------------------
class NanonisTransport:
    """One TCP connection to the Nanonis programming interface (see the module doc for
    the reconnect semantics).

    Args:
        host, port: the controller (ports 6501–6504 by default).
        timeout: default reply timeout (wall s) for a whole reply.
        connect_timeout: timeout of opening the connection (wall s; default ``timeout``).
        retries: how many times an idempotent command is re-sent on a fresh connection.

    Attributes:
        reconnects: number of connections opened after the first (for logs and tests).
        sent: number of requests written.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 10.0,
        *,
        connect_timeout: float | None = None,
        retries: int = 1,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout if connect_timeout else timeout)
        self.retries = int(retries)
        self.reconnects = 0
        self.sent = 0
        self._connections = 0
        self._sock: socket.socket | None = None
        self._lock = threading.RLock()
        self.gainset_with_filter = True
        """Send ``Current.GainSet`` with the filter index (newer software); the driver
        sets this from whether ``Current.GainsGet`` lists filters."""

    # ---- connection ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True while a socket is open (it may still turn out to be dead)."""
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection if there is none (raises OSError subclasses on failure)."""
        with self._lock:
            if self._sock is not None:
                return
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            if self._connections:
                self.reconnects += 1
            self._connections += 1

    def close(self) -> None:
        """Close the connection (a later call reconnects)."""
        with self._lock:
            sock, self._sock = self._sock, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()

    def __enter__(self) -> NanonisTransport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _idle_check(self) -> None:
        """Close the socket if the peer closed it or unread bytes wait on it."""
        sock = self._sock
        if sock is None:
            return
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            self.close()
            return
        if readable:
            self.close()  # EOF (peer closed) or stray bytes: never read them as a reply

    # ---- requests -------------------------------------------------------------------
    def call(
        self, cmd: str | Command, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Send ``cmd`` with ``args`` (see :func:`~andreev.instruments.nanonis_codec.
        encode_request`) and return its decoded return values.

        ``timeout`` (wall s) bounds the whole reply (default: the transport's).
        Raises :class:`NanonisError` (error section), :class:`NanonisTimeoutError`,
        :class:`NanonisConnectionError` or :class:`NanonisProtocolError`."""
        spec = COMMANDS[cmd] if isinstance(cmd, str) else cmd
        if spec.name == "Current.GainSet" and not self.gainset_with_filter:
            spec = GAINSET_SHORT
            kwargs.pop("filter_index", None)
            args = args[:1]
        request = encode_request(spec, *args, **kwargs)
        limit = self.timeout if timeout is None else float(timeout)
        attempts = 1 + (self.retries if spec.idempotent else 0)
        with self._lock:
            for attempt in range(attempts):
                try:
                    return self._exchange(spec, request, limit)
                except (NanonisConnectionError, NanonisProtocolError):
                    if attempt + 1 >= attempts:
                        raise
            raise AssertionError("unreachable")

    def _exchange(self, spec: Command, request: bytes, limit: float) -> dict[str, Any]:
        self._idle_check()
        try:
            self.connect()
        except OSError as exc:
            self.close()
            raise NanonisConnectionError(
                spec.name, f"cannot connect to {self.host}:{self.port}: {exc}"
            ) from exc
        sock = self._sock
        assert sock is not None
        deadline = time.monotonic() + limit
        try:
            sock.settimeout(limit)
            sock.sendall(request)
            self.sent += 1
            name, size = decode_reply_header(self._read_exact(sock, HEADER_SIZE, deadline))
            if name != spec.name:
                raise NanonisProtocolError(f"reply to {spec.name!r} echoes {name!r}")
            body = self._read_exact(sock, size, deadline)
            values, err = decode_reply(spec, body)
        except TimeoutError as exc:
            self.close()
            raise NanonisTimeoutError(spec.name, f"no complete reply within {limit:g} s") from exc
        except NanonisProtocolError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise NanonisConnectionError(spec.name, f"connection lost: {exc}") from exc
        if err.is_error:
            raise NanonisError(spec.name, err.message)
        return values

    @staticmethod
    def _read_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("reply deadline passed")
            sock.settimeout(remaining)
            chunk = sock.recv(min(n - got, 1 << 20))
            if not chunk:
                raise ConnectionResetError("connection closed by the controller")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)


# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApproachStep:
    """One step of :meth:`NanonisSTM.approach_setpoint` (SI units).

    Attributes: setpoint (A), z after settling (m), gain (V/A) in use, current (A)
    measured after settling, predicted_dz and dz (m) of this step, time (world s).
    """

    setpoint: float
    z: float
    gain: float
    current: float
    predicted_dz: float
    dz: float
    time: float


class ApproachError(RuntimeError):
    """``approach_setpoint`` stopped on an anomaly; the tip was withdrawn.

    Attributes: ``steps`` (the :class:`ApproachStep` record up to and including the
    offending step), ``reason`` (str)."""

    def __init__(self, reason: str, steps: list[ApproachStep]) -> None:
        super().__init__(f"approach stopped and tip withdrawn: {reason}")
        self.reason = reason
        self.steps = steps


@dataclass(frozen=True)
class _Gains:
    names: list[str]
    values: list[float]  # V/A, nan where a name does not parse
    index: int
    has_filters: bool

    @property
    def gain(self) -> float:
        return self.values[self.index]


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

    Parameters: ``bias`` (V), ``setpoint`` (A), ``feedback`` (bool), ``z`` (m),
    ``z_limits`` ((high, low) m), ``limits_enabled`` (bool), ``preamp_gain`` (V/A),
    ``tip_x``, ``tip_y`` (m), ``current`` (A, read-only), ``status`` (str, read-only:
    off, on, hold, switching off, safe tip, withdrawing).

    Lateral moves (``tip_x``/``tip_y``) are sent as they are; bring the tip to a
    tunnelling state (:meth:`safe_state`) before moving it.
    """

    def __init__(
        self,
        name: str,
        address: str | tuple[str, int] = "127.0.0.1:6501",
        *,
        safety: SafetyLimits | None = None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        bias_step: float = 1e-3,
        clip_fraction: float = 0.3,
        clip_voltage: float = 10.0,
        barrier_height: float = 4.5,
        feedback_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        host, port = _parse_address(address)
        self.address = where = f"{host}:{port}"
        self.safety = safety if safety is not None else DEFAULT_LIMITS
        self.clock = clock if clock is not None else REAL_TIME
        self.bias_step = float(bias_step)
        self.clip_fraction = float(clip_fraction)
        self.clip_voltage = float(clip_voltage)
        self.barrier_height = float(barrier_height)
        self.feedback_timeout = float(feedback_timeout)
        self.move_timeout = 120.0  # wall s for a lateral move (FolMe, wait until done)
        self.transport = NanonisTransport(host, port, timeout=timeout)
        self._signal_names: list[str] | None = None
        try:
            self.transport.connect()
        except OSError as exc:
            self.close()
            raise NanonisConnectionError("connect", f"cannot reach {where}: {exc}") from exc

        self.bias: Parameter = self.add_parameter(
            "bias",
            label="Bias",
            unit="V",
            get_cmd=self._get_bias,
            set_cmd=self._set_bias,
            vals=vals.Numbers(),
            docstring="Sample bias (V); |V| ≤ safety.max_bias, ≥ min_feedback_bias while the "
            "feedback regulates; ramped at ≤ safety.max_bias_slew_rate in ≤ bias_step steps.",
        )
        self.setpoint: Parameter = self.add_parameter(
            "setpoint",
            label="Setpoint current",
            unit="A",
            get_cmd=self._get_setpoint,
            set_cmd=self._set_setpoint,
            vals=vals.Numbers(),
            docstring="Z controller setpoint (A); |I| ≤ safety.max_setpoint_current and ≤ "
            "clip_fraction of the preamp clip level at the present gain.",
        )
        self.feedback: Parameter = self.add_parameter(
            "feedback",
            label="Z feedback",
            get_cmd=self._feedback_on,
            set_cmd=self._set_feedback,
            vals=vals.Bool(),
            docstring="Z controller on/off; a set waits until ZCtrl.StatusGet confirms.",
        )
        self.z: Parameter = self.add_parameter(
            "z",
            label="Tip height",
            unit="m",
            get_cmd=lambda: float(self._call("ZCtrl.ZPosGet")["z"]),
            set_cmd=self._set_z,
            vals=vals.Numbers(),
            docstring="Tip height (m, larger = further away); settable only with feedback off.",
        )
        self.z_limits: Parameter = self.add_parameter(
            "z_limits",
            label="Z limits (high, low)",
            unit="m",
            get_cmd=self._get_z_limits,
            set_cmd=self._set_z_limits,
            vals=vals.Sequence(vals.Numbers(), length=2),
            docstring="Z controller limits (high, low) in m, high > low.",
        )
        self.limits_enabled: Parameter = self.add_parameter(
            "limits_enabled",
            label="Z limits enabled",
            get_cmd=lambda: bool(self._call("ZCtrl.LimitsEnabledGet")["enabled"]),
            set_cmd=lambda on: self._call("ZCtrl.LimitsEnabledSet", 1 if on else 0),
            vals=vals.Bool(),
        )
        self.preamp_gain: Parameter = self.add_parameter(
            "preamp_gain",
            label="Current preamp gain",
            unit="V/A",
            get_cmd=lambda: self._gains().gain,
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
            get_cmd=lambda: float(self._call("Current.Get")["current"]),
            set_cmd=False,
        )
        self.status: Parameter = self.add_parameter(
            "status",
            label="Z controller status",
            get_cmd=self._get_status,
            set_cmd=False,
        )

    # ---- plumbing -----------------------------------------------------------------------
    def _call(self, name: str, *args: Any, timeout: float | None = None) -> dict[str, Any]:
        return self.transport.call(name, *args, timeout=timeout)

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
    def _get_bias(self) -> float:
        return float(self._call("Bias.Get")["bias"])

    def _set_bias(self, target: float) -> None:
        target = float(target)
        self.safety.check_bias(target, feedback_on=False)
        start = self._get_bias()
        self._check_bias_path(start, target)
        self._ramp_bias(start, target)

    def _check_bias_path(self, start: float, target: float) -> None:
        """Refuse (SafetyError) a ramp that would pass below min_feedback_bias with the
        feedback on: the target itself, or a change of sign."""
        low = self.safety.min_feedback_bias
        if abs(target) >= low and abs(start) >= low and start * target > 0:
            return  # the whole path stays away from zero: no need to ask for the feedback
        if self._feedback_on():
            self.safety.check_bias(target, feedback_on=True)
            if start * target < 0:
                raise SafetyError(
                    f"bias ramp {start:.4g} V → {target:.4g} V crosses zero while the "
                    "feedback regulates; switch the feedback off first"
                )

    def _ramp_bias(self, start: float, target: float) -> None:
        delta = target - start
        if delta == 0:
            self._call("Bias.Set", target)
            return
        n = max(1, math.ceil(abs(delta) / self.bias_step - 1e-6))
        dwell = abs(delta) / n / self.safety.max_bias_slew_rate  # world s per step
        for k in range(1, n + 1):
            value = target if k == n else start + delta * k / n
            self._call("Bias.Set", value)
            self.clock.sleep(dwell)

    # ---- setpoint, gains -------------------------------------------------------------------
    def _get_setpoint(self) -> float:
        return float(self._call("ZCtrl.SetpntGet")["setpoint"])

    def clip_current(self, gain: float) -> float:
        """Preamp clip level (A) at ``gain`` (V/A): ``clip_voltage / gain``."""
        return self.clip_voltage / gain

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
        self._check_setpoint_for_gain(value, self._gains().gain)
        self._call("ZCtrl.SetpntSet", value)

    def _gains(self) -> _Gains:
        reply = self._call("Current.GainsGet")
        names = list(reply["gains"])
        values = []
        for n in names:
            try:
                values.append(parse_gain(n))
            except ValueError:
                values.append(math.nan)
        index = int(reply["gain_index"])
        if not 0 <= index < len(names):
            raise NanonisProtocolError(f"gain index {index} outside the {len(names)} gains")
        has_filters = "filters" in reply
        self.transport.gainset_with_filter = has_filters
        return _Gains(names, values, index, has_filters)

    def _gain_index(self, gains: _Gains, value: float) -> int:
        for i, g in enumerate(gains.values):
            if math.isfinite(g) and abs(g - value) <= 1e-6 * value:
                return i
        raise ValueError(
            f"no preamp gain {value:.4g} V/A; available: "
            + ", ".join(f"{n!r}" for n in gains.names)
        )

    def _set_preamp_gain(self, value: float) -> None:
        gains = self._gains()
        index = self._gain_index(gains, float(value))
        if self._feedback_on():
            self._check_setpoint_for_gain(self._get_setpoint(), gains.values[index])
        self._write_gain_index(index)

    def _write_gain_index(self, index: int) -> None:
        self._call("Current.GainSet", index, -1)

    def gain_for(self, current: float, gains: Sequence[float] | None = None) -> float:
        """Highest preamp gain (V/A) at which ``|current|`` (A) stays within
        ``clip_fraction`` of the clip level; raises SafetyError if none does."""
        values = self._gains().values if gains is None else list(gains)
        ok = [g for g in values if math.isfinite(g) and abs(current) <= self.max_current(g)]
        if not ok:
            raise SafetyError(
                f"no preamp gain keeps {current:.4g} A below {self.clip_fraction:g} of its "
                "clip level"
            )
        return max(ok)

    # ---- feedback, z --------------------------------------------------------------------
    def _feedback_on(self) -> bool:
        return bool(self._call("ZCtrl.OnOffGet")["on"])

    def _get_status(self) -> str:
        code = int(self._call("ZCtrl.StatusGet")["status"])
        return ZCTRL_STATUS.get(code, f"unknown ({code})")

    def _set_feedback(self, on: bool) -> None:
        on = bool(on)
        if on:
            self.safety.check_bias(self._get_bias(), feedback_on=True)
            setpoint = self._get_setpoint()
            self.safety.check_setpoint(setpoint)
            self._check_setpoint_for_gain(setpoint, self._gains().gain)
        self._call("ZCtrl.OnOffSet", 1 if on else 0)
        self._wait_feedback(on)

    def _wait_feedback(self, on: bool) -> None:
        """Poll ``ZCtrl.StatusGet`` until it reports on (2) / off (1)."""
        want = 2 if on else 1
        deadline = self.clock.now() + self.feedback_timeout
        while True:
            code = int(self._call("ZCtrl.StatusGet")["status"])
            if code == want:
                return
            if self.clock.now() > deadline:
                raise TimeoutError(
                    f"Z controller status {ZCTRL_STATUS.get(code, code)!r} after "
                    f"{self.feedback_timeout:g} s; expected {ZCTRL_STATUS[want]!r}"
                )
            self.clock.sleep(min(0.01, self.feedback_timeout / 20))

    def _set_z(self, z: float) -> None:
        if self._feedback_on():
            raise SafetyError("ZCtrl.ZPosSet only with the feedback off (feedback is on)")
        self._call("ZCtrl.ZPosSet", float(z))

    def _get_z_limits(self) -> tuple[float, float]:
        r = self._call("ZCtrl.LimitsGet")
        return float(r["high"]), float(r["low"])

    def _set_z_limits(self, limits: Sequence[float]) -> None:
        high, low = (float(v) for v in limits)
        if not high > low:
            raise ValueError(f"Z limits need high > low, got high={high:g} m, low={low:g} m")
        self._call("ZCtrl.LimitsSet", high, low)

    def withdraw(self, wait: bool = True, timeout: float = 10.0) -> None:
        """Withdraw the tip (feedback off, tip to the top of its range). ``timeout``:
        world s the controller may take when ``wait``."""
        ms = round(timeout * 1e3)
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

    # ---- signals ---------------------------------------------------------------------------
    def signal_names(self, refresh: bool = False) -> list[str]:
        """Signal names by index (``Signals.NamesGet``, cached)."""
        if self._signal_names is None or refresh:
            self._signal_names = list(self._call("Signals.NamesGet")["names"])
        return list(self._signal_names)

    def signal_index(self, name: str) -> int:
        """Index of the signal ``name`` (e.g. ``"Current (A)"``); KeyError if unknown."""
        for refresh in (False, True):
            names = self.signal_names(refresh=refresh)
            if name in names:
                return names.index(name)
        raise KeyError(f"no signal {name!r}; the controller has {names}")

    # ---- procedures -------------------------------------------------------------------------
    def approach_setpoint(
        self,
        target: float,
        steps_per_decade: int = 4,
        settle: float = 0.5,
        *,
        tolerance: float = 1.0,
        z_noise: float = 0.05e-10,
        z_margin: float = 2e-10,
        current_tolerance: float = 0.3,
        gain_settle: float = 0.05,
    ) -> list[ApproachStep]:
        """Walk the setpoint to ``target`` (A) in log steps with the feedback on.

        Before anything is sent: ``target`` is checked against safety.max_setpoint_current
        and the preamp gains, and the present bias must satisfy |V| ≥
        safety.min_feedback_bias (no regulation near zero bias: SafetyError).

        Then the preamp gain and the setpoint are made safe for the starting current, the
        feedback is switched on if it was off (settling ``settle``), and the lower Z limit
        is armed below the expected path (from the regulated z to the z the target should
        need, ``decade_length(barrier_height)`` per decade, minus ``tolerance`` × the
        travel + ``z_margin``; the upper limit is kept, so a withdraw still retracts
        fully) and enabled. The setpoint is stepped ``steps_per_decade`` per decade,
        waiting ``settle`` world s after each step. Before a step would exceed
        ``clip_fraction`` of the clip level the preamp goes to a lower gain; going down it
        returns to the highest suitable gain after the step. A gain switch holds the tip
        (feedback off), switches, waits ``gain_settle`` and regulates again.

        After each step the tip travel must match the prediction
        (|dz − dz_pred| ≤ tolerance·|dz_pred| + z_noise), the current must be within
        ``current_tolerance`` decades of the setpoint and below the clip level; otherwise
        the tip is withdrawn and :class:`ApproachError` raised (carrying the steps).
        On success the previous Z limits are restored if they contain the final z
        (otherwise the approach limits stay), limits stay enabled.

        Returns the record of every step (the first entry is the starting state).
        """
        target = float(target)
        if target == 0 or not math.isfinite(target):
            raise ValueError(f"target setpoint must be non-zero and finite, got {target!r}")
        if steps_per_decade < 1:
            raise ValueError("steps_per_decade must be ≥ 1")
        self.safety.check_setpoint(target)
        bias = self._get_bias()
        self.safety.check_bias(bias, feedback_on=True)
        gains = self._gains()
        gain_values = gains.values
        self.gain_for(target, gain_values)  # raises if no gain can carry the target
        start = self._get_setpoint()
        sign = math.copysign(1.0, target)
        start_changed = start == 0 or start * target < 0
        if start_changed:
            start = sign * min(abs(target), self.max_current(gains.gain))
        decades = math.log10(abs(target) / abs(start))
        n = math.ceil(abs(decades) * steps_per_decade - 1e-3)
        plan = [sign * abs(start) * 10 ** (decades * k / n) for k in range(1, n + 1)]
        for sp in plan:
            self.safety.check_setpoint(sp)
        a = decade_length(self.barrier_height)

        gain = gains.gain
        fb_on = self._feedback_on()
        if not fb_on or abs(start) > self.max_current(gain):
            need = self.gain_for(start, gain_values)
            if need != gain:
                self._switch_gain(gains, need, feedback=fb_on, settle=gain_settle)
                gain = need
        if start_changed:
            self._call("ZCtrl.SetpntSet", start)
        if not fb_on:
            self._call("ZCtrl.OnOffSet", 1)
            self._wait_feedback(True)
            self.clock.sleep(settle)

        # arm the lower Z limit (the side of the sample) below the expected path, from the
        # regulated starting height; the upper limit stays (a withdraw goes up to it)
        z0 = float(self._call("ZCtrl.ZPosGet")["z"])
        old_limits = self._get_z_limits()
        travel = -a * decades
        slack = tolerance * abs(travel) + z_margin
        high = max(old_limits[0], max(z0, z0 + travel) + slack)
        self._set_z_limits((high, min(z0, z0 + travel) - slack))
        self._call("ZCtrl.LimitsEnabledSet", 1)

        z_prev = float(self._call("ZCtrl.ZPosGet")["z"])
        steps = [
            ApproachStep(
                abs(start) * sign,
                z_prev,
                gain,
                float(self._call("Current.Get")["current"]),
                0.0,
                0.0,
                self.clock.now(),
            )
        ]
        prev_sp = start
        for sp in plan:
            up = abs(sp) > abs(prev_sp)
            need = self.gain_for(sp, gain_values)
            if up and need < gain:
                self._switch_gain(gains, need, feedback=True, settle=gain_settle)
                gain = need
            self._call("ZCtrl.SetpntSet", sp)
            self.clock.sleep(settle)
            z = float(self._call("ZCtrl.ZPosGet")["z"])
            current = float(self._call("Current.Get")["current"])
            predicted = -a * math.log10(abs(sp) / abs(prev_sp))
            step = ApproachStep(sp, z, gain, current, predicted, z - z_prev, self.clock.now())
            steps.append(step)
            reason = self._approach_anomaly(step, tolerance, z_noise, current_tolerance)
            if reason:
                self._abort_approach(reason, steps)
            if not up and need > gain:
                self._switch_gain(gains, need, feedback=True, settle=gain_settle)
                gain = need
            z_prev, prev_sp = z, sp

        high, low = old_limits
        if low + z_margin < z_prev < high - z_margin:
            self._set_z_limits(old_limits)
        return steps

    def _approach_anomaly(
        self, step: ApproachStep, tolerance: float, z_noise: float, current_tolerance: float
    ) -> str | None:
        if abs(step.current) >= 0.95 * self.clip_current(step.gain):
            return (
                f"preamp clipping at setpoint {step.setpoint:.4g} A "
                f"(current {step.current:.4g} A, gain {step.gain:.3g} V/A)"
            )
        if abs(step.dz - step.predicted_dz) > tolerance * abs(step.predicted_dz) + z_noise:
            return (
                f"tip moved {step.dz * 1e10:.3g} Å at setpoint {step.setpoint:.4g} A; "
                f"the step predicts {step.predicted_dz * 1e10:.3g} Å"
            )
        if step.current == 0:
            return f"no current at setpoint {step.setpoint:.4g} A"
        off = abs(math.log10(abs(step.current) / abs(step.setpoint)))
        if off > current_tolerance:
            return (
                f"current {step.current:.4g} A is {off:.2g} decades off the setpoint "
                f"{step.setpoint:.4g} A (Z limit reached or feedback not settling)"
            )
        return None

    def _abort_approach(self, reason: str, steps: list[ApproachStep]) -> None:
        try:
            self.withdraw()
        except Exception as exc:  # still report the anomaly, with the withdraw failure
            raise ApproachError(f"{reason}; withdraw failed too: {exc}", steps) from exc
        raise ApproachError(reason, steps)

    def _switch_gain(self, gains: _Gains, value: float, *, feedback: bool, settle: float) -> None:
        """Switch the preamp to ``value`` (V/A), holding the tip (feedback off) meanwhile."""
        index = self._gain_index(gains, value)
        if feedback:
            self._call("ZCtrl.OnOffSet", 0)
            self._wait_feedback(False)
        self._write_gain_index(index)
        self.clock.sleep(settle)
        if feedback:
            self._call("ZCtrl.OnOffSet", 1)
            self._wait_feedback(True)

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
        and one entry per returned channel (``"<name> [bwd]"`` for the backward sweep);
        arrays are float64.
        """
        start, end, points, sweeps = float(start), float(end), int(points), int(sweeps)
        self.safety.check_bias(start, feedback_on=False)
        self.safety.check_bias(end, feedback_on=False)
        if points < 2 or sweeps < 1:
            raise ValueError("need points ≥ 2 and sweeps ≥ 1")
        slew = self.safety.max_bias_slew_rate
        if max_slew_rate is not None:
            slew = min(slew, float(max_slew_rate))
        if z_offset < -5e-10:
            raise SafetyError(f"Z offset {z_offset:g} m would push the tip more than 5 Å in")
        indices = [self.signal_index(c) for c in channels]
        self._call("BiasSpectr.Open")
        self._call("BiasSpectr.PropsSet", 2, sweeps, 1 if backward else 2, points, z_offset, 2, 2)
        self._call("BiasSpectr.LimitsSet", start, end)
        self._call(
            "BiasSpectr.TimingSet",
            z_averaging,
            z_offset,
            initial_settling,
            slew,
            settling,
            integration,
            end_settling,
            z_control_time,
        )
        self._call("BiasSpectr.ChsSet", indices)
        bias_now = self._get_bias()
        directions = 2 if backward else 1
        span = abs(end - start) * (2 * sweeps * directions) + abs(bias_now - start) + abs(end)
        expected = (
            z_averaging
            + initial_settling
            + end_settling
            + z_control_time
            + sweeps * directions * points * (settling + integration)
            + span / slew
        )
        reply = self._call(
            "BiasSpectr.Start",
            1,
            "",
            timeout=self.transport.timeout + 2.0 * self._wall(expected) + 1.0,
        )
        names = list(reply["channels"])
        data = np.asarray(reply["data"], dtype=np.float64)
        if len(names) == data.shape[0] - 1:
            names = ["Bias calc (V)", *names]
        if len(names) != data.shape[0]:
            raise NanonisProtocolError(
                f"BiasSpectr.Start returned {len(names)} names for {data.shape[0]} rows"
            )
        return {n: data[i].copy() for i, n in enumerate(names)}

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
        on."""
        bias, setpoint = float(bias), float(setpoint)
        self.safety.check_bias(bias, feedback_on=True)
        self.safety.check_setpoint(setpoint)
        gain_needed = self.gain_for(setpoint)
        cur_bias = self._get_bias()
        if not self._feedback_on():
            self._ramp_bias(cur_bias, bias)
            self._set_gain_and_setpoint(gain_needed, setpoint)
            self._set_feedback(True)
            return
        cur_sp = self._get_setpoint()
        usable = abs(cur_bias) >= self.safety.min_feedback_bias
        same_sign = cur_sp * setpoint > 0
        if usable and same_sign and abs(setpoint) < abs(cur_sp):
            self.approach_setpoint(setpoint, steps_per_decade, settle)
            cur_sp = setpoint
        if usable and cur_bias * bias > 0:
            self._ramp_bias(cur_bias, bias)
        else:
            self._call("ZCtrl.OnOffSet", 0)
            self._wait_feedback(False)
            self._ramp_bias(cur_bias, bias)
            low = math.copysign(min(abs(cur_sp), abs(setpoint)), setpoint)
            self._set_gain_and_setpoint(self.gain_for(low), low)
            self._set_feedback(True)
        self.approach_setpoint(setpoint, steps_per_decade, settle)

    def _set_gain_and_setpoint(self, gain: float, setpoint: float) -> None:
        """With the feedback off: preamp to ``gain`` (V/A), then the setpoint (A)."""
        gains = self._gains()
        if gains.gain != gain:
            self._write_gain_index(self._gain_index(gains, gain))
        self._call("ZCtrl.SetpntSet", setpoint)
