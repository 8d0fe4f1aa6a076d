"""The two special drivers, host and null: one network each, no addresses, nothing to wire
(libnetwork drivers/host and drivers/null; network.go hasSpecialDriver skips IPAM for them)."""

from __future__ import annotations

from typing import Any

from cnmsim.engine.driverapi import DriverBase, InterfaceInfo, JoinInfo
from cnmsim.engine.errors import EngineError


class SpecialDriver(DriverBase):
    """A driver that allows a single network and gives its endpoints nothing."""

    skip_ipam = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.network: str | None = None

    def create_network(self, nid: str, name: str, options: dict[str, str], ipv4: list, internal: bool) -> None:
        if self.network is not None:
            raise EngineError(f'only one instance of "{self.name}" network is allowed')
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
