"""Simulated Nanonis STM controller: the Nanonis TCP programming interface over 127.0.0.1.

Wire format (docs/protocols.md, "Nanonis"; big-endian): a request is a 40-byte header — command name
(ASCII, NUL-padded to 32 bytes), i32 body size, u16 send-response flag, 2 zero bytes —
then the body. A reply echoes the name in the same header layout (response flag 0) and
its body always ends with the error section (u32 status, 1 = error; i32 length; message).
Unknown commands get an error section with a message and no return values (the name
shown ASCII-escaped, so the text is valid UTF-8 whatever bytes the name held; error texts
are UTF-8). A body that is longer or shorter than the command's arguments
(:data:`andreev.sim.nanonis_wire.ARGUMENTS`) is refused with an error reply before
anything runs, and the connection goes on serving. A request whose response flag is 0
is executed but not answered. NaN in the Z offset of ``BiasSpectr.PropsSet`` and in
any ``BiasSpectr.TimingSet`` value means "no change".

``LI Demod 1 X/Y``: with the controller's modulator 1 on (``LockIn.ModOnOffSet``), dI/dV
times its amplitude (taken as peak, /√2) rotated by demodulator 1's phase; with it off,
the SR830's modulation as below. ``BiasSpectr.AdvPropsSet`` reset-bias and Z-hold are
applied by the sweep; record-final-Z and lock-in-run are stored only. ``BiasSpectr.Stop``
(from another connection) ends a running sweep: its ``Start`` replies with an error.
``ZCtrl.TipLift``, ``SwitchOffDelay`` and ``WithdrawRate`` are stored only; ``ZCtrl.Home``
withdraws (the home position is the withdraw position).

The codec is the simulator's own (:mod:`andreev.sim.nanonis_wire`, never shared with the
drivers), so that a bug in one side's encoding cannot hide in the other's decoding.

Signals (``Signals.NamesGet`` order): see :data:`SIGNALS`. ``LI Demod 1 X (A)`` is the
junction's dI/dV (S) times the modulation at the junction (SR830 SLVL × the World's
modulation divider, V rms); ``LI Demod 1 Y (A)`` is noise.

``BiasSpectr.Start`` runs the whole sweep controller-side, sleeping on the world clock:
Z averaging with the feedback as it was, feedback off (hold) with the Z offset applied,
the bias ramped (max slew rate) to each point, settling + integration per point, an
optional backward sweep, end settling, then bias, Z and feedback restored and the Z
control time waited. The reply's channel names include ``"Bias calc (V)"`` first, so name
``i`` labels data row ``i``; backward channels are named ``"<name> [bwd]"`` and are
aligned with the same bias columns as the forward ones (points × sweeps averaged).
Parameters returned (f32): Z averaged before the sweep (m), sweep start and end world
time (s), the bias before the sweep (V), the setpoint (A).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from andreev.sim.nanonis_wire import HEADER as _HEADER
from andreev.sim.nanonis_wire import ArgumentError as _ArgumentError
from andreev.sim.nanonis_wire import CommandError as _CommandError
from andreev.sim.nanonis_wire import Reader as _Reader
from andreev.sim.nanonis_wire import Writer as _Writer
from andreev.sim.nanonis_wire import check_body as _check_body
from andreev.sim.nanonis_wire import flag as _flag
from andreev.sim.tcp import Connection, TCPServer

__all__ = ["SIGNALS", "NanonisServer"]

SIGNALS: tuple[str, ...] = (
    "Current (A)",
    "Bias (V)",
    "Z (m)",
    "LI Demod 1 X (A)",
    "LI Demod 1 Y (A)",
    "X (m)",
    "Y (m)",
)
"""Signal names by index, as ``Signals.NamesGet`` returns them."""

#: names of the parameters BiasSpectr.Start returns (BiasSpectr.PropsGet lists them)
SWEEP_PARAMETERS: tuple[str, ...] = (
    "Z averaged (m)",
    "Start time (s)",
    "End time (s)",
    "Bias before (V)",
    "Setpoint (A)",
)

PRODUCT_LINE = "Nanonis SPM Control Software"
VERSION = "Generic 5e (simulated)"
HOST_RELEASE = 13520
RT_RELEASE = 13520

HEADER_SIZE = _HEADER.size  # 40


# ---- the server -----------------------------------------------------------------------
class NanonisServer(TCPServer):
    """Nanonis TCP interface to ``world.junction`` (see the module docstring).

    Attributes besides :class:`~andreev.sim.tcp.TCPServer`'s (``faults``, ``received``):
    ``spectr`` (dict of the Bias Spectroscopy module settings), ``safetip`` (dict),
    ``lockin_noise`` (A rms of ``LI Demod 1 Y``).
    """

    def __init__(self, world: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, name="nanonis")
        self.world = world
        self.lockin_noise = 2e-15
        self.spectr: dict[str, Any] = {
            "open": False,
            "save_all": False,
            "sweeps": 1,
            "backward": False,
            "points": 201,
            "z_offset": 0.0,
            "autosave": False,
            "show_dialog": False,
            "start": -0.01,
            "end": 0.01,
            # Z averaging, Z offset, initial settling, max slew rate (V/s), settling,
            # integration, end settling, Z control time (s)
            "timing": [0.1, 0.0, 0.01, 1.0, 0.005, 0.005, 0.01, 0.1],
            "channels": [0],
            # advanced properties: reset bias, Z-controller hold, record final Z, lock-in run
            "reset_bias": True,
            "z_hold": True,
            "record_final_z": False,
            "lockin_run": False,
        }
        #: ZCtrl settings without a model behind them: tip lift (m), switch-off delay (s),
        #: withdraw slew rate (m/s)
        self.zctrl: dict[str, float] = {
            "tip_lift": 0.0,
            "switch_off_delay": 0.0,
            "withdraw_rate": 1e-6,
        }
        #: the controller's own lock-in: modulators 1-8 (on, amplitude V, frequency Hz)
        #: and demodulator phases 1-8 (deg)
        self.modulators: dict[int, dict[str, Any]] = {
            m: {"on": False, "amplitude": 0.0, "frequency": 1000.0} for m in range(1, 9)
        }
        self.demod_phase: dict[int, float] = dict.fromkeys(range(1, 9), 0.0)
        self._spectr_stop = threading.Event()
        self.safetip: dict[str, Any] = {
            "on": False,
            "auto_recover": False,
            "auto_pause": False,
            "threshold": 1e-6,
        }
        self._spectr_running = 0
        self._state_lock = threading.Lock()
        self._handlers = {
            "Bias.Set": self._bias_set,
            "Bias.Get": self._bias_get,
            "Current.Get": self._current_get,
            "Current.GainsGet": self._gains_get,
            "Current.GainSet": self._gain_set,
            "ZCtrl.SetpntSet": self._setpnt_set,
            "ZCtrl.SetpntGet": self._setpnt_get,
            "ZCtrl.OnOffSet": self._onoff_set,
            "ZCtrl.OnOffGet": self._onoff_get,
            "ZCtrl.ZPosSet": self._zpos_set,
            "ZCtrl.ZPosGet": self._zpos_get,
            "ZCtrl.GainSet": self._zgain_set,
            "ZCtrl.GainGet": self._zgain_get,
            "ZCtrl.Withdraw": self._withdraw,
            "ZCtrl.LimitsEnabledSet": self._limits_enabled_set,
            "ZCtrl.LimitsEnabledGet": self._limits_enabled_get,
            "ZCtrl.LimitsSet": self._limits_set,
            "ZCtrl.LimitsGet": self._limits_get,
            "ZCtrl.StatusGet": self._status_get,
            "ZCtrl.TipLiftSet": self._zsetting_set("tip_lift", -1e-6, 1e-6),
            "ZCtrl.TipLiftGet": self._zsetting_get("tip_lift"),
            "ZCtrl.SwitchOffDelaySet": self._zsetting_set("switch_off_delay", 0.0, 100.0),
            "ZCtrl.SwitchOffDelayGet": self._zsetting_get("switch_off_delay"),
            "ZCtrl.WithdrawRateSet": self._zsetting_set("withdraw_rate", 1e-12, 1e-3),
            "ZCtrl.WithdrawRateGet": self._zsetting_get("withdraw_rate"),
            "ZCtrl.Home": self._home,
            "SafeTip.OnOffSet": self._safetip_onoff_set,
            "SafeTip.PropsSet": self._safetip_props_set,
            "SafeTip.OnOffGet": self._safetip_onoff_get,
            "SafeTip.PropsGet": self._safetip_props_get,
            "Signals.NamesGet": self._signal_names,
            "Signals.ValGet": self._signal_val,
            "Signals.ValsGet": self._signal_vals,
            "BiasSpectr.Open": self._spectr_open,
            "BiasSpectr.PropsSet": self._spectr_props_set,
            "BiasSpectr.LimitsSet": self._spectr_limits_set,
            "BiasSpectr.TimingSet": self._spectr_timing_set,
            "BiasSpectr.ChsSet": self._spectr_chs_set,
            "BiasSpectr.Start": self._spectr_start,
            "BiasSpectr.Stop": self._spectr_stop_cmd,
            "BiasSpectr.StatusGet": self._spectr_status,
            "BiasSpectr.PropsGet": self._spectr_props_get,
            "BiasSpectr.AdvPropsSet": self._spectr_adv_set,
            "BiasSpectr.AdvPropsGet": self._spectr_adv_get,
            "BiasSpectr.LimitsGet": self._spectr_limits_get,
            "BiasSpectr.TimingGet": self._spectr_timing_get,
            "BiasSpectr.ChsGet": self._spectr_chs_get,
            "LockIn.ModOnOffSet": self._mod_onoff_set,
            "LockIn.ModOnOffGet": self._mod_onoff_get,
            "LockIn.ModAmpSet": self._mod_amp_set,
            "LockIn.ModAmpGet": self._mod_amp_get,
            "LockIn.ModPhasFreqSet": self._mod_freq_set,
            "LockIn.ModPhasFreqGet": self._mod_freq_get,
            "LockIn.ModFreqSet": self._mod_freq_set,
            "LockIn.ModFreqGet": self._mod_freq_get,
            "LockIn.DemodPhasSet": self._demod_phase_set,
            "LockIn.DemodPhasGet": self._demod_phase_get,
            "FolMe.XYPosSet": self._xy_set,
            "FolMe.XYPosGet": self._xy_get,
            "Util.VersionGet": self._version_get,
        }

        # some clients send the names lower-cased; the controller accepts them
        self._handlers_lower = {k.lower(): v for k, v in self._handlers.items()}
        self._canonical = {k.lower(): k for k in self._handlers}

    @property
    def commands(self) -> tuple[str, ...]:
        """Names of every command this server implements."""
        return tuple(self._handlers)

    # ---- connection loop ------------------------------------------------------------
    def handle_connection(self, conn: Connection) -> None:
        while not conn.closed:
            head = conn.read_exact(HEADER_SIZE)
            if head is None:
                return
            raw_name, body_size, respond = _HEADER.unpack(head)
            if body_size < 0 or body_size > 1 << 24:
                return  # framing lost: a real controller would drop the client too
            body = conn.read_exact(body_size)
            if body is None:
                return
            raw = raw_name.split(b"\0", 1)[0]
            name = raw.decode("utf-8", errors="replace")
            if not conn.begin_request():
                return
            self.record(name)
            reply_body = self.execute(name, body, raw)
            if respond:
                conn.reply(_HEADER.pack(raw[:32], len(reply_body), 0) + reply_body)

    def execute(self, name: str, body: bytes, raw: bytes | None = None) -> bytes:
        """Run one command; returns the reply body (values + error section). A body that
        does not match the command's arguments (too short, too long) is refused before
        anything runs."""
        handler = self._handlers.get(name)
        canonical = name
        if handler is None:
            handler = self._handlers_lower.get(name.lower())
            canonical = self._canonical.get(name.lower(), name)
        if handler is None:
            shown = ascii((raw if raw is not None else name.encode("utf-8")).decode("latin-1"))
            return _Writer().body(f"Command not found: {shown} is not a known command")
        problem = _check_body(canonical, body)
        if problem is not None:
            return _Writer().body(problem)
        reader = _Reader(body)
        try:
            writer = handler(reader)
        except _ArgumentError as exc:
            return _Writer().body(f"{name}: could not read the arguments ({exc})")
        except (_CommandError, ValueError, RuntimeError) as exc:
            return _Writer().body(f"{name}: {exc}")
        return writer.body()

    # ---- world access ------------------------------------------------------------------
    @property
    def junction(self) -> Any:
        return self.world.junction

    def _sync(self) -> None:
        """Bring the world to now (call under the lock); the world applies its faults."""
        self.world.advance()

    def _modulation_rms(self) -> float:
        """Modulation at the junction (V rms): SR830 SLVL × modulation divider."""
        return float(self.world.v_mod_rms())

    def _demod(self, x: bool) -> float:
        """``LI Demod 1 X`` (x) or ``Y`` (A): with modulator 1 on, the junction's dI/dV
        times its amplitude (peak, /√2 → rms) rotated by demodulator 1's phase; with it
        off, dI/dV times the SR830's modulation at the junction on X and noise on Y."""
        j, mod = self.junction, self.modulators[1]
        if not mod["on"]:
            if x:
                return float(self.world.conductance()) * self._modulation_rms()
            return j.noise(self.lockin_noise)
        noise = j.noise(self.lockin_noise)
        signal = float(self.world.conductance()) * mod["amplitude"] / math.sqrt(2.0)
        phase = math.radians(self.demod_phase[1])
        return signal * (math.cos(phase) if x else -math.sin(phase)) + noise

    def _signal_value(self, index: int) -> float:
        """Present value of signal ``index`` (call under the lock, after _sync)."""
        j = self.junction
        if index == 0:
            return j.measured_current()
        if index == 1:
            return j.bias
        if index == 2:
            return j.z
        if index in (3, 4):
            return self._demod(index == 3)
        if index == 5:
            return j.x
        if index == 6:
            return j.y
        raise _CommandError(f"signal index {index} outside 0 … {len(SIGNALS) - 1}")

    # ---- Bias / Current ---------------------------------------------------------------
    def _bias_set(self, r: _Reader) -> _Writer:
        v = r.f32()
        if not math.isfinite(v) or abs(v) > 10.0:
            raise _CommandError(f"bias {v} V outside ±10 V")
        with self.world.lock:
            self._sync()
            self.junction.bias = v
        return _Writer()

    def _bias_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            return _Writer().f32(self.junction.bias)

    def _current_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            return _Writer().f32(self.world.junction.measured_current())

    def _gains_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            j = self.junction
            w = _Writer().string_array(j.gain_names).i32(j.gain_index)
            return w.string_array(j.filters).i32(j.filter_index)

    def _gain_set(self, r: _Reader) -> _Writer:
        index = r.i32()
        filt = r.i32() if r.remaining() >= 4 else -1
        with self.world.lock:
            self._sync()
            j = self.junction
            if not 0 <= index < len(j.gains):
                raise _CommandError(f"gain index {index} outside 0 … {len(j.gains) - 1}")
            if filt != -1 and not 0 <= filt < len(j.filters):
                raise _CommandError(f"filter index {filt} outside 0 … {len(j.filters) - 1}")
            j.set_gain_index(index)
            if filt != -1:
                j.filter_index = filt
        return _Writer()

    # ---- Z controller ---------------------------------------------------------------
    def _setpnt_set(self, r: _Reader) -> _Writer:
        value = r.f32()
        if not math.isfinite(value):
            raise _CommandError("setpoint must be finite")
        with self.world.lock:
            self._sync()
            self.junction.setpoint = value
        return _Writer()

    def _setpnt_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            return _Writer().f32(self.junction.setpoint)

    def _onoff_set(self, r: _Reader) -> _Writer:
        value = r.u32()
        if value not in (0, 1):
            raise _CommandError(f"Z-controller status {value} not 0 (off) or 1 (on)")
        with self.world.lock:
            self._sync()
            self.junction.set_feedback(value == 1)
        return _Writer()

    def _onoff_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            return _Writer().u32(1 if self.junction.feedback else 0)

    def _zpos_set(self, r: _Reader) -> _Writer:
        z = r.f32()
        with self.world.lock:
            self._sync()
            if self.junction.feedback:
                raise _CommandError("Z position cannot be set while the Z-controller is on")
            self.junction.set_z(z)
        return _Writer()

    def _zpos_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            return _Writer().f32(self.junction.z)

    def _zgain_set(self, r: _Reader) -> _Writer:
        p, t, i = r.f32(), r.f32(), r.f32()
        if p < 0 or t < 0 or i < 0:
            raise _CommandError("Z-controller gains must be ≥ 0")
        with self.world.lock:
            self._sync()
            self.junction.set_gains(p, t, i)
        return _Writer()

    def _zgain_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            j = self.junction
            return _Writer().f32(j.gain_p).f32(j.gain_t).f32(j.gain_i)

    def _withdraw(self, r: _Reader) -> _Writer:
        r.u32()
        r.i32()
        with self.world.lock:
            self._sync()
            self.junction.withdraw()
        return _Writer()

    def _limits_enabled_set(self, r: _Reader) -> _Writer:
        value = r.u32()
        if value not in (0, 1):
            raise _CommandError(f"limits status {value} not 0 (off) or 1 (on)")
        with self.world.lock:
            self._sync()
            self.junction.limits_enabled = value == 1
            self.junction.set_limits(*self.junction.z_limits)
        return _Writer()

    def _limits_enabled_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            return _Writer().u32(1 if self.junction.limits_enabled else 0)

    def _limits_set(self, r: _Reader) -> _Writer:
        high, low = r.f32(), r.f32()
        if not high > low:
            raise _CommandError(f"high limit {high} m must be above low limit {low} m")
        with self.world.lock:
            self._sync()
            self.junction.set_limits(high, low)
        return _Writer()

    def _limits_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            high, low = self.junction.z_limits
            return _Writer().f32(high).f32(low)

    def _status_get(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            if self._spectr_running:
                status = 3  # hold
            else:
                status = self.junction.status
            return _Writer().u16(status)

    def _safetip_onoff_set(self, r: _Reader) -> _Writer:
        value = r.u16()
        with self._state_lock:
            self.safetip["on"] = _flag(value, self.safetip["on"])
        return _Writer()

    def _safetip_props_set(self, r: _Reader) -> _Writer:
        recover, pause, threshold = r.u16(), r.u16(), r.f32()
        with self._state_lock:
            self.safetip["auto_recover"] = _flag(recover, self.safetip["auto_recover"])
            self.safetip["auto_pause"] = _flag(pause, self.safetip["auto_pause"])
            self.safetip["threshold"] = threshold
        return _Writer()

    def _safetip_onoff_get(self, r: _Reader) -> _Writer:
        with self._state_lock:
            return _Writer().u16(int(self.safetip["on"]))

    def _safetip_props_get(self, r: _Reader) -> _Writer:
        with self._state_lock:
            st = self.safetip
            w = _Writer().u16(int(st["auto_recover"])).u16(int(st["auto_pause"]))
            return w.f32(st["threshold"])

    # ---- signals, position, version -----------------------------------------------------
    def _signal_names(self, r: _Reader) -> _Writer:
        return _Writer().string_array(SIGNALS)

    def _signal_val(self, r: _Reader) -> _Writer:
        index = r.i32()
        r.u32()  # wait for newest: every value is "newest" here
        with self.world.lock:
            self._sync()
            return _Writer().f32(self._signal_value(index))

    def _xy_set(self, r: _Reader) -> _Writer:
        x, y = r.f64(), r.f64()
        r.u32()
        if not (math.isfinite(x) and math.isfinite(y)):
            raise _CommandError("position must be finite")
        with self.world.lock:
            self._sync()
            self.junction.x = x
            self.junction.y = y
        return _Writer()

    def _xy_get(self, r: _Reader) -> _Writer:
        r.u32()
        with self.world.lock:
            return _Writer().f64(self.junction.x).f64(self.junction.y)

    def _version_get(self, r: _Reader) -> _Writer:
        w = _Writer().string(PRODUCT_LINE).string(VERSION)
        return w.u32(HOST_RELEASE).u32(RT_RELEASE)

    # ---- bias spectroscopy --------------------------------------------------------------
    def _spectr_open(self, r: _Reader) -> _Writer:
        with self._state_lock:
            self.spectr["open"] = True
        return _Writer()

    def _spectr_props_set(self, r: _Reader) -> _Writer:
        save_all, sweeps, backward, points = r.u16(), r.i32(), r.u16(), r.i32()
        z_offset, autosave, dialog = r.f32(), r.u16(), r.u16()
        s = self.spectr
        with self._state_lock:
            s["save_all"] = _flag(save_all, s["save_all"])
            if sweeps > 0:
                s["sweeps"] = sweeps
            s["backward"] = _flag(backward, s["backward"])
            if points > 0:
                if points < 2:
                    raise _CommandError("need at least 2 points")
                s["points"] = points
            if not math.isnan(z_offset):  # NaN: no change
                if not math.isfinite(z_offset):
                    raise _CommandError("Z offset must be finite (or NaN for no change)")
                s["z_offset"] = z_offset
            s["autosave"] = _flag(autosave, s["autosave"])
            s["show_dialog"] = _flag(dialog, s["show_dialog"])
        return _Writer()

    def _spectr_limits_set(self, r: _Reader) -> _Writer:
        start, end = r.f32(), r.f32()
        if not (math.isfinite(start) and math.isfinite(end)) or max(abs(start), abs(end)) > 10:
            raise _CommandError(f"sweep limits {start}, {end} V outside ±10 V")
        with self._state_lock:
            self.spectr["start"], self.spectr["end"] = start, end
        return _Writer()

    def _spectr_timing_set(self, r: _Reader) -> _Writer:
        given = [r.f32() for _ in range(8)]
        with self._state_lock:  # NaN: no change
            values = [
                old if math.isnan(v) else v
                for v, old in zip(given, self.spectr["timing"], strict=True)
            ]
            if any(not math.isfinite(v) or v < 0 for v in values):
                raise _CommandError("timings must be finite and ≥ 0 (NaN: no change)")
            if values[3] <= 0:
                raise _CommandError("max slew rate must be > 0 V/s")
            self.spectr["timing"] = values
        return _Writer()

    def _spectr_chs_set(self, r: _Reader) -> _Writer:
        n = r.i32()
        if n < 0 or n > len(SIGNALS) * 4:
            raise _CommandError(f"bad number of channels {n}")
        indices = [r.i32() for _ in range(n)]
        bad = [i for i in indices if not 0 <= i < len(SIGNALS)]
        if bad:
            raise _CommandError(f"signal indices {bad} outside 0 … {len(SIGNALS) - 1}")
        with self._state_lock:
            self.spectr["channels"] = indices
        return _Writer()

    def _sleep_until(self, t: float) -> None:
        """Wait on the world clock until ``t`` (s); a BiasSpectr.Stop ends the sweep."""
        clock = self.world.clock
        clock.sleep(t - clock.now())
        if self._spectr_stop.is_set():
            raise _CommandError("the bias spectroscopy was stopped (BiasSpectr.Stop)")

    def _spectr_start(self, r: _Reader) -> _Writer:
        get_data = r.u32()
        n = r.i32()
        r.raw_string(n)  # base name: autosave is not simulated
        with self._state_lock:
            if self._spectr_running:
                raise _CommandError("a bias spectroscopy is already running")
            self._spectr_running += 1
            self._spectr_stop.clear()
            settings = {k: (list(v) if isinstance(v, list) else v) for k, v in self.spectr.items()}
        try:
            names, data, params = self._run_sweep(settings)
        finally:
            with self._state_lock:
                self._spectr_running -= 1
        w = _Writer()
        if not get_data:
            return w.string_array([]).f32_2d(np.zeros((0, 0))).i32(0)
        return w.string_array(names).f32_2d(data).i32(len(params)).f32_1d(params)

    def _run_sweep(self, s: dict[str, Any]) -> tuple[list[str], np.ndarray, list[float]]:
        world, clock, j = self.world, self.world.clock, self.junction
        z_avg_t, zctrl_t = s["timing"][0], s["timing"][7]
        points = int(s["points"])
        biases = np.linspace(s["start"], s["end"], points)
        channels = list(s["channels"])
        directions = [1, -1] if s["backward"] else [1]
        sweeps = max(int(s["sweeps"]), 1)
        acc = np.zeros((len(directions), len(channels), points))

        with world.lock:
            self._sync()
            t_start = clock.now()
            v_before = j.bias
            feedback_before = j.feedback
        self._sleep_until(t_start + z_avg_t)  # Z averaging with the feedback as it was
        with world.lock:
            self._sync()
            z_avg = j.z
            j.set_feedback(not s["z_hold"] and feedback_before)
        try:
            t_end = self._sweep_points(s, biases, directions, channels, acc, v_before, z_avg)
        finally:
            with world.lock:
                self._sync()
                if s["reset_bias"]:
                    j.bias = v_before
                if not j.feedback and (s["z_offset"] or not feedback_before):
                    j.set_z(z_avg)
                j.set_feedback(feedback_before)
                setpoint = j.setpoint
        self._sleep_until(t_end + zctrl_t)

        acc /= sweeps
        names = ["Bias calc (V)"]
        rows = [biases]
        for k, direction in enumerate(directions):
            suffix = "" if direction > 0 else " [bwd]"
            for c, index in enumerate(channels):
                base = SIGNALS[index]
                if suffix:
                    unit_at = base.rfind(" (")
                    base = base[:unit_at] + suffix + base[unit_at:]
                names.append(base)
                rows.append(acc[k, c])
        params = [z_avg, t_start, t_end, v_before, setpoint]
        return names, np.vstack(rows), params

    def _sweep_points(
        self,
        s: dict[str, Any],
        biases: np.ndarray,
        directions: list[int],
        channels: list[int],
        acc: np.ndarray,
        v_before: float,
        z_avg: float,
    ) -> float:
        """The held part of a sweep (feedback already off); fills ``acc`` (direction,
        channel, point) with the sum over sweeps; returns the world time at its end.

        The point times follow the timing (slew, settling, integration); the server
        sleeps once until the last one and the World evaluates every point in one
        vectorised step (:meth:`andreev.sim.world.World.held_sweep`)."""
        world, clock, j = self.world, self.world.clock, self.junction
        _, z_off_t, init_settle, slew, settle, integ, end_settle, _ = s["timing"]
        points = len(biases)
        with world.lock:
            self._sync()
            if s["z_offset"] and not j.feedback:
                j.set_z(z_avg + s["z_offset"])
            t = clock.now() + z_off_t + init_settle
        forward = np.arange(points)
        orders = [forward if d > 0 else forward[::-1] for d in directions]
        order = np.concatenate(orders * max(int(s["sweeps"]), 1))
        v = biases[order]
        steps = np.abs(np.diff(v, prepend=v_before)) / slew + settle + integ
        times = t + np.cumsum(steps)
        self._sleep_until(float(times[-1]))
        with world.lock:
            bandwidth = 1.0 / (2.0 * integ) if integ > 0 else 0.0  # boxcar ENBW
            sweep = world.held_sweep(v, times, bandwidth)  # advances the world once
            v_mod = self._modulation_rms()
        n = len(v)
        noise = j.rng.normal(0.0, self.lockin_noise, n) if self.lockin_noise > 0 else np.zeros(n)
        values = {
            0: sweep["current"],
            1: v,
            2: sweep["z"],
            3: sweep["conductance"] * v_mod + sweep["noise_x"],
            4: noise + sweep["noise_y"],
            5: np.full(n, j.x),
            6: np.full(n, j.y),
        }
        block = len(directions) * points
        for k in range(len(directions)):
            for c, index in enumerate(channels):
                for start in range(k * points, n, block):
                    seg = slice(start, start + points)
                    np.add.at(acc[k, c], order[seg], values[index][seg])
        v_now = float(v[-1])
        t = float(times[-1])
        t += end_settle + abs(v_before - v_now) / slew
        self._sleep_until(t)
        with world.lock:
            self._sync()
            return clock.now()

    # ---- bias spectroscopy: getters, advanced properties, stop, status ----------------------
    def _spectr_props_get(self, r: _Reader) -> _Writer:
        with self._state_lock:
            s = dict(self.spectr)
        names = [SIGNALS[i] for i in s["channels"]]
        w = _Writer().u16(int(s["save_all"])).i32(s["sweeps"]).u16(int(s["backward"]))
        return (
            w.i32(s["points"]).string_array(names).string_array(SWEEP_PARAMETERS).string_array([])
        )

    def _spectr_adv_set(self, r: _Reader) -> _Writer:
        flags = [r.u16() for _ in range(4)]
        keys = ("reset_bias", "z_hold", "record_final_z", "lockin_run")
        with self._state_lock:
            values = [_flag(f, self.spectr[k]) for f, k in zip(flags, keys, strict=True)]
            self.spectr.update(zip(keys, values, strict=True))
        return _Writer()

    def _spectr_adv_get(self, r: _Reader) -> _Writer:
        w = _Writer()
        with self._state_lock:
            for key in ("reset_bias", "z_hold", "record_final_z", "lockin_run"):
                w.u16(int(self.spectr[key]))
        return w

    def _spectr_limits_get(self, r: _Reader) -> _Writer:
        with self._state_lock:
            return _Writer().f32(self.spectr["start"]).f32(self.spectr["end"])

    def _spectr_timing_get(self, r: _Reader) -> _Writer:
        w = _Writer()
        with self._state_lock:
            for value in self.spectr["timing"]:
                w.f32(value)
        return w

    def _spectr_chs_get(self, r: _Reader) -> _Writer:
        with self._state_lock:
            channels = list(self.spectr["channels"])
        w = _Writer().i32(len(channels))
        for index in channels:
            w.i32(index)
        return w

    def _spectr_stop_cmd(self, r: _Reader) -> _Writer:
        with self._state_lock:
            if self._spectr_running:
                self._spectr_stop.set()
        return _Writer()

    def _spectr_status(self, r: _Reader) -> _Writer:
        with self._state_lock:
            return _Writer().u32(1 if self._spectr_running else 0)

    # ---- signals -----------------------------------------------------------------------
    def _signal_vals(self, r: _Reader) -> _Writer:
        n = r.i32()
        indices = [r.i32() for _ in range(n)]
        r.u32()  # wait for newest: every value is "newest" here
        with self.world.lock:
            self._sync()
            values = [self._signal_value(i) for i in indices]
        return _Writer().i32(len(values)).f32_1d(values)

    # ---- Z controller settings -----------------------------------------------------------
    def _zsetting_set(self, key: str, low: float, high: float) -> Any:
        def handler(r: _Reader) -> _Writer:
            value = r.f32()
            if not (math.isfinite(value) and low <= value <= high):
                raise _CommandError(f"{key.replace('_', ' ')} {value} outside {low:g} … {high:g}")
            with self._state_lock:
                self.zctrl[key] = value
            return _Writer()

        return handler

    def _zsetting_get(self, key: str) -> Any:
        def handler(r: _Reader) -> _Writer:
            with self._state_lock:
                return _Writer().f32(self.zctrl[key])

        return handler

    def _home(self, r: _Reader) -> _Writer:
        with self.world.lock:
            self._sync()
            self.junction.withdraw()
        return _Writer()

    # ---- the controller's lock-in ----------------------------------------------------------
    def _modulator(self, r: _Reader) -> dict[str, Any]:
        number = r.i32()
        if number not in self.modulators:
            raise _CommandError(f"modulator {number} outside 1 … {len(self.modulators)}")
        return self.modulators[number]

    def _mod_onoff_set(self, r: _Reader) -> _Writer:
        mod, value = self._modulator(r), r.u32()
        if value not in (0, 1):
            raise _CommandError(f"lock-in status {value} not 0 (off) or 1 (on)")
        with self.world.lock:
            self._sync()
            mod["on"] = value == 1
        return _Writer()

    def _mod_onoff_get(self, r: _Reader) -> _Writer:
        return _Writer().u32(1 if self._modulator(r)["on"] else 0)

    def _mod_amp_set(self, r: _Reader) -> _Writer:
        mod, value = self._modulator(r), r.f32()
        if not (math.isfinite(value) and 0.0 <= value <= 10.0):
            raise _CommandError(f"modulation amplitude {value} V outside 0 … 10 V")
        with self.world.lock:
            self._sync()
            mod["amplitude"] = value
        return _Writer()

    def _mod_amp_get(self, r: _Reader) -> _Writer:
        return _Writer().f32(self._modulator(r)["amplitude"])

    def _mod_freq_set(self, r: _Reader) -> _Writer:
        mod, value = self._modulator(r), r.f64()
        if not (math.isfinite(value) and 0.0 < value <= 1e5):
            raise _CommandError(f"modulation frequency {value} Hz outside (0, 100 kHz]")
        mod["frequency"] = value
        return _Writer()

    def _mod_freq_get(self, r: _Reader) -> _Writer:
        return _Writer().f64(self._modulator(r)["frequency"])

    def _demodulator(self, r: _Reader) -> int:
        number = r.i32()
        if number not in self.demod_phase:
            raise _CommandError(f"demodulator {number} outside 1 … {len(self.demod_phase)}")
        return number

    def _demod_phase_set(self, r: _Reader) -> _Writer:
        number, value = self._demodulator(r), r.f32()
        if not math.isfinite(value):
            raise _CommandError("phase must be finite")
        self.demod_phase[number] = (value + 180.0) % 360.0 - 180.0
        return _Writer()

    def _demod_phase_get(self, r: _Reader) -> _Writer:
        return _Writer().f32(self.demod_phase[self._demodulator(r)])
