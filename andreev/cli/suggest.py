"""“Did you mean …?” for a mistyped command or option (argparse of Python < 3.14 has
none): the closest command name, or the closest option of the command being run."""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence

_CHOICE = re.compile(r"invalid choice: '([^']*)'")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*?)(?: \(see |$)")


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser`` by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    strings = (s for action in parser._actions for s in action.option_strings)
    return [s for s in strings if s.startswith("--") and s != "--help"]


def did_you_mean(parser: argparse.ArgumentParser, argv: Sequence[str], message: str) -> str:
    """``"; did you mean 'X'?"`` for argparse's ``message`` about ``argv``, or ``""``."""
    commands = _commands(parser)
    if found := _CHOICE.search(message):
        close = difflib.get_close_matches(found.group(1), list(commands), n=1)
        return f"; did you mean '{close[0]}'?" if close else ""
    if found := _UNRECOGNIZED.search(message):
        command = next((commands[a] for a in argv if a in commands), None)
        options = _options(parser) + (_options(command) if command is not None else [])
        for word in found.group(1).split():
            name = word.split("=", 1)[0]
            close = difflib.get_close_matches(name, options, n=1) if name.startswith("-") else []
            if close:
                return f"; did you mean '{close[0]}'?"
    return ""
