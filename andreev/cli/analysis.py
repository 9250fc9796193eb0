"""``andreev analyze`` and ``andreev plot``: fits and figures of stored runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="fit the gaps of a run; results into the file and a CSV")
    p.add_argument("run", type=Path, help="run HDF5 file")
    p.set_defaults(handler="andreev.analysis.report:analyze_main")


def add_plot(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="write the standard figures of a run as PNG")
    p.add_argument("run", type=Path, help="run HDF5 file")
    p.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    p.set_defaults(handler="andreev.analysis.figures:plot_main")
