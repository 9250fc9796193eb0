"""Analysis results under /entry/analysis: round trip, and a second write replaces the first."""

from __future__ import annotations

import numpy as np


def test_analysis_results_round_trip_and_replace(tmp_path):
    from andreev.storage import ResultGroup, RunWriter, read_analysis, write_analysis

    path = tmp_path / "run.h5"
    RunWriter.create(
        path,
        outer_name="step",
        outer_values=[0.0],
        outer_unit="",
        setpoints=[1e-9],
        bias=[-1e-3, 0.0, 1e-3],
        setpoint_bias=2e-3,
        v_mod_rms=1e-5,
        config_yaml="procedure: BiasSpectrum\n",
        snapshot={},
    ).close()
    assert read_analysis(path) is None
    results = ResultGroup(
        attrs={"dims": ["step", "setpoint", "direction"]},
        datasets={
            "gap": (np.array([[[5e-4]]]), "eV", "single-particle gap"),
            "model": (np.array([[["dynes"]]]), "", "model chosen"),
        },
        groups={"closing": ResultGroup(attrs={"success": False})},
    )
    write_analysis(path, results)
    write_analysis(path, results)  # replaces, never appends
    back = read_analysis(path)
    assert back is not None
    values, units, long_name = back.datasets["gap"]
    assert units == "eV" and long_name == "single-particle gap"
    np.testing.assert_allclose(values, 5e-4)
    assert back.datasets["model"][0][0, 0, 0] == "dynes"
    assert not back.groups["closing"].attrs["success"]
    assert back.attrs["program"] == "andreev analyze"
