"""The station file's ``notify:`` command, run when a run ends or fails.

The command is an argv list (no shell), run with a timeout, its output discarded; it
finds the run in its environment: ``ANDREEV_RUN_FILE`` (path, or empty when no file was
made), ``ANDREEV_STATUS`` (completed, incomplete, aborted, failed) and
``ANDREEV_SUMMARY`` (one line). A notifier that fails or hangs is logged as a warning;
it never changes how the run ended.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["NOTIFY_TIMEOUT", "notify"]

log = logging.getLogger("andreev.notify")

#: longest a notifier may run (s)
NOTIFY_TIMEOUT = 30.0


def notify(
    command: Sequence[str],
    run_file: Path | None,
    status: str,
    summary: str,
    timeout: float = NOTIFY_TIMEOUT,
) -> bool:
    """Run ``command`` with the run's file, status and summary in its environment; True
    when it exited 0 (False, and a warning logged, otherwise). No command: True."""
    if not command:
        return True
    env = dict(os.environ)
    env.update(
        ANDREEV_RUN_FILE="" if run_file is None else str(run_file),
        ANDREEV_STATUS=status,
        ANDREEV_SUMMARY=summary,
    )
    try:
        done = subprocess.run(
            list(command),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.warning("notify: %s did not finish within %g s (killed)", command[0], timeout)
        return False
    except OSError as exc:
        log.warning("notify: cannot run %s: %s", command[0], exc.strerror or exc)
        return False
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        log.warning("notify: %s exited %d %s", command[0], done.returncode, tail[0])
        return False
    return True
