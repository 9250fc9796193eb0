"""Experiment files: which procedure, with which parameters, validated strictly.

An experiment YAML names a procedure and sets its parameters::

    procedure: TemperatureSeries
    name: overnight          # prefix of the run file's name
    parameters:
      temperatures: [0.05, 0.3, 0.7, 1.0, 1.3, 1.7]
      ladder_start: 1.0e-9
      ...

The allowed keys, their units and ranges are the procedure's pymeasure Parameters
(the same ones the GUI shows as a form). An unknown key, a wrong type or a value out
of range raises :class:`~andreev.configfile.ConfigError` naming the file and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from andreev.config import ConfigError, check_keys, did_you_mean, read_yaml
from andreev.procedures.base import SweepProcedure
from andreev.procedures.grid import GridSeries
from andreev.procedures.ladder import SetpointLadder
from andreev.procedures.spectrum import BiasSpectrum
from andreev.procedures.temperature import ParameterSeries, PositionSeries, TemperatureSeries
from andreev.procedures.transport import TransportRT

PROCEDURES: dict[str, type[SweepProcedure]] = {
    cls.__name__: cls
    for cls in (
        BiasSpectrum,
        SetpointLadder,
        TemperatureSeries,
        PositionSeries,
        ParameterSeries,
        GridSeries,
    )
}
PROCEDURES["TransportRT"] = TransportRT  # not a sweep grid: run_transport runs it
TOP_KEYS = ("procedure", "name", "description", "parameters")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Experiment:
    """A validated experiment: the procedure (parameters set), its name and source text."""

    procedure: SweepProcedure
    name: str
    text: str
    path: Path


#: what a parameter of a kind without a range or choices allows, in the user's words
KIND_WORDS = {
    "BooleanParameter": "true or false",
    "FloatParameter": "a number",
    "IntegerParameter": "a whole number",
    "VectorParameter": "a list of numbers",
    "ListParameter": "one of the listed values",
    "Parameter": "a value",
}


def _allowed(parameter: Any) -> str:
    parts = []
    if hasattr(parameter, "minimum") and hasattr(parameter, "maximum"):
        parts.append(f"{parameter.minimum:g} … {parameter.maximum:g}")
    if getattr(parameter, "choices", None):
        parts.append("one of " + ", ".join(str(c) for c in parameter.choices))
    units = getattr(parameter, "units", None)
    if units:
        parts.append(units)
    kind = type(parameter).__name__
    return " ".join(parts) if parts else KIND_WORDS.get(kind, kind)


def build_procedure(
    cls: type[SweepProcedure], values: dict[str, Any], path: Path | str
) -> SweepProcedure:
    """A ``cls`` instance with ``values`` set through its pymeasure Parameters; every
    failure names the file, the key and the allowed range."""
    procedure = cls()
    objects = procedure.parameter_objects()
    check_keys(Path(path), "parameters", values, objects)
    for key, value in values.items():
        parameter = objects[key]
        if (isinstance(value, bool) and type(parameter).__name__ != "BooleanParameter") or (
            isinstance(value, float)
            and type(parameter).__name__ == "IntegerParameter"
            and not value.is_integer()
        ):
            raise ConfigError(
                path, f"parameters.{key}", f"expected {_allowed(parameter)}, got {value!r}"
            )
        try:
            parameter.value = value
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                path,
                f"parameters.{key}",
                f"{value!r} not accepted ({exc}); allowed: {_allowed(parameter)}",
            ) from None
        setattr(procedure, key, parameter.value)
    return procedure


def parse_experiment(data: dict[str, Any], text: str, path: Path | str) -> Experiment:
    """Validate an experiment mapping (already read from ``path``)."""
    path = Path(path)
    check_keys(path, "", data, TOP_KEYS)
    name_of_procedure = data.get("procedure")
    if name_of_procedure not in PROCEDURES:
        raise ConfigError(
            path,
            "procedure",
            f"{name_of_procedure!r}: {did_you_mean(name_of_procedure, PROCEDURES)}",
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(path, "name", f"{name!r}; allowed: 1-64 letters, digits, _ . -")
    procedure = build_procedure(PROCEDURES[name_of_procedure], data.get("parameters") or {}, path)
    return Experiment(procedure=procedure, name=name, text=text, path=path)


def load_experiment(path: Path | str) -> Experiment:
    """Read and validate an experiment YAML file."""
    data, text = read_yaml(path)
    return parse_experiment(data, text, path)


def experiment_from_text(text: str, origin: Path | str) -> Experiment:
    """Validate an experiment stored as YAML text (e.g. inside a run file)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(origin, "(experiment)", "stored experiment is not a YAML mapping")
    return parse_experiment(data, text, origin)
