"""Scaling of ``andreev analyze`` on Dask: fits per second on the serial loop, on local
clusters of 1 and 2 worker processes, and on a ``dask scheduler`` with two ``dask worker``
processes started here on 127.0.0.1; the per-task overhead; parallel efficiency at 2
workers; the projection for 16 k fits on 8 machines × 8 cores.

The run: a line of ``N_OUTER`` tip positions × (1 nA tunnelling, 1 µA contact) × forward,
backward, 1000-point spectra (half Dynes fits, half contact fits with the film model),
written to a temporary file. The clusters are started and warmed (imports, first fit)
before the clock runs; the timed part is ``analyze_files`` (tasks and the client's
run-level steps), the same work the serial loop times. Prints figures only (no asserts).

The serial loop runs twice: in this process at its best (numpy's BLAS may use every
core), and in a subprocess with one BLAS thread, as each Dask worker runs (distributed's
nanny sets ``OMP_NUM_THREADS=1`` and its kin for the workers it starts; the workers' own
settings are printed). Parallel efficiency compares a worker with that one-core loop
(work per core); the speed-up over the loop at its best is printed beside it. The
machine's own ceiling is measured too: two such one-thread loops at once, in two plain
processes (no Dask), against one alone; on a VM whose two cores slow each other down (or
that other jobs share) no scheduler can do better than that ceiling.

Every configuration runs once per round, the rounds interleaved (``--rounds N``, default
3): this VM's speed swings between runs, so the figures are the best (min wall time) of
each and, per round, the efficiency against that round's own one-thread loop (the
fair comparison: min / median / max over the rounds). Beside the
wall times: the CPU seconds our processes used (client, scheduler, workers), the share of
the two cores they got (CPU / (2 × wall)) and, on Linux, the CPU seconds other jobs took
meanwhile (``/proc/stat``): with the kernel's autogroup scheduling each session gets an
equal share of the cores whatever its processes' nice values, so two workers beside
another session's busy process get one core between them. The efficiency on the CPU the
workers did get (one-thread loop CPU / cluster CPU) and the workers' utilisation (task
compute over workers × wall, from Dask's task stream) separate what Dask costs from
what the machine withholds.
Run from the repository root: PYTHONPATH=$PWD python benchmarks/analysis_scaling.py
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from andreev.analysis import distributed, report
from andreev.physics import FilmModel
from andreev.storage import RunWriter

N_OUTER = 16
SETPOINTS = (1e-9, 1e-6)  # A
V_SET, V_MOD = 2e-3, 10e-6  # V
BIAS = np.linspace(-1.5e-3, 1.5e-3, 1000)  # V
NOOP_TASKS = 400
MAP_FITS, MAP_CORES = 16_000, 8 * 8


def write_run(path: Path, n_outer: int) -> Path:
    """A position line of ``n_outer`` steps (T = 0.1 K) with the sim's film model."""
    rng = np.random.default_rng(1)
    film = FilmModel()
    with RunWriter.create(
        path,
        outer_name="position",
        outer_values=np.arange(n_outer, dtype=float),
        outer_unit="1",
        setpoints=SETPOINTS,
        bias=BIAS,
        directions=("forward", "backward"),
        setpoint_bias=V_SET,
        v_mod_rms=V_MOD,
        config_yaml="benchmark: true\n",
        snapshot={"source": "benchmarks/analysis_scaling.py"},
    ) as w:
        for i in range(n_outer):
            for j, i_set in enumerate(SETPOINTS):
                g_n = i_set / V_SET
                for k in range(2):
                    g = film.conductance(BIAS, g_n, 0.1, V_MOD)
                    g = g + 0.004 * g_n * rng.standard_normal(BIAS.size)
                    w.write_sweep(
                        i, j, k, didv=g, x=g, y=0 * g, current=np.cumsum(g) * 3e-6,
                        temperature=0.1, z=1e-9, timestamp=1.7e9 + i, g_normal=g_n,
                    )  # fmt: skip
    return path


def _noop(x: int) -> int:
    return x


def task_overhead(client: Any) -> float:
    """Wall time per no-op task (s) through the scheduler, tasks submitted at once."""
    client.gather(client.map(_noop, range(20), pure=False))
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(NOOP_TASKS), pure=False))
    return (time.perf_counter() - t0) / NOOP_TASKS


ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def _blas_env() -> dict[str, str]:
    """The BLAS thread settings of this process's environment ("unset" where absent)."""
    return {name: os.environ.get(name, "unset") for name in ONE_THREAD}


#: this process's BLAS settings when it started (a LocalCluster's nanny, running in this
#: process, sets them to 1 in os.environ before it spawns a worker; numpy read them at
#: import: unset, OpenBLAS uses every core)
BLAS_AT_START = _blas_env()


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores; NaN off Linux)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return math.nan
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measure:
    """One timed configuration: wall s, our CPU s, the machine's busy CPU s meanwhile,
    per-task overhead s and worker utilisation (NaN for the serial loops)."""

    wall: float
    cpu: float
    machine: float
    overhead: float = math.nan
    util: float = math.nan

    @property
    def others(self) -> float:
        """CPU s other jobs used during the measurement."""
        return max(0.0, self.machine - self.cpu)


def timed_cluster(
    make: Callable[[], AbstractContextManager[Any]], run: Path, warm: Path
) -> tuple[Measure, dict[str, str]]:
    """analyze_files on ``run`` on a fresh, warmed cluster, and the workers' BLAS settings."""
    from distributed import get_task_stream

    with make() as client:
        list(distributed.analyze_files([warm], client))
        n_threads = sum(client.nthreads().values())
        remote = client.cluster is None  # a scheduler of its own process

        def cpu() -> float:
            total = time.process_time() + sum(client.run(time.process_time).values())
            return total + (client.run_on_scheduler(time.process_time) if remote else 0.0)

        c0, m0 = cpu(), machine_busy()
        with get_task_stream(client) as stream:
            t0 = time.perf_counter()
            list(distributed.analyze_files([run], client))
            wall = time.perf_counter() - t0
        c1, m1 = cpu(), machine_busy()
        busy = sum(
            ss["stop"] - ss["start"]
            for task in stream.data
            for ss in task["startstops"]
            if ss["action"] == "compute"
        )
        env = next(iter(client.run(_blas_env).values()))
        measure = Measure(wall, c1 - c0, m1 - m0, task_overhead(client), busy / (n_threads * wall))
        return measure, env


@contextmanager
def remote_client() -> Iterator[Any]:
    """A client of a ``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client

    with distributed.local_scheduler(2) as address, Client(address) as client:
        yield client


def serial_seconds(run: Path, warm: Path) -> tuple[float, float]:
    """(wall s, CPU s) of the serial loop over ``run`` in this process (after a warm-up)."""
    report.analyze_file(warm)
    t0, c0 = time.perf_counter(), time.process_time()
    report.analyze_file(run)
    return time.perf_counter() - t0, time.process_time() - c0


def serial_in_process(run: Path, warm: Path) -> Measure:
    m0 = machine_busy()
    wall, cpu = serial_seconds(run, warm)
    return Measure(wall, cpu, machine_busy() - m0)


def serial_one_thread(runs: list[Path], warm: Path) -> Measure:
    """The serial loop over each of ``runs``, each in its own subprocess with one BLAS
    thread (as a Dask worker), all at once (two runs: the machine's ceiling): the
    longest wall s and the CPU s of all the timed loops (the machine's CPU is not
    measured: the subprocesses' imports and warm-ups overlap the timed part)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "import analysis_scaling as b;"
        "print(*b.serial_seconds(Path(sys.argv[2]), Path(sys.argv[3])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(Path(__file__).parent), str(run), str(warm)],
            env={**os.environ, **ONE_THREAD},
            stdout=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    outs = [p.communicate()[0].split()[-2:] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError("a serial loop failed")
    walls, cpus = [float(w) for w, _ in outs], [float(c) for _, c in outs]
    return Measure(max(walls), sum(cpus), math.nan)


CONFIGS = (
    "serial loop, BLAS on every core",
    "serial loop, one BLAS thread",
    "2 plain processes at once (ceiling)",
    "LocalCluster 1 worker",
    "LocalCluster 2 workers",
    "dask scheduler + 2 dask workers",
)
BLAS_SEEN: dict[str, dict[str, str]] = {}


def one_round(run: Path, other: Path, warm: Path) -> dict[str, Measure]:
    """Every configuration once."""
    out = {CONFIGS[0]: serial_in_process(run, warm)}
    out[CONFIGS[1]] = serial_one_thread([run], warm)
    out[CONFIGS[2]] = serial_one_thread([run, other], warm)
    for n, name in ((1, CONFIGS[3]), (2, CONFIGS[4])):
        out[name], env = timed_cluster(lambda n=n: distributed.dask_client(n), run, warm)
    out[CONFIGS[5]], remote_env = timed_cluster(remote_client, run, warm)
    BLAS_SEEN.update({"LocalCluster workers": env, "dask worker processes": remote_env})
    return out


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    rounds_n = parser.parse_args().rounds
    n_fits = N_OUTER * len(SETPOINTS) * 2
    rounds: list[dict[str, Measure]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run.h5", N_OUTER)
        other = write_run(Path(tmp) / "other.h5", N_OUTER)
        warm = write_run(Path(tmp) / "warm.h5", 1)
        print(f"{n_fits} fits ({n_fits // 2} Dynes, {n_fits // 2} contact with film) per run")
        for r in range(rounds_n):
            before = _loadavg()
            rounds.append(one_round(run, other, warm))
            load = f"load average {before} → {_loadavg()}"
            print(f"round {r + 1}: {load}; {_efficiencies(rounds[-1])}", flush=True)
    print(
        f"BLAS threads: serial loop at its best {BLAS_AT_START} (numpy's OpenBLAS: unset = "
        f"every core); the one-thread loop and the 2 plain processes {ONE_THREAD}; "
        + "; ".join(f"{k} {v}" for k, v in BLAS_SEEN.items())
    )
    for name in CONFIGS:
        _row(name, [r[name] for r in rounds], n_fits)
    best = {name: min((r[name] for r in rounds), key=lambda m: m.wall) for name in CONFIGS}
    print("best of each: " + _efficiencies(best))
    per_round = {
        label: [r[CONFIGS[1]].wall / (k * r[name].wall) for r in rounds]
        for label, name, k in (
            ("LocalCluster", CONFIGS[4], 2),
            ("scheduler + workers", CONFIGS[5], 2),
            ("machine ceiling", CONFIGS[2], 1),
        )
    }
    print(
        "efficiency at 2 workers per round (each against its own round's one-thread loop), "
        "min / median / max: "
        + "; ".join(
            f"{label} {min(v):.0%} / {statistics.median(v):.0%} / {max(v):.0%}"
            for label, v in per_round.items()
        )
    )
    over = statistics.median(r[CONFIGS[5]].overhead for r in rounds)
    eff = statistics.median(per_round["scheduler + workers"])
    t_fit = statistics.median(r[CONFIGS[1]].wall for r in rounds) / n_fits
    project(t_fit, max(eff, 1e-3), over)


def _row(name: str, ms: list[Measure], n_fits: int) -> None:
    walls = [m.wall for m in ms]
    best = min(walls)
    text = (
        f"{name:36s} best {best:6.2f} s ({n_fits / best:5.2f} fits/s), median "
        f"{statistics.median(walls):6.2f} s; CPU {min(m.cpu for m in ms):.1f}–"
        f"{max(m.cpu for m in ms):.1f} s"
    )
    if math.isfinite(ms[0].overhead):
        share = [m.cpu / (2 * m.wall) for m in ms]
        others = [m.others for m in ms]
        text += (
            f", got {min(share):.0%}–{max(share):.0%} of 2 cores (others' jobs "
            f"{min(others):.1f}–{max(others):.1f} CPU s meanwhile), task overhead "
            f"{min(m.overhead for m in ms) * 1e3:.1f}–{max(m.overhead for m in ms) * 1e3:.1f} "
            f"ms, workers busy {min(m.util for m in ms):.0%}–{max(m.util for m in ms):.0%}"
        )
    print(text)


def _efficiencies(ms: dict[str, Measure]) -> str:
    """Parallel efficiency at 2 workers against the one-thread loop (wall, and on the CPU
    the cluster got), the machine's ceiling, the speed-up over the loop at its best."""
    w = {name: m.wall for name, m in ms.items()}
    one, best = ms[CONFIGS[1]], w[CONFIGS[0]]
    local, remote = ms[CONFIGS[4]], ms[CONFIGS[5]]
    return (
        f"efficiency at 2 workers: LocalCluster {one.wall / (2 * local.wall):.0%}, scheduler "
        f"+ workers {one.wall / (2 * remote.wall):.0%} (machine ceiling "
        f"{one.wall / w[CONFIGS[2]]:.0%}; the cluster got {local.cpu / (2 * local.wall):.0%}, "
        f"{remote.cpu / (2 * remote.wall):.0%} of 2 cores, others' jobs {local.others:.1f}, "
        f"{remote.others:.1f} CPU s; on the CPU it got {one.cpu / local.cpu:.0%}, "
        f"{one.cpu / remote.cpu:.0%}; LocalCluster 2 against 1 worker "
        f"{w[CONFIGS[3]] / (2 * local.wall):.0%}); speed-up over the loop at its best: "
        f"{best / local.wall:.2f}× local, {best / remote.wall:.2f}× scheduler"
    )


def project(t_fit: float, efficiency: float, overhead: float) -> None:
    """The 16 k-fit map on 8 × 8 cores: compute (the one-thread loop's median time per
    fit) spread over the cores at the median efficiency of scheduler + workers, plus the
    scheduler's per-task overhead (counted as if serial, an upper bound: the scheduler
    works while the workers fit)."""
    sizes = [len(c) for c in distributed.chunked(list(range(MAP_FITS)), MAP_CORES)]
    compute = MAP_FITS * t_fit / (MAP_CORES * min(1.0, efficiency))
    sched = len(sizes) * overhead
    print(
        f"projection, {MAP_FITS} fits on {MAP_CORES} cores: {len(sizes)} tasks of "
        f"{sizes[-1]}–{sizes[0]} sweeps; {MAP_FITS * t_fit / 60:.1f} min serial → "
        f"{(compute + sched):.0f} s ({compute:.0f} s fits at {min(1.0, efficiency):.0%} "
        f"efficiency + {sched:.2f} s scheduling)"
    )


if __name__ == "__main__":
    main()
