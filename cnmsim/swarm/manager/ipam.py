"""The swarm's global IPAM: subnets from the default address pools, VNIs, addresses within a
swarm network, and ingress published ports (swarmkit cnmallocator + portallocator, libnetwork's
default IPAM in the global address space, ovmanager's VNI bitmap).  Facts: engine.md §2.4, §2.5,
§4, §5.

- Subnets: the pools split into /mask subnets, handed out lowest-free first, so a deleted
  network's subnet is the next one given (docs `engine/swarm/networking.md`); a user --subnet
  must not overlap any allocated one.
- VNIs: from 4096, serially (`SetAnyInRange(4096, 2^24-1, serial=true)`): a freed VNI is not
  reused until the counter wraps.
- Addresses: the gateway first (.1), then serially (`com.docker.network.ipam.serial=true`, set by
  the cnmallocator): scanning resumes after the last address given and wraps, so a released
  address is not handed out again at once.
- Published ports: 30000-32767 serially when not given (`dynamicPortSpace.GetID(true)`); a
  given port must not be published in ingress mode by another service.
"""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

from cnmsim.engine.errors import EngineError
from cnmsim.swarm.manager.errors import rpc
from cnmsim.swarm.model import DYNAMIC_PORTS, VNI_START, SwarmNetwork

VNI_END = 2**24 - 1
POOL_OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"
NO_POOL = ("could not find an available, non-overlapping IPv4 address pool among the defaults to "
           "assign to the network")


class GlobalIpam:
    """The allocator state; the allocations themselves are recorded in the model (SwarmNetwork
    subnet/vni/allocated) so that other parts read them from there."""

    def __init__(self, pools: list[IPv4Network], mask: int) -> None:
        self.pools = list(pools)
        self.mask = mask
        self.subnets: dict[IPv4Network, str] = {}  # subnet -> network id
        self.user_subnets: set[str] = set()  # networks created with --subnet (they take --ip)
        self.vnis: set[int] = set()
        self.vni_cursor = VNI_START - 1
        self.cursor: dict[str, int] = {}  # network id -> offset of the last address given
        self.ports: dict[tuple[str, int], str] = {}  # (proto, published) -> service id (ingress mode)
        self.port_cursor = DYNAMIC_PORTS[0] - 1

    # ------------------------------------------------------------ subnets
    def request_subnet(self, nid: str, want: str | None = None) -> IPv4Network:
        if want:
            try:
                subnet = IPv4Network(want, strict=False)
            except ValueError:
                raise EngineError(f"invalid CIDR address: {want}") from None
            if any(subnet.overlaps(s) for s in self.subnets):
                raise EngineError(POOL_OVERLAP)
            self.subnets[subnet] = nid
            self.user_subnets.add(nid)
            return subnet
        for pool in self.pools:
            new_prefix = max(self.mask, pool.prefixlen)
            for cand in pool.subnets(new_prefix=new_prefix):
                if not any(cand.overlaps(s) for s in self.subnets):
                    self.subnets[cand] = nid
                    return cand
        raise EngineError(NO_POOL)

    def release_subnet(self, subnet: IPv4Network | None) -> None:
        if subnet is not None:
            self.subnets.pop(subnet, None)

    # ------------------------------------------------------------ VNIs
    def request_vni(self, want: int = 0) -> int:
        if want:
            if want in self.vnis:
                raise EngineError(f"requested VNI {want} is already allocated")
            self.vnis.add(want)
            return want
        size = VNI_END - VNI_START + 1
        for step in range(1, size + 1):
            vni = VNI_START + (self.vni_cursor - VNI_START + step) % size
            if vni not in self.vnis:
                self.vnis.add(vni)
                self.vni_cursor = vni
                return vni
        raise EngineError("no VXLAN id available")

    def release_vni(self, vni: int) -> None:
        self.vnis.discard(vni)

    # ------------------------------------------------------------ addresses
    def request_address(self, net: SwarmNetwork, owner: str, want: str | None = None) -> IPv4Interface:
        """An address of the network for `owner` (a task id, "<node id>/<name>" ...)."""
        assert net.subnet is not None
        size, plen = net.subnet.num_addresses, net.subnet.prefixlen
        if want:
            iface = IPv4Interface(f"{want}/{plen}")
            if iface.ip not in net.subnet:
                raise EngineError(f"no configured subnet or ip-range contain the IP address {want}")
            if str(iface.ip) in net.allocated:
                raise EngineError(f"Address already in use: {want}")
            net.allocated[str(iface.ip)] = owner
            return iface
        last = self.cursor.get(net.id, 0)
        usable = max(size - 2, 1)
        for step in range(1, usable + 1):
            off = 1 + (last - 1 + step) % usable
            ip = str(net.subnet.network_address + off) if size > 2 else str(net.subnet.network_address)
            if ip not in net.allocated:
                net.allocated[ip] = owner
                self.cursor[net.id] = off
                return IPv4Interface(f"{ip}/{plen}")
        raise EngineError(f"no available IPv4 addresses on this network's address pools: {net.name} ({net.id})")

    def release_address(self, net: SwarmNetwork, ip: str) -> None:
        net.allocated.pop(str(ip).split("/")[0], None)

    def owned(self, net: SwarmNetwork, owner: str) -> str | None:
        """The address `owner` holds on the network, if any."""
        return next((ip for ip, o in net.allocated.items() if o == owner), None)

    def forget_network(self, net: SwarmNetwork) -> None:
        self.release_subnet(net.subnet)
        self.release_vni(net.vni)
        self.cursor.pop(net.id, None)
        self.user_subnets.discard(net.id)

    # ------------------------------------------------------------ published ports
    def request_port(self, service: str, proto: str, want: int = 0) -> int:
        if want:
            self.ports[(proto, want)] = service
            return want
        lo, hi = DYNAMIC_PORTS
        size = hi - lo + 1
        for step in range(1, size + 1):
            port = lo + (self.port_cursor - lo + step) % size
            if (proto, port) not in self.ports:
                self.ports[(proto, port)] = service
                self.port_cursor = port
                return port
        raise EngineError(rpc("ResourceExhausted", "no more dynamic ports available"))

    def port_owner(self, proto: str, port: int) -> str | None:
        return self.ports.get((proto, port))

    def release_ports(self, service: str) -> None:
        for key in [k for k, v in self.ports.items() if v == service]:
            del self.ports[key]
