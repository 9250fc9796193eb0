"""Fixtures for the driver tests: a simulated fridge on 127.0.0.1 and drivers connected to
it through pyvisa-py (``visalib="@py"``), in accelerated world time."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from andreev.clock import Clock
from andreev.instruments.lakeshore372 import LakeshoreModel372
from andreev.instruments.safety import SafetyLimits
from andreev.instruments.sr830 import SR830
from andreev.sim.fridge import SimFridge
from andreev.sim.world import SimConfig, World

SPEEDUP = 1000.0
CONFIG = Path(__file__).resolve().parents[2] / "config" / "sim.yaml"
_names = itertools.count()


def station_bands() -> list[dict[str, Any]]:
    """The heater bands of config/sim.yaml's bridge."""
    doc = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return doc["instruments"]["bridge"]["init"]["bands"]


def sync(instrument: Any) -> None:
    """Make sure the server has handled every line written so far (one query round trip:
    a connection's commands are handled in order)."""
    instrument.ask("*IDN?")


@pytest.fixture
def fridge() -> Iterator[SimFridge]:
    """A started SimFridge (speedup 1000, seed 1234, free ports)."""
    world = World(SimConfig(seed=1234, speedup=SPEEDUP))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as sim:
        yield sim


@pytest.fixture
def safety() -> SafetyLimits:
    return SafetyLimits()


def _factory(fridge: SimFridge, cls: type, role: str, **defaults: Any) -> Iterator[Any]:
    """Yield a maker of ``cls`` drivers on the fridge's ``role``; close them all after."""
    made: list[Any] = []

    def make(**kwargs: Any) -> Any:
        kwargs = {"clock": Clock(SPEEDUP), "timeout": 2.0, **defaults, **kwargs}
        inst = cls(f"{role}_{next(_names)}", fridge.visa_address(role), visalib="@py", **kwargs)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        inst.close()


@pytest.fixture
def make_lockin(fridge: SimFridge) -> Iterator[Any]:
    """Factory of SR830 drivers on the fridge's lock-in (closed at teardown)."""
    yield from _factory(fridge, SR830, "lockin")


@pytest.fixture
def lockin(make_lockin: Any, safety: SafetyLimits) -> SR830:
    return make_lockin(safety=safety)


@pytest.fixture
def make_bridge(fridge: SimFridge) -> Iterator[Any]:
    """Factory of Lake Shore 372 drivers on the fridge's bridge (closed at teardown)."""
    yield from _factory(fridge, LakeshoreModel372, "bridge", bands=station_bands())


@pytest.fixture
def bridge(make_bridge: Any, safety: SafetyLimits) -> LakeshoreModel372:
    return make_bridge(safety=safety)


# Module-scoped variants for the many read/write round trips (settings only; tests that
# inject faults or need a fresh world use the function-scoped fixtures above).


@pytest.fixture(scope="module")
def shared_fridge() -> Iterator[SimFridge]:
    world = World(SimConfig(seed=4321, speedup=SPEEDUP))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as sim:
        yield sim


@pytest.fixture(scope="module")
def shared_lockin(shared_fridge: SimFridge) -> Iterator[SR830]:
    inst = SR830(
        f"lockin_{next(_names)}",
        shared_fridge.visa_address("lockin"),
        visalib="@py",
        clock=Clock(SPEEDUP),
        timeout=2.0,
        safety=SafetyLimits(),
    )
    yield inst
    inst.close()


@pytest.fixture(scope="module")
def shared_bridge(shared_fridge: SimFridge) -> Iterator[LakeshoreModel372]:
    inst = LakeshoreModel372(
        f"bridge_{next(_names)}",
        shared_fridge.visa_address("bridge"),
        visalib="@py",
        clock=Clock(SPEEDUP),
        timeout=2.0,
        safety=SafetyLimits(),
        bands=station_bands(),
    )
    yield inst
    inst.close()
