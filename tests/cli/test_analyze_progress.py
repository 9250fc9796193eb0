"""andreev analyze's progress bar: redrawn in place on a terminal, a line at the first fit and
per tenth in a pipe, the ETA from the rate so far."""

from __future__ import annotations

import io
from pathlib import Path

from andreev.cli.analyze_progress import FitProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _clock(times: list[float]):
    it = iter(times)
    return lambda: next(it)


def test_terminal_bar_redrawn_in_place_with_eta_then_ended() -> None:
    term = _Terminal()
    bar = FitProgress(term, clock=_clock([0.0, 2.0, 8.0]))
    bar(16, 64, None)
    bar(64, 64, None)
    bar(64, 64, Path("a.h5"))  # the first file's results are ready: the line ends
    text = term.getvalue()
    first, last = text.split("\r")[1:]
    assert first == "[#######-----------------------] 16/64 fits (25 %), 2 s, ETA 6 s"
    assert last.rstrip() == "[##############################] 64/64 fits (100 %), 8 s"
    assert text.endswith("\n") and text.count("\n") == 1
    bar.close()  # a second close adds nothing
    assert term.getvalue().count("\n") == 1


def test_pipe_gets_a_plain_line_per_tenth() -> None:
    pipe = io.StringIO()
    bar = FitProgress(pipe, clock=lambda: 1.0)
    for done in range(1, 101):
        bar(done, 100, None)
    bar(100, 100, Path("a.h5"))
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue()
    assert len(lines) == 11  # the first fit, then every tenth
    assert "1/100 fits (1 %)" in lines[0] and "10/100 fits (10 %)" in lines[1]
    assert lines[-1].startswith("[" + "#" * 30 + "] 100/100 fits (100 %)")
