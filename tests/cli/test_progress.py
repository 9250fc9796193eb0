"""The progress line and the console's log lines never run into each other; andreev
analyze's bar of fits (redrawn in place on a terminal, a line per tenth in a pipe, the
ETA from the rate so far)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from andreev.cli.progress import FitProgress, OneLineFormatter, Progress, ProgressLogHandler


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_record_is_printed_above_the_progress_line() -> None:
    terminal = Terminal()
    progress = Progress(terminal, planned_seconds=100.0)
    handler = ProgressLogHandler(progress)
    handler.setFormatter(OneLineFormatter())
    logger = logging.getLogger("andreev.test_progress")
    logger.addHandler(handler)
    try:
        progress(1, 4, 10.0)
        progress.sweep_progress(10, 20)
        logger.warning("temperature 0.3 K not stable")
        try:
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            logger.exception("sweep (1, 2)\nfailed")
        progress(2, 4, 10.0)
        progress.close()
    finally:
        logger.removeHandler(handler)
    lines = terminal.getvalue().split("\n")
    # every log record starts on a line of its own, after the progress line was cleared
    warning = next(line for line in lines if "not stable" in line)
    expected = "WARNING andreev.test_progress: temperature 0.3 K not stable"
    assert warning.rsplit("\r", 1)[-1] == expected
    error = next(line for line in lines if "sweep (1, 2) failed" in line)
    assert error.endswith("failed (ZeroDivisionError: division by zero)")
    assert "Traceback" not in terminal.getvalue()
    assert "ETAWARNING" not in terminal.getvalue().replace(" ", "")
    assert ", ends " in terminal.getvalue()


def test_not_a_terminal_gets_plain_lines() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    handler = ProgressLogHandler(progress)
    handler.setFormatter(OneLineFormatter())
    progress(1, 2, 1.0)
    handler.emit(logging.makeLogRecord({"name": "andreev", "levelname": "WARNING", "msg": "x"}))
    progress(2, 2, 1.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[1] == "WARNING andreev: x"


def _clock(times: list[float]):
    it = iter(times)
    return lambda: next(it)


def test_fit_bar_redrawn_in_place_with_eta_then_ended() -> None:
    # andreev analyze on Dask: the run's bar counted in fits; a chunk of fits finishes
    # at once, so the ETA's rate counts from zero fits (16 in 2 s: 48 more in 6 s)
    term = Terminal()
    bar = FitProgress(term, monotonic=_clock([0.0, 2.0, 8.0]))
    bar(16, 64, None)
    bar(64, 64, None)
    bar(64, 64, Path("a.h5"))  # the first file's results are ready: nothing more
    text = term.getvalue()
    first, last = text.split("\r")[1:]
    assert first.startswith("[#######-----------------------] 16/64 fits (25 %), ETA 6.0 s, ends ")
    assert last.startswith("[##############################] 64/64 fits (100 %), ETA 0.0 s")
    assert text.endswith("\n") and text.count("\n") == 1
    bar.close()  # a second close adds nothing
    assert term.getvalue().count("\n") == 1


def test_fit_bar_in_a_pipe_is_a_plain_line_per_tenth() -> None:
    pipe = io.StringIO()
    bar = FitProgress(pipe, monotonic=lambda: 1.0)
    for done in range(1, 101):
        bar(done, 100, None)
    bar(100, 100, Path("a.h5"))
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue()
    assert len(lines) == 11  # the first fit, then every tenth
    assert "1/100 fits (1 %)" in lines[0] and "10/100 fits (10 %)" in lines[1]
    assert lines[-1].startswith("[" + "#" * 30 + "] 100/100 fits (100 %)")
