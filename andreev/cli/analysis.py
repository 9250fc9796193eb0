"""``andreev analyze`` and ``andreev plot``: fits and figures of stored runs.

The handlers import the analysis layer when the command runs (it pulls in scipy, h5py,
xarray and matplotlib), print what it returns and turn its exceptions into exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from andreev.errors import AndreevError, RunFileError

if TYPE_CHECKING:
    from andreev.analysis.report import RunAnalysis


def add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="fit the gaps of a run (Tc of a transport R(T) run); results into the file and "
        "a CSV; --summary: Table S1 across runs",
    )
    p.add_argument("runs", type=Path, nargs="+", help="run HDF5 file(s)")
    p.add_argument(
        "--summary",
        action="store_true",
        help="print and write Table S1 (per sample: Tc from transport and from the Δc "
        "closing, Δ mean and spread, Δc, Δc/k_B Tc) from analysed runs",
    )
    p.add_argument("--sample", default=None, help="with --summary: one sample name for all runs")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        metavar="N",
        help="fit on a local Dask cluster of N worker processes (default: the core count, "
        f"or the serial loop for fewer than {SMALL_JOB_SWEEPS} sweeps in all); "
        "1: the serial loop in this process",
    )
    where.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="fit on the existing Dask cluster of this scheduler (dask scheduler / dask worker; "
        "the workers must reach the run files at the same paths)",
    )
    p.set_defaults(handler="andreev.cli.analysis:analyze_main")


def _worker_count(text: str) -> int:
    """``--workers``: a whole number ≥ 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return n


def add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="write the figures of runs as PNG (several runs: also Fig. 3 across them)",
    )
    p.add_argument("runs", type=Path, nargs="+", help="run HDF5 file(s)")
    p.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    p.set_defaults(handler="andreev.cli.analysis:plot_main")


def analyze_main(args: argparse.Namespace) -> int:
    """``andreev analyze RUN.h5 [RUN2.h5 …] [--summary]``: analyse each run (spectroscopy:
    fits; transport: Tc from R(T)), write its CSV, print its summary, store the results;
    with ``--summary`` print and write Table S1 across the runs instead.

    Exit status 0 on success; 2 if a file is missing or unreadable as a run; 1 if the
    results could not be written into a file (the CSV is still written).
    """
    runs = [Path(r) for r in args.runs]
    try:
        if getattr(args, "summary", False):
            return _summary(runs, getattr(args, "sample", None))
        for path in runs:
            _check_run_file(path)
        return _analyze_all(runs, getattr(args, "workers", None), getattr(args, "scheduler", None))
    except RunFileError as exc:
        print(f"andreev analyze: {exc}", file=sys.stderr)
        return 2


def _summary(runs: list[Path], sample: str | None) -> int:
    from andreev.analysis.fig_transport import format_table_s1, table_s1, write_table_s1_csv

    rows = table_s1(runs, sample=sample)
    print(format_table_s1(rows))
    out = write_table_s1_csv(rows, runs[0].with_name("table_s1.csv"))
    print(f"Table S1: {out}")
    return 0


def _analyze_all(runs: list[Path], workers: int | None, scheduler: str | None) -> int:
    """Transport runs serially; spectroscopy runs serially (``--workers 1``) or with their
    fits as Dask tasks; the worst exit status."""

    from andreev.storage.transport import is_transport_run

    status = 0
    spectra = []
    for path in runs:
        if is_transport_run(path):
            status = max(status, _write_one(path, None))
        else:
            spectra.append(path)
    if not spectra:
        return status
    n = workers if workers is not None else _default_workers(spectra, scheduler)
    if scheduler is None and n <= 1:
        from andreev.analysis import report

        for path in spectra:
            status = max(status, _write_one(path, partial(report.analyze_file, path)))
        return status
    return max(status, _analyze_dask(spectra, n, scheduler))


#: below this many sweeps in all, the default is the serial loop: a local cluster's
#: start (4–5 s) would cost more than it saves
SMALL_JOB_SWEEPS = 200


def _default_workers(runs: list[Path], scheduler: str | None) -> int:
    """Without ``--workers``: the core count, or 1 (serial) for a small job."""
    import os

    from andreev.storage.run_status import run_status

    if scheduler is not None:
        return os.cpu_count() or 1
    try:
        sweeps = sum(run_status(p).total for p in runs)
    except (KeyError, OSError, AndreevError):  # not a run: the serial path says so
        return 1
    return 1 if sweeps < SMALL_JOB_SWEEPS else (os.cpu_count() or 1)


def _analyze_dask(runs: list[Path], workers: int, scheduler: str | None) -> int:
    """Fit ``runs`` on a Dask cluster, a progress bar on stderr; results written here."""
    from andreev.analysis import distributed
    from andreev.cli.progress import FitProgress

    status = 0
    with ExitStack() as stack:
        try:
            client = stack.enter_context(distributed.dask_client(workers, scheduler))
        except OSError as exc:  # distributed: "Timed out trying to connect to …"
            what = f"reach the Dask scheduler {scheduler}" if scheduler else "start a Dask cluster"
            print(f"andreev analyze: cannot {what}: {exc}", file=sys.stderr)
            return 2
        where = scheduler or f"a local cluster of {workers} workers"
        print(f"fitting {len(runs)} run(s) on {where}", flush=True)
        progress = FitProgress()
        try:
            for an in distributed.analyze_files(runs, client, progress=progress):
                status = max(status, _write_one(an.path, partial(_same, an)))
        finally:
            progress.close()
    return status


def _same(an: RunAnalysis) -> RunAnalysis:
    return an


def _write_one(path: Path, analyze: Callable[[], RunAnalysis] | None) -> int:
    """Analyse one run (``analyze``; None: a transport run), write its CSV, print its
    summary, store its results; the exit status."""
    from andreev.analysis import results

    try:
        if analyze is None:
            from andreev.analysis.transport import analyze_transport, transport_summary

            print(transport_summary(analyze_transport(path)))
            print(f"stored in {path}:/entry/analysis and {path.stem}.analysis.csv")
            return 0
        an = analyze()
        out_csv = results.write_csv(an, results.csv_path(path))
        print(results.summary(an))
        print(f"per-sweep results: {out_csv}")
        results.store(an, path)
    except (OSError, AndreevError) as exc:
        if isinstance(exc, RunFileError):
            raise
        print(
            f"andreev analyze: could not write /entry/analysis into {path} "
            f"(is a run still writing it?): {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"stored in {path}:/entry/analysis")
    return 0


def _check_run_file(path: Path) -> None:
    """RunFileError unless ``path`` is an HDF5 file (before any analysis opens it)."""
    import h5py

    if not path.is_file():
        raise RunFileError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise RunFileError(f"{path}: cannot read it as a run file (not HDF5)")


def plot_main(args: argparse.Namespace) -> int:
    """``andreev plot RUN.h5 [RUN2.h5 …] [--out DIR]``: write the figures, print their paths.
    A transport run first: Fig. 4, its R(T) with the gap scales Δc/k_B and Δ/k_B of the
    (analysed) spectroscopy runs that follow.

    Each run's figures go to ``DIR`` (one run) or ``DIR/<run name>`` (several), by default
    next to the run; with several runs ``fig3_runs.png`` combines them (in ``DIR``, by
    default next to the first run). Figures are drawn from ``/entry/analysis`` when the run
    was analysed. Exit status 0 on success, 2 if a run file is missing or unreadable.
    """
    from andreev.analysis import fig_runs, figure_set

    runs = [Path(r) for r in args.runs]
    out = getattr(args, "out", None)
    paths: list[Path] = []
    try:
        for run in runs:
            _check_run_file(run)
        from andreev.storage.transport import is_transport_run

        if is_transport_run(runs[0]):  # Fig. 4: R(T) with the gap scales of the others
            from andreev.analysis.fig_transport import fig4

            target = None if out is None else Path(out) / f"{runs[0].stem}_fig4.png"
            if target is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
            print(fig4(runs[0], runs[1:], target))
            return 0
        for run in runs:
            where = None if out is None else (Path(out) if len(runs) == 1 else Path(out) / run.stem)
            paths += figure_set.make_figures(run, where)
        if len(runs) > 1:
            combined_out = Path(out) if out is not None else runs[0].parent
            combined_out.mkdir(parents=True, exist_ok=True)
            paths.append(fig_runs.fig_runs(runs, combined_out))
    except RunFileError as exc:
        print(f"andreev plot: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0
