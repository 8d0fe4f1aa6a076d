"""The host driver: the container shares the host's network namespace (drivers/host/host.go).

Nothing is created: no interface, no address, no IPAM; the sandbox *is* the host namespace, so
two containers listening on one port collide as two host processes would.
"""

from __future__ import annotations

from typing import Any

from cnmsim.engine.driverapi import DriverBase, InterfaceInfo, JoinInfo
from cnmsim.engine.errors import EngineError


class HostDriver(DriverBase):
    name = "host"
    skip_ipam = True  # hasSpecialDriver(): host and null networks take no addresses
    shares_host_namespace = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.network: str | None = None

    def create_network(self, nid: str, name: str, options: dict[str, str], ipv4: list, internal: bool) -> None:
        if self.network is not None:
            raise EngineError('only one instance of "host" network is allowed')
        self.network = nid

    def delete_network(self, nid: str) -> None:
        self.network = None

    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None:
        return None

    def delete_endpoint(self, nid: str, eid: str) -> None:
        return None

    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None:
        return None

    def leave(self, nid: str, eid: str) -> None:
        return None
