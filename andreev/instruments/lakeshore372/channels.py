"""The 372's sensor channels and heater outputs (qcodes' stock ones, subclassed): the
control input ``A`` as a channel and a legal control input, ``RDGST?`` bits, and the
372's own ``HTRSET`` form."""

from __future__ import annotations

from typing import Any, ClassVar

import qcodes.validators as vals
from qcodes.instrument_drivers.Lakeshore.Lakeshore_model_372 import (
    LakeshoreModel372Channel as _StockChannel,
)
from qcodes.instrument_drivers.Lakeshore.Lakeshore_model_372 import (
    LakeshoreModel372Output as _StockOutput,
)
from qcodes.parameters import Group, GroupParameter, Parameter

__all__ = ["LakeshoreModel372Channel", "LakeshoreModel372Output", "parse_input_channel"]


def parse_input_channel(raw: str | int) -> int | str:
    text = str(raw).strip().strip('"')
    if text.upper() == "A":
        return "A"
    return int(float(text))


class LakeshoreModel372Channel(_StockChannel):
    """A sensor channel (1–16 or the control input ``A``) with ``status_bits``."""

    def __init__(self, parent: Any, name: str, channel: str, **kwargs: Any) -> None:
        super().__init__(parent, name, channel, **kwargs)
        self.status_bits: Parameter = self.add_parameter(
            "status_bits",
            get_cmd=f"RDGST? {self._channel}",
            get_parser=int,
            label="Reading status bits",
            docstring="RDGST? as an int: 1 CS OVL, 2 VCM OVL, 4 VMIX OVL, 8 VDIF OVL, "
            "16 R.OVER, 32 R.UNDER, 64 T.OVER, 128 T.UNDER; 0 = valid reading.",
        )
        """RDGST? as an int (0 = valid reading)."""
        # stock qcodes passes Strings(15), i.e. a *minimum* length of 15; the 372 takes
        # names of at most 15 characters
        self.sensor_name.vals = vals.Strings(0, 15)

    @property
    def channel_id(self) -> str:
        """The channel as the instrument names it ("1"…"16" or "A")."""
        return self._channel


class LakeshoreModel372Output(_StockOutput):
    """A heater output; control input may be 1–16 or ``A``; HTRSET in the 372 form.

    ``output_heater_resistance`` (Ω), ``output_max_current`` (0 user, 1 0.45 A,
    2 0.63 A; warm-up heater only, 0 for the others), ``output_max_user_current`` (A)
    and ``output_display`` ("current"/"power") form the group
    ``HTRSET <out>,<resistance>,<max current>,<max user current>,<1|2>``; the stock
    336-only ``output_type`` is removed.
    """

    _input_channel_parameter_kwargs: ClassVar[dict[str, Any]] = {
        "get_parser": parse_input_channel,
        "vals": vals.MultiType(vals.Ints(1, 16), vals.Enum("A")),
    }

    def __init__(self, parent: Any, output_name: str, output_index: int, **kwargs: Any) -> None:
        super().__init__(parent, output_name, output_index, **kwargs)
        # The stock setpoint sleeps 0.5 s wall after each SETP (a read-back may show the
        # old value); we never read it back at once, and waits belong on the world clock.
        self.setpoint.post_delay = 0
        self.setpoint.vals = vals.Numbers(0, 400)
        for stale in (
            "output_type",
            "output_heater_resistance",
            "output_max_current",
            "output_max_user_current",
            "output_display",
        ):
            self.remove_parameter(stale)
        self.output_heater_resistance: GroupParameter = self.add_parameter(
            "output_heater_resistance",
            label="Heater resistance",
            unit="Ohm",
            vals=vals.Numbers(1, 2000),
            set_parser=lambda v: f"{float(v):g}",
            get_parser=float,
            parameter_class=GroupParameter,
        )
        """Heater resistance (Ω; sample heater 1–2000 Ω, warm-up 25 or 50 Ω)."""
        self.output_max_current: GroupParameter = self.add_parameter(
            "output_max_current",
            label="Max current setting",
            vals=vals.Ints(0, 2),
            get_parser=lambda v: int(float(v)),
            parameter_class=GroupParameter,
        )
        """Max current (warm-up heater: 0 user, 1 0.45 A, 2 0.63 A; 0 otherwise)."""
        self.output_max_user_current: GroupParameter = self.add_parameter(
            "output_max_user_current",
            label="Max user current",
            unit="A",
            vals=vals.Numbers(0, 0.63),
            set_parser=lambda v: f"{float(v):g}",
            get_parser=float,
            parameter_class=GroupParameter,
        )
        """Max user current (A; warm-up heater only, 0 otherwise)."""
        self.output_display: GroupParameter = self.add_parameter(
            "output_display",
            label="Heater display",
            val_mapping={"current": 1, "power": 2},
            parameter_class=GroupParameter,
        )
        """Heater output display: current or power."""
        self.heater_group = Group(
            [
                self.output_heater_resistance,
                self.output_max_current,
                self.output_max_user_current,
                self.output_display,
            ],
            set_cmd=f"HTRSET {output_index},{{output_heater_resistance}},"
            f"{{output_max_current}},{{output_max_user_current}},{{output_display}}",
            get_cmd=f"HTRSET? {output_index}",
        )

    def configure_heater(self, resistance: float, display: str = "current") -> None:
        """Write ``HTRSET <out>,<resistance>,0,0,<1|2>`` in one command (Ω)."""
        self.heater_group.set_parameters(
            {
                "output_heater_resistance": resistance,
                "output_max_current": 0,
                "output_max_user_current": 0.0,
                "output_display": display,
            }
        )
