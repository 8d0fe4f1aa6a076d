"""CNM Network and Endpoint: a group of endpoints that can talk directly, and a sandbox's
attachment to one network (libnetwork network.go, endpoint.go).

A Network holds what `docker network inspect` shows (id, driver, scope, IPAM config, options,
labels, internal/attachable) and its endpoints; an Endpoint holds the address IPAM gave it,
the MAC the driver chose, its DNS names and aliases, and its published ports once programmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnmsim.engine.driverapi import PortBinding
    from cnmsim.engine.ipam.netconfig import IpamConf, IpamInfo
    from cnmsim.engine.sandbox import Sandbox

PREDEFINED = ("bridge", "host", "none")


@dataclass
class Endpoint:
    id: str
    name: str  # the container's name
    network: Network
    address: IPv4Interface | None = None
    mac: str = ""
    aliases: list[str] = field(default_factory=list)  # --network-alias (network-scoped)
    dns_names: list[str] = field(default_factory=list)  # name, aliases, short id, hostname
    sandbox: Sandbox | None = None
    ifname: str = ""  # its interface inside the sandbox (eth0 ...)
    gateway: str | None = None  # from Join
    bindings: list[PortBinding] = field(default_factory=list)  # programmed -p mappings
    requested_ip: str | None = None  # --ip
    links: list[str] = field(default_factory=list)

    @property
    def ip(self) -> str:
        return str(self.address.ip) if self.address else ""


@dataclass
class Network:
    id: str
    name: str
    driver: str
    scope: str = "local"
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    created: float = 0.0
    ipam_driver: str = "default"
    ipam_options: dict[str, str] = field(default_factory=dict)
    ipam_confs: list[IpamConf] = field(default_factory=list)
    ipam_infos: list[IpamInfo] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    user_subnet: bool = False  # created with --subnet (only then may containers ask for --ip)
    extra: dict[str, Any] = field(default_factory=dict)
    generation: int = 0  # bumped whenever an endpoint joins or leaves (DNS tables follow it)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """NetworkMode.IsUserDefined: not bridge/host/none (and not container:...)."""
        return not self.predefined

    @property
    def subnet(self) -> str:
        return str(self.ipam_infos[0].subnet) if self.ipam_infos else ""

    @property
    def gateway(self) -> str:
        gw = self.ipam_infos[0].gateway if self.ipam_infos else None
        return str(gw.ip) if gw else ""

    def __repr__(self) -> str:
        return f"<Network {self.name} {self.driver} {self.subnet}>"
