"""The per-sweep fits of runs as Dask tasks (``andreev analyze --workers/--scheduler``).

The run-level steps stay on the client, exactly as the serial path does them
(``andreev.analysis.report``): ``prepare`` (point noise, the drift pooled over the run,
which setpoints are tunnelling) before the fits, ``finish`` (measured G_N, directions,
Δc(T) closing) after. In between the fits fan out in three waves:

1. the Dynes fits of the tunnelling sweeps (their Δ feeds the contact fits);
2. in a temperature series, per (setpoint, direction) the coldest contact sweeps up to
   the first film fit whose weight, Z_A, Γ_A the warmer sweeps hold (one task per chain);
3. every other contact sweep, with the held weight, Z_A, Γ_A.

A task gets the file's path and a chunk of sweep indices with their scalar inputs, and
reads the dI/dV of those sweeps itself (``andreev.storage.reader.open_read``: read-only,
SWMR); it returns the fit results. The fits are deterministic (the only random draws,
in ``andreev.analysis.peaks``, are seeded), so the numbers equal the serial path's. The
caller writes each file's results (one process per file). Dask is imported only inside
functions, so ``import andreev.analysis`` stays light; nothing here prints.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from andreev.analysis import report
from andreev.analysis.report import ContactJob, Held, Prepared, RunAnalysis

if TYPE_CHECKING:
    from distributed import Client

Idx = tuple[int, int, int]
#: (idx, temperature K, noise S, drift 1) of a tunnelling sweep
TunnelJob = tuple[Idx, float, float, float]
#: progress callback: (fits done, fits in all, file just finished or None)
Progress = Callable[[int, int, Path | None], None]

#: chunks hold at most this many sweeps (scheduling overhead ≪ fit time well before)
MAX_CHUNK = 64
#: a chunk holds at most 1/(CHUNKS_PER_THREAD × worker threads) of the wave's sweeps still
#: to plan (guided self-scheduling: large chunks first, single sweeps at the wave's end, so
#: no worker idles long on the last chunk; about 2 · CHUNKS_PER_THREAD · threads ·
#: ln(sweeps / threads) tasks in all)
CHUNKS_PER_THREAD = 2


def read_sweeps(path: str | Path, idxs: list[Idx]) -> tuple[np.ndarray, dict[Idx, np.ndarray]]:
    """Bias (V) and the dI/dV (S) of the sweeps ``idxs`` of a run file, read directly."""
    from andreev.storage.grid import is_grid, sweep_slot, visit_cells
    from andreev.storage.reader import open_read
    from andreev.storage.schema import text

    with open_read(path) as f:
        data = f["entry/data"]
        axes = [text(a) for a in data.attrs["axes"]]
        bias = np.asarray(data[axes[-1]][()], dtype=float)
        didv = data["dIdV"]
        cells = visit_cells(data) if is_grid(data) else None  # a grid run: visit → row, col
        return bias, {idx: np.asarray(didv[sweep_slot(cells, *idx)], dtype=float) for idx in idxs}


def tunnelling_task(
    path: str, v_mod_rms: float, jobs: list[TunnelJob]
) -> list[tuple[Idx, report.FitResult]]:
    """A Dask task: the Dynes fits of a chunk of tunnelling sweeps of one file."""
    bias, didv = read_sweeps(path, [j[0] for j in jobs])
    return [
        (idx, report.fit_tunnelling_sweep(bias, didv[idx], t, v_mod_rms, noise, drift))
        for idx, t, noise, drift in jobs
    ]


def contact_task(
    path: str,
    v_mod_rms: float,
    jobs: list[ContactJob],
    temp_series: bool,
    held: Held,
    until_held: bool,
) -> tuple[list[tuple[ContactJob, Any, float | None]], Held]:
    """A Dask task: contact sweeps of one file (``report.fit_contact_jobs``)."""
    bias, didv = read_sweeps(path, [j.idx for j in jobs])
    return report.fit_contact_jobs(
        bias,
        v_mod_rms,
        didv.__getitem__,
        jobs,
        temp_series=temp_series,
        held=held,
        until_held=until_held,
    )


def chunked(items: list[Any], n_threads: int) -> list[list[Any]]:
    """``items`` in consecutive chunks (:func:`wave_chunks` of one list)."""
    return [chunk for _, chunk in wave_chunks([items], n_threads)]


def wave_chunks(lists: list[list[Any]], n_threads: int) -> list[tuple[int, list[Any]]]:
    """The sweeps of one wave, one list per file, in consecutive chunks that never cross
    a file: (list index, chunk) in submission order. Guided: each chunk holds
    ⌈remaining / (``CHUNKS_PER_THREAD`` × ``n_threads``)⌉ of the sweeps of the whole wave
    still to plan, between 1 and ``MAX_CHUNK``; Dask runs tasks of equal priority in
    submission order, so the small chunks balance the wave's end."""
    out: list[tuple[int, list[Any]]] = []
    remaining = sum(len(items) for items in lists)
    divisor = CHUNKS_PER_THREAD * max(1, n_threads)
    for n, items in enumerate(lists):
        start = 0
        while start < len(items):
            size = max(1, min(MAX_CHUNK, math.ceil(remaining / divisor), len(items) - start))
            out.append((n, items[start : start + size]))
            start += size
            remaining -= size
    return out


@dataclass
class _File:
    path: Path
    prep: Prepared
    held: Held = field(default_factory=dict)
    rest: list[ContactJob] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The absolute path the workers open (their working folder may differ)."""
        return str(self.path.resolve())


def _threads(client: Client) -> int:
    return max(1, sum(client.nthreads().values()))


class _Runner:
    """Submits waves of tasks over all files and counts finished fits."""

    def __init__(self, client: Client, files: list[_File], progress: Progress | None):
        self.client, self.files, self.progress = client, files, progress
        self.done = 0
        self.total = sum(
            len(report.tunnelling_indices(f.prep.res, f.prep.sweeps))
            + len(report.contact_jobs(f.prep.res, f.prep.sweeps, "all", f.prep.temp_series))
            for f in files
        )

    def _count(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total, None)

    def _run(self, tasks: list[tuple[_File, Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        """Submit ``tasks`` (file, function, args); their results in order."""
        from distributed import as_completed

        futures = [self.client.submit(fn, *args, pure=False) for _, fn, args in tasks]
        for _, result in as_completed(futures, with_results=True):
            self._count(_fits_in(result))
        return self.client.gather(futures)

    def tunnelling(self) -> None:
        per_file: list[list[TunnelJob]] = []
        for f in self.files:
            res, sw = f.prep.res, f.prep.sweeps
            jobs = [
                (idx, float(sw.temperature[idx]), *_noise(res, idx))
                for idx in report.tunnelling_indices(res, sw)
            ]
            per_file.append(jobs)
        tasks = []
        for n, chunk in wave_chunks(per_file, _threads(self.client)):
            f = self.files[n]
            tasks.append((f, tunnelling_task, (f.where, f.prep.sweeps.v_mod_rms, chunk)))
        for (f, _, _), out in zip(tasks, self._run(tasks), strict=True):
            for idx, r in out:
                report.store_dynes(f.prep.res, idx, r)

    def contacts(self, film: str) -> None:
        tasks = []
        for f in self.files:
            jobs = report.contact_jobs(f.prep.res, f.prep.sweeps, film, f.prep.temp_series)
            if not f.prep.temp_series:
                f.rest = jobs
                continue
            chains: dict[tuple[int, int], list[ContactJob]] = {}
            for job in jobs:
                chains.setdefault(job.idx[1:], []).append(job)
            for chain in chains.values():
                no_held: Held = {}
                args = (f.where, f.prep.sweeps.v_mod_rms, chain, True, no_held, True)
                tasks.append((f, contact_task, args))
        for (f, _, args), (outcomes, held) in zip(tasks, self._run(tasks), strict=True):
            report.store_contacts(f.prep.res, outcomes)
            f.held.update(held)
            f.rest += args[2][len(outcomes) :]
        tasks = []
        for n, chunk in wave_chunks([f.rest for f in self.files], _threads(self.client)):
            f = self.files[n]
            v, ts = f.prep.sweeps.v_mod_rms, f.prep.temp_series
            tasks.append((f, contact_task, (f.where, v, chunk, ts, f.held, False)))
        for (f, _, _), (outcomes, _) in zip(tasks, self._run(tasks), strict=True):
            report.store_contacts(f.prep.res, outcomes)


def _fits_in(result: Any) -> int:
    """The sweeps a task fitted: a tunnelling task's list, a contact task's outcomes (a
    chain up to its first held fit returns fewer than it was given; the rest go out again)."""
    return len(result[0]) if isinstance(result, tuple) else len(result)


def _noise(res: RunAnalysis, idx: Idx) -> tuple[float, float]:
    return float(res.values["noise"][idx]), float(res.values["drift"][idx])


def analyze_files(
    paths: list[Path], client: Client, *, film: str = "all", progress: Progress | None = None
) -> Iterator[RunAnalysis]:
    """Fit the runs ``paths`` with their per-sweep fits as tasks on ``client``; the
    results per file in order, equal to ``report.analyze_file``'s. Raises RunFileError
    for a missing or unreadable file (before any task runs)."""
    files = [_File(Path(p), report.prepare(report.load_run(p), Path(p), film=film)) for p in paths]
    runner = _Runner(client, files, progress)
    runner.tunnelling()
    runner.contacts(film)
    for f in files:
        res = report.finish(f.prep)
        if progress is not None:
            progress(runner.done, runner.total, f.path)
        yield res


#: Dask's statistical profiler samples every worker thread's stack every 10 ms for the
#: dashboard; on these fits (deep scipy stacks) it costs ~15 % of the workers' CPU
#: (benchmarks/analysis_scaling.py). Off for the workers andreev starts.
NO_PROFILER = {"distributed.worker.profile.enabled": False}
#: the same as an environment variable, for ``dask worker`` processes
NO_PROFILER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
#: how long a client tries to reach ``--scheduler`` (s) before OSError
SCHEDULER_TIMEOUT = 10.0


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None) -> Iterator[Client]:
    """A ``distributed.Client``: of the cluster at ``scheduler`` (``tcp://HOST:PORT``), or
    of a local cluster of ``workers`` processes (default: the core count) with one thread
    each and no statistical profiler (:data:`NO_PROFILER`), closed on exit. Raises
    OSError when the scheduler cannot be reached within :data:`SCHEDULER_TIMEOUT`."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout=SCHEDULER_TIMEOUT) as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with (
        dask.config.set(NO_PROFILER),  # the nannies hand their config to the workers
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def local_scheduler(n_workers: int = 2, timeout: float = 60.0) -> Iterator[str]:
    """A ``dask scheduler`` and ``n_workers`` ``dask worker`` processes (one thread each,
    the profiler off by :data:`NO_PROFILER_ENV`) started on 127.0.0.1 as a user would;
    yields the scheduler's address and stops them all on exit (for tests and
    benchmarks). Raises TimeoutError if the workers have not joined within ``timeout``
    (s)."""
    import subprocess
    import sys
    import tempfile
    import time

    from distributed import Client

    with tempfile.TemporaryDirectory() as tmp:
        sched_file = str(Path(tmp) / "scheduler.json")
        common = ["--scheduler-file", sched_file, "--no-dashboard", "--host", "127.0.0.1"]
        scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0"]
        worker = [sys.executable, "-m", "distributed.cli.dask_worker", "--nthreads", "1"]
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        procs = [subprocess.Popen([*scheduler, *common], **quiet)]
        try:
            deadline = time.monotonic() + timeout
            while not Path(sched_file).exists():
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise TimeoutError("the dask scheduler did not start")
                time.sleep(0.1)
            env = {**os.environ, **NO_PROFILER_ENV}
            for _ in range(n_workers):
                procs.append(subprocess.Popen([*worker, *common], env=env, **quiet))
            with Client(scheduler_file=sched_file, timeout=timeout) as client:
                client.wait_for_workers(n_workers, timeout=timeout)
                address = str(client.scheduler.address)
            yield address
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in reversed(procs):
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
