"""Repeated sweeps (the procedures' ``repeats``): stored as directions forward, backward,
forward_2, backward_2, …, counted by the plan and its ETA, averaged by the analysis when
they agree and flagged "hysteresis" when they do not."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest
import yaml

from andreev.analysis import directions, report
from andreev.analysis.results import result_group, summary
from andreev.instruments.station import load_station_config
from andreev.procedures.experiment import experiment_from_text
from andreev.procedures.runner import describe_plan
from tests.analysis.test_sim_runs import LADDER, realistic_world, run_on_sim

REPEATED = {
    "procedure": "SetpointLadder",
    "name": "repeats",
    "parameters": {
        **LADDER["parameters"],
        "ladder_steps": 2,
        "bias_points": 121,
        "repeats": 2,
    },
}


def _experiment(repeats: int):
    data = {**REPEATED, "parameters": {**REPEATED["parameters"], "repeats": repeats}}
    return experiment_from_text(yaml.safe_dump(data), "repeats.yaml")


def test_repeats_are_directions_of_the_plan_and_its_duration():
    one, two = _experiment(1).procedure, _experiment(2).procedure
    assert one.directions() == ("forward", "backward")
    assert two.directions() == ("forward", "backward", "forward_2", "backward_2")
    assert two.shape[2] == 4 and two.points() == 2 * one.points()
    # each repeat regulates and settles the tip again: the ETA counts it twice
    assert two.sweep_duration() == pytest.approx(2 * one.sweep_duration())
    assert two.estimated_duration() > one.estimated_duration()


def test_outliers_among_repeats():
    e = np.full(4, 1.0)
    assert not directions.outliers(np.array([0.0, 0.5, -0.5, 0.2]), e).any()
    assert list(directions.outliers(np.array([0.0, 0.5, -0.5, 9.0]), e)) == [0, 0, 0, 1]
    # two sweeps: their difference against √(σ₁² + σ₂²)
    assert not directions.outliers(np.array([0.0, 4.0]), np.array([1.0, 1.0])).any()
    assert directions.outliers(np.array([0.0, 4.5]), np.array([1.0, 1.0])).all()
    assert not directions.outliers(np.array([0.0, np.nan, 9.0]), np.array([1.0, 1.0, np.nan])).any()


@pytest.fixture(scope="module")
def repeated_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("repeats")
    path = run_on_sim(realistic_world("InO-2", 25), REPEATED, folder)
    plan = describe_plan(_experiment(2), load_station_config(folder / "station.yaml"))
    return path, report.analyze_file(path), plan


def test_repeated_sweeps_end_to_end(repeated_run):
    path, an, plan = repeated_run
    names = ["forward", "backward", "forward_2", "backward_2"]
    assert an.directions == names
    assert "forward + backward + forward_2 + backward_2" in " ".join(plan)
    with h5py.File(path, "r") as f:
        stored_names = [d.decode() for d in f["entry/data/direction"][()]]
    assert stored_names == names
    assert np.all(np.isin(an.status, report.FINISHED)), an.status
    flags = an.text["direction_flag"]
    assert set(flags.ravel()) <= {"agree", "hysteresis"} and np.all(flags != "")
    # the repeats agree on this quiet sim: Δ (tunnelling) and Z averaged over all four
    j_tun = an.tunnelling_setpoints[0]
    assert np.count_nonzero(flags[0, j_tun] == "agree") >= 3
    mean, err = directions.combined(an, "gap")
    assert np.isfinite(mean[0, j_tun]) and err[0, j_tun] < np.nanmin(
        an.values["gap_error"][0, j_tun]
    )
    stored = result_group(an).datasets["direction_flag"][0]
    assert stored.shape == (1, 2, 4) and set(stored.ravel()) == set(flags.ravel())
    assert "setpoint" in summary(an)


def test_a_disagreeing_repeat_is_flagged_and_left_out(repeated_run):
    _, an, _ = repeated_run
    an = dataclasses.replace(an, values={k: v.copy() for k, v in an.values.items()})
    an.text = {k: v.copy() for k, v in an.text.items()}
    j = an.tunnelling_setpoints[0]
    gap, err = an.values["gap"][0, j], an.values["gap_error"][0, j]
    gap[3] = np.nanmean(gap[:3]) + 20 * float(np.nanmax(err))  # backward_2 jumps
    directions.flag_directions(an)
    assert list(an.text["direction_flag"][0, j]) == ["agree"] * 3 + ["hysteresis"]
    mean, _ = directions.combined(an, "gap")
    w = 1 / err[:3] ** 2
    assert mean[0, j] == pytest.approx(float(np.sum(w * gap[:3]) / np.sum(w)))
    assert "hysteresis 1/4" in summary(an)
