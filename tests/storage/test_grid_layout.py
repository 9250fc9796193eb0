"""The grid layout of a run file (andreev.storage.grid): serpentine order, the frame's
rotation, 5-D chunked and compressed datasets, visit k → (row, column) on write and on
resume, the drift group; and the size of a 128 × 128 × 1000 map projected from the
compressed size of a real (simulated) grid run."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.storage import MapGrid, RunWriter, load, load_drift, load_grid
from andreev.storage.grid import serpentine

BIAS = np.linspace(-1e-3, 1e-3, 11)


def test_serpentine_rows_alternate() -> None:
    np.testing.assert_array_equal(
        serpentine(3, 3),
        [[0, 0], [0, 1], [0, 2], [1, 2], [1, 1], [1, 0], [2, 0], [2, 1], [2, 2]],
    )
    assert serpentine(1, 1).tolist() == [[0, 0]]


def test_frame_rotation_is_clockwise_about_the_centre() -> None:
    grid = MapGrid.frame((1e-6, 2e-6), (40e-9, 20e-9), (3, 2), angle=90.0)
    px, py = grid.absolute()
    assert px.shape == (2, 3)
    # frame (u, v) = (+20 nm, −10 nm), the last column of row 0: turned 90° clockwise
    assert (px[0, 2], py[0, 2]) == pytest.approx((1e-6 - 10e-9, 2e-6 - 20e-9), abs=1e-15)
    assert grid.reference == (1e-6, 2e-6)
    single = MapGrid.frame((5e-9, 0.0), (10e-9, 10e-9), (1, 1))
    assert single.visit_positions().tolist() == [[5e-9, 0.0]]
    assert MapGrid.frame((0, 0), (1e-9, 1e-9), (3, 3), drift_every=4).n_drift == 3


def _grid_file(path: Path, grid: MapGrid, directions=("forward", "backward")) -> RunWriter:
    return RunWriter.create(
        path,
        outer_name="position",
        outer_values=np.arange(grid.n_visits),
        outer_unit="",
        setpoints=[1e-9, 1e-6],
        bias=BIAS,
        directions=directions,
        setpoint_bias=10e-3,
        v_mod_rms=1e-5,
        config_yaml="grid: true\n",
        snapshot={},
        grid=grid,
    )


def _sweep(value: float) -> dict[str, object]:
    arr = np.full(BIAS.size, value)
    return {
        "didv": arr,
        "x": arr,
        "y": arr,
        "current": arr,
        "temperature": 0.05,
        "z": 1e-10,
        "timestamp": 1.7e9 + value,
        "g_normal": 1e-7,
    }


def test_layout_writes_by_visit_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "grid.h5"
    grid = MapGrid.frame((0.0, 0.0), (30e-9, 20e-9), (3, 2), drift_every=4)
    with _grid_file(path, grid) as w:
        assert w.shape == (6, 2, 2, 11) and w.outer_dim == "position"
        for k in range(4):  # visits 0-3: row 0 left to right, then row 1 from the right
            w.write_sweep(k, 0, 0, **_sweep(float(k)))
        with pytest.raises(ValueError, match="grid run"):
            w.write_settling_trace(0, [0.0], [0.05], [0.0])
    with h5py.File(path, "r") as f:
        ds = f["entry/data/dIdV"]
        assert ds.shape == (2, 3, 2, 2, 11) and ds.dtype == np.float32
        assert ds.chunks == (1, 1, 1, 1, 11) and ds.compression == "gzip" and ds.shuffle
        assert f["entry/data/timestamp"].dtype == np.float64
        assert [a for a in f["entry/data"].attrs["axes"]][:2] == ["grid_y", "grid_x"]
    five = load(path)
    for k, (iy, ix) in enumerate([(0, 0), (0, 1), (0, 2), (1, 2)]):
        assert five["dIdV"].values[iy, ix, 0, 0, 0] == k
        assert five["status"].values[iy, ix, 0, 0] == "done"
        assert five["visit"].values[iy, ix] == k
    w = RunWriter.open(path)  # resume: the engine sees the status in visit order
    try:
        assert w.first_unfinished() == (0, 0, 1)
        assert (w.sweep_status()[:4, 0, 0] == "done").all()
        assert (w.sweep_status()[4:, 0, 0] == "pending").all()
        assert w.outer_values.tolist() == list(range(6))
    finally:
        w.close("incomplete")
    stored = load_grid(path)
    assert stored is not None
    np.testing.assert_array_equal(stored.order, grid.order)
    np.testing.assert_allclose(stored.absolute(), grid.absolute())


def test_drift_group(tmp_path: Path) -> None:
    path = tmp_path / "grid.h5"
    grid = MapGrid.frame((0.0, 0.0), (30e-9, 20e-9), (3, 2), drift_every=4)
    with _grid_file(path, grid, directions=("forward",)) as w:
        sweeps = {n: np.ones((1, BIAS.size)) for n in ("dIdV", "x", "y", "current")}
        scalars = {"time": 1.7e9, "reference_current": 1e-9, "reference_z": 2e-10}
        with pytest.raises(ValueError, match="drift check needs"):
            w.write_drift(1, sweeps=sweeps, scalars=scalars)
        w.write_drift(1, sweeps=sweeps, scalars={**scalars, "temperature": 0.05})
        with pytest.raises(IndexError):
            w.write_drift(2, sweeps=sweeps, scalars={**scalars, "temperature": 0.05})
    drift = load_drift(path)
    assert drift is not None and drift.sizes == {"check": 2, "direction": 1, "bias": 11}
    assert np.isnan(drift["time"].values[0]) and drift["time"].values[1] == 1.7e9
    assert drift["visit"].values.tolist() == [0, 4]
    no_drift = tmp_path / "plain.h5"
    _grid_file(no_drift, MapGrid.frame((0.0, 0.0), (1e-9, 1e-9), (2, 2))).close()
    assert load_drift(no_drift).sizes["check"] == 0


def test_a_128_by_128_by_1000_map_is_a_few_hundred_mb(grid_run) -> None:
    """Bytes per stored value of the four signals of a real (simulated) grid run, after
    shuffle + gzip of float32, projected to 128 × 128 points × 1000 bias × 4 signals
    (one setpoint, one direction); chunk indexes, per-sweep datasets and this small
    file's fixed part all counted per sweep (an upper bound; benchmarks/grid_size.py
    measures 1000-point spectra with the fixed part apart)."""
    with h5py.File(grid_run.path, "r") as f:
        data = f["entry/data"]
        signal_bytes = sum(data[n].id.get_storage_size() for n in ("dIdV", "x", "y", "current"))
        values = 4 * data["dIdV"].size
        sweeps = int(np.prod(data["status"].shape))
    other = grid_run.path.stat().st_size - signal_bytes
    per_value = signal_bytes / values
    projected = 128 * 128 * (1000 * 4 * per_value + other / sweeps)
    print(
        f"\ngrid run: {per_value:.2f} B per signal value (float32: 4, float64: 8), "
        f"{other / sweeps:.0f} B per sweep besides; 128 × 128 × 1000 map ≈ "
        f"{projected / 1e6:.0f} MB (float64 uncompressed: {128 * 128 * 4000 * 8 / 1e6:.0f} MB)"
    )
    assert per_value <= 4.0  # never more than float32 raw
    assert projected < 400e6
    assert math.isfinite(projected)
