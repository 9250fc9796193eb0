"""``andreev export RUN.h5 --to netcdf|csv [--out PATH]``: a run for colleagues."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``export`` command to the sub-command parsers ``sub``."""
    p = sub.add_parser(
        "export",
        help="write a run as netCDF (xarray) or as one CSV per spectrum with a header",
    )
    p.add_argument("run_file", type=Path, metavar="RUN.h5", help="the run file")
    p.add_argument("--to", choices=("netcdf", "csv"), required=True, help="the format")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="netcdf: the file (default RUN.nc); csv: the folder (default RUN_csv/)",
    )
    p.set_defaults(handler="andreev.cli.export:export_main")


def export_main(args: argparse.Namespace) -> int:
    """Export the run; print what was written. 0, or 2 when the run cannot be read."""
    from andreev.analysis import export
    from andreev.errors import RunFileError

    run: Path = args.run_file
    try:
        if not run.is_file():
            raise RunFileError(f"{run}: no such file")
        if args.to == "netcdf":
            print(export.to_netcdf(run, args.out or run.with_suffix(".nc")))
            return 0
        folder = args.out or run.with_name(f"{run.stem}_csv")
        paths = export.to_csv(run, folder)
    except (RunFileError, OSError, KeyError) as exc:
        print(f"andreev export: {run}: {exc}", file=sys.stderr)
        return 2
    print(f"{len(paths)} spectra as CSV in {folder}")
    return 0
