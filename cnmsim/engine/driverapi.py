"""The network-driver contract, after libnetwork's driverapi.

A driver sees ids and options and fills in the callback objects the engine hands it
(`InterfaceInfo` at CreateEndpoint, `JoinInfo` at Join), exactly as remote plug-ins do over
the libnetwork remote API; it programs the host only through `cnmsim.kernel.api`.  Built-in
and third-party drivers register the same way (entry points, see `cnmsim.engine.registry`).

Lifecycle: create_network → create_endpoint (IPAM has given the address) → join (the engine
then moves the interface the driver named into the sandbox, as libnetwork's osl does) →
program_external_connectivity (gateway endpoint only) → ... → leave → delete_endpoint →
delete_network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from cnmsim.engine.ipam.netconfig import IpamInfo
    from cnmsim.kernel import api


@dataclass
class DriverContext:
    """What a driver is given at registration: the host's kernel and the daemon's options."""

    kernel: api.Kernel
    config: dict[str, Any]  # daemon options (bip, icc, iptables, userland-proxy ...)
    host: Any = None  # the lab Host (for apps a driver starts, e.g. docker-proxy)
    rng: Any = None
    profile: str = "classic"  # firewall layout: "classic" = Docker Engine <= 27.x
    ports: Any = None  # the daemon's PortAllocator, shared by every network
    # starts a userland proxy process (docker-proxy) and returns it (it has .stop());
    # raises EngineError when it cannot bind, as the real process fails to start
    start_proxy: Any = None


@dataclass
class Capability:
    data_scope: str = "local"  # "local" or "global"
    connectivity_scope: str = "local"


@dataclass
class InterfaceInfo:
    """CreateEndpoint's interface: IPAM filled `address`; the driver may set `mac`."""

    address: IPv4Interface | None = None
    mac: str | None = None


@dataclass
class StaticRoute:
    destination: str
    next_hop: str | None = None  # None: a connected route (RouteType CONNECTED)


@dataclass
class JoinInfo:
    """Join's answers: which host interface goes into the sandbox and how it is wired."""

    src_name: str = ""  # the interface the driver prepared in the root namespace
    dst_prefix: str = "eth"  # its name inside the sandbox: prefix + index
    gateway: str | None = None  # default route via this address
    static_routes: list[StaticRoute] = field(default_factory=list)
    disable_gateway_service: bool = False
    force_gateway: bool = False  # external connectivity without a gateway address (macvlan ForceGw4)


@dataclass
class PortBinding:
    """One -p mapping: host_ip:host_port -> container port/proto."""

    proto: str
    container_port: int
    host_ip: str = "0.0.0.0"
    host_port: int = 0  # 0: an ephemeral port from the allocator
    host_port_end: int = 0


@runtime_checkable
class Driver(Protocol):
    """A network driver (libnetwork driverapi.Driver)."""

    name: str

    def capability(self) -> Capability: ...
    def create_network(self, nid: str, name: str, options: dict[str, str],
                       ipv4: list[IpamInfo], internal: bool) -> None: ...
    def delete_network(self, nid: str) -> None: ...
    def create_endpoint(self, nid: str, eid: str, iface: InterfaceInfo, options: dict[str, Any]) -> None: ...
    def delete_endpoint(self, nid: str, eid: str) -> None: ...
    def join(self, nid: str, eid: str, sbox_key: str, jinfo: JoinInfo, options: dict[str, Any]) -> None: ...
    def leave(self, nid: str, eid: str) -> None: ...
    def program_external_connectivity(self, nid: str, eid: str, bindings: list[PortBinding],
                                      options: dict[str, Any]) -> list[PortBinding]: ...
    def revoke_external_connectivity(self, nid: str, eid: str) -> None: ...
    def network_info(self, nid: str) -> dict[str, str]: ...  # driver options shown by inspect


class DriverBase:
    """Defaults for the optional parts of the contract (no external connectivity, no options)."""

    name = ""

    def __init__(self, ctx: DriverContext) -> None:
        self.ctx = ctx

    def capability(self) -> Capability:
        return Capability()

    def program_external_connectivity(self, nid: str, eid: str, bindings: list[PortBinding],
                                      options: dict[str, Any]) -> list[PortBinding]:
        return []

    def revoke_external_connectivity(self, nid: str, eid: str) -> None:
        return None

    def network_info(self, nid: str) -> dict[str, str]:
        return {}
