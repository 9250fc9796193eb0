"""The ``init:`` values of the role drivers that andreev itself relies on (the lock-in's
``modulation_divider``, the bridge's heater ``bands``, the STM's ``z_limits``), checked
when the station file is loaded so that a bad value is one line naming its key, never a
crash later.

The ranges are the drivers' own (``andreev.instruments.sr830`` and
``andreev.instruments.lakeshore372.bands`` refuse the same values when they are built);
they are repeated here because the config layer sits below the drivers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from andreev.config.rules import check_keys, check_number
from andreev.errors import ConfigError

__all__ = ["BAND_RANGES", "Z_LIMIT_RANGE", "check_role_init"]

#: one heater band: key → (type, low, high, unit); ``upper`` is the band's upper edge
BAND_RANGES: dict[str, tuple[type, float, float, str]] = {
    "upper": (float, 1e-4, 300.0, "K"),
    "range": (int, 1, 8, ""),
    "P": (float, 0.0, 1000.0, ""),
    "I": (float, 0.0, 10000.0, "s"),
    "D": (float, 0.0, 2500.0, "s"),
}

#: the STM's Z limits, each of (high, low): ±1 mm, far beyond any scanner's range (m)
Z_LIMIT_RANGE = (-1e-3, 1e-3)


def _check_z_limits(path: Path, where: str, limits: Any) -> None:
    """``[high, low]`` in m, two finite numbers with high > low."""
    if not isinstance(limits, list) or len(limits) != 2:
        raise ConfigError(
            path, where, f"expected [high, low] in m, e.g. [1.0e-7, -1.0e-7], got {limits!r}"
        )
    high, low = (
        check_number(path, f"{where}[{n}]", value, float, *Z_LIMIT_RANGE, "m")
        for n, value in enumerate(limits)
    )
    if not high > low:
        raise ConfigError(path, where, f"[high, low] needs high > low, got {limits!r}")


def _check_bands(path: Path, where: str, bands: Any) -> None:
    if not isinstance(bands, list) or not bands:
        raise ConfigError(
            path, where, f"expected a list of bands {{upper, range, P, I, D}}, got {bands!r}"
        )
    for n, band in enumerate(bands):
        key = f"{where}[{n}]"
        check_keys(path, key, band, BAND_RANGES)
        missing = [name for name in BAND_RANGES if name not in band]
        if missing:
            raise ConfigError(
                path,
                key,
                f"missing {', '.join(missing)}; a band needs all of {', '.join(BAND_RANGES)}",
            )
        for name, (kind, low, high, unit) in BAND_RANGES.items():
            check_number(path, f"{key}.{name}", band[name], kind, low, high, unit)


def check_role_init(path: Path, role: str, init: dict[str, Any]) -> None:
    """Check the ``init:`` values of instrument ``role`` (``lockin``, ``bridge``, ``stm``) that
    andreev itself reads; other keys are the driver's business."""
    where = f"instruments.{role}.init"
    if role == "lockin" and "modulation_divider" in init:
        check_number(
            path, f"{where}.modulation_divider", init["modulation_divider"], float, 1e-9, 1.0
        )
    if role == "bridge" and "bands" in init:
        _check_bands(path, f"{where}.bands", init["bands"])
    if role == "stm" and "z_limits" in init:
        _check_z_limits(path, f"{where}.z_limits", init["z_limits"])
