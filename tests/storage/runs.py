"""Shared helpers of the storage tests: a small run with index-coded sweeps.

Also imported by the killed-writer subprocess of ``test_recovery.py`` (as ``runs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from andreev.storage import RunWriter

TEMPS = [0.05, 0.5, 1.5]
SETPOINTS = [1e-9, 1e-7]
BIAS = np.linspace(-2e-3, 2e-3, 7)
DIRS = ("forward", "backward")
SNAPSHOT = {"station": {"instruments": {"lockin": {"amplitude": np.float64(0.1)}}}}
CONFIG = "experiment:\n  kind: temperature_series\n  temperatures: [0.05, 0.5, 1.5]\n"


def make_run(path: Path, **overrides) -> RunWriter:
    kwargs = dict(
        outer_name="temperature",
        outer_values=TEMPS,
        outer_unit="K",
        setpoints=SETPOINTS,
        bias=BIAS,
        directions=DIRS,
        setpoint_bias=10e-3,
        v_mod_rms=20e-6,
        config_yaml=CONFIG,
        snapshot=SNAPSHOT,
        extra_attrs={"sample": "InO-7", "seed": 1234},
    )
    kwargs.update(overrides)
    return RunWriter.create(path, **kwargs)


def sweep(i: int, j: int, k: int, n: int = BIAS.size) -> dict:
    """Distinct, index-coded values for sweep (i, j, k)."""
    base = 100 * i + 10 * j + k + 1
    return dict(
        didv=base * 1e-6 + np.arange(n) * 1e-9,
        x=base * 1e-3 + np.arange(n) * 1e-6,
        y=-base * 1e-3 + np.arange(n) * 1e-6,
        current=base * 1e-12 * np.arange(n),
        temperature=TEMPS[i] + 0.001 * (j + k),
        z=base * 1e-10,
        timestamp=1.7e9 + base,
        g_normal=base * 1e-7,
    )


def check_sweep(ds, i: int, j: int, k: int) -> None:
    expected = sweep(i, j, k)
    sel = dict(temperature_nominal=i, setpoint=j, direction=k)
    for name, var in (("didv", "dIdV"), ("x", "x"), ("y", "y"), ("current", "current")):
        np.testing.assert_array_equal(ds[var].isel(sel).values, expected[name])
    for name in ("temperature", "z", "timestamp", "g_normal"):
        assert float(ds[name].isel(sel)) == expected[name]
