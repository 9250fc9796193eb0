"""Whole runs against the simulated fridge: the demo end to end, SIGKILL + resume,
SIGINT, limit refusals, the temperature suspender and the overload retake."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from andreev.analysis.peaks import find_andreev_peaks
from andreev.cli import main as cli_main
from andreev.cli.run import Reporter
from andreev.engine.events import Event, SweepDone, SweepFailed
from andreev.physics import G0
from andreev.procedures.experiment import load_experiment
from andreev.procedures.runner import LimitError, run_experiment
from andreev.sim import SimFridge
from andreev.storage import load
from tests.conftest import (
    EXPERIMENTS,
    drain,
    make_world,
    resume_in_subprocess,
    run_file_of,
    start_run,
    station_file_for,
)

SMALL = {
    "procedure": "TemperatureSeries",
    "name": "small",
    "parameters": {
        "temperatures": [0.05, 0.3],
        "stable_hold": 30.0,
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-7,
        "ladder_steps": 3,
        "setpoint_bias": 10.0e-3,
        "bias_start": -1.5e-3,
        "bias_stop": 1.5e-3,
        "bias_points": 121,
        "lockin_time_constant": 0.003,
        "tip_settle": 1.0,
    },
}


def write_experiment(folder: Path, **changes: object) -> Path:
    data = {**SMALL, "parameters": {**SMALL["parameters"], **changes}}
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ---------------------------------------------------------------- the demo, end to end
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("demo")
    world = make_world()
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, folder)
        result = run_experiment(EXPERIMENTS / "demo.yaml", station, out_dir=folder)
    return result, world


def test_demo_file_shapes_units_and_nexus(demo_run) -> None:
    import h5py

    result, world = demo_run
    assert result.exit_status == "completed"
    ds = load(result.path)
    outer = ds.attrs["outer_dim"]
    assert dict(ds.sizes) == {outer: 6, "setpoint": 7, "direction": 1, "bias": 201}
    assert ds.dIdV.attrs["units"] == "S" and ds.bias.attrs["units"] == "V"
    assert ds.current.attrs["units"] == "A" and ds.temperature.attrs["units"] == "K"
    assert ds.attrs["exit_status"] == "completed"
    assert (ds.status.values == "done").all()
    for name in ("dIdV", "x", "y", "current"):
        assert np.isfinite(ds[name].values).all(), name
    with h5py.File(result.path, "r") as f:
        assert f["entry"].attrs["NX_class"] == "NXentry"
        assert f["entry/data"].attrs["signal"] == "dIdV"
        assert "lockin" in f["entry/station_snapshot/data"][()].decode()
        # the station file's absolute path, for the --resume line of status and repair
        station_file = Path(f["entry"].attrs["station_file"])
        assert station_file.is_absolute()
        assert station_file.read_text(encoding="utf-8") == f["entry"].attrs["station_yaml"]
    assert result.path.with_suffix(".log").exists()
    assert world.crashes == []


def test_demo_temperatures_near_setpoints(demo_run) -> None:
    ds = load(demo_run[0].path)
    nominal = ds[ds.attrs["outer_dim"]].values
    measured = ds.temperature.values[:, :, 0]
    band = np.maximum(0.02 * nominal, 2e-3)[:, None]
    assert (np.abs(measured - nominal[:, None]) <= band).all()


def test_demo_physics_through_the_whole_chain(demo_run) -> None:
    """50 mK: in-gap peaks near ±Δc at high setpoints, none at 1 nA; none above Tc."""
    ds = load(demo_run[0].path)
    bias = ds.bias.values
    v_mod = ds.attrs["v_mod_rms"]

    def peaks(i: int, j: int):
        return find_andreev_peaks(
            bias,
            ds.dIdV.values[i, j, 0],
            temperature=float(ds.temperature.values[i, j, 0]),
            v_mod_rms=v_mod,
            gap=0.55e-3,
        )

    assert not peaks(0, 0).found  # 1 nA: tunnelling
    for j in (4, 5, 6):
        found = peaks(0, j)
        assert found.found and abs(found.gap_c - 0.10e-3) < 15e-6, (j, found)
    for j in range(7):
        assert not peaks(5, j).found  # 1.8 K > Tc
    # dI/dV is G_N-normalised at high bias: the setpoints arrive as G_N = I/V_set
    g_n = ds.g_normal.values[0, :, 0]
    edge = ds.dIdV.values[0, :, 0, -1]
    assert np.allclose(edge / g_n, 1.0, atol=0.25)
    assert g_n[0] / G0 < 0.002 and g_n[-1] / G0 > 1.0


def test_every_figure_from_the_demo_file(demo_run, tmp_path: Path) -> None:
    assert cli_main(["plot", str(demo_run[0].path), "--out", str(tmp_path)]) == 0
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) >= 4, pngs
    for png in tmp_path.glob("*.png"):
        assert png.stat().st_size > 10_000


# ---------------------------------------------------------------- killed, interrupted
def _wait_for_done(path: Path, count: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, "run ended too early"
        try:
            status = load(path).status.values
        except Exception:  # the file may be between writes; try again
            status = np.array([])
        if np.isin(status, ("done", "retaken")).sum() >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} sweeps done in time")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path)
    with SimFridge(make_world(seed=7), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path)
        proc = start_run(
            [str(experiment), "--config", str(station), "--out", str(tmp_path)], tmp_path
        )
        path = run_file_of(proc)
        drain(proc)
        _wait_for_done(path, 2, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

        cut = load(path)
        done = np.isin(cut.status.values, ("done", "retaken"))
        assert 2 <= done.sum() < done.size
        assert np.isfinite(cut.dIdV.values[done]).all()
        kept = cut.dIdV.values[done].copy()

        resumed = resume_in_subprocess(path, station, tmp_path)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    final = load(path)
    assert final.attrs["exit_status"] == "completed"
    assert (final.status.values == "done").all()
    np.testing.assert_array_equal(final.dIdV.values[done], kept)  # never retaken

    reference_dir = tmp_path / "reference"
    with SimFridge(make_world(seed=7), ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path)
        reference = run_experiment(experiment, station, out_dir=reference_dir)
    ref = load(reference.path)
    g_n = ref.g_normal.values[..., None]
    # within noise: the seeded noise streams part ways after the kill, the physics does not
    diff = (final.dIdV.values - ref.dIdV.values) / g_n
    noise = np.diff(ref.dIdV.values / g_n, n=2, axis=-1).std(axis=-1) / np.sqrt(6)
    assert (np.sqrt((diff**2).mean(axis=-1)) < 3 * np.sqrt(2) * noise + 0.01).all()
    assert np.abs(diff).max() < 0.15


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process")
def test_sigint_mid_sweep_leaves_safe_state_and_aborted_status(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path, bias_points=401, safe_heater_range=0)
    world = make_world()
    with SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge:
        station = station_file_for(fridge, tmp_path)
        proc = start_run(
            [str(experiment), "--config", str(station), "--out", str(tmp_path)], tmp_path
        )
        path = run_file_of(proc)
        reader = drain(proc)
        _wait_for_done(path, 2, proc)
        before = sum(1 for cmd in list(fridge.servers["lockin"].received) if cmd.startswith("SNAP"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # be inside a sweep: SNAPs are flowing
            snaps = sum(
                1 for cmd in list(fridge.servers["lockin"].received) if cmd.startswith("SNAP")
            )
            if snaps > before + 20:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        reader.join(timeout=5)
        with world.lock:
            world.advance()
            junction = world.junction
            assert junction.feedback is True
            assert junction.bias == pytest.approx(10e-3, rel=1e-3)
            assert abs(junction.setpoint) == pytest.approx(1e-9, rel=1e-3)
            assert world.thermal.output.range == 0
        assert world.crashes == []
    ds = load(path)
    assert ds.attrs["exit_status"] == "aborted"
    assert "pending" in set(ds.status.values.ravel())


# ---------------------------------------------------------------- limits
def test_outside_limits_refused_before_any_write(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    experiment = write_experiment(tmp_path, ladder_stop=2.0e-6)
    for server in sim_fridge.servers.values():
        server.clear_received()
    with pytest.raises(LimitError, match=r"ladder_stop.*max_setpoint_current"):
        run_experiment(experiment, sim_station, out_dir=tmp_path)
    code = cli_main(["run", str(experiment), "--config", str(sim_station), "--dry-run"])
    assert code == 2
    err = capsys.readouterr().err
    assert "parameters.ladder_stop" in err and "safety.max_setpoint_current" in err
    assert cli_main(["run", str(experiment), "--config", str(sim_station)]) == 2
    for name, server in sim_fridge.servers.items():
        assert list(server.received) == [], name
    assert not list(tmp_path.glob("*.h5"))


# ---------------------------------------------------------------- suspender, retake
def _when_sweeping(fridge: SimFridge, snaps: int, action) -> threading.Thread:
    """Run ``action`` once ``snaps`` more SNAP? reads reached the lock-in (mid-sweep)."""
    received = fridge.servers["lockin"].received

    def count() -> int:
        return sum(1 for cmd in list(received) if cmd.startswith("SNAP"))

    start = count()

    def wait_then_act() -> None:
        deadline = time.monotonic() + 30
        while count() < start + snaps and time.monotonic() < deadline:
            time.sleep(0.002)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def _run_with_hook(fridge: SimFridge, station: Path, experiment: Path, out: Path, hook):
    exp = load_experiment(experiment)

    def listener(event: Event) -> None:
        if isinstance(event, SweepDone | SweepFailed) and event.done == 1:
            hook()

    return run_experiment(exp, station, out_dir=out, listeners=[listener])


def test_temperature_suspender_pauses_and_retakes(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    world = sim_fridge.world
    experiment = write_experiment(
        tmp_path,
        temperatures=[0.05],
        temperature_band=0.5e-3,
        ladder_steps=2,
        ladder_stop=1.0e-8,
    )

    setpoints_while_paused: list[float] = []

    def disturb() -> None:
        def on() -> None:
            world.faults.no_settle = True
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:  # watch the tip while the run waits
                with world.lock:
                    setpoints_while_paused.append(abs(world.junction.setpoint))
                time.sleep(0.01)
            world.faults.no_settle = False

        _when_sweeping(sim_fridge, 40, on)

    result = _run_with_hook(sim_fridge, sim_station, experiment, tmp_path, disturb)
    assert result.exit_status == "completed"
    ds = load(result.path)
    assert list(ds.status.values.ravel()) == ["done", "retaken"]
    log = result.path.with_suffix(".log").read_text()
    assert "outside" in log and "paused" in log
    assert abs(float(ds.temperature.values[0, 1, 0]) - 0.05) < 0.5e-3
    # the sweep was at 10 nA; while paused the tip waited at the tunnelling 1 nA
    assert max(setpoints_while_paused) == pytest.approx(1e-8, rel=1e-3)
    assert min(setpoints_while_paused) == pytest.approx(1e-9, rel=1e-3)


def test_overload_is_retaken_after_reranging(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    world = sim_fridge.world
    experiment = write_experiment(tmp_path, temperatures=[0.05], ladder_steps=2, ladder_stop=1.0e-8)

    def disturb() -> None:
        def on() -> None:
            world.faults.force_overload = True
            threading.Timer(0.05, lambda: setattr(world.faults, "force_overload", False)).start()

        _when_sweeping(sim_fridge, 40, on)

    result = _run_with_hook(sim_fridge, sim_station, experiment, tmp_path, disturb)
    assert result.exit_status == "completed"
    ds = load(result.path)
    assert list(ds.status.values.ravel()) == ["done", "retaken"]
    assert "lock-in overload" in result.path.with_suffix(".log").read_text()
    assert np.isfinite(ds.dIdV.values).all()


# ---------------------------------------------------------------- other outer steppers
def test_position_series_maps_the_local_gap(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    from andreev.analysis.fits import fit_dynes

    positions = [[0.0, 0.0], [15e-9, 0.0], [0.0, 25e-9]]
    world = sim_fridge.world
    seen: list[tuple[float, float, float]] = []  # (x, y, setpoint) while the run goes
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set():
            with world.lock:
                j = world.junction
                seen.append((j.x, j.y, abs(j.setpoint)))
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    path = tmp_path / "positions.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "procedure": "PositionSeries",
                "parameters": {
                    **{
                        k: v
                        for k, v in SMALL["parameters"].items()
                        if k not in ("temperatures", "stable_hold")
                    },
                    "positions": positions,
                    "ladder_steps": 2,
                    "ladder_stop": 1.0e-8,
                    "bias_points": 241,
                },
            }
        )
    )
    result = run_experiment(path, sim_station, out_dir=tmp_path)
    running.clear()
    watcher.join()
    assert result.exit_status == "completed"
    # the tip moved laterally only in tunnelling: at each new position the first
    # setpoint seen is the tunnelling 1 nA, although the previous one ended at 10 nA
    for x, y in positions[1:]:
        first = next(sp for (sx, sy, sp) in seen if (sx, sy) == (x, y))
        assert first == pytest.approx(1e-9, rel=1e-3)
    assert max(sp for *_, sp in seen) == pytest.approx(1e-8, rel=1e-3)
    ds = load(result.path)
    assert ds.attrs["outer_dim"] == "position"
    np.testing.assert_allclose(ds.position_x.values, [p[0] for p in positions])
    for i, (x, y) in enumerate(positions):
        fit = fit_dynes(
            ds.bias.values,
            ds.dIdV.values[i, 0, 0],
            temperature=float(ds.temperature.values[i, 0, 0]),
            v_mod_rms=ds.attrs["v_mod_rms"],
        )
        assert fit.success
        assert fit.params["gap"] == pytest.approx(world.gap_at(x, y), rel=0.02)
    assert world.junction.x == pytest.approx(positions[-1][0])
    assert world.junction.y == pytest.approx(positions[-1][1])


def test_any_qcodes_parameter_can_step_the_outer_loop(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    path = tmp_path / "param.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "procedure": "ParameterSeries",
                "parameters": {
                    **{
                        k: v
                        for k, v in SMALL["parameters"].items()
                        if k not in ("temperatures", "stable_hold")
                    },
                    "outer_parameter": "lockin.phase",
                    "outer_values": [0.0, 60.0],
                    "outer_unit": "deg",
                    "ladder_steps": 1,
                    "ladder_stop": 1.0e-9,
                },
            }
        )
    )
    result = run_experiment(path, sim_station, out_dir=tmp_path)
    assert result.exit_status == "completed"
    ds = load(result.path)
    assert ds.attrs["outer_dim"] == "lockin_phase"
    np.testing.assert_allclose(ds.lockin_phase.values, [0.0, 60.0])
    assert ds.lockin_phase.attrs["units"] == "deg"
    # X carries cos(phase) of the signal: the 60° spectrum is half the 0° one
    ratio = ds.x.values[1, 0, 0] / ds.x.values[0, 0, 0]
    assert np.median(ratio) == pytest.approx(0.5, rel=0.05)


# ---------------------------------------------------------------- more exit paths
def test_controller_side_sweeps_both_directions(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    path = tmp_path / "controller.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "procedure": "SetpointLadder",
                "parameters": {
                    **{
                        k: v
                        for k, v in SMALL["parameters"].items()
                        if k not in ("temperatures", "stable_hold")
                    },
                    "sweep_mode": "controller",
                    "backward": True,
                    "ladder_steps": 2,
                    "ladder_stop": 1.0e-8,
                },
            }
        )
    )
    result = run_experiment(path, sim_station, out_dir=tmp_path)
    assert result.exit_status == "completed"
    ds = load(result.path)
    assert dict(ds.sizes)["direction"] == 2
    assert np.isfinite(ds.dIdV.values).all()
    g = ds.dIdV.values / ds.g_normal.values[..., None]
    # forward and backward see the same film; the gap is there in both
    np.testing.assert_allclose(g[:, :, 0], g[:, :, 1], atol=0.05)
    assert (g[..., ds.bias.size // 2] < 0.3).all() and (g[..., -1] > 0.8).all()
    with sim_fridge.world.lock:
        assert sim_fridge.world.junction.feedback


def test_a_temperature_that_never_settles_ends_incomplete(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    sim_fridge.world.faults.no_settle = True
    experiment = write_experiment(
        tmp_path, temperatures=[0.3], stable_timeout=120.0, ladder_steps=1
    )
    printed = io.StringIO()
    result = run_experiment(
        experiment, sim_station, out_dir=tmp_path, listeners=[Reporter(sim_station, printed)]
    )
    lines = printed.getvalue().splitlines()
    assert result.exit_status == "incomplete"
    ds = load(result.path)
    assert ds.attrs["exit_status"] == "incomplete"
    assert (ds.status.values == "failed").all()
    assert any("--resume" in line for line in lines)
    assert "not stable" in result.path.with_suffix(".log").read_text()


def test_resume_refuses_a_different_grid(tmp_path: Path) -> None:
    from andreev.config import ConfigError
    from andreev.engine.lifecycle import check_same_grid
    from andreev.storage import RunWriter

    proc = load_experiment(write_experiment(tmp_path)).procedure
    axis = proc.outer_axis()
    book = RunWriter.create(
        tmp_path / "run.h5",
        outer_name=axis.name,
        outer_values=axis.values,
        outer_unit=axis.unit,
        setpoints=proc.setpoints(),
        bias=proc.bias_values(),
        directions=proc.directions(),
        setpoint_bias=0.01,
        v_mod_rms=1e-5,
        config_yaml="",
        snapshot={},
    )
    try:
        check_same_grid(proc.grid(), book, tmp_path / "run.h5")  # the same grid passes
        proc.bias_points = 101
        with pytest.raises(ConfigError, match="bias"):
            check_same_grid(proc.grid(), book, tmp_path / "run.h5")
    finally:
        book.close("aborted")


def test_no_sweep_when_the_tip_cannot_reach_the_setpoint(
    sim_fridge: SimFridge, sim_station: Path
) -> None:
    from andreev.engine.plan import NotRegulating
    from andreev.engine.rig import Rig
    from andreev.instruments.station import close_station, open_station
    from andreev.procedures.sweeps import regulate

    station, config = open_station(sim_station)
    try:
        rig = Rig.from_station(station, config.safety, config.clock())
        driver = station.components["stm"]
        rig.stm.set_bias(10e-3)
        rig.stm.set_feedback(True)
        rig.sleep(1.0)
        z = float(rig.stm.get_z())
        driver.z_limits((z + 5e-9, z - 1e-12))  # the tip may not come any closer
        driver.setpoint(2.5e-9)  # 0.4 decades up: needs ~0.4 Å closer
        with pytest.raises(NotRegulating, match="decades from the setpoint"):
            regulate(rig, 10e-3, 1.0, lambda: False)
    finally:
        close_station(station)
