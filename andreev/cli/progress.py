"""The run's progress line and the console's log lines, kept apart.

On a terminal one progress line is redrawn in place; a log record is printed *above*
it (the line is cleared, the record written, the line redrawn), so the two never run
into each other. Elsewhere (a pipe, a log file) one plain line per finished sweep.
Sweeps are counted as the plan counts them (:mod:`andreev.engine.eta`); the ETA comes
from the measured rate of finished sweeps and ends in a wall-clock time.

``andreev analyze`` draws the same bar counted in fits while they run as Dask tasks
(:class:`FitProgress`; in a pipe a line at the first fit and at every further tenth).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from andreev.engine.eta import Eta

if TYPE_CHECKING:
    from andreev.engine.events import Event

__all__ = ["FitProgress", "OneLineFormatter", "Progress", "ProgressLogHandler"]


class OneLineFormatter(logging.Formatter):
    """``LEVEL logger: message`` on one line; an attached exception becomes
    ``(Type: message)``, its traceback left to the run's log."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        plain = logging.makeLogRecord(
            {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
        )
        text = " ".join(super().format(plain).split())
        if exc is not None:
            text += f" ({type(exc).__name__}: {' '.join(str(exc).split())})"
        return text


class Progress:
    """The run's progress bar with its ETA, and the current sweep's part.

    Args:
        stream: where to draw (stderr by default).
        planned_seconds: the plan's estimate of the run (wall s), the ETA until the
            first sweep has finished.
        unit: what the bar counts.
        eta: the estimate to show (default: from ``planned_seconds``, counting finished
            sweeps from the first one this process sees).
    """

    width = 30

    def __init__(
        self,
        stream: IO[str] | None = None,
        planned_seconds: float | None = None,
        unit: str = "sweeps",
        eta: Eta | None = None,
    ):
        self.stream = stream or sys.stderr
        self.eta = eta if eta is not None else Eta(planned_seconds)
        self.unit = unit
        self.done, self.total = 0, 0
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = ""  # the progress line now on the terminal ("" when none)
        self._lock = threading.Lock()

    def _bar(self, fraction: float) -> str:
        filled = int(self.width * fraction)
        return "#" * filled + "-" * (self.width - filled)

    def _line(self, sweep_fraction: float | None) -> str:
        text = (
            f"[{self._bar(self.done / self.total)}] {self.done}/{self.total} {self.unit} "
            f"({100 * self.done / self.total:.0f} %), {self.eta.text()}"
        )
        if sweep_fraction is not None:
            text += f" | this sweep {100 * sweep_fraction:3.0f} %"
        return text

    def _draw(self, text: str, final: bool) -> None:
        with self._lock:
            if not self.live:
                print(text, file=self.stream, flush=True)
                return
            pad = " " * max(0, len(self._shown) - len(text))
            end = "\n" if final else ""
            print("\r" + text + pad, end=end, file=self.stream, flush=True)
            self._shown = "" if final else text

    def __call__(self, done: int, total: int, world_seconds: float) -> None:
        """A sweep finished: ``done`` of ``total``; it took ``world_seconds``."""
        self.update(done, total)

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` finished: the bar moves (its line ends at the last)."""
        self.eta.update(done, total)
        self.done, self.total = done, total
        self._draw(self._line(None), final=done == total)

    def sweep_progress(self, points: int, total_points: int) -> None:
        """Points of the current sweep taken (redrawn on a terminal only)."""
        if self.live and self.total:
            self._draw(self._line(points / total_points), final=False)

    def write_above(self, text: str) -> None:
        """Print ``text`` on its own line(s) above the progress line (redrawn after)."""
        with self._lock:
            if self.live and self._shown:
                clear = "\r" + " " * len(self._shown) + "\r"
                print(clear + text, file=self.stream, flush=True)
                print(self._shown, end="", file=self.stream, flush=True)
            else:
                print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the progress line (a run cut short leaves it unfinished)."""
        with self._lock:
            if self.live and self._shown:
                print(file=self.stream, flush=True)
            self._shown = ""

    def on_event(self, event: Event) -> None:
        """An engine listener: finished sweeps move the bar, points the sweep's part."""
        from andreev.engine.events import PointProgress, SweepDone, SweepFailed

        if isinstance(event, SweepDone | SweepFailed):
            self(event.done, event.total, event.world_seconds)
        elif isinstance(event, PointProgress):
            self.sweep_progress(event.points, event.total_points)


class FitProgress:
    """``andreev analyze``'s progress: a callback for
    ``andreev.analysis.distributed.analyze_files`` drawing a :class:`Progress` bar of
    fits. Several fits finish at once, so the ETA's rate counts from zero fits; the line
    ends with the last fit (a file's results come after); in a pipe, a line at the first
    fit and at every further tenth.

    Args:
        stream: where to draw (stderr by default).
        monotonic: the clock (s) of the ETA (replaceable in tests).
    """

    def __init__(
        self, stream: IO[str] | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        eta = Eta(monotonic=monotonic, first_done=0)
        self.bar = Progress(stream, unit="fits", eta=eta)
        self._tenth = -1  # the last tenth drawn

    def __call__(self, done: int, total: int, finished: Path | None) -> None:
        """``done`` of ``total`` fits finished; ``finished``: a file whose results are ready."""
        if finished is not None or total <= 0:
            self.close()
            return
        tenth = 10 * done // total
        if self.bar.live or tenth > self._tenth:
            self._tenth = tenth
            self.bar.update(done, total)

    def close(self) -> None:
        """End the bar's line (a no-op once it has ended)."""
        self.bar.close()


class ProgressLogHandler(logging.Handler):
    """Console log records written above the progress line (never glued to it)."""

    def __init__(self, progress: Progress, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.progress.write_above(self.format(record))
        except Exception:  # a console that cannot print must not cut the run short
            self.handleError(record)
