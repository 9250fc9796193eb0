"""The simulated fridge: the three instrument servers around one :class:`World`.

``SimFridge(world, ports={"lockin": 0, "bridge": 0, "stm": 0}, host="127.0.0.1")``;
``start()`` / ``stop()`` (also a context manager); ``addresses`` ->
``{"lockin": (host, port), "bridge": …, "stm": …}`` once started; ``servers`` ->
``{"lockin": SR830Server, "bridge": LS372Server, "stm": NanonisServer}``;
``visa_address(name)`` -> ``"TCPIP0::127.0.0.1::PORT::SOCKET"``. Port 0 picks a free port.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from andreev.config.station import ROLES
from andreev.sim.ls372_server import LS372Server
from andreev.sim.sr830_server import SR830Server
from andreev.sim.tcp import TCPServer
from andreev.sim.world import World

__all__ = ["INSTRUMENTS", "SimFridge", "socket_visa_name", "station_overrides"]

#: Instrument names in start order.
INSTRUMENTS: tuple[str, ...] = ROLES  # one simulated instrument per station role


def socket_visa_name(host: str, port: int) -> str:
    """VISA resource name of a raw TCP socket at ``host``:``port``."""
    return f"TCPIP0::{host}::{port}::SOCKET"


def station_overrides(addresses: Mapping[str, tuple[str, int]]) -> dict[str, dict[str, str]]:
    """Simulated instruments at ``addresses`` (``{name: (host, port)}``, as
    :attr:`SimFridge.addresses` or the lines ``andreev sim`` prints) as station overrides:
    ``{"lockin": {"address": VISA name}, "bridge": …, "stm": {"address": "host:port"}}``."""
    host, port = addresses["stm"]
    return {
        "lockin": {"address": socket_visa_name(*addresses["lockin"])},
        "bridge": {"address": socket_visa_name(*addresses["bridge"])},
        "stm": {"address": f"{host}:{port}"},
    }


class SimFridge:
    """Serve ``world`` as an SR830 (lockin), a Lake Shore 372 (bridge) and a Nanonis STM."""

    def __init__(
        self,
        world: World,
        ports: dict[str, int] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        from andreev.sim.nanonis_server import NanonisServer

        self.world = world
        self.host = host
        wanted = {"lockin": 0, "bridge": 0, "stm": 0}
        unknown = sorted(set(ports or {}) - set(wanted))
        if unknown:
            raise ValueError(f"unknown instrument(s) {unknown}; allowed: {list(INSTRUMENTS)}")
        wanted.update(ports or {})
        self.ports = wanted
        self.servers: dict[str, TCPServer] = {
            "lockin": SR830Server(world, host, wanted["lockin"]),
            "bridge": LS372Server(world, host, wanted["bridge"]),
            "stm": NanonisServer(world, host, wanted["stm"]),
        }
        for name, settings in world.config.server_faults.items():
            for key, value in settings.items():
                setattr(self.servers[name].faults, key, value)

    def start(self) -> SimFridge:
        """Start every server (stopping those already started if one fails); returns self."""
        started: list[TCPServer] = []
        try:
            for name in INSTRUMENTS:
                self.servers[name].start()
                started.append(self.servers[name])
        except Exception:
            for server in started:
                server.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server."""
        for name in reversed(INSTRUMENTS):
            self.servers[name].stop()

    def __enter__(self) -> SimFridge:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """``{name: (host, port)}`` of the running servers."""
        return {name: self.servers[name].address for name in INSTRUMENTS}

    def visa_address(self, name: str) -> str:
        """VISA resource name of instrument ``name`` (raw socket)."""
        return socket_visa_name(*self.servers[name].address)

    def station_overrides(self) -> dict[str, dict[str, str]]:
        """The running servers' addresses as station overrides (:func:`station_overrides`)."""
        return station_overrides(self.addresses)

    def write_station(self, template: Path, path: Path, speedup: float | None = None) -> Path:
        """Write to ``path`` the station YAML ``template`` pointed at these servers (their
        addresses, ``speedup`` when given, no ``sim:`` section: the fridge is running).
        Returns ``path``."""
        import yaml

        data = yaml.safe_load(Path(template).read_text(encoding="utf-8"))
        for name, override in self.station_overrides().items():
            data["instruments"][name].update(override)
        if speedup is not None:
            data["clock"]["speedup"] = speedup
        data.pop("sim", None)
        Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return Path(path)
