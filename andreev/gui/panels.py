"""The live panels (pyqtgraph), reusable by any window: ``watch`` and later ``gui``.

Each panel has ``show_snapshot(snapshot)``, fed with :class:`~andreev.gui.reader.RunSnapshot`
objects by whoever polls the file; :class:`LivePanels` holds all four and wires the map's
``picked`` signal to the spectra.

- :class:`SpectraPanel`: dI/dV / G_N against bias at one outer step, one curve per setpoint
  (the sweep in progress included, dashed); follows the run, or shows what was picked.
- :class:`MapPanel`: d²I/dV² / G_N across the outer axis at one setpoint (a combo box
  chooses it); a click picks (outer step, setpoint) → signal ``picked(int, int)``.
- :class:`TemperaturePanel`: temperature against time, settling waits, per-sweep
  temperatures, setpoint and band.
- :class:`StatusPanel`: sweep i of N, exit status, ETA, last log line.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from andreev.gui import views
from andreev.gui.reader import RunSnapshot

__all__ = ["LivePanels", "MapPanel", "SpectraPanel", "StatusPanel", "TemperaturePanel"]

pg.setConfigOptions(antialias=True, background="w", foreground="k", imageAxisOrder="row-major")

Index = tuple[int, int, int]


def _plot(title: str) -> pg.PlotWidget:
    widget = pg.PlotWidget(title=title)
    widget.showGrid(x=True, y=True, alpha=0.2)
    return widget


def _setpoint_colour(snap: RunSnapshot, j: int) -> QtGui.QColor:
    n = snap.layout.setpoints.size
    return pg.colormap.get("viridis").map(0.9 * j / max(n - 1, 1), mode="qcolor")


def _outer_label(snap: RunSnapshot, i: int) -> str:
    lay = snap.layout
    unit = f" {lay.outer_unit}" if lay.outer_unit else ""
    return f"{lay.outer_dim} = {lay.outer_values[i]:.4g}{unit}"


class SpectraPanel(QtWidgets.QWidget):
    """dI/dV / G_N against bias at one outer step (all its setpoints).

    One curve per setpoint is made when a run's layout is first seen and then only
    given new data (creating plot items at every refresh costs a watcher ~10× more CPU).
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("latest spectra")
        self.plot.setLabel("bottom", "bias", units="V")
        self.plot.setLabel("left", "dI/dV / G_N")
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.follow = QtWidgets.QCheckBox("follow the run")
        self.follow.setChecked(True)
        self.follow.toggled.connect(self._redraw)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addWidget(self.follow)
        self.snapshot: RunSnapshot | None = None
        self.shown: Index | None = None
        self.curves: list[pg.PlotDataItem] = []
        self._picked: Index | None = None
        self._title = ""

    def pick(self, i_outer: int, i_setpoint: int, i_direction: int = 0) -> None:
        """Show outer step ``i_outer`` with setpoint ``i_setpoint`` highlighted; stops
        following the run (tick "follow the run" to go back)."""
        self._picked = (int(i_outer), int(i_setpoint), int(i_direction))
        self.follow.blockSignals(True)
        self.follow.setChecked(False)
        self.follow.blockSignals(False)
        self._redraw()

    def show_snapshot(self, snap: RunSnapshot) -> None:
        if self.snapshot is None or self.snapshot.layout is not snap.layout:
            self._setup(snap)
        self.snapshot = snap
        self._redraw()

    def _setup(self, snap: RunSnapshot) -> None:
        for curve in self.curves:
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves = [
            self.plot.plot([], [], name=f"{value:.3g} A", connect="finite")
            for value in snap.layout.setpoints
        ]

    def _set_title(self, text: str) -> None:
        if text != self._title:
            self._title = text
            self.plot.setTitle(text)

    def _redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        index = views.latest_index(snap) if self.follow.isChecked() else self._picked
        self.shown = index
        if index is None:
            for curve in self.curves:
                curve.setData([], [])
            self._set_title("latest spectra: none yet")
            return
        i, j_hi, k = index
        for j, curve in enumerate(self.curves):
            spec = views.normalised_spectrum(snap, (i, j, k))
            live = spec is not None and spec[1]
            style = QtCore.Qt.PenStyle.DashLine if live else QtCore.Qt.PenStyle.SolidLine
            width = 3 if j == j_hi else 1.2
            curve.setPen(pg.mkPen(_setpoint_colour(snap, j), width=width, style=style))
            if spec is None:
                curve.setData([], [])
            else:
                curve.setData(snap.layout.bias, spec[0])
        self._set_title(
            f"{_outer_label(snap, i)}, {snap.layout.directions[k]}{_live_note(snap, index)}"
        )


def _live_note(snap: RunSnapshot, index: Index) -> str:
    """The title's note on sweep ``index`` when it is the live one: in progress, or cut
    short when its writer is gone (its points so far stay on show, dashed)."""
    live = snap.live
    if live is None or live.index != index:
        return ""
    if snap.writer_alive is False:
        return f" — cut short at {live.n_points}/{snap.layout.bias.size} points (writer gone)"
    return " — sweep in progress"


class MapPanel(QtWidgets.QWidget):
    """d²I/dV² / G_N (1/V) of the forward sweeps across the outer axis at one setpoint
    (one row per outer step, in index order, labelled with the outer values); a click
    picks (outer step, setpoint). Rows of finished sweeps are computed once."""

    picked = QtCore.Signal(int, int)
    """(i_outer, i_setpoint) of a click on the map."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("d²I/dV² map")
        self.plot.setLabel("bottom", "bias", units="V")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            colorMap=pg.colormap.get("CET-D1"), label="d²I/dV² / G_N (1/V)", interactive=False
        )
        self.colorbar.setImageItem(self.image, insert_in=self.plot.getPlotItem())
        self.marker = pg.InfiniteLine(
            angle=0, pen=pg.mkPen("k", width=1.5, style=QtCore.Qt.PenStyle.DotLine)
        )
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.setpoint = QtWidgets.QComboBox()
        self.setpoint.currentIndexChanged.connect(self._redraw)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("setpoint"))
        row.addWidget(self.setpoint, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        layout.addLayout(row)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.snapshot: RunSnapshot | None = None
        self.rows: np.ndarray | None = None
        self._rows_cache: dict[tuple, np.ndarray] = {}
        self._title = ""

    def show_snapshot(self, snap: RunSnapshot) -> None:
        first = self.snapshot is None or self.snapshot.layout is not snap.layout
        self.snapshot = snap
        if first:
            self._setup(snap)
        self._redraw()

    def _setup(self, snap: RunSnapshot) -> None:
        lay = snap.layout
        self._rows_cache.clear()
        self.setpoint.blockSignals(True)
        self.setpoint.clear()
        for j, value in enumerate(lay.setpoints):
            self.setpoint.addItem(f"{value:.3g} A", j)
        self.setpoint.setCurrentIndex(lay.setpoints.size - 1)  # contact: where Δc shows
        self.setpoint.blockSignals(False)
        unit = f" ({lay.outer_unit})" if lay.outer_unit else ""
        self.plot.setLabel("left", f"{lay.outer_dim}{unit}")
        ticks = [(float(i), f"{v:.3g}") for i, v in enumerate(lay.outer_values)]
        self.plot.getAxis("left").setTicks([ticks])
        step = float(np.median(np.abs(np.diff(lay.bias)))) if lay.bias.size > 1 else 1e-3
        x0 = float(lay.bias.min()) - step / 2
        width = float(lay.bias.max() - lay.bias.min()) + step
        self._rect = QtCore.QRectF(x0, -0.5, width, float(lay.outer_values.size))

    def current_setpoint(self) -> int:
        return max(self.setpoint.currentIndex(), 0)

    def _row(self, snap: RunSnapshot, index: Index) -> np.ndarray:
        live = snap.live is not None and snap.live.index == index
        stamp = float(snap.timestamp[index])
        key = (index, str(snap.status[index]), stamp if math.isfinite(stamp) else None)
        if live or key not in self._rows_cache:
            row = views.d2_row(snap, index)
            if live:
                return row
            self._rows_cache[key] = row
        return self._rows_cache[key]

    def _redraw(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        j = self.current_setpoint()
        n_outer = snap.layout.outer_values.size
        self.rows = np.vstack([self._row(snap, (i, j, 0)) for i in range(n_outer)])
        finite = np.abs(self.rows[np.isfinite(self.rows)])
        lim = float(np.percentile(finite, 99)) if finite.size else 1.0
        lim = lim if math.isfinite(lim) and lim > 0 else 1.0
        self.image.setImage(self.rows, autoLevels=False)
        self.image.setRect(self._rect)
        self.colorbar.setLevels((-lim, lim))
        title = f"d²I/dV² map at {snap.layout.setpoints[j]:.3g} A"
        if title != self._title:
            self._title = title
            self.plot.setTitle(title)

    def select_row(self, i_outer: int) -> None:
        """Mark outer step ``i_outer`` on the map."""
        self.marker.setValue(float(i_outer))
        self.marker.setVisible(True)

    def _clicked(self, event: object) -> None:
        snap = self.snapshot
        if snap is None:
            return
        pos = event.scenePos()  # type: ignore[attr-defined]
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        point = vb.mapSceneToView(pos)
        i = round(point.y())
        if 0 <= i < snap.layout.outer_values.size:
            self.select_row(i)
            self.picked.emit(i, self.current_setpoint())


def _joined(pieces: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Curves joined into one, NaN between them (drawn with ``connect="finite"``)."""
    if not pieces:
        return np.array([]), np.array([])
    gap = np.array([np.nan])
    xs = [part for t, _ in pieces for part in (t, gap)][:-1]
    ys = [part for _, v in pieces for part in (v, gap)][:-1]
    return np.concatenate(xs), np.concatenate(ys)


class TemperaturePanel(QtWidgets.QWidget):
    """Temperature against time: settling waits, sweeps, setpoint and band (items made
    once, then given new data)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("temperature")
        self.plot.setLabel("left", "sample temperature", units="K")
        self.plot.addLegend(offset=(10, 10), labelTextSize="8pt")
        self.lower = pg.PlotDataItem([], [], pen=None)
        self.upper = pg.PlotDataItem([], [], pen=None)
        self.band = pg.FillBetweenItem(self.lower, self.upper, brush=(220, 50, 50, 40))
        for item in (self.lower, self.upper, self.band):
            self.plot.addItem(item)
        dash = QtCore.Qt.PenStyle.DashLine
        self.setpoint = self.plot.plot(
            [], [], pen=pg.mkPen((200, 30, 30), width=1.5, style=dash), name="setpoint ± band"
        )
        self.settling = self.plot.plot(
            [], [], pen=pg.mkPen((40, 90, 200), width=1.5), name="settling", connect="finite"
        )
        self.sweeps = self.plot.plot(
            [], [], pen=None, symbol="o", symbolSize=5, symbolBrush=(20, 20, 20), name="sweeps"
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.timeline: views.Timeline | None = None
        self._label = ""

    def show_snapshot(self, snap: RunSnapshot) -> None:
        tl = views.temperature_timeline(snap)
        self.timeline = tl
        ends = [t[-1] for t, _ in tl.settling] + list(tl.sweeps[0]) + list(tl.setpoint[0])
        span = max(ends) if ends else 0.0
        scale, unit = (3600.0, "h") if span > 3 * 3600 else (60.0, "min")
        clock = "" if tl.speedup == 1 else f", world time ×{tl.speedup:g}"
        label = f"time since start ({unit}{clock})"
        if label != self._label:
            self._label = label
            self.plot.setLabel("bottom", label)
        self.lower.setData(tl.band[0] / scale, tl.band[1])
        self.upper.setData(tl.band[0] / scale, tl.band[2])
        self.setpoint.setData(tl.setpoint[0] / scale, tl.setpoint[1])
        t, temp = _joined(tl.settling)
        self.settling.setData(t / scale, temp)
        self.sweeps.setData(tl.sweeps[0] / scale, tl.sweeps[1])


class StatusPanel(QtWidgets.QLabel):
    """Sweep i of N, exit status, ETA, last log line (plain text)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("waiting for the run file…", parent)
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setStyleSheet("QLabel { padding: 4px; }")

    def show_snapshot(self, snap: RunSnapshot) -> None:
        self.setText("\n".join(views.status_lines(snap)))

    def show_problem(self, text: str) -> None:
        self.setText(text)


class LivePanels(QtWidgets.QWidget):
    """The four panels: status on top, spectra and map side by side, temperature below."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = StatusPanel()
        self.spectra = SpectraPanel()
        self.map = MapPanel()
        self.temperature = TemperaturePanel()
        self.map.picked.connect(self._picked)
        grid = QtWidgets.QGridLayout(self)
        grid.addWidget(self.status, 0, 0, 1, 2)
        grid.addWidget(self.spectra, 1, 0)
        grid.addWidget(self.map, 1, 1)
        grid.addWidget(self.temperature, 2, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self.version = -1

    def _picked(self, i_outer: int, i_setpoint: int) -> None:
        self.spectra.pick(i_outer, i_setpoint, 0)

    def show_snapshot(self, snap: RunSnapshot | None, problem: str = "") -> None:
        """Redraw from ``snap`` when it changed; ``problem`` (why the file could not be
        read just now) is shown while there is no snapshot at all."""
        if snap is None:
            self.status.show_problem(problem or "waiting for the run file…")
            return
        if snap.version == self.version:
            return
        self.version = snap.version
        for panel in (self.status, self.spectra, self.map, self.temperature):
            panel.show_snapshot(snap)
