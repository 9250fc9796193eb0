"""The stop flag's signal handling and the event emitter."""

from __future__ import annotations

import signal
import sys

import pytest

from andreev.engine.events import Emitter, Event, Status
from andreev.engine.stop import StopFlag


@pytest.mark.skipif(sys.platform == "win32", reason="raises SIGINT in the process")
def test_second_ctrl_c_interrupts_a_run_but_not_its_safe_state() -> None:
    flag = StopFlag()
    with flag.installed():
        signal.raise_signal(signal.SIGINT)
        assert flag.is_set() and flag.reason == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # the impatient second Ctrl-C
        flag.shutting_down = True
        signal.raise_signal(signal.SIGINT)  # while making the instruments safe: logged only
    assert flag.is_set()


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM here")
def test_sigterm_asks_for_a_stop_and_the_old_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    flag = StopFlag()
    with flag.installed():
        signal.raise_signal(signal.SIGTERM)
        assert flag.is_set() and flag.reason == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before


def test_the_first_reason_is_kept() -> None:
    flag = StopFlag()
    flag.set("GUI")
    flag.set("SIGINT")
    assert flag() and flag.reason == "GUI"


def test_a_broken_listener_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("no terminal")

    emit = Emitter([broken, heard.append])
    emit(Status("hello"))
    assert heard == [Status("hello")]
    assert "no terminal" in caplog.text
