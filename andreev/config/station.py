"""The station file's schema: strict loading into a :class:`StationConfig`, nothing connected.

A station file is qcodes' station YAML (``instruments:`` with ``type``, ``address``,
``init``, ``parameters``…) plus andreev's own top-level sections:

``safety:``
    hard limits (:class:`~andreev.config.safety.SafetyLimits`), handed to every driver,
    which refuses any write outside them before it reaches the instrument.
``clock:``
    ``speedup`` — world seconds per wall second (1 at a real fridge; the simulated
    fridge runs faster so an overnight series replays in seconds), within
    :data:`~andreev.config.rules.SPEEDUP_RANGE`.
``sim:``
    the simulated fridge (read by :mod:`andreev.sim`; ignored when connecting).

``instruments:`` must name the three roles :data:`LOCKIN`, :data:`BRIDGE` and :data:`STM`
(other instruments may be added). Everything is checked before any instrument is
touched: an unknown key, a missing role, a wrong type or a value outside its range raises
:class:`~andreev.errors.ConfigError` naming the file, the key and what is allowed.
Opening the instruments is :func:`andreev.instruments.station.open_station`.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from andreev.clock import Clock
from andreev.config.instrument_init import check_role_init
from andreev.config.rules import check_keys, check_speedup, read_yaml
from andreev.config.safety import SafetyLimits, check_safety_section
from andreev.errors import ConfigError

__all__ = [
    "BRIDGE",
    "INSTRUMENT_KEYS",
    "LOCKIN",
    "ROLES",
    "STM",
    "TOP_LEVEL_KEYS",
    "StationConfig",
    "load_station_config",
]

#: the role names of a station file's ``instruments:`` section (defined here only): the
#: lock-in, the temperature bridge, the STM controller
LOCKIN, BRIDGE, STM = "lockin", "bridge", "stm"
ROLES: tuple[str, ...] = (LOCKIN, BRIDGE, STM)

#: Keys qcodes understands in one instrument's section.
INSTRUMENT_KEYS = frozenset(
    {"type", "address", "port", "init", "parameters", "add_parameters", "enable_forced_reconnect"}
)
TOP_LEVEL_KEYS = frozenset({"instruments", "safety", "clock", "sim", "notify"})
#: keyword arguments qcodes instruments accept through ``**kwargs``
QCODES_KWARGS = frozenset({"metadata", "label", "timeout", "terminator", "device_clear", "visalib"})


@dataclass(frozen=True)
class StationConfig:
    """A validated station file.

    Attributes:
        path: the file it came from.
        instruments: qcodes instrument sections by name (as in the file); the three
            roles are among them.
        safety: the hard limits.
        speedup: world seconds per wall second.
        sim: the ``sim:`` section (raw mapping) or None.
        text: the file's text, stored with every run.
        notify: the ``notify:`` command (argv, no shell) run when a run ends, or ().
    """

    path: Path
    instruments: dict[str, dict[str, Any]]
    safety: SafetyLimits
    speedup: float = 1.0
    sim: dict[str, Any] | None = None
    text: str = ""
    notify: tuple[str, ...] = ()

    def file_for_runs(self) -> str:
        """The station file's absolute path as runs store it (``/entry@station_file``), so
        that ``andreev status``/``repair`` can print a runnable ``--resume`` line."""
        return str(Path(self.path).resolve())

    def clock(self) -> Clock:
        """A new :class:`Clock` running at this station's speedup."""
        return Clock(self.speedup)

    def qcodes_yaml(self) -> str:
        """The ``instruments:`` section alone, as qcodes' Station wants it."""
        return yaml.safe_dump({"instruments": self.instruments}, sort_keys=False)


def _instrument_class(path: Path, key: str, dotted: Any) -> type:
    """Import the driver class ``dotted`` (``package.module.Class``) named at ``key``; it
    must be a qcodes ``Instrument`` subclass (nothing else is ever called with the
    station's arguments: ``subprocess.Popen`` is refused here, before anything runs)."""
    from qcodes.instrument import Instrument

    if not isinstance(dotted, str) or "." not in dotted:
        raise ConfigError(path, key, f"expected a dotted class path, got {dotted!r}")
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(path, key, f"cannot import {dotted}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Instrument)):
        raise ConfigError(
            path,
            key,
            f"{dotted} is not a qcodes Instrument class; allowed: a driver class such as "
            "andreev.instruments.sr830.SR830",
        )
    return cls


def _init_keywords(cls: type) -> set[str]:
    """Keyword arguments the driver class (or a base class) names in its __init__, plus the
    ones qcodes instruments take through ``**kwargs``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                names.add(param.name)
    names |= QCODES_KWARGS
    names.discard("self")
    return names


def _check_parameters(path: Path, where: str, parameters: Any) -> None:
    """The ``parameters:`` of one instrument: mappings, ``limits`` as [low, high]."""
    for pname, options in (parameters or {}).items():
        if not isinstance(options, dict):
            raise ConfigError(path, f"{where}.parameters.{pname}", "expected a mapping")
        limits = options.get("limits")
        if limits is not None and not (
            isinstance(limits, list)
            and len(limits) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in limits)
            and limits[0] < limits[1]
        ):
            raise ConfigError(
                path,
                f"{where}.parameters.{pname}.limits",
                f"expected [low, high] with low < high, got {limits!r}",
            )


def _check_instrument(path: Path, name: str, section: Any) -> dict[str, Any]:
    """One instrument's section: known keys, an importable ``type``, its ``init`` keywords."""
    where = f"instruments.{name}"
    check_keys(path, where, section, INSTRUMENT_KEYS)
    if "type" not in section:
        raise ConfigError(
            path, f"{where}.type", "missing: the driver class, e.g. andreev.instruments.sr830.SR830"
        )
    cls = _instrument_class(path, f"{where}.type", section["type"])
    if "address" in section and not isinstance(section["address"], str):
        raise ConfigError(
            path, f"{where}.address", f"expected a string, got {section['address']!r}"
        )
    init = section.get("init") or {}
    check_keys(path, f"{where}.init", init, _init_keywords(cls) - {"name", "address"})
    check_role_init(path, name, init)
    _check_parameters(path, where, section.get("parameters"))
    return dict(section)


def _check_roles(path: Path, names: list[str]) -> None:
    """Every role (lockin, bridge, stm) must be an instrument of the station."""
    for role in ROLES:
        if role in names:
            continue
        close = difflib.get_close_matches(role, [n for n in names if n not in ROLES], n=1)
        hint = f"; is {close[0]!r} meant to be {role!r}?" if close else ""
        raise ConfigError(
            path,
            f"instruments.{role}",
            f"missing: a station needs the instruments {', '.join(ROLES)} "
            f"(lock-in, temperature bridge, STM controller){hint}",
        )


def load_station_config(path: Path | str) -> StationConfig:
    """Read and validate a station file; nothing is connected.

    Raises:
        ConfigError: naming the file, the key and what is allowed.
    """
    path = Path(path)
    data, text = read_yaml(path)
    check_keys(path, "", data, TOP_LEVEL_KEYS)
    instruments = data.get("instruments")
    if not isinstance(instruments, dict) or not instruments:
        raise ConfigError(path, "instruments", "expected a mapping of at least one instrument")
    _check_roles(path, [str(name) for name in instruments])
    checked = {
        str(name): _check_instrument(path, str(name), sec) for name, sec in instruments.items()
    }
    safety = check_safety_section(path, data.get("safety") or {})
    clock_section = check_keys(path, "clock", data.get("clock") or {}, {"speedup"})
    speedup = check_speedup(path, "clock.speedup", clock_section.get("speedup", 1.0))
    sim = data.get("sim")
    if sim is not None and not isinstance(sim, dict):
        raise ConfigError(path, "sim", "expected a mapping")
    if speedup != 1 and not is_simulated(sim, checked):
        raise ConfigError(
            path,
            "clock.speedup",
            f"{speedup:g} is only allowed for the simulated fridge (a station with a sim: "
            "section, or every instrument on 127.0.0.1/localhost); a real fridge runs at 1",
        )
    return StationConfig(
        path=path,
        instruments=checked,
        safety=safety,
        speedup=speedup,
        sim=sim,
        text=text,
        notify=check_notify(path, data.get("notify")),
    )


#: host names of the loopback interface, where ``andreev sim`` serves the simulated fridge
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def address_host(address: str) -> str:
    """The host of an instrument address: ``TCPIP0::HOST::PORT::SOCKET`` (VISA) or
    ``HOST:PORT`` (the Nanonis interface); "" for GPIB, serial and the like."""
    if address.upper().startswith("TCPIP"):
        parts = address.split("::")
        return parts[1] if len(parts) > 1 else ""
    if "::" in address:
        return ""
    return address.rpartition(":")[0] if ":" in address else address


def is_simulated(sim: dict[str, Any] | None, instruments: dict[str, dict[str, Any]]) -> bool:
    """The rule for a simulated station (where ``clock.speedup`` may differ from 1): it
    has a ``sim:`` section, or every instrument's address is on the loopback interface
    (``andreev sim`` serves only there; a real fridge's instruments never are)."""
    if sim is not None:
        return True
    hosts = [address_host(str(section.get("address", ""))) for section in instruments.values()]
    return bool(hosts) and all(host in LOOPBACK for host in hosts)


def check_notify(path: Path, value: Any) -> tuple[str, ...]:
    """The ``notify:`` command: a non-empty list of strings (argv, run without a shell)."""
    if value is None:
        return ()
    if not (
        isinstance(value, list) and value and all(isinstance(item, str) and item for item in value)
    ):
        raise ConfigError(
            path,
            "notify",
            f"expected a command as a list of strings, e.g. [notify-send, andreev], got {value!r}",
        )
    return tuple(value)
