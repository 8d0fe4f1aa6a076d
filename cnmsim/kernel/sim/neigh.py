"""The neighbour table and ARP (net/ipv4/arp.c, net/core/neighbour.c), simplified but faithful.

An entry is INCOMPLETE while ARP requests go out (one per second, `mcast_solicit` = 3 of them,
packets queued meanwhile), REACHABLE for a random 15-45 s after a reply (base_reachable_time
30 s), then STALE; a STALE entry that is used goes to DELAY for 5 s, then PROBE (unicast ARP,
`ucast_solicit` = 3), and FAILED when nobody answers.  States are computed lazily from
timestamps, so an idle table costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scapy.layers.l2 import ARP, Ether

from cnmsim.packet.frame import Frame

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns

RETRANS = 1.0  # retrans_time_ms 1000
MCAST_SOLICIT = 3
UCAST_SOLICIT = 3
DELAY_PROBE = 5.0  # delay_first_probe_time
UNRES_QLEN = 101  # unres_qlen_bytes 212992 holds ~100 full frames; extra ones are dropped


@dataclass(slots=True)
class NeighEntry:
    ip: str
    dev: NetDevice
    lladdr: str | None = None
    permanent: bool = False
    noarp: bool = False
    confirmed: float = -1.0  # last time reachability was confirmed
    reachable_for: float = 30.0
    failed: bool = False
    probing: bool = False
    used_stale_at: float | None = None
    queue: list[Frame] = field(default_factory=list)

    def state(self, now: float) -> str:
        if self.permanent:
            return "PERMANENT"
        if self.noarp:
            return "NOARP"
        if self.failed:
            return "FAILED"
        if self.lladdr is None:
            return "INCOMPLETE"
        if now - self.confirmed < self.reachable_for:
            return "REACHABLE"
        if self.probing:
            return "PROBE"
        if self.used_stale_at is not None and now - self.used_stale_at < DELAY_PROBE:
            return "DELAY"
        return "STALE"


class NeighTable:
    """Per-namespace neighbour entries keyed by (device name, IPv4 address)."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.entries: dict[tuple[str, str], NeighEntry] = {}

    @property
    def now(self) -> float:
        return self.ns.kernel.ctx.env.now

    def _reachable_time(self) -> float:
        base = int(self.ns.sysctl_get("net.ipv4.neigh.default.base_reachable_time_ms")) / 1000
        return self.ns.kernel.ctx.rng.uniform(base / 2, base * 3 / 2)

    def get(self, dev: NetDevice, ip: str) -> NeighEntry | None:
        return self.entries.get((dev.name, ip))

    def update(self, dev: NetDevice, ip: str, mac: str, create: bool,
               stale: bool = False) -> NeighEntry | None:
        """ARP told us ip is-at mac (neigh_update): flush what waited for it.

        A unicast reply confirms reachability (REACHABLE); a request only says where the asker
        is (NUD_STALE, as arp_process/neigh_event_ns do), and leaves a known entry's state alone
        when the address did not change.
        """
        e = self.entries.get((dev.name, ip))
        if e is None:
            if not create:
                return None
            e = self.entries[(dev.name, ip)] = NeighEntry(ip, dev)
        if e.permanent:
            return e
        if stale:
            if e.lladdr == mac and not e.failed:
                return e
            e.lladdr, e.confirmed, e.failed, e.probing = mac, -1e9, False, False
        else:
            e.lladdr, e.confirmed, e.failed, e.probing = mac, self.now, False, False
            e.reachable_for = self._reachable_time()
        e.used_stale_at = None
        if e.queue:
            q, e.queue = e.queue, []
            for f in q:
                self.ns.stack.finish_output(dev, mac, f)
        return e

    # ------------------------------------------------------------ resolution
    def resolve(self, dev: NetDevice, ip: str, frame: Frame) -> str | None:
        """The MAC to send to, or None after queueing the frame behind an ARP request."""
        e = self.entries.get((dev.name, ip))
        now = self.now
        if e is not None and e.lladdr is not None and not e.failed:
            st = e.state(now)
            if st == "STALE":
                e.used_stale_at = now
                self.ns.kernel.ctx.later(DELAY_PROBE, self._delay_expired, e)
            if self.ns.kernel.ctx.bus.on:
                self.ns.trace(dev.name, "neigh:resolve", "hit", f"{ip} is-at {e.lladdr} ({st})", frame)
            return e.lladdr
        if e is None or e.failed:
            e = self.entries[(dev.name, ip)] = NeighEntry(ip, dev)
        if len(e.queue) >= UNRES_QLEN:
            self.ns.trace(dev.name, "neigh:resolve", "drop", f"{ip}: too many packets wait for ARP", frame)
            return None
        e.queue.append(frame)
        if self.ns.kernel.ctx.bus.on:
            self.ns.trace(dev.name, "neigh:resolve", "queue", f"{ip} unknown on {dev.name}: ARP request, packet queued", frame)
        if len(e.queue) == 1 and not e.probing:
            e.probing = True
            self._solicit(e, 0, broadcast=True)
        return None

    def _solicit(self, e: NeighEntry, tries: int, broadcast: bool) -> None:
        limit = MCAST_SOLICIT if broadcast else UCAST_SOLICIT
        if e.lladdr is not None and self.now - e.confirmed < e.reachable_for:
            e.probing = False
            return  # answered meanwhile
        if tries >= limit:
            self._fail(e)
            return
        self.send_request(e.dev, e.ip, None if broadcast else e.lladdr)
        self.ns.kernel.ctx.later(RETRANS, self._solicit, e, tries + 1, broadcast)

    def _delay_expired(self, e: NeighEntry) -> None:
        if e.used_stale_at is None or self.now - e.confirmed < e.reachable_for or e.probing:
            return
        e.probing = True
        self._solicit(e, 0, broadcast=False)

    def _fail(self, e: NeighEntry) -> None:
        e.failed, e.probing, e.lladdr = True, False, None
        q, e.queue = e.queue, []
        self.ns.trace(e.dev.name, "neigh:resolve", "fail", f"no ARP reply from {e.ip}: FAILED", q[0] if q else None)
        for f in q:
            self.ns.stack.neigh_failed(e.dev, f)

    def send_request(self, dev: NetDevice, ip: str, unicast_to: str | None) -> None:
        src = self.ns.stack.source_for(dev, ip) or "0.0.0.0"
        dst_mac = unicast_to or "ff:ff:ff:ff:ff:ff"
        pkt = Ether(src=dev.mac, dst=dst_mac, type=0x0806) / ARP(
            op=1, hwsrc=dev.mac, psrc=src, hwdst="00:00:00:00:00:00", pdst=ip)
        f = Frame(pkt, self.ns.kernel.ctx.next_id())
        self.ns.trace(dev.name, "arp:request", "send", f"who-has {ip} tell {src}", f)
        dev.xmit(f)

    # ------------------------------------------------------------ arp_rcv
    def arp_rcv(self, dev: NetDevice, frame: Frame) -> None:
        arp = frame.pkt.payload
        op, sip, tip, sha = arp.op, arp.psrc, arp.pdst, arp.hwsrc
        ns = self.ns
        local = ns.addr_owner(tip)
        if op == 1:  # request
            mine = local is not None
            proxy = False
            if not mine and ns.conf(dev.name, "proxy_arp") == "1":
                r = ns.stack.fib_lookup(tip)
                proxy = r is not None and r.dev is not dev and r.type == "unicast"
            if mine or proxy:
                # the asker is our neighbour now (arp_process creates the entry)
                self.update(dev, sip, sha, create=True, stale=True)
                why = f"{tip} is a local address" if mine else f"proxy_arp: route to {tip} via {r.dev.name}"
                ns.trace(dev.name, "arp:reply", "send", f"{tip} is-at {dev.mac} ({why})", frame)
                rep = Ether(src=dev.mac, dst=sha, type=0x0806) / ARP(
                    op=2, hwsrc=dev.mac, psrc=tip, hwdst=sha, pdst=sip)
                dev.xmit(Frame(rep, frame.id))
                return
            self.update(dev, sip, sha, create=False, stale=True)
            ns.trace(dev.name, "arp:request", "ignore", f"{tip} is not ours", frame)
            return
        # reply (or gratuitous): only refresh entries we asked for or already had
        broadcast = int(frame.pkt.dst[:2], 16) & 1 == 1  # broadcast replies do not assert reachability
        e = self.update(dev, sip, sha, create=False, stale=broadcast)
        ns.trace(dev.name, "arp:reply", "learn" if e else "ignore",
                 f"{sip} is-at {sha}" + ("" if e else " (unsolicited, no entry)"), frame)
