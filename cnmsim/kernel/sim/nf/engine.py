"""iptables in the simulated kernel: the tables' hook functions and ipt_do_table.

`attach(ns)` registers, on the namespace's hook dispatcher, what Linux registers when the
iptables tables and conntrack are loaded, at Linux's priorities:

    PREROUTING   raw -300, conntrack -200, mangle -150, nat (DNAT) -100
    INPUT        mangle -150, filter 0, nat (SNAT) 100, conntrack confirm (last)
    FORWARD      mangle -150, filter 0
    OUTPUT       raw -300, conntrack -200, mangle -150, nat (DNAT) -100, filter 0
    POSTROUTING  mangle -150, nat (SNAT) 100, conntrack confirm (last)

A table's hook walks its built-in chain as ipt_do_table does: rules in order, counters of
each matching rule, jumps (-j CHAIN pushes a return point, -g CHAIN does not), RETURN back to
the caller, and the chain policy (with its counters) when a built-in chain ends or RETURNs.
The nat table is walked only for a connection's first packet; later packets, both ways, are
translated from the conntrack entry.  Conntrack runs only once a rule needs it (nat rules,
conntrack/state matches, NAT or NOTRACK targets), as Linux loads it per namespace on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from scapy.layers.inet import ICMP, IP, TCP, UDP, ICMPerror, IPerror, TCPerror, UDPerror
from scapy.packet import Raw

from cnmsim.kernel.sim import netfilter as nfh
from cnmsim.kernel.sim.nf import explain, ipset, nat
from cnmsim.kernel.sim.nf import targets as tg
from cnmsim.kernel.sim.nf.addr import ip2int
from cnmsim.kernel.sim.nf.compile import CChain, CTable, compile_table
from cnmsim.kernel.sim.nf.conntrack import (
    CT_NEW,
    CT_RELATED,
    CT_RELATED_REPLY,
    ICMP_ERRORS,
    S_CONFIRMED,
    ConnTable,
    record,
)
from cnmsim.kernel.sim.nf.view import View, build
from cnmsim.packet.frame import Frame
from cnmsim.packet.sizes import wire_len

if TYPE_CHECKING:
    from cnmsim.kernel import api
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

TABLE_HOOKS = {  # table -> ((hook, priority), ...)
    "raw": (("PREROUTING", nfh.PRI_RAW), ("OUTPUT", nfh.PRI_RAW)),
    "mangle": tuple((h, nfh.PRI_MANGLE) for h in nfh.HOOKS),
    "filter": (("INPUT", nfh.PRI_FILTER), ("FORWARD", nfh.PRI_FILTER), ("OUTPUT", nfh.PRI_FILTER)),
}
NAT_HOOKS = (("PREROUTING", nfh.PRI_NAT_DST, nat.DST), ("OUTPUT", nfh.PRI_NAT_DST, nat.DST),
             ("INPUT", nfh.PRI_NAT_SRC, nat.SRC), ("POSTROUTING", nfh.PRI_NAT_SRC, nat.SRC))
MAX_DEPTH = 64


def attach(ns: SimNetns) -> Engine:
    """Plug iptables and conntrack into `ns` (SimNetns.nf_attach calls this once)."""
    eng = Engine(ns)
    ns.nf_engine = eng  # type: ignore[attr-defined]
    nf = ns.nf
    for tname, hooks in TABLE_HOOKS.items():
        for hook, pri in hooks:
            nf.register(hook, pri, eng.table_hook(tname), f"iptables-{tname}")
    for hook, pri, manip in NAT_HOOKS:
        nf.register(hook, pri, eng.nat_hook(manip), "iptables-nat")
    for hook in ("PREROUTING", "OUTPUT"):
        nf.register(hook, nfh.PRI_CONNTRACK, eng.conntrack_in, "nf_conntrack")
    for hook in ("POSTROUTING", "INPUT"):
        nf.register(hook, nfh.PRI_CONNTRACK_CONFIRM, eng.conntrack_confirm, "nf_conntrack")
    return eng


class Engine:
    """The netfilter state of one namespace: compiled tables, conntrack, ipsets.

    Only tables that exist are walked (those a restore or command created, `Ruleset.present`,
    or that hold rules or a DROP policy): an absent table has no hooks and moves no counters.
    """

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.ctx = ns.kernel.ctx
        self.rng = self.ctx.rng
        self.bus = ns.bus
        self.ct = ConnTable(self.clock)
        self.ipsets = ipset.of(ns)
        self.ct_on = False  # conntrack hooks active (sticky once a rule needed them)
        self.tables: dict[str, CTable] = {}
        self._rs: object = None
        self._gen = -1
        self.attach_next: tuple | None = None  # nf_ct_attach for a RST being sent (targets.send_reset)
        self._frags: dict[tuple, tuple] = {}  # first fragments' entries, for the later fragments
        self._local_src: object = None
        self._local: dict[int, NetDevice] = {}
        self._bcast: set[int] = set()
        self.specs: dict[int, str] = {}  # id(rule) -> its `-A` text, rendered for traces

    def clock(self) -> float:
        return self.ctx.env.now

    # ------------------------------------------------------------ compilation
    def compiled(self) -> dict[str, CTable]:
        """The tables compiled for the current ruleset generation (recompiled on change)."""
        rs = self.ns.ruleset
        if rs is not self._rs or rs.generation != self._gen:
            present = getattr(rs, "present", set())
            self.tables = {name: compile_table(t, self) for name, t in rs.tables.items()
                           if name in present or any(c.rules or c.policy not in (None, "ACCEPT")
                                                     for c in t.chains.values())}
            self._rs, self._gen = rs, rs.generation
            self.specs.clear()
            if "nat" in self.tables or any(t.needs_ct for t in self.tables.values()):
                self.ct_on = True  # nat chains and conntrack matches load conntrack in the netns
            if self.bus.on:
                for t in self.tables.values():
                    for w in t.warnings:
                        self.ns.trace("", "nf:compile", "warn", f"{t.name}: {w}")
        return self.tables

    def require_conntrack(self) -> None:
        """Turn connection tracking on without any rule needing it (e.g. for IPVS)."""
        self.ct_on = True

    # ------------------------------------------------------------ hook functions
    def table_hook(self, tname: str) -> nfh.HookFn:
        def hook_fn(hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
            t = self.compiled().get(tname)
            ip = frame.ip
            if t is None or ip is None:
                return True
            ch = t.chains[hook]
            if not ch.rules and ch.policy == tg.K_ACCEPT:  # an empty chain: only its counters move
                c = ch.chain
                c.packets += 1
                n = ip.len
                c.bytes += n if n is not None else wire_len(ip)
                return True
            return self.run(t, ch, build(frame, ip, hook, indev, outdev)) == tg.V_ACCEPT
        return hook_fn

    def nat_hook(self, manip: int) -> nfh.HookFn:
        """nf_nat_ipv4_fn: translate from conntrack; walk the nat chain for first packets only."""
        def hook_fn(hook: str, frame: Frame, indev: NetDevice | None, outdev: NetDevice | None) -> bool:
            ct = frame.ct
            if ct is None or ct[0] is None or ct[0].table is not self.ct:
                return True
            conn, ctinfo = ct
            ip = frame.ip
            if ip is None:
                return True
            if ctinfo in (CT_RELATED, CT_RELATED_REPLY) and type(ip.payload) is ICMP \
                    and ip.payload.type in ICMP_ERRORS:
                if nat.icmp_reply_translation(conn, ctinfo, manip, ip) and self.bus.on:
                    explain.nat_event(self, frame, hook, conn, ctinfo, manip, "the ICMP error and the header it quotes")
                return True
            if ctinfo in (CT_NEW, CT_RELATED, CT_RELATED_REPLY) and not nat.initialized(conn, manip):
                t = self.compiled().get("nat")
                if t is None:
                    return True
                v = build(frame, ip, hook, indev, outdev)
                if self.run(t, t.chains[hook], v) == tg.V_DROP:
                    return False
                if not nat.initialized(conn, manip):
                    nat.setup(self.ct, conn, manip, None, self.rng)  # the null binding
            if nat.nat_packet(conn, ctinfo, manip, ip):
                if manip == nat.DST and hook == "OUTPUT":
                    frame.set_meta("rerouted", True)  # ip_route_me_harder after a local DNAT
                if self.bus.on:
                    explain.nat_event(self, frame, hook, conn, ctinfo, manip, "")
            return True
        return hook_fn

    def conntrack_in(self, hook: str, frame: Frame, indev: NetDevice | None,
                     outdev: NetDevice | None) -> bool:
        """nf_conntrack_in: find or create the entry and attach it (and ctinfo) to the frame."""
        if not self.ct_on:
            self.compiled()
            if not self.ct_on:
                return True
        ct = frame.ct
        if ct is not None:
            if ct[0] is None or ct[0].table is self.ct:
                return True  # NOTRACK, or seen already here (looped back through lo)
            frame.ct = None  # an entry of another namespace's table: not ours
        if self.attach_next is not None and hook == "OUTPUT":
            frame.ct, self.attach_next = self.attach_next, None
            return True
        ip = frame.ip
        if ip is None:
            return True
        hit = self.track(ip)
        frame.ct = hit
        if self.bus.on:
            explain.ct_event(self, frame, hook, indev or outdev, hit)
        return True

    def track(self, ip: IP) -> tuple | None:
        """The (conn, ctinfo) of a packet, creating an unconfirmed entry for a new flow."""
        if ip.frag or int(ip.flags) & 1:
            return self._fragment(ip)
        return self._track(ip)

    def _fragment(self, ip: IP) -> tuple | None:
        """Linux reassembles before conntrack (nf_defrag_ipv4); here the first fragment is
        tracked and the others share its entry (same addresses, IP id and protocol, for 30 s)."""
        key = (ip.src, ip.dst, ip.id, ip.proto)
        now = self.clock()
        if ip.frag == 0:
            hit = self._track(ip)
            if len(self._frags) > 1024:
                self._frags = {k: v for k, v in self._frags.items() if v[1] > now}
            self._frags[key] = (hit, now + 30.0)
            return hit
        got = self._frags.get(key)
        return got[0] if got is not None and got[1] > now else None

    def _track(self, ip: IP) -> tuple | None:
        pl = ip.payload
        t = type(pl)
        src, dst = ip2int(ip.src), ip2int(ip.dst)
        if t is TCP:
            return self.ct.packet((6, src, pl.sport, dst, pl.dport), int(pl.flags))
        if t is UDP:
            return self.ct.packet((17, src, pl.sport, dst, pl.dport))
        if t is Raw and not ip.frag and ip.proto in (1, 6, 17) and len(pl.load) >= 8:
            b = pl.load  # a first fragment: the transport header is in its raw bytes
            if ip.proto == 1:
                return self.ct.packet((1, src, int.from_bytes(b[4:6], "big"), dst, b[0] << 8 | b[1]))
            return self.ct.packet((ip.proto, src, int.from_bytes(b[0:2], "big"), dst,
                                   int.from_bytes(b[2:4], "big")), b[13] if ip.proto == 6 and len(b) > 13 else 0)
        if t is ICMP:
            if pl.type in ICMP_ERRORS:
                inner = quoted_key(pl.payload)
                return self.ct.related(inner) if inner is not None else None
            return self.ct.packet((1, src, pl.id or 0, dst, pl.type << 8 | pl.code))
        return self.ct.packet((ip.proto, src, 0, dst, 0))

    def conntrack_confirm(self, hook: str, frame: Frame, indev: NetDevice | None,
                          outdev: NetDevice | None) -> bool:
        """nf_conntrack_confirm: a new entry that got this far is hashed (clash: dropped)."""
        ct = frame.ct
        if ct is None or ct[0] is None:
            return True
        conn = ct[0]
        if conn.table is not self.ct or conn.status & S_CONFIRMED or ct[1] >= 3:
            return True  # only the original direction confirms (a REJECT's reset does not)
        if not self.ct.confirm(conn):
            self.ns.trace((outdev or indev).name if (outdev or indev) else "", "ct:confirm", "drop",
                          "another connection already uses this tuple", frame)
            return False
        return True

    # ------------------------------------------------------------ ipt_do_table
    def run(self, t: CTable, base: CChain, v: View) -> int:
        """Walk built-in chain `base`; ACCEPT or DROP (a RETURN or the end takes the policy)."""
        r = self._chain(t, base, v, 0)
        if r == tg.V_RETURN:
            c = base.chain
            c.packets += 1
            c.bytes += v.length
            r = tg.V_ACCEPT if base.policy == tg.K_ACCEPT else tg.V_DROP
            if self.bus.on and (base.rules or r == tg.V_DROP):
                explain.policy_event(self, t, base, v, r)
        return r

    def _chain(self, t: CTable, ch: CChain, v: View, depth: int) -> int:
        """Run one chain; V_ACCEPT/V_DROP decide, V_RETURN goes back to the caller."""
        bus = self.bus
        for pred, kind, arg, rule, num in ch.rules:
            if pred is not None and not pred(v):
                continue
            rule.packets += 1
            rule.bytes += v.length
            if kind == tg.K_JUMP or kind == tg.K_GOTO:
                if depth >= MAX_DEPTH:
                    if bus.on:
                        explain.rule_event(self, t, ch, num, rule, v, "drop", note="chain loop")
                    return tg.V_DROP
                if bus.on:
                    explain.rule_event(self, t, ch, num, rule, v, "jump" if kind == tg.K_JUMP else "goto")
                r = self._chain(t, arg, v, depth + 1)
                if r != tg.V_RETURN or kind == tg.K_GOTO:
                    return r
                continue
            if kind == tg.K_NONE:
                if bus.on and v.frame.meta and v.frame.meta.get("nftrace"):
                    explain.rule_event(self, t, ch, num, rule, v, "continue")
                continue
            if kind == tg.K_EXT:
                r = arg(self, v)
                if r == tg.V_CONTINUE:
                    if bus.on and v.frame.meta and v.frame.meta.get("nftrace"):
                        explain.rule_event(self, t, ch, num, rule, v, "continue")
                    continue
                if bus.on:
                    explain.rule_event(self, t, ch, num, rule, v, explain.ext_verdict(arg, r))
                return r
            if kind == tg.K_RETURN:
                if bus.on:
                    explain.rule_event(self, t, ch, num, rule, v, "return")
                return tg.V_RETURN
            if bus.on:
                explain.rule_event(self, t, ch, num, rule, v, "accept" if kind == tg.K_ACCEPT else "drop")
            return tg.V_ACCEPT if kind == tg.K_ACCEPT else tg.V_DROP
        if depth and bus.on:
            explain.end_event(self, t, ch, v)
        return tg.V_RETURN

    # ------------------------------------------------------------ helpers for targets/matches
    def _refresh_local(self) -> None:
        ns = self.ns
        if ns.local_addrs is self._local_src:
            return
        self._local_src = ns.local_addrs
        self._local = {ip2int(a): dev for a, dev in ns.local_addrs.items()}
        bc = {ip2int(b) for b in ns.bcast_addrs}
        for a in ns.ifaddrs:
            net = a.iface.network
            if net.prefixlen < 31:
                bc.add(int(net.broadcast_address))
        self._bcast = bc

    def addr_type(self, a: int, dev: NetDevice | None) -> int:
        """inet_dev_addr_type as a bit (xt_addrtype): LOCAL 4, UNICAST 2, BROADCAST 8, MULTICAST 32."""
        if a == 0xFFFFFFFF or a >> 24 == 0:
            return 8
        if a >> 28 == 14:
            return 32
        self._refresh_local()
        owner = self._local.get(a)
        if owner is None and a >> 24 == 127:
            lo = self.ns.devices.get("lo")
            owner = lo if lo is not None and lo.admin_up else None
        if owner is not None:
            return 4 if dev is None or owner is dev else 2
        return 8 if a in self._bcast else 2

    def log_line(self, v: View, prefix: str) -> None:
        explain.log_event(self, v, prefix)

    def conntrack_list(self) -> list[api.Conntrack]:
        now = self.clock()
        return [record(c, now) for c in self.ct.entries()]


@contextmanager
def ct_attached(ns: SimNetns, frame: Frame) -> Iterator[None]:
    """nf_ct_attach: what the stack sends while this is open (an ICMP error, a REJECT's reset)
    is given `frame`'s conntrack entry, in the other direction (RELATED), so NAT is undone on
    it and its quoted header even when the entry was never confirmed."""
    eng = getattr(ns, "nf_engine", None)
    ct = frame.ct
    if eng is None or ct is None or ct[0] is None or ct[0].table is not eng.ct:
        yield
        return
    eng.attach_next = (ct[0], CT_RELATED_REPLY if ct[1] < 3 else CT_RELATED)
    try:
        yield
    finally:
        eng.attach_next = None


def quoted_key(inner: object) -> tuple | None:
    """The tuple of the packet an ICMP error quotes (its IP header and first 8 bytes)."""
    if not isinstance(inner, IPerror):
        return None
    l4 = inner.payload
    src, dst = ip2int(inner.src), ip2int(inner.dst)
    if isinstance(l4, (TCPerror, UDPerror)):
        return (inner.proto, src, l4.sport, dst, l4.dport)
    if isinstance(l4, ICMPerror):
        return (1, src, l4.id or 0, dst, l4.type << 8 | l4.code)
    return (inner.proto, src, 0, dst, 0)
