"""RunWriter: every dataset round-trips with its units, NeXus layout, name clashes, settling
traces, statuses, invalid writes, and an fsync per commit."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import andreev
from andreev.storage import STATUS_NAMES, RunLockedError, RunWriter, load, load_settling
from tests.storage.runs import (
    BIAS,
    CONFIG,
    DIRS,
    SETPOINTS,
    TEMPS,
    check_sweep,
    make_run,
    sweep,
)


def test_round_trip_every_dataset_with_units(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_run(path) as w:
        assert w.shape == (3, 2, 2, 7)
        assert w.outer_dim == "temperature_nominal"  # clashes with measured temperature
        for i in range(3):
            for j in range(2):
                for k in range(2):
                    if (i, j, k) != (2, 1, 1):
                        w.write_sweep(i, j, k, **sweep(i, j, k))
        w.write_settling_trace(1, [0.0, 1.0, 2.0], [0.4, 0.49, 0.5], [10.0, 12.0, 11.0])
    ds = load(path)

    assert ds.attrs["outer_dim"] == "temperature_nominal"
    assert ds.attrs["outer_name"] == "temperature"
    assert ds["dIdV"].dims == ("temperature_nominal", "setpoint", "direction", "bias")
    assert ds["status"].dims == ("temperature_nominal", "setpoint", "direction")
    units = {
        "dIdV": "S",
        "x": "V",
        "y": "V",
        "current": "A",
        "temperature": "K",
        "z": "m",
        "timestamp": "s",
        "g_normal": "S",
        "temperature_nominal": "K",
        "setpoint": "A",
        "bias": "V",
    }
    for name, unit in units.items():
        assert ds[name].attrs["units"] == unit, name
    for name in ds.variables:
        assert "units" in ds[name].attrs, name
    np.testing.assert_array_equal(ds["temperature_nominal"].values, TEMPS)
    np.testing.assert_array_equal(ds["setpoint"].values, SETPOINTS)
    np.testing.assert_array_equal(ds["bias"].values, BIAS)
    assert list(ds["direction"].values) == list(DIRS)

    for i in range(3):
        for j in range(2):
            for k in range(2):
                if (i, j, k) != (2, 1, 1):
                    check_sweep(ds, i, j, k)
    last = dict(temperature_nominal=2, setpoint=1, direction=1)
    assert np.isnan(ds["dIdV"].isel(last).values).all()
    assert np.isnan(float(ds["temperature"].isel(last)))
    assert ds["status"].isel(last).item() == "pending"
    assert (ds["status"].values == "done").sum() == 11

    a = ds.attrs
    assert a["exit_status"] == "completed"
    assert a["program_name"] == "andreev"
    assert a["program_version"] == andreev.__version__
    assert a["config_yaml"] == CONFIG
    assert json.loads(a["snapshot_json"]) == {
        "station": {"instruments": {"lockin": {"amplitude": 0.1}}}
    }
    assert a["setpoint_bias"] == 10e-3
    assert a["v_mod_rms"] == 20e-6
    assert a["sample"] == "InO-7"
    assert a["seed"] == 1234
    assert a["resumed_at"] == []
    start = dt.datetime.fromisoformat(a["start_time"])
    end = dt.datetime.fromisoformat(a["end_time"])
    assert start.tzinfo is not None
    assert start <= end

    traces = load_settling(path)
    assert [t.sizes["t"] for t in traces] == [0, 3, 0]
    np.testing.assert_array_equal(traces[1]["temperature"].values, [0.4, 0.49, 0.5])
    np.testing.assert_array_equal(traces[1]["t"].values, [0.0, 1.0, 2.0])
    assert traces[1]["heater"].attrs["units"] == "%"
    assert traces[1]["t"].attrs["units"] == "s"
    assert traces[1].attrs["outer_index"] == 1
    assert not (tmp_path / "run.h5.lock").exists()


def test_nexus_attributes(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    with make_run(path) as w:
        w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    with h5py.File(path, "r") as f:
        assert f.attrs["default"] == "entry"
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry.attrs["default"] == "data"
        assert entry["program_name"][()] == b"andreev"
        assert entry["program_name"].attrs["version"] == andreev.__version__
        assert entry["exit_status"][()] == b"completed"
        assert entry["experiment_config"].attrs["NX_class"] == "NXnote"
        assert entry["experiment_config/type"][()] == b"application/yaml"
        assert entry["station_snapshot/type"][()] == b"application/json"
        data = entry["data"]
        assert data.attrs["NX_class"] == "NXdata"
        assert data.attrs["signal"] == "dIdV"
        assert list(data.attrs["axes"]) == ["temperature_nominal", "setpoint", "direction", "bias"]
        for i, axis in enumerate(data.attrs["axes"]):
            assert data.attrs[f"{axis}_indices"] == i
            assert data[axis].shape == (data["dIdV"].shape[i],)
        assert set(data.attrs["auxiliary_signals"]) == {"x", "y", "current"}
        assert data["temperature_nominal"].attrs["long_name"] == "temperature"
        status = data["status"]
        assert h5py.check_enum_dtype(status.dtype) == {n: i for i, n in enumerate(STATUS_NAMES)}
        assert json.loads(status.attrs["mapping"])["retaken"] == 3
        settling = entry["settling"]
        assert settling.attrs["NX_class"] == "NXcollection"
        assert len(settling) == 3
        for g in settling.values():
            assert g.attrs["NX_class"] == "NXdata"
            assert g.attrs["signal"] == "temperature"
            assert g["t"].maxshape == (None,)

        numeric = []
        unitless = {
            "entry/data/status",
            "entry/live/index",
            "entry/live/n_points",
            "entry/live/attempt",
        }

        def visit(name: str, obj) -> None:
            for key, value in obj.attrs.items():  # no empty attribute anywhere
                assert not (isinstance(value, str | bytes) and len(value) == 0), (name, key)
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu":
                numeric.append(name)
                assert ("units" in obj.attrs) != (name in unitless), name

        f.visititems(visit)
        assert len(numeric) > 20


def test_outer_name_and_extra_coord_clashes(tmp_path: Path) -> None:
    path = tmp_path / "pos.h5"
    xs, ys = [0.0, 1e-9, 2e-9], [5e-9, 5e-9, 6e-9]
    with make_run(
        path,
        outer_name="position",
        outer_values=[0, 1, 2],
        outer_unit="",
        directions=("forward",),
        extra_outer_coords={"x": (xs, "m"), "y": (ys, "m"), "height": ([1, 2, 3], "m")},
    ) as w:
        assert w.outer_dim == "position"
        w.write_sweep(1, 0, 0, **sweep(1, 0, 0))
    ds = load(path)
    assert ds["dIdV"].dims[0] == "position"
    np.testing.assert_array_equal(ds["position_x"].values, xs)
    np.testing.assert_array_equal(ds["position_y"].values, ys)
    np.testing.assert_array_equal(ds["height"].values, [1, 2, 3])
    assert ds["position_x"].dims == ("position",)
    assert ds["position_x"].attrs == {"units": "m", "long_name": "x"}
    assert ds["x"].attrs["units"] == "V"  # lock-in X untouched
    assert ds.sel(position=1)["position_y"].item() == 5e-9
    assert ds["status"].sel(position=1, setpoint=SETPOINTS[0], direction="forward") == "done"


def test_settling_traces_of_different_lengths(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    rng = np.random.default_rng(0)
    lengths = [5, 0, 700]  # 700 spans several chunks
    with make_run(path) as w:
        traces = []
        for i, n in enumerate(lengths):
            t = np.arange(n) * 2.0
            temp, heater = rng.normal(TEMPS[i], 1e-3, n), rng.uniform(0, 100, n)
            traces.append((t, temp, heater))
            w.write_settling_trace(i, t, temp, heater)
        # A growing trace rewritten while settling, then a shorter one replacing it.
        w.write_settling_trace(1, [0.0, 1.0, 2.0, 3.0], [1, 2, 3, 4], [5, 6, 7, 8])
        w.write_settling_trace(1, [0.0, 1.0], [1.5, 2.5], [5.5, 6.5])
    loaded = load_settling(path)
    assert [d.sizes["t"] for d in loaded] == [5, 2, 700]
    for i in (0, 2):
        t, temp, heater = traces[i]
        np.testing.assert_array_equal(loaded[i]["t"].values, t)
        np.testing.assert_array_equal(loaded[i]["temperature"].values, temp)
        np.testing.assert_array_equal(loaded[i]["heater"].values, heater)
        assert loaded[i]["temperature"].attrs["units"] == "K"
    np.testing.assert_array_equal(loaded[1]["temperature"].values, [1.5, 2.5])
    np.testing.assert_array_equal(loaded[1]["heater"].values, [5.5, 6.5])
    assert loaded[2].attrs["temperature_nominal"] == TEMPS[2]


def test_status_transitions_and_first_unfinished(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    w = make_run(path, outer_values=[0.1, 0.2], directions=("forward",))
    assert w.sweep_status().shape == (2, 2, 1)
    assert (w.sweep_status() == "pending").all()
    assert w.first_unfinished() == (0, 0, 0)
    w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    assert w.first_unfinished() == (0, 1, 0)
    w.write_sweep(0, 1, 0, **sweep(0, 1, 0), status="failed")
    assert w.sweep_status()[0, 1, 0] == "failed"
    assert w.first_unfinished() == (0, 1, 0)  # failed is not finished
    w.write_sweep(1, 0, 0, **sweep(1, 0, 0))
    w.set_status(0, 1, 0, "retaken")
    assert w.first_unfinished() == (1, 1, 0)
    w.set_status(1, 0, 0, "pending")
    assert w.first_unfinished() == (1, 0, 0)
    w.close("aborted")
    assert w.closed
    w.close("completed")  # second close is a no-op

    ds = load(path)
    assert ds.attrs["exit_status"] == "aborted"
    assert ds["status"].values[:, :, 0].tolist() == [["done", "retaken"], ["pending", "pending"]]

    with RunWriter.open(path) as w2:  # a clean resume keeps statuses
        assert w2.sweep_status()[:, :, 0].tolist() == [["done", "retaken"], ["pending", "pending"]]
        assert w2.first_unfinished() == (1, 0, 0)
        assert load(path).attrs["exit_status"] == "running"
        w2.write_sweep(1, 0, 0, **sweep(1, 0, 0))
        w2.write_sweep(1, 1, 0, **sweep(1, 1, 0))
        assert w2.first_unfinished() is None
    ds = load(path)
    assert ds.attrs["exit_status"] == "completed"
    assert len(ds.attrs["resumed_at"]) == 1
    assert set(ds["status"].values.ravel()) == {"done", "retaken"}


def test_context_manager_exit_status(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), make_run(tmp_path / "a.h5"):
        1 / 0  # noqa: B018
    assert load(tmp_path / "a.h5").attrs["exit_status"] == "failed"
    with pytest.raises(KeyboardInterrupt), make_run(tmp_path / "b.h5"):
        raise KeyboardInterrupt
    assert load(tmp_path / "b.h5").attrs["exit_status"] == "aborted"


def test_invalid_writes_raise(tmp_path: Path) -> None:
    path = tmp_path / "run.h5"
    w = make_run(path)
    good = sweep(0, 0, 0)
    with pytest.raises(ValueError, match=r"dIdV must have shape \(7,\)"):
        w.write_sweep(0, 0, 0, **{**good, "didv": np.zeros(6)})
    with pytest.raises(ValueError, match="current must have shape"):
        w.write_sweep(0, 0, 0, **{**good, "current": np.zeros((1, 7))})
    with pytest.raises(ValueError, match="temperature must be a scalar"):
        w.write_sweep(0, 0, 0, **{**good, "temperature": [0.1, 0.2]})
    with pytest.raises(IndexError, match="i_outer=3"):
        w.write_sweep(3, 0, 0, **good)
    with pytest.raises(IndexError, match="i_direction=-1"):
        w.write_sweep(0, 0, -1, **good)
    with pytest.raises(TypeError, match="i_setpoint"):
        w.write_sweep(0, 0.0, 0, **good)
    with pytest.raises(ValueError, match="status must be one of"):
        w.write_sweep(0, 0, 0, **good, status="finished")
    with pytest.raises(ValueError, match="status must be one of"):
        w.set_status(0, 0, 0, "DONE")
    with pytest.raises(ValueError, match="equal length"):
        w.write_settling_trace(0, [0, 1, 2], [1, 2], [1, 2, 3])
    with pytest.raises(IndexError):
        w.write_settling_trace(5, [], [], [])
    with pytest.raises(ValueError, match="exit_status"):
        w.close("ok")
    assert (w.sweep_status() == "pending").all()  # nothing half-written
    with pytest.raises(RunLockedError):
        RunWriter.open(path)  # this process is already writing it
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.write_sweep(0, 0, 0, **good)
    assert np.isnan(load(path)["dIdV"].values).all()

    with pytest.raises(FileExistsError):
        make_run(path)
    with pytest.raises(ValueError, match="directions"):
        make_run(tmp_path / "d.h5", directions=("backward",))
    with pytest.raises(ValueError, match="bias must be a non-empty 1-D"):
        make_run(tmp_path / "e.h5", bias=[])
    with pytest.raises(ValueError, match=r"extra_outer_coords\['x'\] has 2 values"):
        make_run(tmp_path / "f.h5", extra_outer_coords={"x": ([0, 1], "m")})
    assert not (tmp_path / "d.h5").exists()
    assert not (tmp_path / "f.h5.lock").exists()


def test_every_commit_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.h5"
    w = make_run(path)
    fd = w._f.id.get_vfd_handle()
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fileno: int) -> None:
        synced.append(fileno)
        real_fsync(fileno)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    w.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    assert synced == [fd, fd]  # data, then status
    w.set_status(0, 0, 0, "failed")
    w.write_settling_trace(0, [0.0], [0.05], [1.0])
    assert synced == [fd] * 4
    w.close()
    assert len(synced) == 5


def test_film_resistance_only_when_asked_kept_across_a_resume(tmp_path: Path) -> None:
    from andreev.storage import load_film_resistance

    with make_run(tmp_path / "plain.h5") as w:
        with pytest.raises(ValueError, match="film_readings"):
            w.write_film_resistance(0, [1.0], [0.1], [1e9])
    assert load_film_resistance(tmp_path / "plain.h5") is None

    path = tmp_path / "film.h5"
    w = make_run(path, film_readings=3)
    w.write_film_resistance(0, [0.5, -0.2, 0.1], [0.3, 0.3, 0.3], [1e9, 1e9 + 1, 1e9 + 2])
    with pytest.raises(ValueError, match="≤ 3"):
        w.write_film_resistance(1, [1.0] * 4, [1.6] * 4, [1e9] * 4)
    w.close("aborted")
    w = RunWriter.open(path)  # resume: the group is kept, a step is written (again)
    w.write_film_resistance(1, [5400.0, 5410.0], [1.6, 1.6], [2e9, 2e9 + 1])
    w.close("completed")
    got = load_film_resistance(path)
    assert got is not None
    np.testing.assert_array_equal(got["outer"], TEMPS)
    np.testing.assert_array_equal(got["resistance"][0], [0.5, -0.2, 0.1])
    np.testing.assert_array_equal(got["resistance"][1, :2], [5400.0, 5410.0])
    assert np.isnan(got["resistance"][1, 2]) and np.isnan(got["temperature"][2]).all()
    with h5py.File(path) as f:
        group = f["entry/film_resistance"]
        assert group.attrs["NX_class"] == "NXdata" and group.attrs["signal"] == "resistance"
        assert group["resistance"].attrs["units"] == "Ohm"
        assert group["temperature"].attrs["units"] == "K"


def test_the_file_is_written_in_hdf5_1_10_format_when_created_and_resumed(tmp_path: Path) -> None:
    """libver bounds (v110, v110) whenever the writer has the file open: objects in the
    1.10 format, so tools on any HDF5 ≥ 1.10 read a closed run (not "latest", which
    HDF5 1.14.2's tools refused on /entry/data/status)."""
    path = tmp_path / "run.h5"
    writer = make_run(path)
    assert writer._f.libver == ("v110", "v110")
    writer.write_sweep(0, 0, 0, **sweep(0, 0, 0))
    writer.close("incomplete")
    with RunWriter.open(path) as resumed:
        assert resumed._f.libver == ("v110", "v110")
    with h5py.File(path, "r", libver=("earliest", "v110")) as f:  # plain, no SWMR
        assert f["entry/data/status"][0, 0, 0] == STATUS_NAMES.index("done")
