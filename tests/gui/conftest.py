"""Qt under the offscreen platform for the GUI tests (the Qt ones skip without the gui
extra: ``pytest.importorskip`` in their modules)."""

from __future__ import annotations

import importlib.util
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True, scope="session")
def _refcount_guard():
    """The binding bug of andreev.gui.qtcompat would abort the test process at exit."""
    if importlib.util.find_spec("pyqtgraph") is not None:
        from andreev.gui.qtcompat import guard_refcounts

        guard_refcounts()
