"""The null driver behind the `none` network: a sandbox with only its loopback (drivers/null)."""

from __future__ import annotations

from typing import Any

from cnmsim.engine.driverapi import DriverBase, InterfaceInfo, JoinInfo
from cnmsim.engine.errors import EngineError


class NullDriver(DriverBase):
    name = "null"
    skip_ipam = True

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.network: str | None = None

    def create_network(self, nid: str, name: str, options: dict[str, str], ipv4: list, internal: bool) -> None:
        if self.network is not None:
            raise EngineError('only one instance of "null" network is allowed')
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
