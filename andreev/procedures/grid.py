"""Grid spectroscopy: a spectrum (or a setpoint ladder) at each of N × M tip positions.

The positions fill a scan frame as the Nanonis controller defines it: centre (x, y),
width and height (all in m), angle in degrees (positive clockwise), ``points_x`` ×
``points_y`` points, visited in serpentine order (row 0 left to right, row 1 back …;
:class:`andreev.storage.MapGrid` lays them out and maps each visit to its row and
column). Each move is made in tunnelling, as in a ``PositionSeries``: the setpoint is
walked back to ``tunnelling_current``, the tip moved, ``tip_settle`` waited.

Drift check (``drift_every`` = K > 0): before visit 0, K, 2K …, the tip goes (in
tunnelling) to a reference point (the frame's centre, or ``drift_x``, ``drift_y``),
reads the current and z there and takes a tunnelling spectrum (at
``tunnelling_current``); all of it lands in the run file's ``/entry/drift``, so a
drift of the tip or of the sample between the first and the last point shows.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol, cast

import numpy as np
from pymeasure.experiment import BooleanParameter, FloatParameter, IntegerParameter

from andreev.engine.plan import NotRegulating, SweepRecord
from andreev.engine.rig import lacks
from andreev.errors import ConfigError
from andreev.instruments.safety import SafetyLimits
from andreev.procedures._driver_checks import StationFacts
from andreev.procedures.base import LimitProblem, OuterAxis
from andreev.procedures.parameters import POSITION_LIMIT
from andreev.procedures.temperature import _OuterSeries
from andreev.storage import MapGrid

log = logging.getLogger(__name__)


class DriftBook(Protocol):
    """The run file's part for drift checks (:class:`andreev.storage.RunWriter`)."""

    def write_drift(
        self, i_check: int, *, sweeps: dict[str, Any], scalars: dict[str, float]
    ) -> None: ...


class GridSeries(_OuterSeries):
    """A ladder (or, with ``ladder_steps: 1``, a spectrum) at each point of a scan frame."""

    frame_x = FloatParameter(
        "Frame centre x", units="m", minimum=-POSITION_LIMIT, maximum=POSITION_LIMIT, default=0.0
    )
    frame_y = FloatParameter(
        "Frame centre y", units="m", minimum=-POSITION_LIMIT, maximum=POSITION_LIMIT, default=0.0
    )
    frame_width = FloatParameter(
        "Frame width", units="m", minimum=0.0, maximum=POSITION_LIMIT, default=100e-9
    )
    frame_height = FloatParameter(
        "Frame height", units="m", minimum=0.0, maximum=POSITION_LIMIT, default=100e-9
    )
    frame_angle = FloatParameter(
        "Frame angle (clockwise)", units="deg", minimum=-360.0, maximum=360.0, default=0.0
    )
    points_x = IntegerParameter("Points along the width", minimum=1, maximum=1024, default=8)
    points_y = IntegerParameter("Points along the height", minimum=1, maximum=1024, default=8)
    drift_every = IntegerParameter(
        "Drift spectrum at the reference every K points (0 = none)",
        minimum=0,
        maximum=1_000_000,
        default=0,
    )
    drift_at_centre = BooleanParameter("Drift reference at the frame centre", default=True)
    drift_x = FloatParameter(
        "Drift reference x (if not the centre)",
        units="m",
        minimum=-POSITION_LIMIT,
        maximum=POSITION_LIMIT,
        default=0.0,
    )
    drift_y = FloatParameter(
        "Drift reference y (if not the centre)",
        units="m",
        minimum=-POSITION_LIMIT,
        maximum=POSITION_LIMIT,
        default=0.0,
    )

    _grid_cache: tuple[tuple[float, ...], MapGrid] | None = None

    # ---- the grid ------------------------------------------------------------------
    def map_grid(self) -> MapGrid:
        """The frame's tip positions and visiting order (cached per parameter set)."""
        key = tuple(
            float(v)
            for v in (
                self.frame_x,
                self.frame_y,
                self.frame_width,
                self.frame_height,
                self.frame_angle,
                self.points_x,
                self.points_y,
                self.drift_every,
                self.drift_at_centre,
                self.drift_x,
                self.drift_y,
            )
        )
        if self._grid_cache is None or self._grid_cache[0] != key:
            reference = None if self.drift_at_centre else (float(self.drift_x), float(self.drift_y))
            grid = MapGrid.frame(
                (float(self.frame_x), float(self.frame_y)),
                (float(self.frame_width), float(self.frame_height)),
                (int(self.points_x), int(self.points_y)),
                float(self.frame_angle),
                drift_every=int(self.drift_every),
                reference=reference,
            )
            self._grid_cache = (key, grid)
        return self._grid_cache[1]

    def outer_axis(self) -> OuterAxis:
        grid = self.map_grid()
        xy = grid.visit_positions()
        return OuterAxis(
            "position",
            "",
            np.arange(grid.n_visits, dtype=float),
            extra={"x": (xy[:, 0], "m"), "y": (xy[:, 1], "m")},
            grid=grid,
        )

    # ---- hooks -----------------------------------------------------------------------
    def startup(self) -> None:
        """Refuse drift checks the run file cannot hold, then the ladder's start-up."""
        if int(self.drift_every) > 0:
            missing = lacks(self._book(), DriftBook)
            if missing:
                raise ConfigError(
                    "(experiment)",
                    "parameters.drift_every",
                    f"the run file cannot store drift checks (it lacks {', '.join(missing)})",
                )
        super().startup()

    def enter_outer(self, index: int) -> bool:
        """Tip back to tunnelling, a drift check when one is due, then to visit ``index``."""
        grid = self.map_grid()
        self.back_to_tunnelling()
        slot = grid.drift_slot(index)
        if slot is not None:
            self.drift_check(slot, index)
        x, y = grid.visit_positions()[index]
        self.move_tip(float(x), float(y))
        return True

    def drift_check(self, slot: int, index: int) -> None:
        """The tunnelling spectrum at the reference point, stored as drift check ``slot``
        (taken before visit ``index``); the tip is left at the reference, in tunnelling."""
        rig = self._rig()
        rx, ry = self.map_grid().reference
        self.move_tip(float(rx), float(ry))
        current, z = float(rig.stm.read_current()), float(rig.stm.get_z())
        rig.lockin.autorange_settled(
            precision=float(self.settle_precision), headroom=float(self.lockin_headroom)
        )
        started = time.time()
        try:
            records = self.take_sweep(float(self.tunnelling_current))
        except NotRegulating as exc:
            log.warning("drift check %d before point %d not taken: %s", slot, index, exc)
            return
        self._store_drift(slot, records, started, current, z)
        log.info("drift check %d before point %d: I = %.4g A, z = %.4g m", slot, index, current, z)

    def _store_drift(
        self, slot: int, records: list[SweepRecord], started: float, current: float, z: float
    ) -> None:
        sweeps = {
            "dIdV": np.stack([r.didv for r in records]),
            "x": np.stack([r.x for r in records]),
            "y": np.stack([r.y for r in records]),
            "current": np.stack([r.current for r in records]),
        }
        scalars = {
            "time": started,
            "reference_current": current,
            "reference_z": z,
            "temperature": float(np.mean([r.temperature for r in records])),
        }
        cast(DriftBook, self._book()).write_drift(slot, sweeps=sweeps, scalars=scalars)

    # ---- estimates and the dry run -------------------------------------------------------
    def outer_duration(self, index: int) -> float:
        """A move's settling, and a drift spectrum when one is due (world s)."""
        drift = self.map_grid().drift_slot(index) is not None
        return float(self.tip_settle) + (self.sweep_duration() if drift else 0.0)

    def limit_problems(self, safety: SafetyLimits, facts: StationFacts) -> list[LimitProblem]:
        """The ladder's checks, and every tip position (and the drift reference) within
        ±:data:`POSITION_LIMIT` m."""
        problems = super().limit_problems(safety, facts)
        grid = self.map_grid()
        xy = grid.visit_positions()
        outside = np.abs(xy).max(axis=1) > POSITION_LIMIT
        if outside.any():
            x, y = xy[int(np.argmax(outside))]
            problems.append(
                LimitProblem(
                    "frame_width",
                    f"{int(outside.sum())} point(s) of the frame outside ±{POSITION_LIMIT:g} m, "
                    f"e.g. ({x:.4g}, {y:.4g}) m",
                )
            )
        if grid.drift_every and max(abs(v) for v in grid.reference) > POSITION_LIMIT:
            problems.append(
                LimitProblem("drift_x", f"the drift reference is outside ±{POSITION_LIMIT:g} m")
            )
        return problems
