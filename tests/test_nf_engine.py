"""The iptables engine against a straightforward reference evaluator written here.

Random rulesets (user chains with jumps, gotos, RETURN, MARK, policies; address, interface,
protocol, port, ICMP, multiport, mark and comment matches, negated or not) and random packets:
the compiled engine must give the same verdict, decided by the same rule, leave the same mark
and move the same counters as the reference, which interprets the model rule by rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP

from cnmsim import Lab
from cnmsim.kernel import api
from cnmsim.netfilter.model import Chain, Match, Option, Rule, Ruleset, Target
from cnmsim.packet.frame import Frame
from cnmsim.trace.sinks import MemorySink

ADDRS = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "10.1.2.3", "172.17.0.2", "192.168.0.50"]
IFACES = ["eth0", "eth1", "veth1a", "veth2b", "br-x"]
IFACE_PATTERNS = IFACES + ["veth+", "eth+", "br-+", "+"]
PORTS = [22, 53, 80, 443, 8080, 41000]
ICMP_SPECS = {"8": (8, 0, 0), "0": (0, 0, 0), "3/3": (3, 3, 3), "3": (3, 0, 255),
              "echo-request": (8, 0, 0), "any": (-1, 0, 255)}
PROTO_NUM = {"tcp": 6, "udp": 17, "icmp": 1}
USER = ["U0", "U1", "U2", "U3"]


# ---------------------------------------------------------------- the reference evaluator
@dataclass
class Pkt:
    src: str
    dst: str
    proto: str
    sport: int
    dport: int
    itype: int
    icode: int
    iif: str
    oif: str
    mark: int


def iface_ok(pattern: str, name: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("+") else name == pattern


def port_ok(spec: str, port: int) -> bool:
    lo, _, hi = spec.partition(":")
    return int(lo) <= port <= int(hi or lo)


def match_ok(m: Match, p: Pkt) -> bool:
    for o in m.options:
        if m.module in ("tcp", "udp"):
            ok = port_ok(o.values[0], p.dport if o.name == "--dport" else p.sport)
        elif m.module == "icmp":
            t, lo, hi = ICMP_SPECS[o.values[0]]
            ok = (t < 0 or p.itype == t) and lo <= p.icode <= hi
        elif m.module == "multiport":
            ports = [p.dport] if o.name == "--dports" else [p.sport] if o.name == "--sports" else [p.sport, p.dport]
            ok = any(port_ok(s, x) for s in o.values[0].split(",") for x in ports)
        elif m.module == "mark":
            val, _, mask = o.values[0].partition("/")
            ok = p.mark & int(mask, 16) == int(val, 16) & int(mask, 16)
        else:  # comment
            ok = True
        if ok == o.neg:
            return False
    return True


def rule_ok(r: Rule, p: Pkt) -> bool:
    checks = []
    if r.src is not None:
        checks.append((IPv4Address(p.src) in IPv4Network(r.src), r.src_neg))
    if r.dst is not None:
        checks.append((IPv4Address(p.dst) in IPv4Network(r.dst), r.dst_neg))
    if r.iif is not None:
        checks.append((iface_ok(r.iif, p.iif), r.iif_neg))
    if r.oif is not None:
        checks.append((iface_ok(r.oif, p.oif), r.oif_neg))
    if r.proto is not None:
        checks.append((p.proto == r.proto, r.proto_neg))
    if any(ok == neg for ok, neg in checks):
        return False
    return all(match_ok(m, p) for m in r.matches)


def reference(rs: Ruleset, p: Pkt) -> tuple[str, str, int, list[tuple[str, int]]]:
    """(verdict, deciding chain, rule number or 0 for the policy, rules that matched)."""
    chains = rs.tables["filter"].chains
    hits: list[tuple[str, int]] = []

    def run(name: str) -> tuple[str, str, int] | None:
        for i, r in enumerate(chains[name].rules, 1):
            if not rule_ok(r, p):
                continue
            hits.append((name, i))
            t = r.target
            if t is None:
                continue
            if t.name in ("ACCEPT", "DROP"):
                return t.name, name, i
            if t.name == "RETURN":
                return None
            if t.name == "MARK":
                val, _, mask = t.options[0].values[0].partition("/")
                p.mark = (p.mark & ~int(mask, 16) & 0xFFFFFFFF) ^ int(val, 16)
                continue
            got = run(t.name)
            if got is not None or t.goto:
                return got
        return None

    got = run("FORWARD")
    if got is None:
        return chains["FORWARD"].policy or "ACCEPT", "FORWARD", 0, hits
    return got[0], got[1], got[2], hits


# ---------------------------------------------------------------- strategies
def net_spec(draw: st.DrawFn) -> str:
    addr = draw(st.sampled_from(ADDRS))
    plen = draw(st.sampled_from([0, 8, 16, 24, 32]))
    return str(IPv4Network(f"{addr}/{plen}", strict=False))


def port_spec(draw: st.DrawFn) -> str:
    a = draw(st.sampled_from(PORTS))
    if draw(st.booleans()):
        return str(a)
    b = draw(st.sampled_from(PORTS))
    return f"{min(a, b)}:{max(a, b)}"


@st.composite
def rules(draw: st.DrawFn, chain_index: int) -> Rule:
    r = Rule()
    if draw(st.booleans()):
        r.src, r.src_neg = net_spec(draw), draw(st.booleans())
    if draw(st.booleans()):
        r.dst, r.dst_neg = net_spec(draw), draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        r.iif, r.iif_neg = draw(st.sampled_from(IFACE_PATTERNS)), draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        r.oif, r.oif_neg = draw(st.sampled_from(IFACE_PATTERNS)), draw(st.booleans())
    proto = draw(st.sampled_from([None, "tcp", "udp", "icmp"]))
    if proto is not None:
        r.proto = proto
        r.proto_neg = draw(st.integers(0, 4)) == 0
        if not r.proto_neg and proto in ("tcp", "udp") and draw(st.booleans()):
            opts = [Option(name, (port_spec(draw),), draw(st.booleans()))
                    for name in ("--sport", "--dport") if draw(st.booleans())]
            r.matches.append(Match(proto, opts or [Option("--dport", (port_spec(draw),))]))
        if not r.proto_neg and proto in ("tcp", "udp") and draw(st.integers(0, 3)) == 0:
            ports = ",".join(port_spec(draw) for _ in range(draw(st.integers(1, 3))))
            name = draw(st.sampled_from(["--dports", "--sports", "--ports"]))
            r.matches.append(Match("multiport", [Option(name, (ports,), draw(st.booleans()))]))
        if not r.proto_neg and proto == "icmp" and draw(st.booleans()):
            r.matches.append(Match("icmp", [Option("--icmp-type", (draw(st.sampled_from(sorted(ICMP_SPECS))),),
                                                   draw(st.booleans()))]))
    if draw(st.integers(0, 4)) == 0:
        val, mask = draw(st.sampled_from([(1, 0xFF), (2, 0xFF), (0x10, 0xF0), (0, 0xFFFFFFFF)]))
        r.matches.append(Match("mark", [Option("--mark", (f"0x{val:x}/0x{mask:x}",), draw(st.booleans()))]))
    if draw(st.integers(0, 5)) == 0:
        r.matches.append(Match("comment", [Option("--comment", ('"a comment"',))]))
    later = USER[chain_index + 1:]
    kinds = ["ACCEPT", "DROP", "RETURN", "none", "MARK"] + (["jump", "goto"] if later else [])
    kind = draw(st.sampled_from(kinds))
    if kind in ("jump", "goto"):
        r.target = Target(draw(st.sampled_from(later)), goto=kind == "goto")
    elif kind == "MARK":
        val, mask = draw(st.sampled_from([(1, 0xFF), (2, 0xFFFFFFFF), (0x10, 0xF0)]))
        r.target = Target("MARK", [Option("--set-xmark", (f"0x{val:x}/0x{mask:x}",))])
    elif kind != "none":
        r.target = Target(kind)
    return r


@st.composite
def rulesets(draw: st.DrawFn) -> Ruleset:
    rs = Ruleset()
    rs.present.add("filter")  # as a restore of a *filter section leaves it
    chains = rs.tables["filter"].chains
    chains["FORWARD"].policy = draw(st.sampled_from(["ACCEPT", "DROP"]))
    n_user = draw(st.integers(0, len(USER)))
    for name in USER[:n_user]:
        chains[name] = Chain(name)
    for i, name in enumerate(["FORWARD", *USER[:n_user]]):
        limit = USER[:n_user]
        chains[name].rules = [r for r in draw(st.lists(rules(i - 1 if name == "FORWARD" else i), max_size=6))
                              if r.target is None or r.target.name not in USER or r.target.name in limit]
    return rs


@st.composite
def packets(draw: st.DrawFn) -> Pkt:
    proto = draw(st.sampled_from(["tcp", "udp", "icmp"]))
    itype, icode = draw(st.sampled_from([(8, 0), (0, 0), (3, 3), (3, 1), (11, 0)]))
    return Pkt(draw(st.sampled_from(ADDRS)), draw(st.sampled_from(ADDRS)), proto,
               draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS)),
               itype if proto == "icmp" else -1, icode if proto == "icmp" else -1,
               draw(st.sampled_from(IFACES)), draw(st.sampled_from(IFACES)),
               draw(st.sampled_from([0, 1, 2, 0x12, 0x1F])))


# ---------------------------------------------------------------- the engine under test
_LAB: dict[str, object] = {}


def host_ns():  # noqa: ANN201
    """One namespace with devices named like the pool (built once: hypothesis runs many examples)."""
    if "ns" not in _LAB:
        lab = Lab(seed=0)
        ns = lab.add_host("h", docker=False).root
        for name in IFACES:
            ns.link_add(api.Dummy(name))
            ns.link_set(name, up=True)
        ns.nf_attach()
        _LAB.update(lab=lab, ns=ns)
    return _LAB["lab"], _LAB["ns"]


def frame_of(p: Pkt) -> Frame:
    ip = IP(src=p.src, dst=p.dst, ttl=64)
    if p.proto == "tcp":
        ip /= TCP(sport=p.sport, dport=p.dport, flags="S")
    elif p.proto == "udp":
        ip /= UDP(sport=p.sport, dport=p.dport)
    else:
        ip /= ICMP(type=p.itype, code=p.icode)
    f = Frame(ip, 1)
    f.mark = p.mark
    return f


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rulesets(), packets())
def test_engine_agrees_with_the_reference_evaluator(rs: Ruleset, p: Pkt) -> None:
    lab, ns = host_ns()
    ns.ruleset = rs
    indev, outdev = ns.devices[p.iif], ns.devices[p.oif]
    start_mark = p.mark
    verdict, chain, num, hits = reference(rs, p)

    sink = lab.bus.subscribe(MemorySink())  # traced run: the event names the deciding rule
    try:
        frame = frame_of(Pkt(**{**p.__dict__, "mark": start_mark}))
        ok = ns.nf.hook("FORWARD", frame, indev, outdev)
    finally:
        lab.bus.unsubscribe(sink)
    assert ok == (verdict == "ACCEPT")
    assert frame.mark == p.mark
    chains = rs.tables["filter"].chains
    events = [e for e in sink.trace if e.stage == "nf:filter:FORWARD"]
    if not chains["FORWARD"].rules and verdict == "ACCEPT":
        assert not events  # an empty chain that accepts is not worth a trace event
    else:
        assert (events[-1].extra["chain"], events[-1].extra["rule"]) == (chain, num)
        assert events[-1].verdict == verdict.lower()
    for name, c in chains.items():
        for i, r in enumerate(c.rules, 1):
            assert r.packets == hits.count((name, i)), (name, i)
            assert r.bytes == r.packets * len(frame.ip)
    assert chains["FORWARD"].packets == (1 if num == 0 else 0)

    frame = frame_of(Pkt(**{**p.__dict__, "mark": start_mark}))  # untraced: the fast path
    assert ns.nf.hook("FORWARD", frame, indev, outdev) == (verdict == "ACCEPT")
    assert frame.mark == p.mark


def test_a_rule_added_later_takes_effect_in_the_next_generation() -> None:
    lab, ns = host_ns()
    rs = Ruleset()
    rs.present.add("filter")
    ns.ruleset = rs
    p = Pkt("10.0.0.1", "10.0.0.2", "tcp", 41000, 80, -1, -1, "eth0", "eth1", 0)
    assert ns.nf.hook("FORWARD", frame_of(p), ns.devices["eth0"], ns.devices["eth1"])
    rs.tables["filter"].chains["FORWARD"].rules.append(Rule(dst="10.0.0.2/32", target=Target("DROP")))
    assert ns.nf.hook("FORWARD", frame_of(p), ns.devices["eth0"], ns.devices["eth1"])  # same generation
    rs.touch()
    assert not ns.nf.hook("FORWARD", frame_of(p), ns.devices["eth0"], ns.devices["eth1"])
    assert rs.tables["filter"].chains["FORWARD"].rules[0].packets == 1
    assert rs.tables["filter"].chains["FORWARD"].packets == 2  # the policy counted the first two

