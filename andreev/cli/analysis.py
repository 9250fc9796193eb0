"""``andreev analyze`` and ``andreev plot``: fits and figures of stored runs.

The handlers import the analysis layer when the command runs (it pulls in scipy, h5py,
xarray and matplotlib), print what it returns and turn its exceptions into exit codes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from andreev.errors import AndreevError, RunFileError


def add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="fit the gaps of a run; results into the file and a CSV")
    p.add_argument("run", type=Path, help="run HDF5 file")
    p.set_defaults(handler="andreev.cli.analysis:analyze_main")


def add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="write the figures of runs as PNG (several runs: also Fig. 3 across them)",
    )
    p.add_argument("runs", type=Path, nargs="+", help="run HDF5 file(s)")
    p.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    p.set_defaults(handler="andreev.cli.analysis:plot_main")


def analyze_main(args: argparse.Namespace) -> int:
    """``andreev analyze RUN.h5``: fit, write the CSV, print the summary, store the results.

    Exit status 0 on success; 2 if the file is missing or unreadable as a run; 1 if the
    results could not be written into the file (the CSV is still written).
    """
    from andreev.analysis import report, results

    path = Path(args.run)
    try:
        an = report.analyze_file(path)
    except RunFileError as exc:
        print(f"andreev analyze: {exc}", file=sys.stderr)
        return 2
    out_csv = results.write_csv(an, results.csv_path(path))
    print(results.summary(an))
    print(f"per-sweep results: {out_csv}")
    try:
        results.store(an, path)
    except (OSError, AndreevError) as exc:
        print(
            f"andreev analyze: could not write /entry/analysis into {path} "
            f"(is a run still writing it?): {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"stored in {path}:/entry/analysis")
    return 0


def plot_main(args: argparse.Namespace) -> int:
    """``andreev plot RUN.h5 [RUN2.h5 …] [--out DIR]``: write the figures, print their paths.

    Each run's figures go to ``DIR`` (one run) or ``DIR/<run name>`` (several), by default
    next to the run; with several runs ``fig3_runs.png`` combines them (in ``DIR``, by
    default next to the first run). Figures are drawn from ``/entry/analysis`` when the run
    was analysed. Exit status 0 on success, 2 if a run file is missing or unreadable.
    """
    from andreev.analysis import fig_runs, figures

    runs = [Path(r) for r in args.runs]
    out = getattr(args, "out", None)
    paths: list[Path] = []
    try:
        for run in runs:
            where = None if out is None else (Path(out) if len(runs) == 1 else Path(out) / run.stem)
            paths += figures.make_figures(run, where)
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
