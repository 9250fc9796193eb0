"""Checks of an experiment against its station that the run would otherwise make only
after connecting and creating the run file: done on the files alone, before anything.

``outer_parameter`` (a ParameterSeries' ``INSTRUMENT.PARAMETER``) must name an
instrument of the station and a parameter its driver defines. Drivers add their
parameters in ``__init__``, so the parameter is looked up statically: in the station
file's ``parameters:``/``add_parameters:`` and as ``add_parameter("NAME"`` in the
driver class's source (and its andreev/third-party bases, qcodes' own base classes
excluded). A driver that builds its parameter names at run time (``add_parameter(f"…"``)
cannot be checked this way and is let through.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import TYPE_CHECKING, Any

from andreev.errors import ConfigError

if TYPE_CHECKING:
    from andreev.config.station import StationConfig
    from andreev.procedures.experiment import Experiment

__all__ = ["check_outer_parameter", "driver_parameter_names"]

_ADD = re.compile(r"add_(?:parameter|submodule)\(\s*(?:name\s*=\s*)?([fF]?)[\"']([A-Za-z_]\w*)")
#: an add_parameter/add_submodule whose name is not a string literal (computed names)
_COMPUTED = re.compile(r"add_(?:parameter|submodule)\(\s*(?:name\s*=\s*)?(?![fF]?[\"'])\S")


def driver_parameter_names(dotted: str) -> tuple[set[str], bool]:
    """Parameter names the driver class ``dotted`` adds in its source, and whether it
    also adds some whose names are computed (then the set is not complete)."""
    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    names: set[str] = set()
    dynamic = False
    for klass in cls.__mro__:
        if klass.__module__.startswith(("qcodes.instrument.", "builtins")):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            dynamic = True
            continue
        dynamic = dynamic or bool(_COMPUTED.search(source))
        for prefix, name in _ADD.findall(source):
            if prefix:
                dynamic = True
            names.add(name)
    return names, dynamic


def _declared_in_file(section: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for key in ("parameters", "add_parameters"):
        value = section.get(key) or {}
        if isinstance(value, dict):
            names |= {str(name) for name in value}
    return names


def check_outer_parameter(experiment: Experiment, station: StationConfig) -> None:
    """ConfigError when a ParameterSeries' ``outer_parameter`` names an instrument the
    station lacks or a parameter its driver does not define."""
    from andreev.config import did_you_mean

    proc = experiment.procedure
    if not hasattr(proc, "outer_parameter"):
        return
    dotted = str(proc.outer_parameter)
    key = "parameters.outer_parameter"
    instrument, _, parameter = dotted.partition(".")
    if not instrument or not parameter:
        raise ConfigError(
            experiment.path, key, f"{dotted!r}: expected INSTRUMENT.PARAMETER, e.g. magnet.field"
        )
    if instrument not in station.instruments:
        raise ConfigError(
            experiment.path,
            key,
            f"{dotted!r}: {station.path} has no instrument {instrument!r}; "
            + did_you_mean(instrument, station.instruments),
        )
    section = station.instruments[instrument]
    names, dynamic = driver_parameter_names(str(section["type"]))
    names |= _declared_in_file(section)
    first = parameter.split(".")[0]
    if first in names or dynamic or hasattr(_class(section), first):
        return
    raise ConfigError(
        experiment.path,
        key,
        f"{dotted!r}: the driver {section['type']} of {instrument!r} has no parameter "
        f"{first!r}; {did_you_mean(first, names)}",
    )


def _class(section: dict[str, Any]) -> type:
    module_name, _, class_name = str(section["type"]).rpartition(".")
    return getattr(importlib.import_module(module_name), class_name)
