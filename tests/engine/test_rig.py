"""Rig.from_station: every role filled, checked against its Protocol; drivers of the
previous interface wrapped; anything else refused naming the role and the class."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from andreev.clock import Clock
from andreev.engine.rig import Rig
from andreev.errors import ConfigError, InstrumentError
from andreev.instruments.roles import Bridge, LockIn, STMController
from andreev.instruments.safety import SafetyLimits
from tests.engine.fakes import make_rig


def station_of(**components: object) -> SimpleNamespace:
    return SimpleNamespace(components=components)


def fakes() -> dict[str, object]:
    rig = make_rig()
    return {"lockin": rig.lockin, "bridge": rig.bridge, "stm": rig.stm}


def test_instruments_that_fill_their_roles_are_used_as_they_are() -> None:
    parts = fakes()
    rig = Rig.from_station(station_of(**parts), SafetyLimits(), Clock())
    assert rig.lockin is parts["lockin"] and rig.stm is parts["stm"]
    assert rig.bridge is parts["bridge"]
    assert isinstance(rig.lockin, LockIn) and isinstance(rig.stm, STMController)
    assert isinstance(rig.bridge, Bridge)


def test_an_instrument_in_the_wrong_role_is_refused_by_role_and_class() -> None:
    parts = fakes()
    parts["stm"], parts["lockin"] = parts["lockin"], parts["stm"]
    with pytest.raises(InstrumentError, match=r"'lockin' is a FakeSTM.*LockIn.*lacks"):
        Rig.from_station(station_of(**parts), SafetyLimits(), Clock())


def test_a_missing_role_is_a_config_error() -> None:
    parts = fakes()
    del parts["bridge"]
    with pytest.raises(ConfigError, match="bridge"):
        Rig.from_station(station_of(**parts), SafetyLimits(), Clock())


class OldNanonis:
    """A driver of the previous interface: qcodes-style parameters, bias_spectroscopy
    keyed by Nanonis signal names."""

    def __init__(self) -> None:
        self.values = {"bias": 0.01, "feedback": True, "current": 1e-9}
        self.tips: list[float] = []
        self.tip_x = self.tips.append
        self.tip_y = self.tips.append

    def bias(self, value: float | None = None) -> float | None:
        if value is None:
            return self.values["bias"]
        self.values["bias"] = value
        return None

    def feedback(self, on: bool) -> None:
        self.values["feedback"] = on

    def current(self) -> float:
        return self.values["current"]

    def bias_spectroscopy(self, start, end, points, *, backward, settling, integration, channels):
        data = {"Bias calc (V)": np.linspace(start, end, points)}
        for name in channels:
            stem, unit = name.split(" (")
            data[name] = np.full(points, 1.0)
            data[f"{stem} [bwd] ({unit}"] = np.full(points, 2.0)
        return data

    def approach_setpoint(self, target, steps_per_decade=4, settle=0.5):
        return []

    def safe_state(self, bias, setpoint, *, steps_per_decade=4, settle=0.5):
        pass


def test_a_driver_of_the_previous_interface_is_wrapped_into_its_role() -> None:
    parts = fakes()
    parts["stm"] = old = OldNanonis()
    rig = Rig.from_station(station_of(**parts), SafetyLimits(), Clock())
    assert rig.stm is not old and isinstance(rig.stm, STMController)
    rig.stm.set_bias(0.02)
    assert old.values["bias"] == 0.02 and rig.stm.get_bias() == 0.02
    rig.stm.move_tip(1e-9, 2e-9)
    assert old.tips == [1e-9, 2e-9]
    sweep = rig.stm.controller_sweep(-1e-3, 1e-3, 5, backward=True, settling=0.01)
    assert set(sweep.forward) == set(sweep.backward) == {"current", "x", "y"}
    assert (sweep.forward["x"] == 1.0).all() and (sweep.backward["current"] == 2.0).all()
