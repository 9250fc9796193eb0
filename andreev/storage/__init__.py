"""One HDF5 (NeXus-shaped) file per run, written in SWMR mode, with resume after a crash.

The package, by job:

- :mod:`~andreev.storage.schema`: names, units, status codes and the file layout.
- :mod:`~andreev.storage.layout`: creating the empty structure of a new run.
- :mod:`~andreev.storage.writer`: :class:`RunWriter` (create, write sweeps and settling
  traces, statuses, close; durable on return).
- :mod:`~andreev.storage.recovery`: the writer lock, fsync, kill-proof creating and
  re-opening, :func:`repair` of a file left by a killed writer (an ``h5clear``-like
  rebuild; :mod:`~andreev.storage.superblock` clears the superblock's write marks).
- :mod:`~andreev.storage.run_status`: :func:`run_status` (``andreev status``).
- :mod:`~andreev.storage.reader`: :func:`load`, :func:`load_settling`,
  :func:`load_film_resistance`,
  :func:`read_config_yaml` (live, finished and killed-writer files).
- :mod:`~andreev.storage.grid`: grid runs (:class:`MapGrid`: a scan frame's tip
  positions, serpentine; the visit ↔ (row, column) mapping; ``/entry/drift``).
- :mod:`~andreev.storage.results`: analysis results under ``/entry/analysis``
  (:class:`ResultGroup`, :func:`write_analysis`, :func:`read_analysis`).
"""

from andreev.errors import RunLockedError
from andreev.storage.grid import MapGrid, to_visits
from andreev.storage.reader import (
    effective_exit_status,
    load,
    load_drift,
    load_film_resistance,
    load_grid,
    load_settling,
    read_config_yaml,
)
from andreev.storage.recovery import repair
from andreev.storage.results import ResultGroup, read_analysis, write_analysis
from andreev.storage.run_status import RunStatus, run_status
from andreev.storage.schema import (
    EXIT_STATUSES,
    FINISHED,
    FIXED_AXES,
    PER_SWEEP,
    SIGNALS,
    STATUS_NAMES,
)
from andreev.storage.writer import RunWriter

__all__ = [
    "EXIT_STATUSES",
    "FINISHED",
    "FIXED_AXES",
    "PER_SWEEP",
    "SIGNALS",
    "STATUS_NAMES",
    "MapGrid",
    "ResultGroup",
    "RunLockedError",
    "RunStatus",
    "RunWriter",
    "effective_exit_status",
    "load",
    "load_drift",
    "load_film_resistance",
    "load_grid",
    "load_settling",
    "read_analysis",
    "read_config_yaml",
    "repair",
    "run_status",
    "to_visits",
    "write_analysis",
]
