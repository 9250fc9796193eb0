"""The queue of ``andreev gui``: checked experiments waiting, and the worker thread that
runs one of them with the engine (no Qt here).

A :class:`QueuedRun` is a :class:`~andreev.procedures.runner.Prepared` experiment (limits
already checked) with its own :class:`~andreev.engine.stop.StopFlag`: the window's abort
button sets it, the same safe stop as Ctrl-C on ``andreev run`` (the engine stops after
the current point, walks the tip back to the tunnelling setpoint at V_set with the
feedback on and closes the run file ``aborted``). :class:`RunWorker` calls
:func:`~andreev.procedures.runner.run_prepared` in a ``threading.Thread``; the data go to
the same HDF5 run files as from the command line, under the station's
:class:`~andreev.engine.station_lock.StationLock` (an ``andreev run`` on the same station
is refused meanwhile, and the other way round). Outside the main thread the stop flag
installs no signal handlers: Ctrl-C belongs to the window's process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from andreev.engine.events import Event, RunFileOpened
from andreev.engine.lifecycle import RunResult
from andreev.engine.station_lock import StationLock
from andreev.engine.stop import StopFlag
from andreev.procedures.runner import Prepared, run_prepared

__all__ = ["ENDED", "QueuedRun", "RunWorker"]

log = logging.getLogger(__name__)

ENDED = ("completed", "incomplete", "aborted", "failed")
"""States of a queued run that has ended (its run file's exit status)."""


@dataclass(eq=False)
class QueuedRun:
    """One entry of the queue.

    Attributes:
        number: 1, 2, … in the order queued.
        prepared: the checked experiment (and the run file to resume, if any).
        state: queued, running, removed, or how it ended (see :data:`ENDED`).
        path: the run file, once the engine opened it.
        message: why it failed when it raised (else "").
        stop: its stop flag.
    """

    number: int
    prepared: Prepared
    state: str = "queued"
    path: Path | None = None
    message: str = ""
    stop: StopFlag = field(default_factory=StopFlag)

    @property
    def label(self) -> str:
        """``NAME (Procedure)``, or ``resume FILE`` for a resumed run."""
        exp = self.prepared.experiment
        if self.prepared.resume is not None:
            return f"resume {self.prepared.resume.name}"
        return f"{exp.name} ({type(exp.procedure).__name__})"


Finished = Callable[[QueuedRun, RunResult | None, BaseException | None], None]


class RunWorker:
    """Runs one :class:`QueuedRun` in a daemon thread.

    Args:
        item: what to run; its ``state`` becomes "running".
        out_dir: folder of new run files.
        listener: receives every engine event (in the worker thread).
        finished: called once at the end (in the worker thread) with the result, or the
            exception the run raised (after the engine made the instruments safe).
    """

    def __init__(
        self,
        item: QueuedRun,
        out_dir: Path,
        listener: Callable[[Event], None],
        finished: Finished,
    ) -> None:
        self.item = item
        self.out_dir = Path(out_dir)
        self.listener = listener
        self.finished = finished
        self.thread = threading.Thread(
            target=self._run, name=f"andreev-run-{item.number}", daemon=True
        )

    def start(self) -> None:
        self.item.state = "running"
        self.thread.start()

    def _run(self) -> None:
        result, error = None, None
        try:
            with StationLock(self.item.prepared.station.path, "andreev gui") as lock:

                def listen(event: Event) -> None:
                    if isinstance(event, RunFileOpened):
                        lock.update(run_file=str(event.path))
                    self.listener(event)

                result = run_prepared(
                    self.item.prepared,
                    out_dir=self.out_dir,
                    stop=self.item.stop,
                    listeners=[listen],
                )
        except BaseException as exc:  # reported to the window, never lost in the thread
            log.error("run %d failed: %s", self.item.number, exc, exc_info=exc)
            error = exc
        self.finished(self.item, result, error)

    def abort(self, reason: str = "abort button") -> None:
        """Ask the run to stop after the current point (the safe stop)."""
        self.item.stop.set(reason)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has ended."""
        if self.thread.ident is not None:
            self.thread.join(timeout)
        return not self.thread.is_alive()
