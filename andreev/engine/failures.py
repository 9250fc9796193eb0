"""How a failure is told: one line for the user (terminal and log), the traceback once,
to the run's log file only.

:data:`TRACEBACKS` is a logger that does not propagate to the console: the run's log
file handler (:func:`andreev.engine.lifecycle.log_to_file`) is attached to it as well.
"""

from __future__ import annotations

import logging

TRACEBACKS = logging.getLogger("andreev.tracebacks")
TRACEBACKS.propagate = False


def one_line(exc: BaseException) -> str:
    """``"<Type>: <message>"`` of an exception, on one line (qcodes' added context
    dropped: the first argument is the message when it is text)."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    text = " ".join(str(first).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> str:
    """Log ``what: <one line>`` as an error on ``logger`` and the traceback to the log
    file only; returns the one line."""
    line = f"{what}: {one_line(exc)}"
    logger.error("%s", line)
    TRACEBACKS.error("%s", line, exc_info=(type(exc), exc, exc.__traceback__))
    return line
