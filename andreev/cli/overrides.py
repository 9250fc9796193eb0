"""``andreev run EXPERIMENT.yaml -p key=value``: change a parameter for one run.

Each value is typed by the procedure's own Parameter (the same checks as the
experiment file: range, type, finite), an unknown key gets "did you mean …?", and the
run file stores the experiment *with* the overrides (a resume repeats them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from andreev.errors import ConfigError

if TYPE_CHECKING:
    from andreev.procedures.experiment import Experiment

__all__ = ["apply_overrides", "parse_assignments"]

WHERE = "(command line)"


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["bias_points=101", …]`` as ``{"bias_points": "101"}``; ConfigError for an item
    without ``=`` or a key given twice."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(WHERE, "-p", f"{item!r}: expected KEY=VALUE, e.g. bias_points=101")
        if key in out:
            raise ConfigError(WHERE, f"-p {key}", "given twice; give each key once")
        out[key] = value.strip()
    return out


def typed_value(key: str, text: str, parameter: Any) -> Any:
    """``text`` as the value ``parameter`` wants: a YAML scalar or list (``[0.05, 0.3]``,
    ``true``, ``101``), with numbers like ``1e-9`` read as numbers; never NaN or inf."""
    from andreev.config import parse_yaml

    kind = type(parameter).__name__
    try:
        value = parse_yaml(text, WHERE) if text else ""
    except ConfigError as exc:
        raise ConfigError(WHERE, f"-p {key}", exc.problem) from None
    if isinstance(value, str) and kind in ("FloatParameter", "IntegerParameter"):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(WHERE, f"-p {key}", f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(WHERE, f"-p {key}", f"{text!r}: write a finite number")
        if kind == "IntegerParameter" and value.is_integer():
            value = int(value)
    return value


def apply_overrides(experiment: Experiment, assignments: dict[str, str]) -> Experiment:
    """A new Experiment: ``experiment`` with ``assignments`` (key → text) applied to its
    parameters; its text (stored in the run file) records them."""
    import yaml

    from andreev.config import did_you_mean, parse_yaml
    from andreev.procedures.experiment import parse_experiment

    if not assignments:
        return experiment
    objects = experiment.procedure.parameter_objects()
    data = parse_yaml(experiment.text, experiment.path)
    parameters = dict(data.get("parameters") or {})
    for key, text in assignments.items():
        if key not in objects:
            raise ConfigError(
                WHERE, f"-p {key}", f"unknown parameter; {did_you_mean(key, objects)}"
            )
        parameters[key] = typed_value(key, text, objects[key])
    data["parameters"] = parameters
    given = " ".join(f"-p {k}={v}" for k, v in assignments.items())
    text = f"# {experiment.path} with {given}\n" + yaml.safe_dump(data, sort_keys=False)
    try:
        return parse_experiment(data, text, experiment.path)
    except ConfigError as exc:
        key = exc.key.removeprefix("parameters.")
        if key in assignments:
            raise ConfigError(WHERE, f"-p {key}", exc.problem) from None
        raise
