"""The built-in "default" IPAM driver, after moby's `ipams/defaultipam` (allocator.go,
address_space.go, structures.go) and the default pools of `ipamutils/utils.go`.

Two address spaces, LocalDefault (bridge/macvlan networks) and GlobalDefault (swarm scope).
Each has predefined pools split into subnets of a fixed size; a network with no `--subnet`
gets the first subnet, in pool order, that overlaps neither an allocated subnet nor a
reserved prefix (local space only: the host's on-link routes and resolv.conf nameservers,
`netutils.InferReservedNetworks`), so released subnets are reused lowest first.

A static subnet is checked for overlap only when no sub-pool (`--ip-range`) is given: with a
sub-pool the parent subnet is allocated (or joined, if allocated already) without any check.
This is the documented quirk moby#46756 (`addrSpace.allocateSubnetL`).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address

from cnmsim.engine.ipam.addrset import AddrSet, Allocated, NotAvailable
from cnmsim.engine.ipam.api import (
    ALLOC_SERIAL,
    ERR_BAD_POOL,
    ERR_INVALID_ADDRESS_SPACE,
    ERR_INVALID_POOL,
    ERR_INVALID_SUBPOOL,
    ERR_IP_ALREADY_ALLOCATED,
    ERR_IP_OUT_OF_RANGE,
    ERR_NO_AVAILABLE_IPS,
    ERR_NO_MORE_SUBNETS,
    ERR_POOL_OVERLAP,
    FORBIDDEN,
    GLOBAL_ADDRESS_SPACE,
    INTERNAL,
    INVALID_PARAMETER,
    LOCAL_ADDRESS_SPACE,
    NOT_FOUND,
    IpamError,
    PoolGrant,
    ipam_error,
)

# ipamutils/utils.go: localScopeDefaultNetworks / globalScopeDefaultNetworks, as daemon.json
# "default-address-pools" entries.
LOCAL_DEFAULT_POOLS: list[dict] = [
    {"base": "172.17.0.0/16", "size": 16}, {"base": "172.18.0.0/16", "size": 16},
    {"base": "172.19.0.0/16", "size": 16}, {"base": "172.20.0.0/14", "size": 16},
    {"base": "172.24.0.0/14", "size": 16}, {"base": "172.28.0.0/14", "size": 16},
    {"base": "192.168.0.0/16", "size": 20},
]
GLOBAL_DEFAULT_POOLS: list[dict] = [{"base": "10.0.0.0/8", "size": 24}]


def parse_prefix(text: str) -> IPv4Network | None:
    """Go's netip.ParsePrefix for IPv4, masked: "a.b.c.d/n" only (no bare address), else None."""
    addr, slash, bits = text.partition("/")
    if not slash or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0") or int(bits) > 32:
        return None
    try:
        return IPv4Network(f"{IPv4Address(addr)}/{bits}", strict=False)
    except ValueError:
        return None


@dataclass
class _Pool:
    """PoolData: the used addresses of one allocated subnet and the sub-pools sharing it."""

    subnet: IPv4Network
    addrs: AddrSet
    children: set[IPv4Network] = field(default_factory=set)
    auto_release: bool = False  # release the subnet once its last sub-pool goes

    @classmethod
    def new(cls, subnet: IPv4Network) -> _Pool:
        """Reserve the network and broadcast addresses, except in a /31 or /32 (RFC 3021)."""
        addrs = AddrSet(subnet.num_addresses)
        if subnet.prefixlen < 31:
            addrs.add(0)
            addrs.add(subnet.num_addresses - 1)
        return cls(subnet, addrs)


class _AddrSpace:
    """addrSpace: predefined pools, the allocated subnets in order, and their pool data."""

    def __init__(self, predefined: list[tuple[IPv4Network, int]]) -> None:
        # Sorted by address then prefix length; a pool overlapping the one kept before it is
        # dropped (newAddrSpace), so a sub-range of a bigger pool is not allocated twice.
        kept: list[tuple[IPv4Network, int]] = []
        for base, size in sorted(predefined, key=lambda p: (p[0].network_address, p[0].prefixlen)):
            if kept and kept[-1][0].overlaps(base):
                continue
            kept.append((base, size))
        self.predefined = kept
        self.allocated: list[IPv4Network] = []
        self.subnets: dict[IPv4Network, _Pool] = {}

    def _add(self, subnet: IPv4Network) -> IPv4Network:
        insort(self.allocated, subnet, key=lambda n: (n.network_address, n.prefixlen))
        self.subnets[subnet] = _Pool.new(subnet)
        return subnet

    def allocate_predefined(self, reserved: list[IPv4Network], prefix_len: int) -> IPv4Network:
        """The first subnet, in pool order, clear of allocations and reserved prefixes."""
        pools = self.predefined
        if prefix_len:  # "--subnet 0.0.0.0/N": only pools that can be split into /N
            pools = [(b, prefix_len) for b, _ in pools if b.prefixlen <= prefix_len <= 32]
        if not pools:
            raise ipam_error(ERR_INVALID_POOL)
        taken = _merged([*self.allocated, *reserved])
        for base, size in pools:
            step = 1 << (32 - size)
            cand, last = int(base.network_address), int(base.broadcast_address)
            j = 0
            while cand + step - 1 <= last:
                while j < len(taken) and taken[j][1] < cand:
                    j += 1
                if j == len(taken) or taken[j][0] > cand + step - 1:
                    return self._add(IPv4Network((cand, size)))
                nxt = taken[j][1] + 1  # jump past the blocker, to the next /size boundary
                cand = max(cand + step, (nxt + step - 1) // step * step)
        raise ipam_error(ERR_NO_MORE_SUBNETS)

    def allocate_subnet(self, nw: IPv4Network, sub: IPv4Network | None) -> None:
        """A static subnet (and sub-pool); see the module docstring for moby#46756."""
        pool = self.subnets.get(nw)
        if pool is not None and (sub is None or sub in pool.children):
            raise ipam_error(ERR_POOL_OVERLAP)
        if sub is None:
            if any(a.overlaps(nw) for a in self.allocated):
                raise ipam_error(ERR_POOL_OVERLAP)
            self._add(nw)
            return
        if pool is None:
            self._add(nw)
            pool = self.subnets[nw]
            pool.auto_release = True
        pool.children.add(sub)

    def release_subnet(self, nw: IPv4Network, sub: IPv4Network | None) -> None:
        pool = self.subnets.get(nw)
        if pool is None:
            raise ipam_error(ERR_BAD_POOL)
        if sub is not None:
            if sub not in pool.children:
                raise ipam_error(ERR_BAD_POOL)
            pool.children.discard(sub)
        else:
            pool.auto_release = True
        if not pool.children and pool.auto_release:
            self.allocated.remove(nw)
            del self.subnets[nw]


def _merged(prefixes: list[IPv4Network]) -> list[tuple[int, int]]:
    """The address ranges the prefixes cover, sorted and merged into disjoint [first, last]."""
    out: list[tuple[int, int]] = []
    for first, last in sorted((int(n.network_address), int(n.broadcast_address)) for n in prefixes):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def _pool_id(space: str, nw: IPv4Network, sub: IPv4Network | None) -> str:
    return f"{space}/{nw}" + (f"/{sub}" if sub is not None else "")


@lru_cache(maxsize=4096)
def _parse_pool_id(pool_id: str) -> tuple[str, IPv4Network, IPv4Network | None]:
    """PoolIDFromString: "SPACE/a.b.c.d/n" or "SPACE/a.b.c.d/n/e.f.g.h/m"."""
    parts = pool_id.split("/")
    if len(parts) in (3, 5):
        nw = parse_prefix(parts[1] + "/" + parts[2])
        sub = parse_prefix(parts[3] + "/" + parts[4]) if len(parts) == 5 else None
        if nw is not None and (len(parts) == 3 or sub is not None):
            return parts[0], nw, sub
    raise IpamError(f"invalid pool id: {pool_id}", INVALID_PARAMETER)


def _splits(pools: list[dict], scope: str) -> list[tuple[IPv4Network, int]]:
    """default-address-pools entries {"base", "size"} checked as allocator.go splitByIPFamily."""
    out = []
    for i, entry in enumerate(pools):
        base, size = parse_prefix(str(entry.get("base", ""))), int(entry.get("size", 0))
        shown = f"&{{{entry.get('base')} {size}}}"
        if base is None or size == 0:
            msg = f"network at index {i} ({shown}) is not in canonical form"
        elif base.prefixlen > size or size > 32:
            msg = (f"network at index {i} ({shown}) has a smaller prefix (/{base.prefixlen}) "
                   f"than the target size of that pool (/{size})")
        else:
            out.append((base, size))
            continue
        raise IpamError(f"could not construct {scope} address space: {msg}", INVALID_PARAMETER)
    return out


class DefaultIpam:
    """The "default" IPAM driver (defaultipam.Allocator), IPv4 only."""

    name = "default"

    def __init__(self, local_pools: list[dict] | None = None,
                 global_pools: list[dict] | None = None,
                 reserved: Callable[[], list[IPv4Network]] | None = None) -> None:
        self._spaces = {
            LOCAL_ADDRESS_SPACE: _AddrSpace(_splits(local_pools or LOCAL_DEFAULT_POOLS, "local")),
            GLOBAL_ADDRESS_SPACE: _AddrSpace(_splits(global_pools or GLOBAL_DEFAULT_POOLS, "global")),
        }
        self._reserved = reserved or (lambda: [])

    def default_address_spaces(self) -> tuple[str, str]:
        return LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE

    def _space(self, name: str) -> _AddrSpace:
        space = self._spaces.get(name)
        if space is None:
            raise IpamError(f"cannot find address space {name}", INVALID_PARAMETER)
        return space

    def request_pool(self, address_space: str, pool: str | None, sub_pool: str | None,
                     options: dict[str, str], v6: bool = False) -> PoolGrant:
        """RequestPool (allocator.go): static when `pool` is given, else the next free subnet."""
        pool, sub_pool = pool or "", sub_pool or ""

        def parse_err(what: str) -> IpamError:
            return IpamError(f'failed to parse pool request for address space "{address_space}" '
                             f'pool "{pool}" subpool "{sub_pool}": {what}', INTERNAL)

        if not address_space:
            raise parse_err(ERR_INVALID_ADDRESS_SPACE)
        if v6:
            raise NotImplementedError("cnmsim models IPv4 address pools only")
        space = self._space(address_space)
        prefix_len, nw = 0, None
        if pool:
            nw = parse_prefix(pool)
            if nw is None:
                raise parse_err(ERR_INVALID_POOL)
            if IPv4Address(pool.partition("/")[0]).is_unspecified:
                prefix_len, nw = nw.prefixlen, None  # unspecified address: only the size counts
        if nw is None and sub_pool:
            raise parse_err(ERR_INVALID_SUBPOOL)
        if nw is None:
            excl = self._reserved() if address_space == LOCAL_ADDRESS_SPACE else []
            got = space.allocate_predefined(list(excl), prefix_len)
            return PoolGrant(_pool_id(address_space, got, None), got)
        sub = None
        if sub_pool:
            sub = parse_prefix(sub_pool)
            if sub is None:
                raise IpamError(f"invalid pool request: {ERR_INVALID_SUBPOOL}", INTERNAL)
            if sub.prefixlen < nw.prefixlen:  # pre-v24 networks: a bigger "child" means none
                sub = nw
        try:
            space.allocate_subnet(nw, sub)
        except IpamError as e:
            raise IpamError(f"invalid pool request: {e}", FORBIDDEN) from None
        return PoolGrant(_pool_id(address_space, nw, sub), nw)

    def release_pool(self, pool_id: str) -> None:
        space_name, nw, sub = _parse_pool_id(pool_id)
        self._space(space_name).release_subnet(nw, sub)

    def _lookup(self, pool_id: str, kind: str) -> tuple[IPv4Network, IPv4Network | None, _Pool]:
        space_name, nw, sub = _parse_pool_id(pool_id)
        pool = self._space(space_name).subnets.get(nw)
        shown = "invalid Prefix" if sub is None else str(sub)  # Go's %v of a zero netip.Prefix
        if pool is None:
            raise IpamError(f"cannot find address pool for {kind}{nw}/{shown}", NOT_FOUND)
        return nw, sub, pool

    def request_address(self, pool_id: str, preferred: str | None,
                        options: dict[str, str]) -> IPv4Interface:
        """RequestAddress (address_space.go requestAddress + allocator.go getAddress)."""
        nw, sub, pool = self._lookup(pool_id, "poolID:")
        pref = None
        if preferred:
            try:
                pref = ip_address(preferred)
            except ValueError:
                raise IpamError(f"invalid preferred address: {preferred}", INVALID_PARAMETER) from None
            if pref not in nw:
                raise ipam_error(ERR_IP_OUT_OF_RANGE)
        if sub is not None and sub not in pool.children:
            raise IpamError(f"cannot find address pool for poolID:{nw}/{sub}", NOT_FOUND)
        base = int(nw.network_address)
        serial = (options or {}).get(ALLOC_SERIAL) == "true"
        try:
            if pref is not None:
                pool.addrs.add(int(pref) - base)
                offset = int(pref) - base
            elif sub is not None and sub != nw:
                if not sub.subnet_of(nw):
                    raise IpamError(f"add-any, range '{sub}' is not in subnet '{nw}'", INTERNAL)
                start = int(sub.network_address) - base
                offset = pool.addrs.add_any(start, start + sub.num_addresses - 1, serial)
            else:
                offset = pool.addrs.add_any(serial=serial)
        except Allocated:
            raise ipam_error(ERR_IP_ALREADY_ALLOCATED) from None
        except NotAvailable:
            raise ipam_error(ERR_NO_AVAILABLE_IPS) from None
        return IPv4Interface((base + offset, nw.prefixlen))

    def release_address(self, pool_id: str, address: str) -> None:
        """ReleaseAddress; releasing a free address is not an error."""
        nw, sub, pool = self._lookup(pool_id, "")
        if sub is not None and sub not in pool.children:
            raise IpamError(f"cannot find address pool for poolID:{nw}/{sub}", NOT_FOUND)
        try:
            addr = ip_address(str(address).split("/")[0])
        except ValueError:
            raise IpamError("invalid address", INVALID_PARAMETER) from None
        if addr not in nw:
            raise ipam_error(ERR_IP_OUT_OF_RANGE)
        pool.addrs.remove(int(addr) - int(nw.network_address))

    def subnets(self, address_space: str = LOCAL_ADDRESS_SPACE) -> list[IPv4Network]:
        """The allocated subnets of a space, in address order (for inspection and tests)."""
        return list(self._space(address_space).allocated)


__all__ = ["DefaultIpam", "GLOBAL_DEFAULT_POOLS", "LOCAL_DEFAULT_POOLS", "parse_prefix"]
