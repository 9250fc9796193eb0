"""Text instruments with mnemonic commands (SR830, Lake Shore 372) on the server side.

Both parse ``NAME[?] arg, arg`` the same way and fail the same IEEE-488.2 way: no
error text, only ``*ESR?`` bits (5 for an unknown or malformed command, 4 for a bad
parameter), and a query that fails gets no reply at all.
"""

from __future__ import annotations

import math
from typing import Any

from andreev.sim.tcp import LineServer

ESR_EXECUTION = 4
ESR_COMMAND = 5


class BadCommand(Exception):
    """Unknown command or wrong form (ESR bit 5)."""


class BadParameter(Exception):
    """Bad, missing or out-of-range argument (ESR bit 4)."""


def parse_command(command: str) -> tuple[str, bool, list[str]]:
    """``"SENS? "`` → ("SENS", True, []); ``"PID 0,5,40,0"`` → ("PID", False, [...]).

    Answers repeat (a sweep sends the same few commands): the last :data:`PARSED_SIZE`
    distinct commands are remembered, so a repeated command costs one dict lookup."""
    hit = _parsed.get(command)
    if hit is not None:
        return hit[0], hit[1], list(hit[2])
    name, query, args = _parse(command)
    if len(_parsed) >= PARSED_SIZE:
        _parsed.clear()
    _parsed[command] = (name, query, tuple(args))
    return name, query, args


#: distinct commands whose parse is remembered (see :func:`parse_command`)
PARSED_SIZE = 512
_parsed: dict[str, tuple[str, bool, tuple[str, ...]]] = {}


def _parse(command: str) -> tuple[str, bool, list[str]]:
    text = command.strip()
    i = 1 if text.startswith("*") else 0
    while i < len(text) and text[i].isalpha():
        i += 1
    name = text[:i].upper()
    rest = text[i:].strip()
    query = rest.startswith("?")
    if query:
        rest = rest[1:].strip()
    args = [a.strip() for a in rest.split(",")] if rest else []
    return name, query, args


def int_arg(args: list[str], i: int, low: int, high: int) -> int:
    """Argument ``i`` as an integer within [low, high], else BadParameter."""
    try:
        value = float(args[i])
    except (IndexError, ValueError):
        raise BadParameter from None
    if not value.is_integer() or not low <= value <= high:
        raise BadParameter
    return int(value)


def float_arg(args: list[str], i: int, low: float, high: float) -> float:
    """Argument ``i`` as a finite number within [low, high], else BadParameter."""
    try:
        value = float(args[i])
    except (IndexError, ValueError):
        raise BadParameter from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadParameter
    return value


class MnemonicServer(LineServer):
    """A line server that runs each parsed command on the world, under its lock, after
    advancing it; errors set ``esr`` bits and produce no reply."""

    world: Any
    esr: int = 0
    #: mnemonic -> handler(query, args) returning the reply or None
    _handlers: dict[str, Any]

    #: commands that read and change no physics (identity, status registers, interface
    #: settings): run without advancing the world
    no_physics: frozenset[str] = frozenset()
    #: settings whose query form reads no physics (the stored value)
    settings_queries: frozenset[str] = frozenset()

    def handle_command(self, command: str) -> str | None:
        name, query, args = parse_command(command)
        try:
            with self.world.lock:
                if not (name in self.no_physics or (query and name in self.settings_queries)):
                    self.sync()
                return self.execute(name, query, args)
        except BadCommand:
            self.esr |= 1 << ESR_COMMAND
        except BadParameter:
            self.esr |= 1 << ESR_EXECUTION
        return None

    def sync(self) -> None:
        """Bring the world to now before a command (under its lock); override to watch
        what happens in between."""
        self.world.advance()

    def execute(self, name: str, query: bool, args: list[str]) -> str | None:
        """Run one command through ``_handlers``; return the reply (without terminator)
        or None."""
        handler = self._handlers.get(name)
        if handler is None:
            raise BadCommand
        return handler(query, args)
