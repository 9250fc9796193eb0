"""Lake Shore 372 AC resistance bridge / temperature controller.

Modules: :mod:`.bands` (heater bands and the setpoint checks, pure), :mod:`.settling`
(the stability criterion and the trace of a wait, pure), :mod:`.channels` (sensor
channels and heater outputs) and :mod:`.driver` (:class:`LakeshoreModel372`, the qcodes
instrument filling the bridge role). The station file's
``type: andreev.instruments.lakeshore372.LakeshoreModel372`` imports from here.
"""

from __future__ import annotations

from andreev.instruments.lakeshore372.bands import (
    HeaterBand,
    band_for,
    check_temperature_setpoint,
    setpoint_problem,
    validate_bands,
)
from andreev.instruments.lakeshore372.channels import (
    LakeshoreModel372Channel,
    LakeshoreModel372Output,
)
from andreev.instruments.lakeshore372.driver import N_ZONES, SAMPLE_HEATER, LakeshoreModel372
from andreev.instruments.lakeshore372.settling import SettlingTrace, default_tolerance

__all__ = [
    "N_ZONES",
    "SAMPLE_HEATER",
    "HeaterBand",
    "LakeshoreModel372",
    "LakeshoreModel372Channel",
    "LakeshoreModel372Output",
    "SettlingTrace",
    "band_for",
    "check_temperature_setpoint",
    "default_tolerance",
    "setpoint_problem",
    "validate_bands",
]
