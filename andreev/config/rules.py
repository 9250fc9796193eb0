"""The one set of validation rules for the project's YAML files (station, experiment,
sim section) and the strict YAML reader.

Every error names the file, the key (dotted path) and what is allowed, and is raised
before anything is connected or moved.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from andreev.errors import ConfigError


def check_number(
    path: Path,
    key: str,
    value: Any,
    kind: type,
    low: float,
    high: float,
    unit: str = "",
) -> float | int:
    """Return ``value`` as ``kind`` if it is a number within [low, high], else raise ConfigError.

    One rule for every file: a number is a YAML number. Booleans are refused (YAML's
    ``yes`` is not a number), and so is a number written as a string (``"1e-3"`` in
    quotes): the message says to write it without quotes. NaN and infinities are outside
    every range.
    """
    unit_text = f" {unit}" if unit else ""
    allowed = f"{'an integer' if kind is int else 'a number'} from {low:g} to {high:g}{unit_text}"
    if isinstance(value, str):
        raise ConfigError(
            path, key, f"expected {allowed}, got the string {value!r}: write it without quotes"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, key, f"expected {allowed}, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ConfigError(path, key, f"expected {allowed}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(path, key, f"{value!r} is outside the allowed range: {allowed}")
    return kind(value)


def unknown_key_problem(key: Any, allowed: Iterable[str]) -> str:
    """``unknown key; did you mean 'x'? allowed: …`` (the hint only for a close match)."""
    names = sorted(allowed)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key; {hint}allowed: {', '.join(names)}"


def check_keys(path: Path, where: str, mapping: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """Require ``mapping`` to be a dict whose keys are all in ``allowed``; an unknown key's
    error suggests the closest allowed one ("did you mean …?")."""
    names = sorted(allowed)
    if not isinstance(mapping, dict):
        raise ConfigError(path, where, f"expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in names:
            raise ConfigError(
                path, f"{where}.{key}" if where else str(key), unknown_key_problem(key, names)
            )
    return mapping


def read_yaml(path: Path | str) -> tuple[dict[str, Any], str]:
    """Read a YAML mapping from ``path``; return (data, text). Errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(file)", f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(path, "(file)", "expected a YAML mapping at the top level")
    return data, text


SPEEDUP_RANGE: tuple[float, float] = (1.0, 1.0e4)
"""Allowed ``speedup`` (world seconds per wall second) of a station's clock and of the
simulated fridge: 1 is real time; 1e4 is the fastest the simulator's thermal model keeps
up with in closed loop on a 2-core machine (about 5e4 world s per wall s measured by
``benchmarks/sim.py``), with margin for the servers' own work."""


def check_speedup(path: Path, key: str, value: Any) -> float:
    """``value`` as a speedup within :data:`SPEEDUP_RANGE`, else ConfigError."""
    return float(check_number(path, key, value, float, *SPEEDUP_RANGE))
