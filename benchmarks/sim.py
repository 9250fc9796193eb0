"""Benchmark: the simulated fridge's server-side cost per request, next to a bare echo.

Run as ``python benchmarks/sim.py [--runs N]``. Prints figures, asserts nothing. Measures,
in one run:

- the machine's baseline: its load, a bare loopback echo server (round trip, the floor
  any request pays) and a pure-Python stand-in for a request (a third of a handler's work,
  no andreev code), so the figures can be judged on a slow or loaded machine;
- the round trip of ``Bias.Set``, ``Current.Get`` (Nanonis), ``SNAP? 1,2`` (SR830) and
  ``KRDG? A`` (372) over loopback TCP, and their server-side cost (the handler called
  in-process, what a request costs beyond the socket), at biases inside and outside the
  gap and across ±max_bias, feedback on and off, with the temperature moving, and at 1 K
  (median and min; the target is on the median; ``--runs N`` repeats these on fresh
  fridges and adds the range of the runs' medians: this VM's medians swing 2-3× with its
  load). Each request is timed two ways, with the same world time (0.2 s) passing
  before it, so the same physics runs (the same thermal intervals crossed):

  * **paced**: 200 µs of wall time spun before each request, as the clock runs;
  * **warm**: back to back, the world clock moved on by hand: the code's own cost, on a
    CPU still warm from the previous request.

  The stand-in is timed both ways too: its paced/warm ratio is what this machine adds to
  any code that runs after a pause (a virtual CPU's exits to the hypervisor in between
  cold its caches and branch predictors), not something the sim's code can remove;
- ``BiasSpectr.Start`` with 1000 points: server compute (wall time minus the world time
  slept on the clock);
- an idle simulator: the first request after a long idle gap (world time jumped);
- the thermal model's throughput (world s per wall s while polled every 0.5 s of world
  time) against the highest speedup the config allows (:data:`andreev.sim.world.MAX_SPEEDUP`).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import socketserver
import statistics
import struct
import threading
import time
from collections.abc import Callable

import numpy as np

from andreev.sim import SimConfig, SimFridge, World
from andreev.sim.thermal import ThermalParams

SPEEDUP = 1000.0
MAX_BIAS = 0.1  # V, safety.max_bias of config/sim.yaml
N_REQUESTS = 300
TARGET_US = 20.0
SWEEP_POINTS = 1000


def _nanonis_frame(name: str, body: bytes = b"") -> bytes:
    return struct.pack(">32siH2x", name.encode(), len(body), 1) + body


def _median_us(samples: list[float]) -> float:
    return 1e6 * statistics.median(samples)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


def echo_round_trip() -> list[float]:
    """Round trips (s) of a 40-byte message through a bare loopback echo server."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = b"x" * 40
            times = []
            for _ in range(N_REQUESTS):
                t0 = time.perf_counter()
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    got += s.recv(4096)
                times.append(time.perf_counter() - t0)
        return times
    finally:
        server.shutdown()
        server.server_close()


PACING = 200e-6  # s of wall time before each request: 0.2 s of world time at SPEEDUP
#: how a request is preceded (see the module docstring): a pacing per world
Pacing = Callable[[World], Callable[[], None]]


def paced(world: World) -> Callable[[], None]:
    """Spin :data:`PACING` s of wall time (the world clock runs on meanwhile)."""

    def spin() -> None:
        deadline = time.perf_counter() + PACING
        while time.perf_counter() < deadline:
            pass

    return spin


def skip_wall_time(world: World, seconds: float) -> None:
    """Move ``world``'s clock on as if ``seconds`` of wall time had passed, at once (the
    Clock has no public way: only a benchmark wants time to pass without waiting)."""
    world.clock._wall_start -= seconds


def warm(world: World) -> Callable[[], None]:
    """Move ``world``'s clock on by :data:`PACING` s of wall time without waiting (the
    same world time passes as when paced; the CPU stays warm)."""
    return lambda: skip_wall_time(world, PACING)


PACINGS: dict[str, Pacing] = {"paced": paced, "warm": warm}


def _timed(call: Callable[[], object], before: Callable[[], None]) -> list[float]:
    """Wall s of each of :data:`N_REQUESTS` calls, ``before()`` run (untimed) before each."""
    out = []
    for _ in range(N_REQUESTS):
        before()
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def _requests(fridge: SimFridge) -> dict[str, Callable[[], object]]:
    stm, lockin, bridge = (fridge.servers[n] for n in ("stm", "lockin", "bridge"))
    return {
        "Current.Get": lambda: stm.execute("Current.Get", b""),
        "SNAP? 1,2": lambda: lockin.handle_command("SNAP? 1,2"),
        "KRDG? A": lambda: bridge.handle_command("KRDG? A"),
    }


def server_side(fridge: SimFridge, pacing: Pacing) -> dict[str, list[float]]:
    """In-process handler cost (s) per call of each command at several biases, with the
    feedback on (the tip following the bias) and off (held, as in a sweep), at base
    temperature, then with the temperature moving (heater on in open loop)."""
    stm, lockin = fridge.servers["stm"], fridge.servers["lockin"]
    world = fridge.world
    before = pacing(world)
    results: dict[str, list[float]] = {}
    biases = [10e-3, 0.3e-3, -2e-3, 0.05, -MAX_BIAS, MAX_BIAS]
    for feedback in (1, 2):  # on, off (Nanonis flag)
        stm.execute("ZCtrl.OnOffSet", struct.pack(">I", feedback))
        for bias in biases:
            body = struct.pack(">f", bias)
            stm.execute("Bias.Set", body)
            results.setdefault("Bias.Set", []).extend(
                _timed(lambda body=body: stm.execute("Bias.Set", body), before)
            )
            for name, call in _requests(fridge).items():
                results.setdefault(name, []).extend(_timed(call, before))
    # the same servers without physics: their framing and parsing alone
    results["*IDN? (no physics)"] = _timed(lambda: lockin.handle_command("*IDN?"), before)
    results["Util.VersionGet (no physics)"] = _timed(
        lambda: stm.execute("Util.VersionGet", b""), before
    )
    # the temperature moving: heater on in open loop, requests while it warms (the tip
    # first settled under feedback at 1 mV, so what moves is the temperature)
    stm.execute("ZCtrl.OnOffSet", struct.pack(">I", 1))
    stm.execute("Bias.Set", struct.pack(">f", 1e-3))
    time.sleep(10.0 / SPEEDUP)
    with world.lock:
        world.advance()
        world.thermal.output.range = 5
        world.thermal.set_mode(2)
        world.thermal.output.manual = 60.0
    for name, call in _requests(fridge).items():
        results[f"{name} (T moving)"] = _timed(call, before)
    with world.lock:
        world.advance()
        world.thermal.output.range = 0
    return results


def at_one_kelvin(pacing: Pacing) -> dict[str, list[float]]:
    """The same requests on a fridge regulated at 1 K (closed loop, the 1 K band of
    config/sim.yaml), feedback on, at 10 mV and at max_bias."""
    thermal = ThermalParams(initial_temperature=1.0)
    results: dict[str, list[float]] = {}
    with SimFridge(World(SimConfig(speedup=SPEEDUP, thermal=thermal))) as fridge:
        with fridge.world.lock:
            model = fridge.world.thermal
            model.set_range(5)
            model.set_pid(5.0, 40.0, 0.0)
            model.set_setpoint(1.0)
            model.set_mode(5, "A")
        stm = fridge.servers["stm"]
        before = pacing(fridge.world)
        for bias in (10e-3, MAX_BIAS):
            body = struct.pack(">f", bias)
            results.setdefault("Bias.Set (1 K)", []).extend(
                _timed(lambda body=body: stm.execute("Bias.Set", body), before)
            )
            for name, call in _requests(fridge).items():
                results.setdefault(f"{name} (1 K)", []).extend(_timed(call, before))
    return results


class _StandIn:
    """A pure-Python stand-in for a request, no andreev code (about a third of a handler's work):
    parse a command, advance a two-variable state by a fourth-order Runge-Kutta step,
    filter it through two exponential stages, format a two-number reply."""

    def __init__(self) -> None:
        self.state = [0.05, 0.05]
        self.stages = [0.0, 0.0]
        self.handlers = {"SNAP": self._snap}

    @staticmethod
    def _deriv(a: float, b: float) -> tuple[float, float]:
        return (1e-3 - (a - 0.01) * 0.2, (a - b) * 0.5)

    def _advance(self, h: float) -> None:
        a, b = self.state
        k1 = self._deriv(a, b)
        k2 = self._deriv(a + 0.5 * h * k1[0], b + 0.5 * h * k1[1])
        k3 = self._deriv(a + 0.5 * h * k2[0], b + 0.5 * h * k2[1])
        k4 = self._deriv(a + h * k3[0], b + h * k3[1])
        self.state = [
            a + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            b + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]),
        ]

    def _filter(self, h: float) -> tuple[float, float]:
        decay = math.exp(-h / 0.1)
        u = self.state[1]
        for k in range(2):
            self.stages[k] = u + (self.stages[k] - u) * decay
            u = self.stages[k]
        return u, -0.1 * u

    def _snap(self, args: list[str]) -> str:
        self._advance(0.2)
        x, y = self._filter(0.2)
        return f"{x:.6g},{y:.6g}"

    def __call__(self, command: str) -> str:
        name, _, rest = command.partition("?")
        return self.handlers[name](rest.strip().split(","))


def python_baseline(pacing: Pacing, world: World) -> list[float]:
    """The stand-in (:class:`_StandIn`, s per call), timed like the requests."""
    stand_in = _StandIn()
    return _timed(lambda: stand_in("SNAP? 1,2"), pacing(world))


def round_trips(fridge: SimFridge) -> dict[str, float]:
    """Median loopback round trip (s) of each command (paced)."""
    out = {}
    spin = paced(fridge.world)
    with socket.create_connection(fridge.addresses["stm"]) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for name, body in (("Bias.Set", struct.pack(">f", 10e-3)), ("Current.Get", b"")):
            frame = _nanonis_frame(name, body)

            def call(frame: bytes = frame) -> None:
                s.sendall(frame)
                head = s.recv(40, socket.MSG_WAITALL)
                size = struct.unpack(">32siH2x", head)[1]
                s.recv(size, socket.MSG_WAITALL)

            out[name] = statistics.median(_timed(call, spin))
    for server, cmd in (("lockin", "SNAP? 1,2"), ("bridge", "KRDG? A")):
        with socket.create_connection(fridge.addresses[server]) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            f = s.makefile("rb")

            def call(cmd: str = cmd, s: socket.socket = s, f: object = f) -> None:
                s.sendall(cmd.encode() + b"\n")
                f.readline()  # type: ignore[attr-defined]

            out[cmd] = statistics.median(_timed(call, spin))
    return out


def held_sweep(fridge: SimFridge) -> tuple[float, float]:
    """(wall s, wall s spent in Clock.sleep) of a 1000-point BiasSpectr.Start, best of 3."""
    stm = fridge.servers["stm"]
    clock = fridge.world.clock
    slept = [0.0]
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:
        t0 = time.perf_counter()
        real_sleep(seconds)
        slept[0] += time.perf_counter() - t0

    clock.sleep = sleep  # type: ignore[method-assign]
    stm.execute("BiasSpectr.ChsSet", struct.pack(">iii", 2, 0, 3))
    props = struct.pack(">HiHifHH", 0, 1, 0, SWEEP_POINTS, 0.0, 0, 0)
    stm.execute("BiasSpectr.PropsSet", props)
    stm.execute("BiasSpectr.LimitsSet", struct.pack(">ff", -5e-3, 5e-3))
    # no settling or integration time: what is left is compute (and the slew at 1000 V/s)
    timing = struct.pack(">8f", 0.0, 0.0, 0.0, 1000.0, 0.0, 0.0, 0.0, 0.0)
    stm.execute("BiasSpectr.TimingSet", timing)
    best = (float("inf"), 0.0)
    for _ in range(3):
        slept[0] = 0.0
        w0 = time.perf_counter()
        stm.execute("BiasSpectr.Start", struct.pack(">Ii", 1, 0))
        wall = time.perf_counter() - w0
        if wall - slept[0] < best[0] - best[1]:
            best = (wall, slept[0])
    clock.sleep = real_sleep  # type: ignore[method-assign]
    return best


def idle_catch_up() -> float:
    """Wall s of the first request after 30 days of world time idle (speedup 1000)."""
    world = World(SimConfig(speedup=SPEEDUP))
    with world.lock:
        world.thermal.output.range = 4
        world.thermal.set_setpoint(0.5)
        world.thermal.set_mode(5)
        world.advance()
        skip_wall_time(world, 30 * 86400 / SPEEDUP)  # 30 days pass in an instant
        t0 = time.perf_counter()
        world.advance()
        return time.perf_counter() - t0


def thermal_throughput() -> float:
    """World s per wall s the thermal model sustains in closed loop, polled every 0.5 s."""
    from andreev.sim.thermal import ThermalModel

    model = ThermalModel(ThermalParams(), np.random.default_rng(1), 0.0)
    model.output.range = 4
    model.set_setpoint(0.3)
    model.set_mode(5)
    t, w0 = 0.0, time.perf_counter()
    while time.perf_counter() - w0 < 0.5:
        for _ in range(100):
            t += 0.5
            model.advance(t)
    return t / (time.perf_counter() - w0)


def _figures(samples: list[float]) -> str:
    return f"{_median_us(samples):8.1f} {1e6 * min(samples):7.1f}"


Samples = dict[str, list[float]]


def _server_runs(runs: int) -> tuple[dict[str, list[Samples]], dict[str, float], float, float]:
    """``runs`` repetitions of the server-side figures per pacing (each on a fresh fridge,
    the pacings alternated), and once: the round trips and the held sweep (wall s,
    slept s)."""
    out: dict[str, list[Samples]] = {mode: [] for mode in PACINGS}
    trips, sweep = {}, (0.0, 0.0)
    for k in range(runs):
        for mode, pacing in PACINGS.items():
            with SimFridge(World(SimConfig(speedup=SPEEDUP))) as fridge:
                server = server_side(fridge, pacing)
                if k == 0 and mode == "paced":
                    trips = round_trips(fridge)
                    sweep = held_sweep(fridge)
            server.update(at_one_kelvin(pacing))
            out[mode].append(server)
    return out, trips, *sweep


def _verdict(name: str, median_us: float) -> str:
    if "no physics" in name:
        return "  "
    return "ok" if median_us <= TARGET_US else "--"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat the server-side figures (range of medians)"
    )
    runs = max(parser.parse_args().runs, 1)
    try:
        from andreev.sim.world import MAX_SPEEDUP
    except ImportError:  # before the speedup limit existed
        MAX_SPEEDUP = float("nan")
    load_before = os.getloadavg()[0]
    echo = echo_round_trip()
    world = World(SimConfig(speedup=SPEEDUP))
    stand_in = {mode: python_baseline(pacing, world) for mode, pacing in PACINGS.items()}
    results, trips, sweep_wall, sweep_slept = _server_runs(runs)
    stand_in_again = {mode: python_baseline(pacing, world) for mode, pacing in PACINGS.items()}
    print(
        f"machine: {os.cpu_count()} cores, load average {load_before:.2f} → "
        f"{os.getloadavg()[0]:.2f} (1 min, before → after)"
    )
    print(f"bare loopback echo round trip (median, min): {_figures(echo)} µs")
    penalty = []
    for mode in PACINGS:
        samples = stand_in[mode] + stand_in_again[mode]
        penalty.append(statistics.median(samples))
        print(f"pure-Python stand-in for a request, {mode} (median, min): {_figures(samples)} µs")
    print(
        f"  this machine's cost of a pause: the stand-in's paced median is "
        f"{penalty[0] / penalty[1]:.1f}× its warm one (same code, same work)"
    )
    print(
        f"server-side cost per request, µs (paced: {PACING * 1e6:g} µs spun before each; "
        f"warm: back to back, the world clock moved on by as much); target: median ≤ "
        f"{TARGET_US:g} µs" + (f"; the range of {runs} runs' medians" if runs > 1 else "")
    )
    print(
        f"{'request':28s} {'paced':>16s}    {'warm':>16s}    {'round trip':>10s}"
        + (f"   {'paced range':>12s} {'warm range':>12s}" if runs > 1 else "")
    )
    heads = f"{'median':>8s} {'min':>7s}   "
    print(f"{'':28s} {heads} {heads} {'median µs':>10s}")
    for name in results["paced"][0]:
        line = f"{name:28s}"
        ranges = ""
        for mode in PACINGS:
            samples = [x for run in results[mode] for x in run[name]]
            line += f" {_figures(samples)} {_verdict(name, _median_us(samples))}"
            medians = [1e6 * statistics.median(run[name]) for run in results[mode]]
            ranges += f"   {min(medians):5.1f}–{max(medians):5.1f}"
        trip = trips.get(name.split(" (")[0])
        line += f" {trip * 1e6:10.1f}" if trip is not None else f" {'':10s}"
        print(line + (ranges if runs > 1 else ""))
    compute = sweep_wall - sweep_slept
    print(
        f"BiasSpectr.Start {SWEEP_POINTS} points: {sweep_wall * 1e3:.2f} ms wall, "
        f"{sweep_slept * 1e3:.2f} ms asleep on the world clock, "
        f"{compute * 1e3:.2f} ms compute (target ≤ 5 ms)"
    )
    print(f"first request after 30 days idle (speedup {SPEEDUP:g}): {idle_catch_up() * 1e3:.2f} ms")
    rate = thermal_throughput()
    print(
        f"thermal model: {rate:.3g} world s per wall s in closed loop; "
        f"max speedup {MAX_SPEEDUP:g} uses {MAX_SPEEDUP / rate:.0%} of a core"
    )


if __name__ == "__main__":
    main()
