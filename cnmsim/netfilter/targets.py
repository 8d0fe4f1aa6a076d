"""The target modules (`-j NAME`): options, canonical text, `-L` text, and where each may sit.

Supported: REJECT, LOG, MARK, CONNMARK, DNAT, SNAT, MASQUERADE, REDIRECT, TRACE, CHECKSUM,
NOTRACK, CT, TTL (plus the verdicts ACCEPT/DROP/RETURN/QUEUE and jumps to user chains, which
have no options).
"""

from __future__ import annotations

from cnmsim.netfilter import values as V
from cnmsim.netfilter.errors import COMMIT, IptError, param
from cnmsim.netfilter.ext import Ctx, Ext, OptSpec
from cnmsim.netfilter.matches_extra import exclusive, uint
from cnmsim.netfilter.model import Option, Rule
from cnmsim.netfilter.names import LOG_LEVELS, REJECT_TYPES

PORT_PROTOS = ("tcp", "udp", "sctp", "dccp")
NEED_PORT_PROTO = "Need TCP, UDP, SCTP or DCCP with port specification"


def _reject_with(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    for name, alias in REJECT_TYPES:
        if values[0] in (name, alias):
            return (name,)
    raise param(f'unknown reject type "{values[0]}"')


def _reject_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    opts.setdefault("--reject-with", Option("--reject-with", ("icmp-port-unreachable",)))


def _log_level(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    v = V.strtoui(values[0], 0, 7)
    if v is None:
        v = LOG_LEVELS.get(values[0].lower())
    if v is None:
        raise param(f'log level "{values[0]}" unknown\n')
    return (str(v),)


def _log_prefix(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    if "\n" in values[0]:
        raise param("Newlines not allowed in --log-prefix")
    return (values[0][:29],)


def _log_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if opts.get("--log-level") and opts["--log-level"].values == ("4",):
        del opts["--log-level"]  # the default (warning) is not printed


LOG_FLAGS = {"--log-tcp-sequence": 0x01, "--log-tcp-options": 0x02, "--log-ip-options": 0x04,
             "--log-uid": 0x08, "--log-macdecode": 0x20}


LEVEL_NAMES = {1: "alert", 2: "crit", 7: "debug", 0: "emerg", 3: "err", 6: "info", 5: "notice",
               4: "warn"}


def _log_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    level = int(opts["--log-level"].values[0]) if "--log-level" in opts else 4
    if numeric:
        flags = sum(b for n, b in LOG_FLAGS.items() if n in opts)
        s = f" LOG flags {flags} level {level}"
    else:
        s = f" LOG level {LEVEL_NAMES[level]}"
        s += "".join(f" {n.removeprefix('--log-')}" for n in LOG_FLAGS if n in opts)
    return s + (f' prefix "{opts["--log-prefix"].values[0]}"' if "--log-prefix" in opts else "")


MARK_OPS = ("--set-xmark", "--set-mark", "--and-mark", "--or-mark", "--xor-mark")


def _mark_op(op: str):  # noqa: ANN202 - a Canon
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        if op in ("--set-xmark", "--set-mark"):
            value, mask = V.parse_mark(values[0], "MARK", op)
            mask = 0xFFFFFFFF if mask is None else mask
            if op == "--set-mark":
                mask |= value
            return (f"0x{value:x}/0x{mask:x}",)
        v = V.strtoui(values[0])
        if v is None:
            raise param(f'MARK: bad integer value for option "{op}", or out of range.\n')
        mark, mask = {"--and-mark": (0, ~v & 0xFFFFFFFF), "--or-mark": (v, v),
                      "--xor-mark": (v, 0)}[op]
        return (f"0x{mark:x}/0x{mask:x}",)
    return canon


def _mark_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    given = [o for o in MARK_OPS if o in opts]
    if not given:
        raise IptError("MARK: One of the --set-xmark, --{and,or,xor,set}-mark options is required")
    if len(given) > 1:
        raise param(f'MARK: option "{given[0]}" cannot be used together with "{given[1]}".\n')
    o = opts.pop(given[0])
    opts["--set-xmark"] = Option("--set-xmark", o.values)


def _mark_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    mark, mask = (int(x, 16) for x in opts["--set-xmark"].values[0].split("/"))
    if mark == 0:
        return f" MARK and 0x{~mask & 0xFFFFFFFF:x}"
    if mark == mask:
        return f" MARK or 0x{mark:x}"
    if mask == 0:
        return f" MARK xor 0x{mark:x}"
    if mask == 0xFFFFFFFF:
        return f" MARK set 0x{mark:x}"
    return f" MARK xset 0x{mark:x}/0x{mask:x}"


# CONNMARK (libxt_CONNMARK.c, revision 2): its option table as (name, id, excluded ids)
_OPS = 0b1_0011_1111  # F_OP_ANY: set, save, restore, and, or, xor, set-xmark
CONNMARK_TABLE = [("--set-xmark", 8, _OPS), ("--set-mark", 0, _OPS), ("--and-mark", 3, _OPS),
                  ("--or-mark", 4, _OPS), ("--xor-mark", 5, _OPS), ("--save-mark", 1, _OPS),
                  ("--restore-mark", 2, _OPS), ("--left-shift-mark", 6, 0),
                  ("--right-shift-mark", 7, 0), ("--ctmask", 9, 1 << 11), ("--nfmask", 10, 1 << 11),
                  ("--mask", 11, 3 << 9)]
_FULL = 0xFFFFFFFF


def _xmark(op: str):  # noqa: ANN202 - a Canon
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        value, mask = V.parse_mark(values[0], "CONNMARK", op)
        return (f"0x{value:x}/0x{_FULL if mask is None else mask:x}",)
    return canon


def _connmark_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    """The checks, then the options replayed in order (as connmark_tg_parse_v2 fills its
    struct) into the form iptables-save prints: one operation, its masks, a shift."""
    exclusive("CONNMARK", opts, CONNMARK_TABLE)
    if not any(n in opts for n, _, excl in CONNMARK_TABLE if excl == _OPS):
        raise param("CONNMARK target: No operation specified")
    mode, ctmark, ctmask, nfmask, shift = "", 0, _FULL, _FULL, ("--left-shift-mark", 0)
    for o in opts.values():
        v, _, m = (o.values[0] if o.values else "").partition("/")
        n = int(v, 0) if v else 0
        if o.name in ("--set-xmark", "--set-mark"):
            mode, ctmark, ctmask = "--set-xmark", n, int(m, 16) | (n if o.name == "--set-mark" else 0)
        elif o.name in ("--and-mark", "--or-mark", "--xor-mark"):
            mode = "--set-xmark"
            ctmark, ctmask = {"--and-mark": (0, ~n & _FULL), "--or-mark": (n, n), "--xor-mark": (n, 0)}[o.name]
        elif o.name in ("--save-mark", "--restore-mark"):
            mode = o.name
        elif o.name == "--mask":
            ctmask = nfmask = n
        elif o.name == "--ctmask":
            ctmask = n
        elif o.name == "--nfmask":
            nfmask = n
        else:
            shift = (o.name, n)
    opts.clear()
    if mode == "--set-xmark":
        opts[mode] = Option(mode, (f"0x{ctmark:x}/0x{ctmask:x}",))
    else:
        opts[mode] = Option(mode)
        opts["--nfmask"] = Option("--nfmask", (f"0x{nfmask:x}",))
        opts["--ctmask"] = Option("--ctmask", (f"0x{ctmask:x}",))
    if shift[1]:
        opts[shift[0]] = Option(shift[0], (str(shift[1]),))


def _connmark_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    """connmark_tg_print_v2."""
    if "--set-xmark" in opts:
        mark, mask = (int(x, 16) for x in opts["--set-xmark"].values[0].split("/"))
        if mark == 0:
            s = f" CONNMARK and 0x{~mask & _FULL:x}"
        elif mark == mask:
            s = f" CONNMARK or 0x{mark:x}"
        elif mask == 0:
            s = f" CONNMARK xor 0x{mark:x}"
        elif mask == _FULL:
            s = f" CONNMARK set 0x{mark:x}"
        else:
            s = f" CONNMARK xset 0x{mark:x}/0x{mask:x}"
    else:
        save = "--save-mark" in opts
        nf, ct = (int(opts[k].values[0], 16) for k in ("--nfmask", "--ctmask"))
        s = " CONNMARK save" if save else " CONNMARK restore"
        if nf == ct and nf != _FULL:
            s += f" mask 0x{nf:x}"
        elif nf != ct:
            s += f" nfmask 0x{nf:x} ctmask ~0x{ct:x}" if save else f" ctmask 0x{ct:x} nfmask ~0x{nf:x}"
    for key in ("--left-shift-mark", "--right-shift-mark"):
        if key in opts:
            s += f" {key[2:]} {opts[key].values[0]}"
    return s


TTL_MODES = {"--ttl-set": "set to", "--ttl-dec": "decrement by", "--ttl-inc": "increment by"}


def _ttl_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    exclusive("TTL", opts, [("--ttl-set", 0, 7), ("--ttl-dec", 2, 7), ("--ttl-inc", 1, 7)])
    if not opts:
        raise param("TTL: You must specify an action")


def _ttl_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = next(iter(opts.values()))
    return f" TTL {TTL_MODES[o.name]} {o.values[0]}"


def _ports_text(text: str, ctx: Ctx) -> str:
    """`80` or `80-90` after a NAT address, checked like libxt_NAT.c parse_ports."""
    if ctx.proto not in PORT_PROTOS:
        raise param(NEED_PORT_PROTO)
    lo, sep, hi = text.partition("-")
    a = V.strtoui(lo, 0, 0xFFFF) if lo else None
    if a is None:
        raise param(f"Port `{lo}' not valid")
    if not sep:
        return str(a)
    b = V.strtoui(hi, 0, 0xFFFF)
    if b is None:
        raise param(f"Port `{hi}' not valid")
    if b < a:
        raise param(f"Port range `{hi}' funky")
    return str(a) if a == b else f"{a}-{b}"


def _nat_to(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    """`IP[-IP][:PORT[-PORT]]` for --to-destination/--to-source."""
    addrs, sep, ports = values[0].partition(":")
    out = ""
    if addrs:
        parts = addrs.split("-", 1)
        ips = []
        for p in parts:
            if V.ip_from_text(p) is None or p.count(".") != 3:
                raise param(f'Bad IP address "{p}"')
            ips.append(V.ip_to_text(V.ip_from_text(p) or 0))
        out = ips[0] if len(ips) == 1 or ips[0] == ips[1] else f"{ips[0]}-{ips[1]}"
    if sep:
        out += ":" + _ports_text(ports, ctx)
    return (out,)


def _to_ports(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    return (_ports_text(values[0], ctx),)


def _required(name: str, opt: str):  # noqa: ANN202 - a Finish
    def finish(opts: dict[str, Option], ctx: Ctx) -> None:
        if opt not in opts:
            raise param(f'{name}: option "{opt}" must be specified\n')
    return finish


def _nat_desc(label: str, key: str):  # noqa: ANN202 - a Describe
    def describe(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
        s = f" {label}{opts[key].values[0]}" if key in opts else ""
        return s + "".join(f" {o.name[2:]}" for o in opts.values() if o.name != key)
    return describe


def _ct_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    if "--notrack" in opts:
        return " CT notrack"
    return " CT" + "".join(f" {o.name[2:]} {' '.join(o.values)}".rstrip() for o in opts.values())


def _flag(name: str) -> OptSpec:
    return OptSpec(name, 0, invert=False)


def _opt(name: str, canon=None) -> OptSpec:  # noqa: ANN001
    return OptSpec(name, 1, invert=False, canon=canon)


TARGETS: dict[str, Ext] = {e.name: e for e in (
    Ext("REJECT", [_opt("--reject-with", _reject_with)], _reject_finish,
        lambda o, n, r: f" reject-with {o['--reject-with'].values[0]}"),
    Ext("LOG", [
        OptSpec("--log-prefix", invert=False, canon=_log_prefix, quote=True),
        _opt("--log-level", _log_level), *(_flag(f) for f in LOG_FLAGS),
    ], _log_finish, _log_desc),
    Ext("MARK", [_opt(o, _mark_op(o)) for o in MARK_OPS], _mark_finish, _mark_desc),
    Ext("CONNMARK", [
        _opt("--set-xmark", _xmark("--set-xmark")), _opt("--set-mark", _xmark("--set-mark")),
        *(_opt(o, uint("CONNMARK", o, 0, _FULL)) for o in ("--and-mark", "--or-mark", "--xor-mark")),
        _flag("--save-mark"), _flag("--restore-mark"),
        *(_opt(o, uint("CONNMARK", o, 0, _FULL)) for o in ("--nfmask", "--ctmask", "--mask")),
        *(_opt(o, uint("CONNMARK", o, 0, 32)) for o in ("--left-shift-mark", "--right-shift-mark")),
    ], _connmark_finish, _connmark_desc),
    Ext("TTL", [_opt("--ttl-set", uint("TTL", "--ttl-set", 0, 255)),
                _opt("--ttl-dec", uint("TTL", "--ttl-dec", 1, 255)),
                _opt("--ttl-inc", uint("TTL", "--ttl-inc", 1, 255))], _ttl_finish, _ttl_desc),
    Ext("DNAT", [_opt("--to-destination", _nat_to), _flag("--random"), _flag("--persistent")],
        _required("DNAT", "--to-destination"), _nat_desc("to:", "--to-destination")),
    Ext("SNAT", [_opt("--to-source", _nat_to), _flag("--random"), _flag("--random-fully"),
                 _flag("--persistent")],
        _required("SNAT", "--to-source"), _nat_desc("to:", "--to-source")),
    Ext("MASQUERADE", [_opt("--to-ports", _to_ports), _flag("--random"), _flag("--random-fully")],
        None, _nat_desc("masq ports: ", "--to-ports")),
    Ext("REDIRECT", [_opt("--to-ports", _to_ports), _flag("--random")], None,
        _nat_desc("redir ports ", "--to-ports")),
    Ext("TRACE", []),
    Ext("CHECKSUM", [_flag("--checksum-fill")], _required("CHECKSUM", "--checksum-fill"),
        lambda o, n, r: " CHECKSUM fill"),
    Ext("NOTRACK", []),
    Ext("CT", [_flag("--notrack"), _opt("--zone", lambda v, c: (str(V.strtoui(v[0]) or 0),))],
        None, _ct_desc),
)}

# where the kernel accepts a target: table, and the hooks of a built-in chain
WHERE: dict[str, tuple[str, tuple[str, ...]]] = {
    "DNAT": ("nat", ("PREROUTING", "OUTPUT")), "REDIRECT": ("nat", ("PREROUTING", "OUTPUT")),
    "SNAT": ("nat", ("POSTROUTING", "INPUT")), "MASQUERADE": ("nat", ("POSTROUTING",)),
    "REJECT": ("filter", ("INPUT", "FORWARD", "OUTPUT")),
    "CHECKSUM": ("mangle", ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")),
    "NOTRACK": ("raw", ("PREROUTING", "OUTPUT")), "CT": ("raw", ("PREROUTING", "OUTPUT")),
    "TTL": ("mangle", ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")),
}


_IN, _OUT = ("PREROUTING", "INPUT", "FORWARD"), ("FORWARD", "OUTPUT", "POSTROUTING")
MATCH_HOOKS: dict[str, dict[tuple[str, str], tuple[str, ...]]] = {
    "policy": {("--dir", "in"): _IN, ("--dir", "out"): _OUT},
    "addrtype": {("--limit-iface-in", ""): _IN, ("--limit-iface-out", ""): _OUT},
    "mac": {("--mac-source", ""): _IN},
}


def kernel_check(rule: Rule, table: str, chain: str, builtin: bool, op: str = "RULE_APPEND") -> None:
    """The checks the kernel does when a rule is committed (xt_check_target and friends)."""
    t = rule.target
    where = WHERE.get(t.name) if t is not None else None
    bad = False
    if where is not None:
        bad = table != where[0] or (builtin and chain not in where[1])
    if t is not None and t.name == "CONNMARK":  # xt_connmark: shift_bits must be below 32
        bad = bad or any(o.values == ("32",) for o in t.options if o.name.endswith("-shift-mark"))
    if t is not None and t.name == "REJECT":
        rw = t.get("--reject-with")
        bad = bad or (rw is not None and rw.values[0] == "tcp-reset"
                      and (rule.proto != "tcp" or rule.proto_neg))
    if builtin:  # matches that only make sense at some hooks (xt_policy, xt_addrtype, xt_mac)
        for m in rule.matches:
            for opt, hooks in MATCH_HOOKS.get(m.module, {}).items():
                o = m.get(opt[0])
                if o is not None and (not opt[1] or o.values == (opt[1],)) and chain not in hooks:
                    bad = True
    if bad:
        raise IptError(f"{op} failed (Invalid argument): rule in chain {chain}", 4, COMMIT)
