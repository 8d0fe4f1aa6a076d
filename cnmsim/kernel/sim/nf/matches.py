"""Extension matches that need state or lookups, each compiled into a closure over a View.

Each builder takes the Match (its options in order, each possibly negated) and the Engine, and
returns `fn(view) -> bool`, the AND of its options, with the kernel's semantics (xt_conntrack,
xt_addrtype, xt_set, xt_statistic, xt_physdev, xt_ipvs, xt_limit, xt_iprange, xt_length,
xt_pkttype, xt_mac, xt_connmark, ipt_ttl; xt_bpf and xt_policy are in cbpf.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scapy.layers.l2 import Ether

from cnmsim.kernel.sim.nf import cbpf
from cnmsim.kernel.sim.nf.addr import ip2int, parse_net, parse_range
from cnmsim.kernel.sim.nf.conntrack import STATUS_NAMES
from cnmsim.kernel.sim.nf.view import STATE_BITS
from cnmsim.netfilter.model import Match

if TYPE_CHECKING:
    from cnmsim.kernel.sim.nf.engine import Engine
    from cnmsim.kernel.sim.nf.view import View

Fn = Callable[["View"], bool]
ADDRTYPES = {"UNSPEC": 1, "UNICAST": 2, "LOCAL": 4, "BROADCAST": 8, "ANYCAST": 16,
             "MULTICAST": 32, "BLACKHOLE": 64, "UNREACHABLE": 128, "PROHIBIT": 256,
             "THROW": 512, "NAT": 1024, "XRESOLVE": 2048}
STATUS_BITS = {name: bit for bit, name in STATUS_NAMES} | {"NONE": 0}


def _v(o: Any) -> str:
    from cnmsim.kernel.sim.nf.compile import text

    return text(o.values[0]) if o.values else ""


def state_bits(spec: str) -> int:
    bits = 0
    for s in spec.strip("\"'").split(","):
        bits |= STATE_BITS[s.strip().upper()]
    return bits


def all_of(tests: list[tuple[Fn, bool]]) -> Fn:
    """AND of (test, negated) pairs."""
    if len(tests) == 1:
        f, neg = tests[0]
        return (lambda v: not f(v)) if neg else f
    return lambda v: all(f(v) != neg for f, neg in tests)


# ---------------------------------------------------------------- conntrack / state
def conntrack(m: Match, eng: Engine) -> Fn:
    """xt_conntrack: without an entry only --ctstate can match (INVALID/UNTRACKED)."""
    state: tuple[int, bool] | None = None
    tests: list[tuple[Fn, bool]] = []
    for o in m.options:
        n, val = o.name, _v(o)
        if n == "--ctstate":
            state = (state_bits(val), o.neg)
        elif n in ("--ctorigsrc", "--ctorigdst", "--ctreplsrc", "--ctrepldst"):
            net, mask = parse_net(val)
            d, i = (0 if "orig" in n else 1), (1 if n.endswith("src") else 3)
            tests.append(((lambda v, d=d, i=i, net=net, mask=mask:
                           (v.conn.tuple(d)[i] & mask) == net), o.neg))
        elif n in ("--ctorigsrcport", "--ctorigdstport", "--ctreplsrcport", "--ctrepldstport"):
            lo, hi = parse_range(val)
            d, i = (0 if "orig" in n else 1), (2 if "srcport" in n else 4)
            tests.append(((lambda v, d=d, i=i, lo=lo, hi=hi: lo <= v.conn.tuple(d)[i] <= hi), o.neg))
        elif n == "--ctproto":
            from cnmsim.kernel.sim.nf.compile import proto_number

            p = proto_number(val)
            tests.append(((lambda v, p=p: v.conn.orig[0] == p), o.neg))
        elif n == "--ctstatus":
            bits = 0
            for s in val.split(","):
                bits |= STATUS_BITS[s.strip().upper()]
            tests.append(((lambda v, b=bits: bool(v.conn.status & b)), o.neg))
        elif n == "--ctdir":
            want = 0 if val.upper() == "ORIGINAL" else 1
            tests.append(((lambda v, w=want: v.ctdir == w), o.neg))
        elif n == "--ctexpire":
            lo, hi = (int(x) for x in (val.split(":") + [val])[:2])
            tests.append(((lambda v, lo=lo, hi=hi: lo <= v.conn.expires - eng.clock() <= hi), o.neg))
        else:
            raise ValueError(f"conntrack {n}")
    rest = all_of(tests) if tests else None

    def match(v: View) -> bool:
        if state is not None and bool(v.ctstate & state[0]) == state[1]:
            return False
        if v.conn is None:
            return state is not None
        return rest is None or rest(v)
    return match


# ---------------------------------------------------------------- addresses
def addrtype(m: Match, eng: Engine) -> Fn:
    """xt_addrtype: LOCAL, UNICAST, BROADCAST, MULTICAST ... of the source or destination."""
    limit_in = any(o.name == "--limit-iface-in" for o in m.options)
    limit_out = any(o.name == "--limit-iface-out" for o in m.options)
    tests: list[tuple[Fn, bool]] = []
    for o in m.options:
        if o.name not in ("--src-type", "--dst-type"):
            continue
        bits = 0
        for t in _v(o).split(","):
            bits |= ADDRTYPES[t.strip().upper()]
        field = "src" if o.name == "--src-type" else "dst"

        def test(v: View, field: str = field, bits: int = bits) -> bool:
            dev = v.indev if limit_in else (v.outdev if limit_out else None)
            return bool(eng.addr_type(getattr(v, field), dev) & bits)
        tests.append((test, o.neg))
    return all_of(tests) if tests else (lambda v: True)


def iprange(m: Match, eng: Engine) -> Fn:
    tests: list[tuple[Fn, bool]] = []
    for o in m.options:
        lo, _, hi = _v(o).partition("-")
        a, b = ip2int(lo), ip2int(hi or lo)
        field = "src" if o.name == "--src-range" else "dst"
        tests.append(((lambda v, f=field, a=a, b=b: a <= getattr(v, f) <= b), o.neg))
    return all_of(tests)


def ipset(m: Match, eng: Engine) -> Fn:
    """xt_set: the set is looked up by name per packet (sets change without a new ruleset)."""
    o = next(o for o in m.options if o.name == "--match-set")
    name, dirs = o.values[0], (o.values[1] if len(o.values) > 1 else "src")
    field = "src" if dirs.split(",")[0] == "src" else "dst"
    sets = eng.ipsets.sets

    def test(v: View) -> bool:
        s = sets.get(name)
        return s is not None and s.test_int(getattr(v, field))
    return all_of([(test, o.neg)])


# ---------------------------------------------------------------- packets and devices
def statistic(m: Match, eng: Engine) -> Fn:
    """xt_statistic: random with the lab's RNG, or every nth packet (count starts at --packet)."""
    opts = {o.name: o for o in m.options}
    neg = opts["--mode"].neg or any(o.neg for o in m.options)
    if _v(opts["--mode"]) == "random":
        p = float(_v(opts["--probability"]))
        thresh = int(p * 0x80000000)
        rng = eng.rng
        return lambda v: ((rng.getrandbits(32) & 0x7FFFFFFF) < thresh) != neg
    every = int(_v(opts["--every"])) - 1
    state = [int(_v(opts["--packet"])) if "--packet" in opts else 0]

    def nth(v: View) -> bool:
        state[0] = 0 if state[0] == every else state[0] + 1
        return (state[0] == 0) != neg
    return nth


def _ifname(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern


def physdev(m: Match, eng: Engine) -> Fn:
    """xt_physdev: the bridge ports of a bridged (or bridge-received) packet."""
    opts = [(o.name, _v(o), o.neg) for o in m.options]

    def test(v: View) -> bool:
        pin, pout = v.physin, v.physout
        if pin is None and pout is None:  # not from a bridge: only inverted options match
            return all(neg for _, _, neg in opts)
        for name, val, neg in opts:
            if name == "--physdev-is-bridged":
                ok = pout is not None
            elif name == "--physdev-is-in":
                ok = pin is not None
            elif name == "--physdev-is-out":
                ok = pout is not None
            elif name == "--physdev-in":
                ok = _ifname(val, pin or "")
            else:
                ok = _ifname(val, pout or "")
            if ok == neg:
                return False
        return True
    return test


def ipvs(m: Match, eng: Engine) -> Fn:
    """xt_ipvs: packets IPVS handled carry frame meta "ipvs" (and "ipvs_conn", "ipvs_dir")."""
    tests: list[tuple[Fn, bool]] = []
    for o in m.options:
        if o.name == "--ipvs":
            tests.append(((lambda v: bool(v.frame.get_meta("ipvs"))), o.neg))
        else:
            tests.append((_ipvs_option(o.name, _v(o)), o.neg))
    return all_of(tests)


def _ipvs_option(name: str, val: str) -> Fn:
    """One of --vaddr, --vport, --vportctl, --vproto, --vmethod, --vdir on the IPVS connection."""
    methods = {"MASQ": "Masq", "GATE": "Route", "IPIP": "Tunnel"}
    up = val.upper()
    if name == "--vaddr":
        net, mask = parse_net(val)

        def f(c: Any, v: View) -> bool:
            return (ip2int(c.vaddr) & mask) == net
    elif name == "--vport":
        def f(c: Any, v: View) -> bool:
            return c.vport == int(val)
    elif name == "--vportctl":
        def f(c: Any, v: View) -> bool:
            return c.control is not None and c.control.vport == int(val)
    elif name == "--vproto":
        def f(c: Any, v: View) -> bool:
            return c.proto == up
    elif name == "--vmethod":
        def f(c: Any, v: View) -> bool:
            return c.fwd == methods.get(up)
    else:  # --vdir
        def f(c: Any, v: View) -> bool:
            return v.frame.get_meta("ipvs_dir") == up

    def test(v: View) -> bool:
        c = _ipvs(v)
        return c is not None and f(c, v)
    return test


def _ipvs(v: View) -> Any:
    return v.frame.get_meta("ipvs_conn")


def limit(m: Match, eng: Engine) -> Fn:
    """xt_limit: a token bucket of --limit-burst packets refilled at --limit per unit."""
    opts = {o.name: _v(o) for o in m.options}
    rate, _, unit = opts.get("--limit", "3/hour").partition("/")
    per = {"s": 1, "m": 60, "h": 3600, "d": 86400}[(unit or "s")[0]]
    burst = int(opts.get("--limit-burst", "5"))
    bucket = {"tokens": float(burst), "t": eng.clock()}
    interval = per / float(rate)

    def test(v: View) -> bool:
        now = eng.clock()
        bucket["tokens"] = min(burst, bucket["tokens"] + (now - bucket["t"]) / interval)
        bucket["t"] = now
        if bucket["tokens"] >= 1:
            bucket["tokens"] -= 1
            return True
        return False
    return test


def length(m: Match, eng: Engine) -> Fn:
    """xt_length: the IP total length within [min, max] (a reversed range never matches)."""
    o = m.options[0]
    lo, _, hi = _v(o).partition(":")
    a, b = int(lo), int(hi or lo)
    return all_of([((lambda v: a <= v.length <= b), o.neg)])


def packet_type(v: View, eng: Engine) -> str:
    """skb->pkt_type as xt_pkttype reads it: from the destination MAC of a received frame
    (eth_type_trans); a locally generated packet is PACKET_HOST ("unicast")."""
    pkt = v.frame.pkt
    if not isinstance(pkt, Ether):
        return "unicast"
    d = pkt.dst.lower()
    if d == "ff:ff:ff:ff:ff:ff":
        return "broadcast"
    if int(d[:2], 16) & 1:
        return "multicast"
    dev = v.indev or eng.ns.devices.get(v.frame.iif or "")
    if dev is None or dev.kind == "loopback" or dev.mac == d:
        return "unicast"
    return "otherhost"


def pkttype(m: Match, eng: Engine) -> Fn:
    o = m.options[0]
    want = _v(o).lower()
    return all_of([((lambda v: packet_type(v, eng) == want), o.neg)])


def mac(m: Match, eng: Engine) -> Fn:
    """xt_mac: the source MAC of the received frame; without one nothing matches, not even `!`."""
    o = m.options[0]
    want, neg = _v(o).lower(), o.neg

    def test(v: View) -> bool:
        pkt = v.frame.pkt
        if not isinstance(pkt, Ether):
            return False
        return (pkt.src.lower() == want) != neg
    return test


def connmark(m: Match, eng: Engine) -> Fn:
    """xt_connmark: (ct mark & mask) == value; a packet without an entry never matches."""
    o = m.options[0]
    val, _, mask = _v(o).partition("/")
    msk = int(mask, 0) if mask else 0xFFFFFFFF
    want, neg = int(val, 0) & msk, o.neg

    def test(v: View) -> bool:
        c = v.conn
        return c is not None and ((c.mark & msk) == want) != neg
    return test


def ttl(m: Match, eng: Engine) -> Fn:
    """ipt_ttl: the IP header's TTL (read live: a TTL target earlier in the chain changes it)."""
    o = m.options[0]
    n = int(_v(o))
    if o.name == "--ttl-lt":
        return lambda v: v.ip.ttl < n
    if o.name == "--ttl-gt":
        return lambda v: v.ip.ttl > n
    return (lambda v: v.ip.ttl != n) if o.neg else (lambda v: v.ip.ttl == n)


BUILDERS: dict[str, Callable[[Match, Engine], Fn]] = {
    "conntrack": conntrack, "addrtype": addrtype, "iprange": iprange, "set": ipset,
    "statistic": statistic, "physdev": physdev, "ipvs": ipvs, "limit": limit, "length": length,
    "pkttype": pkttype, "mac": mac, "connmark": connmark, "ttl": ttl,
    "bpf": cbpf.bpf, "policy": cbpf.policy,
}
