"""``andreev status RUN.h5`` and ``andreev repair RUN.h5``: a run file's state, and the
recovery of a file left by a killed writer (no instrument is touched by either)."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path


def add_status(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status`` command to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "status",
        help="sweeps done/failed/pending, exit status, live writer and ETA of a run file",
    )
    p.add_argument("run_file", type=Path, metavar="RUN.h5", help="the run file")
    p.set_defaults(handler="andreev.cli.status:status_main")


def add_repair(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``repair`` command to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "repair",
        help="recover a run file left by a killed writer (exit status becomes 'killed'); "
        "touches no instrument",
    )
    p.add_argument("run_file", type=Path, metavar="RUN.h5", help="the run file")
    p.set_defaults(handler="andreev.cli.status:repair_main")


def _clock(unix: float) -> str:
    return datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M")


def _lines(st: object) -> list[str]:
    from andreev.storage import RunStatus

    assert isinstance(st, RunStatus)
    writer = f"alive ({st.writer})" if st.writer_alive else "none"
    lines = [
        f"run file:    {st.path}",
        f"exit status: {st.exit_status}"
        + (" (the writer died)" if st.exit_status == "killed" else ""),
        f"writer:      {writer}",
        f"sweeps:      {st.done} done, {st.failed} failed, {st.pending} pending of {st.total}",
        f"started:     {st.start_time}" + (f", ended {st.end_time}" if st.end_time else ""),
    ]
    if st.live is not None and st.writer_alive:
        i, j, k, points, attempt = st.live
        again = f", retake {attempt}" if attempt > 0 else ""
        lines.append(f"in progress: sweep ({i}, {j}) direction {k}, {points} points{again}")
    if math.isfinite(st.eta):
        from andreev.engine.eta import format_duration

        left = max(0.0, st.eta - datetime.now().timestamp())
        lines.append(f"ETA:         {_clock(st.eta)} (in about {format_duration(left)})")
    elif st.pending + st.failed and not st.writer_alive:
        lines.append(_resume_line(st.path, st.station_file))
    return lines


def _resume_line(path: Path, station_file: str) -> str:
    """The ``--resume`` command, with the station file the run was started with when
    the file names one that still exists (else a placeholder to fill in)."""
    station = station_file if station_file and Path(station_file).is_file() else "STATION.yaml"
    return f"resume with: andreev run --resume {path} --config {station}"


def _error(text: str) -> None:
    print(f"error: {text}", file=sys.stderr, flush=True)


def status_main(args: argparse.Namespace) -> int:
    """``andreev status``: print the run's state; 0, or 2 when the file cannot be read."""
    from andreev.errors import AndreevError
    from andreev.storage import run_status

    try:
        st = run_status(args.run_file)
    except FileNotFoundError:
        _error(f"{args.run_file}: no such file")
        return 2
    except AndreevError as exc:
        _error(str(exc))
        return 2
    except (OSError, KeyError) as exc:
        _error(f"{args.run_file} is not a readable andreev run file ({exc})")
        return 2
    for line in _lines(st):
        print(line)
    return 0


def repair_main(args: argparse.Namespace) -> int:
    """``andreev repair``: recover a killed writer's file; 0, 1 when a live writer holds
    it, 2 when it cannot be read."""
    from andreev.errors import AndreevError, RunLockedError
    from andreev.storage import repair, run_status

    try:
        print(repair(args.run_file))
    except FileNotFoundError:
        _error(f"{args.run_file}: no such file")
        return 2
    except RunLockedError as exc:
        _error(f"{exc}; not touching it")
        return 1
    except AndreevError as exc:
        _error(str(exc))
        return 2
    except (OSError, KeyError) as exc:
        _error(f"{args.run_file} is not a readable andreev run file ({exc})")
        return 2
    st = run_status(args.run_file)
    if st.pending + st.failed:  # a completed run has nothing to resume
        print(_resume_line(args.run_file, st.station_file))
    return 0
