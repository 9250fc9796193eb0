"""Live views of runs (``andreev watch RUN.h5``) and the window that drives a station
(``andreev gui``).

Layers inside this package, bottom up:

- :mod:`andreev.gui.reader` follows a run file that another process may be writing
  (h5py + numpy only, no Qt): :class:`~andreev.gui.reader.RunFollower` gives a
  :class:`~andreev.gui.reader.RunSnapshot` per poll.
- :mod:`andreev.gui.views` turns a snapshot into what the panels draw (numpy only):
  normalised spectra, the d²I/dV² map, the temperature timeline, the status lines.
- :mod:`andreev.gui.panels` holds the pyqtgraph widgets (one per panel, and
  :class:`~andreev.gui.panels.LivePanels` with all four) that a window embeds.
- :mod:`andreev.gui.watch` is the ``watch`` window, its timer and the screenshot mode;
- :mod:`andreev.gui.form` is the experiment form (pymeasure's ``InputsWidget`` on the
  procedures' typed Parameters); :mod:`andreev.gui.runqueue` the queue and the worker
  thread that runs the engine; :mod:`andreev.gui.window` the ``gui`` window;
  :mod:`andreev.gui.qtcompat` keeps a Qt binding's refcount bug (PySide6 6.12.0 on
  CPython 3.11) from aborting a long-running window.

Qt, pyqtgraph and pymeasure's display are imported by the window modules only (``runqueue``
imports no Qt), never by ``import andreev`` or ``andreev --help``; this ``__init__``
imports nothing.
"""
