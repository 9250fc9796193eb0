"""Temperature series, and the other outer steppers (tip positions, any qcodes parameter).

Before every outer step the tip goes back to the tunnelling setpoint (a temperature
step or a lateral move in contact would damage tip and film); then the step is taken
and, for temperatures, the bridge is given its band's heater range and PID and waited
on until stable. The settling trace is kept in the run file.

With ``film_readings`` > 0 a temperature series also reads the film's four-terminal
resistance through the bridge once the temperature has settled (issue 12: R read at
each temperature step): that many readings, each the sample temperature and the film
in one message (the scanner's switch to the film channel costs its pause + dwell), are
stored in the run file's ``/entry/film_resistance`` (resistance in Ω against
temperature in K, per outer step), then the scanner goes back to
``film_return_channel`` before the sweeps. The sample thermometer (the control input)
keeps regulating while the scanner is on the film.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, cast

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter, Parameter

from andreev.engine.plan import SweepRecord, SweepSettings
from andreev.engine.rig import lacks
from andreev.errors import ConfigError
from andreev.instruments.safety import SafetyLimits, problem
from andreev.procedures._driver_checks import StationFacts, heater_band_problems
from andreev.procedures.base import LimitProblem, OuterAxis
from andreev.procedures.ladder import SetpointLadder
from andreev.procedures.parameters import (
    FloatListParameter,
    PositionListParameter,
    stability_parameters,
)

log = logging.getLogger(__name__)


class FilmReader(Protocol):
    """What a temperature series needs of the bridge to read the film (the 372 driver's
    film channel fills it; the plain :class:`~andreev.instruments.roles.Bridge` role
    does not ask for it)."""

    film_channel: int | None

    def read_row(self, should_stop: Callable[[], bool] | None = None) -> Any: ...
    def leave_film(self, channel: int) -> None: ...


class FilmBook(Protocol):
    """The run file's part for film readings (:class:`andreev.storage.RunWriter`)."""

    def write_film_resistance(
        self, i_outer: int, resistance: Any, temperature: Any, timestamp: Any
    ) -> None: ...


class _OuterSeries(SetpointLadder):
    """A ladder repeated at every step of an outer stepper."""

    def back_to_tunnelling(self) -> None:
        """Walk the setpoint back to the tunnelling value with the feedback on."""
        self.approach(float(self.tunnelling_current))

    def move_tip(self, x: float, y: float) -> None:
        """Move the tip to (x, y) (m; call :meth:`back_to_tunnelling` first) and wait
        ``tip_settle``; a stop request during the wait ends the run."""
        rig = self._rig()
        rig.stm.move_tip(x, y)
        rig.sleep(float(self.tip_settle), self.should_stop)
        self._check_stop()


class TemperatureSeries(_OuterSeries):
    """A ladder (or, with one ladder step, a spectrum) at each temperature."""

    temperatures = FloatListParameter(
        "Temperatures", units="K", minimum=0.0, maximum=300.0, default=[0.05]
    )
    stable_tolerance, stable_hold, stable_timeout = stability_parameters(
        hold=120.0, timeout_maximum=86400.0
    )
    temperature_band = FloatParameter(
        "Suspend when |T - T_set| exceeds (0 = max(2 % T, 2 mK))",
        units="K",
        minimum=0.0,
        maximum=1.0,
        default=0.0,
    )
    film_readings = IntegerParameter(
        "Film resistance readings at each temperature (0 = none)",
        minimum=0,
        maximum=1000,
        default=0,
    )
    film_return_channel = IntegerParameter(
        "Scanner channel after the film readings", minimum=1, maximum=16, default=6
    )

    def outer_axis(self) -> OuterAxis:
        return OuterAxis("temperature", "K", np.asarray(self.temperatures, dtype=float))

    def settings(self) -> SweepSettings:
        """The base settings, with room in the run file for the film readings."""
        return dataclasses.replace(super().settings(), film_readings=int(self.film_readings))

    def startup(self) -> None:
        """Refuse film readings the bridge or the run file cannot take, before anything
        moves; then the ladder's start-up."""
        if int(self.film_readings) > 0:
            self._film_reader()
        super().startup()

    def _film_reader(self) -> FilmReader:
        bridge = self._rig().bridge
        missing = lacks(bridge, FilmReader) + lacks(self._book(), FilmBook)
        if missing or getattr(bridge, "film_channel", None) is None:
            raise ConfigError(
                "(experiment)",
                "parameters.film_readings",
                f"the bridge ({type(bridge).__name__}) cannot read the film here: "
                + (f"it lacks {', '.join(missing)}" if missing else "no film_channel configured"),
            )
        return cast(FilmReader, bridge)

    def read_film(self, index: int) -> None:
        """``film_readings`` film readings at outer step ``index``, stored in the run
        file; the scanner goes back to ``film_return_channel`` whatever happens."""
        bridge = self._film_reader()
        resistance, temperature, stamps = [], [], []
        try:
            for _ in range(int(self.film_readings)):
                row = bridge.read_row(self.should_stop)
                self._check_stop()
                resistance.append(float(row.resistance))
                temperature.append(float(row.temperature))
                stamps.append(time.time())
        finally:
            bridge.leave_film(int(self.film_return_channel))
        cast(FilmBook, self._book()).write_film_resistance(index, resistance, temperature, stamps)
        log.info("film at %.4g K: R = %.4g Ω", float(np.mean(temperature)), np.mean(resistance))

    def _tolerance(self, target: float) -> float | None:
        return float(self.stable_tolerance) or None

    def _band(self, target: float) -> float:
        return float(self.temperature_band) or max(0.02 * target, 2e-3)

    def enter_outer(self, index: int) -> bool:
        rig, book = self._rig(), self._book()
        target = float(self.temperatures[index])
        self.back_to_tunnelling()
        log.info("temperature step %d: %.4g K", index, target)
        rig.bridge.set_temperature(target)
        trace = rig.bridge.wait_until_stable(
            target,
            tolerance=self._tolerance(target),
            hold_time=float(self.stable_hold),
            timeout=float(self.stable_timeout),
            should_stop=self.should_stop,
        )
        book.write_settling_trace(index, trace.t, trace.temperature, trace.heater)
        self._check_stop()
        if not trace.stable:
            log.warning("temperature %.4g K not stable: %s", target, trace.reason)
        elif int(self.film_readings) > 0:
            self.read_film(index)
        return bool(trace.stable)

    def condition_problem(self, index: int) -> str | None:
        target = float(self.temperatures[index])
        measured = self._rig().sample_temperature()
        if abs(measured - target) > self._band(target):
            return f"sample at {measured:.4g} K, outside {target:.4g} ± {self._band(target):.2g} K"
        return None

    def sweep_problem(self, index: int, records: list[SweepRecord]) -> str | None:
        target = float(self.temperatures[index])
        band = self._band(target)
        for record in records:
            low, high = record.temperature_range
            if max(abs(low - target), abs(high - target)) > band:
                return (
                    f"sample between {low:.4g} and {high:.4g} K during the sweep, outside "
                    f"{target:.4g} ± {band:.2g} K"
                )
        return None

    def wait_for_conditions(self, index: int) -> bool:
        target = float(self.temperatures[index])
        trace = self._rig().bridge.wait_until_stable(
            target,
            tolerance=self._tolerance(target),
            hold_time=float(self.stable_hold),
            timeout=float(self.stable_timeout),
            should_stop=self.should_stop,
        )
        self._check_stop()
        return bool(trace.stable)

    def outer_duration(self, index: int) -> float:
        # a guess for the plan: a few thermal time constants plus the hold time
        return 600.0 + float(self.stable_hold)

    def limit_problems(self, safety: SafetyLimits, facts: StationFacts) -> list[LimitProblem]:
        problems = super().limit_problems(safety, facts)
        for n, value in enumerate(self.temperatures):
            message = problem(safety.check_temperature, float(value))
            if message is not None:
                problems.append(LimitProblem(f"temperatures[{n}]", message))
        problems += [
            LimitProblem("temperatures", message)
            for message in heater_band_problems(self.temperatures, safety, facts)
        ]
        return problems


class PositionSeries(_OuterSeries):
    """A ladder at each tip position (lateral x, y in m), moved in tunnelling."""

    positions = PositionListParameter("Tip positions [[x, y], …]", default=[[0.0, 0.0]])

    def outer_axis(self) -> OuterAxis:
        xy = np.asarray(self.positions, dtype=float).reshape(-1, 2)
        return OuterAxis(
            "position",
            "",
            np.arange(len(xy), dtype=float),
            extra={"x": (xy[:, 0], "m"), "y": (xy[:, 1], "m")},
        )

    def enter_outer(self, index: int) -> bool:
        x, y = self.positions[index]
        self.back_to_tunnelling()
        self.move_tip(float(x), float(y))
        return True


class ParameterSeries(_OuterSeries):
    """A ladder at each value of any qcodes parameter of the station (``magnet.field``)."""

    outer_parameter = Parameter(
        "Outer qcodes parameter (instrument.parameter)", default="magnet.field"
    )
    outer_values = FloatListParameter("Outer values", default=[0.0])
    outer_unit = Parameter("Outer unit", default="")

    def outer_axis(self) -> OuterAxis:
        name = str(self.outer_parameter).replace(".", "_")
        return OuterAxis(name, str(self.outer_unit), np.asarray(self.outer_values, dtype=float))

    def startup(self) -> None:
        """Resolve the outer parameter before anything moves (a typo stops the run here)."""
        try:
            self._rig().resolve_parameter(str(self.outer_parameter))
        except (KeyError, AttributeError) as exc:
            raise ConfigError(
                "(experiment)",
                "parameters.outer_parameter",
                f"{self.outer_parameter!r} is not a parameter of the station",
            ) from exc
        super().startup()

    def enter_outer(self, index: int) -> bool:
        rig = self._rig()
        self.back_to_tunnelling()
        rig.resolve_parameter(str(self.outer_parameter))(float(self.outer_values[index]))
        return True
