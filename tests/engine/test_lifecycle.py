"""The run's life around the engine: a resume of a file that a live process writes is
refused before any instrument is connected (whoever asks: the CLI, the GUI, a script)."""

from __future__ import annotations

from pathlib import Path

import pytest

from andreev.errors import RunLockedError
from andreev.procedures.runner import run_experiment
from andreev.sim import SimFridge
from andreev.storage.recovery import WriterLock
from tests.cli.test_run_cli import _one_sweep_run


def test_resuming_a_live_writers_file_connects_nothing(
    sim_fridge: SimFridge, sim_station: Path, tmp_path: Path
) -> None:
    run_file = _one_sweep_run(sim_station, tmp_path)
    for server in sim_fridge.servers.values():
        server.clear_received()
    writer = WriterLock(run_file)
    try:
        with pytest.raises(RunLockedError, match="being written by another live process"):
            run_experiment(None, sim_station, resume=run_file)
    finally:
        writer.release()
    assert all(not server.received for server in sim_fridge.servers.values())
