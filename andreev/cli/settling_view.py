"""Shows temperature waits on the terminal: one line per engine ``Settling`` event
(T, |T − T_set|, dT/dt, hold and timeout countdowns).

Wiring (in ``andreev run``'s listeners): ``listeners.append(SettlingView())``. With a
progress bar on the same terminal, give it the bar's ``write`` (e.g. ``tqdm.write``)
as ``write`` so lines never collide with the bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from andreev.engine.events import Event


class SettlingView:
    """An engine listener printing each ``Settling`` event as one line."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self.write = write or (lambda line: print(line, file=sys.stdout, flush=True))

    def __call__(self, event: Event) -> None:
        from andreev.engine.events import Settling
        from andreev.engine.settling import describe

        if isinstance(event, Settling):
            self.write(describe(event))
