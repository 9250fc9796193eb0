"""``andreev watch RUN.h5``: a live window on a run file (needs the ``gui`` extra)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

GUI_EXTRA_HINT = 'pip install -e ".[gui]"'
EXIT_OK, EXIT_FAILED, EXIT_NO_GUI = 0, 1, 3


def add_watch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "watch",
        help="follow a run file in a window while it is written (or after)",
        description="Follow a run file (live, finished, or cut) in a window: spectra, "
        "the d²I/dV² map, the temperature and the status. Read-only; never slows the run.",
    )
    p.add_argument("run", type=Path, help="run file (HDF5); may not exist yet")
    p.add_argument(
        "--screenshot", type=Path, default=None, metavar="PNG", help="save the window as PNG"
    )
    p.add_argument(
        "--after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="close after SECONDS (with --screenshot: then save it; default 3 s)",
    )
    p.set_defaults(handler="andreev.cli.watch:watch_main")


def _no_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _qt_problem(command: str = "watch") -> str | None:
    """None when Qt and pyqtgraph import; else one line saying what ``andreev COMMAND``
    needs installed."""
    try:
        import pyqtgraph  # noqa: F401
        from pyqtgraph.Qt import QtWidgets  # noqa: F401
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing.split(".")[0] in ("PySide6", "pyqtgraph", "PyQt6", "PyQt5", "PySide2", ""):
            if ".so" not in str(exc):
                return f"andreev {command} needs the gui extra: {GUI_EXTRA_HINT}"
        return f"andreev {command}: Qt cannot load a system library ({exc})"
    except Exception as exc:  # pyqtgraph raises a plain Exception without a Qt binding
        return f"andreev {command} needs the gui extra: {GUI_EXTRA_HINT} ({exc})"
    return None


class MissingGui(Exception):
    """The gui extra (Qt, pyqtgraph) is not importable; the message is the one line."""


def prepare_window(command: str, screenshot: Path | None, after: float | None) -> float | None:
    """What ``andreev watch`` and ``andreev gui`` do before they open a window: offscreen
    when a screenshot is asked for without a display; the window's close delay (s,
    ``after``, 3 s by default with a screenshot).

    Raises:
        MissingGui: Qt or pyqtgraph cannot be imported (the message says what to install).
    """
    if screenshot is not None and _no_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    problem = _qt_problem(command)
    if problem is not None:
        raise MissingGui(problem)
    return 3.0 if screenshot is not None and after is None else after


#: added to the watcher's niceness: on a busy machine the run gets the CPU first
WATCH_NICENESS = 10


def watch_main(args: argparse.Namespace) -> int:
    """``andreev watch``: at lower CPU priority than the run it follows."""
    if hasattr(os, "nice"):
        os.nice(WATCH_NICENESS)
    try:
        after = prepare_window("watch", args.screenshot, args.after)
    except MissingGui as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_GUI
    from andreev.errors import AndreevError
    from andreev.gui.watch import run_watch

    try:
        saved = run_watch(args.run, screenshot=args.screenshot, after=after)
    except AndreevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if saved is not None:
        print(f"screenshot: {saved}")
    return EXIT_OK
