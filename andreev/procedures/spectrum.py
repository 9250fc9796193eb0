"""One dI/dV(V) spectrum at a setpoint.

What one sweep is (point by point, or by the controller) is in
:mod:`andreev.procedures.sweeps`; the engine runs it.
"""

from __future__ import annotations

from andreev.procedures.base import SweepProcedure


class BiasSpectrum(SweepProcedure):
    """One dI/dV(V) spectrum at the setpoint (``setpoint_bias``, ``setpoint_current``)."""

    # the grid of one spectrum is the base class's default: one outer step, one setpoint
