"""The one set of validation rules for the project's YAML files (station, experiment,
sim section) and the strict YAML reader.

Every error names the file, the key (dotted path) and what is allowed, and is raised
before anything is connected or moved.
"""

from __future__ import annotations

import difflib
import math
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


def did_you_mean(value: Any, allowed: Iterable[str]) -> str:
    """``did you mean 'x'? allowed: …`` (the hint only for a close match)."""
    names = sorted(allowed)
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}allowed: {', '.join(names)}"


def unknown_key_problem(key: Any, allowed: Iterable[str]) -> str:
    """``unknown key; did you mean 'x'? allowed: …`` (the hint only for a close match)."""
    return f"unknown key; {did_you_mean(key, allowed)}"


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


#: most aliases (``*name``) one file may use, and most nodes its aliases may expand to:
#: a station or experiment file needs a handful at most; an "alias bomb" (aliases of
#: aliases, a billion nodes from a few lines) is refused before it is expanded
MAX_ALIASES = 100
MAX_ALIAS_NODES = 10_000


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only) that refuses duplicate keys and limits
    aliases; the composed node tree is checked before anything is constructed."""


def _mark(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _node_key(node: yaml.Node) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"({node.tag})"


def _check_tree(path: Path, root: yaml.Node) -> None:
    """Duplicate keys, alias count and alias expansion size, measured on the node graph
    (shared nodes counted each time they are reached, as the expansion would)."""
    aliases = 0
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, where: str) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = _node_key(key_node)
                if key in seen and key != "<<":
                    raise ConfigError(
                        path,
                        f"{where}{key}",
                        f"duplicate key ({_mark(key_node)}): each key may appear once",
                    )
                seen.add(key)
                total += size(key_node, where) + size(value_node, f"{where}{key}.")
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item, where) for item in node.value)
        sizes[id(node)] = total
        return total

    def count_aliases(node: yaml.Node, reached: set[int]) -> None:
        nonlocal aliases
        if id(node) in reached:
            aliases += 1
            return
        reached.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        for child in children:
            count_aliases(child, reached)

    count_aliases(root, set())
    if aliases > MAX_ALIASES:
        raise ConfigError(
            path, "(file)", f"{aliases} YAML aliases; at most {MAX_ALIASES} are allowed"
        )
    expanded = size(root, "")
    if aliases and expanded > MAX_ALIAS_NODES:
        raise ConfigError(
            path,
            "(file)",
            f"YAML aliases expand to {expanded:.3g} values; at most {MAX_ALIAS_NODES} "
            "are allowed (an alias bomb?)",
        )


def _check_finite(path: Path, value: Any, where: str) -> None:
    """Refuse NaN and infinities anywhere in the data (no value of any file may be one)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            path, where or "(file)", f"{value!r} is not allowed: write a finite number"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(path, item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            _check_finite(path, item, f"{where}[{n}]")


def parse_yaml(text: str, path: Path | str) -> Any:
    """Parse YAML ``text`` strictly (safe loader, no duplicate keys, few aliases, every
    number finite); errors name ``path``."""
    path = Path(path)
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_tree(path, root)
        data = loader.construct_document(root)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(path, "(file)", f"not valid YAML: {problem}") from exc
    except RecursionError as exc:
        raise ConfigError(path, "(file)", "YAML nested too deeply (a recursive alias?)") from exc
    finally:
        loader.dispose()
    _check_finite(path, data, "")
    return data


def read_yaml(path: Path | str) -> tuple[dict[str, Any], str]:
    """Read a YAML mapping from ``path`` strictly (:func:`parse_yaml`); return (data,
    text). Errors (missing, unreadable, not UTF-8 text, not YAML, not a mapping) name
    the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError as exc:
        raise ConfigError(path, "(file)", "is a folder, expected a YAML file") from exc
    except FileNotFoundError as exc:
        raise ConfigError(path, "(file)", "cannot read: no such file") from exc
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            path, "(file)", f"not a UTF-8 text file (byte {exc.start}): expected YAML"
        ) from exc
    if "\x00" in text:
        raise ConfigError(path, "(file)", "contains NUL bytes: expected a YAML text file")
    data = parse_yaml(text, path)
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
