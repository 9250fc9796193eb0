"""The ``andreev watch`` window: a :class:`~andreev.gui.reader.RunFollower` polled by a
Qt timer feeding :class:`~andreev.gui.panels.LivePanels`; optionally a screenshot after
some seconds, then exit (headless use for documentation and tests)."""

from __future__ import annotations

import os
from pathlib import Path

from pyqtgraph.Qt import QtCore, QtWidgets

from andreev.errors import AndreevError
from andreev.gui.panels import LivePanels
from andreev.gui.qtcompat import guard_refcounts
from andreev.gui.reader import RunFollower

__all__ = ["POLL_INTERVAL", "WatchWindow", "application", "run_watch", "show"]

POLL_INTERVAL = 0.5
"""Seconds between two reads of the run file (the sweep in progress shows within ~1 s of
the writer's live flush)."""

SCREENSHOT_SIZE = (1400, 950)
"""Window size (pixels) in screenshot mode."""


class WatchWindow(QtWidgets.QMainWindow):
    """Follows ``path`` every ``interval`` seconds and shows it in :class:`LivePanels`."""

    def __init__(self, path: str | os.PathLike[str], interval: float = POLL_INTERVAL) -> None:
        super().__init__()
        self.follower = RunFollower(path)
        self.panels = LivePanels()
        self.setCentralWidget(self.panels)
        self.setWindowTitle(f"andreev watch — {self.follower.path.name}")
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(max(50, round(interval * 1000)))
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        """Read the file once and redraw what changed."""
        snap = self.follower.poll()
        self.panels.show_snapshot(snap, self.follower.problem)
        self.statusBar().showMessage(self.follower.problem or f"{self.follower.path}")


def application() -> QtWidgets.QApplication:
    """The process' QApplication (made on first use), with the binding's refcount guard on
    (see :mod:`andreev.gui.qtcompat`)."""
    guard_refcounts()
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(["andreev watch"])
    return app


def save_screenshot(window: QtWidgets.QWidget, png: Path) -> Path:
    """Render ``window`` into ``png``; raises AndreevError when it cannot be written."""
    png.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(png), "PNG"):
        raise AndreevError(f"could not write the screenshot {png}")
    return png


def run_watch(
    path: str | os.PathLike[str],
    *,
    screenshot: str | os.PathLike[str] | None = None,
    after: float | None = None,
    interval: float = POLL_INTERVAL,
) -> Path | None:
    """Open the watch window on ``path`` and run Qt's event loop until it is closed.

    With ``after`` (s) the window closes by itself after that long, first saving
    ``screenshot`` (PNG) when given; returns the screenshot's path (else None).
    """
    application()
    window = WatchWindow(path, interval)
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
    try:
        return show(window, screenshot=screenshot, after=after)
    finally:
        window.timer.stop()


def show(
    window: QtWidgets.QMainWindow,
    *,
    screenshot: str | os.PathLike[str] | None = None,
    after: float | None = None,
) -> Path | None:
    """Show ``window`` and run Qt's event loop until it is closed; with ``after`` (s) it
    is closed after that long, first saved as ``screenshot`` (PNG) when given (it must
    have a ``refresh()``). Returns the screenshot's path (else None)."""
    app = application()
    window.show()
    if after is None:
        app.exec()
        return None
    saved: list[Path] = []
    errors: list[BaseException] = []
    # a local loop, not app.exec(): quitting the application's loop would leave the
    # process' QApplication unable to run timers afterwards (a test process, say)
    loop = QtCore.QEventLoop()

    def finish() -> None:
        try:
            window.refresh()
            app.processEvents()
            if screenshot is not None:
                saved.append(save_screenshot(window, Path(screenshot)))
        except BaseException as exc:  # re-raised after the event loop
            errors.append(exc)
        finally:
            window.close()
            loop.quit()

    QtCore.QTimer.singleShot(max(0, round(after * 1000)), finish)
    loop.exec()
    if errors:
        raise errors[0]
    return saved[0] if saved else None
