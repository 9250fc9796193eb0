"""The analysis on runs taken on the realistic simulated fridge (config/sim-realistic.yaml).

Small runs — a setpoint ladder at base temperature on InO-2 (preformed pairs) and InO-4
(the BCS reference film), several seeds — taken in-process through the run path
(``run_experiment`` against a ``SimFridge`` over loopback TCP), then ``analyze_file``. The
simulator's hidden truth (the contact's Z_A/Γ_A, Δ at the tip position, the G_N of each
sweep) is read from the World only to check the analysis, never given to it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from andreev import physics
from andreev.analysis import report
from andreev.procedures.runner import run_experiment
from andreev.sim import SimConfig, SimFridge, World

ROOT = Path(__file__).resolve().parents[2]
REALISTIC = ROOT / "config" / "sim-realistic.yaml"
SETPOINTS = {"ladder_start": 1.0e-9, "ladder_stop": 1.0e-6, "ladder_steps": 3}
LADDER = {
    "procedure": "SetpointLadder",
    "name": "ladder",
    "parameters": {
        **SETPOINTS,
        "tunnelling_current": 1.0e-9,
        "setpoint_bias": 2.0e-3,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 241,
        "backward": True,
        "sweep_mode": "point",
        "modulation_rms": 10.0e-6,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
        "approach_steps_per_decade": 4,
        "approach_settle": 0.5,
    },
}
CASES = [("InO-2", 21), ("InO-2", 22), ("InO-4", 23), ("InO-4", 24)]


def _station(fridge: SimFridge, folder: Path) -> Path:
    return fridge.write_station(REALISTIC, folder / "station.yaml")


class _Truth:
    """The simulator's hidden G_N: every dI/dV the World computes is recorded with the
    junction's G_N at that moment (tip-height drift included); the sweeps are the runs of
    monotonic bias inside the sweep range (forward rising, backward falling), in order."""

    def __init__(self, world: World, v_max: float) -> None:
        self.world, self.v_max = world, v_max
        self.records: list[tuple[float, float]] = []
        original = world.conductance

        def recorded() -> float:
            value = original()
            j = world.junction
            if abs(j.bias) <= self.v_max * 1.001:
                self.records.append((float(j.bias), float(j.g_normal())))
            return value

        world.conductance = recorded  # type: ignore[method-assign]

    def sweeps(self, points: int) -> list[float]:
        """Mean G_N (S) of each recorded sweep (a run of ≥ ``points`` distinct biases
        moving one way), in order."""
        out: list[float] = []
        seg: list[tuple[float, float]] = []
        direction = 0.0
        for v, g in self.records:
            if seg and v != seg[-1][0]:
                step = np.sign(v - seg[-1][0])
                if direction and step != direction:
                    if len({b for b, _ in seg}) >= points:
                        out.append(float(np.mean([gg for _, gg in seg])))
                    seg, direction = [seg[-1]], 0.0
                direction = step
            seg.append((v, g))
        if len({b for b, _ in seg}) >= points:
            out.append(float(np.mean([gg for _, gg in seg])))
        return out


def realistic_world(sample: str, seed: int) -> World:
    """The realistic preset's World for ``sample`` and ``seed`` (speedup 1000)."""
    config = SimConfig.from_yaml(REALISTIC)
    config = dataclasses.replace(config, sample=sample, film=None, seed=seed, speedup=1000.0)
    return World(config)


def run_on_sim(world: World, experiment: dict, folder: Path) -> Path:
    """Run ``experiment`` (the YAML's mapping) on ``world`` over loopback TCP; the run
    file's path (the station file is ``folder/station.yaml``)."""
    path = folder / f"{experiment['name']}.yaml"
    path.write_text(yaml.safe_dump(experiment))
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        result = run_experiment(path, _station(fridge, folder), out_dir=folder)
    assert result.exit_status == "completed", result.exit_status
    return Path(result.path)


def _take(sample: str, seed: int, folder: Path) -> tuple[report.RunAnalysis, _Truth, World]:
    world = realistic_world(sample, seed)
    truth = _Truth(world, 1.5e-3)
    return report.analyze_file(run_on_sim(world, LADDER, folder)), truth, world


@pytest.fixture(scope="module", params=CASES, ids=[f"{s}-seed{n}" for s, n in CASES])
def sim_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    sample, seed = request.param
    an, truth, world = _take(sample, seed, tmp_path_factory.mktemp(f"{sample}-{seed}"))
    return sample, an, truth, world


def test_measured_g_normal_within_2_percent(sim_run):
    _, an, truth, _ = sim_run
    measured = an.values["g_normal_measured"][0].ravel()  # (setpoint, direction) in run order
    true_gn = truth.sweeps(LADDER["parameters"]["bias_points"] - 2)
    assert len(true_gn) == measured.size, len(true_gn)
    np.testing.assert_allclose(measured, true_gn, rtol=0.02)
    assert np.all(np.isfinite(an.values["g_normal_nominal"][0]))


def test_gap_within_2_percent(sim_run):
    _, an, _, world = sim_run
    j = world.junction
    gap = world.gap_at(j.x, j.y)
    found = an.values["gap"][0, an.tunnelling_setpoints, :]
    np.testing.assert_allclose(found[np.isfinite(found)], gap, rtol=0.02)


def test_model_choice_and_collective_gap(sim_run):
    sample, an, _, world = sim_run
    j = an.top_setpoint()
    assert j is not None
    film = world.film_at(world.junction.x, world.junction.y, an.setpoints[j])
    models = set(an.text["model"][0, j])
    if sample == "InO-4":
        assert models == {"btk"}  # no collective gap on the reference film
        assert np.all(np.isnan(an.values["gap_c"]))
        for jj in an.contact_setpoints():
            g_n = float(np.mean(an.values["g_normal_measured"][0, jj]))
            tau = min(g_n / (film.n_channels * physics.G0), 1.0)
            z = math.sqrt(1.0 / tau - 1.0)
            if z < 5:  # Z is measurable (not tunnelling-like)
                # per setpoint, as reported: the directions averaged (a single direction
                # carries the junction's drift and telegraph noise of the realistic sim)
                barrier = float(np.nanmean(an.values["btk_barrier"][0, jj]))
                np.testing.assert_allclose(barrier, z, rtol=0.05)
    else:
        assert models == {"film"}
        truth_gc = film.gap_c(float(np.mean(an.temperature[0, j])))
        gc, err = an.values["gap_c"][0, j], an.values["gap_c_error"][0, j]
        assert np.all(np.abs(gc - truth_gc) < 10e-6), (gc, truth_gc)
        assert np.all(np.abs(gc - truth_gc) < 3 * err), (gc, err, truth_gc)


_GOOD_CHI2: dict[str, list[float]] = {}


def test_chi2_of_good_fits_is_recorded(sim_run):
    """χ²_red of the chosen, good fits of each run (the median over all runs is checked
    below: one run's dozen fits scatter too much with a 1/f drift to judge alone)."""
    sample, an, _, _ = sim_run
    chi = []
    for name, model in (
        ("dynes_chi2_red", "dynes"),
        ("btk_chi2_red", "btk"),
        ("film_chi2_red", "film"),
    ):
        chosen = (an.text["model"] == model) & (an.text["fit_flag"] == "ok")
        chi.extend(an.values[name][chosen].tolist())
    assert chi
    _GOOD_CHI2[f"{sample}-{an.path.name}"] = chi


#: band of the median χ²_red over the module's ~22 good fits. The sim's 1/f drift is a
#: correlated error that the per-point σ (white ⊕ the run's pooled drift × G) only
#: approximates, so one fit's χ²_red scatters 0.2–2.8 and the median of a set scatters
#: too: over 22 sets of these four runs (21 measured idle or beside two CPU hogs, same
#: and other seeds, and one CI run's 0.69), medians 0.66–1.44, the sd of their log 0.18.
#: The band is 3.7 of those sd below 1 and 3.8 above. A per-point σ off by a factor 1.75
#: (χ² × or ÷ 3.1) would have failed every one of those sets; by 1.4 (× or ÷ 2), half.
MEDIAN_CHI2_BAND = (0.5, 2.0)


def test_median_chi2_of_good_fits_near_one():
    if len(_GOOD_CHI2) < len(CASES):
        pytest.skip("needs every sim run of this module (run the whole file)")
    chi = [c for values in _GOOD_CHI2.values() for c in values]
    low, high = MEDIAN_CHI2_BAND
    assert low <= float(np.median(chi)) <= high, _GOOD_CHI2


# ---------------------------------------------------------------- a short temperature series
SERIES = {
    "procedure": "TemperatureSeries",
    "name": "tseries",
    "parameters": {
        **{k: v for k, v in LADDER["parameters"].items() if k != "backward"},
        # 50 mK and 0.3 K for Δc; the warm steps carry Tc (0.7 K would add little)
        "temperatures": [0.05, 0.3, 1.0, 1.1, 1.2],
        "stable_hold": 30.0,
        "ladder_steps": 2,
        "bias_points": 161,
        "backward": True,
    },
}


@pytest.fixture(scope="module")
def sim_series(tmp_path_factory: pytest.TempPathFactory):
    world = realistic_world("InO-2", 31)
    path = run_on_sim(world, SERIES, tmp_path_factory.mktemp("series"))
    return report.analyze_file(path), world


#: the interval (K) below which the 0.1 K criterion is asked of a run (see the test)
TC_INTERVAL_FOR_0_1_K = 0.05


def test_tc_within_0_1_k_and_3_sigma(sim_series):
    """Tc within 3σ of the truth, σ the side of the profile-likelihood interval towards
    it; within 0.1 K when the run determines Tc to ≤ 0.05 K (it does on a quiet machine:
    ±0.03–0.04 K). The sim's data depend on wall timing: on a loaded machine the sweeps
    stretch in world time, the 1/f drift and telegraph noise grow, and so does the
    interval — the analysis then says ±0.1 K, and only the 3σ check is meaningful. The
    truth is the film's Tc on the thermometer's scale (its readings carry a slow
    calibration drift, the recorded temperatures with them)."""
    an, world = sim_series
    film = world.film_at(world.junction.x, world.junction.y, an.setpoints[-1])
    truth = film.tc * world.thermal.reading_factor
    closing = an.closing["film"]
    assert closing.success, closing.message
    side = closing.tc_error_low if closing.tc > truth else closing.tc_error_high
    assert abs(closing.tc - truth) < 3 * side, closing
    assert max(closing.tc_error_low, closing.tc_error_high) < 0.3, closing
    if side <= TC_INTERVAL_FOR_0_1_K:
        assert abs(closing.tc - truth) < 0.1, closing
    assert closing.gap_c0 == pytest.approx(film.gap_c0, abs=10e-6)


def test_collective_gap_at_50_mk_and_0_3_k(sim_series):
    an, world = sim_series
    j = an.top_setpoint()
    assert j is not None
    film = world.film_at(world.junction.x, world.junction.y, an.setpoints[j])
    for i, t_nominal in enumerate(SERIES["parameters"]["temperatures"][:2]):
        t = an.temperature[i, j]
        truth = np.array([film.gap_c(float(tt)) for tt in t])
        gc, err = an.values["gap_c"][i, j], an.values["gap_c_error"][i, j]
        assert np.all(np.abs(gc - truth) < 10e-6), (t_nominal, gc, truth)
        assert np.all(np.abs(gc - truth) < 3 * err), (t_nominal, gc, err, truth)


def test_series_holds_the_contact_weight_from_its_coldest_sweep(sim_series):
    """The warm sweeps of the top setpoint hold the Andreev weight, Z_A and Γ_A of the
    50 mK fit of the same direction (stored with error 0, the message says so and that
    the held values' joint error is in Δc); the held weight is the contact's within 3σ."""
    an, world = sim_series
    j = an.top_setpoint()
    assert j is not None
    film = world.film_at(world.junction.x, world.junction.y, an.setpoints[j])
    for k in range(an.shape[2]):
        w0 = an.values["film_andreev_weight"][0, j, k]
        e0 = an.values["film_andreev_weight_error"][0, j, k]
        g_n = an.values["g_normal_measured"][0, j, k]
        truth = film.andreev_amplitude * film.andreev_weight(g_n)
        assert 0 < e0 < math.inf and abs(w0 - truth) < 3 * e0, (w0, e0, truth)
        for i in range(1, an.shape[0]):
            message = an.text["film_message"][i, j, k]
            assert an.values["film_andreev_weight"][i, j, k] == w0
            assert an.values["film_andreev_weight_error"][i, j, k] == 0.0
            # its 50 mK sweep, named by the recorded (measured) temperature: 0.05 ± 1 %
            source = re.search(r"weight, Z_A, Γ_A held at the ([0-9.e-]+) K fit", message)
            assert source is not None and abs(float(source[1]) - 0.05) < 5e-4, message
            assert "errors include the held weight, Z_A" in message, message
