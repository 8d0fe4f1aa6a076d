"""`ip xfrm state|policy`: list (also `ip -s`), add, update, delete and flush IPsec SAs and
policies, printed as iproute2 6.1 prints them (ipxfrm.c, xfrm_state.c, xfrm_policy.c):

    src 192.168.0.2 dst 192.168.0.3
        proto esp spi 0x8d2c2c5e reqid 13681891 mode transport
        replay-window 0
        aead rfc4106(gcm(aes)) 0x000102030405060708090a0b0c0d0e0f8d2c2c5e 64
        anti-replay context: seq 0x0, oseq 0x3, bitmap 0x00000000
        sel src 0.0.0.0/0 dst 0.0.0.0/0

(indented with tabs, some lines ending in a space).  The kernel dumps the newest SA and policy
first.  Times (`ip -s`) are the simulated clock as seconds since the epoch.
"""

from __future__ import annotations

import time

from cnmsim.apps.iputil import ToolError, guarded, invarg, ipv4, matches, next_arg
from cnmsim.kernel.api import KernelError, XfrmPolicy, XfrmState, XfrmTmpl
from cnmsim.shell.registry import Proc

PROTOS = {"icmp": 1, "tcp": 6, "udp": 17, "esp": 50, "sctp": 132, "any": 0}
NAMES = {v: k for k, v in PROTOS.items() if v}
LIFETIME = ["\tlifetime config:", "\t  limit: soft (INF)(bytes), hard (INF)(bytes)",
            "\t  limit: soft (INF)(packets), hard (INF)(packets)",
            "\t  expire add: soft 0(sec), hard 0(sec)", "\t  expire use: soft 0(sec), hard 0(sec)"]


def run(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    if not args:
        return proc.fail("Usage: ip xfrm XFRM-OBJECT { COMMAND | help }\n"
                         "where  XFRM-OBJECT := state | policy | monitor", 255)
    obj = args.pop(0)
    if matches(obj, "state") or matches(obj, "sa"):
        return guarded(proc, lambda: _state(proc, opts, args))
    if matches(obj, "policy"):
        return guarded(proc, lambda: _policy(proc, opts, args))
    return proc.fail(f'Object "{obj}" is unknown, try "ip xfrm help".', 255)


def _hx(v: int) -> str:
    return f"{v:#x}" if v else "0"  # printf %#x


def _time(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


# ---------------------------------------------------------------- printing
def state_lines(st: XfrmState, stats: int = 0) -> list[str]:
    spi = f"spi 0x{st.spi:08x}" + (f"({st.spi})" if stats else "")
    reqid = f"reqid {st.reqid}" + (f"(0x{st.reqid:08x})" if stats else "")
    out = [f"src {st.src} dst {st.dst}", f"\tproto {st.proto} {spi} {reqid} mode {st.mode}",
           f"\treplay-window {st.replay_window} " + ("seq 0x00000000 flag  (0x00000000)" if stats else "")]
    if st.mark is not None:
        out.append(f"\tmark {_hx(st.mark)}/{_hx(st.mask)} ")
    bits = f" ({len(st.key) * 8} bits)" if stats else ""
    out.append(f"\taead {st.aead} 0x{st.key.hex()}{bits} {st.icv_len}")
    out.append(f"\tanti-replay context: seq {_hx(st.seq) if st.seq else '0x0'}, "
               f"oseq {_hx(st.oseq) if st.oseq else '0x0'}, bitmap 0x00000000")
    out.append("\tsel src 0.0.0.0/0 dst 0.0.0.0/0 " + ("uid 0" if stats else ""))
    if stats:
        out += LIFETIME + ["\tlifetime current:", f"\t  {st.bytes}(bytes), {st.packets}(packets)",
                f"\t  add {_time(st.added)} use {_time(st.used)}",
                "\tstats:", f"\t  replay-window {st.replay_window} replay 0 failed 0"]
    return out


def _selector(p: XfrmPolicy) -> str:
    s = f"src {p.src} dst {p.dst} "
    if p.proto:
        s += f"proto {NAMES.get(p.proto, p.proto)} "
    if p.sport is not None:
        s += f"sport {p.sport} "
    if p.dport is not None:
        s += f"dport {p.dport} "
    return s


def policy_lines(p: XfrmPolicy, stats: int = 0) -> list[str]:
    """xfrm_policy_info_print (a kernel with CONFIG_XFRM_SUB_POLICY, as Debian's: `ptype main`)."""
    action = "action block " if p.action == "block" else ("action allow " if stats else "")
    line = f"\tdir {p.dir} {action}" + (f"index {p.index} " if stats else "") + f"priority {p.priority} ptype main "
    out = [_selector(p) + ("uid 0" if stats else ""), line + ("share any flag  (0x00000000)" if stats else "")]
    if stats:
        out += LIFETIME + ["\tlifetime current:", "\t  0(bytes), 0(packets)", f"\t  add {_time(p.added)} use -"]
    if p.mark is not None:
        out.append(f"\tmark {_hx(p.mark)}/{_hx(p.mask)} ")
    for t in p.tmpls:
        spi = (f"spi 0x{t.spi:08x}" + (f"({t.spi})" if stats else "") + " ") if t.spi else ""
        reqid = f"reqid {t.reqid}" + (f"(0x{t.reqid:08x})" if stats else "")
        out += [f"\ttmpl src {t.src} dst {t.dst}", f"\t\tproto {t.proto} {spi}{reqid} mode {t.mode}"]
        if stats:
            out += ["\t\tlevel required share any ", "\t\tenc-mask ffffffff auth-mask ffffffff comp-mask ffffffff"]
    return out


# ---------------------------------------------------------------- commands
def _state(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "list"
    ns = proc.ns
    if matches(cmd, "list") or matches(cmd, "show"):
        for st in ns.xfrm_state_list():
            proc.out("\n".join(state_lines(st, opts.stats)))
        return 0
    if matches(cmd, "flush"):
        for st in ns.xfrm_state_list():
            ns.xfrm_state_del(st)
        return 0
    if cmd in ("add", "update"):
        st = _parse_state(args, full=True)
        if cmd == "update":
            try:
                ns.xfrm_state_del(st)
            except KernelError:  # update creates a missing SA
                pass
        ns.xfrm_state_add(st)
        return 0
    if matches(cmd, "delete"):
        ns.xfrm_state_del(_parse_state(args, full=False))
        return 0
    if matches(cmd, "get"):
        want = _parse_state(args, full=False)
        for st in ns.xfrm_state_list():
            if (st.dst, st.proto, st.spi) == (want.dst, want.proto, want.spi):
                proc.out("\n".join(state_lines(st, opts.stats)))
                return 0
        return proc.fail("RTNETLINK answers: No such process", 2)
    return proc.fail(f'Command "{cmd}" is unknown, try "ip xfrm state help".', 255)


def _num(arg: str, what: str) -> int:
    try:
        return int(arg, 0)
    except ValueError:
        raise invarg(f'"{what}" is invalid', arg) from None


def _parse_state(args: list[str], full: bool) -> XfrmState:
    kw: dict = {"src": "0.0.0.0", "dst": "", "spi": 0}
    while args:
        a = args.pop(0)
        if a in ("src", "dst"):
            kw[a] = ipv4(next_arg(args))
        elif a == "proto":
            kw["proto"] = next_arg(args)
            if kw["proto"] not in ("esp", "ah", "comp"):
                raise invarg('"XFRM-PROTO" is invalid', kw["proto"])
        elif a == "spi":
            kw["spi"] = _num(next_arg(args), "SPI")
        elif a == "reqid":
            kw["reqid"] = _num(next_arg(args), "REQID")
        elif a == "mode":
            kw["mode"] = next_arg(args)
        elif a == "mark":
            kw["mark"] = _num(next_arg(args), "mark")
            if args and args[0] == "mask":
                args.pop(0)
                kw["mask"] = _num(next_arg(args), "mask")
        elif a == "replay-window":
            kw["replay_window"] = _num(next_arg(args), "replay-window")
        elif a == "aead":
            kw["aead"] = next_arg(args)
            key = next_arg(args)
            kw["key"] = bytes.fromhex(key[2:]) if key.startswith("0x") else key.encode()
            kw["icv_len"] = _num(next_arg(args), "ICV length")
        else:
            raise ToolError(f'Error: either "{a}" is duplicate, or "{a}" is a garbage.', 255)
    if not kw["dst"]:
        raise ToolError('Error: argument "ID" is required', 255)
    if full and "key" not in kw:
        raise ToolError("Error: missing algorithm", 1)
    return XfrmState(**kw)


def _policy(proc: Proc, opts, args: list[str]) -> int:  # noqa: ANN001
    cmd = args.pop(0) if args else "list"
    ns = proc.ns
    if matches(cmd, "list") or matches(cmd, "show"):
        for p in ns.xfrm_policy_list():
            proc.out("\n".join(policy_lines(p, opts.stats)))
        return 0
    if matches(cmd, "flush"):
        for p in ns.xfrm_policy_list():
            ns.xfrm_policy_del(p)
        return 0
    if cmd in ("add", "update"):
        ns.xfrm_policy_add(_parse_policy(args), update=cmd == "update")
        return 0
    if matches(cmd, "delete"):
        ns.xfrm_policy_del(_parse_policy(args))
        return 0
    return proc.fail(f'Command "{cmd}" is unknown, try "ip xfrm policy help".', 255)


def _prefix(arg: str) -> str:
    addr, _, plen = arg.partition("/")
    return f"{ipv4(addr)}/{plen or 32}"


def _parse_policy(args: list[str]) -> XfrmPolicy:
    kw: dict = {"src": "0.0.0.0/0", "dst": "0.0.0.0/0"}
    tmpls: list[XfrmTmpl] = []
    while args:
        a = args.pop(0)
        if a in ("src", "dst"):
            kw[a] = _prefix(next_arg(args))
        elif a == "proto":
            p = next_arg(args)
            kw["proto"] = PROTOS[p] if p in PROTOS else _num(p, "PROTO")
        elif a in ("sport", "dport", "priority"):
            kw[a] = _num(next_arg(args), a)
        elif a == "dir":
            kw["dir"] = next_arg(args)
            if kw["dir"] not in ("in", "out", "fwd"):
                raise invarg('"DIR" is invalid', kw["dir"])
        elif a == "action":
            kw["action"] = next_arg(args)
        elif a == "mark":
            kw["mark"] = _num(next_arg(args), "mark")
            if args and args[0] == "mask":
                args.pop(0)
                kw["mask"] = _num(next_arg(args), "mask")
        elif a == "tmpl":
            t: dict = {"src": "0.0.0.0", "dst": "0.0.0.0"}
            while args and args[0] in ("src", "dst", "proto", "spi", "reqid", "mode", "level"):
                k, v = args.pop(0), next_arg(args)
                if k in ("spi", "reqid"):
                    t[k] = _num(v, k.upper())
                elif k != "level":
                    t[k] = v
            tmpls.append(XfrmTmpl(**t))
        else:
            raise ToolError(f'Error: either "{a}" is duplicate, or "{a}" is a garbage.', 255)
    if "dir" not in kw:
        raise ToolError('Error: argument "DIR" is required', 255)
    return XfrmPolicy(tmpls=tuple(tmpls), **kw)
