"""What swarm mode keeps (swarmkit's store, as one lab-wide object): nodes, networks, services,
tasks, the cluster's address pools and keys.  Pure data shared by the manager (cnmsim.swarm.manager:
`docker swarm|node|service`, scheduling), the overlay driver (cnmsim.engine.drivers.overlay), the
service load balancers and routing mesh (cnmsim.swarm.lb) and encryption (cnmsim.swarm.encryption).

The swarm is a cluster-wide store kept by the managers (raft in swarmkit); the lab holds one
`SwarmState` at `lab.swarm` from `docker swarm init` until the last node leaves.  Per-host state
(namespaces, interfaces, iptables, IPVS) is never kept here: each node's engine programs its own
kernel through cnmsim.kernel.api when its agent is told to run a task, exactly as a worker's
dockerd does after swarmkit's dispatcher assigns it one.

Facts: ../shared/facts/engine.md §2.5 (global pools), §4 (overlay, LB, mesh, encryption),
§5 (publishing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network
from typing import Any

VXLAN_PORT = 4789  # default --data-path-port
VNI_START = 4096  # ovmanager vxlanIDStart
FWMARK_START = 256  # service.go fwMarkCtr
DYNAMIC_PORTS = (30000, 32767)  # swarmkit portallocator dynamic range
DEFAULT_POOL = "10.0.0.0/8"
DEFAULT_MASK = 24
KEY_ROTATION = 12 * 3600.0  # keymanager DefaultKeyRotationInterval
KEYRING = 3
OVERLAY_MTU = 1450  # 1500 - 50 (vxlanEncap)
ENCRYPTED_MTU = 1424  # 1450 - 26 (ESP), rounded down to a multiple of 4


@dataclass
class Node:
    """One swarm node (`docker node ls`): a lab host that ran swarm init/join."""

    id: str  # 25 lower-case alphanumerics, as swarmkit's identity.NewID
    hostname: str
    addr: str  # advertise address (its underlay IP)
    role: str = "worker"  # "manager" or "worker"
    availability: str = "active"  # "active", "pause", "drain"
    status: str = "ready"  # "ready", "down" (from the gossip view of the managers)
    leader: bool = False
    joined_at: float = 0.0
    index: int = 0  # its memberlist node number in the lab's gossip cluster
    left: bool = False  # it ran `docker swarm leave` (or was removed): listed Down, no longer a member


@dataclass
class SwarmNetwork:
    """A swarm-scoped network (overlay), identical on every node that has a task on it."""

    id: str  # 25 alphanumerics (swarmkit network id)
    name: str
    driver: str = "overlay"
    subnet: IPv4Network | None = None
    gateway: str = ""
    vni: int = 0
    attachable: bool = False
    internal: bool = False
    ingress: bool = False
    encrypted: bool = False
    options: dict[str, str] = field(default_factory=dict)  # -o/--opt, as given
    labels: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] = field(default_factory=dict)  # IPAM driver options (serial=true ...)
    created: float = 0.0
    allocated: dict[str, str] = field(default_factory=dict)  # ip -> owner (task id, "lb-<node>", ...)
    lb_fwmark: dict[str, int] = field(default_factory=dict)  # service id -> fwmark on this network

    @property
    def mtu(self) -> int:
        """maxMTU(): (the network's mtu option or 1500) - 50 for VXLAN, and for encrypted networks a
        further 26 for ESP rounded down to a multiple of 4 (facts engine.md §4: 1450 / 1424)."""
        base = int(self.options.get("com.docker.network.driver.mtu", 0) or 0) or 1500
        mtu = base - (1500 - OVERLAY_MTU)
        return (mtu - 26) // 4 * 4 if self.encrypted else mtu


@dataclass
class PortConfig:
    """One `--publish` of a service."""

    target: int
    published: int = 0  # 0 until allocated (ingress: 30000-32767; host: a local ephemeral port)
    protocol: str = "tcp"
    mode: str = "ingress"  # "ingress" (routing mesh) or "host"


@dataclass
class Service:
    id: str
    name: str
    image: str
    replicas: int = 1
    mode: str = "replicated"  # or "global"
    networks: list[str] = field(default_factory=list)  # SwarmNetwork ids (user networks, in order)
    ports: list[PortConfig] = field(default_factory=list)
    endpoint_mode: str = "vip"  # or "dnsrr"
    env: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    vips: dict[str, IPv4Interface] = field(default_factory=dict)  # network id -> VIP (ingress too)
    created: float = 0.0
    updated: float = 0.0
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    """One replica (`docker service ps`): a container on one node."""

    id: str
    service: str  # service id
    slot: int  # replica number (global services: 0, one per node)
    node: str  # node id
    desired: str = "running"  # "running", "shutdown"
    state: str = "new"  # new, pending, assigned, preparing, starting, running, shutdown, failed, ...
    error: str = ""
    addresses: dict[str, IPv4Interface] = field(default_factory=dict)  # network id -> address
    container: str = ""  # container id on its node, once started
    created: float = 0.0
    updated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # spec version, exit code, status message

    def name(self, service_name: str) -> str:
        """`<service>.<slot>` (global: `<service>.<node id>`), as `docker service ps` shows it."""
        return f"{service_name}.{self.slot}" if self.slot else f"{service_name}.{self.node}"


@dataclass
class SwarmState:
    """The cluster-wide store. The managers' `docker ...` commands change it; each node's agent
    (its Daemon) realises what concerns it."""

    id: str
    created: float
    default_pool: list[IPv4Network] = field(default_factory=lambda: [IPv4Network(DEFAULT_POOL)])
    mask: int = DEFAULT_MASK
    data_path_port: int = VXLAN_PORT
    nodes: dict[str, Node] = field(default_factory=dict)
    networks: dict[str, SwarmNetwork] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # "worker"/"manager" -> SWMTKN-1-...
    keys: list[tuple[int, bytes]] = field(default_factory=list)  # (lamport time, 16-byte key), primary first
    next_fwmark: int = FWMARK_START
    gossip: Any = None  # the LabGossip among the nodes (memberlist + networkdb on 7946)
    extra: dict[str, Any] = field(default_factory=dict)

    def node_by_host(self, hostname: str) -> Node | None:
        """The host's current membership (a host that left and joined again has a new node)."""
        return next((n for n in self.nodes.values() if n.hostname == hostname and not n.left), None)
