"""The setpoint ladder: a spectrum at each of a few log-spaced setpoint currents.

From tunnelling (1 nA) to contact (1 µA) the tip moves only ~3 Å; the driver's
``approach_setpoint`` walks there in small log steps with the feedback on, switching
the current preamplifier's gain before it clips.
"""

from __future__ import annotations

import numpy as np
from pymeasure.experiment import FloatParameter, IntegerParameter

from andreev.procedures.spectrum import BiasSpectrum


class SetpointLadder(BiasSpectrum):
    """Spectra at ``ladder_steps`` setpoint currents from ``ladder_start`` to ``ladder_stop``
    (A, log-spaced), at one setpoint bias."""

    ladder_start = FloatParameter(
        "Ladder first setpoint", units="A", minimum=1e-12, maximum=1e-4, default=1.0e-9
    )
    ladder_stop = FloatParameter(
        "Ladder last setpoint", units="A", minimum=1e-12, maximum=1e-4, default=1.0e-6
    )
    ladder_steps = IntegerParameter("Ladder steps", minimum=1, maximum=200, default=7)

    def setpoints(self) -> np.ndarray:
        """Log-spaced setpoint currents (A) from ladder_start to ladder_stop."""
        return np.geomspace(
            float(self.ladder_start), float(self.ladder_stop), int(self.ladder_steps)
        )

    def _setpoint_keys(self) -> list[tuple[str, float]]:
        return [
            ("ladder_start", float(self.ladder_start)),
            ("ladder_stop", float(self.ladder_stop)),
        ]
