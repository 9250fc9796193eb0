"""The one set of validation rules for the project's YAML files (station, experiment,
sim section) and the strict YAML reader.

Every error names the file, the key (dotted path) and what is allowed, and is raised
before anything is connected or moved.
"""

from __future__ import annotations

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

    Booleans are refused (YAML's ``yes`` is not a number).
    """
    unit_text = f" {unit}" if unit else ""
    allowed = f"{'an integer' if kind is int else 'a number'} from {low:g} to {high:g}{unit_text}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(path, key, f"expected {allowed}, got {value!r}")
    if kind is int and not float(value).is_integer():
        raise ConfigError(path, key, f"expected {allowed}, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(path, key, f"{value!r} is outside the allowed range: {allowed}")
    return kind(value)


def check_keys(path: Path, where: str, mapping: Any, allowed: Iterable[str]) -> dict[str, Any]:
    """Require ``mapping`` to be a dict whose keys are all in ``allowed``."""
    allowed = sorted(allowed)
    if not isinstance(mapping, dict):
        raise ConfigError(path, where, f"expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                path,
                f"{where}.{key}" if where else str(key),
                f"unknown key; allowed: {', '.join(allowed)}",
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
