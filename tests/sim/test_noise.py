"""The realistic station (config/sim-realistic.yaml): every imperfection at its level,
seeded and deterministic; the InO-4 and InO-2 ladders on it."""

from __future__ import annotations

import dataclasses
import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from andreev.physics import G0
from andreev.sim import SimConfig, World
from andreev.sim.lockin import ENBW_FACTORS, TIME_CONSTANTS
from andreev.sim.noise import NoiseModel, NoiseParams

REALISTIC = Path(__file__).resolve().parents[2] / "config" / "sim-realistic.yaml"


def realistic(**changes) -> World:
    config = SimConfig.from_yaml(REALISTIC)
    return World(dataclasses.replace(config, **changes))


def test_the_clean_default_has_no_imperfections():
    assert SimConfig.from_yaml(REALISTIC.with_name("sim.yaml")).noise == NoiseParams()


def test_lockin_output_noise_at_sr830_and_1e9_preamp_levels():
    world = realistic()
    lk = world.lockin
    with world.lock:
        lk.tc_index, lk.slope_index = 5, 1  # 3 ms, 12 dB/oct
        world.advance()
        xs = np.array([lk.read_xy(world.time)[0] for _ in range(4000)])
    density = math.hypot(6e-9, 5e-15 * 1e9)  # V/√Hz: input noise and preamp current noise
    expected = density * math.sqrt(ENBW_FACTORS[1] / TIME_CONSTANTS[5])
    assert np.std(xs) == pytest.approx(expected, rel=0.1)
    # ~1-2 % of the signal for a tunnelling spectrum at 1 nA / 10 mV with 10 µV modulation
    signal = 1e-9 / 10e-3 * 10e-6 * 1e9
    assert 0.005 < expected / signal < 0.05


def test_preamp_noise_rises_at_lower_gain():
    model = NoiseModel(NoiseParams(preamp_current=5e-15, lockin_input=6e-9), 1)
    per_amp = [model.input_density(g) / g for g in (1e7, 1e8, 1e9)]
    assert per_amp[0] == pytest.approx(10 * per_amp[2], rel=1e-6)
    assert per_amp[0] > per_amp[1] > per_amp[2]


def test_phase_offset_gives_y_until_phased():
    world = realistic()
    with world.lock:
        world.advance()
        u = world.lockin_input()
        assert math.degrees(-math.atan2(u.imag, u.real)) == pytest.approx(4.0, abs=1e-6)
        world.lockin.phase = -4.0  # phased
        assert abs(world.lockin_input().imag) < 1e-9 * abs(world.lockin_input())


def test_mains_pickup_beats_through_the_filter():
    model = NoiseModel(NoiseParams(mains_amplitude=2e-6), 3)
    near = [abs(model.mains(t, 150.2, 0.1, 2)) for t in np.linspace(0, 10, 200)]
    # 3rd harmonic (2 µV / 3) beating at 0.2 Hz through two 0.1 s poles: ~0.6 µV
    assert max(near) == pytest.approx(2e-6 / 3 / (1 + (2 * math.pi * 0.2 * 0.1) ** 2), rel=0.2)
    far = [abs(model.mains(t, 1033.0, 0.3, 2)) for t in np.linspace(0, 10, 50)]
    assert max(far) < 1e-9  # far from every harmonic, a long time constant: gone


def test_tip_height_drift_and_telegraph_jumps_move_g_normal():
    world = realistic()
    j = world.junction
    times = np.arange(0.0, 36000.0, 1.0)
    dz = world.noise.z_offset_array(times, j.kappa)
    ln_g = -2 * j.kappa * dz
    drift = world.noise.z.array(times)
    assert np.std(drift) == pytest.approx(3e-13, rel=0.5)  # the documented rms
    assert 0.003 < np.std(2 * j.kappa * drift) < 0.015  # ~0.7 % of G_N
    states = world.noise.telegraph.array(times)
    switches = int(np.count_nonzero(np.diff(states)))
    assert 0.5 * 1.7e-3 * 36000 < switches < 2 * 1.7e-3 * 36000
    assert 0.2 < states.mean() < 0.8
    jump = np.mean(ln_g[states == 1]) - np.mean(ln_g[states == 0])
    assert jump == pytest.approx(math.log(1.03), abs=0.01)


def test_bridge_reading_noise_and_drift():
    world = realistic()
    thermal = world.thermal
    with world.lock:
        world.advance()
        t = thermal.sample_temperature()
        readings = np.array([thermal.reading("A") for _ in range(3000)])
    assert np.std(readings) / t == pytest.approx(math.hypot(1e-3, 1e-4), rel=0.3)
    factors = np.array([world.noise.temperature_factor(s) for s in np.arange(0, 72000, 60.0)])
    assert 0.7e-3 < np.std(factors) < 4e-3  # 0.2 % rms, periods of hours


def test_same_seed_same_noise():
    a, b = realistic(), realistic()
    times = np.linspace(0, 5000, 300)
    np.testing.assert_array_equal(
        a.noise.z_offset_array(times, 1e10), b.noise.z_offset_array(times, 1e10)
    )
    assert a.noise.mains(12.3, 150.0, 0.1, 2) == b.noise.mains(12.3, 150.0, 0.1, 2)
    c = realistic(seed=99)
    assert not np.array_equal(
        a.noise.z_offset_array(times, 1e10), c.noise.z_offset_array(times, 1e10)
    )


# ---- ladders on the realistic station ----------------------------------------------
def ladder(world: World, g_normals: list[float], bias: np.ndarray) -> list[np.ndarray]:
    """Normalised dI/dV per G_N of a held sweep at each rung (controller demodulator
    noise included), tip held at the height of G_N, 10 µV rms modulation, 50 mK."""
    j, lk = world.junction, world.lockin
    out = []
    with world.lock:
        world.advance()
        lk.amplitude = 0.01  # 10 µV rms at the junction
        j.set_feedback(False)
        for g in g_normals:
            world.advance()
            j.setpoint = g * 10e-3  # a new setpoint: a new contact
            j.set_z(j.z_for_conductance(g))
            times = np.linspace(world.time, world.clock.now(), bias.size)
            sweep = world.held_sweep(bias, times, bandwidth=1 / (2 * 5e-3))
            x = sweep["conductance"] * world.v_mod_rms() + sweep["noise_x"]
            out.append(x / world.v_mod_rms() / g)
    return out


def smooth(g: np.ndarray, n: int = 7) -> np.ndarray:
    return np.convolve(g, np.ones(n) / n, mode="same")


def test_ino4_ladder_fills_monotonously_without_in_gap_peaks():
    world = realistic(sample="InO-4", film=None, seed=21)
    world.thermal.params.initial_temperature = None
    gap = world.gap_at(0.0, 0.0)
    bias = np.linspace(-1.6 * gap, 1.6 * gap, 321)
    rungs = [0.01 * G0, 0.3 * G0, 1 * G0, 3 * G0, 6 * G0, 9 * G0]
    spectra = ladder(world, rungs, bias)
    inside = np.abs(bias) < 0.3 * gap
    filling = [float(np.mean(g[inside])) for g in spectra]
    assert all(b > a for a, b in itertools.pairwise(filling)), filling
    assert filling[0] < 0.05 and filling[-1] > 0.5
    half = bias.size // 2
    for g in spectra:  # no peak inside the gap: rising from zero bias to the gap edge
        s = smooth(g)
        core = (np.abs(bias) < 0.8 * gap) & (np.abs(bias) > 0.05 * gap)
        right = s[half:][core[half:]]
        assert np.all(np.diff(right) > -0.03), "an in-gap peak"


def test_ino2_ladder_shows_in_gap_peaks_growing_with_g_normal():
    world = realistic(sample="InO-2", film=None, seed=21)
    gap_c = world.film.gap_c0
    bias = np.linspace(-0.5e-3, 0.5e-3, 401)
    rungs = [0.001 * G0, 0.05 * G0, 0.3 * G0]
    spectra = [(g + g[::-1]) / 2 for g in ladder(world, rungs, bias)]  # ± averaged
    near_peak = (np.abs(bias) > 0.6 * gap_c) & (np.abs(bias) < 1.1 * gap_c)
    centre = np.abs(bias) < 0.2 * gap_c
    heights = [float(np.max(smooth(g)[near_peak]) - np.mean(g[centre])) for g in spectra]
    assert heights[0] < 0.1  # tunnelling: no in-gap peak (what is left is noise)
    assert all(b > a for a, b in itertools.pairwise(heights)), heights
    assert heights[-1] > 0.15
