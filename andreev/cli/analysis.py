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
    p = sub.add_parser("plot", help="write the standard figures of a run as PNG")
    p.add_argument("run", type=Path, help="run HDF5 file")
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
    """``andreev plot RUN.h5 [--out DIR]``: write the figures and print their paths.

    Exit status 0 on success, 2 if the run file is missing or unreadable.
    """
    from andreev.analysis import figures

    try:
        paths = figures.make_figures(Path(args.run), getattr(args, "out", None))
    except RunFileError as exc:
        print(f"andreev plot: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0
