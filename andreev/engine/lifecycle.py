"""The life of a run: open the station, create or resume the run file and its log,
let the :class:`~andreev.engine.run_engine.RunEngine` run the plan, close the file with
the exit status and the station — on every exit path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev.engine.events import Emitter, Listener, RunEnded, RunFileOpened
from andreev.engine.failures import TRACEBACKS
from andreev.engine.plan import Grid, Plan
from andreev.engine.rig import Rig
from andreev.engine.run_engine import RunEngine
from andreev.engine.stop import StopFlag
from andreev.errors import ConfigError

if TYPE_CHECKING:
    from andreev.instruments.station import StationConfig
    from andreev.storage import RunWriter

log = logging.getLogger("andreev.run")


@dataclass
class RunResult:
    """Where the run went and how it ended (completed, incomplete, aborted, failed,
    or dry-run when nothing was run).

    ``reason``: one line saying why a failed run failed (the traceback is in the run's
    log); ``resumable``: sweeps are left and ``andreev run --resume <path>`` continues.
    """

    path: Path | None
    exit_status: str
    reason: str = ""
    resumable: bool = False


@dataclass
class RunInfo:
    """What the run file records about the run besides its data.

    Attributes:
        name: the experiment's name (prefix of the run file's name).
        text: the experiment YAML (a resume rebuilds the plan from it).
        procedure: the plan's class name.
        extra: more attributes for the file.
    """

    name: str
    text: str
    procedure: str
    extra: dict[str, Any] = field(default_factory=dict)


def snapshot_json(station: Any) -> str:
    """The station snapshot (every setting of every instrument) as JSON text."""
    return json.dumps(station.snapshot(update=False), default=str, indent=1)


@contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Send andreev's log records (INFO and up) to ``path`` while the run lasts."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("andreev")
    root.addHandler(handler)
    TRACEBACKS.addHandler(handler)  # tracebacks go to the file only
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        TRACEBACKS.removeHandler(handler)
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def new_run_path(out_dir: Path, name: str) -> Path:
    """A free file name ``NAME-YYYYmmdd-HHMMSS[-n].h5`` in ``out_dir`` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out_dir / f"{name}-{stamp}.h5"
    n = 1
    while path.exists():
        path = out_dir / f"{name}-{stamp}-{n}.h5"
        n += 1
    return path


def check_same_grid(grid: Grid, book: Any, path: Path) -> None:
    """Refuse to resume when the plan rebuilt from the stored experiment does not lay out
    the same grid as the file (another software version, say): its sweeps would land
    at the wrong indices.

    Raises:
        ConfigError: naming what differs.
    """
    mismatched = [
        name
        for name, mine, theirs in (
            ("outer axis", grid.outer.values, book.outer_values),
            ("setpoints", grid.setpoints, book.setpoints),
            ("bias", grid.bias, book.bias),
        )
        if np.shape(mine) != np.shape(theirs) or not np.allclose(mine, theirs, rtol=1e-9)
    ]
    if tuple(grid.directions) != tuple(book.directions):
        mismatched.append("directions")
    if mismatched:
        raise ConfigError(
            path,
            "(resume)",
            f"the stored experiment no longer gives the file's grid ({', '.join(mismatched)} "
            "differ); resume with the software version that started the run",
        )


def create_book(path: Path, plan: Plan, info: RunInfo, station: Any) -> RunWriter:
    """A new run file at ``path`` laid out for ``plan``'s grid."""
    from andreev.storage import RunWriter

    grid, settings = plan.grid(), plan.settings()
    return RunWriter.create(
        path,
        outer_name=grid.outer.name,
        outer_values=grid.outer.values,
        outer_unit=grid.outer.unit,
        extra_outer_coords=grid.outer.extra or None,
        setpoints=grid.setpoints,
        bias=grid.bias,
        directions=grid.directions,
        setpoint_bias=settings.setpoint_bias,
        v_mod_rms=settings.modulation_rms,
        config_yaml=info.text,
        snapshot=json.loads(snapshot_json(station)),
        extra_attrs={"experiment_name": info.name, "procedure": info.procedure, **info.extra},
        film_readings=settings.film_readings,
        grid=grid.outer.grid,
    )


def open_book(
    plan: Plan, info: RunInfo, station: Any, out_dir: Path, resume: Path | None
) -> tuple[Path, RunWriter]:
    """The run file: ``resume`` re-opened (its grid checked), or a new one in ``out_dir``."""
    from andreev.storage import RunWriter

    if resume is None:
        path = new_run_path(out_dir, info.name)
        return path, create_book(path, plan, info, station)
    book = RunWriter.open(resume)
    try:
        check_same_grid(plan.grid(), book, resume)
    except BaseException:
        book.close("failed")
        raise
    return resume, book


def run_plan(
    plan: Plan,
    station_config: StationConfig,
    info: RunInfo,
    *,
    out_dir: Path | str = "data",
    resume: Path | str | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    stop: StopFlag | None = None,
    listeners: Iterable[Listener] = (),
) -> RunResult:
    """Open the station, create (or re-open) the run file and its log, run ``plan``,
    then close the file with the exit status and the station, whatever happens.

    Errors before the run file exists (the station, the file itself) are raised; once
    the engine runs, a failure ends the run "failed" (safe state attempted, file closed
    with its exit status) and is returned in :attr:`RunResult.reason`, not raised.
    """
    from andreev.instruments.station import close_station, open_station

    emit = Emitter(listeners)
    stop = stop or StopFlag()
    qc_station, _ = open_station(station_config, overrides=overrides)
    exit_status, reason, path, book = "failed", "", None, None
    resumable = False
    try:
        rig = Rig.from_station(qc_station, station_config.safety, station_config.clock())
        resumed = None if resume is None else Path(resume)
        path, book = open_book(plan, info, qc_station, Path(out_dir), resumed)
        emit(RunFileOpened(path, resumed is not None))
        with log_to_file(path.with_suffix(".log")), stop.installed():
            log.info("run started: %s", path)
            exit_status, reason = _run_engine(RunEngine(plan, rig, book, stop, emit))
            resumable = book.first_unfinished() is not None
            log.info("run %s: %s%s", exit_status, path, f" ({reason})" if reason else "")
    finally:
        if book is not None:
            book.close(exit_status)
        close_station(qc_station)
    emit(RunEnded(path, exit_status, reason, resumable))
    return RunResult(path, exit_status, reason, resumable)


def _run_engine(engine: RunEngine) -> tuple[str, str]:
    """Run the engine; (exit status, why it failed). A failure of the run itself (an
    instrument error, a bug) is logged by the engine and ends the run "failed" with
    its file closed — it is not re-raised: the file, its exit status and the resume
    line are what the user needs."""
    try:
        engine.run()
    except Exception:  # the engine logged it (traceback in the run's log only)
        pass
    return engine.exit_status, engine.failure
