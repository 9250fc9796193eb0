"""The ``andreev gui`` window: drive the fridge from a form, watch the run live.

Built from pymeasure's display widgets rather than its ``ManagedWindow``: the managed
window runs ``Procedure.execute`` in its own worker and records every run through
``Results`` into a CSV file, while andreev's procedures are plans run by the
:class:`~andreev.engine.run_engine.RunEngine` into HDF5 run files. So the window keeps
pymeasure's parameter form (:class:`~andreev.gui.form.ParameterInputs`, an
``InputsWidget`` with pymeasure's typed input fields) and adds:

- a queue of checked experiments (:mod:`andreev.gui.runqueue`), run one after another by
  the engine in a worker thread, into the same run files as ``andreev run``;
- **Abort**: the run's :class:`~andreev.engine.stop.StopFlag`, the same safe stop as
  Ctrl-C; after an abort (or a failure) the queue holds until **Run the queue**;
- **Resume cut run…**: queue a run file that did not complete (``andreev run --resume``);
- **Dry run**: the plan and its duration (:func:`~andreev.procedures.runner.describe_plan`)
  after every value was checked against the station's safety limits;
- the live panels of ``andreev watch`` (:class:`~andreev.gui.panels.LivePanels`) fed by a
  :class:`~andreev.gui.reader.RunFollower` on the run file being written;
- progress from the engine's events, and andreev's log.

The worker thread never touches a Qt object: its events, its end and the log records are
put in thread-safe queues that a 50 ms timer of the window empties.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyqtgraph.Qt import QtCore, QtWidgets

from andreev.engine.events import (
    Event,
    PointProgress,
    RunEnded,
    RunFileOpened,
    RunStarted,
    Status,
    SweepDisturbed,
    SweepDone,
    SweepFailed,
    SweepStarted,
    WaitingForConditions,
)
from andreev.engine.lifecycle import RunResult, refuse_live_writer
from andreev.errors import AndreevError
from andreev.gui.form import ExperimentForm
from andreev.gui.panels import LivePanels
from andreev.gui.reader import RunFollower
from andreev.gui.runqueue import QueuedRun, RunWorker
from andreev.gui.watch import POLL_INTERVAL, application, show
from andreev.instruments.station import StationConfig, load_station_config
from andreev.procedures.runner import Prepared, describe_plan, prepare

__all__ = ["GuiWindow", "LogPanel", "run_gui"]

log = logging.getLogger(__name__)

SCREENSHOT_SIZE = (1500, 1000)
"""Window size (pixels) in screenshot mode."""

DRY_RUN_OK = "dry run: every value is within the safety limits; nothing was moved"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUEUE_COLUMNS = ("#", "experiment", "state", "run file")
NEWS_INTERVAL_MS = 50
"""Milliseconds between two looks at what the worker thread reported."""


class QueueLogHandler(logging.Handler):
    """A logging handler that only queues the formatted line: safe from any thread (the
    window's timer shows the lines)."""

    def __init__(self, lines: queue.SimpleQueue[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.put(self.format(record))
        except Exception:  # a log line must never break the run that logs it
            self.handleError(record)


class LogPanel(QtWidgets.QPlainTextEdit):
    """andreev's log records (INFO and up) from any thread; :meth:`drain` shows what
    arrived (the window calls it from its timer)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.handler = QueueLogHandler(self.lines)
        self.handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
        self._logger: logging.Logger | None = None
        self._old_level = logging.NOTSET

    def attach(self, logger: logging.Logger) -> None:
        """Show ``logger``'s records (its level lowered to INFO while attached)."""
        self._logger, self._old_level = logger, logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        logger.addHandler(self.handler)

    def detach(self) -> None:
        if self._logger is not None:
            self._logger.removeHandler(self.handler)
            self._logger.setLevel(self._old_level)
            self._logger = None

    def drain(self) -> None:
        """Append the lines logged since the last call."""
        while True:
            try:
                self.appendPlainText(self.lines.get_nowait())
            except queue.Empty:
                return


def _button(text: str, slot: Any, tip: str) -> QtWidgets.QPushButton:
    button = QtWidgets.QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class GuiWindow(QtWidgets.QMainWindow):
    """The experiment form, the queue and the live panels of one station.

    Args:
        station: the station YAML (or its loaded config).
        out_dir: folder of new run files (``andreev run --out``).
        interval: seconds between two reads of the run file being written.
    """

    def __init__(
        self,
        station: StationConfig | str | os.PathLike[str],
        out_dir: str | os.PathLike[str] = "data",
        interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__()
        if not isinstance(station, StationConfig):
            station = load_station_config(Path(station))
        self.station = station
        self.items: list[QueuedRun] = []
        self.worker: RunWorker | None = None
        self.held = False
        self.follower: RunFollower | None = None
        # the worker thread's news, shown by the window's thread (see _drain)
        self.news: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._build(Path(out_dir))
        self.log_panel.attach(logging.getLogger("andreev"))
        self.setWindowTitle(f"andreev gui — {self.station.path}")
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(max(50, round(interval * 1000)))
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.news_timer = QtCore.QTimer(self)
        self.news_timer.setInterval(NEWS_INTERVAL_MS)
        self.news_timer.timeout.connect(self._drain)
        self.news_timer.start()
        self._update_controls()

    # ---- layout ----------------------------------------------------------------------
    def _build(self, out_dir: Path) -> None:
        self.form = ExperimentForm()
        self.panels = LivePanels()
        self.plan = QtWidgets.QPlainTextEdit()
        self.plan.setReadOnly(True)
        self.log_panel = LogPanel()
        self.queue_view = QtWidgets.QTreeWidget()
        self.queue_view.setHeaderLabels(list(QUEUE_COLUMNS))
        self.queue_view.setRootIsDecorated(False)
        self.queue_view.setSelectionMode(
            QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection
        )
        self.tabs = QtWidgets.QTabWidget()
        for widget, name in (
            (self.queue_view, "Queue"),
            (self.plan, "Plan"),
            (self.log_panel, "Log"),
        ):
            self.tabs.addTab(widget, name)
        right = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        right.addWidget(self.panels)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        main = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        main.addWidget(self._controls(out_dir))
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([380, 1100])
        self.setCentralWidget(main)
        self._build_status_bar()

    def _controls(self, out_dir: Path) -> QtWidgets.QWidget:
        self.load_button = _button("Load YAML…", self._pick_experiment, "fill the form from a file")
        self.dry_run_button = _button("Dry run", self.dry_run, "check the limits, show the plan")
        self.queue_button = _button("Queue", self.queue_form, "check, then queue this experiment")
        self.resume_button = _button("Resume cut run…", self._pick_resume, "continue a run file")
        self.remove_button = _button(
            "Remove queued", self.remove_selected, "drop the selected waiting experiments"
        )
        self.abort_button = _button("Abort", self.abort, "stop safely after the current point")
        self.abort_button.setStyleSheet("QPushButton:enabled { color: #b00000; font-weight: bold }")
        self.out_dir = QtWidgets.QLineEdit(str(out_dir))
        self.out_dir.setToolTip("folder of new run files")
        speed = "" if self.station.speedup == 1 else f" (clock ×{self.station.speedup:g})"
        station = QtWidgets.QLabel(f"station: {self.station.path}{speed}")
        station.setWordWrap(True)
        buttons = QtWidgets.QGridLayout()
        for n, button in enumerate(
            (self.load_button, self.dry_run_button, self.queue_button, self.resume_button)
        ):
            buttons.addWidget(button, n // 2, n % 2)
        buttons.addWidget(self.remove_button, 2, 0)
        buttons.addWidget(self.abort_button, 2, 1)
        out_row = QtWidgets.QFormLayout()
        out_row.addRow("output folder", self.out_dir)
        panel = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(panel)
        layout.addWidget(station)
        layout.addWidget(self.form, 1)
        layout.addLayout(out_row)
        layout.addLayout(buttons)
        return panel

    def _build_status_bar(self) -> None:
        self.message = QtWidgets.QLabel("idle")
        self.sweeps_bar = QtWidgets.QProgressBar()
        self.sweeps_bar.setFormat("sweeps %v/%m")
        self.points_bar = QtWidgets.QProgressBar()
        self.points_bar.setFormat("this sweep %p %")
        for progress in (self.sweeps_bar, self.points_bar):
            progress.setMinimumWidth(170)
        bar = self.statusBar()
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.sweeps_bar)
        bar.addPermanentWidget(self.points_bar)

    # ---- actions ---------------------------------------------------------------------
    def _prepare_form(self) -> Prepared | None:
        """The form's experiment checked against the station; None (and the problem in the
        Plan tab) when it is refused."""
        try:
            return prepare(self.form.experiment(), self.station)
        except AndreevError as exc:
            details = list(getattr(exc, "details", ()))
            self.show_plan([f"refused: {exc}", *(f"  {line}" for line in details)])
            log.warning("experiment refused: %s", exc)
            return None

    def dry_run(self) -> list[str]:
        """Check the form's experiment against the limits and show its plan (nothing moves);
        returns the lines shown."""
        prepared = self._prepare_form()
        if prepared is None:
            return self.plan.toPlainText().splitlines()
        lines = [*describe_plan(prepared.experiment, prepared.station), DRY_RUN_OK]
        self.show_plan(lines)
        return lines

    def show_plan(self, lines: list[str]) -> None:
        self.plan.setPlainText("\n".join(lines))
        self.tabs.setCurrentWidget(self.plan)

    def queue_form(self) -> QueuedRun | None:
        """Queue the form's experiment (refused with the reason when a check fails)."""
        prepared = self._prepare_form()
        return None if prepared is None else self._add(prepared)

    def queue_resume(self, path: str | os.PathLike[str]) -> QueuedRun | None:
        """Queue the continuation of the cut run in ``path``."""
        try:
            refuse_live_writer(Path(path))
            prepared = prepare(None, self.station, Path(path))
        except AndreevError as exc:
            self.show_plan([f"cannot resume {path}: {exc}"])
            log.warning("cannot resume %s: %s", path, exc)
            return None
        return self._add(prepared)

    def _add(self, prepared: Prepared) -> QueuedRun:
        item = QueuedRun(len(self.items) + 1, prepared)
        self.items.append(item)
        self.queue_view.addTopLevelItem(QtWidgets.QTreeWidgetItem([str(item.number), item.label]))
        self._show_item(item)
        self.show_plan(describe_plan(prepared.experiment, prepared.station))
        self.tabs.setCurrentWidget(self.queue_view)
        log.info("queued %d: %s", item.number, item.label)
        self._start_next()
        return item

    def remove_selected(self) -> list[QueuedRun]:
        """Drop the selected experiments that are still waiting; returns them."""
        rows = {self.queue_view.indexOfTopLevelItem(row) for row in self.queue_view.selectedItems()}
        removed = [self.items[n] for n in sorted(rows) if self.items[n].state == "queued"]
        for item in removed:
            item.state = "removed"
            self._show_item(item)
            log.info("removed %d from the queue: %s", item.number, item.label)
        self._update_controls()
        return removed

    def abort(self) -> None:
        """Running: the safe stop (the queue then holds). Held: run the queue again."""
        if self.worker is not None:
            self.worker.abort()
            self.held = True
            self.message.setText("stopping after the current point; making the instruments safe")
            log.warning("abort requested: run %d", self.worker.item.number)
        else:
            self.held = False
            self._start_next()
        self._update_controls()

    @property
    def running(self) -> QueuedRun | None:
        """The run in progress, if any."""
        return None if self.worker is None else self.worker.item

    def waiting(self) -> list[QueuedRun]:
        return [item for item in self.items if item.state == "queued"]

    def _start_next(self) -> None:
        pending = self.waiting()
        if self.worker is not None or self.held or not pending:
            self._update_controls()
            return
        item = pending[0]
        news = self.news
        self.worker = RunWorker(
            item,
            Path(self.out_dir.text() or "data"),
            listener=lambda event: news.put((self._on_event, item, event)),
            finished=lambda *end: news.put((self._on_finished, *end)),
        )
        self.follower = None
        self.sweeps_bar.reset()
        self.points_bar.reset()
        self.worker.start()
        self.message.setText(f"run {item.number}: {item.label}: opening the station")
        self._show_item(item)
        self._update_controls()

    # ---- news from the worker ----------------------------------------------------------
    def _drain(self) -> None:
        """Handle what the worker thread reported since the last call (events, its end)
        and show new log lines; runs in the window's thread."""
        while True:
            try:
                handler, *args = self.news.get_nowait()
            except queue.Empty:
                break
            handler(*args)
        self.log_panel.drain()

    def _on_event(self, item: QueuedRun, event: Event) -> None:
        if isinstance(event, RunFileOpened):
            item.path = event.path
            self.follower = RunFollower(event.path)
            self.panels.version = -1  # a new file counts its versions from 1 again
            self._show_item(item)
        elif isinstance(event, RunStarted):
            self.sweeps_bar.setRange(0, event.total)
            self.sweeps_bar.setValue(event.done)
        elif isinstance(event, PointProgress):
            self.points_bar.setRange(0, event.total_points)
            self.points_bar.setValue(event.points)
        elif isinstance(event, SweepDone | SweepFailed):
            self.sweeps_bar.setRange(0, event.total)
            self.sweeps_bar.setValue(event.done)
        elif isinstance(event, RunEnded):
            item.state = event.exit_status
            self._show_item(item)
        text = _event_text(event)
        if text:
            self.message.setText(f"run {item.number}: {text}")

    def _on_finished(
        self, item: QueuedRun, result: RunResult | None, error: BaseException | None
    ) -> None:
        if result is not None:
            item.state, item.path = result.exit_status, result.path or item.path
        else:
            item.state, item.message = "failed", str(error or "")
        if self.worker is not None and self.worker.item is item:
            self.worker.join(10.0)
            self.worker = None
        self.refresh()
        if item.state in ("aborted", "failed"):
            self.held = True
        self.message.setText(
            f"run {item.number} {item.state}"
            + (f": {item.message}" if item.message else "")
            + (" — the queue holds: press “Run the queue”" if self.held and self.waiting() else "")
        )
        self._show_item(item)
        self._start_next()

    # ---- display -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the followed run file once and redraw what changed."""
        if self.follower is not None:
            snap = self.follower.poll()
            self.panels.show_snapshot(snap, self.follower.problem)

    def _show_item(self, item: QueuedRun) -> None:
        row = self.queue_view.topLevelItem(item.number - 1)
        if row is None:
            return
        state = item.state + (f": {item.message}" if item.message else "")
        row.setText(2, state)
        row.setText(3, "" if item.path is None else str(item.path))
        for column in range(len(QUEUE_COLUMNS)):
            self.queue_view.resizeColumnToContents(column)

    def _update_controls(self) -> None:
        running = self.worker is not None
        self.abort_button.setEnabled(running or self.held)
        waiting = len(self.waiting())
        held = self.held and not running
        self.abort_button.setText(f"Run the queue ({waiting} waiting)" if held else "Abort")

    def _pick_experiment(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "experiment YAML", "config/experiments", "YAML (*.yaml *.yml)"
        )
        if path:
            try:
                self.form.load(path)
            except AndreevError as exc:
                self.show_plan([f"cannot load {path}: {exc}"])

    def _pick_resume(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(
            self, "cut run to resume", self.out_dir.text(), "run files (*.h5)"
        )
        if path:
            self.queue_resume(path)

    # ---- closing -----------------------------------------------------------------------
    def shutdown(self, timeout: float = 120.0) -> None:
        """Stop polling; abort a run in progress and wait (up to ``timeout`` s) until the
        engine has made the instruments safe and closed the run file."""
        self.timer.stop()
        self.news_timer.stop()
        worker = self.worker
        if worker is not None:
            worker.abort("window closed")
            if not worker.join(timeout):
                log.error("run %d still stopping after %g s", worker.item.number, timeout)
        self.log_panel.detach()
        self._drain()

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)


def _event_text(event: Event) -> str:
    """One status-bar line for an engine event ("" for those the bars show)."""
    if isinstance(event, RunFileOpened):
        return f"{'resumed' if event.resumed else 'writing'} {event.path}"
    if isinstance(event, SweepStarted):
        retake = f", retake {event.attempt}" if event.attempt else ""
        return f"sweep ({event.i}, {event.j}) at {event.current:.3g} A{retake}"
    if isinstance(event, WaitingForConditions):
        return f"paused before sweep ({event.i}, {event.j}): {event.reason}"
    if isinstance(event, SweepDisturbed):
        return f"sweep ({event.i}, {event.j}) disturbed: {event.reason}"
    if isinstance(event, SweepFailed):
        return f"sweep ({event.i}, {event.j}) failed: {event.reason}"
    if isinstance(event, Status):
        return event.message
    if isinstance(event, RunEnded):
        return f"{event.exit_status}: {event.path}"
    return ""


def run_gui(
    station: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str] = "data",
    experiment: str | os.PathLike[str] | None = None,
    start: bool = False,
    screenshot: str | os.PathLike[str] | None = None,
    after: float | None = None,
) -> Path | None:
    """Open the window on ``station`` and run Qt's event loop until it is closed.

    ``experiment`` (YAML) fills the form; with ``start`` it is queued at once. With
    ``after`` (s) the window closes by itself after that long, first saving
    ``screenshot`` (PNG) when given; a run still going is then stopped safely. Returns
    the screenshot's path (else None). Raises ConfigError for a bad station/experiment.
    """
    application()
    window = GuiWindow(station, out_dir)
    try:
        if experiment is not None:
            window.form.load(Path(experiment))
            if start:
                window.queue_form()
        if screenshot is not None:
            window.resize(*SCREENSHOT_SIZE)
        with _ctrl_c_closes(window):
            return show(window, screenshot=screenshot, after=after)
    finally:
        window.shutdown()


@contextmanager
def _ctrl_c_closes(window: GuiWindow) -> Iterator[None]:
    """Ctrl-C (SIGINT) in the terminal closes the window, which stops a run safely (the
    window's poll timer lets Python see the signal within one interval). Main thread
    only, as :class:`~andreev.engine.stop.StopFlag` does.

    The handler only schedules the close on the event loop: Python runs it between two
    bytecodes of whatever the main thread was doing, say inside h5py while reading the
    run file and holding h5py's lock. Closing there would wait for the run's thread,
    which needs that lock to write its last point: a deadlock until the join gave up.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def close_from_the_loop() -> None:
        log.warning("Ctrl-C: stopping the run safely and closing the window")
        window.close()

    def close(signum: int, frame: Any) -> None:
        QtCore.QTimer.singleShot(0, close_from_the_loop)

    previous = signal.signal(signal.SIGINT, close)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
