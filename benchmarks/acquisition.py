"""Acquisition throughput: one bias sweep through driver → TCP → simulator → storage.

Run from the repository root as ``python benchmarks/acquisition.py [--points N]
[--repeats R] [--speedup S] [--ohmic] [--profile]``. Prints figures and ratios; asserts
nothing.

The simulated fridge is started in-process on free loopback ports and the station is
opened from ``config/sim.yaml`` (addresses and ``clock.speedup`` replaced). With the
lock-in at its shortest time constant, a settling precision of 1e-6 and
``tip_settle = 0``, every wait is ~0 world s, so the figures are the cost of the stack
itself. The same sweep (``--points`` from −1.5 mV to 1.5 mV, V_set 10 mV, setpoint 1 nA)
is taken three ways, interleaved, one warm-up each, then ``--repeats`` timed rounds:

1. ``point``: ``measure_point_by_point`` + ``RunWriter.write_sweep`` (flush + fsync);
2. ``controller``: ``measure_controller_side`` (``BiasSpectr``) + ``write_sweep``;
3. ``dond``: qcodes' ``dond`` sweeping ``stm.bias`` (``LinSweep``) and measuring lock-in
   ``X``, ``Y`` and ``stm.current`` into a temporary SQLite database, between the same
   hold (feedback off at V_set) and restore (bias to V_set, feedback on) our loop does.

Each timing covers the whole sweep from "feedback on at V_set" back to that state, data
on disk. The default speedup is 1e3, not 1e6: at 1e6 the simulator's thermal model
(0.5 s PID steps, RK4) needs ~6 CPU s per wall s and falls ever further behind; at 1e3
every remaining wait is below a microsecond of wall time anyway.

The simulator's physics is part of the stack measured: every new bias costs it one
thermally and lock-in smeared dI/dV (FFT, ~3 ms CPU, holding the GIL of this process),
the same in all three modes. ``--ohmic`` replaces it by dI/dV = G_N in this process only
(nothing is changed on disk), which leaves the cost of drivers, protocol and storage.
``--profile`` adds a cProfile of one point-by-point sweep (main thread only).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from andreev.cli.run import sim_overrides
from andreev.engine.lifecycle import snapshot_json
from andreev.engine.rig import Rig
from andreev.instruments.station import close_station, load_station_config, open_station
from andreev.procedures.sweeps import measure_controller_side, measure_point_by_point
from andreev.sim import SimConfig, SimFridge, World
from andreev.storage import RunWriter

SIM_STATION = Path("config/sim.yaml")
BIAS_START, BIAS_STOP = -1.5e-3, 1.5e-3  # V
SETPOINT_BIAS = 10e-3  # V
SETPOINT_CURRENT = 1e-9  # A
PRECISION = 1e-6  # settled fraction: settle = O(1e-6) x tau, ~0 world s
MIN_TIME_CONSTANT = 10e-6  # s, the SR830's shortest


def never() -> bool:
    return False


def station_file(fridge: SimFridge, folder: Path, speedup: float) -> Path:
    """config/sim.yaml pointing at ``fridge``, clock at ``speedup`` (as tests/conftest.py)."""
    data = yaml.safe_load(SIM_STATION.read_text())
    data["clock"]["speedup"] = speedup
    data.pop("sim", None)
    path = folder / "station.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def new_writer(path: Path, bias: np.ndarray, n_sweeps: int, station_snapshot: dict) -> RunWriter:
    return RunWriter.create(
        path,
        outer_name="round",
        outer_values=np.arange(n_sweeps, dtype=float),
        outer_unit="",
        setpoints=[SETPOINT_CURRENT],
        bias=bias,
        setpoint_bias=SETPOINT_BIAS,
        v_mod_rms=10e-6,
        config_yaml="benchmark: acquisition\n",
        snapshot=station_snapshot,
    )


def write(book: RunWriter, i: int, record) -> None:
    record.g_normal = SETPOINT_CURRENT / SETPOINT_BIAS
    record.write_to(book, i, 0, 0)


def make_runners(rig: Rig, bias: np.ndarray, books: dict[str, RunWriter], exp) -> dict:
    """One callable per mode: take sweep number ``i`` and store it."""
    from qcodes.dataset import LinSweep, dond

    options = dict(
        setpoint_bias=SETPOINT_BIAS,
        backward=False,
        precision=PRECISION,
        tip_settle=0.0,
        should_stop=never,
    )

    def point(i: int) -> None:
        (record,) = measure_point_by_point(rig, bias, **options)
        write(books["point"], i, record)

    def controller(i: int) -> None:
        (record,) = measure_controller_side(rig, bias, **options)
        write(books["controller"], i, record)

    # dond sweeps the drivers' qcodes parameters, not the roles
    stm, lockin = rig.station.components["stm"], rig.station.components["lockin"]

    def qcodes_dond(i: int) -> None:
        # the hold and restore measure_point_by_point does around its loop
        stm.bias(SETPOINT_BIAS)
        stm.feedback(True)
        stm.feedback(False)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # "Starting experimental run …"
                dond(
                    LinSweep(stm.bias, float(bias[0]), float(bias[-1]), bias.size, delay=0.0),
                    lockin.X,
                    lockin.Y,
                    stm.current,
                    exp=exp,
                    measurement_name=f"dond-{i}",
                    do_plot=False,
                    show_progress=False,
                )
        finally:
            stm.bias(SETPOINT_BIAS)
            stm.feedback(True)

    return {"point": point, "controller": controller, "dond": qcodes_dond}


def profile_point(run, i: int, top: int = 25) -> str:
    """cProfile of one point-by-point sweep (+ write), sorted by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run(i)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=201, help="bias points (default 201)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--speedup", type=float, default=1e3, help="world s per wall s")
    parser.add_argument(
        "--ohmic", action="store_true", help="simulated dI/dV = G_N (no FFT smearing per point)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also cProfile one point-by-point sweep"
    )
    args = parser.parse_args(argv)
    if args.points < 2 or args.repeats < 1:
        parser.error("need --points >= 2 and --repeats >= 1")

    import qcodes as qc
    from qcodes.dataset import initialise_or_create_database_at, load_or_create_experiment

    bias = np.linspace(BIAS_START, BIAS_STOP, args.points)
    n_sweeps = args.repeats + 1 + int(args.profile)
    modes = ("point", "controller", "dond")
    times: dict[str, list[float]] = {m: [] for m in modes}
    wall0 = time.perf_counter()

    sim_config = SimConfig.from_yaml(SIM_STATION)
    sim_config.speedup = args.speedup
    world = World(sim_config)
    if args.ohmic:  # instance attribute: the lock-in and BiasSpectr servers call it
        world.conductance = lambda: float(world.junction.g_normal())
    with (
        tempfile.TemporaryDirectory(prefix="andreev-bench-") as tmp,
        SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}) as fridge,
    ):
        folder = Path(tmp)
        qc.config.dataset.write_in_background = False
        initialise_or_create_database_at(folder / "dond.db")
        exp = load_or_create_experiment("acquisition-benchmark", sample_name="sim")
        config = load_station_config(station_file(fridge, folder, args.speedup))
        station, _ = open_station(config, overrides=sim_overrides(fridge))
        books: dict[str, RunWriter] = {}
        rig = None
        feedback = None
        profile_text = ""
        try:
            rig = Rig.from_station(station, config.safety, config.clock())
            station.components["lockin"].time_constant(MIN_TIME_CONSTANT)
            rig.stm.safe_state(SETPOINT_BIAS, SETPOINT_CURRENT)  # feedback on at (V_set, I_set)
            settle = rig.lockin.settle_time(PRECISION)
            snap = json.loads(snapshot_json(station))
            for mode in ("point", "controller"):
                books[mode] = new_writer(folder / f"{mode}.h5", bias, n_sweeps, snap)
            runners = make_runners(rig, bias, books, exp)
            for mode in modes:  # warm-up (imports, first connection use, caches)
                runners[mode](0)
            for i in range(1, args.repeats + 1):
                for mode in modes:
                    t0 = time.perf_counter()
                    runners[mode](i)
                    times[mode].append(time.perf_counter() - t0)
            if args.profile:
                profile_text = profile_point(runners["point"], n_sweeps - 1)
        finally:
            try:
                if rig is not None:
                    rig.stm.safe_state(SETPOINT_BIAS, SETPOINT_CURRENT)
                    feedback = station.components["stm"].feedback()
            finally:
                for book in books.values():
                    book.close("completed")
                close_station(station)

    median = {m: statistics.median(times[m]) for m in modes}
    rate = {m: args.points / median[m] for m in modes}
    labels = {
        "point": "point-by-point + write_sweep",
        "controller": "controller-side + write_sweep",
        "dond": "qcodes dond -> SQLite",
    }
    print()
    print(
        f"{args.points}-point sweep {BIAS_START * 1e3:g}…{BIAS_STOP * 1e3:g} mV, "
        f"V_set {SETPOINT_BIAS * 1e3:g} mV, I_set {SETPOINT_CURRENT:g} A; "
        f"speedup {args.speedup:g}; lock-in settle {settle:.2g} world s/point; "
        f"simulated dI/dV {'ohmic' if args.ohmic else 'film model (FFT)'}; "
        f"median of {args.repeats} after 1 warm-up"
    )
    print(f"{'mode':32} {'points/s':>10} {'ms/sweep':>10} {'µs/point':>10} {'min..max ms':>17}")
    for m in modes:
        lo, hi = 1e3 * min(times[m]), 1e3 * max(times[m])
        print(
            f"{labels[m]:32} {rate[m]:10.0f} {1e3 * median[m]:10.1f} "
            f"{1e6 * median[m] / args.points:10.0f} {lo:8.1f}..{hi:<8.1f}"
        )
    print()
    print(f"ours (point-by-point) / dond    {rate['point'] / rate['dond']:6.2f} x points/s")
    print(f"controller-side / point-by-point {rate['controller'] / rate['point']:6.2f} x points/s")
    print(f"controller-side / dond          {rate['controller'] / rate['dond']:6.2f} x points/s")
    print(f"feedback on at the end: {feedback}; wall time {time.perf_counter() - wall0:.1f} s")
    if profile_text:
        print()
        print("cProfile of one point-by-point sweep + write_sweep:")
        print(profile_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
