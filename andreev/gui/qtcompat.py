"""Keep a Qt binding's reference-count bug from killing a long-running window.

PySide6 6.12.0 on CPython 3.11 returns ``None`` from every C++ method without a return
value without taking a reference to it (e.g. 1000 calls of ``QRectF.setWidth`` lower
``sys.getrefcount(None)`` by exactly 1000), and ``True``/``False`` lose references in
the same way on some paths (pyqtgraph's paint events). A window repaints thousands of
times a minute, so the count reaches zero within seconds to minutes and the interpreter
aborts with "Fatal Python error: none_dealloc" (or ``bool_dealloc``). CPython 3.12 made
these objects immortal, so the bug is harmless there; PySide6 6.11 is not affected.

:func:`guard_refcounts` checks the binding once (64 calls of a void method) and, only
when it drops references, adds 2**40 references to ``None``, ``True`` and ``False`` —
what CPython 3.12 does for them anyway. Call it once after importing Qt, before a
window runs (``andreev.gui.watch.application`` does).
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["binding_drops_references", "guard_refcounts"]

log = logging.getLogger(__name__)

CUSHION = 1 << 40
"""References added to each singleton when the binding is found dropping them."""

_PROBE_CALLS = 64
_guarded = False


def binding_drops_references() -> bool:
    """True when a void Qt method lowers None's reference count (the 6.12.0 defect)."""
    from pyqtgraph.Qt import QtCore

    rect = QtCore.QRectF(0.0, 0.0, 1.0, 1.0)
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        rect.setWidth(1.0)
    return sys.getrefcount(None) <= before - _PROBE_CALLS // 2


def guard_refcounts() -> bool:
    """Protect None/True/False when the Qt binding drops references to them (CPython
    before 3.12 only); returns whether the guard is on. Safe to call repeatedly."""
    global _guarded
    if _guarded:
        return True
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if not binding_drops_references():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every object in CPython 3.11
        ctypes.c_ssize_t.from_address(id(obj)).value += CUSHION
    _guarded = True
    log.info(
        "the Qt binding drops references to None/True/False (PySide6 6.12.0 on "
        "Python 3.11): they were made immortal to keep the window alive"
    )
    return True
