"""Analysis results in the run file: ``/entry/analysis``, the one path there (raw data
are never touched)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import andreev
from andreev.storage.reader import open_read
from andreev.storage.recovery import WriterLock, rebuild
from andreev.storage.schema import now_iso, text

__all__ = ["ResultGroup", "read_analysis", "write_analysis"]


@dataclass
class ResultGroup:
    """Analysis results to store under ``/entry/analysis`` (or a sub-group of it).

    Attributes:
        attrs: HDF5 attributes (numbers, strings, small arrays).
        datasets: name → (values, units, long_name); string arrays are stored as UTF-8.
        groups: name → sub-group.
    """

    attrs: dict[str, Any] = field(default_factory=dict)
    datasets: dict[str, tuple[Any, str, str]] = field(default_factory=dict)
    groups: dict[str, ResultGroup] = field(default_factory=dict)


def _write_group(g: h5py.Group, results: ResultGroup) -> None:
    for key, value in results.attrs.items():
        g.attrs[key] = value
    for name, (values, units, long_name) in results.datasets.items():
        arr = np.asarray(values)
        if arr.dtype.kind in "USO":
            ds = g.create_dataset(
                name, data=arr.astype(str).astype(object), dtype=h5py.string_dtype()
            )
        else:
            ds = g.create_dataset(name, data=arr)
        if units:
            ds.attrs["units"] = units
        if long_name:
            ds.attrs["long_name"] = long_name
    for name, sub in results.groups.items():
        _write_group(g.create_group(name), sub)


def write_analysis(
    path: str | os.PathLike[str], results: ResultGroup, *, program: str = "andreev analyze"
) -> None:
    """Replace ``/entry/analysis`` of a closed run file with ``results`` (raw data untouched).

        The group is an NXprocess with the program, andreev's version and the date; the file
        is written into a copy that atomically replaces the run (a kill at any instant leaves
    the old or the new file, both readable). Raises RunLockedError while a writer holds the run.
    """

    def edit(f: h5py.File) -> None:
        entry = f["entry"]
        if "analysis" in entry:
            del entry["analysis"]
        g = entry.create_group("analysis")
        g.attrs["NX_class"] = "NXprocess"
        g.attrs["program"] = program
        g.attrs["version"] = andreev.__version__
        g.attrs["date"] = now_iso()
        _write_group(g, results)

    lock = WriterLock(Path(path))
    try:
        rebuild(Path(path), edit)  # the run file itself is never opened for write
    finally:
        lock.release()


def _read_group(g: h5py.Group) -> ResultGroup:
    out = ResultGroup(attrs={k: v for k, v in g.attrs.items()})
    for name, item in g.items():
        if isinstance(item, h5py.Group):
            out.groups[name] = _read_group(item)
            continue
        values = item.asstr()[()] if h5py.check_string_dtype(item.dtype) else item[()]
        out.datasets[name] = (
            values,
            text(item.attrs.get("units", "")),
            text(item.attrs.get("long_name", "")),
        )
    return out


def read_analysis(path: str | os.PathLike[str]) -> ResultGroup | None:
    """The stored ``/entry/analysis`` of a run file, or None when it has none."""
    with open_read(path) as f:
        if "analysis" not in f["entry"]:
            return None
        return _read_group(f["entry/analysis"])
