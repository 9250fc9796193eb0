"""Acquisition at the instruments' limit: driver → TCP → simulator, measured five ways.

Run from the repository root as ``python benchmarks/acquisition.py [--points N]
[--repeats R] [--no-realtime] [--no-demo] [--in-process] [--profile]``. Prints figures;
asserts nothing.

The simulated fridge runs as ``andreev sim`` in a process of its own (the instruments
of a fridge do not share our interpreter lock; ``--in-process`` puts it in this one),
except for section 2, whose requests are counted in the servers; the station is
``config/sim.yaml`` with the addresses and the clock replaced. Sections, each
interleaved and repeated (min and median of ``--repeats`` rounds after one warm-up):

1. **Zero settling** (speedup 1e3, τ = 10 µs, precision 1e-6: every wait ~0): one
   ``--points`` sweep (−1.5 … 1.5 mV, V_set 10 mV, 1 nA) by ``measure_point_by_point``
   + ``RunWriter.write_sweep`` (flush + fsync), against qcodes ``dond`` sweeping
   ``stm.bias`` and reading lock-in ``X`` only, and ``X``, ``Y``, ``stm.current``, into
   SQLite, between the same hold and restore (feedback off at V_set … back on); and
   the floor: a bare-socket loop making the lean loop's requests and nothing else.
2. **Requests per point**, counted at the simulated servers (``server.received``): the
   difference between a 2N- and an N-point sweep over N, per server and per command,
   and the fixed cost per sweep (the N-point count minus N × per point).
3. **Real time** (speedup 1, τ = 10 ms, 12 dB/oct, precision 0.999 → settle 92.3 ms,
   30 points, tip_settle 0): overhead = (wall − Σ settle) / Σ settle of the whole sweep
   call and of the steady state (between the first and last progress callbacks), for
   the lean loop and the plain reference loop; the floor is a bare-socket loop (raw
   Nanonis frames and ``SNAP? 1,2`` lines, no drivers) doing the same waits, once with
   ``time.sleep`` and once with the deadline-and-spin wait.
4. **Controller side**: a 1000-point ``BiasSpectr`` sweep (``measure_controller_side``,
   zero settling, speedup 1e3) in points/s.
5. **Demo**: ``andreev demo`` in a subprocess; its planned duration against its wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import inspect
import io
import json
import os
import pstats
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from andreev.engine.lifecycle import snapshot_json
from andreev.engine.rig import Rig
from andreev.instruments.nanonis.codec import (
    COMMANDS,
    HEADER_SIZE,
    decode_reply_header,
    encode_request,
)
from andreev.instruments.station import close_station, load_station_config, open_station
from andreev.procedures.sweeps import measure_controller_side, measure_point_by_point
from andreev.sim import SimConfig, SimFridge, World
from andreev.sim.fridge import station_overrides
from andreev.storage import RunWriter

ROOT = Path(__file__).resolve().parents[1]
SIM_STATION = ROOT / "config" / "sim.yaml"
BIAS_START, BIAS_STOP = -1.5e-3, 1.5e-3  # V
SETPOINT_BIAS = 10e-3  # V
SETPOINT_CURRENT = 1e-9  # A
ZERO_PRECISION = 1e-6  # settled fraction: settle = O(1e-6) x tau, ~0 world s
MIN_TIME_CONSTANT = 10e-6  # s, the SR830's shortest
RT_TAU, RT_SLOPE, RT_POINTS, RT_PRECISION = 10e-3, 12, 30, 0.999
CONTROLLER_POINTS = 1000


def never() -> bool:
    return False


def stats(times: list[float]) -> tuple[float, float]:
    """(min, median) of ``times``."""
    return min(times), statistics.median(times)


# ---- the simulated station ------------------------------------------------------------
class SimProcess:
    """``andreev sim`` in a process of its own (as the instruments of a fridge are: the
    simulated servers then do not share this process' interpreter lock), ports 0."""

    def __init__(self, folder: Path, speedup: float) -> None:
        data = yaml.safe_load(SIM_STATION.read_text())
        data["sim"]["ports"] = {"lockin": 0, "bridge": 0, "stm": 0}
        path = folder / f"sim-{speedup:g}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        command = [sys.executable, "-m", "andreev", "sim", "--config", str(path)]
        command += ["--speedup", f"{speedup:g}"]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.addresses: dict[str, tuple[str, int]] = {}
        while len(self.addresses) < 3:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("andreev sim ended before printing its addresses")
            name, _, address = line.strip().partition(" ")
            host, _, port = address.rpartition(":")
            if name in ("lockin", "bridge", "stm") and port.isdigit():
                self.addresses[name] = (host, int(port))

    def station_overrides(self) -> dict[str, dict[str, str]]:
        """The servers' addresses as station overrides (as a SimFridge gives them)."""
        return station_overrides(self.addresses)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class Bench:
    """A simulated fridge (in this process, or with ``process`` in its own), its station
    and rig (speedup ``speedup``), in a temporary folder."""

    def __init__(
        self, folder: Path, speedup: float, tau: float, slope: int = 12, process: bool = False
    ) -> None:
        config = SimConfig.from_yaml(SIM_STATION)
        config.speedup = speedup
        self.folder = folder
        self.fridge: Any
        if process:
            self.fridge = SimProcess(folder, speedup)
        else:
            self.fridge = SimFridge(World(config), ports={"lockin": 0, "bridge": 0, "stm": 0})
            self.fridge.start()
        data = yaml.safe_load(SIM_STATION.read_text())
        data["clock"]["speedup"] = speedup
        data.pop("sim", None)
        path = folder / f"station-{speedup:g}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        self.config = load_station_config(path)
        try:
            self.station, _ = open_station(self.config, overrides=self.fridge.station_overrides())
        except BaseException:
            self.fridge.stop()  # a simulator in its own process must not outlive the run
            raise
        self.rig = Rig.from_station(self.station, self.config.safety, self.config.clock())
        self.lockin = self.station.components["lockin"]
        self.stm = self.station.components["stm"]
        self.lockin.time_constant(tau)
        self.lockin.filter_slope(slope)
        self.rig.stm.safe_state(SETPOINT_BIAS, SETPOINT_CURRENT)

    def close(self) -> None:
        try:
            self.rig.stm.safe_state(SETPOINT_BIAS, SETPOINT_CURRENT)
        finally:
            close_station(self.station)
            self.fridge.stop()

    def counts(self) -> dict[str, int]:
        """Requests each simulated server has parsed so far."""
        return {name: len(server.received) for name, server in self.fridge.servers.items()}

    def sweep(self, bias: np.ndarray, precision: float, **kwargs: Any) -> Any:
        if "loop" not in inspect.signature(measure_point_by_point).parameters:
            kwargs.pop("loop", None)  # an older checkout: one loop only
        return measure_point_by_point(
            self.rig,
            bias,
            setpoint_bias=SETPOINT_BIAS,
            backward=False,
            precision=precision,
            tip_settle=0.0,
            should_stop=never,
            **kwargs,
        )


#: run the timed sections against ``andreev sim`` in its own process (--in-process: no)
SEPARATE = {"process": True}


@contextlib.contextmanager
def bench(
    folder: Path, speedup: float, tau: float, slope: int = 12, process: bool | None = None
) -> Iterator[Bench]:
    b = Bench(folder, speedup, tau, slope, SEPARATE["process"] if process is None else process)
    try:
        yield b
    finally:
        b.close()


def interleaved(runners: dict[str, Callable[[int], None]], repeats: int) -> dict[str, list]:
    """One warm-up each, then ``repeats`` rounds of every runner in turn (wall s)."""
    for run in runners.values():
        run(0)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(1, repeats + 1):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(i)
            times[name].append(time.perf_counter() - t0)
    return times


# ---- 1. zero settling: ours vs dond ---------------------------------------------------
def zero_settling_runners(b: Bench, bias: np.ndarray, book: RunWriter, exp: Any) -> dict:
    """``ours`` (+ write_sweep), ``dond X`` and ``dond X,Y,I`` (into SQLite)."""
    from qcodes.dataset import LinSweep, dond

    def ours(i: int) -> None:
        (record,) = b.sweep(bias, ZERO_PRECISION)
        record.g_normal = SETPOINT_CURRENT / SETPOINT_BIAS
        record.write_to(book, i, 0, 0)

    def qcodes_dond(*measured: Any) -> Callable[[int], None]:
        def run(i: int) -> None:
            b.stm.bias(SETPOINT_BIAS)  # the hold and restore our loop does around it
            b.stm.feedback(True)
            b.stm.feedback(False)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    dond(
                        LinSweep(b.stm.bias, float(bias[0]), float(bias[-1]), bias.size),
                        *measured,
                        exp=exp,
                        measurement_name=f"dond-{i}",
                        do_plot=False,
                        show_progress=False,
                    )
            finally:
                b.stm.bias(SETPOINT_BIAS)
                b.stm.feedback(True)

        return run

    def bare(i: int) -> None:
        bare_loop = BareLoop(b.fridge)
        b.rig.stm.set_feedback(False)
        try:
            bare_loop.sweep_paired(bias)
        finally:
            bare_loop.close()
            getattr(b.stm, "forget_state", lambda: None)()  # moved behind the driver's back
            b.rig.stm.set_bias(SETPOINT_BIAS)
            b.rig.stm.set_feedback(True)

    return {
        "ours": ours,
        "dond X": qcodes_dond(b.lockin.X),
        "dond X,Y,I": qcodes_dond(b.lockin.X, b.lockin.Y, b.stm.current),
        "bare socket": bare,
    }


def zero_settling(folder: Path, points: int, repeats: int, profile: bool) -> None:
    import qcodes as qc
    from qcodes.dataset import initialise_or_create_database_at, load_or_create_experiment

    bias = np.linspace(BIAS_START, BIAS_STOP, points)
    qc.config.dataset.write_in_background = False
    initialise_or_create_database_at(folder / "dond.db")
    exp = load_or_create_experiment("acquisition-benchmark", sample_name="sim")
    with bench(folder, 1e3, MIN_TIME_CONSTANT) as b:
        snap = json.loads(snapshot_json(b.station))
        book = new_writer(folder / "ours.h5", bias, repeats + 2, snap)
        try:
            runners = zero_settling_runners(b, bias, book, exp)
            times = interleaved(runners, repeats)
            text = profile_text(runners["ours"], repeats + 1) if profile else ""
        finally:
            book.close("completed")
    print(f"\n1. zero settling: {points}-point sweep, speedup 1e3, {repeats} rounds")
    print(f"   {'':14} {'min ms':>9} {'median ms':>10} {'points/s':>10}")
    for name, t in times.items():
        lo, med = stats(t)
        print(f"   {name:14} {1e3 * lo:9.1f} {1e3 * med:10.1f} {points / med:10.0f}")
    for mine in ("ours", "bare socket"):
        ours = stats(times[mine])
        for name in ("dond X", "dond X,Y,I"):
            other = stats(times[name])
            print(
                f"   {mine + ' vs ' + name:25}: {other[0] / ours[0]:5.2f}x (min) "
                f"{other[1] / ours[1]:5.2f}x (median)"
            )
    print(
        "   (bare socket: per point SNAP?, then Current.Get + the next Bias.Set in one "
        "message, on raw sockets; no ramps, temperature, regulation or storage: the "
        "ceiling of any loop's ratio on this machine)"
    )
    if text:
        print(text)


def new_writer(path: Path, bias: np.ndarray, n_sweeps: int, snapshot: dict) -> RunWriter:
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
        snapshot=snapshot,
    )


def profile_text(run: Callable[[int], None], i: int, top: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    run(i)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return "   cProfile of one sweep (ours):\n" + out.getvalue()


# ---- 2. requests per point ---------------------------------------------------------------
def requests_per_point(folder: Path, points: int) -> None:
    with bench(folder, 1e3, MIN_TIME_CONSTANT, process=False) as b:  # counted in the servers
        b.sweep(np.linspace(BIAS_START, BIAS_STOP, points), ZERO_PRECISION)  # warm
        per_size, paired = {}, {}
        for n in (points, 2 * points):
            for server in b.fridge.servers.values():
                server.clear_received()
            before = getattr(b.stm.transport, "paired", 0)
            b.sweep(np.linspace(BIAS_START, BIAS_STOP, n), ZERO_PRECISION)
            per_size[n] = {k: Counter(s.received) for k, s in b.fridge.servers.items()}
            paired[n] = getattr(b.stm.transport, "paired", 0) - before
    print(f"\n2. requests per point at the sim ({points}- and {2 * points}-point sweeps)")
    total = 0.0
    for name in per_size[points]:
        small, big = per_size[points][name], per_size[2 * points][name]
        per_point = (sum(big.values()) - sum(small.values())) / points
        fixed = sum(small.values()) - per_point * points
        total += per_point
        commands = {c: (big[c] - small[c]) / points for c in big if big[c] != small[c]}
        shown = ", ".join(f"{c} {v:.2f}" for c, v in sorted(commands.items()))
        print(f"   {name:7} {per_point:5.2f}/point + {fixed:5.1f}/sweep   ({shown})")
    hidden = (paired[2 * points] - paired[points]) / points
    print(f"   total   {total:5.2f}/point")
    print(
        f"   exposed {total - hidden:5.2f}/point at zero settling (round trips waited for one "
        f"after the other; {hidden:.2f}/point ride in one message with another request; with "
        "a settling window of 10 ms or more the current is read inside it instead)"
    )


# ---- 3. real time -----------------------------------------------------------------------
class BareLoop:
    """Raw sockets to the simulated Nanonis and SR830: bias write, wait, ``SNAP? 1,2``."""

    def __init__(self, fridge: SimFridge) -> None:
        self.stm = socket.create_connection(fridge.addresses["stm"])
        self.lockin = socket.create_connection(fridge.addresses["lockin"])
        for sock in (self.stm, self.lockin):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lockin_file = self.lockin.makefile("rb")

    def close(self) -> None:
        self.lockin_file.close()
        self.stm.close()
        self.lockin.close()

    def set_bias(self, value: float) -> None:
        self.stm.sendall(encode_request(COMMANDS["Bias.Set"], value))
        _, size = decode_reply_header(self._recv(HEADER_SIZE))
        self._recv(size)

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.stm.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read_xy(self) -> tuple[float, float]:
        self.lockin.sendall(b"SNAP? 1,2\n")
        x, y = self.lockin_file.readline().decode().split(",")
        return float(x), float(y)

    def current_then_bias(self, value: float | None) -> None:
        """``Current.Get``, with ``Bias.Set`` to ``value`` in the same message if given."""
        request = encode_request(COMMANDS["Current.Get"])
        if value is not None:
            request += encode_request(COMMANDS["Bias.Set"], value)
        self.stm.sendall(request)
        for _ in range(1 if value is None else 2):
            _, size = decode_reply_header(self._recv(HEADER_SIZE))
            self._recv(size)

    def sweep_paired(self, bias: np.ndarray) -> None:
        """The lean loop's requests at zero settling, nothing else: per point ``SNAP?``,
        then ``Current.Get`` and the next ``Bias.Set`` in one message."""
        values = bias.tolist()
        self.set_bias(values[0])
        for n in range(len(values)):
            self.read_xy()
            self.current_then_bias(values[n + 1] if n + 1 < len(values) else None)

    def sweep(self, bias: np.ndarray, settle: float, spin: bool) -> None:
        for v in bias:
            self.set_bias(float(v))
            if spin:
                _wait_spinning(settle)
            else:
                time.sleep(settle)
            self.read_xy()

    def read_after_wait(self, settle: float, n: int) -> list[float]:
        """Wall s of ``n`` ``SNAP? 1,2`` round trips, each after a ``settle`` s wait (the
        lock-in read that ends every point, with the simulator idle meanwhile)."""
        out = []
        for _ in range(n):
            _wait_spinning(settle)
            t0 = time.perf_counter()
            self.read_xy()
            out.append(time.perf_counter() - t0)
        return out


def _wait_spinning(seconds: float) -> None:
    """Sleep until 1 ms before ``seconds`` have passed, then spin."""
    deadline = time.perf_counter() + seconds
    time.sleep(max(0.0, seconds - 1e-3))
    while time.perf_counter() < deadline:
        pass


def realtime(folder: Path, repeats: int) -> None:
    bias = np.linspace(BIAS_START, BIAS_STOP, RT_POINTS)
    with bench(folder, 1.0, RT_TAU, RT_SLOPE) as b:
        settle = b.rig.lockin.settle_time(RT_PRECISION)
        slew = b.rig.safety.max_bias_slew_rate
        steady: dict[str, list[float]] = {"lean": [], "reference": []}
        bare = BareLoop(b.fridge)

        def ours(loop: str) -> Callable[[int], None]:
            def run(i: int) -> None:
                marks: list[tuple[int, float]] = []
                b.sweep(
                    bias,
                    RT_PRECISION,
                    loop=loop,
                    on_point=lambda done, total: marks.append((done, time.perf_counter())),
                )
                (n0, t0), (n1, t1) = marks[0], marks[-1]
                steady[loop].append((t1 - t0) / ((n1 - n0) * settle) - 1.0)

            return run

        def hold_bare(spin: bool) -> Callable[[int], None]:
            def run(i: int) -> None:
                b.rig.stm.set_feedback(False)
                try:
                    bare.sweep(bias, settle, spin)
                finally:
                    # the bare loop moved the bias behind the driver's back
                    getattr(b.stm, "forget_state", lambda: None)()
                    b.rig.stm.set_bias(SETPOINT_BIAS)
                    b.rig.stm.set_feedback(True)

            return run

        runners = {
            "ours (lean)": ours("lean"),
            "ours (reference loop)": ours("reference"),
            "bare socket, sleep": hold_bare(False),
            "bare socket, spin": hold_bare(True),
        }
        try:
            times = interleaved(runners, repeats)
            after_wait = bare.read_after_wait(settle, RT_POINTS)
        finally:
            bare.close()
    total = settle * RT_POINTS
    print(
        f"\n3. real time: speedup 1, tau {RT_TAU * 1e3:g} ms, {RT_SLOPE} dB/oct, settle "
        f"{settle * 1e3:.1f} ms, {RT_POINTS} points (sum of settle {total:.3f} s), {repeats} rounds"
    )
    print(f"   {'overhead over the summed settling':34} {'min':>8} {'median':>8}")
    for name, t in times.items():
        lo, med = stats(t)
        over = (100 * (lo / total - 1), 100 * (med / total - 1))
        print(f"   {name + ', whole sweep':34} {over[0]:7.2f}% {over[1]:7.2f}%")
    for loop, values in steady.items():
        lo, med = stats(values[1:] or values)
        print(f"   {'ours (' + loop + '), steady state':34} {100 * lo:7.2f}% {100 * med:7.2f}%")
    ramps = (abs(SETPOINT_BIAS - bias[0]) + abs(bias[-1] - SETPOINT_BIAS)) / slew
    print(
        f"   of the whole sweep, the ramps V_set <-> sweep at the slew limit ({slew:g} V/s) "
        f"are {100 * ramps / total:.2f}% (physics; the driver adds a round trip per step)"
    )
    print("   (bare socket: bias write + wait + SNAP?, whole sweep; no current, no temperature)")
    read_min, read_median = stats(after_wait)
    print(
        f"   one SNAP? round trip after a {settle * 1e3:.1f} ms wait: {read_median * 1e6:.0f} µs "
        f"(median), {read_min * 1e6:.0f} µs (min) = {100 * read_median / settle:.2f}% / "
        f"{100 * read_min / settle:.2f}% of a point; with the ramps "
        f"{100 * (ramps / total + read_median / settle):.2f}% / "
        f"{100 * (ramps / total + read_min / settle):.2f}%: the floor of any loop that reads "
        "the lock-in once the settling is over"
    )


# ---- 4. controller side -----------------------------------------------------------------
def controller(folder: Path, repeats: int) -> None:
    bias = np.linspace(BIAS_START, BIAS_STOP, CONTROLLER_POINTS)
    with bench(folder, 1e3, MIN_TIME_CONSTANT) as b:

        def run(i: int) -> None:
            measure_controller_side(
                b.rig,
                bias,
                setpoint_bias=SETPOINT_BIAS,
                backward=False,
                precision=ZERO_PRECISION,
                tip_settle=0.0,
                should_stop=never,
            )

        times = interleaved({"controller": run}, repeats)["controller"]
    lo, med = stats(times)
    print(f"\n4. controller side: {CONTROLLER_POINTS}-point BiasSpectr sweep, {repeats} rounds")
    print(
        f"   {CONTROLLER_POINTS / med:9.0f} points/s (median), "
        f"{CONTROLLER_POINTS / lo:9.0f} (best); {1e3 * med:.1f} ms/sweep"
    )


# ---- 5. the demo ---------------------------------------------------------------------------
def demo(folder: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "andreev", "demo", "--out", str(folder / "demo")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    out = proc.stdout
    planned = re.search(r"estimated duration: (.*?) wall", out)
    took = re.search(r"demo took (.*) \(wall time\)", out)
    print("\n5. andreev demo")
    for line in out.splitlines():
        if "estimated duration" in line or "demo took" in line:
            print("   " + line.strip())
    if planned and took:
        ratio = seconds(planned.group(1)) / seconds(took.group(1))
        print(f"   planned / wall time: {ratio:.2f} (exit {proc.returncode}, {wall:.1f} s)")
    else:
        print(f"   exit {proc.returncode}: no estimate or no wall time in the output")


def seconds(text: str) -> float:
    """Seconds of ``format_duration``'s ``1 h 02 min``, ``3 min 05 s`` or ``12.3 s``."""
    units = {"h": 3600.0, "min": 60.0, "s": 1.0}
    parts = text.split()
    return sum(float(v) * units[u] for v, u in zip(parts[::2], parts[1::2], strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--points", type=int, default=201, help="bias points (default 201)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--no-realtime", action="store_true", help="skip section 3")
    parser.add_argument("--no-demo", action="store_true", help="skip section 5")
    parser.add_argument("--profile", action="store_true", help="cProfile one sweep of ours")
    parser.add_argument(
        "--in-process", action="store_true", help="the simulated fridge in this process"
    )
    args = parser.parse_args(argv)
    SEPARATE["process"] = not args.in_process
    if args.points < 2 or args.repeats < 1:
        parser.error("need --points >= 2 and --repeats >= 1")
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="andreev-bench-") as tmp:
        folder = Path(tmp)
        zero_settling(folder, args.points, args.repeats, args.profile)
        requests_per_point(folder, args.points)
        if not args.no_realtime:
            realtime(folder, max(3, args.repeats // 2 + 1))
        controller(folder, args.repeats)
        if not args.no_demo:
            demo(folder)
    print(f"\nbenchmark wall time {time.perf_counter() - wall0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
