"""IP sets of one namespace (net/netfilter/ipset): hash:net and hash:ip, for `-m set`.

A hash:net set tests an address against its members by prefix length: for each distinct
prefix length in the set, mask the address and look the network up in a set of ints, as the
kernel's hash:net walks its cidr list.  Sets live per namespace, as ipsets do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cnmsim.kernel.sim.nf.addr import int2ip, parse_net

if TYPE_CHECKING:
    from cnmsim.kernel.sim.netns import SimNetns

TYPES = {"hash:net": 7, "hash:ip": 6}  # the revision Debian 12's kernel reports
BASE_SIZE = {"hash:net": 456, "hash:ip": 216}  # `Size in memory` of an empty set, and per entry
ENTRY_SIZE = {"hash:net": 48, "hash:ip": 40}


class IpsetError(Exception):
    """A refusal with ipset's message (without the `ipset v7.17: ` prefix)."""


@dataclass
class IpSet:
    name: str
    type: str
    initval: int
    hashsize: int = 1024
    maxelem: int = 65536
    members: dict[tuple[int, int], None] = field(default_factory=dict)  # (net, prefixlen), in order
    by_len: dict[int, set[int]] = field(default_factory=dict)

    def _entries(self, text: str) -> list[tuple[int, int]]:
        addr, _, plen = text.partition("/")
        if plen and (not plen.isdigit() or int(plen) > 32):
            raise IpsetError(f"Syntax error: '{plen}' is out of range 0-32")
        n = int(plen) if plen else 32
        try:
            net, _ = parse_net(f"{addr}/{n}")
        except (OSError, ValueError):
            raise IpsetError(f"Syntax error: cannot parse {text}: resolving to IPv4 address failed") from None
        if self.type == "hash:net":
            if n == 0:
                raise IpsetError("The value of the CIDR parameter of the IP address is invalid")
            return [(net, n)]
        return [(net + i, 32) for i in range(1 << (32 - n))]  # hash:ip stores each address

    def add(self, text: str, exist: bool = False) -> None:
        entries = self._entries(text)
        if all(e in self.members for e in entries) and not exist:
            raise IpsetError("Element cannot be added to the set: it's already added")
        if len(self.members) + len(entries) > self.maxelem:
            raise IpsetError("Hash is full, cannot add more elements")
        for net, n in entries:
            self.members[(net, n)] = None
            self.by_len.setdefault(n, set()).add(net)

    def delete(self, text: str, exist: bool = False) -> None:
        entries = self._entries(text)
        if not all(e in self.members for e in entries):
            if exist:
                return
            raise IpsetError("Element cannot be deleted from the set: it's not added")
        for net, n in entries:
            del self.members[(net, n)]
            nets = self.by_len[n]
            nets.discard(net)
            if not nets:
                del self.by_len[n]

    def test(self, text: str) -> bool:
        net, n = self._entries(text)[0]
        if self.type == "hash:net" and n != 32:
            return (net, n) in self.members
        return self.test_int(net)

    def test_int(self, a: int) -> bool:
        """Is address `a` (an int) covered by a member?"""
        for n, nets in self.by_len.items():
            if (a & ((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF)) in nets:
                return True
        return False

    def flush(self) -> None:
        self.members.clear()
        self.by_len.clear()

    def member_texts(self) -> list[str]:
        return [int2ip(net) + ("" if n == 32 else f"/{n}") for net, n in self.members]

    def header(self) -> str:
        return (f"family inet hashsize {self.hashsize} maxelem {self.maxelem} bucketsize 12 "
                f"initval 0x{self.initval:08x}")

    def memsize(self) -> int:
        return BASE_SIZE[self.type] + ENTRY_SIZE[self.type] * len(self.members)


class IpsetTable:
    """The sets of one namespace, by name, in creation order."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.sets: dict[str, IpSet] = {}

    def create(self, name: str, typ: str, exist: bool = False, hashsize: int = 1024,
               maxelem: int = 65536) -> IpSet:
        if typ not in TYPES:
            raise IpsetError(f"Syntax error: typename '{typ}' is unknown")
        if name in self.sets:
            if exist and self.sets[name].type == typ:
                return self.sets[name]
            raise IpsetError("Set cannot be created: set with the same name already exists")
        s = self.sets[name] = IpSet(name, typ, self.ns.kernel.ctx.rng.getrandbits(32),
                                    hashsize, maxelem)
        return s

    def get(self, name: str) -> IpSet:
        s = self.sets.get(name)
        if s is None:
            raise IpsetError("The set with the given name does not exist")
        return s

    def references(self, name: str) -> int:
        """How many iptables rules use the set (`References:`; a used set cannot be destroyed)."""
        n = 0
        for t in self.ns.ruleset.tables.values():
            for c in t.chains.values():
                for r in c.rules:
                    for m in r.matches:
                        if m.module == "set" and any(o.values and o.values[0] == name for o in m.options):
                            n += 1
        return n

    def destroy(self, name: str | None) -> None:
        names = [name] if name else list(self.sets)
        for n in names:
            self.get(n)
            if self.references(n):
                raise IpsetError("Set cannot be destroyed: it is in use by a kernel component")
        for n in names:
            del self.sets[n]


def of(ns: SimNetns) -> IpsetTable:
    """The namespace's ipsets (created on first use)."""
    t = getattr(ns, "nf_ipsets", None)
    if t is None:
        t = ns.nf_ipsets = IpsetTable(ns)  # type: ignore[attr-defined]
    return t
