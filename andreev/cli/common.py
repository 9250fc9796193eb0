"""What the CLI's command modules share: default paths."""

from __future__ import annotations

from pathlib import Path

DEFAULT_SIM_CONFIG = Path("config/sim.yaml")
