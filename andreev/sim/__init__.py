"""The simulated fridge: a World (clock, sample, junction, thermal model, lock-in) served
as an SR830, a Lake Shore 372 and a Nanonis STM controller on 127.0.0.1."""

from andreev.sim.fridge import SimFridge
from andreev.sim.world import SimConfig, World

__all__ = ["SimConfig", "SimFridge", "World"]
