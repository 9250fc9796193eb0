"""TransportRT: the film's four-terminal resistance against temperature, R(T).

The plan is a list of **segments** (start K, end K, direction +1 up / −1 down / 0 hold):

- ``mode: ramp`` — for each segment the sample is brought to its start temperature
  (ramp off, wait until stable), then the 372's setpoint ramp (``RAMP``) runs to its end
  at ``ramp_rate`` K/min while the film and the sample thermometer are read every
  ``reading_interval`` s, until the ramp is over and the sample has arrived;
- ``mode: steps`` — every temperature of ``temperatures`` is a segment (start = end):
  set, wait until stable, take ``readings_per_step`` readings.

``sweeps`` says which ways: ``up``, ``down``, ``up-down`` or ``down-up`` (steps mode:
the list as given, then reversed for ``up-down``/``down-up``).

Each row is one message to the bridge (``read_row``): the sample thermometer (the
control input A, which keeps regulating while the scanner is on the film), the film's
resistance (Ω), its status and excitation power, and the ramp state, so R and T are
read at the same world time. A scanner switch to the film channel (at the start, or
when someone moved it) is waited for (pause + dwell) before the row and stored in its
``switch_cost``. Rows go to the run file's own NXdata
(:mod:`andreev.storage.transport`), flushed and fsynced per segment chunk.

Why not the sweep engine: :class:`~andreev.engine.run_engine.RunEngine` walks a fixed
grid (outer × setpoint × direction × bias) of STM sweeps and its safe state moves the
tip; R(T) is a time series of unknown length per segment and must not touch the STM.
So :func:`run_transport` is a small runner of its own that reuses the engine's pieces:
the :class:`~andreev.engine.stop.StopFlag` (Ctrl-C/SIGTERM, installed for the run), the
events (:mod:`andreev.engine.events`, no printing), the lifecycle helpers (run-file
name, station snapshot, the run's log file) and the same exit statuses and safe state
(heater to the safe range, ramp off, scanner back) on every exit path. Resume: with
``resume`` the experiment stored in the file is rebuilt and the segments not done are
taken again (:meth:`TransportWriter.open` invalidates their partial rows).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, ListParameter, Procedure

from andreev.engine.events import Emitter, Listener, RunEnded, RunFileOpened, RunStarted, Status
from andreev.engine.lifecycle import RunResult, log_to_file, new_run_path, snapshot_json
from andreev.engine.rig import lacks
from andreev.engine.stop import StopFlag
from andreev.errors import Aborted, ConfigError, InstrumentError
from andreev.instruments.roles import BRIDGE
from andreev.procedures.base import LimitProblem
from andreev.procedures.parameters import FloatListParameter, stability_parameters

if TYPE_CHECKING:
    from andreev.clock import Clock
    from andreev.config.safety import SafetyLimits
    from andreev.instruments.station import StationConfig
    from andreev.storage.transport import TransportWriter

__all__ = ["FilmBridge", "TransportRT", "describe_transport", "run_transport"]

log = logging.getLogger(__name__)


class FilmBridge(Protocol):
    """What TransportRT needs of the bridge (the 372 driver fills it)."""

    clock: Clock

    def configure_film(self) -> None: ...
    def read_row(self, should_stop: Any = None) -> Any: ...
    def set_film_excitation(self, current: float) -> float: ...
    def leave_film(self, channel: int) -> None: ...
    def sample_temperature(self) -> float: ...
    def set_temperature(self, temperature: float) -> Any: ...
    def wait_until_stable(self, setpoint: float, *args: Any, **kwargs: Any) -> Any: ...
    def set_ramp(self, rate: float | None) -> None: ...
    def ramp_to(self, temperature: float, rate: float) -> Any: ...
    def safe_state(self, heater_range: int | None = None) -> None: ...


class TransportRT(Procedure):
    """R(T) of the film through its transition, up and down (see the module docstring)."""

    mode = ListParameter("Temperature sweep", choices=["ramp", "steps"], default="ramp")
    sweeps = ListParameter(
        "Directions", choices=["up", "down", "up-down", "down-up"], default="up-down"
    )
    t_low = FloatParameter("Low end", units="K", minimum=0.005, maximum=300.0, default=1.2)
    t_high = FloatParameter("High end", units="K", minimum=0.005, maximum=300.0, default=1.8)
    ramp_rate = FloatParameter(
        "Setpoint ramp rate", units="K/min", minimum=1e-4, maximum=100.0, default=0.05
    )
    temperatures = FloatListParameter(
        "Temperatures (steps mode)", units="K", minimum=0.005, maximum=300.0, default=[1.4, 1.5]
    )
    readings_per_step = IntegerParameter("Readings per step", minimum=1, maximum=1000, default=5)
    reading_interval = FloatParameter(
        "Time between readings", units="s", minimum=0.0, maximum=3600.0, default=5.0
    )
    excitation = FloatParameter(
        "Film excitation current", units="A", minimum=1e-12, maximum=1e-3, default=1e-9
    )
    heating_power_warning = FloatParameter(
        "Excitation power that warns of self-heating",
        units="W",
        minimum=0.0,
        maximum=1.0,
        default=1e-10,
    )
    stable_tolerance, stable_hold, stable_timeout = stability_parameters(
        hold=60.0, timeout_maximum=360000.0
    )
    ramp_timeout = FloatParameter(
        "Extra time allowed after the ramp's nominal end",
        units="s",
        minimum=0.0,
        maximum=360000.0,
        default=1800.0,
    )
    return_channel = IntegerParameter(
        "Scanner channel after the run", minimum=1, maximum=16, default=6
    )
    safe_heater_range = IntegerParameter(
        "Heater range when the run ends", minimum=0, maximum=8, default=0
    )

    # ---- the plan ----------------------------------------------------------------------
    def segments(self) -> list[tuple[float, float, int]]:
        """(start K, end K, direction) of each segment, in order."""
        if self.mode == "steps":
            temps = [float(t) for t in self.temperatures]
            order = {"up": temps, "down": temps[::-1], "up-down": temps + temps[::-1][1:]}
            order["down-up"] = temps[::-1] + temps[1:]
            return [(t, t, 0) for t in order[str(self.sweeps)]]
        lo, hi = float(self.t_low), float(self.t_high)
        up, down = (lo, hi, 1), (hi, lo, -1)
        return {"up": [up], "down": [down], "up-down": [up, down], "down-up": [down, up]}[
            str(self.sweeps)
        ]

    def estimated_wall_duration(self, speedup: float) -> float:
        """Wall seconds of the plan at the clock's ``speedup`` (the readings' requests
        are few; the waits dominate)."""
        return self.estimated_duration() / float(speedup)

    def estimated_duration(self) -> float:
        """World seconds the plan takes (settling guessed at 600 s + the hold time)."""
        total = 0.0
        for start, end, _ in self.segments():
            total += 600.0 + float(self.stable_hold)
            if start != end:
                total += abs(end - start) / float(self.ramp_rate) * 60.0
            else:
                total += int(self.readings_per_step) * (float(self.reading_interval) + 1.0)
        return total

    def limit_problems(self, safety: SafetyLimits, facts: Any = None) -> list[LimitProblem]:
        """Plan values outside the station's safety limits (nothing is connected)."""
        problems = []
        if self.excitation > safety.max_film_excitation * (1 + 1e-6):
            problems.append(
                LimitProblem(
                    "excitation",
                    f"{self.excitation:g} A exceeds safety.max_film_excitation = "
                    f"{safety.max_film_excitation:g} A",
                )
            )
        temps = {t for seg in self.segments() for t in seg[:2]}
        for t in sorted(temps):
            if t > safety.max_temperature:
                problems.append(
                    LimitProblem(
                        "t_high" if self.mode == "ramp" else "temperatures",
                        f"{t:g} K exceeds safety.max_temperature = {safety.max_temperature:g} K",
                    )
                )
        if self.mode == "ramp" and not self.t_low < self.t_high:
            problems.append(LimitProblem("t_low", "t_low must be below t_high"))
        return problems


def describe_transport(proc: TransportRT, name: str, path: Path | str) -> list[str]:
    """Lines describing the plan (for the CLI's dry run)."""
    segs = proc.segments()
    text = ", ".join(f"{a:g}→{b:g} K" if a != b else f"{a:g} K" for a, b, _ in segs[:8])
    return [
        f"experiment {name}: TransportRT ({path})",
        f"  {proc.mode}: {len(segs)} segment(s): {text}{' …' if len(segs) > 8 else ''}",
        f"  film excitation {proc.excitation:g} A, a reading every {proc.reading_interval:g} s",
        f"  estimated duration: {proc.estimated_duration() / 60:.1f} min of world time",
    ]


@dataclass
class _Chunk:
    """Rows of one segment before they are written."""

    rows: dict[str, list[float]] = field(default_factory=dict)
    written: int = 0

    def add(self, **values: float) -> None:
        for key, value in values.items():
            self.rows.setdefault(key, []).append(value)

    def __len__(self) -> int:
        return len(self.rows.get("resistance", []))


class TransportRunner:
    """Runs a :class:`TransportRT` on a bridge into a :class:`TransportWriter`.

    Args:
        proc: the plan.
        bridge: the 372 driver (fills :class:`FilmBridge`).
        writer: the run file.
        stop: the stop flag; ``emit``: receives the engine's events.
    """

    def __init__(
        self,
        proc: TransportRT,
        bridge: Any,
        writer: TransportWriter,
        stop: StopFlag,
        emit: Any = None,
    ) -> None:
        missing = lacks(bridge, FilmBridge)
        if missing:
            raise InstrumentError(
                f"the bridge ({type(bridge).__name__}) cannot measure the film: it lacks "
                + ", ".join(missing)
            )
        self.proc, self.bridge, self.writer, self.stop = proc, bridge, writer, stop
        self.emit = emit or (lambda event: None)
        self.clock = bridge.clock
        self.t0 = float(self.clock.now())  # origin of the rows' ``time`` (world s)
        self.exit_status = "failed"
        self.warned = False

    def run(self) -> str:
        """Every unfinished segment, then the safe state; returns the exit status."""
        segs = self.writer.segments
        done = sum(s == "done" for s in self.writer.segment_status())
        self.emit(RunStarted(done, len(segs)))
        try:
            self.bridge.configure_film()
            self.bridge.set_film_excitation(float(self.proc.excitation))
            for i, (start, end, direction) in enumerate(segs):
                if self.writer.segment_status()[i] == "done":
                    continue
                self._segment(i, float(start), float(end), int(direction))
            failed = "failed" in self.writer.segment_status()
            self.exit_status = "incomplete" if failed else "completed"
        except (Aborted, KeyboardInterrupt):
            self.exit_status = "aborted"
            self._status(f"run aborted ({self.stop.reason or 'interrupt'})", logging.WARNING)
        except Exception:
            self.exit_status = "failed"
            log.exception("transport run failed")
            raise
        finally:
            self.stop.shutting_down = True
            self.safe_state()
        return self.exit_status

    def safe_state(self) -> None:
        """Ramp off, heater to the safe range, scanner back; each tried even if one fails."""
        errors: list[BaseException] = []
        for action in (
            lambda: self.bridge.set_ramp(None),
            lambda: self.bridge.safe_state(int(self.proc.safe_heater_range)),
            lambda: self.bridge.leave_film(int(self.proc.return_channel)),
        ):
            try:
                action()
            except BaseException as exc:
                log.exception("safe state failed")
                errors.append(exc)
        if errors:
            self.exit_status = "failed"
        else:
            self._status("instruments in the safe state")

    # ---- one segment ---------------------------------------------------------------
    def _segment(self, i: int, start: float, end: float, direction: int) -> None:
        self._status(f"segment {i}: {start:g} → {end:g} K")
        self._settle_at(start)
        chunk = _Chunk()
        if start == end:
            for _ in range(int(self.proc.readings_per_step)):
                self._check_stop()
                self._reading(chunk, i, start)
                self._pause()
        else:
            self._ramp(chunk, i, start, end)
        self._write(chunk)
        self.writer.set_segment_status(i, "done")
        self._status(f"segment {i} done: {len(chunk)} readings")

    def _settle_at(self, temperature: float) -> None:
        """Ramp off, go to ``temperature`` (K) and wait until it is stable."""
        p = self.proc
        self.bridge.set_ramp(None)
        self.bridge.set_temperature(temperature)
        trace = self.bridge.wait_until_stable(
            temperature,
            tolerance=None if p.stable_tolerance == 0 else float(p.stable_tolerance),
            hold_time=float(p.stable_hold),
            timeout=float(p.stable_timeout),
            should_stop=self.stop.is_set,
        )
        self._check_stop()
        if not trace.stable:
            self._status(
                f"{temperature:g} K not stable ({trace.reason}); going on", logging.WARNING
            )

    def _ramp(self, chunk: _Chunk, i: int, start: float, end: float) -> None:
        """Ramp from ``start`` to ``end`` (K) and read until the ramp is over and the
        sample has arrived (or the nominal ramp time + ramp_timeout has passed); rows
        are written every 64 readings."""
        rate = float(self.proc.ramp_rate)
        started = self.clock.now()
        self.bridge.ramp_to(end, rate)
        deadline = started + abs(end - start) / rate * 60.0 + float(self.proc.ramp_timeout)
        tol = max(0.005 * end, 3e-3)
        while True:
            self._check_stop()
            # the nominal ramping setpoint (the 372 reads back the target during a ramp)
            progress = min(rate * (self.clock.now() - started) / 60.0, abs(end - start))
            row = self._reading(chunk, i, start + math.copysign(progress, end - start))
            if (not row.ramping and abs(row.temperature - end) <= tol) or row.time > deadline:
                break
            if len(chunk) % 64 == 0:
                self._write(chunk)
            self._pause()

    def _reading(self, chunk: _Chunk, i: int, setpoint: float) -> Any:
        """One row: the sample temperature and the film read in one message (after the
        scanner switch, if one was needed); returns the driver's row."""
        row = self.bridge.read_row(self.stop.is_set)
        self._check_stop()
        self._warn_heating(row.power)
        chunk.add(
            resistance=row.resistance,
            temperature=row.temperature,
            time=row.time - self.t0,
            timestamp=time.time(),
            setpoint=setpoint,
            excitation=float(self.proc.excitation),
            power=row.power,
            switch_cost=row.switch_cost,
            segment=i,
            status=row.status,
        )
        return row

    def _warn_heating(self, power: float) -> None:
        limit = float(self.proc.heating_power_warning)
        if limit > 0 and power > limit and not self.warned:
            self.warned = True
            self._status(
                f"film excitation power {power:.3g} W exceeds {limit:.3g} W: self-heating "
                "shifts the transition to lower temperature; lower the excitation",
                logging.WARNING,
            )

    def _write(self, chunk: _Chunk) -> None:
        """Append the rows not yet written (durable on return)."""
        if len(chunk) > chunk.written:
            self.writer.append({k: v[chunk.written :] for k, v in chunk.rows.items()})
            chunk.written = len(chunk)

    def _pause(self) -> None:
        end = self.clock.now() + float(self.proc.reading_interval)
        while (remaining := end - self.clock.now()) > 0:
            self._check_stop()
            self.clock.sleep(min(remaining, 0.1 * max(1.0, self.clock.speedup)))

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Aborted("stop requested")

    def _status(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, "%s", message)
        self.emit(Status(message, level))


def _open_writer(
    proc: TransportRT, info: Mapping[str, Any], station: Any, out_dir: Path, resume: Path | None
) -> tuple[Path, TransportWriter]:
    from andreev.storage.transport import TransportWriter

    if resume is not None:
        writer = TransportWriter.open(resume)
        if not np.allclose(writer.segments, np.asarray(proc.segments(), float).reshape(-1, 3)):
            writer.close("failed")
            raise ConfigError(
                resume,
                "(resume)",
                "the stored experiment no longer gives the file's segments; resume with the "
                "software version that started the run",
            )
        return resume, writer
    path = new_run_path(out_dir, str(info["name"]))
    writer = TransportWriter.create(
        path,
        segments=proc.segments(),
        config_yaml=str(info["text"]),
        snapshot=json.loads(snapshot_json(station)),
        extra_attrs={
            "experiment_name": info["name"],
            "procedure": "TransportRT",
            "station_yaml": str(info.get("station_yaml", "")),
            "station_file": str(info.get("station_file", "")),
        },
    )
    return path, writer


def run_transport(
    proc: TransportRT,
    station_config: StationConfig,
    info: Mapping[str, Any],
    *,
    out_dir: Path | str = "data",
    resume: Path | str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stop: StopFlag | None = None,
    listeners: Iterable[Listener] = (),
) -> RunResult:
    """Open the bridge, create (or re-open) the run file and its log, run ``proc``,
    close the file with the exit status and the station, whatever happens.

    ``info``: ``name`` (run-file prefix) and ``text`` (the experiment YAML). Errors
    other than a stop are re-raised after the safe state and the file's close."""
    from andreev.instruments.station import close_station, open_station

    emit, stop = Emitter(listeners), stop or StopFlag()
    info = {
        **info,
        "station_yaml": station_config.text,
        "station_file": station_config.file_for_runs(),
    }
    qc_station, _ = open_station(station_config, names=[BRIDGE], overrides=overrides)
    exit_status, path, writer = "failed", None, None
    with stop.installed():  # until the file and the station are closed (console close)
        try:
            bridge = qc_station.components[BRIDGE]
            resumed = None if resume is None else Path(resume)
            path, writer = _open_writer(proc, info, qc_station, Path(out_dir), resumed)
            emit(RunFileOpened(path, resumed is not None))
            with log_to_file(path.with_suffix(".log")):
                runner = TransportRunner(proc, bridge, writer, stop, emit)
                try:
                    exit_status = runner.run()
                finally:
                    exit_status = runner.exit_status
        finally:
            if writer is not None:
                writer.close(exit_status)
            close_station(qc_station)
    emit(RunEnded(path, exit_status))
    return RunResult(path, exit_status)
