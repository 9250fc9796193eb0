"""The progress line and the console's log lines never run into each other."""

from __future__ import annotations

import io
import logging

from andreev.cli.progress import OneLineFormatter, Progress, ProgressLogHandler


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
