"""``andreev analyze``'s progress bar while the fits run as Dask tasks.

On a terminal one line is redrawn in place: ``[#####-----] 12/64 fits (19 %), 3 s,
ETA 13 s``, ended when the first file's results are ready (every fit of every file is
done by then; the summaries follow on stdout). Elsewhere (a pipe, a log) a plain line
at the first fit and whenever another tenth of the fits is done. The ETA is the wall time so
far scaled by the fits still to do.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["FitProgress"]


class FitProgress:
    """A progress callback for ``andreev.analysis.distributed.analyze_files``.

    Args:
        stream: where to draw (stderr by default).
        clock: wall time (s), for the elapsed time and the ETA.
    """

    width = 30

    def __init__(
        self, stream: IO[str] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start = clock()
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._shown = ""  # the bar now on the terminal ("" when none)
        self._tenth = -1  # the last tenth printed on a plain stream

    def line(self, done: int, total: int) -> str:
        """The bar for ``done`` of ``total`` fits."""
        fraction = done / total if total else 1.0
        filled = int(self.width * fraction)
        elapsed = self.clock() - self.start
        text = (
            f"[{'#' * filled}{'-' * (self.width - filled)}] {done}/{total} fits "
            f"({100 * fraction:.0f} %), {elapsed:.0f} s"
        )
        if 0 < done < total:
            text += f", ETA {elapsed * (total - done) / done:.0f} s"
        return text

    def __call__(self, done: int, total: int, finished: Path | None) -> None:
        """``done`` of ``total`` fits finished; ``finished``: a file whose results are ready."""
        if finished is not None:
            self.close()
            return
        text = self.line(done, total)
        if self.live:
            pad = " " * max(0, len(self._shown) - len(text))
            print("\r" + text + pad, end="", file=self.stream, flush=True)
            self._shown = text
            return
        tenth = 10 * done // total if total else 10
        if tenth > self._tenth:
            self._tenth = tenth
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.live and self._shown:
            print(file=self.stream, flush=True)
        self._shown = ""
