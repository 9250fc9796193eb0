"""SR830 output filter: exact n-pole evolution, settling table, status bits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev.sim.lockin import SENSITIVITIES, TIME_CONSTANTS, LockinState, settling_residual

# docs/protocols.md: settling in time constants for 6/12/18/24 dB/oct
TABLE_99 = (4.6, 6.6, 8.4, 10.0)
TABLE_999 = (6.9, 9.2, 11.2, 13.1)


def test_tables():
    assert len(SENSITIVITIES) == 27 and SENSITIVITIES[0] == pytest.approx(2e-9)
    assert SENSITIVITIES[-1] == pytest.approx(1.0) and SENSITIVITIES[17] == pytest.approx(1e-3)
    assert len(TIME_CONSTANTS) == 20 and TIME_CONSTANTS[8] == pytest.approx(0.1)
    assert TIME_CONSTANTS[-1] == pytest.approx(3e4)


@pytest.mark.parametrize("slope", range(4))
def test_step_response_matches_settling_table(slope):
    lk = LockinState(rng=np.random.default_rng(0), tc_index=8, slope_index=slope)
    tau = lk.time_constant
    lk.set_input(0.0, 1.0 + 0j)
    for table, level in ((TABLE_99, 0.99), (TABLE_999, 0.999)):
        x = table[slope]
        lk2 = LockinState(rng=np.random.default_rng(0), tc_index=8, slope_index=slope)
        lk2.set_input(0.0, 1.0 + 0j)
        lk2.advance(x * tau * 0.97)
        assert lk2.output().real < level  # not yet settled 3 % before the table value
        lk2.advance(x * tau * 1.01)
        assert lk2.output().real > level  # settled just after it
    assert lk.settle_time(0.999) == pytest.approx(TABLE_999[slope] * tau, rel=0.01)


@pytest.mark.parametrize("poles", [1, 2, 3, 4])
def test_exact_solution_independent_of_steps(poles):
    lk1 = LockinState(rng=np.random.default_rng(0), tc_index=6, slope_index=poles - 1)
    lk2 = LockinState(rng=np.random.default_rng(0), tc_index=6, slope_index=poles - 1)
    tau = lk1.time_constant
    # piecewise-constant input: two steps
    for lk in (lk1, lk2):
        lk.set_input(0.0, 2.0 - 1j)
    lk1.advance(3 * tau)
    for t in np.linspace(0, 3 * tau, 37)[1:]:
        lk2.advance(float(t))
    assert lk1.output() == pytest.approx(lk2.output(), rel=1e-12, abs=1e-15)
    # against the closed form of the residual
    expected = (2.0 - 1j) * (1 - settling_residual(3.0, poles))
    assert lk1.output() == pytest.approx(expected, rel=1e-12)
    for lk in (lk1, lk2):
        lk.set_input(3 * tau, 0j)
    lk1.advance(5 * tau)
    for t in np.linspace(3 * tau, 5 * tau, 11)[1:]:
        lk2.advance(float(t))
    assert lk1.output() == pytest.approx(lk2.output(), rel=1e-10, abs=1e-15)


def test_noise_scales_with_bandwidth():
    lk = LockinState(rng=np.random.default_rng(1), noise_density=1e-6, tc_index=8)
    xs = np.array([lk.read_xy(1.0 + i, 0j)[0] for i in range(2000)])
    expected = 1e-6 * math.sqrt(1 / 8 / 0.1)
    assert xs.std() == pytest.approx(expected, rel=0.1)


def test_overload_bits_latch_and_clear():
    lk = LockinState(rng=np.random.default_rng(0), sens_index=17, tc_index=4)  # 1 mV, 1 ms
    lk.set_input(0.0, 2e-3 + 0j)
    lk.advance(1.0)
    lk.set_input(1.0, 1e-4 + 0j)  # back within range: the bit stays latched
    lk.advance(2.0)
    status = lk.read_status()
    assert status & 4  # output overload
    assert lk.read_status() == 0  # cleared on read
    lk.force_overload = True
    lk.advance(3.0)
    assert lk.read_status(0) == 1 and lk.read_status(2) == 1
    lk.force_overload = False
    lk.read_status()  # clears what the fault latched while it was on
    assert lk.read_status() == 0
