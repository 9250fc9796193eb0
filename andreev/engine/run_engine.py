"""The RunEngine: executes a plan's grid of sweeps.

For each (outer step, setpoint) sweep, in order, it

- skips it when the run file already holds it (``--resume``), so a finished sweep is
  never taken twice;
- approaches the setpoint through the driver's safe, gain-switching approach;
- checks the suspenders before the sweep (the plan's ``condition_problem``): while the
  conditions are bad the tip waits at the tunnelling setpoint;
- ranges the lock-in on the signal at V_set, takes the sweep, then checks the lock-in
  overload and the plan's ``sweep_problem``: a disturbed sweep is retaken (after an
  overload with twice the range headroom per overload), at most ``max_retakes`` times;
- writes it to the run file (flushed and fsynced: the checkpoint).

On every exit path — the end, an error, Ctrl-C, SIGTERM — the instruments are put in
the safe state (bias back to V_set, setpoint back to the tunnelling value, feedback on,
heater to the safe range); :attr:`RunEngine.exit_status` says how the run ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from andreev.engine import settling
from andreev.engine.events import (
    Event,
    RunStarted,
    Status,
    SweepDisturbed,
    SweepDone,
    SweepFailed,
    SweepStarted,
    WaitingForConditions,
)
from andreev.engine.failures import log_failure, one_line
from andreev.engine.live import LiveTap, tapped
from andreev.engine.plan import NotRegulating, Plan, RunBook, RunContext, SweepRecord
from andreev.engine.rig import Rig
from andreev.engine.stop import StopFlag
from andreev.errors import Aborted

log = logging.getLogger(__name__)

FINISHED = ("done", "retaken")


class _Attempts:
    """Retake bookkeeping of one sweep."""

    def __init__(self) -> None:
        self.failed = 0  # attempts that did not give a good sweep
        self.overloads = 0
        self.wait_first = False  # after a disturbance: pause until the conditions are back
        self.reason = ""


class RunEngine:
    """Runs ``plan`` on ``rig``, checkpointing into ``book``.

    Args:
        plan: what to measure (an andreev Procedure).
        rig: the instruments by role.
        book: the run file (created or re-opened).
        stop: the run's stop flag (its signal handlers are installed by the caller).
        emit: receives every :mod:`~andreev.engine.events` event.
    """

    def __init__(
        self,
        plan: Plan,
        rig: Rig,
        book: RunBook,
        stop: StopFlag | None = None,
        emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.plan, self.book = plan, book
        self.stop = stop or StopFlag()
        self.emit: Callable[[Event], None] = emit or (lambda event: None)
        self.settings = plan.settings()
        self.grid = plan.grid()
        #: mirrors the sweep in progress into the run file's live datasets
        self.live = LiveTap(book, self.grid.bias, len(self.grid.directions), rig.lockin)
        self.rig = tapped(rig, self.live) if self.live.enabled else rig
        #: completed, incomplete, aborted or failed (set by :meth:`run`)
        self.exit_status = "failed"
        #: one line saying why the run failed ("" unless it did)
        self.failure = ""
        self._done = 0

    # ---- the whole run ---------------------------------------------------------------
    def run(self) -> str:
        """Start up, walk the grid, make everything safe; returns the exit status.

        Ctrl-C and a stop request end the run "aborted"; any other exception ends it
        "failed" and is re-raised after the safe state.
        """
        self.plan.attach(RunContext(self.rig, self.book, self.stop.is_set, self.emit))
        detach_settling = settling.attach(self.rig.bridge, self.emit)
        try:
            self.plan.startup()
            self.walk()
            unfinished = self.book.first_unfinished()
            self.exit_status = "completed" if unfinished is None else "incomplete"
            if unfinished is not None:
                self._status(
                    f"run ended with unfinished sweeps, first at {unfinished}", logging.WARNING
                )
        except (Aborted, KeyboardInterrupt):
            self.exit_status = "aborted"
            self._status(f"run aborted ({self.stop.reason or 'interrupt'})", logging.WARNING)
        except Exception as exc:
            self.exit_status = "failed"
            log_failure(log, "run failed", exc)
            self.failure = one_line(exc)
            raise
        finally:
            self.stop.shutting_down = True
            try:
                self.safe_state()
                self._status("instruments in the safe state")
            except BaseException as exc:  # safe_state logged each failure already
                line = f"could not reach the safe state: {one_line(exc)}"
                log.error("%s", line)
                self.failure = self.failure or line
                self.exit_status = "failed"
            self.plan.attach(None)
            detach_settling()
        return self.exit_status

    def safe_state(self) -> None:
        """Tip to the tunnelling setpoint at V_set, heater to the safe range; both are
        tried even when one fails (or is interrupted); the first error is re-raised."""
        s = self.settings
        errors: list[BaseException] = []
        for action in (
            lambda: self.rig.stm.safe_state(s.setpoint_bias, s.tunnelling_current),
            lambda: self.rig.bridge.safe_state(s.safe_heater_range),
        ):
            try:
                action()
            except BaseException as exc:  # even a KeyboardInterrupt: make the other safe too
                log_failure(log, "safe state failed", exc)
                errors.append(exc)
        if errors:
            raise errors[0]

    # ---- the grid ----------------------------------------------------------------------
    def walk(self) -> None:
        """Walk outer × setpoint, skipping what the run file already holds."""
        n_outer, n_set, _ = self.grid.shape
        self._done = int(np.isin(self.book.sweep_status(), FINISHED).all(axis=-1).sum())
        self.emit(RunStarted(self._done, n_outer * n_set))
        for i in range(n_outer):
            if self._finished(i):
                continue
            self.check_stop()
            if not self.plan.enter_outer(i):
                self._skip_outer(i)
                continue
            for j, current in enumerate(self.grid.setpoints):
                if self._finished(i, j):
                    continue
                self.check_stop()
                self.approach(float(current))
                self.take(i, j, float(current))

    def _skip_outer(self, i: int) -> None:
        self._status(f"outer step {i} skipped: conditions could not be reached", logging.WARNING)
        status = self.book.sweep_status()
        n_set, n_dir = self.grid.shape[1:]
        for j in range(n_set):
            for k in range(n_dir):
                if status[i, j, k] not in FINISHED:
                    self.book.set_status(i, j, k, "failed")

    def _finished(self, i: int, j: int | None = None) -> bool:
        status = self.book.sweep_status()[i] if j is None else self.book.sweep_status()[i, j]
        return bool(np.isin(status, FINISHED).all())

    def check_stop(self) -> None:
        """Raise Aborted when a stop was asked for."""
        if self.stop.is_set():
            raise Aborted("stop requested")

    def approach(self, current: float) -> None:
        """Walk the setpoint to ``current`` (A) with the driver's safe approach."""
        s = self.settings
        self.rig.stm.approach_setpoint(
            float(current), steps_per_decade=s.approach_steps_per_decade, settle=s.approach_settle
        )

    # ---- one sweep, with its retakes ------------------------------------------------------
    def take(self, i: int, j: int, current: float) -> None:
        """Take sweep (i, j) at ``current`` (A) until it is good or given up."""
        started = self.rig.clock.now()
        tries = _Attempts()
        while True:
            self.emit(SweepStarted(i, j, current, tries.failed))
            if not self._ready(i, j, current, tries):
                return self._give_up(i, j, tries, started)
            self.rig.lockin.autorange_settled(
                precision=self.settings.settle_precision,
                headroom=self.settings.lockin_headroom * 2.0**tries.overloads,
            )
            self.live.begin(i, j, tries.failed)
            try:
                records = self.plan.take_sweep(current)
            except NotRegulating as exc:
                self.live.end()
                if self._retake_or_give_up(i, j, str(exc), tries):
                    return self._give_up(i, j, tries, started)
                self.approach(self.settings.tunnelling_current)
                self.approach(current)
                continue
            self.live.end()
            problem = self._problem(i, records, tries)
            status = "failed" if problem else ("retaken" if tries.failed else "done")
            self._store(i, j, current, records, status)
            if problem is None:
                return self._finish(i, j, status, "", started)
            if self._retake_or_give_up(i, j, problem, tries):
                return self._give_up(i, j, tries, started, stored=True)

    def _ready(self, i: int, j: int, current: float, tries: _Attempts) -> bool:
        """The suspender: while the conditions of step i are bad, wait with the tip at
        the tunnelling setpoint; False when they cannot be restored."""
        problem = self.plan.condition_problem(i)
        if problem is None and not tries.wait_first:
            return True
        reason = problem or "waiting for the conditions to settle again"
        self.emit(WaitingForConditions(i, j, reason))
        log.warning(
            "paused before sweep (%d, %d): %s; tip back to tunnelling meanwhile", i, j, reason
        )
        self.approach(self.settings.tunnelling_current)
        if not self.plan.wait_for_conditions(i):
            tries.reason = f"conditions not restored: {reason}"
            return False
        self.approach(current)
        return True

    def _problem(self, i: int, records: list[SweepRecord], tries: _Attempts) -> str | None:
        """Why the sweep just taken must be retaken: a lock-in overload (re-range with
        doubled headroom) or the plan's sweep_problem (wait for the conditions first)."""
        overloaded = bool(self.rig.lockin.overloaded())
        problem = "lock-in overload" if overloaded else self.plan.sweep_problem(i, records)
        tries.overloads += overloaded
        tries.wait_first = problem is not None and not overloaded
        return problem

    def _retake_or_give_up(self, i: int, j: int, reason: str, tries: _Attempts) -> bool:
        """Count a failed attempt; True when no retake is left."""
        tries.failed += 1
        tries.reason = reason
        self.emit(SweepDisturbed(i, j, reason, tries.failed))
        log.warning("sweep (%d, %d) disturbed: %s (attempt %d)", i, j, reason, tries.failed)
        return tries.failed > self.settings.max_retakes

    def _store(
        self, i: int, j: int, current: float, records: list[SweepRecord], status: str
    ) -> None:
        g_normal = current / abs(self.settings.setpoint_bias)
        for k, record in enumerate(records):
            record.g_normal = g_normal
            record.write_to(self.book, i, j, k, status)

    def _give_up(
        self, i: int, j: int, tries: _Attempts, started: float, stored: bool = False
    ) -> None:
        if not stored:
            for k in range(self.grid.shape[2]):
                self.book.set_status(i, j, k, "failed")
        self._finish(i, j, "failed", tries.reason, started)

    def _finish(self, i: int, j: int, status: str, reason: str, started: float) -> None:
        """Count sweep (i, j) as finished and report it (done, retaken or failed)."""
        self._done += 1
        seconds = self.rig.clock.now() - started
        log.info(
            "sweep (%d, %d) %s, %d of %d, in %.1f s%s",
            i,
            j,
            status,
            self._done,
            self._total(),
            seconds,
            f": {reason}" if reason else "",
        )
        if status == "failed":
            self.emit(SweepFailed(i, j, reason, self._done, self._total(), seconds))
        else:
            self.emit(SweepDone(i, j, status, self._done, self._total(), seconds))

    def _total(self) -> int:
        n_outer, n_set, _ = self.grid.shape
        return n_outer * n_set

    def _status(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, "%s", message)
        self.emit(Status(message, level))
