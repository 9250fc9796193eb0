"""The engine that runs a plan (like Bluesky's RunEngine, without Bluesky).

A plan (an :mod:`andreev.procedures` Procedure) declares what to measure: the grid of
sweeps, its hooks and what one sweep is. The engine executes it:

- :mod:`~andreev.engine.run_engine` — :class:`RunEngine`: walks the grid, skips what the
  run file holds, approaches each setpoint, takes the sweep, checks the suspenders,
  retakes (re-ranging the lock-in after an overload), checkpoints through storage and
  leaves the instruments safe on every exit path;
- :mod:`~andreev.engine.stop` — :class:`StopFlag` (Ctrl-C, SIGTERM, a GUI button);
- :mod:`~andreev.engine.events` — what the engine reports (it never prints);
- :mod:`~andreev.engine.lifecycle` — opening the station, creating or resuming the run
  file and its log, closing both with the exit status;
- :mod:`~andreev.engine.plan` — the contract between plans and the engine;
- :mod:`~andreev.engine.rig` — the three instruments by role, seen through the
  Protocols of :mod:`andreev.instruments.roles`.

See ``docs/architecture.md``.
"""
