"""Targets: what a matching rule does (the standard verdicts, jumps and the extensions).

`compile_target(rule)` gives `(kind, arg)`: the standard kinds ACCEPT/DROP/RETURN, a jump or
goto to a compiled chain, "no target" (a counting rule), or an extension: `arg` is then an
action `fn(engine, view) -> verdict` (CONTINUE for LOG, MARK, TRACE ...; DROP for REJECT after
it sent its answer; ACCEPT for the NAT targets once they bound the connection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scapy.layers.inet import IP, TCP

from cnmsim.kernel.sim.nf import nat
from cnmsim.kernel.sim.nf.addr import int2ip, ip2int
from cnmsim.kernel.sim.nf.conntrack import CT_NEW, CT_RELATED, CT_RELATED_REPLY, UNTRACKED
from cnmsim.netfilter.model import Rule

if TYPE_CHECKING:
    from cnmsim.kernel.sim.nf.compile import CTable
    from cnmsim.kernel.sim.nf.engine import Engine
    from cnmsim.kernel.sim.nf.view import View

K_NONE, K_ACCEPT, K_DROP, K_RETURN, K_JUMP, K_GOTO, K_EXT = range(7)
V_DROP, V_ACCEPT, V_RETURN, V_CONTINUE = 0, 1, -1, -2
Action = Callable[["Engine", "View"], int]
REJECT_CODES = {"icmp-net-unreachable": 0, "net-unreach": 0, "icmp-host-unreachable": 1,
                "host-unreach": 1, "icmp-proto-unreachable": 2, "proto-unreach": 2,
                "icmp-port-unreachable": 3, "port-unreach": 3, "icmp-net-prohibited": 9,
                "net-prohib": 9, "icmp-host-prohibited": 10, "host-prohib": 10,
                "icmp-admin-prohibited": 13, "admin-prohib": 13, "tcp-reset": -1, "tcp-rst": -1}
NO_OPS = ("CHECKSUM", "TCPMSS", "CLASSIFY", "DSCP", "TOS", "AUDIT", "NFLOG", "ULOG")


def _opt(rule: Rule, name: str) -> str | None:
    from cnmsim.kernel.sim.nf.compile import text

    o = rule.target.get(name) if rule.target else None
    if o is None:
        return None
    return text(o.values[0]) if o.values else ""


def _flag(rule: Rule, name: str) -> bool:
    return rule.target is not None and rule.target.get(name) is not None


def compile_target(rule: Rule, t: CTable, eng: Engine) -> tuple[int, Any]:
    tg = rule.target
    if tg is None:
        return K_NONE, None
    name = tg.name
    if name in t.chains:
        return (K_GOTO if tg.goto else K_JUMP), t.chains[name]
    if name == "ACCEPT":
        return K_ACCEPT, None
    if name in ("DROP", "QUEUE", "NFQUEUE"):
        return K_DROP, None
    if name == "RETURN":
        return K_RETURN, None
    if name == "REJECT":
        with_ = _opt(rule, "--reject-with") or "icmp-port-unreachable"
        return K_EXT, _reject(REJECT_CODES.get(with_, 3), with_)
    if name == "LOG":
        return K_EXT, _log(_opt(rule, "--log-prefix") or "", t.name)
    if name == "MARK":
        return K_EXT, _mark(rule)
    if name == "CONNMARK":
        t.needs_ct = True
        return K_EXT, _connmark(rule)
    if name == "TTL":
        return K_EXT, _ttl(rule)
    if name == "TRACE":
        return K_EXT, _trace
    if name == "NOTRACK" or (name == "CT" and _flag(rule, "--notrack")):
        return K_EXT, _notrack
    if name in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
        t.needs_ct = True
        return K_EXT, _nat_target(name, rule)
    if name not in NO_OPS:
        t.warnings.append(f"-j {name} is not modelled: the rule only counts packets")
    return K_NONE, None


# ---------------------------------------------------------------- simple targets
def _reject(code: int, with_: str) -> Action:
    def reject(eng: Engine, v: View) -> int:
        if code < 0:
            send_reset(eng, v)
        else:
            from cnmsim.kernel.sim import icmp as icmp_mod

            icmp_mod.send_error(eng.ns, v.frame, 3, code)
        return V_DROP
    reject.__doc__ = with_
    return reject


def _log(prefix: str, table: str) -> Action:
    def log(eng: Engine, v: View) -> int:
        if eng.ns.bus.on:
            eng.log_line(v, prefix)
        return V_CONTINUE
    return log


def _mark_op(rule: Rule) -> tuple[int, int]:
    """MARK/CONNMARK value ops as (and-mask to clear, xor value): the kernel's xmark."""
    for name in ("--set-xmark", "--set-mark", "--or-mark", "--and-mark", "--xor-mark"):
        val = _opt(rule, name)
        if val is None:
            continue
        v, _, m = val.partition("/")
        value, mask = int(v, 0), int(m, 0) if m else 0xFFFFFFFF
        if name == "--set-xmark":
            return mask, value
        if name == "--set-mark":
            return mask, value & mask
        if name == "--or-mark":
            return value, value
        if name == "--and-mark":
            return ~value & 0xFFFFFFFF, 0
        return 0, value
    return 0, 0


def _mark(rule: Rule) -> Action:
    clear, xor = _mark_op(rule)

    def mark(eng: Engine, v: View) -> int:
        v.mark = v.frame.mark = (v.frame.mark & ~clear & 0xFFFFFFFF) ^ xor
        return V_CONTINUE
    return mark


def _connmark(rule: Rule) -> Action:
    """xt_connmark revision 2: set (xmark), save (nfmark -> ctmark) or restore (ctmark ->
    nfmark) through --nfmask/--ctmask, with the optional shift; no entry: nothing happens."""
    clear, xor = _mark_op(rule)
    save, restore = _flag(rule, "--save-mark"), _flag(rule, "--restore-mark")
    nfmask = int(_opt(rule, "--nfmask") or "0xffffffff", 0)
    ctmask = int(_opt(rule, "--ctmask") or "0xffffffff", 0)
    right = _opt(rule, "--right-shift-mark")
    bits = int(right or _opt(rule, "--left-shift-mark") or 0)

    def shift(x: int) -> int:
        return x >> bits if right else (x << bits) & 0xFFFFFFFF

    def connmark(eng: Engine, v: View) -> int:
        conn = v.conn
        if conn is None:
            return V_CONTINUE
        if save:
            conn.mark = (conn.mark & ~ctmask & 0xFFFFFFFF) ^ shift(v.frame.mark & nfmask)
        elif restore:
            v.mark = v.frame.mark = (v.frame.mark & ~nfmask & 0xFFFFFFFF) ^ shift(conn.mark & ctmask)
        else:
            conn.mark = shift((conn.mark & ~clear & 0xFFFFFFFF) ^ xor)
        return V_CONTINUE
    return connmark


def _ttl(rule: Rule) -> Action:
    """ipt_TTL (mangle): set, decrease (not below 0) or increase (not above 255) the IP TTL,
    in the packet itself, so later rules, routing and the next hop see the new value."""
    for name in ("--ttl-set", "--ttl-dec", "--ttl-inc"):
        val = _opt(rule, name)
        if val is not None:
            mode, n = name, int(val)
            break
    else:
        return lambda eng, v: V_CONTINUE

    def ttl(eng: Engine, v: View) -> int:
        ip = v.ip
        old = ip.ttl
        new = n if mode == "--ttl-set" else max(0, old - n) if mode == "--ttl-dec" else min(255, old + n)
        if new != old:
            ip.ttl = new
            ip.chksum = None
        return V_CONTINUE
    return ttl


def _trace(eng: Engine, v: View) -> int:
    v.frame.set_meta("nftrace", True)
    return V_CONTINUE


def _notrack(eng: Engine, v: View) -> int:
    v.frame.ct = UNTRACKED
    v.refresh_ct(None, UNTRACKED[1])
    return V_CONTINUE


# ---------------------------------------------------------------- NAT targets
def _nat_target(name: str, rule: Rule) -> Action:
    random, persistent = _flag(rule, "--random") or _flag(rule, "--random-fully"), _flag(rule, "--persistent")
    if name in ("DNAT", "SNAT"):
        spec = _opt(rule, "--to-destination" if name == "DNAT" else "--to-source") or ""
        rng_ = nat.NatRange.parse(spec, random, persistent)
    else:
        rng_ = nat.NatRange.ports(_opt(rule, "--to-ports"), random)
    manip = nat.SRC if name in ("SNAT", "MASQUERADE") else nat.DST

    def nat_target(eng: Engine, v: View) -> int:
        conn = v.conn
        if conn is None or v.ctinfo not in (CT_NEW, CT_RELATED, CT_RELATED_REPLY):
            return V_ACCEPT
        r = rng_
        if name == "MASQUERADE":
            r = masquerade_range(eng, v, rng_)
        elif name == "REDIRECT":
            r = redirect_range(eng, v, rng_)
        if r is None:
            return V_DROP
        nat.setup(eng.ct, conn, manip, r, eng.rng)
        v.refresh_ct(conn, v.ctinfo)
        return V_ACCEPT
    nat_target.__doc__ = name
    return nat_target


def masquerade_range(eng: Engine, v: View, r: nat.NatRange) -> nat.NatRange | None:
    """MASQUERADE: the outgoing device's address toward the next hop (inet_select_addr)."""
    conn = v.conn
    assert conn is not None
    if conn.orig[1] == 0 or v.outdev is None:
        return r
    ns = eng.ns
    dst = int2ip(v.dst)
    rt = ns.stack.fib_lookup(dst)
    src = ns.select_source(v.outdev, rt.via if rt is not None and rt.via else dst)
    if src is None:
        ns.trace(v.outdev.name, "nat:snat", "drop", f"{v.outdev.name} ate my IP address", v.frame)
        return None
    conn.masq_dev = v.outdev.name
    a = ip2int(src)
    return nat.NatRange(a, a, r.min_port, r.max_port, r.random)


def redirect_range(eng: Engine, v: View, r: nat.NatRange) -> nat.NatRange | None:
    """REDIRECT: to 127.0.0.1 for local output, else the incoming device's first address."""
    if v.hook == "OUTPUT":
        a = ip2int("127.0.0.1")
    else:
        addrs = eng.ns.addrs_of(v.indev) if v.indev is not None else []
        if not addrs:
            return None
        a = int(addrs[0].iface.ip)
    return nat.NatRange(a, a, r.min_port, r.max_port, r.random)


def send_reset(eng: Engine, v: View) -> None:
    """REJECT --reject-with tcp-reset (nf_send_reset), carrying the connection along: the
    reset is attached to the rejected packet's entry (nf_ct_attach), so NAT is undone on it."""
    from cnmsim.kernel.sim.ipv4 import OutputError

    ip = v.ip
    tcp = ip.payload
    if type(tcp) is not TCP or v.frag or v.tcpflags & 4:
        return
    if v.tcpflags & 16:
        seq, ack, flags = tcp.ack, 0, "R"
    else:
        n = len(getattr(tcp.payload, "load", b"")) + (1 if v.tcpflags & 2 else 0) + (v.tcpflags & 1)
        seq, ack, flags = 0, (tcp.seq + n) & 0xFFFFFFFF, "RA"
    rst = IP(src=ip.dst, dst=ip.src, ttl=64, flags="DF", id=0) / TCP(
        sport=tcp.dport, dport=tcp.sport, seq=seq, ack=ack, flags=flags, window=0, dataofs=5)
    from cnmsim.kernel.sim.nf.engine import ct_attached

    try:
        with ct_attached(eng.ns, v.frame):
            eng.ns.stack.output(rst, fid=eng.ctx.next_id())
    except OutputError:
        pass


__all__ = ["K_ACCEPT", "K_DROP", "K_EXT", "K_GOTO", "K_JUMP", "K_NONE", "K_RETURN", "V_ACCEPT",
           "V_CONTINUE", "V_DROP", "V_RETURN", "compile_target", "send_reset"]
