"""Trace events of the netfilter datapath, and why a packet met its fate, in words.

Every decision is one event: stage `nf:TABLE:HOOK` with the verdict (jump, goto, return,
accept, drop, reject, dnat, snat, masquerade, redirect) and a reason naming the chain, the rule
number and its `-A` text; `ct:new|established|related|invalid` for conntrack; `nat:dnat` and
`nat:snat` for the rewrites (verdict rewrite, or reverse on replies).  Docker's chains are
recognised, so a drop says why Docker drops it.  Only called under `if bus.on`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnmsim.kernel.sim.nf import nat
from cnmsim.kernel.sim.nf.addr import int2ip
from cnmsim.kernel.sim.nf.conntrack import CT_NEW, CT_RELATED, CT_RELATED_REPLY, TCP_NAMES
from cnmsim.kernel.sim.nf.render import rule_spec
from cnmsim.netfilter.model import BUILTIN_CHAINS, Rule
from cnmsim.trace.explain import register

if TYPE_CHECKING:
    from cnmsim.kernel.sim.nf.compile import CChain, CTable
    from cnmsim.kernel.sim.nf.engine import Engine
    from cnmsim.kernel.sim.nf.view import View
    from cnmsim.packet.frame import Frame

POLICY_WHY = {"FORWARD": "nothing accepted this forwarded packet",
              "INPUT": "nothing accepted this packet addressed to the host itself",
              "OUTPUT": "nothing accepted this locally generated packet"}
PROTO = {6: "TCP", 17: "UDP", 1: "ICMP"}


# ---------------------------------------------------------------- why, in words
def _ctstate(rule: Rule) -> str:
    for m in rule.matches:
        for o in m.options:
            if o.name in ("--ctstate", "--state") and not o.neg:
                return o.values[0] if o.values else ""
    return ""


def why(table: str, chain: str, rule: Rule | None, verdict: str) -> str:
    """Docker's intent behind a rule or policy (empty when the chain is not Docker's)."""
    blocked = verdict in ("drop", "reject")
    if rule is None:
        return POLICY_WHY.get(chain, "") if blocked else ""
    if blocked:
        if chain.startswith("DOCKER-ISOLATION-STAGE"):
            return "containers on different bridge networks are isolated"
        if chain == "DOCKER-USER":
            return ("a rule of DOCKER-USER blocks it: the administrator's own rules, which Docker "
                    "runs before its own for forwarded traffic")
        if chain == "DOCKER-INTERNAL":
            return "the network is internal (--internal): no traffic may enter or leave it"
        if table == "filter" and chain == "DOCKER":
            return ("not a published port: Docker drops traffic into a bridge network unless a "
                    "container port is published")
        if table == "raw" and chain == "PREROUTING" and rule.dst:
            return "Docker blocks direct access to a container's address from outside its network"
        if chain in ("FORWARD", "DOCKER-FORWARD") and rule.iif and rule.iif == rule.oif \
                and not rule.iif_neg and not rule.oif_neg:
            return "inter-container communication is disabled on this network (icc=false)"
        return ""
    if table == "filter" and chain == "DOCKER" and verdict == "accept":
        return "a published port: Docker lets traffic reach this container port"
    if verdict == "accept" and "ESTABLISHED" in _ctstate(rule):
        return "it belongs to a connection that was already accepted (conntrack state)"
    if verdict == "accept" and rule.iif and rule.oif == rule.iif and rule.oif_neg:
        return "traffic leaving a Docker network is allowed"
    if verdict == "dnat" and chain == "DOCKER_OUTPUT":
        return "Docker's embedded DNS: 127.0.0.11:53 goes to the resolver's own port in this container"
    if verdict == "snat" and chain == "DOCKER_POSTROUTING":
        return "Docker's embedded DNS: the answer looks as if it came from 127.0.0.11:53"
    if verdict == "dnat" and chain.startswith("DOCKER"):
        return "a published port: Docker sends the host port to the container"
    if verdict == "masquerade":
        return "the packet leaves with the address of the outgoing interface (masquerade)"
    return ""


def spec(eng: Engine, chain: str, rule: Rule) -> str:
    s = eng.specs.get(id(rule))
    if s is None:
        s = eng.specs[id(rule)] = rule_spec(chain, rule)
    return s


def ext_verdict(action: Any, r: int) -> str:
    """The verdict word of an extension target (REJECT, DNAT ...) from its action."""
    name = getattr(action, "__name__", "")
    if name == "reject":
        return "reject"
    if name == "nat_target":
        return (action.__doc__ or "nat").lower() if r else "drop"
    return "accept" if r else "drop"


# ---------------------------------------------------------------- events
def _emit(eng: Engine, stage: str, verdict: str, reason: str, frame: Frame, dev: str,
          **extra: Any) -> None:
    ns = eng.ns
    ns.bus.emit(ns.kernel.hostname, ns.name, dev, stage, verdict, reason, frame, **extra)


def _dev(v: View) -> str:
    d = v.outdev if v.hook in ("OUTPUT", "POSTROUTING") else (v.indev or v.outdev)
    return d.name if d is not None else ""


def rule_event(eng: Engine, t: CTable, ch: CChain, num: int, rule: Rule, v: View, verdict: str,
               note: str = "") -> None:
    s = spec(eng, ch.name, rule)
    target = rule.target.name if rule.target else ""
    if verdict in ("jump", "goto"):
        reason = f"rule {num} of {ch.name} {'jumps' if verdict == 'jump' else 'goes'} to {target} ({s})"
    elif verdict == "return":
        reason = f"rule {num} of {ch.name} returns to the calling chain ({s})"
    elif verdict == "continue":
        reason = f"rule {num} of {ch.name} matches and the walk goes on ({s})"
    else:
        word = {"accept": "accepted", "drop": "dropped", "reject": "rejected"}.get(verdict)
        w = note or why(t.name, ch.name, rule, verdict)
        if word is None:  # a NAT target: what the connection is translated to
            manip = nat.SRC if verdict in ("snat", "masquerade") else nat.DST
            binding = _binding(v, manip)
            reason = f"rule {num} of {ch.name} maps the connection to {binding}" + (f": {w}" if w else "") + f" ({s})"
        else:
            if verdict == "reject":
                o = rule.target.get("--reject-with") if rule.target else None
                word += f" with {o.values[0] if o and o.values else 'icmp-port-unreachable'}"
            reason = f"{word} by rule {num} of {ch.name}" + (f": {w}" if w else "") + f" ({s})"
    _emit(eng, f"nf:{t.name}:{v.hook}", verdict, reason, v.frame, _dev(v), table=t.name,
          chain=ch.name, rule=num, spec=s, target=target)
    if v.frame.meta and v.frame.meta.get("nftrace"):
        _trace_line(eng, v, f"{t.name}:{ch.name}:{'return' if verdict == 'return' else 'rule'}:{num}")


def _binding(v: View, manip: int) -> str:
    conn = v.conn
    if conn is None:
        return "?"
    t = nat.invert(conn.reply)
    assert t is not None
    a, p = (t[1], t[2]) if manip == nat.SRC else (t[3], t[4])
    return f"{int2ip(a)}:{p}" if t[0] in (6, 17) else int2ip(a)


def policy_event(eng: Engine, t: CTable, base: CChain, v: View, r: int) -> None:
    pol = "ACCEPT" if r else "DROP"
    verdict = "accept" if r else "drop"
    w = why(t.name, base.name, None, verdict)
    reason = f"{'accepted' if r else 'dropped'} by the {base.name} policy ({pol})" + (f": {w}" if w else "")
    if t.name == "nat" and r:
        reason = f"no rule translates it (the {base.name} policy is ACCEPT)"
    _emit(eng, f"nf:{t.name}:{v.hook}", verdict, reason, v.frame, _dev(v), table=t.name,
          chain=base.name, rule=0, spec=f"-P {base.name} {pol}", target=pol)
    if v.frame.meta and v.frame.meta.get("nftrace"):
        _trace_line(eng, v, f"{t.name}:{base.name}:policy:{len(base.rules) + 1}")


def end_event(eng: Engine, t: CTable, ch: CChain, v: View) -> None:
    _emit(eng, f"nf:{t.name}:{v.hook}", "return", f"end of {ch.name}: back to the calling chain",
          v.frame, _dev(v), table=t.name, chain=ch.name, rule=len(ch.rules) + 1, spec="", target="")
    if v.frame.meta and v.frame.meta.get("nftrace"):
        _trace_line(eng, v, f"{t.name}:{ch.name}:return:{len(ch.rules) + 1}")


def packet_line(eng: Engine, v: View) -> str:
    """The kernel log's description of a packet (nf_log_ip_packet / dump_ipv4_packet)."""
    ip, frame = v.ip, v.frame
    parts = [f"IN={v.iif if v.hook != 'OUTPUT' else ''}", f"OUT={v.oif}"]
    if v.physin:
        parts.append(f"PHYSIN={v.physin}")
    if v.physout:
        parts.append(f"PHYSOUT={v.physout}")
    eth = frame.pkt
    if eth is not ip and v.indev is not None:
        parts.append(f"MAC={eth.dst}:{eth.src}:08:00")
    flags = " DF" if int(ip.flags) & 2 else ""
    tos = int(ip.tos)
    parts.append(f"SRC={int2ip(v.src)} DST={int2ip(v.dst)} LEN={v.length} TOS=0x{tos & 0x1E:02X} "
                 f"PREC=0x{tos & 0xE0:02X} TTL={ip.ttl} ID={ip.id}{flags}")
    l4 = ip.payload
    if v.proto == 6 and v.sport >= 0:
        names = [n for b, n in ((32, "URG"), (16, "ACK"), (8, "PSH"), (4, "RST"), (2, "SYN"), (1, "FIN"))
                 if v.tcpflags & b]
        parts.append(f"PROTO=TCP SPT={v.sport} DPT={v.dport} WINDOW={l4.window} RES=0x00 "
                     + " ".join(names) + f" URGP={l4.urgptr}")
    elif v.proto == 17 and v.sport >= 0:
        parts.append(f"PROTO=UDP SPT={v.sport} DPT={v.dport} LEN={v.length - 20}")
    elif v.proto == 1 and v.itype >= 0:
        extra = f" ID={l4.id} SEQ={l4.seq}" if v.itype in (0, 8) else ""
        parts.append(f"PROTO=ICMP TYPE={v.itype} CODE={v.icode}{extra}")
    else:
        parts.append(f"PROTO={v.proto}")
    return " ".join(parts)


def log_event(eng: Engine, v: View, prefix: str) -> None:
    _emit(eng, "nf:log", "log", prefix + packet_line(eng, v), v.frame, _dev(v))


def _trace_line(eng: Engine, v: View, where: str) -> None:
    _emit(eng, "nf:trace", "trace", f"TRACE: {where} {packet_line(eng, v)}", v.frame, _dev(v))


def _tuple_text(key: tuple) -> str:
    p, s, sp, d, dp = key
    if p in (6, 17):
        return f"{PROTO[p]} {int2ip(s)}:{sp} -> {int2ip(d)}:{dp}"
    if p == 1:
        return f"ICMP {int2ip(s)} -> {int2ip(d)} type {dp >> 8} id {sp}"
    return f"proto {p} {int2ip(s)} -> {int2ip(d)}"


def ct_event(eng: Engine, frame: Frame, hook: str, dev: Any, hit: tuple | None) -> None:
    name = dev.name if dev is not None else ""
    if hit is None:
        _emit(eng, "ct:invalid", "invalid", "no connection matches and it cannot start one", frame, name)
        return
    conn, ctinfo = hit
    state = f", {TCP_NAMES[conn.state]}" if conn.orig[0] == 6 else ""
    if ctinfo == CT_NEW and not conn.confirmed:
        _emit(eng, "ct:new", "new", f"{_tuple_text(conn.orig)}{state}", frame, name)
    elif ctinfo in (CT_RELATED, CT_RELATED_REPLY):
        _emit(eng, "ct:related", "related", f"an ICMP error about {_tuple_text(conn.orig)}", frame, name)
    else:
        way = "reply" if ctinfo >= 3 else "original"
        _emit(eng, "ct:established", "established",
              f"{_tuple_text(conn.orig)} ({way} direction{state})", frame, name)


def nat_event(eng: Engine, frame: Frame, hook: str, conn: Any, ctinfo: int, manip: int,
              what: str) -> None:
    reply = ctinfo >= 3
    kind = (nat.SRC if manip == nat.DST else nat.DST) if reply else manip
    stage = "nat:snat" if kind == nat.SRC else "nat:dnat"
    ip = frame.ip
    now = f"{ip.src} -> {ip.dst}" if ip is not None else ""
    if ip is not None and type(ip.payload).__name__ in ("TCP", "UDP"):
        now = f"{ip.src}:{ip.payload.sport} -> {ip.dst}:{ip.payload.dport}"
    orig = _tuple_text(conn.orig)
    text = f"{what + ': ' if what else ''}now {now} (connection {orig})"
    _emit(eng, stage, "reverse" if reply else "rewrite", text, frame, "")


# ---------------------------------------------------------------- sentences
def _register() -> None:
    for table, chains in BUILTIN_CHAINS.items():
        for hook in chains:
            st = f"nf:{table}:{hook}"
            where = f"iptables ({table} table, {hook})"
            register(st, None, "{place}: " + where + ", {reason}.")
            for v in ("accept", "drop", "reject"):
                register(st, v, "{place}: " + where + ": {reason}.")
            for v in ("dnat", "snat", "masquerade", "redirect"):
                register(st, v, "{place}: " + where + " decides the connection's translation: {reason}.")
    register("ct:new", None, "{place} (conntrack) sees a new connection: {reason}.")
    register("ct:established", None, "{place} (conntrack) knows this connection: {reason}.")
    register("ct:related", None, "{place} (conntrack) relates the packet to a known connection: {reason}.")
    register("ct:invalid", None, "{place} (conntrack) finds no connection for the packet (INVALID): {reason}.")
    register("ct:confirm", "drop", "{place} (conntrack) drops the packet: {reason}.")
    register("nat:dnat", "rewrite", "{place} translates the destination (DNAT): {reason}.")
    register("nat:dnat", "reverse", "{place} undoes the DNAT on the way back: {reason}.")
    register("nat:snat", "rewrite", "{place} translates the source (SNAT/MASQUERADE): {reason}.")
    register("nat:snat", "reverse", "{place} undoes the source NAT on the way back: {reason}.")
    register("nat:snat", "drop", "{place} cannot masquerade: {reason}.")
    register("nf:log", None, "{place} logs the packet: {reason}")
    register("nf:trace", None, "{place} {reason}")
    register("nf:compile", None, "{place}: {reason}.")


_register()
