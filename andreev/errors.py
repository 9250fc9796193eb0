"""The exceptions andreev raises on purpose, one hierarchy under :class:`AndreevError`.

None of them is a ``ValueError``: an ``except ValueError`` somewhere in a library or a
procedure must never swallow a safety refusal or a configuration error. The CLI turns
every ``AndreevError`` into one line on the terminal and an exit status.
"""

from __future__ import annotations

from pathlib import Path


class AndreevError(Exception):
    """Base of every error andreev raises deliberately."""


class ConfigError(AndreevError):
    """A configuration file (station, experiment, sim section) or a command-line value is
    invalid; the message names the file, the key (dotted path) and what is allowed.

    ``details``: every problem in full, one line each, when the message names only the
    first (``… (and 2 more: parameters.a, parameters.b)``); the CLI logs them."""

    details: tuple[str, ...] = ()

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path = Path(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.path}: {key}: {problem}")


class LimitError(ConfigError):
    """An experiment asks for something outside the station's safety limits."""


class SafetyError(AndreevError):
    """A requested value lies outside a configured safety limit; nothing was written."""


class InstrumentError(AndreevError):
    """An instrument did not answer, answered garbage, or is not the one expected."""


class RunLockedError(AndreevError):
    """Another live process holds the run file (or the station) for writing."""


class RunFileError(AndreevError):
    """A run file is missing, not HDF5, or not an andreev run."""


class Aborted(AndreevError):
    """The run was asked to stop (Ctrl-C, SIGTERM, the GUI's abort button)."""
