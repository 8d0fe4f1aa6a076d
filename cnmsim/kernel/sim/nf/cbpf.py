"""xt_bpf and xt_policy: the two matches Docker's encrypted overlays need.

`bpf` runs a classic BPF program (the kernel's sk_filter machine: A, X, M[16]) on the packet
from its IP header, as netfilter hands skbs to xt_bpf; a non-zero return is a match.  Loads
past the end make the program return 0; the ancillary loads (SKF_AD_*) the kernel offers are
there, of which Docker's older program used SKF_AD_PAY_OFFSET.

`policy` tests IPsec: `--dir in` whether the packet was decrypted on the way in (the
secpath xfrm.py leaves on the frame), `--dir out` whether its route is an xfrm bundle (an out
policy selects it); `--pol none` matches the opposite.  Policy elements (--spi, --reqid ...)
are not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scapy.layers.inet import TCP

from cnmsim.kernel.sim.xfrm import SECPATH
from cnmsim.netfilter.matches_ipsec import parse_program

if TYPE_CHECKING:
    from scapy.layers.inet import IP

    from cnmsim.kernel.sim.nf.engine import Engine
    from cnmsim.kernel.sim.nf.view import View
    from cnmsim.netfilter.model import Match

M32 = 0xFFFFFFFF
SKF_AD_OFF, SKF_NET_OFF, SKF_LL_OFF = 0xFFFFF000, 0xFFF00000, 0xFFE00000
Insn = tuple[int, int, int, int]


def _text(o: object) -> str:
    from cnmsim.kernel.sim.nf.compile import text

    return text(o.values[0]) if o.values else ""  # type: ignore[attr-defined]


def payload_offset(ip: IP) -> int:
    """skb_get_poff: the IP header, then the transport header (TCP with its options)."""
    off = ip.ihl * 4 if ip.ihl else 20
    if ip.frag:
        return off
    l4 = ip.payload
    if ip.proto == 6 and isinstance(l4, TCP):
        return off + max(20, (l4.dataofs or 5) * 4)
    return off + {17: 8, 136: 8, 1: 8}.get(ip.proto, 0)


def _ancillary(k: int, ip: IP, mark: int, x: int) -> int | None:
    off = k - SKF_AD_OFF
    return {0: 0x0800, 4: 0, 20: mark, 28: 1, 52: payload_offset(ip)}.get(off, 0)


def _load(data: bytes, at: int, size: int) -> int | None:
    if at < 0 or at + size > len(data):
        return None
    return int.from_bytes(data[at:at + size], "big")


def run(prog: list[Insn], data: bytes, ip: IP | None = None, mark: int = 0) -> int:
    """Run a classic BPF program over `data` (the packet from the IP header): its return value."""
    a = x = 0
    mem = [0] * 16
    pc, n = 0, len(prog)
    while pc < n:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = code & 0x07
        if cls in (0, 1):  # LD, LDX
            mode, size = code & 0xE0, {0x00: 4, 0x08: 2, 0x10: 1}.get(code & 0x18, 4)
            if mode == 0x00:
                v: int | None = k
            elif mode == 0x60:
                v = mem[k & 15]
            elif mode == 0x80:
                v = len(data)
            elif mode == 0xA0:  # MSH: 4 * (P[k] & 0xf)
                b = _load(data, k, 1)
                v = None if b is None else 4 * (b & 0x0F)
            else:  # ABS, IND
                at = k if mode == 0x20 else (x + k) & M32
                if at >= SKF_AD_OFF and ip is not None:
                    v = _ancillary(at, ip, mark, x)
                elif at >= SKF_LL_OFF:
                    v = _load(data, at - SKF_NET_OFF, size) if at >= SKF_NET_OFF else None
                else:
                    v = _load(data, at, size)
            if v is None:
                return 0
            if cls == 0:
                a = v
            else:
                x = v
        elif cls == 2:
            mem[k & 15] = a
        elif cls == 3:
            mem[k & 15] = x
        elif cls == 4:  # ALU
            op, src = code & 0xF0, (x if code & 0x08 else k)
            if op in (0x30, 0x90) and src == 0:
                return 0
            a = _alu(op, a, src) & M32
        elif cls == 5:  # JMP
            op, src = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:
                pc += k
            else:
                hit = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}.get(op, False)
                pc += jt if hit else jf
        elif cls == 6:  # RET
            return {0x00: k, 0x10: a, 0x08: x}.get(code & 0x18, 0) & M32
        else:  # MISC: TAX / TXA
            if code & 0xF8 == 0x80:
                a = x
            else:
                x = a
    return 0


def _alu(op: int, a: int, s: int) -> int:
    if op == 0x00:
        return a + s
    if op == 0x10:
        return a - s
    if op == 0x20:
        return a * s
    if op == 0x30:
        return a // s
    if op == 0x40:
        return a | s
    if op == 0x50:
        return a & s
    if op == 0x60:
        return a << s if s < 32 else 0
    if op == 0x70:
        return a >> s if s < 32 else 0
    if op == 0x80:
        return -a
    if op == 0x90:
        return a % s
    return a ^ s


def bpf(m: Match, eng: Engine) -> Callable[[View], bool]:
    """xt_bpf: the program of --bytecode; --object-pinned never matches here."""
    o = next((o for o in m.options if o.name == "--bytecode"), None)
    if o is None:
        return lambda v: False
    prog = parse_program(_text(o))
    return lambda v: run(prog, bytes(v.ip), v.ip, v.mark) != 0


def policy(m: Match, eng: Engine) -> Callable[[View], bool]:
    """xt_policy without elements: whether IPsec processed (in) or will process (out) it."""
    opts = {o.name: _text(o) for o in m.options}
    want = opts.get("--pol", "ipsec") == "ipsec"
    if opts.get("--dir") == "in":
        return lambda v: (v.frame.get_meta(SECPATH) is not None) == want

    def out(v: View) -> bool:
        x = eng.ns.xfrm
        return (x is not None and x.will_transform(v.frame, v.ip)) == want
    return out
