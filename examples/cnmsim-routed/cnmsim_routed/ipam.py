"""An IPAM plug-in that hands out addresses from a fixed table (first free entry first).

It follows cnmsim's IPAM contract (cnmsim.engine.ipam.api.Ipam): pools are whatever subnet the
network asks for, addresses come from the table given with `--ipam-opt table=a,b,c` (or the
subnet's .10 to .19 when none is given); the gateway request gets the subnet's first address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from cnmsim.engine.ipam.api import IpamError, PoolGrant

GATEWAY_TYPE = "com.docker.network.gateway"


class TableIpam:
    def __init__(self) -> None:
        self.pools: dict[str, dict] = {}

    def default_address_spaces(self) -> tuple[str, str]:
        return ("TableLocal", "TableGlobal")

    def request_pool(self, address_space: str, pool: str | None, sub_pool: str | None,
                     options: dict[str, str], v6: bool = False) -> PoolGrant:
        if not pool:
            raise IpamError("table IPAM: a --subnet is required")
        net = IPv4Network(pool)
        pid = f"{address_space}/{net}"
        if pid in self.pools:
            raise IpamError("Pool overlaps with other one on this address space")
        given = options.get("table", "")
        table = [IPv4Address(a) for a in given.split(",") if a] or [net.network_address + i for i in range(10, 20)]
        for a in table:
            if a not in net:
                raise IpamError(f"table IPAM: {a} is not in {net}")
        self.pools[pid] = {"net": net, "table": table, "used": set()}
        return PoolGrant(pid, net, {})

    def release_pool(self, pool_id: str) -> None:
        self.pools.pop(pool_id, None)

    def request_address(self, pool_id: str, preferred: str | None, options: dict[str, str]) -> IPv4Interface:
        p = self.pools[pool_id]
        net: IPv4Network = p["net"]
        if options.get("RequestAddressType") == GATEWAY_TYPE and not preferred:
            addr = net.network_address + 1
        elif preferred:
            addr = IPv4Address(preferred)
            if addr in p["used"]:
                raise IpamError("Address already in use")
        else:
            free = [a for a in p["table"] if a not in p["used"]]
            if not free:
                raise IpamError("no available addresses on this pool")
            addr = free[0]
        p["used"].add(addr)
        return IPv4Interface(f"{addr}/{net.prefixlen}")

    def release_address(self, pool_id: str, address: str) -> None:
        p = self.pools.get(pool_id)
        if p is not None:
            p["used"].discard(IPv4Address(address.split("/")[0]))
