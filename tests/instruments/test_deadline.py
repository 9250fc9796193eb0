"""Bounded waits once an instrument is silent (andreev.instruments.deadline.Silence),
and over real TCP: a silent Nanonis costs seconds per request, not the full timeout."""

from __future__ import annotations

import time

import pytest

from andreev.instruments.deadline import Silence
from andreev.instruments.nanonis.transport import NanonisTimeoutError, NanonisTransport
from andreev.sim import SimFridge


def test_silence_shortens_then_fails_fast_then_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    s = Silence(probe_timeout=2.0, probe_interval=15.0, give_up_after=8.0)
    assert s.reply_timeout(10.0) == 10.0 and s.describe() == ""
    s.timed_out("Bias.Get", 10.0)
    assert s.reply_timeout(10.0) == 2.0  # silent: a short probe
    assert s.reply_timeout(0.5) == 0.5  # never longer than asked
    s.timed_out("Current.Get", 2.0)
    assert s.reply_timeout(10.0) is None  # silent for 12 s, twice: fail at once
    assert "'Bias.Get' got no reply within 10 s" in s.describe()
    now[0] += 16.0
    assert s.reply_timeout(10.0) == 2.0  # one probe every probe_interval
    assert s.reply_timeout(10.0) is None
    s.answered()
    assert s.reply_timeout(10.0) == 10.0 and s.describe() == ""


def test_silent_nanonis_is_bounded(sim_fridge: SimFridge) -> None:
    host, port = sim_fridge.addresses["stm"]
    t = NanonisTransport(host, port, timeout=1.0)
    assert "bias" in t.call("Bias.Get")
    sim_fridge.servers["stm"].faults.silent = True
    t.silence.give_up_after = 1.5
    started = time.monotonic()
    with pytest.raises(NanonisTimeoutError, match="within 1 s"):
        t.call("Bias.Get")  # 1 s, then a resend with the probe timeout (1 s)
    with pytest.raises(NanonisTimeoutError, match=r"not sent: not answering since 'Bias\.Get'"):
        for _ in range(20):
            t.call("Current.Get")
    assert time.monotonic() - started < 6.0
    sim_fridge.servers["stm"].faults.silent = False
    t.silence.probe_interval = 0.0
    assert "bias" in t.call("Bias.Get")  # the next probe finds it talking again
    assert t.silence.timeouts == 0
    t.close()
