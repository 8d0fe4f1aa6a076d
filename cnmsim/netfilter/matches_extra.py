"""More match modules: limit, iprange, length, pkttype, mac, connmark, ttl (libxt_*.c 1.8.9).

Each keeps its values as iptables-save prints them: a limit rate as nf_tables stores it
(`600/m` is `10/sec`), an address range as `A-B`, a length range as `MIN[:MAX]`, a MAC in
lower case.  Also the C number parsing these options go through (strtoul with its prefixes,
xtables' option-exclusion check), shared with the CONNMARK and TTL targets.
"""

from __future__ import annotations

from collections.abc import Iterable

from cnmsim.netfilter import values as V
from cnmsim.netfilter.errors import param
from cnmsim.netfilter.ext import Canon, Ctx, Ext, OptSpec
from cnmsim.netfilter.model import Option, Rule

_HEX = "0123456789abcdef"


# ---------------------------------------------------------------- C number parsing
def strtoul(text: str, base: int = 0, minus: bool = False) -> tuple[int, str] | None:
    """C strtoumax: (value, the rest), None when no digits; a `-` is refused as xtables_strtoul
    refuses it, or (`minus`, plain strtoul) negates modulo 2**64."""
    s = text.lstrip(" \t\n\r\f\v")
    sign = s[:1]
    if sign == "-" and not minus:
        return None
    if sign in ("+", "-"):
        s = s[1:]
    low = s.lower()
    if base in (0, 16) and low.startswith("0x") and len(low) > 2 and low[2] in _HEX:
        base, s = 16, s[2:]
    elif base == 0:
        base = 8 if low.startswith("0") else 10
    digits = _HEX[:base]
    n = 0
    while n < len(s) and s[n].lower() in digits:
        n += 1
    if n == 0:
        return None
    value = int(s[:n], base)
    return (-value % 2**64 if sign == "-" else value), s[n:]


def uint(ext: str, opt: str, lo: int, hi: int) -> Canon:
    """An XTTYPE_UINT* option: the whole argument a number in [lo, hi], printed in decimal."""
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        got = strtoul(values[0])
        if got is None or got[1] or not lo <= got[0] <= hi:
            raise param(f'{ext}: bad value for option "{opt}", or out of range ({lo}-{hi}).\n')
        return (str(got[0]),)
    return canon


def exclusive(ext: str, given: Iterable[str], table: list[tuple[str, int, int]]) -> None:
    """xtables_options_fcheck's exclusions; `table` is (name, id, excluded id bits) in the
    module's table order: the first given entry is reported with its lowest-id conflict."""
    first: dict[int, str] = {}
    bits = 0
    names = set(given)
    for name, i, _ in table:
        first.setdefault(i, name)
        bits |= (1 << i) if name in names else 0
    for name, i, excl in table:
        if not bits & (1 << i):
            continue
        for j in range(32):
            if j != i and excl & bits & (1 << j):
                raise param(f'{ext}: option "{name}" cannot be used together with "{first[j]}".\n')


def required(ext: str, opt: str) -> None:
    raise param(f'{ext}: option "{opt}" must be specified\n')


# ---------------------------------------------------------------- limit
SCALE = 10000  # XT_LIMIT_SCALE
RATES = (("day", SCALE * 86400), ("hour", SCALE * 3600), ("min", SCALE * 60), ("sec", SCALE))
UNITS = (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400))


def _atoi(text: str) -> int:
    s = text.lstrip(" \t\n\r\f\v")
    sign = -1 if s[:1] == "-" else 1
    s = s[1:] if s[:1] in "+-" else s
    n = 0
    while n < len(s) and s[n].isdigit():
        n += 1
    return sign * int(s[:n]) if n else 0


def _rate_index(avg: int) -> int:
    """The unit print_rate (and nft's add_nft_limit) choose for an average cost."""
    i = 1
    while i < len(RATES):
        mult = RATES[i][1]
        if avg > mult or mult // avg < mult % avg:
            break
        i += 1
    return i - 1


def _limit(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    """parse_rate, then the round trip through nf_tables' `limit rate N/unit`."""
    text = values[0]
    _, sep, unit = text.partition("/")
    mult = 1
    if sep:
        hit = [m for name, m in UNITS if unit and name.startswith(unit.lower())]
        if not hit:
            raise param(f'bad rate "{text}"\'')
        mult = hit[0]
    r = _atoi(text) & 0xFFFFFFFF
    if r == 0:
        raise param(f'bad rate "{text}"\'')
    avg = SCALE * mult // r
    if avg == 0:
        raise param(f'Rate too fast "{text}"')
    name_mult = RATES[_rate_index(avg)][1]
    rate, unit_s = name_mult // avg, name_mult // SCALE
    avg = SCALE * unit_s // rate  # what iptables reads back from the kernel
    name, mult = RATES[_rate_index(avg)]
    return (f"{mult // avg}/{name}",)


def _limit_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    opts.setdefault("--limit", Option("--limit", ("3/hour",)))
    burst = opts.get("--limit-burst")
    if burst is not None and burst.values[0] in ("0", "5"):  # the kernel makes 0 the default 5
        del opts["--limit-burst"]


def _limit_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    burst = opts["--limit-burst"].values[0] if "--limit-burst" in opts else "5"
    return f" limit: avg {opts['--limit'].values[0]} burst {burst}"


# ---------------------------------------------------------------- iprange
def _range(opt: str) -> Canon:
    def canon(values: list[str], ctx: Ctx) -> tuple[str, ...]:
        lo, dash, hi = values[0].partition("-")
        ends = []
        for part in (lo, hi if dash else lo):
            addr = V.ip_from_text(part)
            if addr is None:
                raise param(f'iprange: Bad value for "{opt}" option: "{part}"')
            ends.append(V.ip_to_text(addr))
        return (f"{ends[0]}-{ends[1]}",)
    return canon


def _iprange_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    if not opts:
        raise param("iprange match: You must specify `--src-range' or `--dst-range'")


def _iprange_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    s = ""
    for key, label in (("--src-range", "source"), ("--dst-range", "destination")):
        if o := opts.get(key):
            s += f" {label} IP range{' !' if o.neg else ''} {o.values[0]}"
    return s


# ---------------------------------------------------------------- length
def _length(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    """XTTYPE_UINT16RC (xtopt_parse_mint): `N`, `N:M`, `:M`, `N:`."""
    got: list[int] = []
    arg = values[0]
    while True:
        if len(got) == 2:
            raise param('length: Too many components for option "--length" (max: 2)\n')
        if arg == "" or arg[0] == ":":
            value, rest = (0xFFFF if len(got) == 1 else 0), arg
        else:
            hit = strtoul(arg)
            if hit is None or hit[0] > 0xFFFF:
                raise param(f'length: bad value for option "--length" near "{arg}", or out of range '
                            "(0-65535).\n")
            value, rest = hit
            if rest and rest[0] != ":":
                raise param(f'length: Argument to "--length" has unexpected characters near "{rest}".\n')
        got.append(value)
        if rest == "":
            break
        arg = rest[1:]
    lo, hi = got[0], got[-1]
    return (str(lo) if lo == hi else f"{lo}:{hi}",)


def _one_required(ext: str, opt: str):  # noqa: ANN202 - a Finish
    def finish(opts: dict[str, Option], ctx: Ctx) -> None:
        if opt not in opts:
            required(ext, opt)
    return finish


# ---------------------------------------------------------------- pkttype, mac
PKT_TYPES = {"unicast": "unicast", "broadcast": "broadcast", "multicast": "multicast",
             "otherhost": "otherhost", "bcast": "broadcast", "mcast": "multicast", "host": "unicast"}


def _pkt_type(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    name = PKT_TYPES.get(values[0].lower())
    if name is None:
        raise param(f"Bad packet type '{values[0]}'")
    return (name,)


def _mac(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    """xtopt_parse_ethermac: six `:`-separated strtoul(16) parts of at most two characters."""
    arg, octets = values[0], []
    for i in range(6):
        hit = strtoul(arg, 16, minus=True)
        value, rest = hit if hit is not None else (0, arg)
        sep = ":" if i < 5 else ""
        if len(arg) - len(rest) > 2 or (rest[:1] != sep if sep else rest != ""):
            raise param("Invalid MAC address specified.")
        octets.append(value & 0xFF)
        arg = rest[1:]
    return (":".join(f"{b:02x}" for b in octets),)


# ---------------------------------------------------------------- connmark, ttl
def _connmark(values: list[str], ctx: Ctx) -> tuple[str, ...]:
    value, mask = V.parse_mark(values[0], "connmark", "--mark")
    return (f"0x{value:x}" if mask in (None, 0xFFFFFFFF) else f"0x{value:x}/0x{mask:x}",)


_TTL_TABLE = [("--ttl-lt", 1, 7), ("--ttl-gt", 2, 7), ("--ttl-eq", 0, 7)]
TTL_OPS = {"--ttl-eq": "==", "--ttl-lt": "<", "--ttl-gt": ">"}


def _ttl_finish(opts: dict[str, Option], ctx: Ctx) -> None:
    exclusive("ttl", opts, _TTL_TABLE)
    if not opts:
        raise param("TTL match: You must specify one of `--ttl-eq', `--ttl-lt', `--ttl-gt")


def _ttl_desc(opts: dict[str, Option], numeric: bool, rule: Rule) -> str:
    o = next(iter(opts.values()))
    op = "!=" if o.neg else TTL_OPS[o.name]
    return f" TTL match TTL {op} {o.values[0]}"


EXTRA_MATCHES: dict[str, Ext] = {e.name: e for e in (
    Ext("limit", [OptSpec("--limit", invert=False, canon=_limit),
                  OptSpec("--limit-burst", invert=False, canon=uint("limit", "--limit-burst", 0, 10000))],
        _limit_finish, _limit_desc),
    Ext("iprange", [OptSpec("--src-range", canon=_range("--src-range")),
                    OptSpec("--dst-range", canon=_range("--dst-range"))], _iprange_finish, _iprange_desc),
    Ext("length", [OptSpec("--length", canon=_length)], _one_required("length", "--length"),
        lambda o, n, r: f" length {'!' if o['--length'].neg else ''}{o['--length'].values[0]}"),
    Ext("pkttype", [OptSpec("--pkt-type", canon=_pkt_type)], _one_required("pkttype", "--pkt-type"),
        lambda o, n, r: f" PKTTYPE {'!' if o['--pkt-type'].neg else ''}= {o['--pkt-type'].values[0]}"),
    Ext("mac", [OptSpec("--mac-source", canon=_mac)], _one_required("mac", "--mac-source"),
        lambda o, n, r: f" MAC{' !' if o['--mac-source'].neg else ''} {o['--mac-source'].values[0]}"),
    Ext("connmark", [OptSpec("--mark", canon=_connmark)], _one_required("connmark", "--mark"),
        lambda o, n, r: f" connmark match {'!' if o['--mark'].neg else ''} {o['--mark'].values[0]}"),
    Ext("ttl", [OptSpec("--ttl-eq", canon=uint("ttl", "--ttl-eq", 0, 255), aliases=("--ttl",)),
                OptSpec("--ttl-lt", invert=False, canon=uint("ttl", "--ttl-lt", 0, 255)),
                OptSpec("--ttl-gt", invert=False, canon=uint("ttl", "--ttl-gt", 0, 255))],
        _ttl_finish, _ttl_desc),
)}
