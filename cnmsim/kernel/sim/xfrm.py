"""IPsec in the simulated kernel: the SA and policy databases and the ESP transport-mode paths
(net/xfrm, net/ipv4/esp4.c), as Docker's encrypted overlays use them.

Output, where Linux has it: the policy lookup happens at route time (ip_route_output_flow, and
again in ip_route_me_harder when mangle OUTPUT changed the mark), with the skb mark as part of
the flow; the route then is an xfrm bundle whose output is xfrm4_output, which runs
POSTROUTING on the cleartext packet, transforms it, and sends the ESP packet through OUTPUT and
POSTROUTING again (xfrm_output_resume: local_out, then ip_output).  Here the lookup runs right
after POSTROUTING of the cleartext packet with the mark it then has (no rule between the two
changes it in Docker's rules), then the packet is encrypted in place and re-enters OUTPUT and
POSTROUTING (conntrack reset, as nf_reset_ct); fragmentation follows as for any packet.

Input: ESP (IP protocol 50) for a local address passes PREROUTING and INPUT as ESP, then the SA
is found by (dst, SPI) (XfrmInNoStates drops it otherwise), the payload decrypted and the
cleartext packet re-injected at PREROUTING (xfrm4_transport_finish) carrying a secpath, which
`-m policy --dir in --pol ipsec|none` tests.  Trace stages "xfrm:out"/"xfrm:in", verdicts
encrypt/decrypt/drop, with the SPI and the SA in the reason.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.ipsec import ESP
from scapy.packet import Raw

from cnmsim.kernel import api
from cnmsim.kernel.api import KernelError
from cnmsim.kernel.sim import xfrm_esp
from cnmsim.packet.sizes import wire_len
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.devices.base import NetDevice
    from cnmsim.kernel.sim.netns import SimNetns
    from cnmsim.kernel.sim.route import RouteEntry
    from cnmsim.packet.frame import Frame

SECPATH = "xfrm_sp"  # frame meta: the SA(s) a received packet was decrypted with (skb->sp)
DONE = "xfrm_out"  # frame meta: already transformed on output (the bundle's child dst)
L4 = {17: UDP, 6: TCP}
AEADS = ("rfc4106(gcm(aes))",)
DIRS = {"in": 0, "out": 1, "fwd": 2}
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 50: "esp", 132: "sctp"}


class SA:
    """One installed SA: the record plus its live counters and cipher state."""

    __slots__ = ("rec", "oseq", "seq", "packets", "bytes", "iv_salt", "added", "used")

    def __init__(self, rec: api.XfrmState, iv_salt: int, now: float) -> None:
        self.rec = rec
        self.oseq = self.seq = self.packets = self.bytes = 0
        self.iv_salt = iv_salt  # seqiv's per-SA random value
        self.added, self.used = now, None

    def count(self, n: int, now: float) -> None:
        self.packets += 1
        self.bytes += n
        if self.used is None:
            self.used = now

    def describe(self) -> str:
        r = self.rec
        return f"SA src {r.src} dst {r.dst} proto {r.proto} spi 0x{r.spi:08x} reqid {r.reqid} mode {r.mode}"

    def dump(self) -> api.XfrmState:
        return replace(self.rec, seq=self.seq, oseq=self.oseq, packets=self.packets, bytes=self.bytes,
                       added=self.added, used=self.used)


def _in(addr: str, prefix: str) -> bool:
    return IPv4Address(addr) in IPv4Network(prefix, strict=False)


def _mark_ok(mark: int | None, mask: int, skb_mark: int) -> bool:
    return mark is None or (skb_mark & mask) == (mark & mask)


class Xfrm:
    """The SAD and SPD of one namespace."""

    def __init__(self, ns: SimNetns) -> None:
        self.ns = ns
        self.states: dict[tuple[str, str, int], SA] = {}  # (dst, proto, spi) -> SA, insertion order
        self.policies: list[api.XfrmPolicy] = []
        self._next_index = 0

    # ------------------------------------------------------------ databases
    def state_add(self, st: api.XfrmState) -> None:
        if st.proto != "esp" or st.mode != "transport":
            raise KernelError("RTNETLINK answers: Protocol not supported", "EPROTONOSUPPORT")
        if st.aead not in AEADS or len(st.key) not in (20, 28, 36) or st.icv_len not in (64, 96, 128):
            raise KernelError("RTNETLINK answers: Invalid argument", "EINVAL")
        key = (st.dst, st.proto, st.spi)
        if key in self.states and self.states[key].rec.mark == st.mark:
            raise KernelError("RTNETLINK answers: File exists", "EEXIST")
        self.states[key] = SA(st, self.ns.kernel.ctx.rng.getrandbits(64), self.ns.kernel.ctx.env.now)
        self.ns.trace("", "xfrm:state", "add", f"{self.states[key].describe()} added")

    def state_del(self, st: api.XfrmState) -> None:
        sa = self.states.get((st.dst, st.proto, st.spi))
        if sa is None or sa.rec.mark != st.mark:
            raise KernelError("RTNETLINK answers: No such process", "ESRCH")
        del self.states[(st.dst, st.proto, st.spi)]
        self.ns.trace("", "xfrm:state", "del", f"{sa.describe()} deleted")

    def state_list(self) -> list[api.XfrmState]:
        return [sa.dump() for sa in reversed(self.states.values())]

    def _policy_index(self, p: api.XfrmPolicy) -> int | None:
        for i, q in enumerate(self.policies):
            if (q.src, q.dst, q.dir, q.proto, q.sport, q.dport, q.mark) == \
                    (p.src, p.dst, p.dir, p.proto, p.sport, p.dport, p.mark):
                return i
        return None

    def policy_add(self, p: api.XfrmPolicy, update: bool = False) -> None:
        i = self._policy_index(p)
        if i is not None and not update:
            raise KernelError("RTNETLINK answers: File exists", "EEXIST")
        if i is not None:  # xfrm_policy_insert: the replacement keeps the old index
            index = self.policies.pop(i).index
        else:  # xfrm_gen_index: the direction in the low 3 bits
            index = self._next_index | DIRS.get(p.dir, 0)
            self._next_index += 8
        p = replace(p, index=index, added=self.ns.kernel.ctx.env.now)
        self.policies.append(p)  # dumped newest first, as the kernel's policy_all list
        self.ns.trace("", "xfrm:policy", "update" if i is not None else "add", f"policy {_sel(p)} dir {p.dir}")

    def policy_del(self, p: api.XfrmPolicy) -> None:
        i = self._policy_index(p)
        if i is None:
            raise KernelError("RTNETLINK answers: No such file or directory", "ENOENT")
        del self.policies[i]
        self.ns.trace("", "xfrm:policy", "del", f"policy {_sel(p)} dir {p.dir}")

    # ------------------------------------------------------------ lookups
    def lookup_policy(self, ip: IP, mark: int, direction: str = "out") -> api.XfrmPolicy | None:
        """xfrm_policy_lookup: the matching policy of lowest priority value (first added on ties)."""
        best = None
        for p in self.policies:
            if p.dir != direction or not _mark_ok(p.mark, p.mask, mark):
                continue
            if not (_in(ip.src, p.src) and _in(ip.dst, p.dst)):
                continue
            if p.proto and p.proto != ip.proto:
                continue
            if p.sport is not None or p.dport is not None:
                l4 = ip.payload
                if ip.frag or not isinstance(l4, (UDP, TCP)):
                    continue
                if (p.sport is not None and l4.sport != p.sport) or (p.dport is not None and l4.dport != p.dport):
                    continue
            if best is None or p.priority < best.priority:
                best = p
        return best

    def state_for(self, t: api.XfrmTmpl, mark: int) -> SA | None:
        """xfrm_state_find: a valid SA for the template."""
        if t.spi:
            sa = self.states.get((t.dst, t.proto, t.spi))
            ok = sa is not None and sa.rec.src == t.src and _mark_ok(sa.rec.mark, sa.rec.mask, mark)
            return sa if ok else None
        for sa in self.states.values():
            r = sa.rec
            if (r.src, r.dst, r.proto, r.mode) == (t.src, t.dst, t.proto, t.mode) and \
                    (not t.reqid or r.reqid == t.reqid) and _mark_ok(r.mark, r.mask, mark):
                return sa
        return None

    def will_transform(self, frame: Frame, ip: IP) -> bool:
        """`-m policy --dir out`: the packet's route is an xfrm bundle."""
        return not frame.get_meta(DONE) and self.lookup_policy(ip, frame.mark) is not None

    # ------------------------------------------------------------ output
    def output(self, rt: RouteEntry, frame: Frame, ip: IP, forwarded: bool) -> bool:
        """After POSTROUTING: transform a packet a policy selects; True when it was consumed."""
        if frame.get_meta(DONE):
            return False
        pol = self.lookup_policy(ip, frame.mark)
        if pol is None:
            return False
        ns, dev = self.ns, rt.dev.name if rt.dev else ""
        if pol.action == "block" or not pol.tmpls:
            if pol.action == "block":
                ns.trace(dev, "xfrm:out", "drop", f"policy {_sel(pol)} dir out blocks it (XfrmOutPolBlock)", frame)
                return True
            return False
        t = pol.tmpls[0]
        sa = self.state_for(t, frame.mark)
        if sa is None:
            spi = f" spi 0x{t.spi:08x}" if t.spi else ""
            ns.trace(dev, "xfrm:out", "drop", f"policy {_sel(pol)} dir out wants an SA src {t.src} dst {t.dst} "
                     f"proto {t.proto}{spi} reqid {t.reqid}, and there is none (XfrmOutNoStates)", frame)
            return True
        before = wire_len(ip)
        self._encrypt(sa, ip)
        frame.set_meta(DONE, sa.rec.spi)
        frame.ct = None  # nf_reset_ct: the ESP packet is a new flow to conntrack
        frame.cost += 2e-6
        if ns.bus.on:
            ns.trace(dev, "xfrm:out", "encrypt",
                     f"policy {_sel(pol)} dir out (mark 0x{frame.mark:x}): ESP spi 0x{sa.rec.spi:08x} "
                     f"seq {sa.oseq} with {sa.describe()}, AES-GCM; {before} -> {wire_len(ip)} bytes", frame)
        if not ns.nf.hook("OUTPUT", frame, None, rt.dev):
            return True
        ns.stack.post_routing(rt, frame, frame.ip or ip, forwarded)
        return True

    def _encrypt(self, sa: SA, ip: IP) -> None:
        r = sa.rec
        sa.oseq += 1
        iv = ((sa.oseq ^ sa.iv_salt) & (2**64 - 1)).to_bytes(8, "big")
        inner = bytes(ip.payload)  # the transport header and data (checksums computed with ip)
        data = xfrm_esp.encrypt(r.key, r.spi, sa.oseq, iv, ip.proto, inner, r.icv_len // 8)
        sa.count(len(inner), self.ns.kernel.ctx.env.now)
        ip.remove_payload()
        ip.add_payload(ESP(spi=r.spi, seq=sa.oseq, data=data[8:]))
        ip.proto, ip.len, ip.chksum = 50, None, None

    # ------------------------------------------------------------ input
    def input(self, dev: NetDevice, frame: Frame, ip: IP) -> None:
        """xfrm4_rcv: find the SA by (dst, SPI), decrypt, re-inject at PREROUTING."""
        ns = self.ns
        esp = ip.payload
        data = bytes(esp)
        spi = int.from_bytes(data[:4], "big") if len(data) >= 4 else 0
        sa = self.states.get((ip.dst, "esp", spi))
        if sa is None or not _mark_ok(sa.rec.mark, sa.rec.mask, frame.mark):
            ns.trace(dev.name, "xfrm:in", "drop", f"ESP spi 0x{spi:08x} from {ip.src}: no SA with that SPI "
                     f"for {ip.dst} (XfrmInNoStates)", frame)
            return
        try:
            _spi, seq, nh, plain = xfrm_esp.decrypt(sa.rec.key, data, sa.rec.icv_len // 8)
        except xfrm_esp.IntegrityError as e:
            ns.trace(dev.name, "xfrm:in", "drop", f"ESP spi 0x{spi:08x} from {ip.src}: {e} with "
                     f"{sa.describe()} (XfrmInStateProtoError)", frame)
            return
        if sa.rec.replay_window:
            sa.seq = max(sa.seq, seq)
        sa.count(len(plain), ns.kernel.ctx.env.now)
        cls = L4.get(nh)
        ip.remove_payload()
        ip.add_payload(cls(plain) if cls is not None else Raw(plain))
        ip.proto, ip.len, ip.chksum = nh, None, None
        frame.ct = None
        frame.set_meta(SECPATH, (sa.rec.spi, sa.rec.reqid))
        frame.cost += 2e-6
        if ns.bus.on:
            ns.trace(dev.name, "xfrm:in", "decrypt", f"ESP spi 0x{spi:08x} seq {seq} from {ip.src} decrypted "
                     f"with {sa.describe()} (ICV ok); the cleartext packet re-enters PREROUTING", frame)
        ns.stack.ip_rcv(dev, frame, ip)


def _sel(p: api.XfrmPolicy) -> str:
    s = f"src {p.src} dst {p.dst}"
    if p.proto:
        s += f" proto {PROTO_NAMES.get(p.proto, p.proto)}"
    if p.dport is not None:
        s += f" dport {p.dport}"
    return s


class XfrmVerbs:
    """The `api.Netns` xfrm verbs, mixed into SimNetns; the databases are created on first use."""

    xfrm: Xfrm | None = None

    def _xfrm(self) -> Xfrm:
        if self.xfrm is None:
            self.xfrm = Xfrm(self)  # type: ignore[arg-type]
        return self.xfrm

    def xfrm_state_add(self, state: api.XfrmState) -> None:
        self._xfrm().state_add(state)

    def xfrm_state_del(self, state: api.XfrmState) -> None:
        self._xfrm().state_del(state)

    def xfrm_state_list(self) -> list[api.XfrmState]:
        return self._xfrm().state_list()

    def xfrm_policy_add(self, policy: api.XfrmPolicy, *, update: bool = False) -> None:
        self._xfrm().policy_add(policy, update)

    def xfrm_policy_del(self, policy: api.XfrmPolicy) -> None:
        self._xfrm().policy_del(policy)

    def xfrm_policy_list(self) -> list[api.XfrmPolicy]:
        return list(reversed(self._xfrm().policies))


def esp_rcv(ns: SimNetns, dev: NetDevice, frame: Frame, ip: IP) -> None:
    """IP protocol 50 delivered locally (esp4 is loaded: never an ICMP protocol unreachable)."""
    x = ns.xfrm
    if x is None:
        ns.trace(dev.name, "xfrm:in", "drop", f"ESP from {ip.src}: no SA for {ip.dst} (XfrmInNoStates)", frame)
        return
    x.input(dev, frame, ip)


register("xfrm:out", "encrypt", "{place} encrypts the packet with IPsec (ESP, transport mode) before it "
         "leaves by {dev}: {reason}.")
register("xfrm:out", "drop", "{place} has an IPsec policy for the packet but cannot apply it: {reason}.")
register("xfrm:in", "decrypt", "{place} decrypts the ESP packet: {reason}.")
register("xfrm:in", "drop", "{place} drops the ESP packet: {reason}.")
