"""Rig.from_station: every role filled, checked against its Protocol; drivers of the
previous interface wrapped; anything else refused naming the role and the class."""

from __future__ import annotations

from types import SimpleNamespace

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
