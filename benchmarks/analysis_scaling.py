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
nanny sets ``OMP_NUM_THREADS=1`` and its kin for the workers it starts). Parallel
efficiency compares a worker with that one-core loop (work per core); the speed-up over
the loop at its best is printed beside it.
Run from the repository root: PYTHONPATH=$PWD python benchmarks/analysis_scaling.py
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


def timed_cluster(
    make: Callable[[], AbstractContextManager[Any]],
    run: Path,
    warm: Path,
) -> tuple[float, float]:
    """(wall time s of analyze_files on ``run``, per-task overhead s) on a fresh cluster."""
    with make() as client:
        list(distributed.analyze_files([warm], client))
        t0 = time.perf_counter()
        list(distributed.analyze_files([run], client))
        wall = time.perf_counter() - t0
        return wall, task_overhead(client)


@contextmanager
def remote_client() -> Iterator[Any]:
    """A client of a ``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1."""
    from distributed import Client

    with distributed.local_scheduler(2) as address, Client(address) as client:
        yield client


ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def serial_seconds(run: Path, warm: Path) -> float:
    """Wall s of the serial loop over ``run`` in this process (after one warm-up)."""
    report.analyze_file(warm)
    t0 = time.perf_counter()
    report.analyze_file(run)
    return time.perf_counter() - t0


def serial_one_thread(run: Path, warm: Path) -> float:
    """Wall s of the serial loop in a subprocess with one BLAS thread (as a Dask worker)."""
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "import analysis_scaling as b;"
        "print(b.serial_seconds(Path(sys.argv[2]), Path(sys.argv[3])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(Path(__file__).parent), str(run), str(warm)],
        env={**os.environ, **ONE_THREAD},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = write_run(Path(tmp) / "run.h5", N_OUTER)
        warm = write_run(Path(tmp) / "warm.h5", 1)
        n_fits = N_OUTER * len(SETPOINTS) * 2
        best = serial_seconds(run, warm)
        one = serial_one_thread(run, warm)
        rows = [("serial loop, BLAS on every core", best, math.nan)]
        rows.append(("serial loop, one BLAS thread", one, math.nan))
        for n in (1, 2):
            wall, over = timed_cluster(lambda n=n: distributed.dask_client(n), run, warm)
            rows.append((f"LocalCluster {n} worker(s)", wall, over))
        wall, over = timed_cluster(remote_client, run, warm)
        rows.append(("dask scheduler + 2 dask workers", wall, over))
    print(f"{n_fits} fits ({n_fits // 2} Dynes, {n_fits // 2} contact with film) per run")
    for name, wall, over in rows:
        extra = f", task overhead {over * 1e3:.2f} ms" if math.isfinite(over) else ""
        print(f"{name:34s} {wall:7.2f} s  {n_fits / wall:6.2f} fits/s{extra}")
    local2, remote2 = rows[3][1], rows[4][1]
    print(
        f"parallel efficiency at 2 workers (against the one-thread loop): local "
        f"{one / (2 * local2):.0%}, scheduler {one / (2 * remote2):.0%}; local 2 against "
        f"local 1 worker: {rows[2][1] / (2 * local2):.0%}; speed-up over the loop at its "
        f"best: local {best / local2:.2f}×, scheduler {best / remote2:.2f}×"
    )
    project(one / n_fits, max(one / (2 * remote2), 1e-3), rows[4][2])


def project(t_fit: float, efficiency: float, overhead: float) -> None:
    """The 16 k-fit map on 8 × 8 cores: compute spread over the cores at the measured
    efficiency, plus the scheduler's per-task overhead (serial at the scheduler)."""
    chunks = distributed.chunked(list(range(MAP_FITS)), MAP_CORES)
    compute = MAP_FITS * t_fit / (MAP_CORES * min(1.0, efficiency))
    sched = len(chunks) * overhead
    print(
        f"projection, {MAP_FITS} fits on {MAP_CORES} cores: {len(chunks)} tasks of "
        f"≤ {len(chunks[0])} sweeps; {MAP_FITS * t_fit / 60:.1f} min serial → "
        f"{(compute + sched):.0f} s ({compute:.0f} s fits at {min(1.0, efficiency):.0%} "
        f"efficiency + {sched:.2f} s scheduling)"
    )


if __name__ == "__main__":
    main()
