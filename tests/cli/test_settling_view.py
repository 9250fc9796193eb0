"""The terminal view of a temperature wait: one line per Settling event, above the
progress line."""

from __future__ import annotations

import io
import math

from andreev.cli.progress import Progress
from andreev.cli.settling_view import SettlingView
from andreev.engine.events import Settling, Status


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(**changes: float) -> Settling:
    values = dict(
        setpoint=0.3,
        temperature=0.2953,
        deviation=0.0047,
        tolerance=1.5e-3,
        rate=2.0e-5,
        max_rate=3.0e-4,
        held=0.0,
        hold_time=120.0,
        elapsed=600.0,
        timeout=5400.0,
    )
    values.update(changes)
    return Settling(**values)


def test_a_wait_shows_t_deviation_slope_and_both_countdowns() -> None:
    lines: list[str] = []
    view = SettlingView(write=lines.append)
    view(_event())
    view(Status("instruments in the safe state"))  # not a wait: nothing shown
    view(_event(rate=math.inf, held=30.0))
    assert len(lines) == 2
    assert lines[0] == (
        "settling to 0.3 K: T 0.2953 K, |T-T_set| 4.7 mK (tol 1.5 mK), dT/dt 2e-05 K/s "
        "(max 0.0003), hold 0/120 s (120 s to go), timeout in 4800 s"
    )
    assert "dT/dt unknown yet" in lines[1] and "hold 30/120 s (90 s to go)" in lines[1]


def test_the_wait_line_goes_above_the_progress_line() -> None:
    terminal = Terminal()
    progress = Progress(terminal, planned_seconds=100.0)
    progress(1, 4, 10.0)
    SettlingView(write=progress.write_above)(_event())
    progress(2, 4, 10.0)
    progress.close()
    lines = terminal.getvalue().split("\n")
    wait = next(line for line in lines if "settling to 0.3 K" in line)
    assert wait.rsplit("\r", 1)[-1].startswith("settling to 0.3 K: T 0.2953 K")
    assert "sweeps" not in wait.rsplit("\r", 1)[-1]  # not glued to the bar
